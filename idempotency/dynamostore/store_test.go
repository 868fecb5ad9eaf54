package dynamostore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/dynamostore"
	"github.com/eventfn/eventfn/idempotency/storetest"
	"github.com/eventfn/eventfn/internal/testenv"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) idempotency.Store {
			endpoint, table := sharedTable(t)
			return dynamostore.New(newClient(endpoint, nil), table, nil)
		},
		Unreachable: func(t *testing.T) idempotency.Store {
			endpoint := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)) // nothing listens there
			return dynamostore.New(newClient(endpoint, nil), "unreachable", nil)
		},
	})
}

var ctx = context.Background()

func TestAFailedClaimIsOneCallThatReturnsTheRecord(t *testing.T) {
	endpoint, table := sharedTable(t)
	c := newCounter()
	s := dynamostore.New(newClient(endpoint, c), table, nil)
	tests := []struct {
		name     string
		complete bool
		want     idempotency.Status
	}{
		{"held by a live claim", false, idempotency.StatusInProgress},
		{"completed", true, idempotency.StatusCompleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := randKey(t)
			first, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
			if err != nil || !first.Acquired {
				t.Fatalf("first claim = %+v, %v", first, err)
			}
			if tt.complete {
				if err := s.Complete(ctx, k, first.Token, []byte("result"), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			c.reset()
			second, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if ops := c.reset(); len(ops) != 1 || ops["PutItem"] != 1 {
				t.Fatalf("failed claim made requests %v, want one PutItem", ops)
			}
			if second.Acquired || second.Existing.Status != tt.want || second.Existing.Fingerprint != "fp" || second.Existing.Token != "" {
				t.Fatalf("second claim = %+v, want %v with fp and no token", second, tt.want)
			}
			if tt.complete && (string(second.Existing.Result) != "result" || second.Existing.Expiry.IsZero()) {
				t.Fatalf("completed record = %+v, want result and expiry", second.Existing)
			}
			if !tt.complete && second.Existing.LeaseExpiry.IsZero() {
				t.Fatalf("in-progress record = %+v, want a lease expiry", second.Existing)
			}
		})
	}
}

// rawItem reads an item as it is in the table, past any expiry.
func rawItem(t *testing.T, client *dynamodb.Client, table, attr, pk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{attr: &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func num(t *testing.T, item map[string]types.AttributeValue, attr string) int64 {
	t.Helper()
	n, ok := item[attr].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("item %v has no number %q", item, attr)
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestExpiredRecordsThatTTLHasNotDeletedAreFree(t *testing.T) {
	endpoint, table := sharedTable(t)
	client := newClient(endpoint, nil)
	clk := &clock{t: time.Now()}
	s := dynamostore.New(client, table, &dynamostore.Options{Now: clk.Now})

	t.Run("a completed record past its TTL", func(t *testing.T) {
		k := randKey(t)
		c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
		if err != nil || !c.Acquired {
			t.Fatal(c, err)
		}
		if err := s.Complete(ctx, k, c.Token, []byte("r"), time.Hour); err != nil {
			t.Fatal(err)
		}
		clk.Add(2 * time.Hour)
		if rawItem(t, client, table, "pk", k) == nil {
			t.Fatal("the expired item is already gone; the test needs it in the table")
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
			t.Fatalf("Get of an expired record: err = %v, want ErrNotFound", err)
		}
		c, err = s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp2", Lease: time.Minute})
		if err != nil || !c.Acquired {
			t.Fatalf("claim of an expired record = %+v, %v; want acquired", c, err)
		}
		if r, err := s.Get(ctx, k); err != nil || r.Status != idempotency.StatusInProgress || r.Fingerprint != "fp2" || r.Result != nil {
			t.Fatalf("record after the new claim = %+v, %v", r, err)
		}
	})

	t.Run("an IN_PROGRESS record past its lease", func(t *testing.T) {
		k := randKey(t)
		old, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
		if err != nil || !old.Acquired {
			t.Fatal(old, err)
		}
		clk.Add(59 * time.Second)
		if c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute}); err != nil || c.Acquired {
			t.Fatalf("claim inside the lease = %+v, %v; want blocked", c, err)
		}
		clk.Add(2 * time.Second)
		if _, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
			t.Fatalf("Get past the lease: err = %v, want ErrNotFound", err)
		}
		if err := s.Complete(ctx, k, old.Token, nil, time.Hour); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Complete past the lease: err = %v, want ErrLeaseLost", err)
		}
		if err := s.Release(ctx, k, old.Token); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Release past the lease: err = %v, want ErrLeaseLost", err)
		}
		c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
		if err != nil || !c.Acquired {
			t.Fatalf("takeover = %+v, %v", c, err)
		}
	})
}

