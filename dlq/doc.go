// Package dlq lists, peeks at and redrives dead letters: the messages a
// platform's native dead-letter policy (SQS redrive policy, Pub/Sub
// dead-letter policy, Service Bus MaxDeliveryCount, a RabbitMQ dead-letter
// exchange) or an eventfn adapter moved aside.
//
// The package is the portable core: the Message and Queue types, the Driver
// interface each broker implements, and Redrive, which holds the policy
// (filters, a maximum, a rate limit, a dry run, send-before-delete). The
// drivers live in their own packages so a program redriving SQS links only
// the AWS SDK: dlq/sqsdlq, dlq/pubsubdlq, dlq/sbdlq and dlq/rabbitdlq.
//
// # Delivery semantics
//
// Redrive never deletes a dead letter before the broker confirmed its copy
// on the source: a crash or a cancelled context between the two leaves the
// message in the dead-letter queue and, at worst, a duplicate on the
// source. Every copy carries handler.AttrMessageID (set to the dead
// letter's ID when the adapter did not already record the original ID), so
// an idempotency key derived from it absorbs that duplicate. Messages a
// filter or a dry run leaves alone are held until the run ends and then
// released unchanged, so one run sees each message once.
package dlq
