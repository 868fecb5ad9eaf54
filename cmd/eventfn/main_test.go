package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/eventfn/eventfn/internal/testenv"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDemoOnEmbeddedDefaults(t *testing.T) {
	code, out, errs := runCLI(t, "demo", "--events", "300", "--dup-rate", "0.3", "--fail-rate", "0.2", "--poison", "2")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"events published", "duplicates skipped", "dead-lettered", "OK: all 300 events took effect exactly once"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoWithRedis(t *testing.T) {
	url := testenv.Redis(t)
	code, out, errs := runCLI(t, "demo", "--store", "redis", "--redis-url", url, "--events", "200")
	if code != 0 || !strings.Contains(out, "Redis at") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestDemoFailsWhenTheStoreIsDown(t *testing.T) {
	port := testenv.FreePort(t)
	code, out, _ := runCLI(t, "demo", "--store", "redis", "--redis-url", "redis://127.0.0.1:"+itoa(port)+"/0?dial_timeout=200ms", "--events", "5", "--timeout", "3s")
	if code == 0 {
		t.Fatalf("demo succeeded with its store down:\n%s", out)
	}
	if !strings.Contains(out, "FAILED") {
		t.Errorf("no failure report:\n%s", out)
	}
}

func TestCLIErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"demo", "--store", "cassandra"}, {"demo", "--events", "0"}, {"demo", "--dup-rate", "2"}, {"demo", "--bogus"}} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, out, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(out, "eventfn ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "help"); code != 0 || !strings.Contains(out, "demo") {
		t.Errorf("help: %d %q", code, out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestVersionJSONParses(t *testing.T) {
	code, out, errs := runCLI(t, "version", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version == "" {
		t.Fatalf("version --json: %v: %q", err, out)
	}
}
