// Package pull runs an eventfn handler as a long-running Pub/Sub pull
// consumer on the cloud.google.com/go/pubsub/v2 client (gRPC), for
// containers, VMs and local runs. It lives apart from package pubsub so
// that push endpoints and Cloud Functions, which need no client, do not
// link it.
//
// Each message becomes a handler.Message the way package pubsub describes
// (ID, Body, Attributes, Source handler.SourcePubSub, Queue the
// subscription, OrderingKey, DeliveryAttempt when the subscription has a
// dead-letter policy, PublishedAt) and runs through handler.Process.
//
// # Message Delivery Semantics
//
// Receive acks a message whose handler returned nil; nacks on a plain
// error; for handler.RetryAfter(d, err) keeps the message leased for d
// before the nack; and for handler.Permanent hands it to
// ReceiveOptions.DeadLetter (PublishDeadLetters publishes it to a
// dead-letter topic with pubsub.DeadLetterAttributes) and acks it, or nacks
// it when there is none or the dead-letter call fails, so the
// subscription's dead-letter policy applies.
//
// With message ordering enabled on the subscription, the messages of a key
// run one at a time, in order; after one fails, the later messages of that
// key the client had already delivered are nacked without running
// (handler.ErrOrderingKeyFailed) until it succeeds, so the order holds
// across redeliveries. No message fails before the handler in this path:
// every delivery decodes.
//
// ReceiveOptions.OnResult is called once per message after its ack or
// nack, and ReceiveOptions.Logger receives one line for each message not
// acked, with its ID, source, queue, settlement and reason.
//
// The client honours PUBSUB_EMULATOR_HOST, so Receive runs against the
// Pub/Sub emulator or pstest.
//
// # As
//
// Message.As reaches the *pubsub.Message (cloud.google.com/go/pubsub/v2).
package pull
