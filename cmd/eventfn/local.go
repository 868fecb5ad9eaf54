package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// localFunction is a function eventfn built and runs for an invocation.
type localFunction struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
	dir  string
	done chan struct{}
}

// buildPackage builds pkg into out. A directory is built from inside (so
// a nested module uses its own go.mod); anything else is an import path
// built from the working directory. lambda builds a Lambda bootstrap the
// way it is deployed: GOOS=linux, CGO_ENABLED=0, -tags lambda.norpc,
// stripped.
func buildPackage(ctx context.Context, pkg, out string, lambda bool, arch string) error {
	args := []string{"build", "-trimpath", "-o", out}
	env := os.Environ()
	if lambda {
		if arch == "" {
			arch = runtime.GOARCH
		}
		args = append(args, "-ldflags=-s -w", "-tags=lambda.norpc")
		env = append(env, "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	}
	cmd := exec.CommandContext(ctx, "go")
	if st, err := os.Stat(pkg); err == nil && st.IsDir() {
		cmd.Dir = pkg
		args = append(args, ".")
	} else {
		args = append(args, pkg)
	}
	cmd.Args = append(cmd.Args, args...)
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", pkg, err, bytes.TrimSpace(b))
	}
	return nil
}

// startLocalFunction builds o.build and runs it on free loopback ports: a
// Lambda bootstrap under aws-lambda-rie, or an HTTP function with PORT
// (Functions Framework) or FUNCTIONS_CUSTOMHANDLER_PORT (Azure custom
// handler) set. Its output goes to out and is kept for the report.
func startLocalFunction(ctx context.Context, o *invokeOptions, out, progress io.Writer) (*localFunction, error) {
	dir, err := os.MkdirTemp("", "eventfn-invoke-")
	if err != nil {
		return nil, err
	}
	f := &localFunction{logs: &syncBuffer{}, dir: dir, done: make(chan struct{})}
	fail := func(err error) (*localFunction, error) { os.RemoveAll(dir); return nil, err }
	lambda := o.platform == "aws"
	bin := filepath.Join(dir, "bootstrap")
	fmt.Fprintf(progress, "eventfn invoke: building %s\n", o.build)
	if err := buildPackage(ctx, o.build, bin, lambda, o.arch); err != nil {
		return fail(err)
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	env := append(os.Environ(), o.env...)
	var cmd *exec.Cmd
	switch o.platform {
	case "aws":
		rie, err := findRIE(ctx, progress)
		if err != nil {
			return fail(err)
		}
		apiPort, err := freePort()
		if err != nil {
			return fail(err)
		}
		// Never pass the emulator --help: it ignores it and serves.
		cmd = exec.Command(rie,
			"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(port),
			"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
			bin)
		if os.Getenv("AWS_LAMBDA_FUNCTION_TIMEOUT") == "" {
			env = append(env, "AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int(o.timeout/time.Second)))
		}
		f.url = fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port)
	case "gcp":
		cmd = exec.Command(bin)
		env = append(env, "PORT="+strconv.Itoa(port), "HOST=127.0.0.1")
		f.url = fmt.Sprintf("http://127.0.0.1:%d/%s", port, o.spec.function)
	case "azure":
		cmd = exec.Command(bin)
		env = append(env, "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
		f.url = fmt.Sprintf("http://127.0.0.1:%d/%s", port, o.spec.function)
	}
	cmd.Dir = dir
	cmd.Env = env
	w := io.MultiWriter(out, f.logs)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("starting %s: %w", cmd.Path, err))
	}
	f.cmd = cmd
	go func() { cmd.Wait(); close(f.done) }()
	if err := waitPort(ctx, port, f.done, 30*time.Second); err != nil {
		f.stop()
		return nil, fmt.Errorf("the function built from %s did not start: %w\n%s", o.build, err, f.logs.tail(4000))
	}
	return f, nil
}

// stop ends the function (SIGTERM, then SIGKILL after 5 seconds) and
// removes its build.
func (f *localFunction) stop() {
	if f.cmd != nil && f.cmd.Process != nil {
		f.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			f.cmd.Process.Kill()
			<-f.done
		}
	}
	os.RemoveAll(f.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitPort(ctx context.Context, port int, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("it exited before listening on %s", addr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, limit)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) tail(n int) string {
	str := s.String()
	if len(str) > n {
		str = "..." + str[len(str)-n:]
	}
	return str
}

// lockedWriter serializes writes to w, which a child process's output and
// eventfn's own messages share.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
