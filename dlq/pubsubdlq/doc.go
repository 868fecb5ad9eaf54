// Package pubsubdlq is the dlq driver for Google Cloud Pub/Sub dead-letter
// subscriptions: subscriptions of a topic that another subscription's
// dead-letter policy names.
//
// # Redrive
//
// Messages are pulled from the dead-letter subscription (their ack deadline
// extended to Options.Lease), published to the source topic with their
// data, attributes and ordering key (plus handler.AttrMessageID), and acked
// only after Pub/Sub returned the copy's message ID. The source topic is
// Options.Topic, else the topic of the subscription named by the message's
// CloudPubSubDeadLetterSourceSubscription attribute, else the topic of the
// one subscription whose dead-letter policy points at the dead-letter
// topic; none is dlq.ErrNoSource. Publishing to the source topic reaches
// every subscription of that topic, not only the one that failed; set
// Options.Topic to a topic only the failed consumer reads to avoid that.
//
// # Peek
//
// Pub/Sub has no peek: Peek pulls messages and nacks them at once (ack
// deadline 0), which counts as a delivery.
//
// # Depth
//
// Pub/Sub does not report a subscription's backlog through its API (Cloud
// Monitoring does): Depth returns -1.
//
// # Endpoints
//
// The client decides the endpoint: the Pub/Sub client honours
// PUBSUB_EMULATOR_HOST.
package pubsubdlq
