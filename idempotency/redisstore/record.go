package redisstore

import (
	"fmt"
	"strconv"
	"time"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/internal/token"
)

// Record encoding (the IN_PROGRESS value doubles as the claim's token):
//
//	IN_PROGRESS: "P" token(22) leaseUntilMs(13 digits) fingerprint
//	COMPLETED:   "C" token(22) leaseUntilMs(13) expiresMs(13) len(fingerprint)(8 digits) fingerprint result
//
// With the default 22-byte fingerprint an IN_PROGRESS value is 58 bytes and
// a COMPLETED one without a result 79.
const (
	tokenLen = token.Len
	fenceLen = 1 + tokenLen // "P" and the token: what the scripts compare
	msLen    = 13
	hdrLen   = fenceLen + msLen // 36
	fpLenLen = 8
)

// fence is the part of a claimed value that identifies the claim. The
// caller has checked the token with validToken.
func fence(token string) string { return token[:fenceLen] }

// appendPadded appends n in decimal, zero-padded to width digits.
func appendPadded(b []byte, n int64, width int) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

// valueBuf is where a record value is built: on the stack for values of
// ordinary size, so that the value costs one allocation, its string.
type valueBuf [256]byte

// encodeClaim returns a new IN_PROGRESS value: a fresh token, the lease's
// end and the fingerprint.
func encodeClaim(fp string, leaseUntil time.Time) string {
	var buf valueBuf
	b := append(buf[:0], 'P')
	b = token.Append(b)
	b = appendPadded(b, leaseUntil.UnixMilli(), msLen)
	b = append(b, fp...)
	return string(b)
}

func decode(key, v string) (idempotency.Record, error) {
	bad := func(why string) (idempotency.Record, error) {
		return idempotency.Record{}, fmt.Errorf("%w: redisstore: key %.80q holds a record that does not decode (%s)", idempotency.ErrStore, key, why)
	}
	if len(v) < hdrLen {
		return bad("too short")
	}
	lease, err := strconv.ParseInt(v[1+tokenLen:hdrLen], 10, 64)
	if err != nil {
		return bad("lease")
	}
	r := idempotency.Record{Key: key, Token: v[1 : 1+tokenLen]}
	switch v[0] {
	case 'P':
		r.Status = idempotency.StatusInProgress
		r.LeaseExpiry = time.UnixMilli(lease)
		r.Fingerprint = v[hdrLen:]
	case 'C':
		r.Status = idempotency.StatusCompleted
		rest := v[hdrLen:]
		if len(rest) < msLen+fpLenLen {
			return bad("completed header")
		}
		exp, err1 := strconv.ParseInt(rest[:msLen], 10, 64)
		n, err2 := strconv.Atoi(rest[msLen : msLen+fpLenLen])
		rest = rest[msLen+fpLenLen:]
		if err1 != nil || err2 != nil || n < 0 || n > len(rest) {
			return bad("completed fields")
		}
		r.Expiry = time.UnixMilli(exp)
		r.Fingerprint = rest[:n]
		r.Result = []byte(rest[n:])
	default:
		return bad("status")
	}
	return r, nil
}

// newClaimValue returns the IN_PROGRESS value for req, which is also the
// claim's token.
func newClaimValue(req idempotency.ClaimRequest, now time.Time) string {
	return encodeClaim(req.Fingerprint, now.Add(req.Lease))
}

// validToken reports whether token can be a claimed value.
func validToken(token string) bool { return len(token) >= hdrLen && token[0] == 'P' }

// completedValue builds the COMPLETED value from the claimed one.
func completedValue(claimed string, result []byte, expires time.Time) string {
	var buf valueBuf
	return string(appendCompleted(buf[:0], claimed, result, expires))
}

// appendCompleted appends the COMPLETED value built from the claimed one
// to b.
func appendCompleted(b []byte, claimed string, result []byte, expires time.Time) []byte {
	fp := claimed[hdrLen:]
	b = append(b, 'C')
	b = append(b, claimed[1:hdrLen]...)
	b = appendPadded(b, expires.UnixMilli(), msLen)
	b = appendPadded(b, int64(len(fp)), fpLenLen)
	b = append(b, fp...)
	return append(b, result...)
}

// completedLen is the length of the COMPLETED value appendCompleted builds.
func completedLen(claimed string, result []byte) int {
	return len(claimed) + msLen + fpLenLen + len(result)
}

func clampTTL(ttl time.Duration) time.Duration { return max(ttl, time.Millisecond) }
