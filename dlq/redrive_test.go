package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/handler"
)

// memDriver is an in-memory dead-letter queue for the core's own logic; the
// drivers are tested against real servers in their packages.
type memDriver struct {
	queue   []*dlq.Message
	leased  map[string]*dlq.Message
	sent    []*dlq.Message
	sendErr func(m *dlq.Message) error
	delErr  error
}

func newMem(n int) *memDriver {
	d := &memDriver{leased: map[string]*dlq.Message{}}
	for i := 0; i < n; i++ {
		d.queue = append(d.queue, &dlq.Message{
			ID: fmt.Sprint("m", i), Body: []byte(fmt.Sprint(i)),
			Attributes: map[string]string{"parity": fmt.Sprint(i % 2), handler.AttrError: fmt.Sprint("boom ", i%3)},
			Timestamp:  time.Unix(1000+int64(i), 0),
		})
	}
	return d
}

func (d *memDriver) Depth(context.Context) (int64, error) { return int64(len(d.queue)), nil }
func (d *memDriver) Peek(_ context.Context, max int) ([]*dlq.Message, error) {
	return d.queue[:min(max, len(d.queue))], nil
}
func (d *memDriver) Receive(_ context.Context, max int) ([]*dlq.Message, error) {
	n := min(max, len(d.queue))
	out := d.queue[:n:n]
	d.queue = d.queue[n:]
	for _, m := range out {
		d.leased[m.ID] = m
	}
	return out, nil
}
func (d *memDriver) Send(_ context.Context, m *dlq.Message) error {
	if d.sendErr != nil {
		if err := d.sendErr(m); err != nil {
			return err
		}
	}
	c := *m
	d.sent = append(d.sent, &c)
	return nil
}
func (d *memDriver) Delete(_ context.Context, m *dlq.Message) error {
	if d.delErr != nil {
		return d.delErr
	}
	delete(d.leased, m.ID)
	return nil
}
func (d *memDriver) Release(_ context.Context, m *dlq.Message) error {
	if _, ok := d.leased[m.ID]; !ok {
		return errors.New("not leased")
	}
	delete(d.leased, m.ID)
	d.queue = append(d.queue, m)
	return nil
}
func (d *memDriver) Close() error { return nil }

