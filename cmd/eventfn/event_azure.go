package main

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// serviceBusRequest builds the body the Azure Functions host POSTs to a
// custom handler with a serviceBusTrigger, encoded as the host encodes it
// (see adapters/servicebus/testdata/README.md): strings double-encoded,
// numbers as strings, a batch's metadata as strings holding JSON arrays.
func (s *eventSpec) serviceBusRequest(msgs []eventMessage) (map[string]any, error) {
	many := s.many || len(msgs) > 1
	binding := s.binding
	if binding == "" {
		binding = "order"
		if many {
			binding = "orders"
		}
	}
	enqueued := s.now.Add(-time.Second).Truncate(time.Second)
	expires := enqueued.Add(14 * 24 * time.Hour)
	hostTime := func(t time.Time) string { return t.Format("2006-01-02T15:04:05") }
	hostOffset := func(t time.Time) string { return t.Format("2006-01-02T15:04:05+00:00") }
	quote := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	body := func(b []byte) string {
		if s.binary {
			return base64.StdEncoding.EncodeToString(b)
		}
		return string(b)
	}
	props := map[string]string{}
	for k, v := range msgsAttrs(msgs) {
		props[k] = v
	}
	md := map[string]any{
		"MessageReceiver": map[string]any{}, "MessageSession": map[string]any{},
		"MessageActions": map[string]any{}, "SessionActions": map[string]any{}, "ReceiveActions": map[string]any{},
		"Client": map[string]any{
			"FullyQualifiedNamespace": "eventfn-local.servicebus.windows.net",
			"IsClosed":                false,
			"TransportType":           0,
			"Identifier":              "eventfn-local.servicebus.windows.net-" + newUUID(),
		},
		"sys": map[string]any{
			"MethodName": s.function,
			"UtcNow":     s.now.Format(time.RFC3339Nano),
			"RandGuid":   newUUID(),
		},
	}
	data := map[string]any{}
	if !many {
		m := msgs[0]
		data[binding] = quote(body(m.Body))
		md["DeliveryCount"] = strconv.Itoa(s.attempt)
		md["LockToken"] = quote(newUUID())
		md["ExpiresAtUtc"] = hostTime(expires)
		md["ExpiresAt"] = hostOffset(expires)
		md["EnqueuedTimeUtc"] = hostTime(enqueued)
		md["EnqueuedTime"] = hostOffset(enqueued)
		md["MessageId"] = quote(m.ID)
		md["ContentType"] = quote("application/json")
		md["SequenceNumber"] = "1"
		md["ApplicationProperties"] = props
		md["UserProperties"] = props
		if s.orderingKey != "" {
			md["SessionId"] = quote(s.orderingKey)
		}
		return map[string]any{"Data": data, "Metadata": md}, nil
	}
	arr := func(f func(i int, m eventMessage) any) string {
		out := make([]any, len(msgs))
		for i, m := range msgs {
			out[i] = f(i, m)
		}
		b, _ := json.Marshal(out)
		return string(b)
	}
	data[binding] = arr(func(_ int, m eventMessage) any { return body(m.Body) })
	md["DeliveryCountArray"] = arr(func(int, eventMessage) any { return s.attempt })
	md["LockTokenArray"] = arr(func(int, eventMessage) any { return newUUID() })
	md["ExpiresAtUtcArray"] = arr(func(int, eventMessage) any { return hostTime(expires) })
	md["ExpiresAtArray"] = arr(func(int, eventMessage) any { return hostOffset(expires) })
	md["EnqueuedTimeUtcArray"] = arr(func(int, eventMessage) any { return hostTime(enqueued) })
	md["EnqueuedTimeArray"] = arr(func(int, eventMessage) any { return hostOffset(enqueued) })
	md["MessageIdArray"] = arr(func(_ int, m eventMessage) any { return m.ID })
	md["ContentTypeArray"] = arr(func(int, eventMessage) any { return "application/json" })
	md["SequenceNumberArray"] = arr(func(i int, _ eventMessage) any { return i + 1 })
	md["ApplicationPropertiesArray"] = arr(func(_ int, m eventMessage) any { return nonNil(m.Attrs) })
	md["UserPropertiesArray"] = arr(func(_ int, m eventMessage) any { return nonNil(m.Attrs) })
	md["SessionIdArray"] = arr(func(int, eventMessage) any {
		if s.orderingKey == "" {
			return nil
		}
		return s.orderingKey
	})
	return map[string]any{"Data": data, "Metadata": md}, nil
}

func msgsAttrs(msgs []eventMessage) map[string]string {
	if len(msgs) == 0 {
		return nil
	}
	return msgs[0].Attrs
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
