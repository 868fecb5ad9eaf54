package sqs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/handler"
)

const testARN = "arn:aws:sqs:us-east-1:123456789012:orders"

// rec builds an SQS record with a receive count of 1.
func rec(id, body string) events.SQSMessage {
	return events.SQSMessage{
		MessageId:      id,
		ReceiptHandle:  "rh-" + id,
		Body:           body,
		Attributes:     map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1731900000000"},
		EventSource:    "aws:sqs",
		EventSourceARN: testARN,
		AWSRegion:      "us-east-1",
	}
}

func payload(t testing.TB, recs ...events.SQSMessage) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(events.SQSEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readTestdata(t testing.TB, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func failureIDs(resp events.SQSEventResponse) []string {
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// recorder is a handler that records the messages it saw and returns the
// error chosen by fn (nil fn: success).
type recorder struct {
	mu   sync.Mutex
	seen []*handler.Message
	fn   func(m *handler.Message) error
}

func (r *recorder) Handle(ctx context.Context, m *handler.Message) error {
	r.mu.Lock()
	r.seen = append(r.seen, m)
	r.mu.Unlock()
	if r.fn == nil {
		return nil
	}
	return r.fn(m)
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []string{}
	for _, m := range r.seen {
		out = append(out, m.ID)
	}
	slices.Sort(out)
	return out
}

func (r *recorder) byID(id string) *handler.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.seen {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// visChange is one entry of a ChangeMessageVisibilityBatch call.
type visChange struct {
	Queue, ReceiptHandle string
	Seconds              int32
}

// fakeClient records the SQS calls the adapter makes.
type fakeClient struct {
	mu       sync.Mutex
	vis      []visChange
	sent     []*awssqs.SendMessageInput
	deleted  []string
	visErr   error
	sendErr  error
	onVis    func(in *awssqs.ChangeMessageVisibilityBatchInput)
	receives chan []types.Message
	// entryFaults fails the batch entries (delete or visibility change) of
	// these receipt handles, each fault once, as SQS reports them per entry.
	entryFaults map[string][]types.BatchResultErrorEntry
}

// entryFault pops the next per-entry failure for a receipt handle, with the
// entry's Id. Call with f.mu held.
func (f *fakeClient) entryFault(id, rh *string) *types.BatchResultErrorEntry {
	fs := f.entryFaults[*rh]
	if len(fs) == 0 {
		return nil
	}
	e := fs[0]
	f.entryFaults[*rh] = fs[1:]
	e.Id = id
	return &e
}

func (f *fakeClient) ChangeMessageVisibilityBatch(ctx context.Context, in *awssqs.ChangeMessageVisibilityBatchInput, _ ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityBatchOutput, error) {
	f.mu.Lock()
	out := &awssqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		if fault := f.entryFault(e.Id, e.ReceiptHandle); fault != nil && f.visErr == nil {
			out.Failed = append(out.Failed, *fault)
			continue
		}
		f.vis = append(f.vis, visChange{*in.QueueUrl, *e.ReceiptHandle, e.VisibilityTimeout})
	}
	cb, err := f.onVis, f.visErr
	f.mu.Unlock()
	if cb != nil {
		cb(in)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (f *fakeClient) SendMessage(ctx context.Context, in *awssqs.SendMessageInput, _ ...func(*awssqs.Options)) (*awssqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sendErr != nil {
		return nil, f.sendErr
	}
	f.sent = append(f.sent, in)
	return &awssqs.SendMessageOutput{}, nil
}

func (f *fakeClient) ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, _ ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error) {
	select {
	case msgs := <-f.receives:
		return &awssqs.ReceiveMessageOutput{Messages: msgs}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeClient) DeleteMessageBatch(ctx context.Context, in *awssqs.DeleteMessageBatchInput, _ ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &awssqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		if fault := f.entryFault(e.Id, e.ReceiptHandle); fault != nil {
			out.Failed = append(out.Failed, *fault)
			continue
		}
		f.deleted = append(f.deleted, *e.ReceiptHandle)
	}
	return out, nil
}

func (f *fakeClient) visChanges() []visChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.vis)
}

func (f *fakeClient) sentMessages() []*awssqs.SendMessageInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

func (f *fakeClient) deletedHandles() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.deleted)
	slices.Sort(out)
	return out
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

type awssqsVisIn = awssqs.ChangeMessageVisibilityBatchInput

type missingQueue struct{ fakeClient }

func (m *missingQueue) ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, _ ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error) {
	return nil, &types.QueueDoesNotExist{}
}
