package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventfn/eventfn/internal/testenv"
)

func fauxqsClient(t *testing.T) *awssqs.Client {
	t.Helper()
	testenv.SQS(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return awssqs.NewFromConfig(cfg) // AWS_ENDPOINT_URL_SQS points it at fauxqs
}

func createQueue(t *testing.T, c *awssqs.Client, name string, fifo bool) string {
	t.Helper()
	in := &awssqs.CreateQueueInput{QueueName: aws.String(name)}
	if fifo {
		in.Attributes = map[string]string{"FifoQueue": "true"}
	}
	out, err := c.CreateQueue(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	return *out.QueueUrl
}

func receiveAll(t *testing.T, c *awssqs.Client, url string, want int) []sqstypes.Message {
	t.Helper()
	var got []sqstypes.Message
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"},
		})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.Messages...)
		for _, m := range out.Messages { // a FIFO group stays blocked until deleted
			c.DeleteMessage(context.Background(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
		}
	}
	return got
}

func TestSendToSQSOnFauxqs(t *testing.T) {
	c := fauxqsClient(t)
	name := fmt.Sprintf("send-%d", time.Now().UnixNano())
	url := createQueue(t, c, name, false)
	code, out, errs := runCLI(t, "send", "--json", "awssqs://localhost/000000000000/"+name,
		`{"id":"o-1"}`, `{"id":"o-2"}`, "--attr", "tenant=a c/me", "--id", "m-1", "--id", "m-2", "--repeat", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errs)
	}
	var r sendResult
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Sent != 4 || r.Messages != 4 {
		t.Fatalf("send --json: %v %+v\n%s", err, r, out)
	}
	msgs := receiveAll(t, c, url, 4)
	var seen []string
	for _, m := range msgs {
		if v := m.MessageAttributes["tenant"].StringValue; v == nil || *v != "a c/me" {
			t.Errorf("attribute tenant = %v, want the raw value", v)
		}
		seen = append(seen, *m.MessageAttributes["eventfn-id"].StringValue+" "+*m.Body)
	}
	sort.Strings(seen)
	if want := []string{`m-1 {"id":"o-1"}`, `m-1 {"id":"o-1"}`, `m-2 {"id":"o-2"}`, `m-2 {"id":"o-2"}`}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("received %v, want %v", seen, want)
	}
}

func TestSendToFIFOQueueKeepsDuplicatesAndGroups(t *testing.T) {
	c := fauxqsClient(t)
	name := fmt.Sprintf("send-%d.fifo", time.Now().UnixNano())
	url := createQueue(t, c, name, true)
	file := writeFile(t, t.TempDir(), "bodies.json", `["a", "b", {"n": 3}]`)
	code, out, errs := runCLI(t, "send", "awssqs://localhost/000000000000/"+name, "--file", file, "--ordering-key", "customer-7", "--repeat", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errs)
	}
	if n := strings.Count(out, "sent #"); n != 6 {
		t.Errorf("plain output has %d per-message lines, want 6:\n%s", n, out)
	}
	msgs := receiveAll(t, c, url, 6)
	var bodies []string
	for _, m := range msgs {
		if m.Attributes["MessageGroupId"] != "customer-7" {
			t.Errorf("group %q", m.Attributes["MessageGroupId"])
		}
		bodies = append(bodies, *m.Body)
	}
	if got := strings.Join(bodies, " "); got != `a a b b {"n": 3} {"n": 3}` && got != `a a b b {"n":3} {"n":3}` {
		t.Errorf("FIFO bodies in order: %s", got)
	}
}

func TestSendToPubSubOnPstest(t *testing.T) {
	testenv.PubSub(t)
	ctx := context.Background()
	const project = "eventfn-send"
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "projects/" + project + "/topics/send-" + suffix
	subName := "projects/" + project + "/subscriptions/send-" + suffix
	client, err := gpubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	defer client.TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: topic})
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: subName, Topic: topic, EnableMessageOrdering: true}); err != nil {
		t.Fatal(err)
	}
	defer client.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: subName})

	code, out, errs := runCLIStdin(t, "one\ntwo\nthree\n", "send", "gcppubsub://"+topic, "--attr", "tenant=acme", "--ordering-key", "k-1")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errs)
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got := make(chan *gpubsub.Message, 10)
	go client.Subscriber(subName).Receive(rctx, func(_ context.Context, m *gpubsub.Message) { m.Ack(); got <- m })
	var bodies []string
	for len(bodies) < 3 {
		select {
		case m := <-got:
			if m.Attributes["tenant"] != "acme" || m.OrderingKey != "k-1" {
				t.Errorf("message %q: attributes %v, ordering key %q", m.Data, m.Attributes, m.OrderingKey)
			}
			bodies = append(bodies, string(m.Data))
		case <-rctx.Done():
			t.Fatalf("received %v, want 3 messages", bodies)
		}
	}
	if strings.Join(bodies, ",") != "one,two,three" {
		t.Errorf("bodies in ordering-key order: %v", bodies)
	}
}

func TestSendBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.json", `["a", `)
	deadSQS := "http://127.0.0.1:" + itoa(testenv.FreePort(t))
	for _, tc := range []struct {
		env  map[string]string
		args []string
		code int
		want []string
	}{
		{nil, []string{"send"}, exitUsage, []string{"requires at least 1 arg"}},
		{nil, []string{"send", "kafka://orders", "x"}, exitUsage, []string{`unknown URL scheme "kafka"`, "awssqs"}},
		{nil, []string{"send", "orders", "x"}, exitUsage, []string{"not a topic URL"}},
		{nil, []string{"send", "mem://t", "--file", bad}, exitFailure, []string{"not a JSON array"}},
		{nil, []string{"send", "mem://t", "x", "--ordering-key", "k"}, exitUsage, []string{"no ordering key"}},
		{map[string]string{"RABBIT_SERVER_URL": ""}, []string{"send", "rabbit://orders", "x"}, exitFailure, []string{"RABBIT_SERVER_URL"}},
		{map[string]string{"RABBIT_SERVER_URL": "amqp://guest:secret@" + strings.TrimPrefix(deadSQS, "http://") + "/"}, []string{"send", "rabbit://orders", "x"}, exitFailure,
			[]string{"rabbit://orders", "RABBIT_SERVER_URL", "connection refused", "guest:xxxxx@"}},
		{map[string]string{"AWS_ENDPOINT_URL_SQS": deadSQS, "AWS_MAX_ATTEMPTS": "1"}, []string{"send", "awssqs://localhost/000000000000/orders", "x"}, exitFailure,
			[]string{"awssqs://localhost/000000000000/orders", deadSQS, "AWS_ENDPOINT_URL_SQS"}},
		{map[string]string{"PUBSUB_EMULATOR_HOST": strings.TrimPrefix(deadSQS, "http://")}, []string{"send", "gcppubsub://projects/p/topics/t", "x", "--timeout", "2s"}, exitFailure,
			[]string{"gcppubsub://projects/p/topics/t", "PUBSUB_EMULATOR_HOST"}},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		code, _, errs := runCLIStdin(t, "", tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d: %s", tc.args, code, tc.code, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, w, errs)
			}
		}
	}
}

func TestSendToMemWarnsItIsInProcess(t *testing.T) {
	code, out, errs := runCLI(t, "send", "mem://local", "a", "b")
	if code != 0 || !strings.Contains(errs, "inside this process") || !strings.Contains(out, "2 message(s) sent") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestSendToSNSOnFauxqs(t *testing.T) {
	c := fauxqsClient(t)
	testenv.SNS(t)
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc := awssns.NewFromConfig(cfg) // AWS_ENDPOINT_URL_SNS points it at fauxqs
	name := fmt.Sprintf("send-sns-%d", time.Now().UnixNano())
	top, err := sc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: top.TopicArn})
	qurl := createQueue(t, c, name, false)
	qa, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(qurl), AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"]),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "send", "awssns:///"+*top.TopicArn, "hello", "--attr", "tenant=acme")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errs)
	}
	msgs := receiveAll(t, c, qurl, 1)
	if len(msgs) != 1 || *msgs[0].Body != "hello" {
		t.Fatalf("received %+v", msgs)
	}
	if v := msgs[0].MessageAttributes["tenant"].StringValue; v == nil || *v != "acme" {
		t.Errorf("attribute tenant = %v", v)
	}
	// A topic that does not exist at the endpoint is named.
	code, _, errs = runCLI(t, "send", "awssns:///arn:aws:sns:us-east-1:000000000000:missing-"+name, "x")
	if code != exitFailure || !strings.Contains(errs, "missing-"+name) || !strings.Contains(errs, "AWS_ENDPOINT_URL_SNS") {
		t.Errorf("missing topic: exit %d: %s", code, errs)
	}
}

// TestSendToRabbitMQ publishes to a fanout exchange through rabbit:// on
// the RabbitMQ server that scripts/services/rabbitmq.sh starts.
func TestSendToRabbitMQ(t *testing.T) {
	url := testenv.Getenv(t, "EVENTFN_RABBIT_URL")
	t.Setenv("RABBIT_SERVER_URL", url)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("send-%d", time.Now().UnixNano())
	if err := ch.ExchangeDeclare(name, "fanout", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare(name, false, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "", name, false, nil); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "send", "rabbit://"+name, "a", "b", "--attr", "tenant=acme", "--id", "m-1", "--repeat", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errs)
	}
	deliveries, err := ch.Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 4 {
		select {
		case d := <-deliveries:
			if d.Headers["tenant"] != "acme" {
				t.Errorf("headers %v", d.Headers)
			}
			id, _ := d.Headers["eventfn-id"].(string)
			got = append(got, id+":"+string(d.Body))
		case <-time.After(20 * time.Second):
			t.Fatalf("received %v, want 4 messages", got)
		}
	}
	sort.Strings(got)
	if want := "[:b :b m-1:a m-1:a]"; fmt.Sprint(got) != want {
		t.Errorf("received %v, want %s", got, want)
	}
}
