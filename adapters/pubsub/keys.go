package pubsub

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// KeySource resolves the key ID (kid) of a token to the public key that
// signed it. Implementations must be safe for concurrent use.
type KeySource interface {
	PublicKey(ctx context.Context, keyID string) (crypto.PublicKey, error)
}

// ErrUnknownKey is returned by a KeySource that has no key with the ID.
var ErrUnknownKey = errors.New("pubsub: unknown signing key")

// StaticKeys is a KeySource with a fixed set of keys by key ID, for tests
// and air-gapped deployments.
type StaticKeys map[string]crypto.PublicKey

// PublicKey returns the key with ID keyID.
func (s StaticKeys) PublicKey(_ context.Context, keyID string) (crypto.PublicKey, error) {
	if k, ok := s[keyID]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKey, keyID)
}

// GoogleCertsURL is where Google publishes the keys that sign its ID tokens,
// as a JSON Web Key Set.
const GoogleCertsURL = "https://www.googleapis.com/oauth2/v3/certs"

var defaultGoogleKeys = NewJWKSKeys(GoogleCertsURL, nil)

// GoogleKeys returns the process-wide KeySource for Google's published
// token-signing keys (GoogleCertsURL).
func GoogleKeys() KeySource { return defaultGoogleKeys }

// JWKSKeys is a KeySource that fetches a JSON Web Key Set over HTTPS and
// caches it for as long as the response's Cache-Control max-age allows
// (one hour when absent). An unknown key ID triggers a refetch, at most once
// a minute (failed fetches included), so rotated keys are picked up and
// forged key IDs cannot make it hammer the server. It is safe for concurrent use.
type JWKSKeys struct {
	url    string
	client *http.Client

	mu      sync.Mutex
	keys    map[string]crypto.PublicKey
	expires time.Time
	fetched time.Time // the last fetch attempt
}

// NewJWKSKeys returns a JWKSKeys for url. A nil client means a client with a
// 10 s timeout.
func NewJWKSKeys(url string, client *http.Client) *JWKSKeys {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &JWKSKeys{url: url, client: client}
}

// minRefetch is the shortest interval between two fetches caused by an
// unknown key ID.
const minRefetch = time.Minute

// PublicKey returns the key with ID keyID, fetching the key set if needed.
func (j *JWKSKeys) PublicKey(ctx context.Context, keyID string) (crypto.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now()
	k, known := j.keys[keyID]
	if known && now.Before(j.expires) {
		return k, nil
	}
	// Fetch when the set is stale or lacks keyID, at most once a minute,
	// failed attempts included: a failing server is not hammered either.
	if j.fetched.IsZero() || now.Sub(j.fetched) >= minRefetch {
		j.fetched = now
		// One request going away must not fail the fetch for everyone.
		keys, maxAge, err := j.fetch(context.WithoutCancel(ctx))
		if err != nil {
			if known {
				return k, nil // serve the stale key rather than fail every request
			}
			return nil, err
		}
		j.keys, j.expires = keys, now.Add(maxAge)
	}
	if k, ok := j.keys[keyID]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKey, keyID)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func (j *JWKSKeys) fetch(ctx context.Context) (map[string]crypto.PublicKey, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("pubsub: jwks: %w", err)
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("pubsub: jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("pubsub: jwks %s: HTTP %d", j.url, resp.StatusCode)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, 0, fmt.Errorf("pubsub: jwks %s: %w", j.url, err)
	}
	keys := make(map[string]crypto.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		pub, err := rsaKey(k.N, k.E)
		if err != nil {
			return nil, 0, fmt.Errorf("pubsub: jwks %s: key %q: %w", j.url, k.Kid, err)
		}
		keys[k.Kid] = pub
	}
	return keys, maxAge(resp.Header.Get("Cache-Control")), nil
}

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	eb, err := base64.RawURLEncoding.DecodeString(e)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	exp := new(big.Int).SetBytes(eb)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 {
		return nil, errors.New("exponent out of range")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(exp.Int64())}, nil
}

// maxAge reads max-age from a Cache-Control header: one hour when absent,
// at least one minute.
func maxAge(cc string) time.Duration {
	for _, part := range strings.Split(cc, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(k, "max-age") {
			if s, err := strconv.Atoi(v); err == nil {
				return max(time.Duration(s)*time.Second, time.Minute)
			}
		}
	}
	return time.Hour
}
