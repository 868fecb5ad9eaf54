package pubsub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// Envelope is the JSON document a wrapped push subscription posts, and the
// data of a messagePublished CloudEvent:
//
//	{"message": {"data": "base64", "attributes": {...}, "messageId": "...",
//	  "publishTime": "RFC 3339", "orderingKey": "..."},
//	 "subscription": "projects/P/subscriptions/S", "deliveryAttempt": 2}
//
// Handlers reach it with Message.As(&env) where env is a *Envelope.
type Envelope struct {
	Message      *PushMessage `json:"message"`
	Subscription string       `json:"subscription,omitempty"`
	// DeliveryAttempt is set by Pub/Sub only when the subscription has a
	// dead-letter policy.
	DeliveryAttempt int `json:"deliveryAttempt,omitempty"`
}

// PushMessage is the "message" object of an Envelope. Pub/Sub writes both
// the camelCase and the snake_case spelling of the ID and publish time; either
// is accepted.
type PushMessage struct {
	// Data is the payload, base64-encoded (standard alphabet).
	Data             string            `json:"data,omitempty"`
	Attributes       map[string]string `json:"attributes,omitempty"`
	MessageID        string            `json:"messageId,omitempty"`
	MessageIDSnake   string            `json:"message_id,omitempty"`
	PublishTime      string            `json:"publishTime,omitempty"`
	PublishTimeSnake string            `json:"publish_time,omitempty"`
	OrderingKey      string            `json:"orderingKey,omitempty"`
}

// ID returns the message ID, whichever spelling carried it.
func (pm *PushMessage) ID() string {
	if pm.MessageID != "" {
		return pm.MessageID
	}
	return pm.MessageIDSnake
}

// decodeEnvelope parses body strictly enough to explain what is wrong with
// it; every error it returns is a permanent *MalformedError.
func decodeEnvelope(body []byte) (*Envelope, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, malformed("", errors.New("empty body"))
	}
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return nil, malformed(ute.Field, fmt.Errorf("want %s, got JSON %s", ute.Type, ute.Value))
		}
		return nil, malformed("", fmt.Errorf("not a JSON object: %w", err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("", errors.New("unexpected data after the JSON object"))
	}
	if env.Message == nil {
		return nil, malformed("message", errors.New("missing"))
	}
	if env.DeliveryAttempt < 0 {
		return nil, malformed("deliveryAttempt", fmt.Errorf("negative (%d)", env.DeliveryAttempt))
	}
	return &env, nil
}

// decodeData decodes the base64 data of a push message. Pub/Sub uses the
// standard alphabet with padding; unpadded input is accepted too.
func decodeData(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err2 := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		if err2 == nil {
			return b, nil
		}
		return nil, malformed("message.data", fmt.Errorf("not base64: %w", err))
	}
	return b, nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, malformed(field, fmt.Errorf("not an RFC 3339 time: %w", err))
	}
	return t, nil
}

// toMessage builds the portable Message from an envelope. raw are the
// values exposed through Message.As.
func (env *Envelope) toMessage(raw ...any) (*handler.Message, error) {
	pm := env.Message
	body, err := decodeData(pm.Data)
	if err != nil {
		return nil, err
	}
	pt := pm.PublishTime
	if pt == "" {
		pt = pm.PublishTimeSnake
	}
	published, err := parseTime("message.publishTime", pt)
	if err != nil {
		return nil, err
	}
	m := &handler.Message{
		ID:              pm.ID(),
		Body:            body,
		Attributes:      pm.Attributes,
		Source:          handler.SourcePubSub,
		Queue:           env.Subscription,
		OrderingKey:     pm.OrderingKey,
		DeliveryAttempt: env.DeliveryAttempt,
		PublishedAt:     published,
	}
	m.SetRaw(append([]any{env}, raw...)...)
	return m, nil
}
