package main_test

// Benchmarks for the numbers issue 3 asks for; scripts/bench-lambda.sh runs
// them and prints a summary.
//
//   - BenchmarkColdStart: process start of the real bootstrap binary to its
//     first request for work (GET .../invocation/next) against a stub
//     Runtime API, per store, taking turns with the bare aws-lambda-go
//     function (testdata/bare) as the reference.
//   - BenchmarkWarmInvoke: warm invocations under the Runtime Interface
//     Emulator. Its "paired" case is the measure of the overhead: four
//     functions take turns on 10-record batches, a bare aws-lambda-go
//     function (testdata/bare), the same plus the Redis store's two round
//     trips (testdata/barestore), eventfn's adapter + idempotency on Redis
//     around a no-op handler (testdata/noop) and the example; the overhead is
//     the no-op function's time less the bare store function's, per round.
//     The other cases, and BenchmarkStoreRoundTrips (the two round trips in
//     a hot loop), give the numbers one function after another.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/internal/testenv"
)

// BenchmarkColdStart times process start to the first request for work of
// the bare function, the example on Redis and the example on DynamoDB
// (which loads the AWS configuration at start), and the example's extra
// time over the bare function.
func BenchmarkColdStart(b *testing.B) {
	bin := benchBootstrap(b)
	bare := filepath.Join(buildDir, "bare")
	if err := testenv.BuildLambdaTo("testdata/bare", bare, runtimeArch()); err != nil {
		b.Fatal(err)
	}
	ready := make(chan time.Time, 1)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ready <- time.Now():
		default:
		}
		<-r.Context().Done() // hold the long poll until the process is killed
	})}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	start := func(bin string, env ...string) float64 {
		cmd := exec.Command(bin)
		cmd.Env = append([]string{"AWS_LAMBDA_RUNTIME_API=" + l.Addr().String(), "AWS_LAMBDA_FUNCTION_NAME=orders", "PATH=/usr/bin:/bin"}, env...)
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		select {
		case at := <-ready:
			return float64(at.Sub(t0).Microseconds()) / 1000
		case <-time.After(10 * time.Second):
			b.Fatalf("%s never asked for work", bin)
		}
		return 0
	}
	redisEnv := []string{"EVENTFN_STORE=redis", "EVENTFN_REDIS_URL=redis://127.0.0.1:1/0"}
	ddbEnv := []string{"EVENTFN_STORE=dynamodb", "EVENTFN_DYNAMODB_TABLE=idem", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x"}
	// The three binaries take turns, one start each per round, so the
	// machine's drift weighs on all alike; the example's extra start time
	// is the median of its differences from the bare function within a
	// round.
	var m medians
	for b.Loop() {
		t0 := start(bare)
		r := start(bin, redisEnv...)
		d := start(bin, ddbEnv...)
		m.add("bare-ms", t0)
		m.add("redis-ms", r)
		m.add("dynamodb-ms", d)
		m.add("redis-minus-bare-ms", r-t0)
		m.add("dynamodb-minus-bare-ms", d-t0)
	}
	m.report(b)
}

