package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/middleware"
)

// emfUnits are the units CloudWatch accepts.
var emfUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true, "Megabytes": true,
	"Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true, "Megabits": true, "Gigabits": true, "Terabits": true,
	"Percent": true, "Count": true, "Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true,
	"Gigabytes/Second": true, "Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true,
	"Megabits/Second": true, "Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// validateEMF checks one line against the Embedded Metric Format
// specification (docs.aws.amazon.com, CloudWatch_Embedded_Metric_Format_Specification)
// and returns the document.
func validateEMF(t *testing.T, line string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatalf("EMF line is not a JSON object: %v: %s", err, line)
	}
	aws, ok := doc["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws object: %s", line)
	}
	ts, ok := aws["Timestamp"].(float64)
	if !ok || ts != math.Trunc(ts) || ts <= 0 || math.Abs(ts-float64(time.Now().UnixMilli())) > 60e3 {
		t.Errorf("_aws.Timestamp = %v, want epoch milliseconds", aws["Timestamp"])
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		t.Fatalf("_aws.CloudWatchMetrics = %v, want a non-empty array", aws["CloudWatchMetrics"])
	}
	for _, d := range directives {
		dir := d.(map[string]any)
		ns, ok := dir["Namespace"].(string)
		if !ok || ns == "" || len(ns) > 255 {
			t.Errorf("Namespace = %v", dir["Namespace"])
		}
		dims, ok := dir["Dimensions"].([]any)
		if !ok {
			t.Fatalf("Dimensions = %v", dir["Dimensions"])
		}
		for _, set := range dims {
			keys, ok := set.([]any)
			if !ok || len(keys) > 30 {
				t.Fatalf("dimension set %v", set)
			}
			for _, k := range keys {
				v, ok := doc[k.(string)].(string)
				if !ok || v == "" || len(v) > 1024 {
					t.Errorf("dimension %v: root value %v, want a non-empty string", k, doc[k.(string)])
				}
			}
		}
		metrics, ok := dir["Metrics"].([]any)
		if !ok || len(metrics) == 0 || len(metrics) > 100 {
			t.Fatalf("Metrics = %v", dir["Metrics"])
		}
		for _, m := range metrics {
			md := m.(map[string]any)
			name, ok := md["Name"].(string)
			if !ok || name == "" || len(name) > 1024 {
				t.Errorf("metric name %v", md["Name"])
			}
			if u, ok := md["Unit"]; ok && !emfUnits[u.(string)] {
				t.Errorf("metric %s unit %v", name, u)
			}
			switch v := doc[name].(type) {
			case float64:
			case []any:
				if len(v) == 0 || len(v) > 100 {
					t.Errorf("metric %s has %d values, want 1-100", name, len(v))
				}
				for _, x := range v {
					if _, ok := x.(float64); !ok {
						t.Errorf("metric %s value %v is not a number", name, x)
					}
				}
			default:
				t.Errorf("metric %s root value %v, want a number or an array of numbers", name, doc[name])
			}
		}
	}
	return doc
}

