package idempotency_test

import (
	"regexp"
	"testing"

	"github.com/eventfn/eventfn/idempotency"
)

func TestNewTokenIsUniqueBase64URL(t *testing.T) {
	re := regexp.MustCompile(`^[0-9A-Za-z_-]{22}$`)
	a, b := idempotency.NewToken(), idempotency.NewToken()
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Fatalf("NewToken() = %q, then %q; want two different 22-character base64url tokens", a, b)
	}
}