func BenchmarkWarmInvoke(b *testing.B) {
	bin := benchBootstrap(b)
	redisURL := testenv.Redis(b)
	f := testenv.StartFunction(b, bin,
		"EVENTFN_STORE=redis", "EVENTFN_REDIS_URL="+redisURL,
		"ORDERS_LEDGER_FILE=/dev/null", fmt.Sprintf("EVENTFN_SCOPE=bench-%d", time.Now().UnixNano()),
		"EVENTFN_SQS_REPORT_BATCH_ITEM_FAILURES=true", "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	bare := filepath.Join(buildDir, "bare")
	if err := testenv.BuildLambdaTo("testdata/bare", bare, runtimeArch()); err != nil {
		b.Fatal(err)
	}
	fb := testenv.StartFunction(b, bare)
	bareStore := filepath.Join(buildDir, "barestore")
	if err := testenv.BuildLambdaTo("testdata/barestore", bareStore, runtimeArch()); err != nil {
		b.Fatal(err)
	}
	fs := testenv.StartFunction(b, bareStore, "EVENTFN_REDIS_URL="+redisURL, fmt.Sprintf("EVENTFN_SCOPE=bench-bare-%d-", time.Now().UnixNano()))
	noop := filepath.Join(buildDir, "noop")
	if err := testenv.BuildLambdaTo("testdata/noop", noop, runtimeArch()); err != nil {
		b.Fatal(err)
	}
	fNoop := testenv.StartFunction(b, noop, "EVENTFN_REDIS_URL="+redisURL, fmt.Sprintf("EVENTFN_SCOPE=bench-noop-%d", time.Now().UnixNano()))
	fNoopFunc := testenv.StartFunction(b, noop, "EVENTFN_REDIS_URL="+redisURL, fmt.Sprintf("EVENTFN_SCOPE=bench-noopfunc-%d", time.Now().UnixNano()), "NOOP_START=handlerfunc")
	ctx := context.Background()
	empty := []byte(`{"Records":[]}`)
	fns := []*testenv.Function{f, fb, fs, fNoop, fNoopFunc}
	// EVENTFN_BENCH_NOOP_REF names another build of testdata/noop (say, of
	// an older commit) to take turns with this one in the paired case.
	var fRef *testenv.Function
	if ref := os.Getenv("EVENTFN_BENCH_NOOP_REF"); ref != "" {
		fRef = testenv.StartFunction(b, ref, "EVENTFN_REDIS_URL="+redisURL, fmt.Sprintf("EVENTFN_SCOPE=bench-noopref-%d", time.Now().UnixNano()))
		fns = append(fns, fRef)
	}
	for _, fn := range fns { // cold starts outside the loops
		if _, err := fn.Invoke(ctx, empty); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	newBatch := func() []byte {
		n := seq.Add(1)
		recs := make([]events.SQSMessage, 10)
		for i := range recs {
			id := fmt.Sprintf("w%d-%d", n, i)
			recs[i] = record(id, order(id, 1), 1)
		}
		payload, _ := json.Marshal(events.SQSEvent{Records: recs})
		return payload
	}
	b.Run("bare-function-10-records", func(b *testing.B) {
		for b.Loop() {
			if _, err := fb.Invoke(ctx, newBatch()); err != nil {
				b.Fatal(err)
			}
		}
	})
	// paired takes turns between the functions, one invocation each per
	// round, so the machine's drift (loopback latency here moves by 2x
	// within minutes) weighs on all alike. It reports their medians and the
	// medians of differences within a round, each less the bare store
	// function: the no-op eventfn function (the adapter + idempotency
	// overhead), the same started through lambda.StartHandlerFunc with
	// Lambda.Invoke, and the example (the overhead plus the orders handler's
	// work); with EVENTFN_BENCH_NOOP_REF, also the no-op function less the
	// reference build, the two going first in alternate rounds.
	b.Run("paired", func(b *testing.B) {
		var m medians
		timed := func(fn *testenv.Function) float64 {
			payload := newBatch()
			start := time.Now()
			body, err := fn.Invoke(ctx, payload)
			el := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if string(body) != `{"batchItemFailures":null}` {
				b.Fatalf("response %s", body)
			}
			return float64(el.Nanoseconds()) / 1e6
		}
		for b.Loop() {
			m.add("bare-ms", timed(fb))
			s := timed(fs)
			var n, ref float64
			switch {
			case fRef == nil:
				n = timed(fNoop)
			case len(m.vals["noop-ms"])%2 == 0: // alternate which goes first
				n, ref = timed(fNoop), timed(fRef)
			default:
				ref, n = timed(fRef), timed(fNoop)
			}
			if fRef != nil {
				m.add("noop-minus-ref-ms", n-ref)
			}
			nf := timed(fNoopFunc)
			full := timed(f)
			m.add("bare+store-ms", s)
			m.add("noop-ms", n)
			m.add("example-ms", full)
			m.add("overhead-ms", n-s)
			m.add("overhead-handlerfunc-ms", nf-s)
			m.add("example-minus-bare+store-ms", full-s)
		}
		m.report(b)
	})
	b.Run("10-records-redis", func(b *testing.B) {
		for b.Loop() {
			body, err := f.Invoke(ctx, newBatch())
			if err != nil {
				b.Fatal(err)
			}
			if string(body) != `{"batchItemFailures":null}` {
				b.Fatalf("response %s", body)
			}
		}
	})
}

// BenchmarkStoreRoundTrips is the store's share of a 10-record batch: one
// pipelined claim of 10 keys and one pipelined complete, from this process.
func BenchmarkStoreRoundTrips(b *testing.B) {
	s, err := redisstore.Open(testenv.Redis(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var seq int
	for b.Loop() {
		seq++
		reqs := make([]idempotency.ClaimRequest, 10)
		for i := range reqs {
			reqs[i] = idempotency.ClaimRequest{Key: fmt.Sprintf("bench-rt-%d-%d-%d", time.Now().UnixNano(), seq, i), Fingerprint: "fp", Lease: time.Minute}
		}
		claims, errs := s.ClaimBatch(ctx, reqs)
		items := make([]idempotency.Completion, len(claims))
		for i, c := range claims {
			if errs[i] != nil || !c.Acquired {
				b.Fatalf("claim %d: %v %+v", i, errs[i], c)
			}
			items[i] = idempotency.Completion{Key: reqs[i].Key, Token: c.Token, TTL: time.Minute}
		}
		for i, err := range s.CompleteBatch(ctx, items) {
			if err != nil {
				b.Fatalf("complete %d: %v", i, err)
			}
		}
	}
}

// medians collects samples per metric, in the order first added, and
// reports the median of each.
type medians struct {
	names []string
	vals  map[string][]float64
}

func (m *medians) add(name string, v float64) {
	if m.vals == nil {
		m.vals = map[string][]float64{}
	}
	if _, ok := m.vals[name]; !ok {
		m.names = append(m.names, name)
	}
	m.vals[name] = append(m.vals[name], v)
}

func (m *medians) report(b *testing.B) {
	for _, n := range m.names {
		b.ReportMetric(median(m.vals[n]), n)
	}
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	x = slices.Clone(x)
	slices.Sort(x)
	return x[len(x)/2]
}

// benchBootstrap builds the example once per benchmark binary and logs its
// size.
func benchBootstrap(b *testing.B) string {
	b.Helper()
	out := bootstrap(b)
	if fi, err := os.Stat(out); err == nil {
		b.Logf("bootstrap: %s bytes", strconv.FormatInt(fi.Size(), 10))
	}
	return out
}
