package templates_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/eventfn/eventfn/templates"
)

// projects lists every cloud x store a project can be generated for.
func projects() []templates.Data {
	var out []templates.Data
	for _, c := range templates.Clouds {
		for _, s := range templates.Stores {
			if s == "dynamodb" && c != "aws" {
				continue
			}
			out = append(out, templates.Data{Name: "order-events", Cloud: c, Store: s})
		}
	}
	return out
}

// write renders d into a new temporary directory and returns it.
func write(t *testing.T, d templates.Data) string {
	t.Helper()
	files, err := templates.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), d.Name)
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRenderRejectsBadInput(t *testing.T) {
	ok := templates.Data{Name: "orders", Cloud: "aws", Store: "redis"}
	for name, c := range map[string]struct {
		edit func(*templates.Data)
		want error
	}{
		"an uppercase name":           {func(d *templates.Data) { d.Name = "Orders" }, templates.ErrName},
		"an empty name":               {func(d *templates.Data) { d.Name = "" }, templates.ErrName},
		"a one-letter name":           {func(d *templates.Data) { d.Name = "o" }, templates.ErrName},
		"a name with a double hyphen": {func(d *templates.Data) { d.Name = "my--fn" }, templates.ErrName},
		"a name ending in a hyphen":   {func(d *templates.Data) { d.Name = "fn-" }, templates.ErrName},
		"a name starting with digits": {func(d *templates.Data) { d.Name = "1fn" }, templates.ErrName},
		"a name with a slash":         {func(d *templates.Data) { d.Name = "a/b" }, templates.ErrName},
		"a name too long":             {func(d *templates.Data) { d.Name = strings.Repeat("a", 31) }, templates.ErrName},
		"a module with a space":       {func(d *templates.Data) { d.Module = "example.com/my fn" }, templates.ErrModule},
		"a module without a dot":      {func(d *templates.Data) { d.Module = "orders" }, templates.ErrModule},
		"a module with ..":            {func(d *templates.Data) { d.Module = "example.com/../x" }, templates.ErrModule},
		"an unknown cloud":            {func(d *templates.Data) { d.Cloud = "ibm" }, templates.ErrCloud},
		"an empty cloud":              {func(d *templates.Data) { d.Cloud = "" }, templates.ErrCloud},
		"an unknown store":            {func(d *templates.Data) { d.Store = "cassandra" }, templates.ErrStore},
		"dynamodb outside AWS":        {func(d *templates.Data) { d.Cloud, d.Store = "gcp", "dynamodb" }, templates.ErrStore},
	} {
		t.Run(name, func(t *testing.T) {
			d := ok
			c.edit(&d)
			if _, err := templates.Render(d); !errors.Is(err, c.want) {
				t.Fatalf("Render = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := templates.Render(ok); err != nil {
		t.Fatalf("Render(valid) = %v", err)
	}
}

// TestEveryProjectHasItsFiles checks the common files, the cloud's
// infrastructure, that Go files are gofmt-clean (Render formats them) and
// that JSON files parse.
func TestEveryProjectHasItsFiles(t *testing.T) {
	common := []string{".gitignore", "Makefile", "README.md", "go.mod", "handler.go", "handler_test.go"}
	perCloud := map[string][]string{
		"aws":   {"main.go", "template.yaml", "samconfig.toml", "events/sqs.json"},
		"gcp":   {"function.go", "cmd/local/main.go", "deploy.sh", "terraform/main.tf", "terraform/variables.tf", "events/pubsub-push.json"},
		"azure": {"main.go", "host.json", "OrderEvents/function.json", "local.settings.json", "main.bicep", "events/servicebus.json"},
	}
	for _, d := range projects() {
		t.Run(d.Cloud+"-"+d.Store, func(t *testing.T) {
			files, err := templates.Render(d)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]byte{}
			for _, f := range files {
				got[f.Path] = f.Data
				if strings.HasSuffix(f.Path, ".json") && !json.Valid(f.Data) {
					t.Errorf("%s is not valid JSON", f.Path)
				}
				if strings.Contains(string(f.Data), "<no value>") {
					t.Errorf("%s has an unset template value", f.Path)
				}
			}
			for _, p := range append(common, perCloud[d.Cloud]...) {
				if _, ok := got[p]; !ok {
					t.Errorf("no %s", p)
				}
			}
			for _, target := range []string{"build:", "test:", "invoke:", "run-local:", "deploy:"} {
				if !bytes.Contains(got["Makefile"], []byte("\n"+target)) {
					t.Errorf("Makefile has no %s target", strings.TrimSuffix(target, ":"))
				}
			}
			if bytes.Contains(got["go.mod"], []byte("replace")) {
				t.Error("go.mod has a replace directive without Data.Replace")
			}
		})
	}
}

func TestNamesThatAreGoKeywordsRender(t *testing.T) {
	for _, name := range []string{"go", "func", "type", "main", "default", "map"} {
		for _, cloud := range templates.Clouds {
			if _, err := templates.Render(templates.Data{Name: name, Cloud: cloud, Store: "memory"}); err != nil {
				t.Errorf("%s on %s: %v", name, cloud, err)
			}
		}
	}
}

func TestGoModRequiresOrReplacesEventfn(t *testing.T) {
	for name, c := range map[string]struct {
		d    templates.Data
		want []string
	}{
		"a release":     {templates.Data{EventfnVersion: "v1.2.3"}, []string{"require github.com/eventfn/eventfn v1.2.3"}},
		"a checkout":    {templates.Data{Replace: "/src/eventfn"}, []string{"require github.com/eventfn/eventfn v0.0.0", "replace github.com/eventfn/eventfn => /src/eventfn"}},
		"a dev build":   {templates.Data{}, []string{"module example.com/fn-x\n"}},
		"a module path": {templates.Data{Module: "github.com/acme/fn-x"}, []string{"module github.com/acme/fn-x\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			c.d.Name, c.d.Cloud, c.d.Store = "fn-x", "aws", "memory"
			files, err := templates.Render(c.d)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if f.Path != "go.mod" {
					continue
				}
				for _, w := range c.want {
					if !strings.Contains(string(f.Data), w) {
						t.Errorf("go.mod lacks %q:\n%s", w, f.Data)
					}
				}
			}
		})
	}
}

// TestInfrastructurePassesTheRealTools runs cfn-lint over every SAM
// template, shellcheck over every deploy script and the HCL parser (and
// terraform fmt, when terraform is installed) over every Terraform file.
func TestInfrastructurePassesTheRealTools(t *testing.T) {
	cfnLint := lookTool(t, "cfn-lint", "pip install cfn-lint")
	shellcheck := lookTool(t, "shellcheck", "scripts/services/shellcheck.sh installs it")
	terraform, _ := exec.LookPath("terraform")
	for _, d := range projects() {
		t.Run(d.Cloud+"-"+d.Store, func(t *testing.T) {
			dir := write(t, d)
			run := func(name string, args ...string) {
				t.Helper()
				cmd := exec.Command(name, args...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
				}
			}
			switch d.Cloud {
			case "aws":
				if cfnLint != "" {
					run(cfnLint, "--", "template.yaml")
				}
			case "gcp":
				if shellcheck != "" {
					run(shellcheck, "deploy.sh")
				}
				tfs, _ := filepath.Glob(filepath.Join(dir, "terraform", "*.tf"))
				if len(tfs) == 0 {
					t.Fatal("no Terraform files")
				}
				p := hclparse.NewParser()
				for _, f := range tfs {
					if _, diags := p.ParseHCLFile(f); diags.HasErrors() {
						t.Errorf("%s: %v", f, diags)
					}
				}
				if terraform != "" {
					run(terraform, "fmt", "-check", "-diff", "terraform")
				}
			}
		})
	}
}

// lookTool returns the path of a linter, or "" after saying, on stderr
// as well as in the test log, that it is absent. shellcheck is required
// under EVENTFN_REQUIRE_SERVICES=1 (scripts/test.sh installs it); cfn-lint
// is used when present.
func lookTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if name == "shellcheck" && os.Getenv("EVENTFN_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is not installed; %s", name, install)
	}
	msg := fmt.Sprintf("%s: %s is not installed, so it did not run (%s)", t.Name(), name, install)
	t.Log(msg)
	fmt.Fprintln(os.Stderr, msg)
	return ""
}

