package servicebus

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/textutil"
)

// invokeRequest is the body the Functions host POSTs to /<FunctionName>
// (HttpScriptInvocationContext in Azure/azure-functions-host).
type invokeRequest struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// FunctionMetadata is the trigger metadata of one message delivered through
// the custom handler, as the Service Bus extension reports it. Handlers reach
// it with Message.As:
//
//	var md servicebus.FunctionMetadata
//	if m.As(&md) { ... md.CorrelationID ... }
type FunctionMetadata struct {
	MessageID      string
	DeliveryCount  int
	SessionID      string
	ContentType    string
	CorrelationID  string
	Subject        string
	ReplyTo        string
	To             string
	LockToken      string
	SequenceNumber int64
	EnqueuedTime   time.Time
	// ApplicationProperties are the message's application (user)
	// properties as JSON values.
	ApplicationProperties map[string]json.RawMessage
	// Raw is the whole Metadata object of the invocation (for a batch, the
	// arrays of every message), keyed as the host sent it.
	Raw map[string]json.RawMessage
}

// metadata is the case-insensitive view of the request's Metadata (the
// host's binding data dictionary is case-insensitive).
type metadata struct {
	fn  string
	raw map[string]json.RawMessage
	low map[string]json.RawMessage
}

func newMetadata(fn string, raw map[string]json.RawMessage) metadata {
	low := make(map[string]json.RawMessage, len(raw))
	for k, v := range raw {
		low[strings.ToLower(k)] = v
	}
	return metadata{fn: fn, raw: raw, low: low}
}

func (md metadata) get(names ...string) (string, json.RawMessage, bool) {
	for _, n := range names {
		v, ok := md.low[strings.ToLower(n)]
		if ok && !isNull(v) {
			return n, v, true
		}
	}
	return "", nil, false
}

func (md metadata) bad(field string, format string, args ...any) error {
	return &RequestError{Function: md.fn, Field: "Metadata." + field, Err: fmt.Errorf("%w: %s", ErrBadMetadata, fmt.Sprintf(format, args...))}
}

func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// hostString decodes a value the host serialised with
// GetHttpScriptInvocationContextValue: a .NET string arrives as a JSON string
// that itself holds a JSON string literal ("\"abc\""), numbers as JSON
// strings ("1"), and DateTimes as plain JSON strings. A JSON string is
// unquoted once more when its content is a JSON string literal; numbers and
// booleans give their JSON text.
func hostString(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return unquoteInner(s), true
	case '{', '[':
		return "", false
	default: // number, true, false
		return string(v), true
	}
}

// unquoteInner returns the string inside s when s is a JSON string literal,
// else s.
func unquoteInner(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var inner string
		if json.Unmarshal([]byte(s), &inner) == nil {
			return inner
		}
	}
	return s
}

// hostArray decodes a metadata array. The host sends .NET arrays as a JSON
// string holding the JSON array ("[1,2]"); a plain JSON array is accepted
// too.
func hostArray(v json.RawMessage) ([]json.RawMessage, bool) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		v = bytes.TrimSpace([]byte(s))
	}
	var out []json.RawMessage
	if len(v) == 0 || v[0] != '[' || json.Unmarshal(v, &out) != nil {
		return nil, false
	}
	return out, true
}

// hostObject decodes an object value (ApplicationProperties), sent as a JSON
// object or as a string holding one.
func hostObject(v json.RawMessage) (map[string]json.RawMessage, bool) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		v = bytes.TrimSpace([]byte(unquoteInner(s)))
	}
	var out map[string]json.RawMessage
	if len(v) == 0 || v[0] != '{' || json.Unmarshal(v, &out) != nil {
		return nil, false
	}
	return out, true
}

func parseCount(s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a non-negative integer: %q", s)
	}
	return int(n), nil
}

// parseHostTime parses the DateTime and DateTimeOffset forms Newtonsoft
// writes: ISO 8601 with "Z", with an offset, or with no zone at all (the
// host turns EnqueuedTimeUtc into an unzoned DateTime; it is UTC).
func parseHostTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.UTC); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// attributeString renders an application property value as a string:
// strings as they are, other JSON values by their JSON text.
func attributeString(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	if isNull(v) {
		return ""
	}
	return string(v)
}

func attributes(props map[string]json.RawMessage) map[string]string {
	if len(props) == 0 {
		return nil
	}
	out := make(map[string]string, len(props))
	for k, v := range props {
		out[k] = attributeString(v)
	}
	return out
}

