package pubsub_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

var testKeys = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
	good, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	evil, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return good, evil
})

const (
	testKid      = "test-key-1"
	testAudience = "https://orders.example.run.app/push"
	testSA       = "push-invoker@my-project.iam.gserviceaccount.com"
)

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signToken makes an RS256 JWT signed by key.
func signToken(key *rsa.PrivateKey, kid string, claims map[string]any) string {
	signing := seg(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"}) + "." + seg(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// googleClaims are the claims of a push token as Pub/Sub sends them.
func googleClaims(mod func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":            "https://accounts.google.com",
		"aud":            testAudience,
		"azp":            "1234567890",
		"sub":            "1234567890",
		"email":          testSA,
		"email_verified": true,
		"iat":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func testVerifier() *pubsub.OIDCVerifier {
	good, _ := testKeys()
	return &pubsub.OIDCVerifier{
		Audience:            testAudience,
		ServiceAccountEmail: testSA,
		Keys:                pubsub.StaticKeys{testKid: &good.PublicKey},
	}
}

func TestPushHandlerVerifiesTheOIDCToken(t *testing.T) {
	good, evil := testKeys()
	pubDER, _ := x509.MarshalPKIXPublicKey(&good.PublicKey)
	hs256 := func() string { // "alg confusion": HMAC keyed with the public key
		s := seg(map[string]string{"alg": "HS256", "kid": testKid}) + "." + seg(googleClaims(nil))
		mac := hmac.New(sha256.New, pubDER)
		mac.Write([]byte(s))
		return s + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	unsigned := seg(map[string]string{"alg": "none", "kid": testKid}) + "." + seg(googleClaims(nil)) + "."
	tests := []struct {
		name   string
		auth   string // Authorization header; "" sends none
		status int
	}{
		{"a valid token reaches the handler", "Bearer " + signToken(good, testKid, googleClaims(nil)), 204},
		{"an aud array with the audience is accepted", "Bearer " + signToken(good, testKid, googleClaims(func(c map[string]any) { c["aud"] = []string{"x", testAudience} })), 204},
		{"no token is 401", "", 401},
		{"a basic credential is 401", "Basic dXNlcjpwYXNz", 401},
		{"an empty bearer is 401", "Bearer ", 401},
		{"garbage is 401", "Bearer not-a-jwt", 401},
		{"an unsigned token is 401", "Bearer " + unsigned, 401},
		{"an HS256 token keyed with the public key is 401", "Bearer " + hs256(), 401},
		{"a forged signature is 401", "Bearer " + signToken(evil, testKid, googleClaims(nil)), 401},
		{"an unknown key ID is 401", "Bearer " + signToken(good, "other-kid", googleClaims(nil)), 401},
		{"a wrong audience is 401", "Bearer " + signToken(good, testKid, googleClaims(func(c map[string]any) { c["aud"] = "https://evil.example" })), 401},
		{"an expired token is 401", "Bearer " + signToken(good, testKid, googleClaims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), 401},
		{"a token without exp is 401", "Bearer " + signToken(good, testKid, googleClaims(func(c map[string]any) { delete(c, "exp") })), 401},
		{"a token issued in the future is 401", "Bearer " + signToken(good, testKid, googleClaims(func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() })), 401},
		{"another issuer is 401", "Bearer " + signToken(good, testKid, googleClaims(func(c map[string]any) { c["iss"] = "https://evil.example" })), 401},
		{"another service account is 403", "Bearer " + signToken(good, testKid, googleClaims(func(c map[string]any) { c["email"] = "someone@evil.example" })), 403},
		{"an unverified email is 403", "Bearer " + signToken(good, testKid, googleClaims(func(c map[string]any) { c["email_verified"] = false })), 403},
	}
	body := fmt.Sprintf(`{"message":{"data":%q,"messageId":"m-1"}}`, b64(`{}`))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran atomic.Bool
			h := pubsub.NewPushHandler(handler.HandlerFunc(func(context.Context, *handler.Message) error {
				ran.Store(true)
				return nil
			}), &pubsub.PushOptions{Verifier: testVerifier()})
			hdr := map[string]string{}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			status, rh, resp := post(t, h, body, hdr)
			if status != tt.status {
				t.Errorf("status = %d (%s), want %d", status, resp, tt.status)
			}
			if ran.Load() != (tt.status == 204) {
				t.Errorf("handler ran = %v with status %d", ran.Load(), status)
			}
			if status == 401 && rh.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestOIDCVerifierWithoutAudienceRejectsEverything(t *testing.T) {
	good, _ := testKeys()
	v := &pubsub.OIDCVerifier{Keys: pubsub.StaticKeys{testKid: &good.PublicKey}}
	err := v.VerifyToken(context.Background(), signToken(good, testKid, googleClaims(nil)))
	if !errors.Is(err, pubsub.ErrUnauthenticated) {
		t.Errorf("err = %v, want ErrUnauthenticated", err)
	}
}

// The audience proves nothing on its own (anyone can mint a Google-signed
// token for any audience), so a verifier without a service account rejects
// every token unless told to accept any.
func TestOIDCVerifierWithoutServiceAccount(t *testing.T) {
	good, _ := testKeys()
	strangers := signToken(good, testKid, googleClaims(func(c map[string]any) { c["email"] = "anyone@example.com" }))
	v := &pubsub.OIDCVerifier{Audience: testAudience, Keys: pubsub.StaticKeys{testKid: &good.PublicKey}}
	if err := v.VerifyToken(context.Background(), strangers); !errors.Is(err, pubsub.ErrForbidden) {
		t.Errorf("no ServiceAccountEmail: err = %v, want ErrForbidden", err)
	}
	v.AnyServiceAccount = true
	if err := v.VerifyToken(context.Background(), strangers); err != nil {
		t.Errorf("AnyServiceAccount: err = %v, want nil", err)
	}
	v.ServiceAccountEmail = testSA // a named account wins over AnyServiceAccount
	if err := v.VerifyToken(context.Background(), strangers); !errors.Is(err, pubsub.ErrForbidden) {
		t.Errorf("ServiceAccountEmail with AnyServiceAccount: err = %v, want ErrForbidden", err)
	}
}

func TestJWKSKeysFetchesAndCaches(t *testing.T) {
	good, _ := testKeys()
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": testKid,
			"n": base64.RawURLEncoding.EncodeToString(good.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(good.E)).Bytes()),
		}}})
	}))
	defer jwks.Close()
	v := &pubsub.OIDCVerifier{Audience: testAudience, ServiceAccountEmail: testSA, Keys: pubsub.NewJWKSKeys(jwks.URL, jwks.Client())}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := v.VerifyToken(ctx, signToken(good, testKid, googleClaims(nil))); err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
	}
	// Unknown key IDs do not make it refetch within a minute.
	for i := 0; i < 3; i++ {
		if err := v.VerifyToken(ctx, signToken(good, fmt.Sprint("forged-", i), googleClaims(nil))); !errors.Is(err, pubsub.ErrUnauthenticated) {
			t.Fatalf("unknown kid: err = %v", err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}

func TestJWKSKeysUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	good, _ := testKeys()
	v := &pubsub.OIDCVerifier{Audience: testAudience, ServiceAccountEmail: testSA, Keys: pubsub.NewJWKSKeys(srv.URL, nil)}
	if err := v.VerifyToken(context.Background(), signToken(good, testKid, googleClaims(nil))); !errors.Is(err, pubsub.ErrUnauthenticated) {
		t.Errorf("err = %v, want ErrUnauthenticated", err)
	}
}

func TestJWKSKeysDoNotHammerAFailingServer(t *testing.T) {
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	defer jwks.Close()
	good, _ := testKeys()
	v := &pubsub.OIDCVerifier{Audience: testAudience, ServiceAccountEmail: testSA, Keys: pubsub.NewJWKSKeys(jwks.URL, jwks.Client())}
	for i := 0; i < 5; i++ {
		if err := v.VerifyToken(context.Background(), signToken(good, fmt.Sprint("forged-", i), googleClaims(nil))); !errors.Is(err, pubsub.ErrUnauthenticated) {
			t.Fatalf("verify %d: err = %v, want ErrUnauthenticated", i, err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times within a minute, want 1", n)
	}
}

func TestVerifyReturnsTheClaims(t *testing.T) {
	good, _ := testKeys()
	tok := signToken(good, testKid, googleClaims(func(c map[string]any) {
		c["aud"] = []string{"other", testAudience}
		c["email_verified"] = "true"
	}))
	c, err := testVerifier().Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Audience, []string{"other", testAudience}) || !c.EmailVerified || c.Email != testSA || c.Issuer != "https://accounts.google.com" || c.Expires == 0 {
		t.Errorf("Claims = %+v", c)
	}
}
