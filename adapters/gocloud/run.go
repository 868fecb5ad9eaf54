package gocloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"gocloud.dev/pubsub"

	"github.com/eventfn/eventfn/handler"
)

// Environment variables Run reads. "eventfn run" sets them.
const (
	// EnvSubscription is the subscription URL to consume (required).
	EnvSubscription = "EVENTFN_SUBSCRIPTION"
	// EnvDeadLetter, if set, is a topic URL that becomes Options.DeadLetter.
	EnvDeadLetter = "EVENTFN_DEAD_LETTER"
	// EnvMaxAttempts, if set, is Options.MaxAttempts.
	EnvMaxAttempts = "EVENTFN_MAX_ATTEMPTS"
	// EnvStatsFile, if set, is a file Run writes its RunStats to as JSON
	// when it returns.
	EnvStatsFile = "EVENTFN_RUN_STATS"
)

// ErrNoSubscription is returned by Run when EnvSubscription is not set.
var ErrNoSubscription = errors.New("gocloud: " + EnvSubscription + " is not set (run the program with: eventfn run --sub URL)")

// RunStats counts the messages Run settled.
type RunStats struct {
	Acked        int64 `json:"acked"`
	Retried      int64 `json:"retried"`
	DeadLettered int64 `json:"dead_lettered"`
}

// Run is the main loop of a local or container consumer: it opens the
// subscription URL in EVENTFN_SUBSCRIPTION (import the gocloud.dev driver
// of its scheme), and EVENTFN_DEAD_LETTER and EVENTFN_MAX_ATTEMPTS when
// set, and consumes it with h until ctx is cancelled or the process gets
// SIGINT or SIGTERM; then it settles the batches in flight, writes the
// counts to EVENTFN_RUN_STATS if set, and returns them. opts may be nil;
// its Source, Queue, DeadLetter and MaxAttempts are filled in when zero,
// and its OnResult is still called.
//
//	func main() {
//		if _, err := gocloud.Run(context.Background(), myHandler, nil); err != nil {
//			log.Fatal(err)
//		}
//	}
func Run(ctx context.Context, h handler.Handler, opts *Options) (RunStats, error) {
	var st RunStats
	url := os.Getenv(EnvSubscription)
	if url == "" {
		return st, ErrNoSubscription
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sub, o, err := Open(ctx, url)
	if err != nil {
		return st, err
	}
	defer shutdown(sub.Shutdown)
	if opts != nil {
		oo := *opts
		if oo.Source == "" {
			oo.Source = o.Source
		}
		if oo.Queue == "" {
			oo.Queue = o.Queue
		}
		o = &oo
	}
	if dl := os.Getenv(EnvDeadLetter); dl != "" && o.DeadLetter == nil {
		t, err := pubsub.OpenTopic(ctx, dl)
		if err != nil {
			return st, fmt.Errorf("gocloud: open %s %q: %w", EnvDeadLetter, dl, err)
		}
		defer shutdown(t.Shutdown)
		o.DeadLetter = t
	}
	if v := os.Getenv(EnvMaxAttempts); v != "" && o.MaxAttempts == 0 {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return st, fmt.Errorf("gocloud: %s=%q is not a positive number", EnvMaxAttempts, v)
		}
		o.MaxAttempts = n
	}
	var acked, retried, dead atomic.Int64
	user := o.OnResult
	o.OnResult = func(ctx context.Context, r handler.Report) {
		switch r.Settlement {
		case handler.SettledDeadLetter:
			dead.Add(1)
		case handler.SettledAck:
			acked.Add(1)
		default:
			retried.Add(1)
		}
		if user != nil {
			user(ctx, r)
		}
	}
	err = Receive(ctx, sub, h, o)
	st = RunStats{Acked: acked.Load(), Retried: retried.Load(), DeadLettered: dead.Load()}
	if path := os.Getenv(EnvStatsFile); path != "" {
		b, _ := json.Marshal(st)
		if werr := os.WriteFile(path, b, 0o600); werr != nil && err == nil {
			err = fmt.Errorf("gocloud: %s: %w", EnvStatsFile, werr)
		}
	}
	return st, err
}

// shutdown calls a Shutdown method with a bounded context, so a broker that
// went away does not hold up the exit.
func shutdown(f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = f(ctx)
}
