package servicebus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// PortEnv is the environment variable through which the Functions host tells
// a custom handler which port to serve on.
const PortEnv = "FUNCTIONS_CUSTOMHANDLER_PORT"

// Addr returns the address a custom handler listens on:
// 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT (the host calls it on loopback),
// or 127.0.0.1:8080 when the variable is unset, for local runs without the
// host. A value that is not a port is an error.
func Addr() (string, error) {
	p := os.Getenv(PortEnv)
	if p == "" {
		return "127.0.0.1:8080", nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%w: %q", errNoPort, p)
	}
	return net.JoinHostPort("127.0.0.1", p), nil
}

// ListenAndServe serves h on Addr() until ctx is done, then shuts down
// gracefully: it stops accepting requests and waits up to 30 seconds for
// running invocations to answer. It returns nil after a shutdown caused by
// ctx.
func ListenAndServe(ctx context.Context, h http.Handler) error {
	addr, err := Addr()
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("servicebus: serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("servicebus: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("servicebus: serve %s: %w", addr, err)
	}
	return nil
}
