package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestJSONOutputParses runs every command of this package with --json and
// parses its stdout. run and invoke --build are covered with --json by
// their own tests against real servers (run_test.go, invoke_test.go);
// completion prints a shell script and help its text, by design.
func TestJSONOutputParses(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer ok.Close()
	cases := map[string][]string{
		"version": {"version"},
		"demo":    {"demo", "--events", "20"},
		"send":    {"send", "mem://json", "a", "b"},
		"invoke":  {"invoke", "--platform", "gcp", "--url", ok.URL, "a"},
	}
	for _, k := range eventKinds {
		cases["event "+k.name] = []string{"event", k.name, "a", "b"}
	}
	covered := map[string]bool{"run": true, "completion": true, "help": true}
	for name, args := range cases {
		code, out, errs := runCLIStdin(t, "", append(args, "--json")...)
		if code != 0 {
			t.Errorf("%s --json: exit %d: %s", name, code, errs)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("%s --json does not parse: %v\n%s", name, err, out)
		}
		covered[strings.Fields(name)[0]] = true
	}
	for _, c := range newRootCmd().Commands() {
		if mine := ownedCommands[c.Name()]; mine && !covered[c.Name()] {
			t.Errorf("eventfn %s has no --json case here", c.Name())
		}
	}
}

// ownedCommands are the commands of this package's own files; dlq, new and
// doctor are tested where they are written.
var ownedCommands = map[string]bool{"demo": true, "version": true, "event": true, "invoke": true, "send": true, "run": true}
