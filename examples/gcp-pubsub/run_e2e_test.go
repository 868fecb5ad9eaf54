package orderfn_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventfn/eventfn/examples/orders"
	"github.com/eventfn/eventfn/internal/testenv"
)

// eventfn run builds ./cmd/run and consumes a gcppubsub:// subscription on
// pstest with it: the orders are applied once, and Ctrl-C (SIGINT) stops it
// with the counts.
func TestEventfnRunConsumesWithTheExample(t *testing.T) {
	testenv.PubSub(t)
	dir := t.TempDir()
	eventfn := filepath.Join(dir, "eventfn")
	build := exec.Command("go", "build", "-o", eventfn, "./cmd/eventfn")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build eventfn: %v\n%s", err, out)
	}
	pullBin := filepath.Join(dir, "pull")
	if out, err := exec.Command("go", "build", "-o", pullBin, "./cmd/pull").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	ledger := filepath.Join(dir, "ledger.jsonl")
	env := append(os.Environ(), "GOOGLE_CLOUD_PROJECT="+project, "ORDERS_LEDGER_FILE="+ledger,
		"ORDERS_IDEMPOTENCY_SCOPE=gcp-run-test-"+suffix)
	flags := []string{"-topic", "orders-" + suffix, "-subscription", "worker-" + suffix}
	for _, args := range [][]string{{"-setup"}, {"-publish", order("o-r1", 100)}, {"-publish", order("o-r2", 200)}} {
		cmd := exec.Command(pullBin, append(append([]string{}, flags...), args...)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pull %v: %v\n%s", args, err, out)
		}
	}

	sub := fmt.Sprintf("gcppubsub://projects/%s/subscriptions/worker-%s", project, suffix)
	run := exec.Command(eventfn, "run", "--sub", sub, "./cmd/run")
	run.Env = env
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	applied := map[string]int{}
	for deadline := time.Now().Add(60 * time.Second); len(applied) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = run.Process.Kill()
			t.Fatalf("timed out: ledger %v\n%s", applied, out.String())
		}
		entries, err := orders.ReadLedger(ledger)
		if err != nil {
			t.Fatal(err)
		}
		applied = map[string]int{}
		for _, e := range entries {
			applied[e.OrderID]++
		}
	}
	if err := run.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := run.Wait()
	if applied["o-r1"] != 1 || applied["o-r2"] != 1 {
		t.Errorf("ledger = %v, want each order once", applied)
	}
	if !strings.Contains(out.String(), "2 acked") {
		t.Errorf("eventfn run did not report 2 acked (exit %v):\n%s", err, out.String())
	}
}
