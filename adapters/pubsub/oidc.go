package pubsub

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// TokenVerifier checks the bearer token of a push request. VerifyToken
// returns nil to let the request through, or an error matching
// ErrUnauthenticated (HTTP 401) or ErrForbidden (HTTP 403); any other error
// is treated as ErrUnauthenticated. Implementations must be safe for
// concurrent use. *OIDCVerifier is the implementation for Pub/Sub's
// Google-signed OIDC tokens; wrap google.golang.org/api/idtoken or another
// library to use it instead.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, token string) error
}

// Google's token issuers.
var googleIssuers = []string{"https://accounts.google.com", "accounts.google.com"}

// DefaultLeeway is the clock skew OIDCVerifier tolerates by default.
const DefaultLeeway = time.Minute

// OIDCVerifier verifies the OIDC ID token a push subscription with
// authentication sends in the Authorization header: an RS256 JWT signed by
// Google, for the subscription's configured audience, naming the
// subscription's service account. Its fields must not change once it is in
// use; it is then safe for concurrent use.
type OIDCVerifier struct {
	// Audience is the audience configured on the push subscription (by
	// default the push endpoint URL). Required: an empty Audience rejects
	// every token.
	Audience string
	// ServiceAccountEmail must equal the token's email claim, and the email
	// must be verified; otherwise the request gets 403. Required: the
	// audience alone proves nothing, since anyone with a Google account can
	// mint a Google-signed token for any audience. An empty
	// ServiceAccountEmail rejects every token unless AnyServiceAccount is
	// set.
	ServiceAccountEmail string
	// AnyServiceAccount accepts a Google-signed token for Audience from any
	// account, of any project, when ServiceAccountEmail is empty. Only for
	// endpoints that something else guards as well (Cloud Run IAM with
	// roles/run.invoker), and for tests.
	AnyServiceAccount bool
	// Issuers are the accepted iss claims. Default: "https://accounts.google.com"
	// and "accounts.google.com".
	Issuers []string
	// Keys resolve the token's key ID to a public key. Default: GoogleKeys(),
	// the JWKS Google publishes. Tests use StaticKeys with a local key.
	Keys KeySource
	// Leeway is the clock skew tolerated on exp, iat and nbf. Default:
	// DefaultLeeway.
	Leeway time.Duration
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
}

// Claims are the claims of a Google-signed ID token that OIDCVerifier checks.
type Claims struct {
	Issuer        string   // iss
	Audience      []string // aud, a string or an array in the token
	Subject       string   // sub
	Email         string   // email
	EmailVerified bool     // email_verified, true or "true" in the token
	Expires       int64    // exp, Unix seconds
	IssuedAt      int64    // iat, Unix seconds
	NotBefore     int64    // nbf, Unix seconds
}

// claimsJSON is the token's claims as JSON spells them.
type claimsJSON struct {
	Issuer        string   `json:"iss"`
	Audience      audience `json:"aud"`
	Subject       string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified flexBool `json:"email_verified"`
	Expires       int64    `json:"exp"`
	IssuedAt      int64    `json:"iat"`
	NotBefore     int64    `json:"nbf"`
}

// audience is the aud claim: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = ss
	return nil
}

// flexBool accepts true and "true".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "true", `"true"`:
		*f = true
	default:
		*f = false
	}
	return nil
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

func unauthenticated(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnauthenticated}, args...)...)
}

// VerifyToken verifies token: signature (RS256 only; "none", HMAC and
// every other algorithm are refused), expiry, issuer, audience and the
// service account's email (see AnyServiceAccount).
func (v *OIDCVerifier) VerifyToken(ctx context.Context, token string) error {
	_, err := v.Verify(ctx, token)
	return err
}

// Verify is VerifyToken that also returns the verified claims.
func (v *OIDCVerifier) Verify(ctx context.Context, token string) (*Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, unauthenticated("token is not a JWT")
	}
	var hdr jwtHeader
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, unauthenticated("token header: %v", err)
	}
	if hdr.Alg != "RS256" {
		return nil, unauthenticated("token algorithm %q is not RS256", hdr.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, unauthenticated("token signature: %v", err)
	}
	keys := v.Keys
	if keys == nil {
		keys = defaultGoogleKeys
	}
	pub, err := keys.PublicKey(ctx, hdr.Kid)
	if err != nil {
		return nil, unauthenticated("signing key %q: %v", hdr.Kid, err)
	}
	rsaKey, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, unauthenticated("signing key %q is not an RSA key", hdr.Kid)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(rsaKey, crypto.SHA256, sum[:], sig); err != nil {
		return nil, unauthenticated("bad token signature")
	}

	var cj claimsJSON
	if err := decodeSegment(parts[1], &cj); err != nil {
		return nil, unauthenticated("token claims: %v", err)
	}
	c := Claims{Issuer: cj.Issuer, Audience: cj.Audience, Subject: cj.Subject, Email: cj.Email,
		EmailVerified: bool(cj.EmailVerified), Expires: cj.Expires, IssuedAt: cj.IssuedAt, NotBefore: cj.NotBefore}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	leeway := v.Leeway
	if leeway <= 0 {
		leeway = DefaultLeeway
	}
	t := now()
	switch {
	case c.Expires == 0:
		return nil, unauthenticated("token has no exp claim")
	case t.After(time.Unix(c.Expires, 0).Add(leeway)):
		return nil, unauthenticated("token expired at %s", time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	case c.IssuedAt != 0 && time.Unix(c.IssuedAt, 0).After(t.Add(leeway)):
		return nil, unauthenticated("token issued in the future")
	case c.NotBefore != 0 && time.Unix(c.NotBefore, 0).After(t.Add(leeway)):
		return nil, unauthenticated("token not valid yet")
	}
	issuers := v.Issuers
	if len(issuers) == 0 {
		issuers = googleIssuers
	}
	if !slices.Contains(issuers, c.Issuer) {
		return nil, unauthenticated("token issuer %q not accepted", c.Issuer)
	}
	if v.Audience == "" || !slices.Contains(c.Audience, v.Audience) {
		return nil, unauthenticated("token audience %q does not match %q", c.Audience, v.Audience)
	}
	switch {
	case v.ServiceAccountEmail == "" && !v.AnyServiceAccount:
		return nil, fmt.Errorf("%w: the verifier names no service account (set OIDCVerifier.ServiceAccountEmail)", ErrForbidden)
	case v.ServiceAccountEmail != "":
		if c.Email != v.ServiceAccountEmail {
			return nil, fmt.Errorf("%w: token email %q is not %q", ErrForbidden, c.Email, v.ServiceAccountEmail)
		}
		if !c.EmailVerified {
			return nil, fmt.Errorf("%w: token email %q is not verified", ErrForbidden, c.Email)
		}
	}
	return &c, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