func TestRedriveMovesEverythingOnceAndKeepsTheOriginalID(t *testing.T) {
	d := newMem(25)
	st, err := dlq.Redrive(context.Background(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Moved != 25 || len(d.sent) != 25 || len(d.queue) != 0 || len(d.leased) != 0 {
		t.Fatalf("stats %+v, sent %d, left %d, leased %d", st, len(d.sent), len(d.queue), len(d.leased))
	}
	for i, m := range d.sent {
		if m.Attributes[handler.AttrMessageID] != fmt.Sprint("m", i) {
			t.Errorf("copy %d has %s=%q", i, handler.AttrMessageID, m.Attributes[handler.AttrMessageID])
		}
	}
}

func TestRedriveFiltersLeaveTheRestUntouched(t *testing.T) {
	now := time.Unix(1020, 0)
	cases := []struct {
		name   string
		filter dlq.Filter
		want   int
	}{
		{"an attribute selects its messages", dlq.Filter{Attributes: map[string]string{"parity": "0"}}, 13},
		{"error text selects its messages", dlq.Filter{ErrorContains: "boom 2"}, 8},
		{"older than selects the old ones", dlq.Filter{OlderThan: 10 * time.Second}, 11},
		{"newer than selects the new ones", dlq.Filter{NewerThan: 10 * time.Second}, 14},
		{"all filters combine", dlq.Filter{Attributes: map[string]string{"parity": "1"}, ErrorContains: "boom 0", OlderThan: time.Second}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newMem(25)
			st, err := dlq.Redrive(context.Background(), d, &dlq.RedriveOptions{Filter: &c.filter, Now: func() time.Time { return now }, BatchSize: 4})
			if err != nil {
				t.Fatal(err)
			}
			if st.Moved != c.want || st.Skipped != 25-c.want || len(d.queue) != 25-c.want || len(d.leased) != 0 {
				t.Fatalf("stats %+v, left %d, leased %d; want %d moved", st, len(d.queue), len(d.leased), c.want)
			}
			for _, m := range d.sent {
				if !c.filter.Match(m, now) {
					t.Errorf("moved %s, which the filter rejects", m.ID)
				}
			}
		})
	}
}

func TestRedriveMaxAndDryRun(t *testing.T) {
	d := newMem(25)
	st, err := dlq.Redrive(context.Background(), d, &dlq.RedriveOptions{Max: 7, BatchSize: 5})
	if err != nil || st.Moved != 7 || len(d.queue) != 18 || len(d.leased) != 0 {
		t.Fatalf("max 7: stats %+v, err %v, left %d, leased %d", st, err, len(d.queue), len(d.leased))
	}
	var seen []string
	st, err = dlq.Redrive(context.Background(), d, &dlq.RedriveOptions{DryRun: true, OnMessage: func(m *dlq.Message, _ error) { seen = append(seen, m.ID) }})
	if err != nil || st.Selected != 18 || st.Moved != 0 || len(d.queue) != 18 || len(d.sent) != 7 || len(seen) != 18 {
		t.Fatalf("dry run: stats %+v, err %v, left %d, sent %d, reported %d", st, err, len(d.queue), len(d.sent), len(seen))
	}
}

func TestRedriveSendFailureKeepsTheMessage(t *testing.T) {
	d := newMem(5)
	gone := errors.New("queue does not exist")
	d.sendErr = func(m *dlq.Message) error {
		if m.ID == "m2" {
			return gone
		}
		return nil
	}
	st, err := dlq.Redrive(context.Background(), d, nil)
	if !errors.Is(err, gone) || !strings.Contains(err.Error(), "m2") {
		t.Fatalf("err = %v, want the send error naming m2", err)
	}
	if st.Moved != 2 || st.Failed != 1 || len(d.queue) != 3 || len(d.leased) != 0 {
		t.Fatalf("stats %+v, left %d, leased %d", st, len(d.queue), len(d.leased))
	}
}

func TestRedriveDeleteFailureIsADuplicateNotALoss(t *testing.T) {
	d := newMem(3)
	d.delErr = errors.New("receipt handle expired")
	st, err := dlq.Redrive(context.Background(), d, nil)
	if err == nil || st.Duplicated != 1 || st.Moved != 0 || len(d.sent) != 1 || len(d.queue) != 3 {
		t.Fatalf("stats %+v, err %v, sent %d, left %d", st, err, len(d.sent), len(d.queue))
	}
}

func TestRedriveCancelledFinishesTheMessageInHand(t *testing.T) {
	d := newMem(20)
	ctx, cancel := context.WithCancel(context.Background())
	d.sendErr = func(m *dlq.Message) error {
		if m.ID == "m4" {
			cancel() // Ctrl-C while m4 is being sent
		}
		return nil
	}
	st, err := dlq.Redrive(ctx, d, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if st.Moved != 5 || len(d.sent) != 5 || len(d.queue) != 15 || len(d.leased) != 0 {
		t.Fatalf("stats %+v, sent %d, left %d, leased %d", st, len(d.sent), len(d.queue), len(d.leased))
	}
}

func TestRedriveRateLimits(t *testing.T) {
	d := newMem(6)
	start := time.Now()
	st, err := dlq.Redrive(context.Background(), d, &dlq.RedriveOptions{Rate: 20})
	if err != nil || st.Moved != 6 {
		t.Fatalf("stats %+v, err %v", st, err)
	}
	// Six sends at 20/s take at least five intervals of 50ms.
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("6 messages at 20/s took %v", el)
	}
}
