package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DecodeError reports why a message body did not decode. It is always
// returned wrapped with Permanent: the same bytes will never decode.
type DecodeError struct {
	// Type is the Go type decoded into.
	Type string
	// Offset is the byte offset of the problem in the body, when known.
	Offset int64
	// Field is the JSON field path that had the wrong type, when known.
	Field string
	Err   error
}

// Error says what did not decode, and where.
func (e *DecodeError) Error() string {
	switch {
	case e.Field != "":
		return fmt.Sprintf("handler: decode %s: field %q at offset %d: %v", e.Type, e.Field, e.Offset, e.Err)
	case e.Offset > 0:
		return fmt.Sprintf("handler: decode %s: at offset %d: %v", e.Type, e.Offset, e.Err)
	default:
		return fmt.Sprintf("handler: decode %s: %v", e.Type, e.Err)
	}
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// ErrEmptyBody is wrapped by the DecodeError for a message without a body.
var ErrEmptyBody = errors.New("empty body")

// Decode decodes m's JSON body into a T. Any failure, including trailing
// data after the value, is a permanent *DecodeError that says where the body
// went wrong.
func Decode[T any](m *Message) (T, error) {
	var v T
	typ := fmt.Sprintf("%T", v)
	if m == nil {
		return v, Permanent(&DecodeError{Type: typ, Err: ErrNilMessage})
	}
	body := bytes.TrimSpace(m.Body)
	if len(body) == 0 {
		return v, Permanent(&DecodeError{Type: typ, Err: ErrEmptyBody})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		de := &DecodeError{Type: typ, Err: err}
		var se *json.SyntaxError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			de.Offset = se.Offset
		case errors.As(err, &ute):
			de.Offset, de.Field = ute.Offset, ute.Field
		case errors.Is(err, io.ErrUnexpectedEOF):
			de.Offset = int64(len(body))
		}
		return v, Permanent(de)
	}
	if dec.More() {
		return v, Permanent(&DecodeError{Type: typ, Offset: dec.InputOffset(), Err: errors.New("unexpected data after JSON value")})
	}
	return v, nil
}

// JSON returns a Handler that decodes each message's JSON body into a T and
// calls fn with it. A body that does not decode is a permanent failure and
// fn is not called.
func JSON[T any](fn func(ctx context.Context, m *Message, v T) error) Handler {
	return HandlerFunc(func(ctx context.Context, m *Message) error {
		v, err := Decode[T](m)
		if err != nil {
			return err
		}
		return fn(ctx, m, v)
	})
}
