package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventfn/eventfn/adapters/gocloud"
)

// runOptions are eventfn run's flags.
type runOptions struct {
	sub         string
	deadLetter  string
	maxAttempts int
	env         []string
	grace       time.Duration
}

const runLong = `Builds the Go package PKG (default: the current directory) and runs it as a
long-running local consumer of the subscription URL, until Ctrl-C; then it
prints how many messages were acked, retried and dead-lettered.

eventfn cannot load your handler into itself, so the package's main hands
it to adapters/gocloud.Run, which reads the subscription from the
environment eventfn run sets:

	package main

	import (
		"context"
		"log"

		_ "gocloud.dev/pubsub/awssnssqs" // the driver of your URL's scheme

		"github.com/eventfn/eventfn/adapters/gocloud"
	)

	func main() {
		if _, err := gocloud.Run(context.Background(), myHandler, nil); err != nil {
			log.Fatal(err)
		}
	}

Environment set for the program: EVENTFN_SUBSCRIPTION (--sub),
EVENTFN_DEAD_LETTER (--dead-letter), EVENTFN_MAX_ATTEMPTS (--max-attempts),
EVENTFN_RUN_STATS (where Run writes its counts), plus --env NAME=value and
eventfn's own environment (AWS_ENDPOINT_URL, PUBSUB_EMULATOR_HOST, ...).
Arguments after -- are passed to the program.

A directory is built from inside it, so a nested module uses its own go.mod.
Ctrl-C (or SIGTERM) is passed on to the program, which finishes the batches
in flight; after --grace it is killed.`

func newRunCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run --sub URL [PKG] [-- ARGS...]",
		Short: "Build and run your handler's package as a local consumer of any subscription URL",
		Long:  runLong,
		Example: `  PUBSUB_EMULATOR_HOST=127.0.0.1:8085 eventfn run --sub gcppubsub://projects/p/subscriptions/orders ./cmd/consumer
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 eventfn run --sub 'awssqs://localhost/000000000000/orders?region=us-east-1' --dead-letter mem://dlq --max-attempts 5 .`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.sub, "sub", os.Getenv(gocloud.EnvSubscription), "subscription `URL` to consume (default $EVENTFN_SUBSCRIPTION)")
	f.StringVar(&o.deadLetter, "dead-letter", "", "topic `URL` for rejected messages (default: nack them, the broker's policy applies)")
	f.IntVar(&o.maxAttempts, "max-attempts", 0, "dead-letter a message after `N` failed attempts seen by the consumer (needs --dead-letter)")
	f.StringArrayVar(&o.env, "env", nil, "`NAME=value` for the program's environment (repeatable)")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "after Ctrl-C, how long the program may take to finish before it is killed")
	return cmd
}

// runResult is what eventfn run reports when the consumer stops.
type runResult struct {
	Subscription string  `json:"subscription"`
	Package      string  `json:"package"`
	Acked        int64   `json:"acked"`
	Retried      int64   `json:"retried"`
	DeadLettered int64   `json:"dead_lettered"`
	Counted      bool    `json:"counted"`
	ExitStatus   int     `json:"exit_status"`
	Seconds      float64 `json:"seconds"`
}

func (r *runResult) writeText(w io.Writer) error {
	if !r.Counted {
		_, err := fmt.Fprintf(w, "eventfn run: %s stopped after %.1fs (exit status %d) without reporting counts: does its main call gocloud.Run?\n", r.Package, r.Seconds, r.ExitStatus)
		return err
	}
	_, err := fmt.Fprintf(w, "eventfn run: stopped after %.1fs: %d acked, %d retried, %d dead-lettered (%s)\n", r.Seconds, r.Acked, r.Retried, r.DeadLettered, redactURL(r.Subscription))
	return err
}

func (o *runOptions) run(cmd *cobra.Command, args []string) error {
	pkg := "."
	progArgs := args
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		progArgs = args[dash:]
		args = args[:dash]
	} else {
		progArgs = nil
	}
	switch len(args) {
	case 0:
	case 1:
		pkg = args[0]
	default:
		return usageErrorf("one package to run, got %v (pass program arguments after --)", args)
	}
	if o.sub == "" {
		return usageErrorf("no subscription: give --sub URL or set %s", gocloud.EnvSubscription)
	}
	if o.maxAttempts > 0 && o.deadLetter == "" {
		return usageErrorf("--max-attempts needs --dead-letter")
	}
	ctx := cmd.Context()
	stderr := &lockedWriter{w: cmd.ErrOrStderr()}
	dir, err := os.MkdirTemp("", "eventfn-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "consumer")
	fmt.Fprintf(stderr, "eventfn run: building %s\n", pkg)
	if err := buildPackage(ctx, pkg, bin, false, ""); err != nil {
		return err
	}
	stats := filepath.Join(dir, "stats.json")
	c := exec.Command(bin, progArgs...)
	c.Env = append(os.Environ(), gocloud.EnvSubscription+"="+o.sub, gocloud.EnvStatsFile+"="+stats)
	if o.deadLetter != "" {
		c.Env = append(c.Env, gocloud.EnvDeadLetter+"="+o.deadLetter)
	}
	if o.maxAttempts > 0 {
		c.Env = append(c.Env, fmt.Sprintf("%s=%d", gocloud.EnvMaxAttempts, o.maxAttempts))
	}
	c.Env = append(c.Env, o.env...)
	if pwd, err := os.Getwd(); err == nil {
		c.Dir = pwd
	}
	c.Stdin, c.Stdout, c.Stderr = nil, stderr, stderr
	// Its own process group, so a terminal's Ctrl-C reaches it once, from us.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := c.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", pkg, err)
	}
	fmt.Fprintf(stderr, "eventfn run: consuming %s with %s; Ctrl-C stops\n", redactURL(o.sub), pkg)
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var waitErr error
	interrupted := false
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		interrupted = true
		c.Process.Signal(os.Interrupt)
		select {
		case waitErr = <-done:
		case <-time.After(o.grace):
			fmt.Fprintf(stderr, "eventfn run: %s did not stop within --grace %s; killing it\n", pkg, o.grace)
			c.Process.Kill()
			waitErr = <-done
		}
	}
	res := &runResult{Subscription: redactURL(o.sub), Package: pkg, Seconds: time.Since(start).Seconds(), ExitStatus: c.ProcessState.ExitCode()}
	if b, err := os.ReadFile(stats); err == nil {
		var st gocloud.RunStats
		if json.Unmarshal(b, &st) == nil {
			res.Acked, res.Retried, res.DeadLettered, res.Counted = st.Acked, st.Retried, st.DeadLettered, true
		}
	}
	if err := printResult(cmd, res, res.writeText); err != nil {
		return err
	}
	var exit *exec.ExitError
	switch {
	case waitErr == nil:
		return nil
	case errors.As(waitErr, &exit) && interrupted && !res.Counted:
		return withCode(exitInterrupted, errSilent)
	}
	return fmt.Errorf("the consumer %s exited: %w", pkg, waitErr)
}
