package main_test

// End-to-end tests: the example is built as the real bootstrap binary
// (GOOS=linux, CGO_ENABLED=0), run under the Lambda Runtime Interface
// Emulator on loopback ports and invoked with SQS events, with real Redis and
// DynamoDB Local stores. The ledger file is the side effect that must happen
// exactly once per order.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventfn/eventfn/examples/orders"
	"github.com/eventfn/eventfn/idempotency/dynamostore"
	"github.com/eventfn/eventfn/internal/testenv"
)

var (
	buildDir  string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aws-sqs-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bootstrap builds the example once per test binary.
func bootstrap(t testing.TB) string {
	t.Helper()
	out := filepath.Join(buildDir, "bootstrap")
	buildOnce.Do(func() { buildErr = testenv.BuildLambdaTo(".", out, runtimeArch()) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return out
}

// store is one way to configure the function's idempotency store.
type store struct {
	name string
	env  func(t *testing.T) []string
}

func redisStore() store {
	return store{"redis", func(t *testing.T) []string {
		return []string{"EVENTFN_STORE=redis", "EVENTFN_REDIS_URL=" + testenv.Redis(t)}
	}}
}

func dynamoStore() store {
	return store{"dynamodb", func(t *testing.T) []string {
		testenv.DynamoDB(t)
		ctx := context.Background()
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		table := fmt.Sprintf("orders-idem-%d", rand.Uint32())
		if err := dynamostore.CreateTable(ctx, dynamodb.NewFromConfig(cfg), table, nil); err != nil {
			t.Fatalf("CreateTable: %v", err)
		}
		return []string{"EVENTFN_STORE=dynamodb", "EVENTFN_DYNAMODB_TABLE=" + table}
	}}
}

// function starts the example under RIE and returns it with its ledger path.
func function(t *testing.T, st store, env ...string) (*testenv.Function, string) {
	t.Helper()
	bin := bootstrap(t)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	base := []string{
		"ORDERS_LEDGER_FILE=" + ledger,
		fmt.Sprintf("EVENTFN_SCOPE=e2e-%d", rand.Uint64()), // fresh keys per test
		"AWS_LAMBDA_FUNCTION_TIMEOUT=10",
		"EVENTFN_SQS_REPORT_BATCH_ITEM_FAILURES=true",
		"AWS_REGION=us-east-1",
	}
	return testenv.StartFunction(t, bin, append(append(base, st.env(t)...), env...)...), ledger
}

const queueARN = "arn:aws:sqs:us-east-1:123456789012:orders"

func record(id, body string, attempt int) events.SQSMessage {
	return events.SQSMessage{
		MessageId:     id,
		ReceiptHandle: "rh-" + id,
		Body:          body,
		Attributes: map[string]string{
			"ApproximateReceiveCount": fmt.Sprint(attempt),
			"SentTimestamp":           "1731900000000",
		},
		EventSource:    "aws:sqs",
		EventSourceARN: queueARN,
		AWSRegion:      "us-east-1",
	}
}

func order(id string, cents int) string {
	return fmt.Sprintf(`{"id":%q,"customer":"c-%s","amount_cents":%d}`, id, id, cents)
}

// invoke sends an SQS event and returns the IDs in batchItemFailures.
func invoke(t *testing.T, f *testenv.Function, recs ...events.SQSMessage) []string {
	t.Helper()
	payload, err := json.Marshal(events.SQSEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	body, err := f.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

// applied returns how many times each order is in the ledger.
func applied(t *testing.T, ledger string) map[string]int {
	t.Helper()
	n, err := orders.AppliedCounts(ledger)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sorted(ids ...string) []string { slices.Sort(ids); return ids }

func TestBatchWithDuplicatesAndFailures(t *testing.T) {
	for _, st := range []store{redisStore(), dynamoStore()} {
		t.Run(st.name, func(t *testing.T) {
			f, ledger := function(t, st, "ORDERS_FAIL_FIRST_ATTEMPT=o-flaky")
			batch := []events.SQSMessage{
				record("m1", order("o-1", 100), 1),
				record("m2", order("o-2", 200), 1),
				record("m3", order("o-3", 300), 1),
				record("m4", order("o-4", 400), 1),
				record("m5", order("o-5", 500), 1),
				record("m6", order("o-flaky", 600), 1),         // transient failure on attempt 1
				record("m7", `{"id":"o-7","amount_cents":`, 1), // malformed body
				record("m8", order("o-bad", -1), 1),            // permanent: invalid order
				record("m1", order("o-1", 100), 1),             // SQS delivered m1 twice
				record("m10", order("o-2", 200), 1),            // the producer sent o-2 again
			}
			if got, want := invoke(t, f, batch...), sorted("m6", "m7", "m8"); !slices.Equal(got, want) {
				t.Errorf("batchItemFailures = %v, want %v", got, want)
			}
			want := map[string]int{"o-1": 1, "o-2": 1, "o-3": 1, "o-4": 1, "o-5": 1}
			if got := applied(t, ledger); !mapsEqual(got, want) {
				t.Errorf("ledger after the first delivery = %v, want %v", got, want)
			}

			// Lambda redelivers the failures; SQS also redelivers m1.
			redelivery := []events.SQSMessage{
				record("m6", order("o-flaky", 600), 2),
				record("m7", `{"id":"o-7","amount_cents":`, 2),
				record("m8", order("o-bad", -1), 2),
				record("m1", order("o-1", 100), 2),
			}
			if got, want := invoke(t, f, redelivery...), sorted("m7", "m8"); !slices.Equal(got, want) {
				t.Errorf("batchItemFailures on redelivery = %v, want %v", got, want)
			}
			want["o-flaky"] = 1
			if got := applied(t, ledger); !mapsEqual(got, want) {
				t.Errorf("ledger after the redelivery = %v, want %v", got, want)
			}
		})
	}
}

func TestFIFOGroupFailsMidway(t *testing.T) {
	f, ledger := function(t, redisStore(), "ORDERS_FAIL_FIRST_ATTEMPT=a2")
	fifo := func(id, group string, attempt int) events.SQSMessage {
		r := record(id, order(id, 1), attempt)
		r.EventSourceARN = queueARN + ".fifo"
		r.Attributes["MessageGroupId"] = group
		return r
	}
	got := invoke(t, f, fifo("a1", "A", 1), fifo("b1", "B", 1), fifo("a2", "A", 1), fifo("b2", "B", 1), fifo("a3", "A", 1))
	if want := sorted("a2", "a3"); !slices.Equal(got, want) {
		t.Errorf("batchItemFailures = %v, want %v", got, want)
	}
	if got, want := applied(t, ledger), map[string]int{"a1": 1, "b1": 1, "b2": 1}; !mapsEqual(got, want) {
		t.Errorf("ledger = %v, want %v (a3 must wait for a2)", got, want)
	}
	if got := invoke(t, f, fifo("a2", "A", 2), fifo("a3", "A", 2)); len(got) != 0 {
		t.Errorf("batchItemFailures on redelivery = %v", got)
	}
	entries, err := orders.ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	var groupA []string
	for _, e := range entries {
		if strings.HasPrefix(e.OrderID, "a") {
			groupA = append(groupA, e.OrderID)
		}
	}
	if want := []string{"a1", "a2", "a3"}; !slices.Equal(groupA, want) {
		t.Errorf("group A applied in order %v, want %v", groupA, want)
	}
}

func TestSNSWrappedBatch(t *testing.T) {
	f, ledger := function(t, redisStore())
	wrapped := func(sqsID, snsID, body string) events.SQSMessage {
		env, _ := json.Marshal(map[string]any{
			"Type": "Notification", "MessageId": snsID, "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
			"Message": body, "Timestamp": "2024-11-18T03:20:00.123Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
		})
		return record(sqsID, string(env), 1)
	}
	got := invoke(t, f,
		wrapped("q1", "sns-1", order("s-1", 10)),
		wrapped("q2", "sns-2", order("s-2", 20)),
		wrapped("q3", "sns-1", order("s-1", 10)), // SNS delivered sns-1 twice
		wrapped("q4", "sns-4", "not json"),
	)
	if want := []string{"q4"}; !slices.Equal(got, want) {
		t.Errorf("batchItemFailures = %v, want %v", got, want)
	}
	entries, err := orders.ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, e := range entries {
		ids[e.OrderID] += e.MessageID
	}
	if want := map[string]string{"s-1": "sns-1", "s-2": "sns-2"}; !mapsEqual(ids, want) {
		t.Errorf("ledger (order -> message IDs) = %v, want each order once under its SNS MessageId", ids)
	}
}

func TestDeadlineMidBatch(t *testing.T) {
	// A 2 s function timeout; one record at a time; d2 blocks until its
	// deadline, so d3..d5 never start.
	f, ledger := function(t, redisStore(), "AWS_LAMBDA_FUNCTION_TIMEOUT=2", "EVENTFN_CONCURRENCY=1", "ORDERS_SLOW_MESSAGES=d2")
	var recs []events.SQSMessage
	for i := 1; i <= 5; i++ {
		recs = append(recs, record(fmt.Sprint("d", i), order(fmt.Sprint("d-", i), 1), 1))
	}
	// invoke fails the test if the invocation timed out instead of returning.
	if got, want := invoke(t, f, recs...), sorted("d2", "d3", "d4", "d5"); !slices.Equal(got, want) {
		t.Errorf("batchItemFailures = %v, want %v", got, want)
	}
	if got, want := applied(t, ledger), map[string]int{"d-1": 1}; !mapsEqual(got, want) {
		t.Errorf("ledger = %v, want %v", got, want)
	}
	// The function is healthy afterwards: the redelivery goes through.
	if got := invoke(t, f, record("d3", order("d-3", 1), 2)); len(got) != 0 {
		t.Errorf("batchItemFailures on redelivery = %v", got)
	}
}

func TestBadInput(t *testing.T) {
	f, ledger := function(t, redisStore())
	t.Run("an unknown event shape fails the invocation", func(t *testing.T) {
		body, err := f.Invoke(context.Background(), []byte(`{"detail-type":"Scheduled Event","source":"aws.events"}`))
		if err == nil || !strings.Contains(string(body), "unknown event shape") {
			t.Errorf("Invoke = %s, %v; want an unknown-event error", body, err)
		}
	})
	t.Run("malformed records fail alone", func(t *testing.T) {
		payload := fmt.Sprintf(`{"Records":[
			{"messageId":"x1","body":%q,"eventSource":"aws:sqs","eventSourceARN":%q},
			{"messageId":"x2","body":{"id":"o-x2"},"eventSource":"aws:sqs","eventSourceARN":%q},
			{"messageId":"x3","body":"{}","attributes":"wrong","eventSource":"aws:sqs","eventSourceARN":%q}]}`,
			order("x-1", 1), queueARN, queueARN, queueARN)
		body, err := f.Invoke(context.Background(), []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range resp.BatchItemFailures {
			ids = append(ids, x.ItemIdentifier)
		}
		if want := []string{"x2", "x3"}; !slices.Equal(ids, want) {
			t.Errorf("batchItemFailures = %v, want %v", ids, want)
		}
	})
	t.Run("a body over 256 KB is handled; one over 1 MiB fails alone", func(t *testing.T) {
		pad := strings.Repeat("x", 300<<10)
		big := fmt.Sprintf(`{"id":"big","amount_cents":1,"note":%q}`, pad)
		huge := fmt.Sprintf(`{"id":"huge","amount_cents":1,"note":%q}`, strings.Repeat("y", 1<<20))
		if got, want := invoke(t, f, record("big", big, 1), record("huge", huge, 1)), []string{"huge"}; !slices.Equal(got, want) {
			t.Errorf("batchItemFailures = %v, want %v", got, want)
		}
	})
	t.Run("an SNS envelope with bad JSON fails alone", func(t *testing.T) {
		bad := `{"Type":"Notification","MessageId":"n1","TopicArn":"arn:aws:sns:us-east-1:1:t","Timestamp":"yesterday","Message":"{}"}`
		if got, want := invoke(t, f, record("env", bad, 1), record("ok", order("env-ok", 1), 1)), []string{"env"}; !slices.Equal(got, want) {
			t.Errorf("batchItemFailures = %v, want %v", got, want)
		}
	})
	if got := applied(t, ledger); got["x-1"] != 1 || got["big"] != 1 || got["huge"] != 0 || got["env-ok"] != 1 {
		t.Errorf("ledger = %v", got)
	}
}

func TestStoreDown(t *testing.T) {
	redisAt := func(addr func(t *testing.T) string) func(t *testing.T) []string {
		return func(t *testing.T) []string {
			return []string{"EVENTFN_STORE=redis", "EVENTFN_REDIS_URL=redis://" + addr(t) + "/0"}
		}
	}
	dynamoAt := func(endpoint func(t *testing.T) string) func(t *testing.T) []string {
		return func(t *testing.T) []string {
			return []string{"EVENTFN_STORE=dynamodb", "EVENTFN_DYNAMODB_TABLE=idem", "AWS_ENDPOINT_URL_DYNAMODB=" + endpoint(t)}
		}
	}
	refused := func(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	tests := []struct {
		name string
		env  func(t *testing.T) []string
	}{
		{"redis refuses connections", redisAt(refused)},
		{"redis never answers", redisAt(blackhole)},
		{"dynamodb throttles every call", dynamoAt(throttling)},
		{"dynamodb never answers", dynamoAt(func(t *testing.T) string { return "http://" + blackhole(t) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, ledger := function(t, store{"down", tt.env}, "AWS_LAMBDA_FUNCTION_TIMEOUT=3")
			if got, want := invoke(t, f, record("s1", order("s-1", 1), 1), record("s2", order("s-2", 1), 1)), sorted("s1", "s2"); !slices.Equal(got, want) {
				t.Errorf("batchItemFailures = %v, want both: never processed without a claim", got)
			}
			if got := applied(t, ledger); len(got) != 0 {
				t.Errorf("ledger = %v, want nothing applied while the store is down", got)
			}
		})
	}
}

// throttling is a DynamoDB endpoint that answers every call with
// ProvisionedThroughputExceededException.
func throttling(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"throttled by the test"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// blackhole listens on a loopback port, accepts connections and never
// answers, like a hung server.
func blackhole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

func mapsEqual[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
