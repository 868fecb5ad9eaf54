// Package sbdlq is the dlq driver for Azure Service Bus dead-letter
// subqueues ($deadletterqueue of a queue or a topic subscription).
//
// # Redrive
//
// Messages are received from the dead-letter subqueue in peek-lock mode,
// resent to the queue (or the subscription's topic) with their body,
// application properties (plus handler.AttrMessageID), session ID,
// partition key, subject, content type, correlation ID, reply-to, to and
// time to live, and completed only after the send returned. The copy's
// MessageID is RedriveMessageID: on an entity with duplicate detection the
// original MessageID would make Service Bus drop the copy as a duplicate of
// the original, while this one drops only a second copy of the same dead
// letter. Release abandons a message, which leaves it in the dead-letter
// subqueue (it has no delivery limit there).
//
// # Testing
//
// No Service Bus emulator runs in this repository's test environment, so
// the driver works through the narrow Receiver and Sender interfaces that
// *azservicebus.Receiver and *azservicebus.Sender satisfy; its tests use
// fakes of them, and OpenQueue, OpenSubscription and List, the thin
// constructors over the SDK, are not exercised against a server.
package sbdlq
