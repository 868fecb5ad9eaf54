package token_test

import (
	"regexp"
	"sync"
	"testing"

	"github.com/eventfn/eventfn/idempotency/internal/token"
)

var tokenRE = regexp.MustCompile(`^[0-9A-Za-z_-]{22}$`)

func TestTokensAreUniqueBase64URL(t *testing.T) {
	const goroutines, each = 8, 1000
	var mu sync.Mutex
	seen := make(map[string]bool, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			local := make([]string, 0, each)
			for i := range each {
				if i%2 == 0 {
					local = append(local, token.New())
				} else {
					local = append(local, string(token.Append(nil)))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, tok := range local {
				if !tokenRE.MatchString(tok) {
					t.Errorf("token %q is not 22 base64url characters", tok)
				}
				if seen[tok] {
					t.Errorf("token %q issued twice", tok)
				}
				seen[tok] = true
			}
		})
	}
	wg.Wait()
}

func TestAppendKeepsWhatIsThere(t *testing.T) {
	b := token.Append([]byte("P"))
	if len(b) != 1+token.Len || b[0] != 'P' || !tokenRE.Match(b[1:]) {
		t.Fatalf("Append(%q) = %q", "P", b)
	}
	if a, c := string(token.Append(nil)), string(token.Append(nil)); a == c {
		t.Fatalf("consecutive tokens %q and %q", a, c)
	}
}
