package main

import (
	"context"
	"errors"
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

	"github.com/spf13/cobra"

	"github.com/eventfn/eventfn/adapters/gocloud"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
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
	storeErrors                            atomic.Int64
}

func newDemoCmd() *cobra.Command {
	var c demoConfig
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show at-least-once delivery turned into exactly-once effects, on embedded defaults",
		Long: `Publishes events through an in-memory broker with duplicate deliveries, transient
failures and poison messages, consumes them with an idempotent handler, and checks
that every event took effect exactly once. Exits 1 if any effect was lost or
doubled, or if the idempotency store cannot be reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.validate(); err != nil {
				return withCode(exitUsage, err)
			}
			res, err := demo(cmd.Context(), c, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := printResult(cmd, res, res.writeText); err != nil {
				return err
			}
			switch {
			case res.Interrupted:
				return withCode(exitInterrupted, errSilent)
			case !res.OK:
				return withCode(exitFailure, errSilent)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.events, "events", 200, "number of distinct events to publish")
	f.Float64Var(&c.dupRate, "dup-rate", 0.2, "fraction of events published twice (duplicate deliveries)")
	f.Float64Var(&c.failRate, "fail-rate", 0.1, "fraction of events whose first handler run fails transiently")
	f.IntVar(&c.poison, "poison", 1, "number of poison messages (malformed JSON) that must end in the dead-letter queue")
	f.StringVar(&c.store, "store", "memory", "idempotency store: memory or redis")
	f.StringVar(&c.redisURL, "redis-url", envOr("EVENTFN_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL for --store redis (default from EVENTFN_REDIS_URL)")
	f.Uint64Var(&c.seed, "seed", 1, "random seed for the injected faults")
	f.DurationVar(&c.timeout, "timeout", time.Minute, "give up after this long")
	f.BoolVarP(&c.verbose, "verbose", "v", false, "log every idempotency decision to stderr")
	cmd.RegisterFlagCompletionFunc("store", cobra.FixedCompletions([]string{"memory", "redis"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
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

func demo(ctx context.Context, c demoConfig, stderr io.Writer) (*demoResult, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	store, err := openDemoStore(ctx, c)
	if err != nil {
		return nil, err
	}
	defer store.close()
	storeName := store.name

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
			if parent.Err() != nil {
				return nil, fmt.Errorf("interrupted while publishing: %w", err)
			}
			return nil, fmt.Errorf("publish: %w", err)
		}
	}
	st.published, st.sent = c.events+c.poison, len(outbox)

	// Consume until every sent message is settled: acked or dead-lettered.
	rctx, stopConsumer := context.WithCancel(ctx)
	settled := make(chan struct{})
	var settledN atomic.Int64
	var once sync.Once
	// A store error makes the demo check the store; if it does not answer,
	// the demo stops and names it instead of reporting lost events.
	storeDown := make(chan struct{})
	var storeErr error
	var checking atomic.Bool
	var downOnce sync.Once
	checkStore := func() {
		if store.ping == nil || !checking.CompareAndSwap(false, true) {
			return
		}
		go func() {
			defer checking.Store(false)
			if err := store.ping(rctx); err != nil && rctx.Err() == nil {
				downOnce.Do(func() { storeErr = err; close(storeDown) })
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		done <- gocloud.Receive(rctx, sub, h, &gocloud.Options{
			Source: "gocloud:mem", Queue: "demo", Workers: 2,
			DeadLetter: dlqTopic, MaxAttempts: 5,
			Logger: logger,
			OnResult: func(_ context.Context, r handler.Report) {
				st.deliveries.Add(1)
				dl := r.Settlement == handler.SettledDeadLetter
				if errors.Is(r.Err, idempotency.ErrStore) {
					st.storeErrors.Add(1)
					checkStore()
				}
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
	case <-storeDown:
	}
	stopConsumer()
	if err := <-done; err != nil {
		return nil, err
	}
	var storeError string
	select {
	case <-storeDown:
		storeError = storeErr.Error()
	default:
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
	sort.Strings(lost)
	sort.Strings(doubled)
	res := &demoResult{
		Store:        storeName,
		Events:       c.events,
		Poison:       c.poison,
		Published:    st.published,
		Sent:         st.sent,
		Deliveries:   st.deliveries.Load(),
		HandlerRuns:  st.runs.Load(),
		Duplicates:   st.duplicates.Load(),
		Retries:      st.retries.Load(),
		InProgress:   st.inProgress.Load(),
		DeadLettered: st.deadLettered.Load(),
		Applied:      applied,
		Lost:         lost,
		Doubled:      doubled,
		MissingDead:  missingDead,
		Settled:      settledN.Load(),
		TimedOut:     ctx.Err() != nil && parent.Err() == nil,
		Interrupted:  parent.Err() != nil,
		StoreErrors:  st.storeErrors.Load(),
		StoreError:   storeError,
		timeout:      c.timeout,
	}
	res.OK = len(lost) == 0 && len(doubled) == 0 && len(missingDead) == 0 && !res.TimedOut && !res.Interrupted && storeError == ""
	return res, nil
}

// demoResult is what eventfn demo reports, as text or with --json.
type demoResult struct {
	OK           bool     `json:"ok"`
	Store        string   `json:"store"`
	Events       int      `json:"events"`
	Poison       int      `json:"poison"`
	Published    int      `json:"published"`
	Sent         int      `json:"sent"`
	Deliveries   int64    `json:"deliveries"`
	HandlerRuns  int64    `json:"handler_runs"`
	Duplicates   int64    `json:"duplicates_skipped"`
	Retries      int64    `json:"retries"`
	InProgress   int64    `json:"in_progress_conflicts"`
	DeadLettered int64    `json:"dead_lettered"`
	Applied      int      `json:"effects_applied"`
	Lost         []string `json:"lost,omitempty"`
	Doubled      []string `json:"doubled,omitempty"`
	MissingDead  []string `json:"missing_dead_letters,omitempty"`
	Settled      int64    `json:"settled"`
	TimedOut     bool     `json:"timed_out,omitempty"`
	Interrupted  bool     `json:"interrupted,omitempty"`
	StoreErrors  int64    `json:"store_errors,omitempty"`
	StoreError   string   `json:"store_error,omitempty"`

	timeout time.Duration
}

func (r *demoResult) writeText(w io.Writer) error {
	fmt.Fprintf(w, "eventfn demo: in-memory broker (gocloud.dev mempubsub), %s\n\n", r.Store)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(k string, v any, note string) { fmt.Fprintf(tw, "  %s\t%v\t  %s\n", k, v, note) }
	row("events published", r.Published, fmt.Sprintf("(%d valid, %d poison)", r.Events, r.Poison))
	row("messages sent", r.Sent, fmt.Sprintf("(%d duplicate publishes)", r.Sent-r.Published))
	row("deliveries", r.Deliveries, "(every time the consumer handed a message to the handler chain)")
	row("handler runs", r.HandlerRuns, "(the idempotent handler's body actually ran)")
	row("duplicates skipped", r.Duplicates, "(already COMPLETED: acked without running)")
	row("retries", r.Retries, fmt.Sprintf("(transient failures, redelivered; %d were in-progress conflicts)", r.InProgress))
	row("dead-lettered", r.DeadLettered, "(poison messages, kept in the dead-letter topic)")
	row("effects applied", r.Applied, fmt.Sprintf("(for %d valid events)", r.Events))
	tw.Flush()
	fmt.Fprintln(w)
	if r.OK {
		_, err := fmt.Fprintf(w, "OK: all %d events took effect exactly once; %d poison message(s) dead-lettered, none lost.\n", r.Events, r.Poison)
		return err
	}
	fmt.Fprintln(w, "FAILED:")
	if r.StoreError != "" {
		// The unsettled messages are not lost: they wait in the broker for
		// the store to come back.
		_, err := fmt.Fprintf(w, "  %s\n  stopped with %d of %d messages settled; %d deliveries hit a store error and were retried\n", r.StoreError, r.Settled, r.Sent, r.StoreErrors)
		return err
	}
	if r.Interrupted {
		_, err := fmt.Fprintf(w, "  interrupted with %d of %d messages settled\n", r.Settled, r.Sent)
		return err
	}
	if r.TimedOut {
		fmt.Fprintf(w, "  timed out after %s with %d of %d messages settled\n", r.timeout, r.Settled, r.Sent)
	}
	if len(r.Lost) > 0 {
		fmt.Fprintf(w, "  %d event(s) lost: %v\n", len(r.Lost), head(r.Lost))
	}
	if len(r.Doubled) > 0 {
		fmt.Fprintf(w, "  %d event(s) applied more than once: %v\n", len(r.Doubled), head(r.Doubled))
	}
	if len(r.MissingDead) > 0 {
		fmt.Fprintf(w, "  poison message(s) not in the dead-letter topic: %v\n", r.MissingDead)
	}
	return nil
}

func head(s []string) []string {
	if len(s) > 10 {
		return append(s[:10:10], "...")
	}
	return s
}
