package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventfn/eventfn/internal/testenv"

	"github.com/eventfn/eventfn/examples/orders"
)

// The captured host requests live with the adapter.
const testdata = "../../adapters/servicebus/testdata"

type response struct {
	Outputs     map[string]json.RawMessage
	Logs        []string
	ReturnValue map[string]any
}

// server is the example binary running as a custom handler on a loopback
// port, as the Functions host would start it.
type server struct {
	url    string
	ledger string
}

func start(t *testing.T) *server {
	t.Helper()
	if os.Getenv(testenv.RequireServices) == "1" {
		testenv.Redis(t) // under scripts/test.sh the example must run on the Redis store
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "handler")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := testenv.FreePort(t)
	s := &server{url: fmt.Sprintf("http://127.0.0.1:%d", port), ledger: filepath.Join(dir, "ledger.jsonl")}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", port),
		"ORDERS_LEDGER_FILE="+s.ledger,
		"ORDERS_FAIL_FIRST_ATTEMPT=o-2002,o-3002",
		// A fresh scope per run, so records left in a shared Redis by an
		// earlier run do not turn this run's messages into duplicates.
		fmt.Sprintf("ORDERS_IDEMPOTENCY_SCOPE=example-test-%d", time.Now().UnixNano()),
	)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("handler exited with %v after SIGTERM; output:\n%s", err, stderr.String())
		}
		if os.Getenv(testenv.RedisURL) != "" && strings.Contains(stderr.String(), "in-memory idempotency store") {
			t.Errorf("EVENTFN_REDIS_URL is set but the handler used the in-memory store")
		}
		if t.Failed() {
			t.Logf("handler output:\n%s", stderr.String())
		}
	})
	// Like the host, wait until the server answers anything.
	guard := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(guard) {
			t.Fatalf("handler never listened: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// invoke posts a captured request, optionally edited, as the host does.
func (s *server) invoke(t *testing.T, fn, file string, edit func(md map[string]any)) (int, response) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(testdata, file))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatal(err)
		}
		edit(req["Metadata"].(map[string]any))
		body, _ = json.Marshal(req)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/"+fn, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", fmt.Sprintf("inv-%d", time.Now().UnixNano()))
	req.Header.Set("X-Azure-Functions-HostVersion", "4.1037.1.1")
	req.Header.Set("User-Agent", "Azure-Functions-Host/4.1037.1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: response is not the host's shape: %v: %s", file, err, raw)
	}
	return resp.StatusCode, r
}

func redelivered(count string) func(map[string]any) {
	return func(md map[string]any) {
		if _, ok := md["DeliveryCountArray"]; ok {
			md["DeliveryCountArray"] = count
			return
		}
		md["DeliveryCount"] = count
	}
}

// applied counts ledger entries per order ID.
func (s *server) applied(t *testing.T) map[string]int {
	t.Helper()
	n, err := orders.AppliedCounts(s.ledger)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCustomHandlerEndToEnd(t *testing.T) {
	s := start(t)
	type step struct {
		name, fn, file string
		edit           func(map[string]any)
		wantStatus     int
		wantLog        string
		wantRejected   string // JSON of Outputs.rejected
		wantLedger     map[string]int
	}
	steps := []step{
		{name: "a valid order is applied", fn: "ProcessOrder", file: "single-success.json", wantStatus: 200,
			wantLog: "msg-o-1001 attempt 1: ack", wantLedger: map[string]int{"o-1001": 1}},
		{name: "its redelivery is acknowledged without applying it again", fn: "ProcessOrder", file: "single-success.json", edit: redelivered("2"), wantStatus: 200,
			wantLedger: map[string]int{"o-1001": 1}},
		{name: "a transient failure fails the invocation", fn: "ProcessOrder", file: "single-transient.json", wantStatus: 500,
			wantLog: "msg-o-2002 attempt 1: retry", wantLedger: map[string]int{"o-1001": 1}},
		{name: "its redelivery succeeds", fn: "ProcessOrder", file: "single-transient.json", edit: redelivered("2"), wantStatus: 200,
			wantLedger: map[string]int{"o-1001": 1, "o-2002": 1}},
		{name: "a malformed body goes to the rejected output", fn: "ProcessOrder", file: "single-malformed-body.json", wantStatus: 200,
			wantLog: "rejected, routed to output rejected", wantRejected: `["{\"id\": \"o-bad\", \"amount_cents\": "]`, wantLedger: map[string]int{"o-1001": 1, "o-2002": 1}},
		{name: "a batch with a transient failure fails as a whole", fn: "ProcessOrderBatch", file: "batch-mixed.json", wantStatus: 500,
			wantLog: "msg-o-3002 attempt 1: retry", wantLedger: map[string]int{"o-1001": 1, "o-2002": 1, "o-3001": 1}},
		{name: "its redelivery applies the rest once and routes the poison message", fn: "ProcessOrderBatch", file: "batch-mixed.json", edit: redelivered("[2,2,2]"), wantStatus: 200,
			wantLog: "msg-o-3bad attempt 2: rejected", wantRejected: `["not json at all"]`, wantLedger: map[string]int{"o-1001": 1, "o-2002": 1, "o-3001": 1, "o-3002": 1}},
		{name: "missing Data is refused", fn: "ProcessOrder", file: "single-missing-data.json", wantStatus: 400, wantLog: "no Data"},
		{name: "missing Metadata is refused", fn: "ProcessOrder", file: "single-missing-metadata.json", wantStatus: 400, wantLog: "no Metadata"},
		{name: "an unknown binding is refused", fn: "ProcessOrder", file: "single-unknown-binding.json", wantStatus: 400, wantLog: `want "order"`},
		{name: "a non-numeric DeliveryCount is refused", fn: "ProcessOrder", file: "single-bad-delivery-count.json", wantStatus: 400, wantLog: "DeliveryCount"},
		{name: "a batch sent to the single-message function is refused", fn: "ProcessOrder", file: "batch-mixed.json", wantStatus: 400, wantLog: `want "order", have "orders"`},
	}
	for _, st := range steps {
		code, resp := s.invoke(t, st.fn, st.file, st.edit)
		logs := strings.Join(resp.Logs, "\n")
		if code != st.wantStatus {
			t.Errorf("%s: status %d, want %d; logs:\n%s", st.name, code, st.wantStatus, logs)
		}
		if st.wantLog != "" && !strings.Contains(logs, st.wantLog) {
			t.Errorf("%s: Logs lack %q:\n%s", st.name, st.wantLog, logs)
		}
		if got := string(resp.Outputs["rejected"]); got != st.wantRejected {
			t.Errorf("%s: Outputs.rejected = %s, want %s", st.name, got, st.wantRejected)
		}
		if resp.ReturnValue == nil {
			t.Errorf("%s: no ReturnValue", st.name)
		}
		if st.wantLedger == nil {
			st.wantLedger = map[string]int{"o-1001": 1, "o-2002": 1, "o-3001": 1, "o-3002": 1}
		}
		if got := s.applied(t); fmt.Sprint(got) != fmt.Sprint(st.wantLedger) {
			t.Errorf("%s: ledger %v, want %v", st.name, got, st.wantLedger)
		}
	}
}
