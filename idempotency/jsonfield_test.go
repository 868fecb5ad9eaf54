package idempotency

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/eventfn/eventfn/handler"
)

// decodedField is FromJSONField as it was first written, decoding the whole
// body into a map: the reference the in-place reader must agree with.
func decodedField(body []byte, path string) (string, bool) {
	if !json.Valid(body) {
		return "", false
	}
	var cur any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&cur) != nil {
		return "", false
	}
	for _, p := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = obj[p]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, v != ""
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

func FuzzFromJSONField(f *testing.F) {
	for _, s := range []struct{ body, path string }{
		{`{"id":"o-1","customer":"c","amount_cents":1}`, "id"},
		{` { "order" : { "id" : "o-9", "n": 12345678901234567890, "ok": true } } `, "order.id"},
		{`{"order":{"n":-1.5e3}}`, "order.n"},
		{`{"a":[{"b":"}"}],"b":"x\"y","c":{"d":"]"}}`, "b"},
		{`{"id":"first","id":"last"}`, "id"},
		{`{"i\u0064":"escaped key"}`, "id"},
		{`{"id":"\u00e9t\u00e9"}`, "id"},
		{"{\"id\":\"\xff\"}", "id"},
		{`{"id":null}`, "id"},
		{`{"id":{}}`, "id.x"},
		{`{"id":"x"} trailing`, "id"},
		{`[1,2]`, "id"},
		{`{"id":""}`, "id"},
		{`{"":{"":"empty names"}}`, "."},
	} {
		f.Add([]byte(s.body), s.path)
	}
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		want, wantOK := decodedField(body, path)
		got, err := FromJSONField(path)(&handler.Message{Body: body})
		if (err == nil) != wantOK || got != want {
			t.Fatalf("body %q path %q: got %q, %v; the decoding reference gives %q, ok=%v", body, path, got, err, want, wantOK)
		}
	})
}

func BenchmarkFromJSONField(b *testing.B) {
	key := FromJSONField("id")
	m := &handler.Message{Body: []byte(`{"id":"o-1732212345-7","customer":"c-42","amount_cents":1999,"items":[{"sku":"a","qty":1}]}`)}
	b.Run("in-place", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := key(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoding-reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodedField(m.Body, "id"); !ok {
				b.Fatal("no key")
			}
		}
	})
}
