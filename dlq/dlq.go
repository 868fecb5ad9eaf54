package dlq

import (
	"context"
	"errors"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// Errors drivers return, classified with errors.Is.
var (
	// ErrNoSource: the dead-letter queue has no source queue or topic
	// configured and none was given.
	ErrNoSource = errors.New("dlq: no source configured for the dead-letter queue")
	// ErrNotFound: the dead-letter queue or the redrive target does not exist.
	ErrNotFound = errors.New("dlq: not found")
	// ErrUnsupported: the endpoint does not implement the operation (an
	// emulator without native redrive, for instance).
	ErrUnsupported = errors.New("dlq: not supported by the endpoint")
)

// Message is one dead letter as a driver read it.
type Message struct {
	// ID is the broker's ID of the dead letter.
	ID string `json:"id"`
	// Body is the payload.
	Body []byte `json:"body"`
	// Attributes are the message's string attributes (message attributes,
	// attributes, application properties, headers), eventfn's included.
	Attributes map[string]string `json:"attributes,omitempty"`
	// DeliveryCount is how often the broker delivered the message, when it
	// tells (0 otherwise).
	DeliveryCount int `json:"delivery_count"`
	// Error is the error eventfn recorded (handler.AttrError), or the
	// broker's dead-letter reason.
	Error string `json:"error,omitempty"`
	// Timestamp is when the message was first sent, when known.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Source names where a redrive sends the message (queue URL, topic,
	// exchange), when known.
	Source string `json:"source,omitempty"`
	// GroupID is the FIFO message group, session ID or ordering key.
	GroupID string `json:"group_id,omitempty"`
	// DedupID is the FIFO deduplication ID.
	DedupID string `json:"dedup_id,omitempty"`
	// Handle is the driver's lease on the message; callers leave it alone.
	Handle any `json:"-"`
}

// OriginalID returns the ID the message had before it was dead-lettered:
// handler.AttrMessageID when an adapter recorded it, else ID.
func (m *Message) OriginalID() string {
	if v := m.Attributes[handler.AttrMessageID]; v != "" {
		return v
	}
	return m.ID
}

// ErrorText returns Error, or the handler.AttrError attribute when the
// driver left Error empty.
func (m *Message) ErrorText() string {
	if m.Error != "" {
		return m.Error
	}
	return m.Attributes[handler.AttrError]
}

// Queue describes a dead-letter queue.
type Queue struct {
	// Name is the queue, subscription or Service Bus entity name.
	Name string `json:"name"`
	// URL is the URL eventfn dlq accepts for it.
	URL string `json:"url"`
	// Depth is the number of messages waiting, or -1 when the broker does
	// not report it (Pub/Sub).
	Depth int64 `json:"depth"`
	// Sources are the queues or topics that dead-letter into it.
	Sources []string `json:"sources,omitempty"`
}

// Driver is one dead-letter queue on one broker. Implementations need not be
// safe for concurrent use; Redrive calls them from one goroutine.
type Driver interface {
	// Depth returns how many messages wait in the queue, or -1 when unknown.
	Depth(ctx context.Context) (int64, error)
	// Peek returns up to max messages and leaves them in the queue.
	Peek(ctx context.Context, max int) ([]*Message, error)
	// Receive leases up to max messages: they stay in the queue, invisible
	// to other receivers, until Delete or Release. An empty result means
	// the queue looks empty.
	Receive(ctx context.Context, max int) ([]*Message, error)
	// Send publishes a copy of m (body, attributes, group and
	// deduplication IDs) to its source and returns once the broker
	// confirmed it.
	Send(ctx context.Context, m *Message) error
	// Delete removes a leased message from the queue.
	Delete(ctx context.Context, m *Message) error
	// Release returns a leased message to the queue unchanged.
	Release(ctx context.Context, m *Message) error
	// Close releases the driver's resources, not the broker client's.
	Close() error
}

// Ordered is implemented by drivers of queues that deliver a group's next
// message only after the previous one was settled (SQS FIFO). Redrive
// releases the messages it leaves alone at once on such queues instead of
// holding them, so a filtered-out or dry-run message blocks only the rest
// of its own group, and the run ends when only those are left.
type Ordered interface {
	Ordered() bool
}
