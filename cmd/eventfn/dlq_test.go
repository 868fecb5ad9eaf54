package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/internal/testenv"
	"github.com/eventfn/eventfn/internal/testenv/sqstest"
)

// dlqCLI runs eventfn dlq in process.
func dlqCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"dlq"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// effectCounter counts effects behind the idempotency middleware keyed on
// the original message ID (handler.AttrMessageID, else Message.ID).
type effectCounter struct {
	h       handler.Handler
	effects map[string]int
	handled int
}

func newEffectCounter() *effectCounter {
	c := &effectCounter{effects: map[string]int{}}
	key := idempotency.FromMessageID() // the default: it recognises a redriven copy
	c.h = idempotency.Middleware(memstore.New(nil), &idempotency.Options{Scope: "dlq-consumer"})(handler.HandlerFunc(func(_ context.Context, m *handler.Message) error {
		k, _ := key(m)
		c.effects[k]++
		return nil
	}))
	return c
}

func (c *effectCounter) handle(t *testing.T, m *handler.Message) {
	t.Helper()
	c.handled++
	if err := c.h.Handle(context.Background(), m); err != nil {
		t.Fatalf("consumer: %v", err)
	}
}

// check fails unless every id had exactly one effect and the consumer saw
// between len(ids) and len(ids)+dups messages.
func (c *effectCounter) check(t *testing.T, ids []string, dups int) {
	t.Helper()
	for _, id := range ids {
		if c.effects[id] != 1 {
			t.Errorf("message %s: %d effects, want exactly 1", id, c.effects[id])
		}
	}
	if c.handled < len(ids) || c.handled > len(ids)+dups {
		t.Errorf("consumer handled %d messages, want %d to %d", c.handled, len(ids), len(ids)+dups)
	}
}

// --- SQS on fauxqs ---

func sqsTestClient(t *testing.T) *sqs.Client {
	t.Helper()
	testenv.SQS(t)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	return sqs.NewFromConfig(cfg)
}

func sqsQueue(t *testing.T, c *sqs.Client, name string, attrs map[string]string) (string, string) {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	qa, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return *out.QueueUrl, qa.Attributes["QueueArn"]
}

// sqsDeadLetters creates a source queue with a redrive policy and n
// messages that failed into its dead-letter queue.
func sqsDeadLetters(t *testing.T, c *sqs.Client, n int) (src, dead string, ids []string) {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("cli-%d", rand.Uint32())
	dead, deadARN := sqsQueue(t, c, name+"-dlq", nil)
	src, _ = sqsQueue(t, c, name, map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":1}`, deadARN)})
	for i := 0; i < n; i++ {
		out, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &src, MessageBody: aws.String(fmt.Sprint("order ", i)),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"tenant":          {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprint("t", i%2))},
				handler.AttrError: {DataType: aws.String("String"), StringValue: aws.String("card declined")},
			}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.MessageId)
	}
	deadline := time.Now().Add(30 * time.Second)
	for sqstest.Depth(t, c, dead) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages reached the dead-letter queue", sqstest.Depth(t, c, dead), n)
		}
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Messages {
			if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &src, ReceiptHandle: r.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return src, dead, ids
}

