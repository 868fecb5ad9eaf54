package sqsdlq_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/dlq/internal/dlqtest"
	"github.com/eventfn/eventfn/dlq/sqsdlq"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
	"github.com/eventfn/eventfn/internal/testenv/sqstest"
)

// deadLetterPair creates a source queue whose RedrivePolicy moves a message
// to a new dead-letter queue on its second receive.
func deadLetterPair(t *testing.T, c *sqs.Client, fifo bool) (src, dead string) {
	t.Helper()
	name := fmt.Sprintf("orders-%d", rand.Uint32())
	suffix, attrs := "", map[string]string{}
	if fifo {
		suffix, attrs = ".fifo", map[string]string{"FifoQueue": "true"}
	}
	dead, deadARN := sqstest.CreateQueue(t, c, name+"-dlq"+suffix, attrs)
	srcAttrs := map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":1}`, deadARN)}
	for k, v := range attrs {
		srcAttrs[k] = v
	}
	src, _ = sqstest.CreateQueue(t, c, name+suffix, srcAttrs)
	return src, dead
}

// failAll sends n messages to src and receives them until the redrive
// policy moved all of them to dead, the way a consumer that always fails
// does. It returns the message IDs.
func failAll(t *testing.T, c *sqs.Client, src, dead string, n int, fifo bool) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := 0; i < n; i++ {
		in := &sqs.SendMessageInput{QueueUrl: &src, MessageBody: aws.String(fmt.Sprintf(`{"n":%d}`, i)),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"tenant":          {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprint("t", i%2))},
				handler.AttrError: {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprintf("payment %d declined", i))},
			}}
		if fifo {
			in.MessageGroupId = aws.String(fmt.Sprint("g", i%3))
			in.MessageDeduplicationId = aws.String(fmt.Sprint("d", i))
		}
		out, err := c.SendMessage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.MessageId)
	}
	deadline := time.Now().Add(30 * time.Second)
	for sqstest.Depth(t, c, dead) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages reached the dead-letter queue", sqstest.Depth(t, c, dead), n)
		}
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Messages { // the handler failed: visible again at once
			if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &src, ReceiptHandle: r.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

// consume receives everything on src through a consumer behind the
// idempotency middleware, deleting what it handled.
func consume(t *testing.T, c *sqs.Client, src string, cons *dlqtest.Consumer) {
	t.Helper()
	ctx := context.Background()
	for empty := 0; empty < 2; {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		for _, r := range out.Messages {
			m := &handler.Message{ID: *r.MessageId, Body: []byte(*r.Body), Attributes: map[string]string{}}
			for k, v := range r.MessageAttributes {
				m.Attributes[k] = aws.ToString(v.StringValue)
			}
			if g := r.Attributes["MessageGroupId"]; fifo(src) && g != fmt.Sprint("g", bodyN(t, *r.Body)%3) {
				t.Errorf("redriven %s has group %q, want the original g%d", *r.Body, g, bodyN(t, *r.Body)%3)
			}
			if err := cons.Handle(ctx, m); err != nil {
				t.Fatalf("consumer: %v", err)
			}
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &src, ReceiptHandle: r.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func fifo(url string) bool { return strings.HasSuffix(url, ".fifo") }

func bodyN(t *testing.T, body string) int {
	var n int
	if _, err := fmt.Sscanf(body, `{"n":%d}`, &n); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return n
}

func TestListPeekAndRedriveOnFauxqs(t *testing.T) {
	for _, fifo := range []bool{false, true} {
		t.Run(fmt.Sprint("fifo=", fifo), func(t *testing.T) {
			c := sqstest.Client(t)
			ctx := context.Background()
			src, dead := deadLetterPair(t, c, fifo)
			const n = 23
			ids := failAll(t, c, src, dead, n, fifo)

			qs, err := sqsdlq.List(ctx, c, "")
			if err != nil {
				t.Fatal(err)
			}
			var found *dlq.Queue
			for i := range qs {
				if qs[i].URL == dead {
					found = &qs[i]
				}
			}
			if found == nil || found.Depth != n || len(found.Sources) != 1 || found.Sources[0] != src {
				t.Fatalf("List: %+v; want %s with depth %d and source %s", found, dead, n, src)
			}

			d, err := sqsdlq.Open(ctx, c, dead, nil)
			if err != nil {
				t.Fatal(err)
			}
			peeked, err := d.Peek(ctx, 5)
			if err != nil || len(peeked) == 0 {
				t.Fatalf("Peek: %d messages, %v", len(peeked), err)
			}
			for _, m := range peeked {
				if m.Attributes["tenant"] == "" || m.Error == "" || m.DeliveryCount < 1 || len(m.Body) == 0 || m.Timestamp.IsZero() || (fifo && m.GroupID == "") {
					t.Errorf("peeked message lacks body, attributes, error, count, time or group: %+v", m)
				}
			}
			if got := sqstest.Depth(t, c, dead); got != n {
				t.Fatalf("depth after Peek = %d, want %d: Peek must not consume", got, n)
			}

			if _, err := d.StartMoveTask(ctx, 0); !errors.Is(err, dlq.ErrUnsupported) {
				t.Fatalf("StartMoveTask on fauxqs: %v, want dlq.ErrUnsupported (the manual move is the fallback)", err)
			}

			// A FIFO dry run sees the head of each group only: the next
			// message of a group is delivered once the head is settled.
			wantDry, filter := n, &dlq.Filter{Attributes: map[string]string{"tenant": "t0"}, ErrorContains: "declined"}
			if fifo {
				wantDry, filter = 3, &dlq.Filter{ErrorContains: "declined"}
			}
			dry, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{DryRun: true})
			if err != nil || dry.Selected != wantDry || dry.Moved != 0 || sqstest.Depth(t, c, dead) != n || sqstest.Depth(t, c, src) != 0 {
				t.Fatalf("dry run: %+v, %v; dead %d, source %d", dry, err, sqstest.Depth(t, c, dead), sqstest.Depth(t, c, src))
			}
			filtered, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{Filter: filter, Max: 5})
			if err != nil || filtered.Moved != 5 {
				t.Fatalf("filtered redrive: %+v, %v", filtered, err)
			}
			rest, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{Rate: 200})
			if err != nil || rest.Moved != n-5 {
				t.Fatalf("redrive: %+v, %v", rest, err)
			}
			if got := sqstest.Depth(t, c, dead); got != 0 {
				t.Fatalf("dead-letter queue holds %d after the redrive", got)
			}
			cons := dlqtest.NewConsumer()
			consume(t, c, src, cons)
			effects, handled := cons.Effects()
			if handled != n {
				t.Errorf("consumer saw %d messages, want %d", handled, n)
			}
			for _, id := range ids {
				if effects[id] != 1 {
					t.Errorf("message %s: %d effects, want 1", id, effects[id])
				}
			}
		})
	}
}

func TestQueueWithoutSourceIsAClearError(t *testing.T) {
	c := sqstest.Client(t)
	ctx := context.Background()
	lone, _ := sqstest.CreateQueue(t, c, fmt.Sprintf("lone-%d", rand.Uint32()), nil)
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &lone, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	d, err := sqsdlq.Open(ctx, c, lone, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sources(ctx); !errors.Is(err, dlq.ErrNoSource) {
		t.Fatalf("Sources: %v, want dlq.ErrNoSource", err)
	}
	st, err := dlq.Redrive(ctx, d, nil)
	if !errors.Is(err, dlq.ErrNoSource) || st.Moved != 0 || sqstest.Depth(t, c, lone) != 1 {
		t.Fatalf("Redrive: %+v, %v; depth %d", st, err, sqstest.Depth(t, c, lone))
	}
}

func TestMissingQueuesAreNotFound(t *testing.T) {
	c := sqstest.Client(t)
	ctx := context.Background()
	base := testenv.SQS(t)
	if _, err := sqsdlq.Open(ctx, c, base+"/000000000000/no-such-queue", nil); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("Open of a missing queue: %v, want dlq.ErrNotFound", err)
	}
	src, dead := deadLetterPair(t, c, false)
	failAll(t, c, src, dead, 3, false)
	d, err := sqsdlq.Open(ctx, c, dead, &sqsdlq.Options{Source: base + "/000000000000/deleted-target"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := dlq.Redrive(ctx, d, nil)
	if !errors.Is(err, dlq.ErrNotFound) || st.Moved != 0 {
		t.Fatalf("redrive to a missing target: %+v, %v; want dlq.ErrNotFound", st, err)
	}
	// The source is deleted after it was resolved: the send fails and the
	// message stays.
	d, err = sqsdlq.Open(ctx, c, dead, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sources(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &src}); err != nil {
		t.Fatal(err)
	}
	st, err = dlq.Redrive(ctx, d, nil)
	if !errors.Is(err, dlq.ErrNotFound) || st.Moved != 0 || sqstest.Depth(t, c, dead) != 3 {
		t.Fatalf("redrive to a deleted source: %+v, %v; dead-letter depth %d, want 3", st, err, sqstest.Depth(t, c, dead))
	}
}
