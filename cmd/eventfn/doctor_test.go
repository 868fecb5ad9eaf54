package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventfn/eventfn/internal/doctor"
)

func TestDoctorExitStatusAndJSON(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good")
	if code, _, errOut := runCLI(t, "new", "good", "--cloud", "azure", "--store", "redis", "--dir", good); code != 0 {
		t.Fatalf("new: %d %s", code, errOut)
	}
	if code, out, errOut := runCLI(t, "doctor", good); code != 0 || !strings.Contains(out, "0 error(s)") {
		t.Errorf("doctor on a generated project: exit %d\n%s%s", code, out, errOut)
	}
	bad := "../../internal/doctor/testdata/aws/sqs-redrive-policy"
	code, out, _ := runCLI(t, "doctor", bad)
	if code != 1 || !strings.Contains(out, "template.yaml:55: error:") || !strings.Contains(out, "(sqs-redrive-policy)") {
		t.Errorf("doctor on a broken template: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "doctor", "--json", bad)
	var r doctor.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || len(r.Findings) != 1 || r.Findings[0].Line != 55 {
		t.Errorf("doctor --json: exit %d, %v, %+v\n%s", code, err, r, out)
	}
	// Warnings alone do not fail.
	if code, out, _ := runCLI(t, "doctor", "../../internal/doctor/testdata/azure/retry-layers"); code != 0 || !strings.Contains(out, "warning:") {
		t.Errorf("doctor with only a warning: exit %d\n%s", code, out)
	}
}

func TestDoctorBadInput(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(broken, []byte("Resources:\n  Q: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		args []string
		msg  string
	}{
		"a malformed template": {[]string{"doctor", dir}, broken + ":"},
		"a missing path":       {[]string{"doctor", filepath.Join(dir, "nope")}, "nope"},
		"an empty directory":   {[]string{"doctor", t.TempDir()}, "no infrastructure files"},
		"two paths":            {[]string{"doctor", dir, dir}, "at most one PATH"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, c.args...)
			if code != 2 || !strings.Contains(errOut, c.msg) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, c.msg)
			}
		})
	}
}
