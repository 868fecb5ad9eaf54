// Package sqsdlq is the dlq driver for Amazon SQS dead-letter queues (queues
// that another queue's RedrivePolicy names as deadLetterTargetArn).
//
// # Redrive
//
// Driver implements dlq.Driver: a manual move that receives a message,
// sends a copy to its source queue (message attributes, FIFO group ID and
// deduplication ID kept, handler.AttrMessageID added) and deletes the dead
// letter only after SQS accepted the copy. It works on every endpoint,
// emulators included, and with filters and FIFO queues. A FIFO copy keeps
// its deduplication ID, so SQS drops it when the original was sent to the
// source less than five minutes before.
//
// StartMoveTask, MoveTasks and CancelMoveTask drive SQS's native message
// move task, which moves everything server-side to the original sources;
// endpoints without it (fauxqs, ElasticMQ) answer with an error matching
// dlq.ErrUnsupported.
//
// The source is Options.Source when set, else the queues
// ListDeadLetterSourceQueues returns (or, on endpoints without that call,
// the queues whose RedrivePolicy points at the dead-letter queue). With
// several sources each message goes back to the one in its
// DeadLetterQueueSourceArn system attribute or handler.AttrQueue. A queue no
// RedrivePolicy points at has no source: dlq.ErrNoSource.
//
// # Peek
//
// SQS has no peek: Peek receives messages and makes them visible again at
// once, which counts as a receive in ApproximateReceiveCount.
//
// # Endpoints
//
// The client decides the endpoint: the AWS SDK honours
// AWS_ENDPOINT_URL_SQS (and AWS_ENDPOINT_URL) for emulators.
package sqsdlq
