package middleware_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/adapters/sqs"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/testenv"
	"github.com/eventfn/eventfn/middleware"
)

func consumerSpans(spans []sdktrace.ReadOnlySpan) map[string]sdktrace.ReadOnlySpan {
	out := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindConsumer {
			out[attrMap(s.Attributes())["messaging.message.id"].AsString()] = s
		}
	}
	return out
}

// TestTraceHopProducerSQSConsumerOnFauxqs sends a message to a real SQS
// server (fauxqs) from inside a producer span, with the W3C traceparent
// InjectFunc wrote in its message attributes, receives it, builds the
// Lambda SQS event the way Lambda's poller does and invokes the SQS Lambda
// adapter with the default stack: the consumer span must continue the
// producer's trace. (fauxqs does not keep the AWSTraceHeader system
// attribute; TestTraceFromLambdasAWSTraceHeader covers it with a captured
// Lambda event.)
func TestTraceHopProducerSQSConsumerOnFauxqs(t *testing.T) {
	testenv.SQS(t)
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	c := awssqs.NewFromConfig(cfg)
	name := fmt.Sprintf("orders-%d", rand.Uint32())
	q, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	arn := qa.Attributes["QueueArn"]

	tp, rec := newTracing(t)
	pctx, producer := tp.Tracer("producer").Start(ctx, "send "+name, trace.WithSpanKind(trace.SpanKindProducer))
	in := &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(`{"id":"o-1"}`), MessageAttributes: map[string]types.MessageAttributeValue{}}
	middleware.InjectFunc(pctx, func(k, v string) {
		in.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	})
	producer.End()
	sent, err := c.SendMessage(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var recs []events.SQSMessage
	for len(recs) < 1 {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			t.Fatal("the message sent was not received")
		}
		for _, m := range out.Messages {
			attrs := map[string]events.SQSMessageAttribute{}
			for k, v := range m.MessageAttributes {
				attrs[k] = events.SQSMessageAttribute{DataType: aws.ToString(v.DataType), StringValue: v.StringValue}
			}
			recs = append(recs, events.SQSMessage{
				MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
				Attributes: m.Attributes, MessageAttributes: attrs, EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: "us-east-1",
			})
		}
	}

	var seen []trace.SpanContext
	h := handler.Chain(handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
		seen = append(seen, trace.SpanContextFromContext(ctx))
		return nil
	}), middleware.Defaults(&middleware.Options{Logger: quiet(), Tracing: &middleware.TracingOptions{TracerProvider: tp}, DisableMetrics: true}))
	resp, err := sqs.NewLambda(h, &sqs.Options{ReportBatchItemFailures: true}).HandleSQS(ctx, events.SQSEvent{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("HandleSQS = %+v, %v; want every message acknowledged", resp, err)
	}
	spans := consumerSpans(rec.Ended())
	s := spans[aws.ToString(sent.MessageId)]
	if s == nil {
		t.Fatalf("no consumer span for message %s; spans: %v", aws.ToString(sent.MessageId), spanNames(rec.Ended()))
	}
	if s.Name() != "process "+name || s.Parent().SpanID() != producer.SpanContext().SpanID() || s.SpanContext().TraceID() != producer.SpanContext().TraceID() {
		t.Errorf("consumer span %q parent %v trace %v; want \"process %s\" under the producer span %v", s.Name(), s.Parent().SpanID(), s.SpanContext().TraceID(), name, producer.SpanContext().SpanID())
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != producer.SpanContext().SpanID() {
		t.Errorf("links = %v, want the producer span", s.Links())
	}
	a := attrMap(s.Attributes())
	if a["messaging.system"].AsString() != "aws_sqs" || a["messaging.destination.name"].AsString() != name || a["messaging.message.id"].AsString() != aws.ToString(sent.MessageId) {
		t.Errorf("attributes = %v", s.Attributes())
	}
	if len(seen) != 1 || seen[0].SpanID() != s.SpanContext().SpanID() {
		t.Errorf("handlers saw span contexts %v", seen)
	}
}

// TestTraceHopPubSubPush posts a push request through a real HTTP server
// to the Pub/Sub push adapter: the consumer span continues the trace of
// the message's googclient_traceparent attribute, or of the request's
// traceparent header when the message has none.
func TestTraceHopPubSubPush(t *testing.T) {
	tp, rec := newTracing(t)
	h := handler.Chain(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }),
		middleware.Defaults(&middleware.Options{Logger: quiet(), Tracing: &middleware.TracingOptions{TracerProvider: tp}, DisableMetrics: true}))
	srv := httptest.NewServer(pubsub.NewPushHandler(h, nil))
	defer srv.Close()
	push := func(id, attrs, header string) {
		body := fmt.Sprintf(`{"message":{"data":%q,"messageId":%q,"publishTime":"2026-01-02T03:04:05Z","attributes":{%s}},"subscription":"projects/p/subscriptions/orders-push"}`,
			base64.StdEncoding.EncodeToString([]byte(`{"id":"o-1"}`)), id, attrs)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("traceparent", header)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("push %s: status %d", id, resp.StatusCode)
		}
	}
	push("p-1", `"googclient_traceparent":"`+traceparent+`"`, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	push("p-2", `"k":"v"`, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	push("p-3", `"traceparent":"00-zz-zz-01"`, "")
	spans := consumerSpans(rec.Ended())
	for id, want := range map[string]string{"p-1": traceID, "p-2": "0af7651916cd43dd8448eb211c80319c"} {
		s := spans[id]
		if s == nil {
			t.Fatalf("no span for %s", id)
		}
		if s.Name() != "process orders-push" || s.Parent().TraceID().String() != want || attrMap(s.Attributes())["messaging.system"].AsString() != "gcp_pubsub" {
			t.Errorf("%s: span %q parent trace %v, want \"process orders-push\" continuing %s", id, s.Name(), s.Parent().TraceID(), want)
		}
	}
	if s := spans["p-3"]; s == nil || s.Parent().IsValid() {
		t.Errorf("the malformed traceparent's message: span %v, want a new root span", s)
	}
}

// TestTraceFromLambdasAWSTraceHeader invokes the SQS Lambda adapter with
// the adapter's captured Lambda SQS event, whose record carries an
// AWSTraceHeader system attribute.
func TestTraceFromLambdasAWSTraceHeader(t *testing.T) {
	payload, err := os.ReadFile("../adapters/sqs/testdata/sqs-event.json")
	if err != nil {
		t.Fatal(err)
	}
	tp, rec := newTracing(t)
	h := handler.Chain(handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil }),
		middleware.Defaults(&middleware.Options{Logger: quiet(), Tracing: &middleware.TracingOptions{TracerProvider: tp}, DisableMetrics: true}))
	if _, err := sqs.NewLambda(h, &sqs.Options{ReportBatchItemFailures: true}).Invoke(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range rec.Ended() {
		if s.SpanKind() != trace.SpanKindConsumer || !s.Parent().IsValid() {
			continue
		}
		found = true
		if s.SpanContext().TraceID().String() != "673b0f600123456789abcdef01234567" || s.Parent().SpanID().String() != "53995c3f42cd8ad8" || len(s.Links()) != 1 {
			t.Errorf("span %q: trace %v parent %v links %v; want the AWSTraceHeader's trace and parent", s.Name(), s.SpanContext().TraceID(), s.Parent().SpanID(), s.Links())
		}
	}
	if !found {
		t.Errorf("no consumer span continues the AWSTraceHeader; spans %v", spanNames(rec.Ended()))
	}
}
