package reliability_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/internal/testenv"
)

// redisServer is a redis-server of the test's own, which the test may stop,
// pause, kill and restart on the same port and data directory.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	args []string

	mu  sync.Mutex // tests fault the server from other goroutines
	cmd *exec.Cmd
}

// startRedis starts redis-server on a free loopback port with extra args.
// Without redis-server on PATH the test is skipped, or failed when
// EVENTFN_REQUIRE_SERVICES=1.
func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv(testenv.RequireServices) == "1" {
			t.Fatalf("redis-server not found but %s=1: run the tests with scripts/test.sh", testenv.RequireServices)
		}
		t.Skip("redis-server not found; run the tests with scripts/test.sh")
	}
	r := &redisServer{t: t, port: testenv.FreePort(t), dir: t.TempDir(), args: args}
	r.start()
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.cmd != nil {
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

func (r *redisServer) start() {
	r.t.Helper()
	args := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir, "--save", "", "--protected-mode", "yes"}, r.args...)
	cmd := exec.Command("redis-server", args...)
	logf, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", time.Now().UnixNano())))
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", r.addr())
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(end) {
			r.t.Fatalf("redis-server did not listen on %s", r.addr())
		}
	}
	// With AOF on, the server loads its data before it answers PING.
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	for end := time.Now().Add(20 * time.Second); c.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			r.t.Fatalf("redis-server on %s does not answer PING", r.addr())
		}
	}
}

func (r *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }
func (r *redisServer) url() string  { return "redis://" + r.addr() + "/0" }

// kill ends the server at once, as a crash does.
func (r *redisServer) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// restart starts the server again on the same port and data directory.
func (r *redisServer) restart() { r.start() }

// pause stops the server answering (SIGSTOP) until resume.
func (r *redisServer) pause()  { r.signal(syscall.SIGSTOP) }
func (r *redisServer) resume() { r.signal(syscall.SIGCONT) }

func (r *redisServer) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(sig)
	}
}
