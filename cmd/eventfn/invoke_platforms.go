package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// invokeLambda posts an SQS or SNS event to a Lambda invocations URL and
// reads batchItemFailures.
func invokeLambda(ctx context.Context, target string, payload []byte) (*invokeResult, error) {
	var ev struct {
		Records []struct {
			MessageID   string `json:"messageId"`
			EventSource string `json:"EventSource"`
			SNS         *struct {
				MessageID string `json:"MessageId"`
			} `json:"Sns"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil || len(ev.Records) == 0 {
		return nil, fmt.Errorf("the event is not an SQS or SNS event with Records (make one with eventfn event sqs)")
	}
	resp, body, err := post(ctx, target, payload, nil)
	if err != nil {
		return nil, err
	}
	res := &invokeResult{Status: resp.StatusCode}
	var answer struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	decodeErr := json.Unmarshal(body, &answer)
	sns := ev.Records[0].SNS != nil && ev.Records[0].EventSource == "aws:sns"
	switch {
	case resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" || answer.ErrorType != "" || answer.ErrorMessage != "":
		res.FunctionError = strings.TrimSpace(answer.ErrorType + ": " + answer.ErrorMessage)
		if answer.ErrorType == "" && answer.ErrorMessage == "" {
			res.FunctionError = fmt.Sprintf("status %d: %s", resp.StatusCode, truncateText(string(bytes.TrimSpace(body)), 400))
		}
	case decodeErr != nil && !sns:
		return nil, fmt.Errorf("the function at %s answered %q, not an SQS batch response", target, truncateText(string(body), 200))
	}
	failed := map[string]bool{}
	for _, f := range answer.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, r := range ev.Records {
		id := r.MessageID
		if r.SNS != nil && id == "" {
			id = r.SNS.MessageID
		}
		out := invokeOutcome{ID: id, Outcome: outcomeAcked}
		switch {
		case res.FunctionError != "" && sns:
			out.Outcome, out.Reason = outcomeRetried, "the invocation failed: Lambda retries the SNS event asynchronously, then its on-failure destination takes it"
		case res.FunctionError != "":
			out.Outcome, out.Reason = outcomeRetried, "the invocation failed: every message of the batch becomes visible again"
		case failed[id]:
			out.Outcome, out.Reason = outcomeRetried, "in batchItemFailures: visible again after the visibility timeout, dead-lettered after maxReceiveCount"
		}
		res.Messages = append(res.Messages, out)
	}
	return res, nil
}

// invokeGCP posts each push envelope or CloudEvent of the event (an object
// or an array of them) as one request, as Pub/Sub and Eventarc do.
func invokeGCP(ctx context.Context, target string, payload []byte) (*invokeResult, error) {
	var items []json.RawMessage
	if t := bytes.TrimSpace(payload); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(t, &items); err != nil {
			return nil, fmt.Errorf("the event is not a JSON array of push bodies or CloudEvents: %w", err)
		}
	} else {
		items = []json.RawMessage{payload}
	}
	res := &invokeResult{}
	for i, item := range items {
		var probe struct {
			SpecVersion     string          `json:"specversion"`
			ID              string          `json:"id"`
			Type            string          `json:"type"`
			Source          string          `json:"source"`
			Time            string          `json:"time"`
			DataContentType string          `json:"datacontenttype"`
			Data            json.RawMessage `json:"data"`
			Message         *struct {
				MessageID      string `json:"messageId"`
				MessageIDSnake string `json:"message_id"`
			} `json:"message"`
		}
		if err := json.Unmarshal(item, &probe); err != nil {
			return nil, fmt.Errorf("event %d is not a JSON object: %w", i+1, err)
		}
		body, header := []byte(item), http.Header{}
		id := ""
		switch {
		case probe.SpecVersion != "":
			// Eventarc delivers in binary mode: attributes as ce- headers,
			// the data as the body.
			id = probe.ID
			header.Set("Ce-Specversion", probe.SpecVersion)
			header.Set("Ce-Id", probe.ID)
			header.Set("Ce-Type", probe.Type)
			header.Set("Ce-Source", probe.Source)
			if probe.Time != "" {
				header.Set("Ce-Time", probe.Time)
			}
			header.Set("Content-Type", orDefault(probe.DataContentType, "application/json"))
			body = probe.Data
		case probe.Message != nil:
			id = orDefault(probe.Message.MessageID, probe.Message.MessageIDSnake)
		default:
			return nil, fmt.Errorf("event %d is neither a Pub/Sub push body nor a CloudEvent (make one with eventfn event pubsub-push)", i+1)
		}
		resp, answer, err := post(ctx, target, body, header)
		if err != nil {
			return nil, err
		}
		res.Status = resp.StatusCode
		res.Messages = append(res.Messages, httpOutcome(id, resp, answer))
	}
	return res, nil
}

// httpOutcome reads a push or CloudEvent response: any status outside 2xx
// makes Pub/Sub redeliver and, after max delivery attempts, dead-letter.
func httpOutcome(id string, resp *http.Response, body []byte) invokeOutcome {
	text := truncateText(strings.TrimSpace(string(body)), 400)
	out := invokeOutcome{ID: id, Outcome: outcomeAcked}
	switch s := resp.StatusCode; {
	case s/100 == 2:
	case s/100 == 4:
		out.Outcome = outcomeRejected
		out.Reason = fmt.Sprintf("status %d: %s; redelivered until the subscription's dead-letter policy takes it", s, text)
	default:
		out.Outcome = outcomeRetried
		out.Reason = fmt.Sprintf("status %d: %s", s, text)
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			out.Reason += "; Retry-After " + ra + "s"
		}
	}
	return out
}

// sbLog matches the custom handler's per-message lines in Logs.
var sbLog = regexp.MustCompile(`^eventfn: message (\S+) attempt \d+: (ack|retry|rejected)(.*)$`)

// invokeServiceBus posts a custom-handler request and reads the status and
// the per-message lines of the response's Logs.
func invokeServiceBus(ctx context.Context, target string, payload []byte) (*invokeResult, error) {
	ids, err := serviceBusIDs(payload)
	if err != nil {
		return nil, err
	}
	resp, body, err := post(ctx, target, payload, nil)
	if err != nil {
		return nil, err
	}
	res := &invokeResult{Status: resp.StatusCode}
	var answer struct {
		Logs        []string `json:"Logs"`
		ReturnValue struct {
			Error string `json:"error"`
		} `json:"ReturnValue"`
	}
	if err := json.Unmarshal(body, &answer); err != nil && resp.StatusCode/100 == 2 {
		return nil, fmt.Errorf("the custom handler at %s answered %q, not an invocation result", target, truncateText(string(body), 200))
	}
	type entry struct{ verb, rest string }
	byID := map[string][]entry{}
	for _, l := range answer.Logs {
		if m := sbLog.FindStringSubmatch(l); m != nil {
			byID[m[1]] = append(byID[m[1]], entry{m[2], strings.TrimPrefix(strings.TrimPrefix(m[3], ":"), ",")})
		}
	}
	failed := resp.StatusCode/100 != 2
	if failed && len(byID) == 0 {
		res.FunctionError = fmt.Sprintf("status %d: %s", resp.StatusCode, orDefault(answer.ReturnValue.Error, truncateText(strings.TrimSpace(string(body)), 400)))
	}
	for _, id := range ids {
		out := invokeOutcome{ID: id, Outcome: outcomeAcked}
		var e entry
		if q := byID[id]; len(q) > 0 {
			e, byID[id] = q[0], q[1:]
		}
		rest := strings.TrimSpace(e.rest)
		switch {
		case res.FunctionError != "":
			out.Outcome, out.Reason = outcomeRetried, "the invocation failed ("+res.FunctionError+"): the host abandons its messages"
		case e.verb == "retry":
			out.Outcome, out.Reason = outcomeRetried, rest
		case e.verb == "rejected" && strings.HasPrefix(rest, "routed to output") && failed:
			// The host binds Outputs only after a 2xx answer.
			out.Outcome, out.Reason = outcomeRetried, "rejected ("+rest+"), but the invocation failed, so the host abandons it with the rest; it is routed when it comes back"
		case e.verb == "rejected" && strings.HasPrefix(rest, "routed to output"):
			out.Outcome, out.Reason = outcomeDeadLettered, rest
		case e.verb == "rejected":
			out.Outcome, out.Reason = outcomeRejected, rest
		case failed:
			out.Outcome, out.Reason = outcomeRetried, "acked by the handler, but the invocation failed, so the host abandons all its messages; idempotency skips this one when it comes back"
		}
		res.Messages = append(res.Messages, out)
	}
	return res, nil
}

// serviceBusIDs reads the message IDs of a custom-handler request:
// Metadata.MessageId (a double-encoded string) or MessageIdArray (a string
// holding a JSON array).
func serviceBusIDs(payload []byte) ([]string, error) {
	var req struct {
		Data     map[string]json.RawMessage `json:"Data"`
		Metadata map[string]json.RawMessage `json:"Metadata"`
	}
	if err := json.Unmarshal(payload, &req); err != nil || req.Data == nil || req.Metadata == nil {
		return nil, fmt.Errorf("the event is not a custom-handler request with Data and Metadata (make one with eventfn event servicebus)")
	}
	get := func(name string) (json.RawMessage, bool) {
		for k, v := range req.Metadata {
			if strings.EqualFold(k, name) {
				return v, true
			}
		}
		return nil, false
	}
	unquote := func(v json.RawMessage) string {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return string(v)
		}
		var inner string
		if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &inner) == nil {
			return inner
		}
		return s
	}
	if v, ok := get("MessageIdArray"); ok {
		var ids []string
		if err := json.Unmarshal([]byte(unquote(v)), &ids); err != nil {
			return nil, fmt.Errorf("the event's Metadata.MessageIdArray is not an array of strings: %w", err)
		}
		return ids, nil
	}
	if v, ok := get("MessageId"); ok {
		return []string{unquote(v)}, nil
	}
	return []string{""}, nil
}