// sqsDepth counts visible and in-flight messages.
func sqsConsume(t *testing.T, c *sqs.Client, src string, ec *effectCounter) {
	t.Helper()
	ctx := context.Background()
	for empty := 0; empty < 2; {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
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
			ec.handle(t, m)
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &src, ReceiptHandle: r.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func mustJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
}

func TestDLQCommandsOnFauxqs(t *testing.T) {
	c := sqsTestClient(t)
	const n = 8
	src, dead, ids := sqsDeadLetters(t, c, n)

	code, out, errb := dlqCLI(t, "ls", "--json", "awssqs://")
	var qs []dlq.Queue
	mustJSON(t, out, &qs)
	found := false
	for _, q := range qs {
		if q.URL == dead {
			found = q.Depth == n && len(q.Sources) == 1 && q.Sources[0] == src
		}
	}
	if code != 0 || !found {
		t.Fatalf("ls: exit %d, %+v, stderr %s; want %s with depth %d", code, qs, errb, dead, n)
	}
	if code, out, _ := dlqCLI(t, "ls", dead); code != 0 || !strings.Contains(out, dead) {
		t.Fatalf("ls (text): %d %s", code, out)
	}

	code, out, errb = dlqCLI(t, "peek", "--json", "--max", "3", dead)
	var peeked []dlqMessageView
	mustJSON(t, out, &peeked)
	if code != 0 || len(peeked) != 3 || peeked[0].Error != "card declined" || !strings.HasPrefix(peeked[0].Body, "order ") || peeked[0].Attributes["tenant"] == "" {
		t.Fatalf("peek: exit %d, %+v, %s", code, peeked, errb)
	}
	if code, out, _ := dlqCLI(t, "peek", dead); code != 0 || !strings.Contains(out, "error: card declined") {
		t.Fatalf("peek (text): %d %s", code, out)
	}

	code, out, errb = dlqCLI(t, "redrive", "--json", "--dry-run", dead)
	var res redriveResult
	mustJSON(t, out, &res)
	if code != 0 || !res.DryRun || res.Stats.Selected != n || len(res.Selected) != n || res.Stats.Moved != 0 || sqstest.Depth(t, c, dead) != n {
		t.Fatalf("dry run: exit %d, %+v, %s", code, res, errb)
	}
	code, out, errb = dlqCLI(t, "redrive", "--attr", "tenant=t0", dead)
	if code != 0 || strings.Count(out, "moved ") != n/2+1 || !strings.Contains(out, fmt.Sprintf("moved %d (", n/2)) {
		t.Fatalf("filtered redrive: exit %d\n%s\n%s", code, out, errb)
	}
	code, out, errb = dlqCLI(t, "redrive", "--json", "--rate", "100", dead)
	res = redriveResult{}
	mustJSON(t, out, &res)
	if code != 0 || res.Mode != "manual" || res.Stats.Moved != n/2 || res.Interrupted || sqstest.Depth(t, c, dead) != 0 {
		t.Fatalf("redrive: exit %d, %+v, %s", code, res, errb)
	}
	if !strings.Contains(errb, "no message move tasks") {
		t.Errorf("the fallback from the native move task was not reported: %q", errb)
	}
	ec := newEffectCounter()
	sqsConsume(t, c, src, ec)
	ec.check(t, ids, 0)
}

func TestDLQBadInput(t *testing.T) {
	c := sqsTestClient(t)
	ctx := context.Background()
	lone, _ := sqsQueue(t, c, fmt.Sprintf("cli-lone-%d", rand.Uint32()), nil)
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &lone, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	_, dead, _ := sqsDeadLetters(t, c, 2)
	gone := testenv.SQS(t) + "/000000000000/deleted-queue"
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		contains []string
	}{
		{"an unknown URL scheme is a usage error", []string{"peek", "kafka://orders"}, nil, 2, []string{`unknown URL scheme "kafka"`}},
		{"an unknown subcommand is a usage error", []string{"purge", dead}, nil, 2, []string{`unknown command "purge"`}},
		{"a missing URL is a usage error", []string{"redrive"}, nil, 2, []string{"want 1 URL"}},
		{"an unreachable SQS endpoint names the URL and the variable", []string{"peek", "--timeout", "10s", dead}, map[string]string{"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:1"}, 1, []string{dead, "AWS_ENDPOINT_URL_SQS", "connection refused"}},
		{"an unreachable Pub/Sub emulator names the variable", []string{"peek", "--timeout", "2s", "gcppubsub://projects/p/subscriptions/s"}, map[string]string{"PUBSUB_EMULATOR_HOST": "127.0.0.1:1"}, 1, []string{"gcppubsub://projects/p/subscriptions/s", "PUBSUB_EMULATOR_HOST"}},
		{"RabbitMQ without a server URL says which variable to set", []string{"ls", "rabbit://dead"}, map[string]string{"RABBIT_SERVER_URL": ""}, 1, []string{"RABBIT_SERVER_URL"}},
		{"an unreachable RabbitMQ names the URL", []string{"peek", "rabbit://dead"}, map[string]string{"RABBIT_SERVER_URL": "amqp://guest:guest@127.0.0.1:1/"}, 1, []string{"rabbit://dead", "RABBIT_SERVER_URL"}},
		{"a queue no redrive policy names has no source", []string{"redrive", lone}, nil, 1, []string{"no source configured", lone}},
		{"a redrive target that no longer exists is an error", []string{"redrive", "--to", gone, dead}, nil, 1, []string{"not found", "deleted-queue"}},
		{"a missing dead-letter queue is not found", []string{"peek", gone}, nil, 1, []string{"not found", gone}},
		{"a malformed attribute filter is a usage error", []string{"redrive", "--attr", "tenant", dead}, nil, 2, []string{"NAME=VALUE"}},
		{"an unknown native mode is a usage error", []string{"redrive", "--native", "sometimes", dead}, nil, 2, []string{"auto, always or never"}},
		{"a negative rate is a usage error", []string{"redrive", "--rate", "-1", dead}, nil, 2, []string{"must not be negative"}},
		{"peek of no messages is a usage error", []string{"peek", "--max", "0", dead}, nil, 2, []string{"--max must be positive"}},
		{"a native-only redrive on an endpoint without move tasks fails", []string{"redrive", "--native", "always", dead}, nil, 1, []string{"not supported"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errb := dlqCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tc.code, out, errb)
			}
			for _, s := range tc.contains {
				if !strings.Contains(errb, s) {
					t.Errorf("stderr does not name %q:\n%s", s, errb)
				}
			}
		})
	}
	if got := sqstest.Depth(t, c, lone); got != 1 {
		t.Errorf("the queue without a source holds %d messages, want 1", got)
	}
	if got := sqstest.Depth(t, c, dead); got != 2 {
		t.Errorf("the dead-letter queue holds %d messages after the failed redrives, want 2", got)
	}
}

