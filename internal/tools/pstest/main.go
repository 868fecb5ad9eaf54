// Command pstest runs the Pub/Sub fake from cloud.google.com/go/pubsub/v2/pstest
// as its own process, so tests and local runs reach it through
// PUBSUB_EMULATOR_HOST like any emulator.
//
// Usage:
//
//	pstest -addr 127.0.0.1:8085
//
// It logs "pstest: listening on ADDR" once it accepts connections and stops
// on SIGINT or SIGTERM. pstest keeps everything in memory.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/pubsub/v2/pstest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8085", "loopback `host:port` to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "pstest:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad -addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %q is not a loopback address", addr)
	}
	// pstest panics when it cannot listen; check first for a clear error.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	l.Close()

	srv := pstest.NewServerWithAddress(addr)
	fmt.Fprintf(os.Stderr, "pstest: listening on %s\n", srv.Addr)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return srv.Close()
}
