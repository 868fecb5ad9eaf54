package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventfn/eventfn/idempotency"
)

var _ idempotency.BatchStore = (*Store)(nil)

// API is the part of *dynamodb.Client that a Store uses. Tests and
// instrumented clients may supply their own.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Options configure a Store. The zero value is ready to use; attribute names
// must match the table (see CreateTable).
type Options struct {
	// KeyAttribute is the table's partition key, a string. Default: "pk".
	KeyAttribute string
	// ExpiryAttribute holds the record's expiry in epoch seconds; enable
	// DynamoDB TTL on it. Default: "expiry".
	ExpiryAttribute string
	// ExpiryMillisAttribute holds the same expiry in epoch milliseconds: the
	// one the Store's conditions and reads compare, since TTL deletes lazily
	// and counts whole seconds. Default: "expiry_ms".
	ExpiryMillisAttribute string
	// StatusAttribute holds "IN_PROGRESS" or "COMPLETED". Default: "status".
	StatusAttribute string
	// TokenAttribute holds the fencing token. Default: "token".
	TokenAttribute string
	// FingerprintAttribute holds the payload fingerprint. Default:
	// "fingerprint".
	FingerprintAttribute string
	// ResultAttribute holds the stored result, binary. Default: "result".
	ResultAttribute string
	// Concurrency bounds the calls a batch method runs at once. Default: 10,
	// the SDK's idle connections per host.
	Concurrency int
	// Now is the clock that leases and expiries are measured with. Default:
	// time.Now. Clients' clocks must roughly agree: a lease is taken over
	// when the taker's clock says it has expired.
	Now func() time.Time
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&r.KeyAttribute, "pk")
	def(&r.ExpiryAttribute, "expiry")
	def(&r.ExpiryMillisAttribute, "expiry_ms")
	def(&r.StatusAttribute, "status")
	def(&r.TokenAttribute, "token")
	def(&r.FingerprintAttribute, "fingerprint")
	def(&r.ResultAttribute, "result")
	if r.Concurrency <= 0 {
		r.Concurrency = 10
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

// Store is an idempotency.BatchStore on one DynamoDB table, one item per
// key. It is safe for concurrent use.
type Store struct {
	client API
	table  string
	o      Options
	names  map[string]string // expression attribute names
}

// New returns a Store on table through client, typically a
// *dynamodb.Client. It makes no call: create the table with CreateTable or
// infrastructure code (see the package doc).
func New(client API, table string, opts *Options) *Store {
	o := opts.withDefaults()
	return &Store{client: client, table: table, o: o, names: map[string]string{
		"#pk":  o.KeyAttribute,
		"#st":  o.StatusAttribute,
		"#tok": o.TokenAttribute,
		"#exp": o.ExpiryMillisAttribute,
	}}
}

// names returns the expression attribute names for the given placeholders.
func (s *Store) exprNames(ph ...string) map[string]string {
	m := make(map[string]string, len(ph))
	for _, p := range ph {
		m[p] = s.names[p]
	}
	return m
}

func (s *Store) storeErr(op, key string, err error) error {
	return fmt.Errorf("%w: dynamostore: %s %.80q: %w", idempotency.ErrStore, op, key, err)
}

// maxClaimAttempts bounds the rare loop where a claim's condition fails on a
// record that is gone by the time ALL_OLD would report it.
const maxClaimAttempts = 3

// Claim implements idempotency.Store with one conditional PutItem: it
// writes an IN_PROGRESS item if there is none, or if the one there has
// expired (a COMPLETED record past its TTL, or an IN_PROGRESS record past its
// lease). When the condition fails, DynamoDB returns the blocking item with
// the failure (ReturnValuesOnConditionCheckFailure=ALL_OLD), so a duplicate
// costs one call.
func (s *Store) Claim(ctx context.Context, req idempotency.ClaimRequest) (idempotency.Claim, error) {
	if req.Lease <= 0 {
		return idempotency.Claim{}, s.storeErr("claim", req.Key, fmt.Errorf("lease must be positive, got %s", req.Lease))
	}
	pk := storageKey(req.Key)
	for range maxClaimAttempts {
		now := s.o.Now()
		tok := idempotency.NewToken()
		exp := now.Add(req.Lease)
		item := map[string]types.AttributeValue{
			s.o.KeyAttribute:          &types.AttributeValueMemberS{Value: pk},
			s.o.StatusAttribute:       &types.AttributeValueMemberS{Value: idempotency.StatusInProgress.String()},
			s.o.TokenAttribute:        &types.AttributeValueMemberS{Value: tok},
			s.o.ExpiryMillisAttribute: millis(exp),
			s.o.ExpiryAttribute:       ttlSeconds(exp),
		}
		if req.Fingerprint != "" {
			item[s.o.FingerprintAttribute] = fingerprintValue(req.Fingerprint)
		}
		// A lease has ended, or a completed record has expired, when its
		// expiry_ms is past: both live in one attribute, so one comparison
		// covers "expired OR (in progress AND lease expired)".
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                           &s.table,
			Item:                                item,
			ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #exp <= :now"),
			ExpressionAttributeNames:            s.exprNames("#pk", "#exp"),
			ExpressionAttributeValues:           map[string]types.AttributeValue{":now": millis(now)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return idempotency.Claim{Acquired: true, Token: tok}, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return idempotency.Claim{}, s.storeErr("claim", req.Key, err)
		}
		if len(ccf.Item) == 0 {
			// The service did not return the item: read it.
			rec, err := s.get(ctx, req.Key, pk, now)
			if errors.Is(err, idempotency.ErrNotFound) {
				continue // gone meanwhile: try again
			}
			if err != nil {
				return idempotency.Claim{}, err
			}
			return idempotency.Claim{Existing: &rec}, nil
		}
		rec, err := s.decode(req.Key, ccf.Item)
		if err != nil {
			return idempotency.Claim{}, s.storeErr("claim", req.Key, err)
		}
		if rec.Status == idempotency.StatusInProgress && rec.Token == tok {
			// The SDK retried a PutItem whose first attempt was written but
			// whose response was lost (a timeout, a reset connection): the
			// item blocking this attempt is our own claim.
			return idempotency.Claim{Acquired: true, Token: tok}, nil
		}
		rec.Token = ""
		return idempotency.Claim{Existing: &rec}, nil
	}
	return idempotency.Claim{}, s.storeErr("claim", req.Key, errors.New("record kept changing during the claim"))
}

// Complete implements idempotency.Store with one UpdateItem conditioned on
// the token, the IN_PROGRESS status and an unexpired lease. The fingerprint
// stays; the expiry becomes now+ttl in both expiry attributes.
func (s *Store) Complete(ctx context.Context, key, token string, result []byte, ttl time.Duration) error {
	if token == "" {
		return fmt.Errorf("%w: dynamostore: complete: key %.80q: empty token", idempotency.ErrLeaseLost, key)
	}
	now := s.o.Now()
	exp := now.Add(ttl)
	// The token is replaced by a fresh one: a second Complete with the
	// claim's token fails, but an SDK retry of this very request, whose
	// first attempt was applied, finds its own completion token and succeeds.
	done := idempotency.NewToken()
	update := "SET #st = :completed, #tok = :done, #exp = :exp, #ttl = :ttl"
	names := s.exprNames("#st", "#tok", "#exp")
	names["#ttl"] = s.o.ExpiryAttribute
	names["#res"] = s.o.ResultAttribute
	values := map[string]types.AttributeValue{
		":completed":  &types.AttributeValueMemberS{Value: idempotency.StatusCompleted.String()},
		":inprogress": &types.AttributeValueMemberS{Value: idempotency.StatusInProgress.String()},
		":done":       &types.AttributeValueMemberS{Value: done},
		":token":      &types.AttributeValueMemberS{Value: token},
		":exp":        millis(exp),
		":ttl":        ttlSeconds(exp),
		":now":        millis(now),
	}
	if len(result) > 0 {
		update += ", #res = :res"
		values[":res"] = &types.AttributeValueMemberB{Value: result}
	} else {
		update += " REMOVE #res"
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.table,
		Key:                                 s.keyOf(key),
		UpdateExpression:                    &update,
		ConditionExpression:                 aws.String("#tok = :token AND #st = :inprogress AND #exp > :now"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return s.storeErr("complete", key, err)
	}
	if tokenOf(ccf.Item, s.o.TokenAttribute) == done {
		return nil // our own retried request, applied by its first attempt
	}
	return s.leaseLost("complete", key, ccf.Item, now)
}

// Release implements idempotency.Store with one DeleteItem conditioned on
// the token, the IN_PROGRESS status and an unexpired lease.
func (s *Store) Release(ctx context.Context, key, token string) error {
	if token == "" {
		return fmt.Errorf("%w: dynamostore: release: key %.80q: empty token", idempotency.ErrLeaseLost, key)
	}
	now := s.o.Now()
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                &s.table,
		Key:                      s.keyOf(key),
		ConditionExpression:      aws.String("#tok = :token AND #st = :inprogress AND #exp > :now"),
		ExpressionAttributeNames: s.exprNames("#st", "#tok", "#exp"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":inprogress": &types.AttributeValueMemberS{Value: idempotency.StatusInProgress.String()},
			":token":      &types.AttributeValueMemberS{Value: token},
			":now":        millis(now),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return s.storeErr("release", key, err)
	}
	return s.leaseLost("release", key, ccf.Item, now)
}

// Extend implements idempotency.Store with one UpdateItem conditioned, as
// Complete, on the token, the IN_PROGRESS status and an unexpired lease: it
// moves the lease to now+lease in both expiry attributes. An SDK retry of a
// request whose first attempt was applied passes the same condition again.
func (s *Store) Extend(ctx context.Context, key, token string, lease time.Duration) error {
	if token == "" {
		return fmt.Errorf("%w: dynamostore: extend: key %.80q: empty token", idempotency.ErrLeaseLost, key)
	}
	if lease <= 0 {
		return s.storeErr("extend", key, fmt.Errorf("lease must be positive, got %s", lease))
	}
	now := s.o.Now()
	exp := now.Add(lease)
	names := s.exprNames("#st", "#tok", "#exp")
	names["#ttl"] = s.o.ExpiryAttribute
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      s.keyOf(key),
		UpdateExpression:         aws.String("SET #exp = :exp, #ttl = :ttl"),
		ConditionExpression:      aws.String("#tok = :token AND #st = :inprogress AND #exp > :now"),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":inprogress": &types.AttributeValueMemberS{Value: idempotency.StatusInProgress.String()},
			":token":      &types.AttributeValueMemberS{Value: token},
			":exp":        millis(exp),
			":ttl":        ttlSeconds(exp),
			":now":        millis(now),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return s.storeErr("extend", key, err)
	}
	return s.leaseLost("extend", key, ccf.Item, now)
}

// leaseLost explains why a token-fenced write found its condition false.
func (s *Store) leaseLost(op, key string, old map[string]types.AttributeValue, now time.Time) error {
	why := "has no record"
	if len(old) > 0 {
		why = "is held by another claim"
		if rec, err := s.decode(key, old); err == nil && rec.Status == idempotency.StatusInProgress && !now.Before(rec.LeaseExpiry) {
			why = "lease expired"
		}
	}
	return fmt.Errorf("%w: dynamostore: %s: key %.80q %s", idempotency.ErrLeaseLost, op, key, why)
}

// Get implements idempotency.Store with a strongly consistent GetItem. A
// record past its expiry is reported as not found, whether or not DynamoDB's
// TTL has deleted it yet.
func (s *Store) Get(ctx context.Context, key string) (idempotency.Record, error) {
	rec, err := s.get(ctx, key, storageKey(key), s.o.Now())
	rec.Token = ""
	return rec, err
}

func (s *Store) get(ctx context.Context, key, pk string, now time.Time) (idempotency.Record, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            map[string]types.AttributeValue{s.o.KeyAttribute: &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return idempotency.Record{}, s.storeErr("get", key, err)
	}
	if len(out.Item) == 0 {
		return idempotency.Record{}, fmt.Errorf("%w: dynamostore: key %.80q", idempotency.ErrNotFound, key)
	}
	rec, err := s.decode(key, out.Item)
	if err != nil {
		return idempotency.Record{}, s.storeErr("get", key, err)
	}
	if !now.Before(rec.LeaseExpiry) && rec.Status == idempotency.StatusInProgress ||
		!now.Before(rec.Expiry) && rec.Status == idempotency.StatusCompleted {
		return idempotency.Record{}, fmt.Errorf("%w: dynamostore: key %.80q (expired)", idempotency.ErrNotFound, key)
	}
	return rec, nil
}

func (s *Store) keyOf(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{s.o.KeyAttribute: &types.AttributeValueMemberS{Value: storageKey(key)}}
}
