package middleware

import (
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// CloudWatch Embedded Metric Format. One JSON line per queue is written
// per flush; its only dimensions are Service and Queue, so the number of
// CloudWatch metrics stays fixed whatever the messages hold.

// emfMaxValues is the most values EMF accepts for one metric in one line.
const emfMaxValues = 100

// emfStale: with concurrent batches the sink still flushes this often.
const emfStale = 60 * time.Second

type emfSink struct {
	ns, service string
	timeout     time.Duration
	out         *lineWriter

	mu       sync.Mutex
	groups   map[string]*emfGroup
	order    []string
	hook     bool                      // ResultHook was asked for: wait for settlements
	awaiting map[*handler.Message]bool // batch messages not settled yet
	running  int                       // batches not finished
	last     time.Time                 // last flush
}

type emfGroup struct {
	counts    map[string]float64
	durations []float64
	batches   []float64 // batch sizes, so CloudWatch's statistics apply per batch
}

func newEMFSink(w io.Writer, o MetricsOptions) *emfSink {
	s := &emfSink{ns: o.Namespace, service: o.Service, timeout: o.EMFWriteTimeout, out: &lineWriter{w: w}, groups: map[string]*emfGroup{}, last: time.Now()}
	if s.ns == "" {
		s.ns = "eventfn"
	}
	if s.service == "" {
		s.service = firstEnv("AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "WEBSITE_SITE_NAME")
	}
	if s.service == "" {
		s.service = "eventfn"
	}
	if s.timeout <= 0 {
		s.timeout = 100 * time.Millisecond
	}
	return s
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// group returns the group of queue; s.mu is held.
func (s *emfSink) group(queue string) *emfGroup {
	q := destinationName(queue)
	g := s.groups[q]
	if g == nil {
		g = &emfGroup{counts: map[string]float64{}}
		s.groups[q] = g
		s.order = append(s.order, q)
	}
	return g
}

func (s *emfSink) hooked() {
	s.mu.Lock()
	s.hook = true
	s.mu.Unlock()
}

// batchStarted records a batch of msgs from queue; with ResultHook in use
// the flush then waits for their settlements.
func (s *emfSink) batchStarted(queue string, msgs []*handler.Message) {
	s.mu.Lock()
	var lines []byte
	if s.running == 0 && len(s.awaiting) > 0 {
		// The previous batch's settlements never all came: flush its data
		// now rather than keep it waiting.
		clear(s.awaiting)
		lines = s.encode()
	}
	s.running++
	if g := s.group(queue); len(g.batches) < emfMaxValues {
		g.batches = append(g.batches, float64(len(msgs)))
	}
	if s.hook {
		if s.awaiting == nil {
			s.awaiting = make(map[*handler.Message]bool, len(msgs))
		}
		for _, m := range msgs {
			if m != nil {
				s.awaiting[m] = true
			}
		}
	}
	s.mu.Unlock()
	s.write(lines)
}

func (s *emfSink) batchFinished() {
	s.mu.Lock()
	s.running--
	var lines []byte
	if (s.running == 0 && len(s.awaiting) == 0) || time.Since(s.last) > emfStale {
		lines = s.encode()
	}
	s.mu.Unlock()
	s.write(lines)
}

func (s *emfSink) message(queue string, out handler.Outcome, d time.Duration) {
	s.mu.Lock()
	g := s.group(queue)
	g.counts["Processed"]++
	switch out {
	case handler.Ack:
		g.counts["Acked"]++
	case handler.Retry:
		g.counts["Retried"]++
		g.counts["Failed"]++
	case handler.Reject:
		g.counts["Rejected"]++
		g.counts["Failed"]++
	}
	g.durations = append(g.durations, float64(d.Microseconds())/1000)
	s.mu.Unlock()
}

func (s *emfSink) count(queue, name string, v float64) {
	s.mu.Lock()
	s.group(queue).counts[name] += v
	s.mu.Unlock()
}

func (s *emfSink) settled(msg *handler.Message, st handler.Settlement) {
	s.mu.Lock()
	var q string
	if msg != nil {
		q = msg.Queue
	}
	g := s.group(q)
	if st == handler.SettledDeadLetter {
		g.counts["DeadLettered"]++
	}
	var lines []byte
	if s.awaiting[msg] {
		delete(s.awaiting, msg)
		if len(s.awaiting) == 0 && s.running == 0 {
			lines = s.encode()
		}
	}
	s.mu.Unlock()
	s.write(lines)
}

func (s *emfSink) flush() {
	s.mu.Lock()
	lines := s.encode()
	s.mu.Unlock()
	s.write(lines)
}

func (s *emfSink) write(lines []byte) {
	if len(lines) > 0 {
		s.out.write(lines, s.timeout)
	}
}

// emfUnits are the units of the metrics that are not counts.
var emfUnits = map[string]string{"Duration": "Milliseconds"}

// encode returns the EMF lines of everything gathered and resets it; s.mu
// is held.
func (s *emfSink) encode() []byte {
	s.last = time.Now()
	var buf []byte
	ts := time.Now().UnixMilli()
	for _, q := range s.order {
		g := s.groups[q]
		durs := g.durations
		first := true
		for first || len(durs) > 0 {
			doc := map[string]any{"Service": s.service}
			dims := []string{"Service"}
			if q != "" {
				doc["Queue"] = q
				dims = append(dims, "Queue")
			}
			var metrics []map[string]string
			add := func(name string, v any) {
				doc[name] = v
				unit := emfUnits[name]
				if unit == "" {
					unit = "Count"
				}
				metrics = append(metrics, map[string]string{"Name": name, "Unit": unit})
			}
			if first {
				names := make([]string, 0, len(g.counts))
				for name := range g.counts {
					names = append(names, name)
				}
				slices.Sort(names)
				for _, name := range names {
					add(name, g.counts[name])
				}
				if g.counts["Processed"] > 0 {
					if _, ok := g.counts["Failed"]; !ok {
						add("Failed", 0) // alarms on Failed need a data point
					}
				}
				if len(g.batches) > 0 {
					add("BatchSize", g.batches)
				}
			}
			if len(durs) > 0 {
				n := min(len(durs), emfMaxValues)
				add("Duration", durs[:n])
				durs = durs[n:]
			}
			first = false
			if len(metrics) == 0 {
				continue
			}
			doc["_aws"] = map[string]any{
				"Timestamp": ts,
				"CloudWatchMetrics": []any{map[string]any{
					"Namespace": s.ns, "Dimensions": [][]string{dims}, "Metrics": metrics,
				}},
			}
			b, err := json.Marshal(doc)
			if err != nil {
				continue
			}
			buf = append(append(buf, b...), '\n')
		}
	}
	clear(s.groups)
	s.order = s.order[:0]
	return buf
}

// emfEventMetric names an idempotency event's EMF metric: "in_progress"
// becomes "IdempotencyInProgress".
func emfEventMetric(event string) string {
	var b strings.Builder
	b.WriteString("Idempotency")
	for part := range strings.SplitSeq(event, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// lineWriter writes EMF lines on a goroutine of its own, so a writer that
// blocks (a full pipe) delays a flush by at most the timeout and never
// fails a message.
type lineWriter struct {
	w    io.Writer
	once sync.Once
	ch   chan lineWrite
}

type lineWrite struct {
	b    []byte
	done chan struct{}
}

func (lw *lineWriter) write(b []byte, timeout time.Duration) {
	lw.once.Do(func() {
		lw.ch = make(chan lineWrite, 16)
		go func() {
			for w := range lw.ch {
				_, _ = lw.w.Write(w.b) // a failing writer loses the line, nothing else
				close(w.done)
			}
		}()
	})
	done := make(chan struct{})
	select {
	case lw.ch <- lineWrite{b, done}:
	default:
		return // the writer is stuck with a backlog: drop the line
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
