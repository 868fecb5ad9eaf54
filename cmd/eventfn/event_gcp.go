package main

import (
	"encoding/base64"
	"time"
)

// pushEnvelope is the JSON body of a Pub/Sub push request (wrapped).
type pushEnvelope struct {
	Message         pushMessage `json:"message"`
	Subscription    string      `json:"subscription"`
	DeliveryAttempt int         `json:"deliveryAttempt,omitempty"`
}

// pushMessage carries both spellings of the ID and publish time, as Pub/Sub
// writes them.
type pushMessage struct {
	Attributes       map[string]string `json:"attributes,omitempty"`
	Data             string            `json:"data"`
	MessageID        string            `json:"messageId"`
	MessageIDSnake   string            `json:"message_id"`
	OrderingKey      string            `json:"orderingKey,omitempty"`
	PublishTime      string            `json:"publishTime"`
	PublishTimeSnake string            `json:"publish_time"`
}

// cloudEvent is a messagePublished CloudEvent in structured JSON.
type cloudEvent struct {
	SpecVersion     string         `json:"specversion"`
	Type            string         `json:"type"`
	Source          string         `json:"source"`
	ID              string         `json:"id"`
	Time            string         `json:"time"`
	DataContentType string         `json:"datacontenttype"`
	Data            cloudEventData `json:"data"`
}

type cloudEventData struct {
	Message      pushMessage `json:"message"`
	Subscription string      `json:"subscription"`
}

const messagePublished = "google.cloud.pubsub.topic.v1.messagePublished"

func (s *eventSpec) gcpProject() string {
	return envDefault(s.project, "GOOGLE_CLOUD_PROJECT", "my-project")
}

func (s *eventSpec) subscriptionPath() string {
	return "projects/" + s.gcpProject() + "/subscriptions/" + orDefault(s.queue, "orders-sub")
}

func (s *eventSpec) pushMessage(m eventMessage) pushMessage {
	t := s.now.Add(-300 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
	return pushMessage{
		Attributes:       m.Attrs,
		Data:             base64.StdEncoding.EncodeToString(m.Body),
		MessageID:        m.ID,
		MessageIDSnake:   m.ID,
		OrderingKey:      s.orderingKey,
		PublishTime:      t,
		PublishTimeSnake: t,
	}
}

func (s *eventSpec) pushEnvelopes(msgs []eventMessage) []pushEnvelope {
	out := make([]pushEnvelope, len(msgs))
	for i, m := range msgs {
		out[i] = pushEnvelope{Message: s.pushMessage(m), Subscription: s.subscriptionPath(), DeliveryAttempt: s.attempt}
	}
	return out
}

func (s *eventSpec) cloudEvents(msgs []eventMessage) []cloudEvent {
	out := make([]cloudEvent, len(msgs))
	for i, m := range msgs {
		pm := s.pushMessage(m)
		out[i] = cloudEvent{
			SpecVersion:     "1.0",
			Type:            messagePublished,
			Source:          "//pubsub.googleapis.com/projects/" + s.gcpProject() + "/topics/" + orDefault(s.topic, "orders"),
			ID:              m.ID,
			Time:            pm.PublishTime,
			DataContentType: "application/json",
			Data:            cloudEventData{Message: pm, Subscription: s.subscriptionPath()},
		}
	}
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
