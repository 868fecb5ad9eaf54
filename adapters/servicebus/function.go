package servicebus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/eventfn/eventfn/adapters/internal/settled"
	"github.com/eventfn/eventfn/handler"
)

// FunctionOptions configure NewFunction. The zero value is ready to use for
// a single-message trigger whose Data holds one binding.
type FunctionOptions struct {
	// Binding is the "name" of the serviceBusTrigger binding in
	// function.json. Default: the only member of the request's Data (a
	// request with several members then fails with ErrUnknownBinding).
	Binding string
	// Many must be true when function.json says "cardinality": "many".
	// A mismatch fails every request with ErrCardinality.
	Many bool
	// Binary must be true when function.json says "dataType": "binary":
	// the host then sends the body base64-encoded. Default ("dataType"
	// "string" or absent): the host sends the body read as UTF-8 text.
	Binary bool
	// Queue sets Message.Queue (the trigger metadata does not name the
	// entity). Default: empty.
	Queue string
	// Process configures the batch engine. Default: handler defaults.
	Process *handler.ProcessOptions
	// Timeout bounds one invocation, so Process can stop starting messages
	// before the host's functionTimeout (host.json) kills the invocation.
	// Default: no timeout.
	Timeout time.Duration
	// RejectedOutput names an output binding of the function (typically a
	// serviceBus output to a parking queue). When set, the bodies of
	// rejected messages (handler.Permanent) are written to it in Outputs and
	// those messages count as handled, so one poison message does not fail
	// the whole invocation (nor block the rest of its session). A body that
	// is not UTF-8 text cannot pass through Outputs' JSON unchanged and is
	// not routed: it fails the invocation as below. Default: empty, a
	// rejected message fails the invocation like a transient error and
	// Service Bus dead-letters it after MaxDeliveryCount.
	RejectedOutput string
	// MaxBodyBytes bounds the request body. Default: 256 MiB.
	MaxBodyBytes int64
	// Logger receives one line for every message that is not completed
	// (with its ID, source, queue, settlement and reason), bad requests
	// included. Default: slog.Default() (stderr, which the Functions host
	// collects).
	Logger *slog.Logger
	// OnResult, if set, is called once per message after the answer's
	// status is decided. The host settles an invocation as a whole, so
	// when any message fails every message of the invocation is reported
	// SettledRetry; a message routed to RejectedOutput is
	// SettledDeadLetter. A request that cannot be decoded is reported once
	// per message ID it names (once with an empty ID when it names none).
	// It must be safe for concurrent use and fast.
	OnResult handler.ResultHook
}

// Function is an http.Handler that serves one function of an Azure
// Functions custom handler with a Service Bus trigger. Mount it at
// "/<FunctionName>". It is safe for concurrent use.
type Function struct {
	h    handler.Handler
	opts FunctionOptions
	log  *slog.Logger
}

// NewFunction returns the custom-handler endpoint that decodes the host's
// invocation request into messages, runs them through h with handler.Process
// and answers with the host's response shape. The answer is 200 when every
// message was acknowledged, 500 when any failed (the host then abandons the
// whole invocation's messages), 400 when the request could not be decoded.
func NewFunction(h handler.Handler, opts *FunctionOptions) *Function {
	f := &Function{h: h}
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.MaxBodyBytes <= 0 {
		f.opts.MaxBodyBytes = 256 << 20
	}
	f.log = f.opts.Logger
	if f.log == nil {
		f.log = slog.Default()
	}
	return f
}

// InvokeResponse is the body the custom handler answers with
// (HttpScriptInvocationResult in Azure/azure-functions-host). The host writes
// each of Logs to the invocation's log, hands Outputs to the output
// bindings and ReturnValue to a "$return" binding if there is one.
type InvokeResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// Summary is the ReturnValue of an invocation: counts of its messages by
// outcome, or the reason the request was refused. Do not declare a
// "$return" output binding in function.json, or the host sends it there.
type Summary struct {
	Messages int    `json:"messages"`
	Acked    int    `json:"acked"`
	Retried  int    `json:"retried"`
	Rejected int    `json:"rejected"`
	Error    string `json:"error,omitempty"`
}