// --- crash between send and delete ---

// crashEnv, set in a child process, makes TestDLQKill9BetweenSendAndDelete
// play the redrive that crashes: it redrives the URL in the variable and
// blocks forever after its third confirmed send, before the delete.
const crashEnv = "EVENTFN_DLQ_TEST_CRASH_URL"

// pausingDriver blocks forever after its third successful send.
type pausingDriver struct {
	dlq.Driver
	sent int
}

func (p *pausingDriver) Send(ctx context.Context, m *dlq.Message) error {
	if err := p.Driver.Send(ctx, m); err != nil {
		return err
	}
	if p.sent++; p.sent == 3 {
		fmt.Printf("SENT %s\n", m.ID)
		select {}
	}
	return nil
}

func crashChild() {
	o, err := openDLQ(context.Background(), os.Getenv(crashEnv), "", 2*time.Second)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	_, err = dlq.Redrive(context.Background(), &pausingDriver{Driver: o.d}, nil)
	fmt.Println("ERROR redrive returned:", err)
	os.Exit(1)
}

// startCrashChild runs this test binary as the crashing redrive of url and
// kills it with SIGKILL once it confirmed a send and has not deleted the
// dead letter yet.
func startCrashChild(t *testing.T, url string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDLQKill9BetweenSendAndDelete$")
	cmd.Env = append(os.Environ(), crashEnv+"="+url)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "SENT ") || strings.HasPrefix(sc.Text(), "ERROR") {
				line <- sc.Text()
				return
			}
		}
		line <- "EOF"
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "SENT ") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("crashing child: %s", l)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("crashing child sent nothing in 60s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// A redrive killed with SIGKILL after a send was confirmed and before the
// dead letter was deleted loses nothing: the next redrive moves the rest
// and the dead letter again, and the idempotency middleware keyed on the
// original message ID absorbs the one duplicate.
func TestDLQKill9BetweenSendAndDelete(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		crashChild()
	}
	t.Run("sqs", func(t *testing.T) {
		c := sqsTestClient(t)
		const n = 12
		src, dead, ids := sqsDeadLetters(t, c, n)
		startCrashChild(t, dead)
		if got := sqstest.Depth(t, c, dead); got != n-2 {
			t.Fatalf("dead-letter queue holds %d after the crash, want %d (two moved, one sent but not deleted)", got, n-2)
		}
		time.Sleep(3 * time.Second) // the child's 2s leases run out
		code, out, errb := dlqCLI(t, "redrive", "--json", dead)
		var res redriveResult
		mustJSON(t, out, &res)
		if code != 0 || res.Stats.Moved != n-2 || sqstest.Depth(t, c, dead) != 0 {
			t.Fatalf("second redrive: exit %d, %+v, %s", code, res, errb)
		}
		ec := newEffectCounter()
		sqsConsume(t, c, src, ec)
		ec.check(t, ids, 1)
		if ec.handled != n+1 {
			t.Errorf("consumer handled %d, want %d: the copy sent before the crash and its redriven twin", ec.handled, n+1)
		}
	})
	t.Run("pubsub", func(t *testing.T) {
		p := newPubSubDLQ(t)
		const n = 12
		ids := p.deadLetters(t, n)
		url := "gcppubsub://" + p.dlSub
		startCrashChild(t, url)
		time.Sleep(3 * time.Second) // the child's 2s ack deadlines run out
		code, out, errb := dlqCLI(t, "redrive", "--json", url)
		var res redriveResult
		mustJSON(t, out, &res)
		if code != 0 || res.Stats.Moved != n-2 {
			t.Fatalf("second redrive: exit %d, %+v, %s", code, res, errb)
		}
		if left := p.consume(t, p.dlSub, nil); left != 0 {
			t.Fatalf("%d messages left on the dead-letter subscription", left)
		}
		ec := newEffectCounter()
		p.consume(t, p.sub, ec)
		ec.check(t, ids, 1)
		if ec.handled != n+1 {
			t.Errorf("consumer handled %d, want %d", ec.handled, n+1)
		}
	})
	t.Run("rabbitmq", func(t *testing.T) {
		r := newRabbitDLQ(t)
		const n = 12
		ids := r.deadLetters(t, n)
		startCrashChild(t, "rabbit://"+r.dead)
		// The killed connection's unacked messages are requeued at once.
		code, out, errb := dlqCLI(t, "redrive", "--json", "rabbit://"+r.dead)
		var res redriveResult
		mustJSON(t, out, &res)
		if code != 0 || res.Stats.Moved != n-2 || r.depth(t, r.dead) != 0 {
			t.Fatalf("second redrive: exit %d, %+v, %s", code, res, errb)
		}
		ec := newEffectCounter()
		r.consume(t, ec)
		ec.check(t, ids, 1)
		if ec.handled != n+1 {
			t.Errorf("consumer handled %d, want %d", ec.handled, n+1)
		}
	})
}

