// Command eventfn is the eventfn command-line tool.
//
//	eventfn demo [flags]          run the exactly-once demo on an in-memory broker
//	eventfn new NAME [flags]      create a function project from the templates
//	eventfn doctor [PATH]         check infrastructure for settings that lose or double messages
//	eventfn version               print the version
//
// Run "eventfn help" for the list of commands and "eventfn demo -h" for the
// demo's flags.
package main

import (
	"context"
	"encoding/json"
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

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"demo", "show at-least-once delivery turned into exactly-once effects, on embedded defaults", runDemo},
		{"new", "create a function project: handler, tests, main and infrastructure", cobraCommand("new")},
		{"doctor", "check infrastructure files for settings that lose or double messages", cobraCommand("doctor")},
		{"version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) int {
			fmt.Fprintln(stdout, "eventfn", version)
			return 0
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "eventfn: reliable event consumers for serverless platforms.")
	fmt.Fprintln(w, "\nUsage: eventfn <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "eventfn: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// Exit codes of the commands written with cobra.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// newRootCmd builds the tree of the commands written with cobra. Each
// command lives in its own file as new<Name>Cmd.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{Use: "eventfn", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().Bool("json", false, "print the result as JSON on stdout")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.AddCommand(newNewCmd(), newDoctorCmd())
	return root
}

// cobraCommand returns the run function of the cobra command name.
func cobraCommand(name string) func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return runCobra(ctx, append([]string{name}, args...), stdout, stderr)
	}
}

// runCobra runs args (whose first is the command's name) through newRootCmd.
func runCobra(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	// Commands return *exitError; other errors are cobra's, before a
	// command runs (flags, arguments): usage errors.
	code := exitUsage
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if errors.Is(err, errSilent) {
		return code
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	return code
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

// errSilent is an error whose report the command already printed.
var errSilent = errors.New("eventfn: reported")

// jsonOutput reports whether the user asked for JSON with --json.
func jsonOutput(cmd *cobra.Command) bool {
	v, err := cmd.Flags().GetBool("json")
	return err == nil && v
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
