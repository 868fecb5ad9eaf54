package dynamostore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventfn/eventfn/idempotency"
)

// maxKeyBytes is DynamoDB's limit on a partition key value.
const maxKeyBytes = 2048

// hashedPrefix starts every hashed storage key, and no stored raw key.
const hashedPrefix = "#sha256:"

// storageKey maps a Store key to the item's partition key. Keys DynamoDB
// accepts as they are (valid UTF-8, 1 to 2048 bytes) are stored as they are;
// the others (and those that start with hashedPrefix, so a raw key can never
// equal a hashed one) are stored as hashedPrefix + hex SHA-256 of the key.
func storageKey(key string) string {
	if key != "" && len(key) <= maxKeyBytes && utf8.ValidString(key) && !strings.HasPrefix(key, hashedPrefix) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hashedPrefix + hex.EncodeToString(sum[:])
}

func millis(t time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

// ttlSeconds is t in epoch seconds, rounded up, for DynamoDB TTL: an item is
// never deleted before its expiry.
func ttlSeconds(t time.Time) *types.AttributeValueMemberN {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(sec, 10)}
}

// fingerprintValue stores a fingerprint as a string when it is valid UTF-8
// (the usual hex digest) and as binary otherwise, which a string attribute
// would not keep intact.
func fingerprintValue(fp string) types.AttributeValue {
	if utf8.ValidString(fp) {
		return &types.AttributeValueMemberS{Value: fp}
	}
	return &types.AttributeValueMemberB{Value: []byte(fp)}
}

func tokenOf(item map[string]types.AttributeValue, attr string) string {
	if v, ok := item[attr].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// decode reads an item into a Record for key. The token is kept; callers
// clear it before handing the record out.
func (s *Store) decode(key string, item map[string]types.AttributeValue) (idempotency.Record, error) {
	rec := idempotency.Record{Key: key, Token: tokenOf(item, s.o.TokenAttribute)}
	st, ok := item[s.o.StatusAttribute].(*types.AttributeValueMemberS)
	if !ok {
		return rec, fmt.Errorf("malformed record: attribute %q is missing or not a string", s.o.StatusAttribute)
	}
	switch st.Value {
	case idempotency.StatusInProgress.String():
		rec.Status = idempotency.StatusInProgress
	case idempotency.StatusCompleted.String():
		rec.Status = idempotency.StatusCompleted
	default:
		return rec, fmt.Errorf("malformed record: unknown status %.40q", st.Value)
	}
	n, ok := item[s.o.ExpiryMillisAttribute].(*types.AttributeValueMemberN)
	if !ok {
		return rec, fmt.Errorf("malformed record: attribute %q is missing or not a number", s.o.ExpiryMillisAttribute)
	}
	ms, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return rec, fmt.Errorf("malformed record: attribute %q: %w", s.o.ExpiryMillisAttribute, err)
	}
	if rec.Status == idempotency.StatusInProgress {
		rec.LeaseExpiry = time.UnixMilli(ms)
	} else {
		rec.Expiry = time.UnixMilli(ms)
	}
	switch v := item[s.o.FingerprintAttribute].(type) {
	case *types.AttributeValueMemberS:
		rec.Fingerprint = v.Value
	case *types.AttributeValueMemberB:
		rec.Fingerprint = string(v.Value)
	}
	if v, ok := item[s.o.ResultAttribute].(*types.AttributeValueMemberB); ok && len(v.Value) > 0 {
		rec.Result = v.Value
	}
	return rec, nil
}
