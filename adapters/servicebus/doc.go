// Package servicebus runs eventfn handlers on Azure Service Bus, two ways:
//
//   - Function: an http.Handler for an Azure Functions custom handler with a
//     serviceBusTrigger. The Functions host receives the messages, POSTs each
//     invocation to /<FunctionName> as {"Data": ..., "Metadata": ...}, and
//     completes or abandons the messages by the HTTP status of the answer.
//     ListenAndServe serves on FUNCTIONS_CUSTOMHANDLER_PORT.
//   - Consumer: a long-running receiver (containers, VMs) over an
//     azservicebus receiver, which receives in batches, runs them through
//     handler.Process and settles each message itself.
//
// Both map Service Bus metadata onto handler.Message the same way: MessageId
// is the ID, ApplicationProperties (UserProperties on the 4.x extension) the
// Attributes, SessionId the OrderingKey, DeliveryCount the DeliveryAttempt
// (1 on the first delivery) and the enqueued time PublishedAt.
//
// The package imports handler and the azservicebus SDK only. Add idempotency
// with the idempotency package's middleware.
//
// # Message Delivery Semantics
//
// Service Bus delivers at least once under a peek-lock.
//
// Consumer settles each message by its outcome: handler.Ack completes it,
// handler.Retry abandons it (Service Bus redelivers it at once with
// DeliveryCount+1 and dead-letters it natively after the entity's
// MaxDeliveryCount; a handler.RetryAfter delay cannot be honoured and is a
// plain abandon), handler.Reject dead-letters it straight away with a reason
// and description. While handlers run, Consumer renews every message lock at
// half its remaining time (or the session lock for a SessionReceiver) and
// stops renewing a message just before settling it; after MaxLockRenewal it
// gives up, so a handler that outlives that loses its lock. A settlement that
// fails (typically ErrLockLost) is reported through OnResult (as
// handler.SettledRetry with a *SettleError), the log and
// Stats.SettleFailed, never counted as done: Service Bus redelivers the
// message when its lock expires. Messages of one session run in order (the
// SessionId is their OrderingKey); after one fails, the rest of the batch's
// session messages are abandoned unrun. No message fails before the handler
// in this path (every received message becomes one); in the Function path
// a request that cannot be decoded fails as a whole, so no later message of
// a session runs ahead of it. On shutdown Consumer stops
// receiving, lets the batch in hand finish (ShutdownGrace), settles it and
// returns.
//
// Function answers 200 when every message of the invocation was
// acknowledged, and the host completes them; 500 when any failed, and the
// host abandons all of the invocation's messages (a batch is settled as a
// whole: its acknowledged messages come back and the idempotency middleware
// skips them); 400 when the request cannot be decoded (missing Data or
// Metadata, an unknown binding, a DeliveryCount that is not a number, a
// batch where a single message was expected), so the message is redelivered
// and eventually dead-lettered, never acknowledged unread. A custom handler
// cannot dead-letter a message itself: a rejected message fails the
// invocation and reaches the dead-letter subqueue after MaxDeliveryCount,
// unless FunctionOptions.RejectedOutput routes rejected bodies to an output
// binding (a parking queue) and lets the rest of the batch succeed. The host,
// not this package, renews locks in the Functions path
// (maxAutoLockRenewalDuration in host.json). The host writes the answer's
// Logs to the invocation log only for a 2xx answer, so failures are also
// logged with Options.Logger (stderr, which the host collects).
//
// # Results, Logs and Dead Letters
//
// Both paths call their options' OnResult, a handler.ResultHook, once per
// message after its settlement, and log one line for every message that is
// not completed with its ID, source, queue, settlement and reason. Consumer
// dead-letters with the handler.Attr* application properties (error text
// cut to handler.MaxAttrError bytes, outcome, message ID, source, queue)
// next to the reason and description. Function's RejectedOutput receives
// the body alone: an output binding cannot carry properties.
//
// # Trace Context
//
// The Diagnostic-Id application property, which the Azure SDKs set to the
// producer's W3C traceparent, stays in Message.Attributes under that name
// in both paths, for tracing middleware.
//
// # What was and was not run against a real broker
//
// Nothing in this package has been run against a real Service Bus namespace
// or emulator: Microsoft's emulator runs only under Docker, which the test
// machines do not have, and azservicebus cannot talk to a plain AMQP broker.
// The custom-handler path is tested end to end over real HTTP (the built
// examples/azure-servicebus binary on a loopback port), driven with requests
// reconstructed from the Functions host and Service Bus extension source (see
// testdata/README.md), not captured from a running host. The Consumer is
// tested against fakes of the Receiver interface (which *azservicebus.Receiver
// and *azservicebus.SessionReceiver satisfy, checked at compile time), with a
// fake clock for lock renewal. The SDK calls themselves (receive, settle,
// renew) are therefore unverified here.
//
// # As
//
// In the Functions path, Message.As reaches a FunctionMetadata (or
// *FunctionMetadata) with the trigger metadata. In the Consumer path it
// reaches the *azservicebus.ReceivedMessage; do not read its LockedUntil
// while the handler runs, since lock renewal updates it.
package servicebus