func lines(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestEMFFlushesOneValidLinePerBatch(t *testing.T) {
	var out syncBuffer
	m := middleware.NewMetrics(&middleware.MetricsOptions{EMF: &out, Service: "orders-fn", MeterProvider: noopMeter()})
	h := m.Middleware()(outcomeHandler())
	handler.Process(context.Background(), h, []*handler.Message{msg("a1"), msg("a2"), msg("r1"), msg("x1")}, nil)
	ls := lines(out.String())
	if len(ls) != 1 {
		t.Fatalf("%d EMF lines after one batch, want 1:\n%s", len(ls), out.String())
	}
	doc := validateEMF(t, ls[0])
	for k, want := range map[string]any{"Service": "orders-fn", "Queue": "orders", "Processed": 4.0, "Acked": 2.0, "Retried": 1.0, "Rejected": 1.0, "Failed": 2.0} {
		if doc[k] != want {
			t.Errorf("%s = %v, want %v", k, doc[k], want)
		}
	}
	if b, _ := doc["BatchSize"].([]any); len(b) != 1 || b[0] != 4.0 {
		t.Errorf("BatchSize = %v, want [4]", doc["BatchSize"])
	}
	if d, _ := doc["Duration"].([]any); len(d) != 4 {
		t.Errorf("Duration = %v, want 4 values", doc["Duration"])
	}
	dims := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"]
	if fmt.Sprint(dims) != "[[Service Queue]]" {
		t.Errorf("Dimensions = %v, want [[Service Queue]] only", dims)
	}
	if _, ok := doc["message_id"]; ok {
		t.Error("a message ID reached the EMF line")
	}
}

func TestEMFWithTheResultHookFlushesAfterTheLastSettlement(t *testing.T) {
	var out syncBuffer
	m := middleware.NewMetrics(&middleware.MetricsOptions{EMF: &out, MeterProvider: noopMeter()})
	hook := m.ResultHook()
	h := m.Middleware()(outcomeHandler())
	ctx := context.Background()
	msgs := []*handler.Message{msg("a1"), msg("x1")}
	res := handler.Process(ctx, h, msgs, nil)
	m.IdempotencyEvent(ctx, idempotency.EventDuplicate, msgs[0])
	if n := len(lines(out.String())); n != 0 {
		t.Fatalf("%d lines before the settlements, want 0", n)
	}
	hook(ctx, handler.Report{Result: res[0], Settlement: handler.SettledAck})
	if n := len(lines(out.String())); n != 0 {
		t.Fatalf("%d lines with one settlement missing, want 0", n)
	}
	hook(ctx, handler.Report{Result: res[1], Settlement: handler.SettledDeadLetter, Err: res[1].Err})
	ls := lines(out.String())
	if len(ls) != 1 {
		t.Fatalf("%d lines after the last settlement, want 1", len(ls))
	}
	doc := validateEMF(t, ls[0])
	if doc["DeadLettered"] != 1.0 || doc["Processed"] != 2.0 || doc["IdempotencyDuplicate"] != 1.0 {
		t.Errorf("line = %s, want DeadLettered 1, Processed 2, IdempotencyDuplicate 1", ls[0])
	}
}

func TestEMFHookThatNeverReportsStillFlushes(t *testing.T) {
	var out syncBuffer
	m := middleware.NewMetrics(&middleware.MetricsOptions{EMF: &out, MeterProvider: noopMeter()})
	_ = m.ResultHook() // asked for but never called
	h := m.Middleware()(outcomeHandler())
	handler.Process(context.Background(), h, []*handler.Message{msg("a1"), msg("a2")}, nil)
	handler.Process(context.Background(), h, []*handler.Message{msg("a3"), msg("a4")}, nil)
	ls := lines(out.String())
	if len(ls) != 1 || validateEMF(t, ls[0])["Processed"] != 2.0 {
		t.Errorf("lines = %q, want the first batch flushed when the second starts", ls)
	}
	m.Flush()
	if ls := lines(out.String()); len(ls) != 2 {
		t.Errorf("Flush left %d lines, want 2", len(ls))
	}
}

func TestEMFSplitsMoreThanAHundredDurations(t *testing.T) {
	var out syncBuffer
	m := middleware.NewMetrics(&middleware.MetricsOptions{EMF: &out, MeterProvider: noopMeter()})
	h := m.Middleware()(outcomeHandler())
	msgs := make([]*handler.Message, 250)
	for i := range msgs {
		msgs[i] = msg(fmt.Sprintf("a%d", i))
	}
	handler.Process(context.Background(), h, msgs, nil)
	ls := lines(out.String())
	total := 0
	for _, l := range ls {
		d, _ := validateEMF(t, l)["Duration"].([]any)
		total += len(d)
	}
	if len(ls) != 3 || total != 250 {
		t.Errorf("%d lines holding %d durations, want 3 holding 250", len(ls), total)
	}
}

func TestEMFWriterThatBlocksOrFailsNeverFailsTheMessage(t *testing.T) {
	bw := blockingWriter{release: make(chan struct{})}
	defer close(bw.release)
	for name, w := range map[string]interface {
		Write([]byte) (int, error)
	}{"blocking": bw, "failing": failingWriter{}} {
		t.Run(name, func(t *testing.T) {
			m := middleware.NewMetrics(&middleware.MetricsOptions{EMF: w, EMFWriteTimeout: 20 * time.Millisecond, MeterProvider: noopMeter()})
			h := m.Middleware()(outcomeHandler())
			start := time.Now()
			for range 30 {
				res := handler.Process(context.Background(), h, []*handler.Message{msg("a1"), msg("a2")}, nil)
				if res[0].Err != nil || res[1].Err != nil {
					t.Fatalf("results %v", res)
				}
			}
			// Each flush waits at most the write timeout; once the
			// writer's backlog is full, flushes do not wait at all.
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("30 batches took %v with a %s writer", took, name)
			}
		})
	}
}
