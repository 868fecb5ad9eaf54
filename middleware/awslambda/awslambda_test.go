package awslambda_test

import (
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
	"github.com/eventfn/eventfn/middleware/awslambda"
)

// capture records every line, with its logger's attributes, in the root
// capture it was derived from.
type capture struct {
	mu    sync.Mutex
	attrs []map[string]string
	with  []slog.Attr
	root  *capture
}

func (c *capture) lines() []map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]string(nil), c.attrs...)
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{}
	for _, a := range c.with {
		m[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	root := c
	if c.root != nil {
		root = c.root
	}
	root.mu.Lock()
	root.attrs = append(root.attrs, m)
	root.mu.Unlock()
	return nil
}
func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	root := c
	if c.root != nil {
		root = c.root
	}
	return &capture{with: append(append([]slog.Attr{}, c.with...), as...), root: root}
}
func (c *capture) WithGroup(string) slog.Handler { return c }

func TestLogAttrsCarryTheInvocation(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-fn")
	root := &capture{}
	h := handler.Chain(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		middleware.LoggerFrom(ctx).Info("working")
		return nil
	}), awslambda.Defaults(&middleware.Options{Logger: slog.New(root), DisableTracing: true, DisableMetrics: true}))
	seen := 0
	for i, id := range []string{"req-1", "req-2"} {
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: id})
		if err := h.Handle(ctx, &handler.Message{ID: "m"}); err != nil {
			t.Fatal(err)
		}
		lines := root.lines()[seen:]
		seen += len(lines)
		if len(lines) != 2 {
			t.Fatalf("invocation %s logged %d lines, want the handler's and the outcome", id, len(lines))
		}
		want := map[string]string{"aws_request_id": id, "function_name": "orders-fn", "cold_start": map[bool]string{true: "true", false: "false"}[i == 0], "message_id": "m"}
		for _, got := range lines {
			for k, v := range want {
				if got[k] != v {
					t.Errorf("invocation %s: %s = %q, want %q (line %v)", id, k, got[k], v, got)
				}
			}
		}
	}
}

func TestOnlyTheLambdaPackageLinksAWS(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/eventfn/eventfn/middleware").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, d := range strings.Fields(string(out)) {
		for _, cloud := range []string{"github.com/aws/", "cloud.google.com/", "google.golang.org/api", "github.com/Azure/", "github.com/GoogleCloudPlatform/"} {
			if strings.HasPrefix(d, cloud) {
				t.Errorf("middleware links %s, a cloud SDK", d)
			}
		}
	}
	out, err = exec.Command("go", "list", "-deps", "github.com/eventfn/eventfn/middleware/awslambda").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, "github.com/aws/") && d != "github.com/aws/aws-lambda-go/lambdacontext" {
			t.Errorf("awslambda links %s; only lambdacontext is allowed", d)
		}
	}
}
