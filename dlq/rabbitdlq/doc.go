// Package rabbitdlq is the dlq driver for RabbitMQ dead-letter queues: the
// queues bound to a dead-letter exchange (x-dead-letter-exchange) into which
// RabbitMQ routes rejected, expired and, on quorum queues, over-delivered
// (x-delivery-limit) messages, or into which the gocloud adapter publishes
// rejected ones.
//
// # Redrive
//
// A message goes back to the queue its newest x-death header names (or,
// for a message an adapter published to the dead-letter exchange itself,
// its handler.AttrQueue header), through the default exchange, unless
// Options.Exchange (and RoutingKey) name another target. The copy keeps the body, properties and headers (x-death
// included, so RabbitMQ keeps counting), adds handler.AttrMessageID, is
// published mandatory on a channel in confirm mode, and the dead letter is
// acked only after the broker confirmed the copy. An unroutable copy (the
// target queue is gone) comes back as a basic.return: dlq.ErrNotFound, and
// the dead letter stays.
//
// # Peek
//
// Peek gets messages without acking them and closes its channel, which
// requeues them (they come back marked redelivered).
//
// # Message IDs
//
// Message.ID is the AMQP message-id, else the correlation-id, else the
// "eventfn-id" header, else a hash of the body and headers. Producers that
// set message-id get stable idempotency keys across redrives.
//
// # Listing
//
// AMQP cannot list queues (that is the management plugin's HTTP API), so
// List reports the queues it is given.
package rabbitdlq
