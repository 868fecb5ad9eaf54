package templates_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/eventfn/eventfn/internal/doctor"
	"github.com/eventfn/eventfn/templates"
)

var update = flag.Bool("update", false, "rewrite the examples' infrastructure files from the templates")

// TestExamplesAreGenerated checks that each example's infrastructure files
// are what the templates render for it, so one set is maintained. After
// changing templates/, run: go test ./templates -run TestExamplesAreGenerated -update
func TestExamplesAreGenerated(t *testing.T) {
	for name := range templates.Examples {
		t.Run(name, func(t *testing.T) {
			files, err := templates.RenderExample(name)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("..", "examples", name)
			for _, f := range files {
				p := filepath.Join(dir, filepath.FromSlash(f.Path))
				if *update {
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
						t.Fatal(err)
					}
					continue
				}
				b, err := os.ReadFile(p)
				if err != nil {
					t.Errorf("%s: %v (go test ./templates -run TestExamplesAreGenerated -update writes it)", p, err)
					continue
				}
				if !bytes.Equal(b, f.Data) {
					t.Errorf("%s differs from what templates/ renders for it; edit templates/ and run go test ./templates -run TestExamplesAreGenerated -update", p)
				}
			}
			if !*update {
				lintExample(t, dir)
			}
			r, err := doctor.Check(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range r.Findings {
				t.Errorf("doctor: %s", f)
			}
		})
	}
}

// lintExample runs cfn-lint and shellcheck over an example's files.
func lintExample(t *testing.T, dir string) {
	t.Helper()
	for file, tool := range map[string]string{"template.yaml": "cfn-lint", "deploy.sh": "shellcheck"} {
		p := filepath.Join(dir, file)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		bin := lookTool(t, tool, "see TestInfrastructurePassesTheRealTools")
		if bin == "" {
			continue
		}
		if out, err := exec.Command(bin, p).CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", tool, p, err, out)
		}
	}
}