func TestItemLayout(t *testing.T) {
	endpoint, table := sharedTable(t)
	client := newClient(endpoint, nil)
	now := time.UnixMilli(1_900_000_000_250) // a quarter second past a whole second
	s := dynamostore.New(client, table, &dynamostore.Options{Now: func() time.Time { return now }})
	k := randKey(t)
	c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: 30 * time.Second})
	if err != nil || !c.Acquired {
		t.Fatal(c, err)
	}
	item := rawItem(t, client, table, "pk", k)
	if got := num(t, item, "expiry_ms"); got != now.Add(30*time.Second).UnixMilli() {
		t.Errorf("claim expiry_ms = %d", got)
	}
	if got := num(t, item, "expiry"); got != 1_900_000_031 {
		t.Errorf("claim expiry = %d, want the lease end in seconds rounded up", got)
	}
	if err := s.Complete(ctx, k, c.Token, nil, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	item = rawItem(t, client, table, "pk", k)
	if got := num(t, item, "expiry"); got != 1_900_000_001+24*3600 {
		t.Errorf("completed expiry = %d", got)
	}
	if st := item["status"].(*types.AttributeValueMemberS).Value; st != "COMPLETED" {
		t.Errorf("status = %q", st)
	}
	if fp := item["fingerprint"].(*types.AttributeValueMemberS).Value; fp != "fp" {
		t.Errorf("fingerprint = %q, want it kept", fp)
	}
	if _, ok := item["result"]; ok {
		t.Errorf("an empty result was stored: %v", item["result"])
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "expiry" {
		t.Errorf("TTL = %+v, want enabled on expiry", d)
	}
}

func TestKeysDynamoDBCannotStoreAreHashedWithoutCollisions(t *testing.T) {
	endpoint, table := sharedTable(t)
	client := newClient(endpoint, nil)
	s := dynamostore.New(client, table, nil)
	long := randKey(t) + strings.Repeat("x", 3000)
	sum := sha256.Sum256([]byte(long))
	hashedForm := "#sha256:" + hex.EncodeToString(sum[:])
	for _, k := range []string{long, hashedForm} {
		if c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: k[:20], Lease: time.Minute}); err != nil || !c.Acquired {
			t.Fatalf("claim of %.30q = %+v, %v; want acquired (its own item)", k, c, err)
		}
	}
	if rawItem(t, client, table, "pk", hashedForm) == nil {
		t.Fatal("the long key is not stored under its documented hashed form")
	}
	// Another Store (another process) maps the key to the same item.
	other := dynamostore.New(newClient(endpoint, nil), table, nil)
	if r, err := other.Get(ctx, long); err != nil || r.Fingerprint != long[:20] || r.Key != long {
		t.Fatalf("Get of the long key from another store = %+v, %v", r, err)
	}
	if c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: "", Fingerprint: "empty", Lease: time.Minute}); err != nil {
		t.Fatalf("claim of the empty key: %v", err)
	} else if c.Acquired {
		_ = s.Release(ctx, "", c.Token)
	}
}

func TestMalformedRecordsAreStoreErrors(t *testing.T) {
	endpoint, table := sharedTable(t)
	client := newClient(endpoint, nil)
	s := dynamostore.New(client, table, nil)
	future := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	tests := []struct {
		name string
		item map[string]types.AttributeValue
	}{
		{"unknown status", map[string]types.AttributeValue{
			"status": &types.AttributeValueMemberS{Value: "DONE-ISH"}, "expiry_ms": &types.AttributeValueMemberN{Value: future}}},
		{"status of the wrong type", map[string]types.AttributeValue{
			"status": &types.AttributeValueMemberN{Value: "1"}, "expiry_ms": &types.AttributeValueMemberN{Value: future}}},
		{"no expiry", map[string]types.AttributeValue{
			"status": &types.AttributeValueMemberS{Value: "COMPLETED"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := randKey(t)
			tt.item["pk"] = &types.AttributeValueMemberS{Value: k}
			if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: tt.item}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrStore) || !strings.Contains(err.Error(), "malformed") {
				t.Errorf("Get: err = %v, want a malformed-record store error", err)
			}
			c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
			if !errors.Is(err, idempotency.ErrStore) || c.Acquired {
				t.Errorf("Claim = %+v, %v; want a store error, not acquired", c, err)
			}
		})
	}
}

func TestClaimRejectsANonPositiveLease(t *testing.T) {
	endpoint, table := sharedTable(t)
	s := dynamostore.New(newClient(endpoint, nil), table, nil)
	for _, lease := range []time.Duration{0, -time.Second} {
		if c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: randKey(t), Lease: lease}); !errors.Is(err, idempotency.ErrStore) || c.Acquired {
			t.Errorf("Claim with lease %s = %+v, %v; want a store error", lease, c, err)
		}
	}
}

func TestCreateTable(t *testing.T) {
	opts := &dynamostore.Options{KeyAttribute: "id", ExpiryAttribute: "ttl"}
	client, table := freshTable(t, opts)

	t.Run("is idempotent", func(t *testing.T) {
		if err := dynamostore.CreateTable(ctx, client, table, opts); err != nil {
			t.Fatalf("second CreateTable: %v", err)
		}
	})
	t.Run("refuses a table whose TTL is on another attribute", func(t *testing.T) {
		err := dynamostore.CreateTable(ctx, client, table, &dynamostore.Options{KeyAttribute: "id", ExpiryAttribute: "other"})
		if !errors.Is(err, idempotency.ErrStore) {
			t.Fatalf("err = %v, want a store error", err)
		}
	})
	t.Run("stores use the custom attribute names", func(t *testing.T) {
		s := dynamostore.New(client, table, opts)
		k := randKey(t)
		c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
		if err != nil || !c.Acquired {
			t.Fatal(c, err)
		}
		if err := s.Complete(ctx, k, c.Token, []byte("r"), time.Hour); err != nil {
			t.Fatal(err)
		}
		item := rawItem(t, client, table, "id", k)
		if _, ok := item["ttl"]; !ok {
			t.Fatalf("item %v has no ttl attribute", item)
		}
	})
	t.Run("reports an unreachable endpoint", func(t *testing.T) {
		bad := newClient(fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)), nil)
		if err := dynamostore.CreateTable(ctx, bad, "x-table", nil); !errors.Is(err, idempotency.ErrStore) {
			t.Fatalf("err = %v, want a store error", err)
		}
	})
}
