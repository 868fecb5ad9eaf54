package pull

import (
	"context"
	"fmt"

	gpubsub "cloud.google.com/go/pubsub/v2"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

// PublishDeadLetters returns a DeadLetterFunc that publishes each rejected
// message to p (the dead-letter topic) with its body and
// pubsub.DeadLetterAttributes, and waits for the publish to be confirmed. The copy
// gets a new message ID and no ordering key (p need not enable message
// ordering); handler.AttrMessageID and pubsub.AttrOrderingKey keep the
// originals.
// The caller owns p and stops it after the receiver returns.
func PublishDeadLetters(p *gpubsub.Publisher) pubsub.DeadLetterFunc {
	return func(ctx context.Context, m *handler.Message, cause error) error {
		attrs := pubsub.DeadLetterAttributes(m, cause)
		if _, err := p.Publish(ctx, &gpubsub.Message{Data: m.Body, Attributes: attrs}).Get(ctx); err != nil {
			return fmt.Errorf("pull: publish message %s to dead-letter topic %s: %w", m.ID, p, err)
		}
		return nil
	}
}
