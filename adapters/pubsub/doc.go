// Package pubsub runs eventfn handlers on Google Cloud Pub/Sub deliveries
// that arrive over HTTP:
//
//   - CloudEventFunction: a Cloud Functions (2nd gen) / Eventarc function for
//     the google.cloud.pubsub.topic.v1.messagePublished CloudEvent, for the
//     Functions Framework (github.com/GoogleCloudPlatform/functions-framework-go).
//   - PushHandler: an http.Handler for push subscriptions (Cloud Run or any
//     HTTP host), wrapped or unwrapped, with optional verification of the
//     push request's OIDC token (OIDCVerifier).
//
// The long-running pull consumer is package adapters/pubsub/pull; this
// package does not link the gRPC Pub/Sub client, so push-only binaries stay
// small. The envelope, dead-letter and error types here are shared by both.
//
// Each delivery becomes a handler.Message: ID is the Pub/Sub message ID
// (stable across redeliveries), Body the decoded data, Attributes the
// message attributes, Source handler.SourcePubSub, Queue the subscription,
// OrderingKey the ordering key, DeliveryAttempt the attempt number when the
// subscription has a dead-letter policy (0 otherwise), PublishedAt the
// publish time. Messages run through handler.Process, so a panic fails only
// its message and a deadline is honoured.
//
// # Message Delivery Semantics
//
// Pub/Sub delivers at least once; wrap the handler with idempotency
// middleware for an exactly-once effect. Outcomes map as follows:
//
//	handler returns        CloudEvent function     push endpoint
//	nil                    nil (200)               204
//	error                  *DeliveryError (500)    500
//	handler.RetryAfter(d)  *DeliveryError (503)    503 + Retry-After
//	handler.Permanent      DeadLetter, then 200;   DeadLetter, then 204;
//	                       else *DeliveryError 422 else 422
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
// Ordering: push and CloudEvent deliveries are one message per request, and
// Pub/Sub itself holds back the next message of an ordering key until the
// previous one is acknowledged; a delivery that fails before the handler
// (bad input) gets a non-2xx status like a failed handler, so it holds its
// key the same way.
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
//   - CloudEventFunction: *Envelope and event.Event
//     (github.com/cloudevents/sdk-go/v2/event).
//   - PushHandler: *Envelope (wrapped pushes) and *http.Request.
package pubsub
