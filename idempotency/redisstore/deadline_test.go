package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/internal/testenv"
)

// redisServer is a redis-server of the test's own, which the test may stop
// or kill.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	testenv.Redis(t) // the redis service is installed
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found")
	}
	port := testenv.FreePort(t)
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	srv := &redisServer{addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for i := 0; ; i++ {
		s, err := redisstore.Open("redis://"+srv.addr+"/0", nil)
		if err == nil {
			s.Close()
			return srv
		}
		if i > 100 {
			t.Fatalf("redis-server did not start: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A Redis that stops answering (SIGSTOP) or is killed while claims are held
// makes every call return by its context's deadline with a store error: an
// invocation's completions end inside its own deadline.
func TestCallsEndByTheirDeadlineWhenRedisHangsOrDies(t *testing.T) {
	const deadline = 300 * time.Millisecond
	const slack = 2 * time.Second // a loaded CPU, never a hanging server
	for _, fault := range []string{"SIGSTOP", "killed"} {
		t.Run(fault, func(t *testing.T) {
			srv := startRedis(t)
			s, err := redisstore.Open("redis://"+srv.addr+"/0", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			lease := time.Minute
			reqs := func(prefix string) []idempotency.ClaimRequest {
				r := make([]idempotency.ClaimRequest, 3)
				for i := range r {
					r[i] = idempotency.ClaimRequest{Key: fmt.Sprintf("%s-%s-%d", t.Name(), prefix, i), Fingerprint: "fp", Lease: lease}
				}
				return r
			}
			// Warm the client (sessions start once a call has succeeded),
			// then hold a single claim and a batch's claims, whose
			// completion takes the session's connection.
			warm := reqs("warm")
			wc, _ := s.ClaimBatch(ctx, warm)
			s.CompleteBatch(ctx, []idempotency.Completion{{Key: warm[0].Key, Token: wc[0].Token, TTL: time.Hour}})
			one, err := s.Claim(ctx, idempotency.ClaimRequest{Key: t.Name() + "-one", Fingerprint: "fp", Lease: lease})
			if err != nil || !one.Acquired {
				t.Fatalf("claim: %+v, %v", one, err)
			}
			held := reqs("held")
			hc, herrs := s.ClaimBatch(ctx, held)
			for i, err := range herrs {
				if err != nil || !hc[i].Acquired {
					t.Fatalf("batch claim %d: %+v, %v", i, hc[i], err)
				}
			}
			completions := make([]idempotency.Completion, len(held))
			for i := range held {
				completions[i] = idempotency.Completion{Key: held[i].Key, Token: hc[i].Token, TTL: time.Hour}
			}

			switch fault {
			case "SIGSTOP":
				if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
			case "killed":
				_ = srv.cmd.Process.Kill()
				_ = srv.cmd.Wait()
			}

			oneKey := t.Name() + "-one"
			calls := []struct {
				name string
				call func(ctx context.Context) error
			}{
				{"CompleteBatch", func(ctx context.Context) error { return firstErr(s.CompleteBatch(ctx, completions)) }},
				{"Claim", func(ctx context.Context) error {
					_, err := s.Claim(ctx, idempotency.ClaimRequest{Key: t.Name() + "-new", Fingerprint: "fp", Lease: lease})
					return err
				}},
				{"Extend", func(ctx context.Context) error { return s.Extend(ctx, oneKey, one.Token, lease) }},
				{"Complete", func(ctx context.Context) error { return s.Complete(ctx, oneKey, one.Token, nil, time.Hour) }},
				{"Release", func(ctx context.Context) error { return s.Release(ctx, oneKey, one.Token) }},
				{"ClaimBatch", func(ctx context.Context) error { _, errs := s.ClaimBatch(ctx, reqs("new")); return firstErr(errs) }},
				{"ReleaseBatch", func(ctx context.Context) error {
					return firstErr(s.ReleaseBatch(ctx, []idempotency.Release{{Key: held[0].Key, Token: hc[0].Token}, {Key: held[1].Key, Token: hc[1].Token}}))
				}},
				{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, oneKey); return err }},
			}
			for _, c := range calls {
				cctx, cancel := context.WithTimeout(ctx, deadline)
				start := time.Now()
				err := c.call(cctx)
				took := time.Since(start)
				cancel()
				t.Logf("%s: %v after %v", c.name, err, took)
				if !errors.Is(err, idempotency.ErrStore) {
					t.Errorf("%s with the server %s: err = %v, want ErrStore", c.name, fault, err)
				}
				if took > deadline+slack {
					t.Errorf("%s with the server %s returned after %v, want by its %v deadline", c.name, fault, took, deadline)
				}
			}
		})
	}
}

// firstErr returns the first error of a batch's answers, or an error if
// the batch answered no item with one.
func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return errors.New("every item succeeded")
}
