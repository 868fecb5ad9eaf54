package idempotency

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// jsonField finds the value at path (object member names, outermost first)
// in body, which must be valid JSON (the caller checks with json.Valid). As
// encoding/json does when it decodes into a map, the last member of an
// object with a given name wins. It returns the value's JSON text, whether
// the path exists, and, when it does not, the member whose parent is not an
// object (empty when the member is simply missing).
//
// It reads body in place: finding a key costs no allocation, where decoding
// the body into a map[string]any cost one per value.
func jsonField(body []byte, path []string) (val []byte, found bool, notObject string) {
	v := trimSpace(body)
	for _, name := range path {
		if len(v) == 0 || v[0] != '{' {
			return nil, false, name
		}
		var hit []byte
		i := 1
		for {
			i = skipSpace(v, i)
			if v[i] == '}' {
				break
			}
			kEnd := skipString(v, i)
			key := v[i+1 : kEnd-1]
			i = skipSpace(v, kEnd) + 1 // past ':'
			i = skipSpace(v, i)
			vEnd := skipValue(v, i)
			if keyEquals(key, name) {
				hit = v[i:vEnd]
			}
			i = skipSpace(v, vEnd)
			if v[i] == '}' {
				break
			}
			i++ // past ','
		}
		if hit == nil {
			return nil, false, ""
		}
		v = hit
	}
	return v, true, ""
}

// keyEquals compares a member name as written (between its quotes) with name.
func keyEquals(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw) == name
	}
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s) != nil {
		return false
	}
	return s == name
}

// jsonString decodes a JSON string value, without allocating beyond the
// result when it has no escapes.
func jsonString(v []byte) (string, bool) {
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	var s string
	return s, json.Unmarshal(v, &s) == nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(v []byte, i int) int {
	for i < len(v) && isSpace(v[i]) {
		i++
	}
	return i
}

func trimSpace(v []byte) []byte {
	start := skipSpace(v, 0)
	end := len(v)
	for end > start && isSpace(v[end-1]) {
		end--
	}
	return v[start:end]
}

// skipString returns the index just past the string that starts at v[i].
func skipString(v []byte, i int) int {
	for i++; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(v)
}

// skipValue returns the index just past the value that starts at v[i].
func skipValue(v []byte, i int) int {
	switch v[i] {
	case '"':
		return skipString(v, i)
	case '{', '[':
		depth := 0
		for ; i < len(v); i++ {
			switch v[i] {
			case '"':
				i = skipString(v, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(v)
	default: // number, true, false, null
		for i < len(v) && !isSpace(v[i]) && v[i] != ',' && v[i] != '}' && v[i] != ']' {
			i++
		}
		return i
	}
}