// TestCfnLintCatchesABrokenTemplate proves the cfn-lint run above can fail.
func TestCfnLintCatchesABrokenTemplate(t *testing.T) {
	cfnLint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Log("cfn-lint is not installed: nothing to prove")
		return
	}
	dir := write(t, templates.Data{Name: "order-events", Cloud: "aws", Store: "dynamodb"})
	p := filepath.Join(dir, "template.yaml")
	b, _ := os.ReadFile(p)
	b = bytes.Replace(b, []byte("Runtime: provided.al2023"), []byte("Runtime: provided.al2099"), 1)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cfnLint, "--", p).CombinedOutput(); err == nil {
		t.Fatalf("cfn-lint accepted an unknown runtime:\n%s", out)
	}
}

// TestDeployScriptStopsWhenACommandSubstitutionFails runs the GCP deploy
// script with a gcloud that fails: the failure inside $(...) must stop the
// script before terraform runs.
func TestDeployScriptStopsWhenACommandSubstitutionFails(t *testing.T) {
	dir := write(t, templates.Data{Name: "order-events", Cloud: "gcp", Store: "redis"})
	bin := t.TempDir()
	marker := filepath.Join(t.TempDir(), "terraform-ran")
	for name, body := range map[string]string{
		"gcloud":    "#!/bin/sh\necho 'gcloud: not logged in' >&2\nexit 1\n",
		"terraform": "#!/bin/sh\ntouch " + marker + "\n",
		"go":        "#!/bin/sh\nexit 0\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "./deploy.sh")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "PROJECT=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("deploy.sh succeeded although gcloud failed:\n%s", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("deploy.sh ran terraform after gcloud failed:\n%s", out)
	}
	// With gcloud working, the same script reaches terraform.
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte("#!/bin/sh\necho my-project\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("bash", "./deploy.sh")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "PROJECT=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy.sh with a working gcloud: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("deploy.sh did not run terraform")
	}
}

// The function's role must allow every DynamoDB call the generated code
// makes: DynamoDB Local checks no IAM, so only this test catches a missing
// action before a deployed function fails at start with AccessDenied.
func TestTheRoleAllowsWhatTheDynamoDBStoreCalls(t *testing.T) {
	files, err := templates.Render(templates.Data{Name: "fn-x", Cloud: "aws", Store: "dynamodb"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path != "template.yaml" {
			continue
		}
		// dynamostore.Open: DescribeTable; the Store: the item calls.
		for _, action := range []string{"DescribeTable", "GetItem", "PutItem", "UpdateItem", "DeleteItem"} {
			if !strings.Contains(string(f.Data), "dynamodb:"+action) {
				t.Errorf("template.yaml does not allow dynamodb:%s", action)
			}
		}
		return
	}
	t.Fatal("no template.yaml rendered")
}
