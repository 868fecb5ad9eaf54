package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// eventSpec is what the event subcommands (and invoke) build an event from.
type eventSpec struct {
	file        string
	attrs       []string
	ids         []string
	groupID     string
	dedupID     string
	orderingKey string
	repeat      int
	queue       string
	topic       string
	attempt     int
	region      string
	account     string
	project     string
	// Service Bus custom handler
	binding  string
	many     bool
	binary   bool
	function string

	now time.Time // the event's times; zero means time.Now
}

// eventMessage is one message of an event, before its platform encoding.
type eventMessage struct {
	ID    string
	Body  []byte
	Attrs map[string]string
}

// eventKinds are the event subcommands and what each prints.
var eventKinds = []struct{ name, short string }{
	{"sqs", "an SQS event for a Lambda function with an SQS trigger"},
	{"sns", "an SNS event for a Lambda function subscribed to a topic"},
	{"sns-sqs", "an SQS event whose bodies are SNS envelopes (SNS to SQS, raw delivery off)"},
	{"pubsub-push", "a Pub/Sub push request body (one per message)"},
	{"cloudevent", "a Pub/Sub messagePublished CloudEvent in structured JSON (one per message)"},
	{"servicebus", "an Azure Functions custom-handler request for a serviceBusTrigger"},
}

const eventLong = `Prints a realistic platform event, as the platform would deliver it, for the
message bodies given as arguments, with --file FILE (- for stdin), or on stdin:
one body per line, or a JSON array of bodies. Feed it to a handler with
"eventfn invoke --event FILE", to curl, or to a test.

--repeat N puts every message in the event N times with the same message ID,
as a duplicate delivery. --ordering-key sets the platform's ordering field
(SQS FIFO MessageGroupId, Pub/Sub orderingKey, Service Bus SessionId).

pubsub-push and cloudevent carry one message each: with several messages the
output is a JSON array of events, one per request.`

func newEventCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "event sqs|sns|sns-sqs|pubsub-push|cloudevent|servicebus [BODY...]",
		Short: "Print a sample platform event (SQS, SNS, Pub/Sub push, CloudEvent, Service Bus)",
		Long:  eventLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("name the event: sqs, sns, sns-sqs, pubsub-push, cloudevent or servicebus")
		},
	}
	for _, k := range eventKinds {
		kind := k.name
		s := &eventSpec{}
		sub := &cobra.Command{
			Use:   kind + " [BODY...]",
			Short: "Print " + k.short,
			Long:  eventLong,
			Example: fmt.Sprintf(`  eventfn event %s '{"id":"o-1","amount_cents":100}' --attr tenant=acme
  eventfn event %s --file bodies.jsonl --repeat 2 > event.json`, kind, kind),
			RunE: func(cmd *cobra.Command, args []string) error {
				v, err := s.build(kind, args, cmd.InOrStdin())
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), v)
			},
		}
		s.addFlags(sub, kind)
		cmd.AddCommand(sub)
	}
	return cmd
}

