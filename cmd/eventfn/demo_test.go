package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/internal/testenv"
)

func TestDemoOnEmbeddedDefaults(t *testing.T) {
	code, out, errs := runCLI(t, "demo", "--events", "300", "--dup-rate", "0.3", "--fail-rate", "0.2", "--poison", "2")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"events published", "duplicates skipped", "dead-lettered", "OK: all 300 events took effect exactly once"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoJSONParses(t *testing.T) {
	code, out, errs := runCLI(t, "demo", "--events", "50", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var r demoResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("demo --json: %v\n%s", err, out)
	}
	if !r.OK || r.Events != 50 || r.Applied != 50 || r.DeadLettered != 1 {
		t.Errorf("demo --json: %+v", r)
	}
}

func TestDemoWithRedis(t *testing.T) {
	url := testenv.Redis(t)
	code, out, errs := runCLI(t, "demo", "--store", "redis", "--redis-url", url, "--events", "200")
	if code != 0 || !strings.Contains(out, "Redis at") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestDemoNamesADeadStoreAtOnce(t *testing.T) {
	dead := "redis://127.0.0.1:" + itoa(testenv.FreePort(t)) + "/0?dial_timeout=200ms"
	start := time.Now()
	code, out, errs := runCLI(t, "demo", "--store", "redis", "--redis-url", dead, "--events", "5", "--timeout", "1m")
	if code != exitFailure {
		t.Fatalf("exit %d with the store down, want 1:\n%s\n%s", code, out, errs)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s to report a dead store", took)
	}
	if !strings.Contains(errs, strings.TrimSuffix(dead, "?dial_timeout=200ms")) || !strings.Contains(errs, "redis-server is running") {
		t.Errorf("error does not name the URL and what to check:\n%s", errs)
	}
	if strings.Contains(out+errs, "lost") {
		t.Errorf("reports lost events instead of the dead store:\n%s%s", out, errs)
	}
}

func TestDemoNamesAStoreThatDiesMidway(t *testing.T) {
	real := testenv.Redis(t)
	u, err := url.Parse(real)
	if err != nil {
		t.Fatal(err)
	}
	// The demo talks to Redis through a proxy that is cut after the
	// client has sent some traffic, as if the server died mid-demo.
	p := newCutProxy(t, u.Host, 8<<10)
	u.Host = p.addr()
	q := u.Query()
	q.Set("dial_timeout", "300ms")
	u.RawQuery = q.Encode()
	code, out, errs := runCLI(t, "demo", "--store", "redis", "--redis-url", u.String(), "--events", "2000", "--timeout", "2m")
	if code != exitFailure {
		t.Fatalf("exit %d with the store cut, want 1:\n%s\n%s", code, out, errs)
	}
	if !p.wasCut() {
		t.Fatalf("the proxy was never cut; the demo finished first:\n%s", out)
	}
	if !strings.Contains(out, "is not answering") || !strings.Contains(out, p.addr()) {
		t.Errorf("report does not name the store:\n%s", out)
	}
	if strings.Contains(out, "lost:") {
		t.Errorf("reports lost events instead of the dead store:\n%s", out)
	}
}

// cutProxy forwards TCP connections to a server until the clients have
// sent limit bytes, then closes every connection and stops listening.
type cutProxy struct {
	l     net.Listener
	sent  atomic.Int64
	limit int64
	cut   atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string, limit int64) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, limit: limit}
	t.Cleanup(p.close)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(&countingWriter{w: s, p: p}, c) }()
			go func() { io.Copy(c, s) }()
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }
func (p *cutProxy) wasCut() bool { return p.cut.Load() }
func (p *cutProxy) close() {
	p.cut.Store(true)
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

type countingWriter struct {
	w io.Writer
	p *cutProxy
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.p.sent.Add(int64(len(b))) > c.p.limit && !c.p.cut.Load() {
		go c.p.close()
	}
	return c.w.Write(b)
}

func TestDemoInterruptedStopsAndSaysSo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as Ctrl-C before the consumer settled anything
	code, out, errs := runCLIContext(ctx, "demo", "--events", "50")
	if code != exitInterrupted || !strings.Contains(out+errs, "interrupted") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}
