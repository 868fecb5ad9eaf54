package idempotency

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/eventfn/eventfn/handler"
)

// KeyFunc derives the raw idempotency key of a message. It returns an error
// (wrapped by the middleware with ErrNoKey) when the message has none.
type KeyFunc func(m *handler.Message) (string, error)

// FromMessageID keys messages on Message.ID, which every adapter keeps stable
// across redeliveries. A copy redriven from a dead-letter queue carries its
// original ID in the handler.AttrMessageID attribute, which is used instead,
// so a redriven message that had completed is recognised as a duplicate. It
// is the default.
func FromMessageID() KeyFunc {
	return func(m *handler.Message) (string, error) {
		if id := m.Attributes[handler.AttrMessageID]; id != "" {
			return id, nil
		}
		if m.ID == "" {
			return "", errors.New("message has no ID")
		}
		return m.ID, nil
	}
}

// FromAttribute keys messages on the attribute name, for producers that set
// their own idempotency key.
func FromAttribute(name string) KeyFunc {
	return func(m *handler.Message) (string, error) {
		v, ok := m.Attributes[name]
		if !ok || v == "" {
			return "", fmt.Errorf("attribute %q is missing or empty", name)
		}
		return v, nil
	}
}

// FromJSONField keys messages on a field of their JSON body, named by a
// dot-separated path such as "order.id". Strings are used as they are;
// numbers and booleans by their JSON text. Use it when a producer may publish
// one business event twice under two message IDs. As with encoding/json, the
// last of two members with one name wins. The body is read in place, without
// decoding it.
func FromJSONField(path string) KeyFunc {
	parts := strings.Split(path, ".")
	return func(m *handler.Message) (string, error) {
		if !json.Valid(m.Body) {
			var v any
			return "", fmt.Errorf("body is not JSON: %w", json.Unmarshal(m.Body, &v))
		}
		v, found, notObject := jsonField(m.Body, parts)
		switch {
		case notObject != "":
			return "", fmt.Errorf("field %q: %q is not inside an object", path, notObject)
		case !found:
			return "", fmt.Errorf("field %q is missing", path)
		}
		switch v[0] {
		case '"':
			s, ok := jsonString(v)
			if !ok || s == "" {
				return "", fmt.Errorf("field %q is empty", path)
			}
			return s, nil
		case 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return string(v), nil
		default:
			return "", fmt.Errorf("field %q is not a string, number or boolean", path)
		}
	}
}

// HashKey returns the portable store key for a raw key in a scope: the
// first 128 bits of the SHA-256 of "eventfn-idem-v2\x00" + scope + "\x00" +
// raw, in unpadded base64url (RFC 4648 section 5). It is 22 bytes long
// whatever the raw key's length or encoding.
//
// 128 bits keep accidental collisions out of reach (about 2^-64 after 2^32
// keys in one scope), and a short key costs the store less work per record
// than 64 hex digits. A producer that chooses its own keys (FromAttribute,
// FromJSONField) can reuse a key outright, so a longer hash would buy no
// protection against a hostile one.
func HashKey(scope, raw string) string {
	var buf [256]byte // keys of ordinary length hash without a heap allocation
	b := append(buf[:0], hashPrefix...)
	b = append(b, scope...)
	b = append(b, 0)
	b = append(b, raw...)
	return sum128(sha256.Sum256(b))
}

// hashLen is the length of a key from HashKey and of a BodyFingerprint.
const hashLen = 22

// sum128 encodes the first 128 bits of sum in unpadded base64url, with one
// allocation.
func sum128(sum [sha256.Size]byte) string {
	var h [hashLen]byte
	base64.RawURLEncoding.Encode(h[:], sum[:16])
	return string(h[:])
}

const hashPrefix = "eventfn-idem-v2\x00"

// BodyFingerprint is the default payload fingerprint: the first 128 bits of
// the SHA-256 of the body, in unpadded base64url.
func BodyFingerprint(m *handler.Message) string {
	return sum128(sha256.Sum256(m.Body))
}