// addFlags adds the event flags for kind to cmd; kind "all" (invoke) adds
// the flags of every platform.
func (s *eventSpec) addFlags(cmd *cobra.Command, kind string) {
	all := kind == "all"
	aws := all || kind == "sqs" || kind == "sns-sqs" || kind == "sns"
	gcp := all || kind == "pubsub-push" || kind == "cloudevent"
	azure := all || kind == "servicebus"
	f := cmd.Flags()
	f.StringVarP(&s.file, "file", "f", "", "read bodies from `FILE` (- for stdin): one per line or a JSON array")
	f.StringArrayVar(&s.attrs, "attr", nil, "message attribute `key=value` (repeatable)")
	f.StringArrayVar(&s.ids, "id", nil, "message `ID`s, one per body in order (repeatable; default: generated)")
	f.IntVar(&s.repeat, "repeat", 1, "put each message `N` times in the event, with the same ID (duplicate deliveries)")
	f.IntVar(&s.attempt, "attempt", 1, "delivery attempt `N` (SQS ApproximateReceiveCount, Pub/Sub deliveryAttempt, Service Bus DeliveryCount)")
	f.StringVar(&s.orderingKey, "ordering-key", "", "ordering key: SQS FIFO MessageGroupId, Pub/Sub orderingKey, Service Bus SessionId")
	switch {
	case all:
		f.StringVar(&s.queue, "queue", "", "SQS queue name or ARN, Pub/Sub subscription, Service Bus entity")
		f.StringVar(&s.topic, "topic", "", "SNS topic name or ARN, Pub/Sub topic")
	case aws:
		f.StringVar(&s.queue, "queue", "", "SQS queue name or ARN (default orders, orders.fifo with a group ID)")
		f.StringVar(&s.topic, "topic", "", "SNS topic name or ARN (default orders-topic)")
	case gcp:
		f.StringVar(&s.queue, "queue", "", "Pub/Sub subscription name (default orders-sub)")
		f.StringVar(&s.topic, "topic", "", "Pub/Sub topic name (default orders)")
	case azure:
		f.StringVar(&s.queue, "queue", "", "Service Bus queue (informational; default orders)")
	}
	if aws && kind != "sns" {
		f.StringVar(&s.groupID, "group-id", "", "FIFO MessageGroupId (makes the queue FIFO; same as --ordering-key)")
		f.StringVar(&s.dedupID, "dedup-id", "", "FIFO MessageDeduplicationId (default: the message ID)")
	}
	if aws {
		f.StringVar(&s.region, "region", "", "AWS region (default $AWS_REGION or us-east-1)")
		f.StringVar(&s.account, "account", "123456789012", "AWS account ID in ARNs")
	}
	if gcp {
		f.StringVar(&s.project, "project", "", "Google Cloud project (default $GOOGLE_CLOUD_PROJECT or my-project)")
	}
	if azure {
		f.StringVar(&s.binding, "binding", "", "trigger binding name in function.json (default order, orders with --many)")
		f.BoolVar(&s.many, "many", false, `"cardinality": "many": a batch (default when there are several messages)`)
		f.BoolVar(&s.binary, "binary", false, `"dataType": "binary": bodies base64-encoded`)
	}
	if azure && !all {
		f.StringVar(&s.function, "function", "ProcessOrder", "function name (sys.MethodName)")
	}
}

// build reads the bodies and returns the event kind as a JSON value.
func (s *eventSpec) build(kind string, args []string, stdin io.Reader) (any, error) {
	newID := newUUID
	switch kind {
	case "pubsub-push", "cloudevent":
		newID = newNumericID
	case "servicebus":
		newID = func() string { return randomToken(16) }
	}
	msgs, err := s.messages(args, stdin, newID)
	if err != nil {
		return nil, err
	}
	if s.now.IsZero() {
		s.now = time.Now().UTC()
	}
	switch kind {
	case "sqs":
		return s.sqsEvent(msgs, false)
	case "sns-sqs":
		return s.sqsEvent(msgs, true)
	case "sns":
		return s.snsEvent(msgs)
	case "pubsub-push":
		return oneOrMany(s.pushEnvelopes(msgs)), nil
	case "cloudevent":
		return oneOrMany(s.cloudEvents(msgs)), nil
	case "servicebus":
		return s.serviceBusRequest(msgs)
	}
	return nil, usageErrorf("unknown event kind %q", kind)
}

// messages turns the bodies into messages, each repeated s.repeat times.
func (s *eventSpec) messages(args []string, stdin io.Reader, newID func() string) ([]eventMessage, error) {
	if s.repeat < 1 {
		return nil, usageErrorf("--repeat must be at least 1")
	}
	if s.attempt < 1 {
		return nil, usageErrorf("--attempt must be at least 1")
	}
	bodies, err := readBodies(args, s.file, stdin)
	if err != nil {
		return nil, err
	}
	if len(s.ids) > len(bodies) {
		return nil, usageErrorf("%d --id flags for %d bodies", len(s.ids), len(bodies))
	}
	attrs, err := parseAttrs(s.attrs)
	if err != nil {
		return nil, err
	}
	var out []eventMessage
	for i, b := range bodies {
		m := eventMessage{Body: b, Attrs: attrs}
		m.ID = newID()
		if i < len(s.ids) {
			m.ID = s.ids[i]
		}
		for r := 0; r < s.repeat; r++ {
			out = append(out, m)
		}
	}
	return out, nil
}

func oneOrMany[T any](v []T) any {
	if len(v) == 1 {
		return v[0]
	}
	return v
}

func envDefault(v, env, def string) string {
	if v != "" {
		return v
	}
	if e := os.Getenv(env); e != "" {
		return e
	}
	return def
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newNumericID returns a random 16-digit ID like Pub/Sub's message IDs.
func newNumericID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(9e15))
	return fmt.Sprint(n.Int64() + 1e15)
}

// randomToken returns n random bytes, hex-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
