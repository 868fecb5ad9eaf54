package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/adapters/servicebus"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
)

// orderBodies: o-1 valid, o-2 fails its first attempt (ORDERS_FAIL_FIRST_ATTEMPT),
// o-3 invalid (permanent), and a body that is not JSON (permanent).
var orderBodies = []string{
	`{"id":"o-1","customer":"c-1","amount_cents":100}`,
	`{"id":"o-2","customer":"c-2","amount_cents":200}`,
	`{"id":"o-3","customer":"c-3","amount_cents":0}`,
	`not json`,
}

var orderIDs = []string{"--id", "m-1", "--id", "m-2", "--id", "m-3", "--id", "m-4"}

func invokeJSON(t *testing.T, wantCode int, args ...string) invokeResult {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"invoke", "--json", "--quiet"}, args...)...)
	if code != wantCode {
		t.Fatalf("invoke %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errs)
	}
	var r invokeResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("invoke --json output does not parse: %v\n%s", err, out)
	}
	return r
}

func outcomes(r invokeResult) map[string]string {
	m := map[string]string{}
	for _, o := range r.Messages {
		if prev, ok := m[o.ID]; ok && prev != o.Outcome {
			m[o.ID] = prev + "," + o.Outcome
			continue
		}
		m[o.ID] = o.Outcome
	}
	return m
}

func checkOutcomes(t *testing.T, r invokeResult, want map[string]string) {
	t.Helper()
	got := outcomes(r)
	for id, w := range want {
		if got[id] != w {
			t.Errorf("message %s: %q, want %q (all: %+v)", id, got[id], w, r.Messages)
		}
	}
	if len(got) != len(want) {
		t.Errorf("outcomes for %v, want %v", got, want)
	}
}

func repoDir(t *testing.T, rel string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestInvokeBuildRoundTripsThroughRIE(t *testing.T) {
	redis := testenv.Redis(t)
	t.Setenv(testenv.RIEBinary, testenv.RIE(t))
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	args := []string{"--platform", "aws", "--build", repoDir(t, "examples/aws-sqs"),
		"--env", "EVENTFN_REDIS_URL=" + redis, "--env", "EVENTFN_SCOPE=" + t.Name() + randomToken(4),
		"--env", "ORDERS_LEDGER_FILE=" + ledger, "--env", "ORDERS_FAIL_FIRST_ATTEMPT=o-2",
		"--repeat", "2"}
	r := invokeJSON(t, exitNotAcked, append(append(append([]string{}, args...), orderIDs...), orderBodies...)...)
	checkOutcomes(t, r, map[string]string{"m-1": "acked", "m-2": "retried", "m-3": "retried", "m-4": "retried"})
	if len(r.Messages) != 8 || r.Acked != 2 || r.NotAcked != 6 {
		t.Errorf("counts: %+v", r)
	}
	// The redelivery: o-2 on its second attempt is applied; o-1 again is a
	// duplicate the idempotency store absorbs.
	r = invokeJSON(t, exitOK, append(append([]string{}, args...), "--attempt", "2", "--id", "m-1", "--id", "m-2", orderBodies[0], orderBodies[1])...)
	checkOutcomes(t, r, map[string]string{"m-1": "acked", "m-2": "acked"})
	b, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	if n1, n2 := strings.Count(string(b), `"o-1"`), strings.Count(string(b), `"o-2"`); n1 != 1 || n2 != 1 {
		t.Errorf("ledger has o-1 %d times and o-2 %d times, want once each:\n%s", n1, n2, b)
	}
}

func TestInvokeGCPThroughTheFunctionsFramework(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	for _, tc := range []struct{ function, kind string }{
		{"OrderPlacedPush", "pubsub-push"},
		{"OrderPlaced", "cloudevent"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			args := append([]string{"--platform", "gcp", "--kind", tc.kind, "--function", tc.function,
				"--build", repoDir(t, "examples/gcp-pubsub/cmd/serve"),
				"--env", "ORDERS_LEDGER_FILE=" + ledger, "--env", "ORDERS_FAIL_FIRST_ATTEMPT=o-2",
				"--env", "ORDERS_IDEMPOTENCY_SCOPE=" + tc.kind}, orderIDs...)
			r := invokeJSON(t, exitNotAcked, append(args, orderBodies...)...)
			checkOutcomes(t, r, map[string]string{"m-1": "acked", "m-2": "retried", "m-3": "rejected", "m-4": "rejected"})
			for _, m := range r.Messages {
				if m.ID == "m-3" && !strings.Contains(m.Reason, "422") {
					t.Errorf("m-3 reason %q lacks the status", m.Reason)
				}
			}
		})
	}
}

