// Command eventfn is the eventfn command-line tool.
//
//	eventfn demo [flags]   run the exactly-once demo on an in-memory broker
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
