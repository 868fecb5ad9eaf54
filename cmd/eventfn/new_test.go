package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewCreatesAProjectAndPrintsTheNextCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "orders")
	code, out, errOut := runCLI(t, "new", "orders", "--cloud", "aws", "--store", "dynamodb", "--dir", dir, "--module", "github.com/acme/orders")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, f := range []string{"go.mod", "handler.go", "handler_test.go", "main.go", "template.yaml", "Makefile", "events/sqs.json", ".gitignore"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("no %s: %v", f, err)
		}
		if !strings.Contains(out, filepath.Join(dir, f)) {
			t.Errorf("output does not list %s:\n%s", f, out)
		}
	}
	if !strings.Contains(out, "go mod tidy") || !strings.Contains(out, "make test") || !strings.Contains(out, "make invoke") {
		t.Errorf("output lacks the next commands:\n%s", out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.HasPrefix(string(b), "module github.com/acme/orders\n") {
		t.Errorf("go.mod:\n%s", b)
	}
}

func TestNewJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "billing")
	code, out, errOut := runCLI(t, "new", "billing", "--cloud", "gcp", "--store", "redis", "--dir", dir, "--json", "--replace", "../..")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r newResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if r.Dir != dir || r.Cloud != "gcp" || len(r.Files) == 0 || len(r.Next) != 3 {
		t.Errorf("result %+v", r)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	abs, _ := filepath.Abs("../..")
	if !strings.Contains(string(b), "replace github.com/eventfn/eventfn => "+abs) {
		t.Errorf("go.mod lacks the replace:\n%s", b)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	existing := t.TempDir()
	keep := filepath.Join(existing, "keep.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := func() string { return filepath.Join(t.TempDir(), "p") }
	for name, c := range map[string]struct {
		args []string
		code int
		msg  string
	}{
		"an existing directory": {[]string{"new", "orders", "--cloud", "aws", "--store", "redis", "--dir", existing}, 1, "already exists"},
		"an invalid name":       {[]string{"new", "Orders!", "--cloud", "aws", "--store", "redis", "--dir", fresh()}, 2, "invalid project name"},
		"an invalid module":     {[]string{"new", "orders", "--cloud", "aws", "--store", "redis", "--module", "not a path", "--dir", fresh()}, 2, "invalid module path"},
		"an unknown cloud":      {[]string{"new", "orders", "--cloud", "ibm", "--store", "redis", "--dir", fresh()}, 2, "unknown cloud"},
		"an unknown store":      {[]string{"new", "orders", "--cloud", "aws", "--store", "mongo", "--dir", fresh()}, 2, "unknown store"},
		"dynamodb on azure":     {[]string{"new", "orders", "--cloud", "azure", "--store", "dynamodb", "--dir", fresh()}, 2, "unknown store"},
		"no cloud":              {[]string{"new", "orders", "--store", "redis", "--dir", fresh()}, 2, "cloud"},
		"no name":               {[]string{"new", "--cloud", "aws", "--store", "redis"}, 2, "NAME"},
		"two names":             {[]string{"new", "a1", "b1", "--cloud", "aws", "--store", "redis"}, 2, "NAME"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(errOut, c.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, c.code, c.msg)
			}
		})
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Errorf("the existing directory was touched: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(existing); len(entries) != 1 {
		t.Errorf("the existing directory has %d entries, want 1", len(entries))
	}
}