// ServeHTTP handles one invocation.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fn := strings.Trim(r.URL.Path, "/")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "servicebus: the Functions host invokes with POST", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	if f.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.opts.Timeout)
		defer cancel()
	}
	logs := &invocationLogs{}
	ctx = context.WithValue(ctx, logsKey{}, logs)

	msgs, ids, err := f.decode(fn, r)
	if err != nil {
		for _, id := range ids {
			m := &handler.Message{ID: id, Source: handler.SourceServiceBus, Queue: f.opts.Queue}
			settled.Done(ctx, f.log, f.opts.OnResult, "servicebus", handler.Report{
				Result:     handler.Result{Message: m, Err: err, Outcome: handler.Classify(err)},
				Settlement: handler.SettledRetry, Err: err,
			})
		}
		logs.add("eventfn: request refused: " + err.Error())
		writeResponse(w, http.StatusBadRequest, InvokeResponse{Outputs: map[string]any{}, Logs: logs.lines(), ReturnValue: Summary{Error: err.Error()}})
		return
	}

	h := f.h
	var routed sync.Map // *handler.Message -> the rejection routed to RejectedOutput
	if f.opts.RejectedOutput != "" {
		// A message routed to the rejected output is handled: report it as
		// done to Process, so the rest of its session (ordering key) runs
		// instead of failing the invocation on every delivery.
		h = handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error {
			err := f.h.Handle(ctx, m)
			if handler.Classify(err) == handler.Reject && routable(m.Body) {
				routed.Store(m, err)
				return nil
			}
			return err
		})
	}
	results := handler.Process(ctx, h, msgs, f.opts.Process)
	sum := Summary{Messages: len(results)}
	outputs := map[string]any{}
	var rejected []json.RawMessage
	reports := make([]handler.Report, len(results))
	failed := false
	for i, res := range results {
		m := res.Message
		if err, ok := routed.Load(m); ok && res.Outcome == handler.Ack {
			res.Err, res.Outcome = err.(error), handler.Reject
		}
		reports[i] = handler.Report{Result: res, Settlement: handler.SettledRetry, Err: res.Err}
		switch res.Outcome {
		case handler.Ack:
			sum.Acked++
			reports[i].Settlement, reports[i].Err = handler.SettledAck, nil
			logs.add(fmt.Sprintf("eventfn: message %s attempt %d: ack", m.ID, m.DeliveryAttempt))
			continue
		case handler.Reject:
			sum.Rejected++
			if f.opts.RejectedOutput != "" && routable(m.Body) {
				rejected = append(rejected, bodyJSON(m.Body))
				reports[i].Settlement = handler.SettledDeadLetter
				logs.add(fmt.Sprintf("eventfn: message %s attempt %d: rejected, routed to output %s: %v", m.ID, m.DeliveryAttempt, f.opts.RejectedOutput, res.Err))
				continue
			}
			logs.add(fmt.Sprintf("eventfn: message %s attempt %d: rejected, failing the invocation so Service Bus dead-letters it after MaxDeliveryCount: %v", m.ID, m.DeliveryAttempt, res.Err))
		default:
			sum.Retried++
			logs.add(fmt.Sprintf("eventfn: message %s attempt %d: retry: %v", m.ID, m.DeliveryAttempt, res.Err))
		}
		failed = true
	}
	for i := range reports {
		if failed && reports[i].Settlement != handler.SettledRetry {
			// The host abandons the whole invocation: this one comes back too.
			reports[i].Settlement = handler.SettledRetry
			reports[i].Err = errors.Join(reports[i].Err, ErrInvocationFailed)
		}
		settled.Done(ctx, f.log, f.opts.OnResult, "servicebus", reports[i])
	}
	// The host binds Outputs only after a 2xx answer; after a failure the
	// rejected messages come back with the rest and are routed next time.
	if !failed && len(rejected) > 0 {
		outputs[f.opts.RejectedOutput] = rejected
	}
	status := http.StatusOK
	if failed {
		status = http.StatusInternalServerError
	}
	writeResponse(w, status, InvokeResponse{Outputs: outputs, Logs: logs.lines(), ReturnValue: sum})
}

