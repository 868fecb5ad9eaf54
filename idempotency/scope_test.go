package idempotency_test

import (
	"errors"
	"testing"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
)

func TestScopeDefaultsToThePlatformName(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"Lambda's function name", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "emails", "K_SERVICE": "x"}, "emails"},
		{"Cloud Run's service name", map[string]string{"K_SERVICE": "ledger", "FUNCTION_TARGET": "Handle"}, "ledger"},
		{"the Functions Framework's target", map[string]string{"FUNCTION_TARGET": "Handle"}, "Handle"},
		{"Azure's site name", map[string]string{"WEBSITE_SITE_NAME": "orders-app"}, "orders-app"},
		{"nothing without a platform", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []string{"AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "FUNCTION_TARGET", "WEBSITE_SITE_NAME"} {
				t.Setenv(v, tc.env[v])
			}
			if got := idempotency.PlatformScope(); got != tc.want {
				t.Fatalf("PlatformScope() = %q, want %q", got, tc.want)
			}
			g, err := idempotency.New(memstore.New(nil), nil)
			if tc.want == "" {
				if !errors.Is(err, idempotency.ErrScope) {
					t.Fatalf("New without a scope or platform name: %v, want ErrScope", err)
				}
				return
			}
			if err != nil || g.Scope() != tc.want {
				t.Fatalf("New: scope %q, %v; want %q", g.Scope(), err, tc.want)
			}
		})
	}
}

func TestTwoHandlersCannotSilentlyShareAScope(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "fanout")
	store := memstore.New(nil)
	if _, err := idempotency.New(store, nil); err != nil {
		t.Fatal(err)
	}
	// A second handler in the same process gets the same platform name.
	_, err := idempotency.New(store, nil)
	if !errors.Is(err, idempotency.ErrScope) {
		t.Fatalf("second middleware with the same scope on the same store: %v, want ErrScope", err)
	}
	if _, err := idempotency.New(store, &idempotency.Options{Scope: "ledger"}); err != nil {
		t.Fatalf("a scope of its own: %v", err)
	}
	if _, err := idempotency.New(store, &idempotency.Options{ShareScope: true}); err != nil {
		t.Fatalf("ShareScope opts in: %v", err)
	}
	if _, err := idempotency.New(memstore.New(nil), nil); err != nil {
		t.Fatalf("another store: %v", err)
	}
	func() {
		defer func() {
			if v := recover(); v == nil {
				t.Error("Middleware did not refuse the shared scope")
			}
		}()
		idempotency.Middleware(store, nil)
	}()
}