// --- Pub/Sub on pstest ---

type pubsubDLQ struct {
	c                          *gpubsub.Client
	topic, dlTopic, sub, dlSub string
}

// newPubSubDLQ creates a topic, a subscription with a dead-letter policy and
// the dead-letter topic's subscription.
func newPubSubDLQ(t *testing.T) *pubsubDLQ {
	t.Helper()
	testenv.PubSub(t)
	ctx := context.Background()
	const project = "eventfn-cli"
	c, err := gpubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	id := fmt.Sprint(time.Now().UnixNano())
	p := &pubsubDLQ{c: c, topic: "projects/" + project + "/topics/o-" + id, dlTopic: "projects/" + project + "/topics/o-dl-" + id,
		sub: "projects/" + project + "/subscriptions/o-" + id, dlSub: "projects/" + project + "/subscriptions/o-dl-" + id}
	for _, tp := range []string{p.topic, p.dlTopic} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: tp}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: p.dlSub, Topic: p.dlTopic}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: p.sub, Topic: p.topic,
		DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{DeadLetterTopic: p.dlTopic, MaxDeliveryAttempts: 5}}); err != nil {
		t.Fatal(err)
	}
	return p
}

// deadLetters publishes n messages to the dead-letter topic as Pub/Sub
// forwards them (pstest's own forwarding repeats itself on every pull of
// the source subscription; see dlq/pubsubdlq's tests).
func (p *pubsubDLQ) deadLetters(t *testing.T, n int) []string {
	t.Helper()
	var msgs []*pubsubpb.PubsubMessage
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprint("orig-", i)
		ids = append(ids, id)
		msgs = append(msgs, &pubsubpb.PubsubMessage{Data: []byte(id), Attributes: map[string]string{handler.AttrMessageID: id, handler.AttrError: "timeout"}})
	}
	if _, err := p.c.TopicAdminClient.Publish(context.Background(), &pubsubpb.PublishRequest{Topic: p.dlTopic, Messages: msgs}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func (p *pubsubDLQ) consume(t *testing.T, sub string, ec *effectCounter) int {
	t.Helper()
	ctx := context.Background()
	got := 0
	for empty := 0; empty < 3; {
		r, err := p.c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 100, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.ReceivedMessages) == 0 {
			empty++
			continue
		}
		for _, rm := range r.ReceivedMessages {
			got++
			if ec != nil {
				ec.handle(t, &handler.Message{ID: rm.Message.MessageId, Body: rm.Message.Data, Attributes: rm.Message.Attributes})
			}
			if err := p.c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: []string{rm.AckId}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got
}

// --- RabbitMQ ---

type rabbitDLQ struct {
	conn              *amqp.Connection
	ch                *amqp.Channel
	exchange, q, dead string
}

func newRabbitDLQ(t *testing.T) *rabbitDLQ {
	t.Helper()
	url := testenv.Getenv(t, "EVENTFN_RABBIT_URL")
	t.Setenv("RABBIT_SERVER_URL", url)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprint("cli-", time.Now().UnixNano())
	r := &rabbitDLQ{conn: conn, ch: ch, exchange: name, q: name + "-q", dead: name + "-dead"}
	for _, err := range []error{
		ch.ExchangeDeclare(name, "fanout", true, false, false, false, nil),
		ch.ExchangeDeclare(name+"-dlx", "fanout", true, false, false, false, nil),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ch.QueueDeclare(r.q, true, false, false, false, amqp.Table{"x-queue-type": "quorum", "x-dead-letter-exchange": name + "-dlx", "x-delivery-limit": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(r.dead, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(r.q, "", name, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(r.dead, "", name+"-dlx", false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := conn.Channel()
		if err != nil {
			return
		}
		_, _ = c.QueueDelete(r.q, false, false, false)
		_, _ = c.QueueDelete(r.dead, false, false, false)
		_ = c.ExchangeDelete(name, false, false)
		_ = c.ExchangeDelete(name+"-dlx", false, false)
		c.Close()
	})
	return r
}

func (r *rabbitDLQ) depth(t *testing.T, q string) int {
	t.Helper()
	c, err := r.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	qi, err := c.QueueDeclarePassive(q, false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return qi.Messages
}

// deadLetters publishes n messages and nacks them into the dead-letter
// queue through the quorum queue's delivery limit.
func (r *rabbitDLQ) deadLetters(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprint("order-", i)
		ids = append(ids, id)
		if err := r.ch.PublishWithContext(context.Background(), r.exchange, "", false, false, amqp.Publishing{MessageId: id, Body: []byte(id)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.depth(t, r.dead) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d dead-lettered", r.depth(t, r.dead), n)
		}
		d, ok, err := r.ch.Get(r.q, false)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if err := d.Nack(false, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

func (r *rabbitDLQ) consume(t *testing.T, ec *effectCounter) {
	t.Helper()
	for {
		d, ok, err := r.ch.Get(r.q, false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		m := &handler.Message{ID: d.MessageId, Body: d.Body, Attributes: map[string]string{}}
		for k, v := range d.Headers {
			if s, ok := v.(string); ok {
				m.Attributes[k] = s
			}
		}
		ec.handle(t, m)
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
}

func buildEventfn(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "eventfn")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Ctrl-C in the middle of a rate-limited redrive: eventfn finishes the
// message in hand, prints the counts (as JSON that parses), exits 130, and
// every message is either moved once or still in the dead-letter queue.
func TestDLQRedriveInterruptedByCtrlC(t *testing.T) {
	r := newRabbitDLQ(t)
	const n = 40
	ids := r.deadLetters(t, n)
	bin := buildEventfn(t)
	cmd := exec.Command(bin, "dlq", "redrive", "--json", "--rate", "10", "rabbit://"+r.dead)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until some, not all, messages moved.
	deadline := time.Now().Add(30 * time.Second)
	for r.depth(t, r.q) < 5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want 130\nstdout %s\nstderr %s", err, out.String(), errb.String())
	}
	var res redriveResult
	mustJSON(t, out.String(), &res)
	if !res.Interrupted || res.Stats.Moved < 5 || res.Stats.Moved >= n {
		t.Fatalf("result %+v; want interrupted after some moves", res)
	}
	if got := r.depth(t, r.dead); got != n-res.Stats.Moved {
		t.Fatalf("dead-letter queue holds %d, want %d: nothing may be lost", got, n-res.Stats.Moved)
	}
	ec := newEffectCounter()
	r.consume(t, ec)
	if ec.handled != res.Stats.Moved {
		t.Fatalf("source got %d messages, %d reported moved", ec.handled, res.Stats.Moved)
	}
	// The rest moves on the next run; every message has one effect.
	if code, out, errb := dlqCLI(t, "redrive", "rabbit://"+r.dead); code != 0 {
		t.Fatalf("second redrive: %d %s %s", code, out, errb)
	}
	r.consume(t, ec)
	ec.check(t, ids, 0)
}

func TestDLQListAndPeekOnPstestAndRabbitMQ(t *testing.T) {
	p := newPubSubDLQ(t)
	p.deadLetters(t, 3)
	code, out, errb := dlqCLI(t, "ls", "--json", "gcppubsub://projects/eventfn-cli")
	var qs []dlq.Queue
	mustJSON(t, out, &qs)
	found := false
	for _, q := range qs {
		found = found || (q.Name == p.dlSub && len(q.Sources) == 1 && q.Sources[0] == p.sub && q.Depth == -1)
	}
	if code != 0 || !found {
		t.Fatalf("ls: exit %d, %+v, %s", code, qs, errb)
	}
	code, out, errb = dlqCLI(t, "peek", "--json", "gcppubsub://"+p.dlSub)
	var views []dlqMessageView
	mustJSON(t, out, &views)
	if code != 0 || len(views) != 3 || views[0].Error != "timeout" {
		t.Fatalf("peek: exit %d, %+v, %s", code, views, errb)
	}

	r := newRabbitDLQ(t)
	r.deadLetters(t, 2)
	code, out, errb = dlqCLI(t, "ls", "--json", "rabbit://"+r.dead)
	qs = nil
	mustJSON(t, out, &qs)
	if code != 0 || len(qs) != 1 || qs[0].Depth != 2 || len(qs[0].Sources) != 1 || qs[0].Sources[0] != r.q {
		t.Fatalf("ls: exit %d, %+v, %s", code, qs, errb)
	}
	code, out, errb = dlqCLI(t, "peek", "--json", "rabbit://"+r.dead)
	views = nil
	mustJSON(t, out, &views)
	if code != 0 || len(views) != 2 || views[0].Source != r.q || !strings.Contains(views[0].Error, "delivery_limit") {
		t.Fatalf("peek: exit %d, %+v, %s", code, views, errb)
	}
	if got := r.depth(t, r.dead); got != 2 {
		t.Fatalf("peek consumed: depth %d", got)
	}
}
