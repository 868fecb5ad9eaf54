package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/mempubsub"

	"github.com/eventfn/eventfn/adapters/gocloud"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

type demoConfig struct {
	events   int
	dupRate  float64
	failRate float64
	poison   int
	store    string
	redisURL string
	seed     uint64
	timeout  time.Duration
	verbose  bool
}

// payment is the demo's event.
type payment struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

// demoStats are the numbers the demo reports.
type demoStats struct {
	published, sent                        int
	deliveries, runs, duplicates, retries  atomic.Int64
	deadLettered, acked, inProgress, fails atomic.Int64
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c demoConfig
	fs.IntVar(&c.events, "events", 200, "number of distinct events to publish")
	fs.Float64Var(&c.dupRate, "dup-rate", 0.2, "fraction of events published twice (duplicate deliveries)")
	fs.Float64Var(&c.failRate, "fail-rate", 0.1, "fraction of events whose first handler run fails transiently")
	fs.IntVar(&c.poison, "poison", 1, "number of poison messages (malformed JSON) that must end in the dead-letter queue")
	fs.StringVar(&c.store, "store", "memory", "idempotency store: memory or redis")
	fs.StringVar(&c.redisURL, "redis-url", envOr("EVENTFN_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL for --store redis")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed for the injected faults")
	fs.DurationVar(&c.timeout, "timeout", time.Minute, "give up after this long")
	fs.BoolVar(&c.verbose, "v", false, "log every idempotency decision")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: eventfn demo [flags]\n\nPublishes events through an in-memory broker with duplicate deliveries, transient\nfailures and poison messages, consumes them with an idempotent handler, and checks\nthat every event took effect exactly once. Exits 1 if any effect was lost or doubled.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(stderr, "eventfn demo:", err)
		return 2
	}
	ok, err := demo(ctx, c, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "eventfn demo:", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (c demoConfig) validate() error {
	switch {
	case c.events < 1:
		return errors.New("--events must be at least 1")
	case c.dupRate < 0 || c.dupRate > 1:
		return errors.New("--dup-rate must be between 0 and 1")
	case c.failRate < 0 || c.failRate > 1:
		return errors.New("--fail-rate must be between 0 and 1")
	case c.poison < 0:
		return errors.New("--poison must not be negative")
	case c.store != "memory" && c.store != "redis":
		return fmt.Errorf("--store must be memory or redis, not %q", c.store)
	}
	return nil
}

func openStore(c demoConfig) (idempotency.Store, string, func(), error) {
	if c.store == "redis" {
		s, err := redisstore.Open(c.redisURL, nil)
		if err != nil {
			return nil, "", nil, err
		}
		return s, "Redis at " + c.redisURL, func() { s.Close() }, nil
	}
	return memstore.New(nil), "in-memory store", func() {}, nil
}

func demo(ctx context.Context, c demoConfig, stdout, stderr io.Writer) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	store, storeName, closeStore, err := openStore(c)
	if err != nil {
		return false, err
	}
	defer closeStore()

	topic := mempubsub.NewTopic()
	dlqTopic := mempubsub.NewTopic()
	sub := mempubsub.NewSubscription(topic, 2*time.Second)
	dlqSub := mempubsub.NewSubscription(dlqTopic, time.Minute)
	defer func() {
		bg := context.Background()
		sub.Shutdown(bg)
		dlqSub.Shutdown(bg)
		topic.Shutdown(bg)
		dlqTopic.Shutdown(bg)
	}()

	rng := rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15))
	var st demoStats

	// The sample handler: applies a payment to a ledger. Its downstream is
	// flaky: for a fraction of events the first call fails.
	var mu sync.Mutex
	effects := map[string]int{}
	failedOnce := map[string]bool{}
	flaky := map[string]bool{}
	sample := handler.JSON(func(ctx context.Context, m *handler.Message, p payment) error {
		st.runs.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if flaky[p.ID] && !failedOnce[p.ID] {
			failedOnce[p.ID] = true
			return errors.New("ledger service unavailable (injected)")
		}
		effects[p.ID]++
		return nil
	})

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if c.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	scope := fmt.Sprintf("demo-%d-%d", time.Now().UnixNano(), c.seed) // fresh keys on a shared Redis
	h := handler.Chain(sample, idempotency.Middleware(store, &idempotency.Options{
		Scope:  scope,
		Key:    idempotency.FromAttribute("event-id"),
		Logger: logger,
		OnEvent: func(ctx context.Context, e idempotency.Event, m *handler.Message) {
			switch e {
			case idempotency.EventDuplicate:
				st.duplicates.Add(1)
			case idempotency.EventInProgress:
				st.inProgress.Add(1)
			}
			if c.verbose {
				logger.InfoContext(ctx, "idempotency", "event", e.String(), "event_id", m.Attribute("event-id"))
			}
		},
	}))

	// Publish: every event once, a fraction twice, plus poison messages, in
	// a shuffled order.
	type out struct{ id, body string }
	var outbox []out
	var valid []string
	for i := 0; i < c.events; i++ {
		id := fmt.Sprintf("pay-%05d", i)
		body := fmt.Sprintf(`{"id":%q,"amount":%d}`, id, 1+rng.IntN(500))
		valid = append(valid, id)
		outbox = append(outbox, out{id, body})
		if rng.Float64() < c.dupRate {
			outbox = append(outbox, out{id, body})
		}
		if rng.Float64() < c.failRate {
			flaky[id] = true
		}
	}
	for i := 0; i < c.poison; i++ {
		id := fmt.Sprintf("poison-%d", i)
		outbox = append(outbox, out{id, `{"id":"` + id + `","amount":"lots"`})
	}
	rng.Shuffle(len(outbox), func(i, j int) { outbox[i], outbox[j] = outbox[j], outbox[i] })
	for _, o := range outbox {
		if err := topic.Send(ctx, &pubsub.Message{Body: []byte(o.body), Metadata: map[string]string{"event-id": o.id}}); err != nil {
			return false, fmt.Errorf("publish: %w", err)
		}
	}
	st.published, st.sent = c.events+c.poison, len(outbox)

	// Consume until every sent message is settled: acked or dead-lettered.
	rctx, stopConsumer := context.WithCancel(ctx)
	settled := make(chan struct{})
	var settledN atomic.Int64
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- gocloud.Receive(rctx, sub, h, &gocloud.Options{
			Source: "gocloud:mem", Queue: "demo", Workers: 2,
			DeadLetter: dlqTopic, MaxAttempts: 5,
			Logger: logger,
			OnResult: func(_ context.Context, r handler.Report) {
				st.deliveries.Add(1)
				dl := r.Settlement == handler.SettledDeadLetter
				switch r.Settlement {
				case handler.SettledDeadLetter:
					st.deadLettered.Add(1)
				case handler.SettledAck:
					st.acked.Add(1)
				default:
					st.retries.Add(1)
				}
				if r.Settlement == handler.SettledAck || dl {
					if settledN.Add(1) == int64(len(outbox)) {
						once.Do(func() { close(settled) })
					}
				}
			},
		})
	}()
	select {
	case <-settled:
	case <-ctx.Done():
	}
	stopConsumer()
	if err := <-done; err != nil {
		return false, err
	}

	// Check: each valid event took effect exactly once, no poison did, and
	// every poison message is in the dead-letter queue.
	var lost, doubled []string
	mu.Lock()
	for _, id := range valid {
		switch n := effects[id]; {
		case n == 0:
			lost = append(lost, id)
		case n > 1:
			doubled = append(doubled, fmt.Sprintf("%s(x%d)", id, n))
		}
	}
	applied := 0
	for _, n := range effects {
		applied += n
	}
	mu.Unlock()
	dead := map[string]bool{}
	for i := int64(0); i < st.deadLettered.Load(); i++ {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := dlqSub.Receive(dctx)
		dcancel()
		if err != nil {
			break
		}
		m.Ack()
		dead[m.Metadata["event-id"]] = true
	}
	var missingDead []string
	for i := 0; i < c.poison; i++ {
		if id := fmt.Sprintf("poison-%d", i); !dead[id] {
			missingDead = append(missingDead, id)
		}
	}
	ok := len(lost) == 0 && len(doubled) == 0 && len(missingDead) == 0 && ctx.Err() == nil

	fmt.Fprintf(stdout, "eventfn demo: in-memory broker (gocloud.dev mempubsub), %s\n\n", storeName)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(k string, v any, note string) { fmt.Fprintf(tw, "  %s\t%v\t  %s\n", k, v, note) }
	row("events published", st.published, fmt.Sprintf("(%d valid, %d poison)", c.events, c.poison))
	row("messages sent", st.sent, fmt.Sprintf("(%d duplicate publishes)", st.sent-st.published))
	row("deliveries", st.deliveries.Load(), "(every time the consumer handed a message to the handler chain)")
	row("handler runs", st.runs.Load(), "(the idempotent handler's body actually ran)")
	row("duplicates skipped", st.duplicates.Load(), "(already COMPLETED: acked without running)")
	row("retries", st.retries.Load(), fmt.Sprintf("(transient failures, redelivered; %d were in-progress conflicts)", st.inProgress.Load()))
	row("dead-lettered", st.deadLettered.Load(), "(poison messages, kept in the dead-letter topic)")
	row("effects applied", applied, fmt.Sprintf("(for %d valid events)", c.events))
	tw.Flush()
	fmt.Fprintln(stdout)
	if ok {
		fmt.Fprintf(stdout, "OK: all %d events took effect exactly once; %d poison message(s) dead-lettered, none lost.\n", c.events, c.poison)
		return true, nil
	}
	sort.Strings(lost)
	fmt.Fprintln(stdout, "FAILED:")
	if ctx.Err() != nil {
		fmt.Fprintf(stdout, "  timed out after %s with %d of %d messages settled\n", c.timeout, settledN.Load(), len(outbox))
	}
	if len(lost) > 0 {
		fmt.Fprintf(stdout, "  %d event(s) lost: %v\n", len(lost), head(lost))
	}
	if len(doubled) > 0 {
		fmt.Fprintf(stdout, "  %d event(s) applied more than once: %v\n", len(doubled), head(doubled))
	}
	if len(missingDead) > 0 {
		fmt.Fprintf(stdout, "  poison message(s) not in the dead-letter topic: %v\n", missingDead)
	}
	return false, nil
}

func head(s []string) []string {
	if len(s) > 10 {
		return append(s[:10:10], "...")
	}
	return s
}