// routable reports whether a body can be written to RejectedOutput
// unchanged: Outputs travel as JSON text, so a body that is not UTF-8 (a
// "dataType": "binary" payload) would arrive mangled while the host completes
// the original. Such a message fails the invocation instead, and Service Bus
// dead-letters it intact after MaxDeliveryCount.
func routable(b []byte) bool { return utf8.Valid(b) }

// bodyJSON returns the body as a JSON value for an output binding: itself
// when it is valid JSON, else a JSON string.
func bodyJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return append(json.RawMessage(nil), b...)
	}
	s, _ := json.Marshal(string(b))
	return s
}

// decode reads the request's messages. On error it returns the message IDs
// the request names, for the report, or one empty ID when it names none.
func (f *Function) decode(fn string, r *http.Request) ([]*handler.Message, []string, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, f.opts.MaxBodyBytes))
	if err != nil {
		return nil, []string{""}, &RequestError{Function: fn, Err: fmt.Errorf("%w: reading body: %w", ErrMalformedRequest, err)}
	}
	var req invokeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, []string{""}, &RequestError{Function: fn, Err: fmt.Errorf("%w: %w", ErrMalformedRequest, err)}
	}
	msgs, err := f.decodeRequest(fn, &req)
	if err != nil {
		return nil, requestIDs(req.Metadata), err
	}
	return msgs, nil, nil
}

func (f *Function) decodeRequest(fn string, req *invokeRequest) ([]*handler.Message, error) {
	if req.Data == nil {
		return nil, &RequestError{Function: fn, Field: "Data", Err: ErrMissingData}
	}
	if req.Metadata == nil {
		return nil, &RequestError{Function: fn, Field: "Metadata", Err: ErrMissingMetadata}
	}
	name, raw, err := pickBinding(fn, f.opts.Binding, req.Data)
	if err != nil {
		return nil, err
	}
	bodies, err := decodeBodies(fn, name, raw, f.opts.Many, f.opts.Binary)
	if err != nil {
		return nil, err
	}
	return buildMessages(fn, bodies, newMetadata(fn, req.Metadata), f.opts.Many, f.opts.Queue)
}

// requestIDs returns the message IDs a request's metadata names, or one
// empty ID.
func requestIDs(raw map[string]json.RawMessage) []string {
	md := newMetadata("", raw)
	if _, v, ok := md.get("MessageId"); ok {
		if id, ok := hostString(v); ok {
			return []string{id}
		}
	}
	if _, v, ok := md.get("MessageIdArray"); ok {
		if elems, ok := hostArray(v); ok && len(elems) > 0 {
			ids := make([]string, 0, len(elems))
			for _, e := range elems {
				id, _ := hostString(e)
				ids = append(ids, id)
			}
			return ids
		}
	}
	return []string{""}
}

func writeResponse(w http.ResponseWriter, status int, resp InvokeResponse) {
	if resp.Logs == nil {
		resp.Logs = []string{}
	}
	b, err := json.Marshal(resp)
	if err != nil { // a Summary always marshals; keep the status anyway
		b = []byte(`{"Outputs":{},"Logs":[],"ReturnValue":null}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ErrInvocationFailed is joined to the Report.Err of a message that
// succeeded in an invocation that failed: the Functions host abandons every
// message of the invocation, so it is redelivered.
var ErrInvocationFailed = errors.New("servicebus: the invocation failed; the host abandons all of its messages")

// errNoPort is wrapped when FUNCTIONS_CUSTOMHANDLER_PORT is not a port.
var errNoPort = errors.New("servicebus: FUNCTIONS_CUSTOMHANDLER_PORT is not a TCP port")
