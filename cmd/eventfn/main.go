// Command eventfn is the eventfn command-line tool.
//
//	eventfn demo [flags]   run the exactly-once demo on an in-memory broker
//	eventfn dlq ls|peek|redrive URL...
//	                       list, peek at and redrive dead letters
//	eventfn version        print the version
//
// Run "eventfn help" for the list of commands and "eventfn demo -h" for the
// demo's flags.
package main

import (
	"context"
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
		{"dlq", "list, peek at and redrive dead letters (eventfn dlq --help)", runCobra},
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

// newRootCmd builds the cobra command tree of the commands written on
// cobra; the others are dispatched by run.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{Use: "eventfn", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().Bool("json", false, "print the result as JSON on stdout")
	root.AddCommand(newDLQCmd())
	return root
}

// runCobra runs a cobra command: exit 0, 1 when the command failed, 2 on a
// usage error (bad flags or arguments), 130 when interrupted.
func runCobra(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	ran := false
	var mark func(c *cobra.Command)
	mark = func(c *cobra.Command) {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error { ran = true; return run(cmd, args) }
		}
		for _, sub := range c.Commands() {
			mark(sub)
		}
	}
	mark(root)
	root.SetArgs(append([]string{"dlq"}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	switch {
	case !ran:
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return 2
	case ctx.Err() != nil:
		return 130
	}
	return 1
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