// decodeBodies returns the message bodies held in the trigger binding's Data
// value. Single (cardinality one): the host sends the message body, read as
// a string, through JsonConvert.SerializeObject, so the JSON value is a
// string holding a JSON string literal; with "dataType": "binary" it is the
// base64 of the body. Batch (cardinality many): a JSON string holding a JSON
// array of bodies (strings, base64 strings for binary, or JSON values).
func decodeBodies(fn, binding string, v json.RawMessage, many, binary bool) ([][]byte, error) {
	bad := func(format string, args ...any) error {
		return &RequestError{Function: fn, Field: "Data." + binding, Err: fmt.Errorf("%w: %s", ErrBadData, fmt.Sprintf(format, args...))}
	}
	v = bytes.TrimSpace(v)
	if isNull(v) {
		return nil, bad("value is null")
	}
	if !many {
		if v[0] != '"' {
			// A JSON object or array: the host bound the body as a POCO
			// (no dataType in function.json); the body is its JSON.
			if v[0] == '{' || v[0] == '[' {
				return [][]byte{append([]byte(nil), v...)}, nil
			}
			return nil, bad("want a string, got %s", truncate(string(v), 40))
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, bad("%v", err)
		}
		if !binary {
			return [][]byte{[]byte(unquoteInner(s))}, nil
		}
		b, err := base64.StdEncoding.DecodeString(unquoteInner(s))
		if err != nil {
			return nil, bad("dataType binary: body is not base64: %v", err)
		}
		return [][]byte{b}, nil
	}

	elems, ok := hostArray(v)
	if !ok {
		return nil, &RequestError{Function: fn, Field: "Data." + binding, Err: fmt.Errorf("%w: want an array of messages for cardinality many", ErrCardinality)}
	}
	out := make([][]byte, len(elems))
	for i, e := range elems {
		e = bytes.TrimSpace(e)
		switch {
		case isNull(e):
			out[i] = nil
		case e[0] == '"':
			var s string
			if err := json.Unmarshal(e, &s); err != nil {
				return nil, bad("message %d: %v", i, err)
			}
			if binary {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, bad("message %d: dataType binary: body is not base64: %v", i, err)
				}
				out[i] = b
			} else {
				out[i] = []byte(s)
			}
		default: // a JSON value bound as a POCO
			out[i] = append([]byte(nil), e...)
		}
	}
	return out, nil
}

// buildMessages turns the trigger's bodies and metadata into messages.
func buildMessages(fn string, bodies [][]byte, md metadata, many bool, queue string) ([]*handler.Message, error) {
	if !many {
		if _, _, isBatch := md.get("MessageIdArray", "DeliveryCountArray"); isBatch {
			return nil, &RequestError{Function: fn, Field: "Metadata", Err: fmt.Errorf("%w: got batch metadata (MessageIdArray) for a single-message trigger", ErrCardinality)}
		}
		fm, err := singleMetadata(md)
		if err != nil {
			return nil, err
		}
		return []*handler.Message{newMessage(bodies[0], fm, queue)}, nil
	}

	n := len(bodies)
	fms := make([]*FunctionMetadata, n)
	for i := range fms {
		fms[i] = &FunctionMetadata{Raw: md.raw}
	}
	// arr decodes the array metadata field name (and its aliases) and calls
	// set for each element.
	arr := func(set func(fm *FunctionMetadata, v json.RawMessage) error, names ...string) error {
		name, raw, ok := md.get(names...)
		if !ok {
			return nil
		}
		elems, ok := hostArray(raw)
		if !ok {
			return md.bad(name, "not an array")
		}
		if len(elems) != n {
			return md.bad(name, "%d values for %d messages", len(elems), n)
		}
		for i, e := range elems {
			if isNull(e) {
				continue
			}
			if err := set(fms[i], e); err != nil {
				return md.bad(fmt.Sprintf("%s[%d]", name, i), "%v", err)
			}
		}
		return nil
	}
	str := func(dst func(fm *FunctionMetadata) *string) func(fm *FunctionMetadata, v json.RawMessage) error {
		return func(fm *FunctionMetadata, v json.RawMessage) error {
			s, ok := hostString(v)
			if !ok {
				return fmt.Errorf("not a string: %s", truncate(string(v), 40))
			}
			*dst(fm) = s
			return nil
		}
	}
	steps := []error{
		arr(str(func(fm *FunctionMetadata) *string { return &fm.MessageID }), "MessageIdArray"),
		arr(func(fm *FunctionMetadata, v json.RawMessage) error {
			s, ok := hostString(v)
			if !ok {
				return fmt.Errorf("not a number: %s", truncate(string(v), 40))
			}
			c, err := parseCount(s)
			fm.DeliveryCount = c
			return err
		}, "DeliveryCountArray"),
		arr(str(func(fm *FunctionMetadata) *string { return &fm.SessionID }), "SessionIdArray"),
		arr(str(func(fm *FunctionMetadata) *string { return &fm.ContentType }), "ContentTypeArray"),
		arr(str(func(fm *FunctionMetadata) *string { return &fm.CorrelationID }), "CorrelationIdArray"),
		arr(str(func(fm *FunctionMetadata) *string { return &fm.Subject }), "SubjectArray", "LabelArray"),
		arr(str(func(fm *FunctionMetadata) *string { return &fm.ReplyTo }), "ReplyToArray"),
		arr(str(func(fm *FunctionMetadata) *string { return &fm.To }), "ToArray"),
		arr(str(func(fm *FunctionMetadata) *string { return &fm.LockToken }), "LockTokenArray"),
		arr(func(fm *FunctionMetadata, v json.RawMessage) error {
			s, _ := hostString(v)
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return fmt.Errorf("not a number: %s", truncate(string(v), 40))
			}
			fm.SequenceNumber = n
			return nil
		}, "SequenceNumberArray"),
		arr(func(fm *FunctionMetadata, v json.RawMessage) error {
			// An unreadable time is not worth failing the batch for: the
			// message keeps a zero PublishedAt.
			if s, ok := hostString(v); ok {
				fm.EnqueuedTime, _ = parseHostTime(s)
			}
			return nil
		}, "EnqueuedTimeUtcArray", "EnqueuedTimeArray"),
		arr(func(fm *FunctionMetadata, v json.RawMessage) error {
			props, ok := hostObject(v)
			if !ok {
				return fmt.Errorf("not an object: %s", truncate(string(v), 40))
			}
			fm.ApplicationProperties = props
			return nil
		}, "ApplicationPropertiesArray", "UserPropertiesArray"),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}
	msgs := make([]*handler.Message, n)
	for i := range msgs {
		msgs[i] = newMessage(bodies[i], fms[i], queue)
	}
	return msgs, nil
}

