package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SQS returns the endpoint of the test SQS server (fauxqs).
func SQS(t testing.TB) string { t.Helper(); return Getenv(t, SQSEndpoint) }

// SNS returns the endpoint of the test SNS server (fauxqs).
func SNS(t testing.TB) string { t.Helper(); return Getenv(t, SNSEndpoint) }

// RIE returns the path of the aws-lambda-rie binary.
func RIE(t testing.TB) string { t.Helper(); return Getenv(t, RIEBinary) }

// BuildLambda builds the main package in dir (run from dir, so a nested
// module builds with its own go.mod) as a Lambda custom-runtime executable,
// the way it is deployed: GOOS=linux, CGO_ENABLED=0, stripped, with the
// lambda.norpc tag. It returns the path of the "bootstrap" file.
func BuildLambda(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	if err := BuildLambdaTo(dir, out, runtime.GOARCH); err != nil {
		t.Fatal(err)
	}
	return out
}

// BuildLambdaTo is BuildLambda for callers without a testing.TB (TestMain,
// benchmarks' setup), writing the executable to out for GOARCH arch.
func BuildLambdaTo(dir, out, arch string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-tags=lambda.norpc", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testenv: build %s: %v\n%s", dir, err, b)
	}
	return nil
}

// Function is a Lambda function running under the Runtime Interface
// Emulator on loopback ports.
type Function struct {
	// URL is the invoke endpoint:
	// http://127.0.0.1:PORT/2015-03-31/functions/function/invocations.
	URL string
	log string
}

// StartFunction runs bootstrap under aws-lambda-rie with the current
// environment plus env ("NAME=value"), both emulator addresses on free
// loopback ports, and stops it when the test ends. Set
// AWS_LAMBDA_FUNCTION_TIMEOUT in env (seconds) to choose the deadline. The
// emulator's and the function's output is logged if the test fails.
func StartFunction(t testing.TB, bootstrap string, env ...string) *Function {
	t.Helper()
	bin := RIE(t)
	port := FreePort(t)
	apiPort := FreePort(t)
	logPath := filepath.Join(t.TempDir(), "rie.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(port),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", bin, err)
	}
	f := &Function{URL: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port), log: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("aws-lambda-rie output:\n%s", tail(b, 8000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return f
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("testenv: aws-lambda-rie did not listen on port %d: %v\n%s", port, err, tail(b, 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Invoke posts payload to the function and returns the response body. A
// function error is returned as an error holding the body (errorType and
// errorMessage).
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("testenv: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("testenv: invoke: %w", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" || bytes.HasPrefix(body, []byte(`{"errorMessage"`)) || bytes.Contains(body, []byte(`"errorType"`)) {
		return body, fmt.Errorf("testenv: invoke: status %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

// Log returns what the emulator and the function have written so far.
func (f *Function) Log() string {
	b, _ := os.ReadFile(f.log)
	return string(b)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
