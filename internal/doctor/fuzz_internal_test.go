package doctor

import (
	"errors"
	"testing"

	"github.com/eventfn/eventfn/internal/testenv"
)

// The parsers never panic, and fail only with a *ParseError naming the
// file; the rules never panic on what they accept.

func FuzzCFN(f *testing.F) {
	testenv.AddFileSeeds(f, "testdata/aws/*/template.*")
	testenv.AddFileSeeds(f, "testdata/malformed/*.yaml")
	testenv.AddFileSeeds(f, "testdata/malformed/*.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		tmpl, err := parseCFN("t.yaml", b)
		checkParseErr(t, err)
		if tmpl != nil {
			tmpl.check()
		}
	})
}

func FuzzTerraform(f *testing.F) {
	testenv.AddFileSeeds(f, "testdata/gcp/*/main.tf")
	testenv.AddFileSeeds(f, "testdata/malformed/*.tf")
	f.Fuzz(func(t *testing.T, b []byte) {
		tf, err := parseTerraform("main.tf", b)
		checkParseErr(t, err)
		if tf != nil {
			(&project{tf: []*tfFile{tf}}).checkTerraform()
		}
	})
}

func FuzzAzure(f *testing.F) {
	testenv.AddFileSeeds(f, "testdata/azure/*/host.json")
	testenv.AddFileSeeds(f, "testdata/azure/*/*/function.json")
	testenv.AddFileSeeds(f, "testdata/azure/*/main.bicep")
	f.Fuzz(func(t *testing.T, b []byte) {
		p := &project{bicep: []*bicepFile{parseBicep("main.bicep", b)}}
		h, err := parseHostJSON("host.json", b)
		checkParseErr(t, err)
		if h != nil {
			p.hosts = append(p.hosts, h)
		}
		fn, err := parseFunctionJSON("function.json", b)
		checkParseErr(t, err)
		if fn != nil {
			p.functions = append(p.functions, fn)
		}
		p.checkAzure()
	})
}

func checkParseErr(t *testing.T, err error) {
	t.Helper()
	var pe *ParseError
	if err != nil && (!errors.As(err, &pe) || pe.File == "") {
		t.Fatalf("error %v is not a *ParseError with a file", err)
	}
}
