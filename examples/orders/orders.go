// Package orders is the domain code shared by every eventfn example: an
// order-placed event and a handler that applies it to a ledger. The AWS,
// Google Cloud and Azure examples deploy this same handler unchanged; only
// their main packages differ.
package orders

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/eventfn/eventfn/handler"
)

// Order is the event payload.
type Order struct {
	ID          string `json:"id"`
	Customer    string `json:"customer"`
	AmountCents int64  `json:"amount_cents"`
}

// ErrInvalidOrder is returned (wrapped with handler.Permanent) for an order
// that can never be applied.
var ErrInvalidOrder = errors.New("orders: invalid order")

// Validate reports why o cannot be applied.
func (o Order) Validate() error {
	switch {
	case o.ID == "":
		return fmt.Errorf("%w: missing id", ErrInvalidOrder)
	case o.AmountCents <= 0:
		return fmt.Errorf("%w: amount_cents must be positive, got %d", ErrInvalidOrder, o.AmountCents)
	}
	return nil
}

// Entry is one line of the ledger: the side effect the examples' tests count.
type Entry struct {
	OrderID     string `json:"order_id"`
	MessageID   string `json:"message_id"`
	AmountCents int64  `json:"amount_cents"`
}

// Ledger applies orders. Apply is the side effect that must happen exactly
// once per order. Implementations must be safe for concurrent use.
type Ledger interface {
	Apply(ctx context.Context, e Entry) error
}

// FileLedger appends one JSON line per applied order to a file. It is safe
// for concurrent use within one process.
type FileLedger struct {
	Path string
	mu   sync.Mutex
}

// Apply appends e to the file.
func (l *FileLedger) Apply(_ context.Context, e Entry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("orders: ledger: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("orders: ledger: %w", err)
	}
	return f.Close()
}

// ReadLedger returns the entries of a FileLedger's file (none if it does not
// exist).
func ReadLedger(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("orders: ledger line %q: %w", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// MemLedger keeps entries in memory. It is safe for concurrent use.
type MemLedger struct {
	mu      sync.Mutex
	entries []Entry
}

// Apply records e.
func (l *MemLedger) Apply(_ context.Context, e Entry) error {
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.mu.Unlock()
	return nil
}

// Entries returns a copy of the recorded entries.
func (l *MemLedger) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Entry(nil), l.entries...)
}

// Config configures NewHandler.
type Config struct {
	// Ledger receives applied orders. Required.
	Ledger Ledger
	// FailFirstAttempt lists order IDs whose first delivery fails with a
	// transient error: fault injection for end-to-end tests.
	FailFirstAttempt map[string]bool
}

// ConfigFromEnv reads ORDERS_LEDGER_FILE (default "orders-ledger.jsonl") and
// ORDERS_FAIL_FIRST_ATTEMPT (comma-separated order IDs).
func ConfigFromEnv() Config {
	path := os.Getenv("ORDERS_LEDGER_FILE")
	if path == "" {
		path = "orders-ledger.jsonl"
	}
	cfg := Config{Ledger: &FileLedger{Path: path}}
	if v := os.Getenv("ORDERS_FAIL_FIRST_ATTEMPT"); v != "" {
		cfg.FailFirstAttempt = map[string]bool{}
		for _, id := range strings.Split(v, ",") {
			cfg.FailFirstAttempt[strings.TrimSpace(id)] = true
		}
	}
	return cfg
}

// ErrInjected is the transient error of Config.FailFirstAttempt.
var ErrInjected = errors.New("orders: injected transient failure")

// NewHandler returns the order handler: it decodes the body as an Order
// (a malformed body is a permanent failure), validates it (an invalid order
// is a permanent failure) and applies it to the ledger (a ledger error is
// retried). Wrap it with idempotency.Middleware so a redelivery never applies
// an order twice.
func NewHandler(cfg Config) handler.Handler {
	return handler.JSON(func(ctx context.Context, m *handler.Message, o Order) error {
		if err := o.Validate(); err != nil {
			return handler.Permanent(err)
		}
		if cfg.FailFirstAttempt[o.ID] && m.DeliveryAttempt <= 1 {
			return fmt.Errorf("%w (order %s, attempt %d)", ErrInjected, o.ID, m.DeliveryAttempt)
		}
		return cfg.Ledger.Apply(ctx, Entry{OrderID: o.ID, MessageID: m.ID, AmountCents: o.AmountCents})
	})
}

// AppliedCounts reads a FileLedger's file and returns how many times each
// order was applied: the exactly-once check of the examples' tests.
func AppliedCounts(path string) (map[string]int, error) {
	entries, err := ReadLedger(path)
	if err != nil {
		return nil, err
	}
	n := make(map[string]int, len(entries))
	for _, e := range entries {
		n[e.OrderID]++
	}
	return n, nil
}
