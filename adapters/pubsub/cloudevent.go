package pubsub

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/eventfn/eventfn/handler"
)

// EventTypeMessagePublished is the CloudEvent type Eventarc and Cloud
// Functions (2nd gen) use for a Pub/Sub message.
const EventTypeMessagePublished = "google.cloud.pubsub.topic.v1.messagePublished"

// CloudEventOptions configure CloudEventFunction. The zero value is ready
// to use.
type CloudEventOptions struct {
	// MaxDataBytes bounds the event's data. Default: DefaultMaxBodyBytes.
	MaxDataBytes int
	// Timeout bounds one invocation, on top of the request's own deadline
	// (the Functions Framework sets one from CLOUD_RUN_TIMEOUT_SECONDS).
	// Default: none.
	Timeout time.Duration
	// Process configures the batch engine; of its fields only
	// DeadlineMargin applies, since an event carries one message. Default:
	// handler.Process's defaults.
	Process *handler.ProcessOptions
	// DeadLetter, when set, keeps messages the handler rejects with
	// handler.Permanent and acknowledges them. Without it a rejected message
	// is reported failed, so the trigger's dead-letter policy applies.
	DeadLetter DeadLetterFunc
	// Logger receives one line for every message that is not acknowledged,
	// with its ID, source, queue, settlement and reason. Default:
	// slog.Default().
	Logger *slog.Logger
	// OnResult, if set, is called once per event after its result is
	// decided, events that could not be decoded included. It must be safe
	// for concurrent use and fast.
	OnResult handler.ResultHook
}

// CloudEventFunction returns a CloudEvent function for the Functions
// Framework (funcframework.RegisterCloudEventFunctionContext or
// functions.CloudEvent) that handles Pub/Sub messagePublished events with h.
//
// Each event becomes one handler.Message (ID: the Pub/Sub message ID; Body:
// the decoded data; Attributes, OrderingKey, PublishedAt from the message;
// Queue: the subscription) and runs through handler.Process. The function
// returns nil when the message is done and a *DeliveryError, whose
// StatusCode the Functions Framework writes, when it must be redelivered:
// a transient failure (handler.Retry), a permanent failure when no
// DeadLetter is configured, or an event that is not a valid messagePublished
// event (wrong type, no message, data not base64, wrongly typed attributes,
// over MaxDataBytes).
//
// A failed event is redelivered only when the function was deployed with
// retries enabled (gcloud functions deploy --retry, or the Eventarc
// trigger's retry policy); without it the platform drops failed events. The
// examples/gcp-pubsub deploy script enables retries and gives the
// subscription a dead-letter topic.
//
// The returned function is safe for concurrent use. It panics if h is nil.
func CloudEventFunction(h handler.Handler, opts *CloudEventOptions) func(context.Context, event.Event) error {
	if h == nil {
		panic("pubsub: CloudEventFunction: nil handler")
	}
	var o CloudEventOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxDataBytes <= 0 {
		o.MaxDataBytes = DefaultMaxBodyBytes
	}
	d := &deliverer{h: h, timeout: o.Timeout, process: o.Process, deadLetter: o.DeadLetter, log: logger(o.Logger), onResult: o.OnResult}
	return func(ctx context.Context, e event.Event) error {
		m, err := messageFromEvent(e, o.MaxDataBytes)
		if err != nil {
			em := &handler.Message{ID: e.ID(), Source: handler.SourcePubSub, Queue: e.Source()}
			em.SetRaw(e)
			return d.rejected(ctx, em, err).err
		}
		return d.deliver(ctx, m).err
	}
}

// messageFromEvent decodes a messagePublished CloudEvent.
func messageFromEvent(e event.Event, maxData int) (*handler.Message, error) {
	if e.Type() != EventTypeMessagePublished {
		return nil, handler.Permanent(fmt.Errorf("%w: got type %q", ErrWrongEventType, e.Type()))
	}
	data := e.Data()
	if len(data) > maxData {
		return nil, handler.Permanent(fmt.Errorf("%w: data is %d bytes, limit %d", ErrTooLarge, len(data), maxData))
	}
	env, err := decodeEnvelope(data)
	if err != nil {
		return nil, err
	}
	m, err := env.toMessage(e)
	if err != nil {
		return nil, err
	}
	if m.ID == "" {
		m.ID = e.ID() // Eventarc uses the message ID as the event ID
	}
	if m.Queue == "" {
		m.Queue = e.Source()
	}
	if m.PublishedAt.IsZero() {
		m.PublishedAt = e.Time()
	}
	for _, name := range []string{AttrTraceparent, AttrTracestate} {
		if v, ok := e.Extensions()[name].(string); ok && v != "" {
			setAttr(m, name, v)
		}
	}
	return m, nil
}
