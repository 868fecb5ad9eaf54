package dlq

import (
	"strings"
	"time"
)

// Filter selects dead letters; the zero Filter selects all. Every set field
// must match.
type Filter struct {
	// Attributes must all be present with these values.
	Attributes map[string]string
	// OlderThan keeps messages sent at least this long ago (messages
	// without a timestamp never match). Default: 0, any age.
	OlderThan time.Duration
	// NewerThan keeps messages sent less than this long ago (messages
	// without a timestamp never match). Default: 0, any age.
	NewerThan time.Duration
	// ErrorContains keeps messages whose recorded error contains it.
	ErrorContains string
}

// Match reports whether m passes f at time now.
func (f *Filter) Match(m *Message, now time.Time) bool {
	if f == nil {
		return true
	}
	for k, v := range f.Attributes {
		if got, ok := m.Attributes[k]; !ok || got != v {
			return false
		}
	}
	if f.OlderThan > 0 && (m.Timestamp.IsZero() || now.Sub(m.Timestamp) < f.OlderThan) {
		return false
	}
	if f.NewerThan > 0 && (m.Timestamp.IsZero() || now.Sub(m.Timestamp) >= f.NewerThan) {
		return false
	}
	if f.ErrorContains != "" && !strings.Contains(m.ErrorText(), f.ErrorContains) {
		return false
	}
	return true
}

// empty reports whether f selects every message.
func (f *Filter) empty() bool {
	return f == nil || (len(f.Attributes) == 0 && f.OlderThan == 0 && f.NewerThan == 0 && f.ErrorContains == "")
}
