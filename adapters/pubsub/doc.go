// Package pubsub runs eventfn handlers on Google Cloud Pub/Sub, in the three
// ways Pub/Sub delivers messages:
//
//   - CloudEventFunction: a Cloud Functions (2nd gen) / Eventarc function for
//     the google.cloud.pubsub.topic.v1.messagePublished CloudEvent, for the
//     Functions Framework (github.com/GoogleCloudPlatform/functions-framework-go).
//   - PushHandler: an http.Handler for push subscriptions (Cloud Run or any
//     HTTP host), wrapped or unwrapped, with optional verification of the
//     push request's OIDC token (OIDCVerifier).
//   - Receive: a long-running pull consumer on the
//     cloud.google.com/go/pubsub/v2 client.
//
// Each delivery becomes a handler.Message: ID is the Pub/Sub message ID
// (stable across redeliveries), Body the decoded data, Attributes the
// message attributes, Source handler.SourcePubSub, Queue the subscription,
// OrderingKey the ordering key, DeliveryAttempt the attempt number when the
// subscription has a dead-letter policy (0 otherwise), PublishedAt the
// publish time. Messages run through handler.Process, so a panic fails only
// its message and a deadline is honoured.
//
// All three work against the Pub/Sub emulator or pstest: the client
// library honours PUBSUB_EMULATOR_HOST.
//
// # Message Delivery Semantics
//
// Pub/Sub delivers at least once; wrap the handler with idempotency
// middleware for an exactly-once effect. Outcomes map as follows:
//
//	handler returns        CloudEvent function     push endpoint           Receive (pull)
//	nil                    nil (200)               204                     Ack
//	error                  *DeliveryError (500)    500                     Nack
//	handler.RetryAfter(d)  *DeliveryError (503)    503 + Retry-After       lease held for d, then Nack
//	handler.Permanent      DeadLetter, then 200;   DeadLetter, then 204;   DeadLetter, then Ack;
//	                       else *DeliveryError 422 else 422                else Nack
//
// Anything but 2xx makes Pub/Sub redeliver the message, following the
// subscription's retry policy, and move it to the dead-letter topic after
// the dead-letter policy's maximum delivery attempts. A Cloud Function
// deployed without "retry on failure" is the exception: the platform drops
// a failed event. Deploy with retries (see examples/gcp-pubsub).
//
// Bad input is never acknowledged: a CloudEvent of another type, an envelope
// without a message, data that is not base64, attributes that are not
// strings, or a body over the size limit get 400 or 413 (a *DeliveryError
// wrapping a *MalformedError, ErrWrongEventType or ErrTooLarge), so the
// platform redelivers them and finally dead-letters them. A push request
// whose token fails verification gets 401 or 403 and never reaches the
// handler.
//
// Ordering: with message ordering enabled on the subscription, Receive runs
// the messages of a key one at a time, in order; after one fails, the later
// messages of that key are nacked without running until it succeeds, so the
// order holds across redeliveries. Push and CloudEvent deliveries are one
// message per request; Pub/Sub itself holds back the next message of a key
// until the previous one is acknowledged.
//
// # Results, Logs and Dead Letters
//
// Each option struct takes OnResult, a handler.ResultHook called once per
// message after its status or ack was decided (deliveries that could not be
// decoded included), and a Logger that receives one line for every message
// not acknowledged, with its ID, source, queue, settlement and reason. A
// DeadLetterFunc that publishes copies gives them DeadLetterAttributes: the
// handler.Attr* attributes every eventfn adapter writes, plus
// AttrDeliveryAttempt, AttrOrderingKey, AttrPublishTime and AttrRejectedAt,
// which a dead-letter topic would otherwise lose.
//
// # Trace Context
//
// PushHandler exposes the push request's traceparent, tracestate and
// X-Cloud-Trace-Context headers as Message.Attributes of those names
// (AttrTraceparent, AttrTracestate, AttrCloudTraceContext), and
// CloudEventFunction the event's traceparent and tracestate extensions;
// an attribute the message already has, such as a producer's own
// traceparent, is kept.
//
// # As
//
// Message.As reaches the platform values behind a message:
//   - Receive: *pubsub.Message (cloud.google.com/go/pubsub/v2).
//   - CloudEventFunction: *Envelope and event.Event
//     (github.com/cloudevents/sdk-go/v2/event).
//   - PushHandler: *Envelope (wrapped pushes) and *http.Request.
package pubsub