func singleMetadata(md metadata) (*FunctionMetadata, error) {
	fm := &FunctionMetadata{Raw: md.raw}
	strs := []struct {
		dst   *string
		names []string
	}{
		{&fm.MessageID, []string{"MessageId"}},
		{&fm.SessionID, []string{"SessionId"}},
		{&fm.ContentType, []string{"ContentType"}},
		{&fm.CorrelationID, []string{"CorrelationId"}},
		{&fm.Subject, []string{"Subject", "Label"}},
		{&fm.ReplyTo, []string{"ReplyTo"}},
		{&fm.To, []string{"To"}},
		{&fm.LockToken, []string{"LockToken"}},
	}
	for _, f := range strs {
		name, raw, ok := md.get(f.names...)
		if !ok {
			continue
		}
		s, ok := hostString(raw)
		if !ok {
			return nil, md.bad(name, "not a string: %s", truncate(string(raw), 40))
		}
		*f.dst = s
	}
	if name, raw, ok := md.get("DeliveryCount"); ok {
		s, ok := hostString(raw)
		if !ok {
			return nil, md.bad(name, "not a number: %s", truncate(string(raw), 40))
		}
		c, err := parseCount(s)
		if err != nil {
			return nil, md.bad(name, "%v", err)
		}
		fm.DeliveryCount = c
	}
	if name, raw, ok := md.get("SequenceNumber"); ok {
		s, _ := hostString(raw)
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, md.bad(name, "not a number: %s", truncate(string(raw), 40))
		}
		fm.SequenceNumber = n
	}
	if _, raw, ok := md.get("EnqueuedTimeUtc", "EnqueuedTime"); ok {
		if s, ok := hostString(raw); ok {
			fm.EnqueuedTime, _ = parseHostTime(s)
		}
	}
	if name, raw, ok := md.get("ApplicationProperties", "UserProperties"); ok {
		props, ok := hostObject(raw)
		if !ok {
			return nil, md.bad(name, "not an object: %s", truncate(string(raw), 40))
		}
		fm.ApplicationProperties = props
	}
	return fm, nil
}

func newMessage(body []byte, fm *FunctionMetadata, queue string) *handler.Message {
	m := &handler.Message{
		ID:              fm.MessageID,
		Body:            body,
		Attributes:      attributes(fm.ApplicationProperties),
		Source:          handler.SourceServiceBus,
		Queue:           queue,
		OrderingKey:     fm.SessionID,
		DeliveryAttempt: fm.DeliveryCount,
		PublishedAt:     fm.EnqueuedTime,
	}
	m.SetRaw(fm)
	return m
}

// pickBinding returns the trigger binding's value in data.
func pickBinding(fn, binding string, data map[string]json.RawMessage) (string, json.RawMessage, error) {
	if binding != "" {
		if v, ok := data[binding]; ok {
			return binding, v, nil
		}
		for k, v := range data { // binding names are case-insensitive in function.json
			if strings.EqualFold(k, binding) {
				return k, v, nil
			}
		}
		return "", nil, &RequestError{Function: fn, Field: "Data", Err: fmt.Errorf("%w: want %q, have %s", ErrUnknownBinding, binding, keysOf(data))}
	}
	if len(data) == 1 {
		for k, v := range data {
			return k, v, nil
		}
	}
	return "", nil, &RequestError{Function: fn, Field: "Data", Err: fmt.Errorf("%w: set FunctionOptions.Binding to one of %s", ErrUnknownBinding, keysOf(data))}
}

func keysOf(m map[string]json.RawMessage) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, strconv.Quote(k))
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "none"
	}
	return strings.Join(ks, ", ")
}

// truncate shortens a value quoted in an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return textutil.Truncate(s, n) + "..."
}
