package dynamostore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/dynamostore"
)

// Run against DynamoDB Local, so the numbers are its cost on this machine
// plus the store's; against DynamoDB each call is a network round trip.

func BenchmarkClaimComplete(b *testing.B) {
	endpoint, table := sharedTable(b)
	s := dynamostore.New(newClient(endpoint, nil), table, nil)
	prefix := randKey(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := fmt.Sprintf("%s/%d", prefix, i)
		i++
		c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
		if err != nil || !c.Acquired {
			b.Fatal(c, err)
		}
		if err := s.Complete(ctx, k, c.Token, []byte(`{"ok":true}`), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDuplicateClaim measures a claim that finds a completed record:
// one conditional PutItem that fails and returns the record.
func BenchmarkDuplicateClaim(b *testing.B) {
	endpoint, table := sharedTable(b)
	s := dynamostore.New(newClient(endpoint, nil), table, nil)
	k := randKey(b)
	c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
	if err != nil || !c.Acquired {
		b.Fatal(c, err)
	}
	if err := s.Complete(ctx, k, c.Token, []byte(`{"ok":true}`), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
		if err != nil || c.Acquired || c.Existing.Status != idempotency.StatusCompleted {
			b.Fatal(c, err)
		}
	}
}

// BenchmarkBatch10 claims and completes a batch of 10 keys, as the
// middleware does for a 10-message SQS batch.
func BenchmarkBatch10(b *testing.B) {
	endpoint, table := sharedTable(b)
	s := dynamostore.New(newClient(endpoint, nil), table, nil)
	prefix := randKey(b)
	reqs := make([]idempotency.ClaimRequest, 10)
	comps := make([]idempotency.Completion, 10)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range reqs {
			reqs[i] = idempotency.ClaimRequest{Key: fmt.Sprintf("%s/%d", prefix, n), Fingerprint: "fp", Lease: time.Minute}
			n++
		}
		claims, errs := s.ClaimBatch(ctx, reqs)
		for i, c := range claims {
			if errs[i] != nil || !c.Acquired {
				b.Fatal(c, errs[i])
			}
			comps[i] = idempotency.Completion{Key: reqs[i].Key, Token: c.Token, TTL: time.Hour}
		}
		for _, err := range s.CompleteBatch(ctx, comps) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// stubAPI answers every call with success, without a server, so
// BenchmarkStoreOverhead measures the store's own work (building
// expressions and items) apart from the SDK and the network.
type stubAPI struct{}

func (stubAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}
func (stubAPI) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return &dynamodb.PutItemOutput{}, nil
}
func (stubAPI) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return &dynamodb.UpdateItemOutput{}, nil
}
func (stubAPI) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return &dynamodb.DeleteItemOutput{}, nil
}

func BenchmarkStoreOverhead(b *testing.B) {
	s := dynamostore.New(stubAPI{}, "bench", nil)
	k := idempotency.HashKey("bench", "message-id")
	b.ReportAllocs()
	for b.Loop() {
		c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute})
		if err != nil || !c.Acquired {
			b.Fatal(c, err)
		}
		if err := s.Complete(ctx, k, c.Token, nil, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