func TestInvokeAzureThroughTheCustomHandler(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	args := append([]string{"--platform", "azure", "--function", "ProcessOrderBatch",
		"--build", repoDir(t, "examples/azure-servicebus"),
		"--env", "ORDERS_LEDGER_FILE=" + ledger, "--env", "ORDERS_FAIL_FIRST_ATTEMPT=o-2"}, orderIDs...)
	r := invokeJSON(t, exitNotAcked, append(args, orderBodies...)...)
	// o-2 fails the invocation, so the host abandons every message of it.
	checkOutcomes(t, r, map[string]string{"m-1": "retried", "m-2": "retried", "m-3": "retried", "m-4": "retried"})
	if r.Status != http.StatusInternalServerError {
		t.Errorf("status %d", r.Status)
	}
	// Redelivered (attempt 2): everything succeeds; the rejected ones go to
	// the rejected output binding.
	r = invokeJSON(t, exitOK, append(append(append([]string{}, args...), "--attempt", "2"), orderBodies...)...)
	checkOutcomes(t, r, map[string]string{"m-1": "acked", "m-2": "acked", "m-3": "dead-lettered", "m-4": "dead-lettered"})
}

func TestInvokeAgainstHandlersServedOverHTTP(t *testing.T) {
	h := handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		switch string(m.Body) {
		case "ok":
			return nil
		case "later":
			return handler.RetryAfter(30*time.Second, errors.New("busy"))
		case "bad":
			return handler.Permanent(errors.New("bad order"))
		}
		return errors.New("downstream down")
	})
	push := httptest.NewServer(pubsub.NewPushHandler(h, &pubsub.PushOptions{Logger: quietLog()}))
	defer push.Close()
	r := invokeJSON(t, exitNotAcked, "--platform", "gcp", "--url", push.URL, "ok", "later", "bad", "oops", "--id", "1", "--id", "2", "--id", "3", "--id", "4")
	checkOutcomes(t, r, map[string]string{"1": "acked", "2": "retried", "3": "rejected", "4": "retried"})
	if !strings.Contains(r.Messages[1].Reason, "Retry-After 30s") || !strings.Contains(r.Messages[3].Reason, "downstream down") {
		t.Errorf("reasons: %+v", r.Messages)
	}

	mux := http.NewServeMux()
	mux.Handle("/ProcessOrder", servicebus.NewFunction(h, &servicebus.FunctionOptions{Logger: quietLog()}))
	sb := httptest.NewServer(mux)
	defer sb.Close()
	r = invokeJSON(t, exitOK, "--platform", "azure", "--url", sb.URL, "ok", "--id", "a")
	checkOutcomes(t, r, map[string]string{"a": "acked"})
	r = invokeJSON(t, exitNotAcked, "--platform", "azure", "--url", sb.URL, "bad", "--id", "b")
	checkOutcomes(t, r, map[string]string{"b": "rejected"})
	if !strings.Contains(r.Messages[0].Reason, "bad order") {
		t.Errorf("reason %q", r.Messages[0].Reason)
	}
}

func TestInvokeBadInput(t *testing.T) {
	dead := "http://127.0.0.1:" + itoa(testenv.FreePort(t)) + "/"
	dir := t.TempDir()
	notJSON := writeFile(t, dir, "event.json", "{not json")
	wrongShape := writeFile(t, dir, "sns.json", `{"hello":"world"}`)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"invoke", "x"}, exitUsage, `"platform" not set`},
		{[]string{"invoke", "--platform", "ibm", "x"}, exitUsage, "aws, gcp or azure"},
		{[]string{"invoke", "--platform", "aws", "--kind", "servicebus", "x"}, exitUsage, "not an event of"},
		{[]string{"invoke", "--platform", "aws", "--url", dead, "x"}, exitFailure, "cannot reach the function at " + dead},
		{[]string{"invoke", "--platform", "aws", "--url", dead, "--event", notJSON}, exitFailure, "not JSON"},
		{[]string{"invoke", "--platform", "aws", "--url", dead, "--event", wrongShape}, exitFailure, "not an SQS or SNS event"},
		{[]string{"invoke", "--platform", "gcp", "--url", dead, "--event", wrongShape}, exitFailure, "neither a Pub/Sub push body nor a CloudEvent"},
		{[]string{"invoke", "--platform", "azure", "--url", dead, "--event", wrongShape}, exitFailure, "Data and Metadata"},
		{[]string{"invoke", "--platform", "aws", "--event", notJSON, "x"}, exitUsage, "not both"},
		{[]string{"invoke", "--platform", "aws", "--build", dir, "x"}, exitFailure, "building"},
	} {
		code, _, errs := runCLIStdin(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}
