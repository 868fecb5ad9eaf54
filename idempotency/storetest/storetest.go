// Package storetest is the conformance suite every idempotency.Store passes.
// A store's own tests call Run with a Harness that makes stores against the
// real backend:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New:         func(t *testing.T) idempotency.Store { return newStore(t) },
//			Unreachable: func(t *testing.T) idempotency.Store { return storeOnClosedPort(t) },
//		})
//	}
//
// Each property of the contract is a test function of its own, run as a
// subtest named after the property, so a store that fails names what it
// broke: claim, complete and release (claim.go); IN_PROGRESS inside the
// lease and takeover after it; fencing by token (a stale token changes
// nothing); TTL; fingerprints surviving completion; 50 goroutines racing
// for one key; very long and non-UTF-8 keys; binary results; Extend
// renewing a claim and fenced like Complete (extend.go); batch operations
// when the store implements idempotency.BatchStore (batch.go); the
// middleware and Do on the store end to end (middleware.go); cancelled
// contexts and an unreachable backend failing loudly (faults.go).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/eventfn/eventfn/idempotency"
)

// Harness makes stores for the suite.
type Harness struct {
	// New returns a store on the real backend. Stores from several calls may
	// share the backend: the suite uses fresh random keys in every test.
	New func(t *testing.T) idempotency.Store
	// Unreachable returns a store whose backend cannot be reached (a closed
	// port, say). Nil skips the unreachable tests.
	Unreachable func(t *testing.T) idempotency.Store
	// LeaseGranularity is the smallest lease the backend honours reliably.
	// Default: 200ms.
	LeaseGranularity time.Duration
}

func key(t *testing.T) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "storetest/" + t.Name() + "/" + hex.EncodeToString(b[:])
}

const long = 10 * time.Second

var ctx = context.Background()

// claim claims k and checks the answer's shape.
func claim(t *testing.T, s idempotency.Store, k, fp string, lease time.Duration) idempotency.Claim {
	t.Helper()
	c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: fp, Lease: lease})
	if err != nil {
		t.Fatalf("Claim(%q): %v", k, err)
	}
	checkClaim(t, c)
	return c
}

// mustAcquire claims k and fails t unless the claim is acquired.
func mustAcquire(t *testing.T, s idempotency.Store, k, fp string, lease time.Duration) string {
	t.Helper()
	c := claim(t, s, k, fp, lease)
	if !c.Acquired || c.Token == "" {
		t.Fatalf("Claim(%q) = %+v, want acquired with a token", k, c)
	}
	return c.Token
}

func mustGet(t *testing.T, s idempotency.Store, k string) idempotency.Record {
	t.Helper()
	r, err := s.Get(ctx, k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return r
}

// property is one property of the Store contract: its test is named
// after it, so a store that fails names the property it broke.
type property struct {
	name string
	test func(t *testing.T, h Harness)
}

// properties are the properties every store has, in the order Run checks
// them.
var properties = []property{
	{"CompletedRecordBlocksClaimsWithItsFingerprintAndResult", testCompleteKeepsFingerprintAndResult},
	{"ReleaseFreesTheKeyForTheNextClaim", testReleaseFreesTheKey},
	{"InProgressBlocksClaimsInsideTheLease", testInProgressBlocksInsideTheLease},
	{"ExpiredLeaseIsTakenOverAndTheOldTokenFenced", testExpiredLeaseIsTakenOver},
	{"CompleteAndReleaseAreFencedByTheToken", testCompleteAndReleaseAreFenced},
	{"CompletedRecordHoldsUntilItsTTL", testCompletedRecordsExpire},
	{"OtherFingerprintIsReportedNeverOverwritten", testFingerprintIsNeverOverwritten},
	{"ClaimIsExclusiveAmongRacers", testClaimIsExclusive},
	{"CancelledContextReturnsPromptly", testCancelledContext},
	{"LongAndNonUTF8KeysWork", testUnusualKeys},
	{"BinaryResultsAndFingerprintsRoundTrip", testBinaryValues},
	{"GetOfAnAbsentKeyIsNotFound", testGetAbsent},
	{"ExtendKeepsTheClaimPastItsLease", testExtendKeepsTheClaimPastItsLease},
	{"ExtendWithAStaleTokenIsLeaseLost", testExtendWithAStaleTokenIsLeaseLost},
	{"ExtendAfterTheLeaseIsLeaseLost", testExtendAfterExpiryIsLeaseLost},
	{"ExtendOfACompletedRecordIsLeaseLost", testExtendOfACompletedRecordIsLeaseLost},
	{"ExtendOfAnAbsentKeyIsLeaseLost", testExtendOfAnAbsentKeyIsLeaseLost},
	{"ExtendedBatchClaimsCompleteAndRelease", testExtendedBatchClaimsComplete},
	{"BatchAnswersEachItemInOrder", testBatchAnswersEachItemInOrder},
	{"MiddlewareRunsEachKeyOnce", testMiddlewareRunsEachKeyOnce},
	{"DoReturnsTheFirstCallsResult", testDoReturnsTheFirstResult},
}

// Run runs the conformance suite against h: one subtest per property,
// named after it (TestConformance/ClaimIsExclusiveAmongRacers), and
// UnreachableBackendIsAnError when h.Unreachable is set.
func Run(t *testing.T, h Harness) {
	if h.LeaseGranularity <= 0 {
		h.LeaseGranularity = 200 * time.Millisecond
	}
	for _, p := range properties {
		t.Run(p.name, func(t *testing.T) { p.test(t, h) })
	}
	if h.Unreachable != nil {
		t.Run("UnreachableBackendIsAnError", func(t *testing.T) { testUnreachableIsAnError(t, h) })
	}
}

// checkClaim fails t unless c is shaped as Claim documents: acquired with a
// token and no record, or blocked by a record without a token.
func checkClaim(t *testing.T, c idempotency.Claim) {
	t.Helper()
	switch {
	case c.Acquired && (c.Token == "" || c.Existing != nil):
		t.Fatalf("acquired claim = %+v, want a token and no Existing record", c)
	case !c.Acquired && (c.Token != "" || c.Existing == nil):
		t.Fatalf("blocked claim = %+v, want the Existing record and no token", c)
	}
}
