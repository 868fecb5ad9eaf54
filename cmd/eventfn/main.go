// Command eventfn is the eventfn command-line tool:
//
//	eventfn demo               the exactly-once demo on embedded defaults
//	eventfn event KIND         print a platform event (sqs, sns, sns-sqs,
//	                           pubsub-push, cloudevent, servicebus)
//	eventfn invoke             post an event to a function running locally
//	                           (--build runs it: RIE, Functions Framework,
//	                           custom handler) and print each outcome
//	eventfn send URL           publish messages to a gocloud.dev topic URL
//	eventfn run --sub URL PKG  build and run a handler package as a consumer
//	eventfn version            print the version
//	eventfn completion SHELL   print a shell completion script
//
// Run "eventfn help" for every command and "eventfn <command> --help" for a
// command's flags. Every command takes --json, which makes it print its
// result as JSON on stdout for scripts (errors stay on stderr).
//
// # Exit codes
//
//	0  success
//	1  failure: an operation failed, or a check did not hold (the demo lost or
//	   doubled an effect)
//	2  usage error: an unknown command or flag, a bad flag value, bad arguments
//	3  some messages were not acknowledged (eventfn invoke: a message was
//	   retried or dead-lettered)
//	130 interrupted (Ctrl-C) before the command finished
//
// Shell completion scripts come from "eventfn completion bash|zsh|fish|powershell".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, documented in the package doc and the root command's help.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitNotAcked    = 3
	exitInterrupted = 130
)

const rootLong = `eventfn: reliable event consumers for serverless platforms.

Every command takes --json, which prints its result as JSON on stdout for
scripts; errors stay on stderr.

Exit codes:
  0    success
  1    failure: an operation failed, or a check did not hold
  2    usage error: an unknown command or flag, a bad flag value, bad arguments
  3    some messages were not acknowledged (invoke: retried or dead-lettered)
  130  interrupted (Ctrl-C) before the command finished`

// newRootCmd builds the eventfn command tree. Each command lives in its own
// file as new<Name>Cmd.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "eventfn",
		Short:         "Reliable event consumers for serverless platforms",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Without a command, print the help to stderr and exit 2.
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			cmd.Help()
			return usageErrorf("no command given")
		},
	}
	root.PersistentFlags().Bool("json", false, "print the result as JSON on stdout")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.AddCommand(newDemoCmd(), newVersionCmd(), newEventCmd(), newInvokeCmd(), newSendCmd(), newRunCmd(), newDLQCmd(), newNewCmd(), newDoctorCmd())
	return root
}

// exitError carries the exit code a command's error maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns an error that makes eventfn exit 2.
func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// withCode returns err with exit code code; nil stays nil.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// errSilent is an error whose report the command already printed: eventfn
// exits with its code and prints nothing more.
var errSilent = errors.New("eventfn: reported")

// markRunErrors wraps every command's RunE so that an error a command
// returns exits 1 unless it carries its own code; errors cobra returns
// before a command runs (unknown commands, bad arguments) are usage errors.
func markRunErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var ee *exitError
			if err != nil && !errors.As(err, &ee) {
				if errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
					return &exitError{code: exitInterrupted, err: err}
				}
				return &exitError{code: exitFailure, err: err}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		markRunErrors(sub)
	}
}

// run executes eventfn with args and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithIO(ctx, args, os.Stdin, stdout, stderr)
}

// runWithIO is run with stdin.
func runWithIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	markRunErrors(root)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(stdin)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitUsage
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if errors.Is(err, errSilent) {
		return code
	}
	name := "eventfn"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", name)
	}
	return code
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
