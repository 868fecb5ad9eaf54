// Package archtest keeps the import rules of DESIGN.md section 2 true: the
// core imports no cloud SDK, adapters never import each other or the
// idempotency package, and a user deploying to one cloud never links
// another cloud's SDK.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/eventfn/eventfn"

// deps returns the non-standard packages pkg depends on, itself included.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

func packages(t *testing.T, pattern string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", pattern).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "matched no packages") {
			return nil
		}
		t.Fatalf("go list %s: %v\n%s", pattern, err, out)
	}
	return strings.Fields(string(out))
}

func TestHandlerImportsOnlyTheStandardLibrary(t *testing.T) {
	for _, d := range deps(t, module+"/handler") {
		if d != module+"/handler" {
			t.Errorf("handler depends on %s; it may import only the standard library", d)
		}
	}
}

func TestIdempotencyCoreImportsOnlyHandler(t *testing.T) {
	for _, d := range deps(t, module+"/idempotency") {
		// Its own internal packages hold no dependency beyond the standard
		// library either: they are checked as part of this list.
		if d != module+"/idempotency" && d != module+"/handler" && !strings.HasPrefix(d, module+"/idempotency/internal/") {
			t.Errorf("idempotency depends on %s", d)
		}
	}
}

// foreign lists, per adapter, the dependency prefixes it must never link.
var foreign = map[string][]string{
	"sqs":        {"cloud.google.com/", "google.golang.org/api", "github.com/Azure/", "github.com/GoogleCloudPlatform/"},
	"pubsub":     {"github.com/aws/", "github.com/Azure/"},
	"servicebus": {"github.com/aws/", "cloud.google.com/", "google.golang.org/api", "github.com/GoogleCloudPlatform/"},
}

func TestAdaptersStayInTheirLane(t *testing.T) {
	adapters := packages(t, module+"/adapters/...")
	if len(adapters) == 0 {
		t.Fatal("no adapters found")
	}
	for _, a := range adapters {
		name := strings.Split(strings.TrimPrefix(a, module+"/adapters/"), "/")[0]
		for _, d := range deps(t, a) {
			switch {
			case strings.HasPrefix(d, module+"/adapters/internal/"):
				// Shared settlement code of every adapter, standard library and
				// handler only (checked below).
			case strings.HasPrefix(d, module+"/adapters/") && !strings.HasPrefix(d, module+"/adapters/"+name):
				t.Errorf("adapter %s imports another adapter: %s", a, d)
			case strings.HasPrefix(d, module+"/idempotency"):
				t.Errorf("adapter %s imports %s; idempotency is middleware the user adds", a, d)
			}
			for _, f := range foreign[name] {
				if strings.HasPrefix(d, f) {
					t.Errorf("adapter %s links %s, another cloud's SDK", a, d)
				}
			}
		}
	}
}

// TestPushPathLinksNoGRPCClient keeps push endpoints and Cloud Functions
// small: they need no Pub/Sub client, which lives in adapters/pubsub/pull.
func TestPushPathLinksNoGRPCClient(t *testing.T) {
	for _, d := range deps(t, module+"/adapters/pubsub") {
		for _, f := range []string{"cloud.google.com/go/pubsub", "google.golang.org/grpc"} {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("adapters/pubsub links %s; only adapters/pubsub/pull may", d)
			}
		}
	}
}

func TestAdapterInternalsLinkNoSDK(t *testing.T) {
	for _, p := range packages(t, module+"/adapters/internal/...") {
		for _, d := range deps(t, p) {
			if !strings.HasPrefix(d, module+"/") {
				t.Errorf("%s links %s; code shared by every adapter must link no SDK", p, d)
			}
		}
	}
}

func TestStoresImportOnlyTheirOwnBackend(t *testing.T) {
	for _, p := range packages(t, module+"/idempotency/...") {
		for _, d := range deps(t, p) {
			if strings.HasPrefix(d, module+"/adapters/") {
				t.Errorf("%s imports adapter %s", p, d)
			}
		}
	}
	for _, d := range deps(t, module+"/idempotency/redisstore") {
		if strings.HasPrefix(d, "github.com/aws/") {
			t.Errorf("redisstore links %s", d)
		}
	}
}
