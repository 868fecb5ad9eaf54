package pubsub

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventfn/eventfn/handler"
)

// Headers Pub/Sub sets on an unwrapped push request when the subscription
// writes metadata (--push-no-wrapper-write-metadata).
const (
	HeaderMessageID    = "X-Goog-Pubsub-Message-Id"
	HeaderSubscription = "X-Goog-Pubsub-Subscription-Name"
	HeaderPublishTime  = "X-Goog-Pubsub-Publish-Time"
	HeaderOrderingKey  = "X-Goog-Pubsub-Ordering-Key"
)

// PushOptions configure NewPushHandler. The zero value is ready to use.
type PushOptions struct {
	// MaxBodyBytes bounds the request body; a larger request gets 413.
	// Default: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Verifier, when set, checks the request's "Authorization: Bearer"
	// token before anything else; a request that fails gets 401 or 403 and
	// never reaches the handler. Use an *OIDCVerifier for a push
	// subscription with authentication. Default: none (use it when the
	// platform authenticates callers, as Cloud Run with IAM does).
	Verifier TokenVerifier
	// Unwrapped treats every request as an unwrapped push (the message data
	// as the body). By default a request carrying HeaderMessageID is
	// unwrapped and any other is a JSON Envelope.
	Unwrapped bool
	// AttributeHeaders lists the headers of an unwrapped push that are
	// message attributes (Pub/Sub sends attributes as headers). Default:
	// every header except the transport's own (Authorization, Host,
	// Content-Length, User-Agent, Accept*, Connection, Forwarded,
	// X-Forwarded-*, X-Cloud-Trace-Context, Traceparent, Via and the
	// X-Goog-Pubsub-* metadata). Names are lowercased: HTTP does not keep
	// an attribute's case.
	AttributeHeaders []string
	// Timeout bounds the handler's run, on top of the request's own
	// context. Set it a little below the subscription's ack deadline, after
	// which Pub/Sub stops waiting and redelivers. Default: none.
	Timeout time.Duration
	// Process configures the batch engine; of its fields only
	// DeadlineMargin applies, since a push carries one message. Default:
	// handler.Process's defaults.
	Process *handler.ProcessOptions
	// DeadLetter, when set, keeps messages the handler rejects with
	// handler.Permanent and acknowledges them. Without it a rejected message
	// gets 422, so the subscription's dead-letter policy applies.
	DeadLetter DeadLetterFunc
	// Logger receives one line for every message that is not acknowledged
	// (with its ID, source, queue, settlement and reason) and for refused
	// requests. Default: slog.Default().
	Logger *slog.Logger
	// OnResult, if set, is called once per pushed message after its status
	// is decided, requests that could not be decoded included (not those
	// refused by the Verifier, which need not come from Pub/Sub). It must
	// be safe for concurrent use and fast.
	OnResult handler.ResultHook
}

// PushHandler is an http.Handler for Pub/Sub push deliveries, wrapped
// (a JSON Envelope) or unwrapped (the data as the body, metadata and
// attributes as headers). It responds 204 when the message is done and a
// non-2xx status otherwise (see DeliveryError for the codes), which Pub/Sub
// takes as a nack. A PushHandler is safe for concurrent use.
type PushHandler struct {
	d        *deliverer
	opts     PushOptions
	attrHdrs map[string]string // canonical header -> attribute name
}

// NewPushHandler returns a PushHandler that runs h for each pushed message.
// It panics if h is nil.
func NewPushHandler(h handler.Handler, opts *PushOptions) *PushHandler {
	if h == nil {
		panic("pubsub: NewPushHandler: nil handler")
	}
	var o PushOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	p := &PushHandler{
		d:    &deliverer{h: h, timeout: o.Timeout, process: o.Process, deadLetter: o.DeadLetter, log: logger(o.Logger), onResult: o.OnResult},
		opts: o,
	}
	if o.AttributeHeaders != nil {
		p.attrHdrs = make(map[string]string, len(o.AttributeHeaders))
		for _, name := range o.AttributeHeaders {
			p.attrHdrs[http.CanonicalHeaderKey(name)] = name
		}
	}
	return p
}

// ServeHTTP handles one push request.
func (p *PushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "pubsub: push endpoint accepts POST only", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	if p.opts.Verifier != nil {
		if err := p.verify(r); err != nil {
			p.d.log.WarnContext(ctx, "pubsub: push request refused", slog.Any("error", err), slog.String("remote", r.RemoteAddr))
			p.write(w, reject(r.Header.Get(HeaderMessageID), err))
			return
		}
	}
	m, err := p.message(w, r)
	if err != nil {
		if m == nil {
			m = requestMessage(r)
		}
		p.write(w, p.d.rejected(ctx, m, err))
		return
	}
	pushTraceContext(m, r)
	p.write(w, p.d.deliver(ctx, m))
}

func (p *PushHandler) verify(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if auth == "" {
		return fmt.Errorf("%w: no Authorization header", ErrUnauthenticated)
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return fmt.Errorf("%w: Authorization is not a bearer token", ErrUnauthenticated)
	}
	err := p.opts.Verifier.VerifyToken(r.Context(), strings.TrimSpace(token))
	if err != nil && !errors.Is(err, ErrUnauthenticated) && !errors.Is(err, ErrForbidden) {
		err = fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return err
}

func (p *PushHandler) write(w http.ResponseWriter, v verdict) {
	if v.err == nil {
		w.WriteHeader(v.status)
		return
	}
	switch v.status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	case http.StatusServiceUnavailable:
		if v.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((v.retryAfter+time.Second-1)/time.Second)))
		}
	}
	http.Error(w, v.err.Error(), v.status)
}

// message reads the request into a Message. On error the Message, when not
// nil, holds what the envelope said about the message.
func (p *PushHandler) message(w http.ResponseWriter, r *http.Request) (*handler.Message, error) {
	limit := p.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, handler.Permanent(fmt.Errorf("%w: body is %d bytes, limit %d", ErrTooLarge, r.ContentLength, limit))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, handler.Permanent(fmt.Errorf("%w: body over the %d-byte limit", ErrTooLarge, limit))
		}
		return nil, fmt.Errorf("pubsub: read push body: %w", err) // transient: 500
	}
	if p.opts.Unwrapped || r.Header.Get(HeaderMessageID) != "" {
		return p.unwrapped(r, body)
	}
	env, err := decodeEnvelope(body)
	if err != nil {
		return nil, err
	}
	if env.Message.ID() == "" {
		return nil, malformed("message.messageId", errors.New("missing"))
	}
	m, err := env.toMessage(r)
	if err != nil {
		m = &handler.Message{ID: env.Message.ID(), Source: handler.SourcePubSub, Queue: env.Subscription,
			OrderingKey: env.Message.OrderingKey, DeliveryAttempt: env.DeliveryAttempt}
		m.SetRaw(env, r)
	}
	return m, err
}

// requestMessage describes a push request that could not be decoded, from
// its headers.
func requestMessage(r *http.Request) *handler.Message {
	m := &handler.Message{
		ID:          r.Header.Get(HeaderMessageID),
		Source:      handler.SourcePubSub,
		Queue:       r.Header.Get(HeaderSubscription),
		OrderingKey: r.Header.Get(HeaderOrderingKey),
	}
	m.SetRaw(r)
	return m
}

// Attributes under which PushHandler exposes the push request's trace
// context headers, and CloudEventFunction the event's distributed-tracing
// extension, unless the message has an attribute of that name already.
const (
	AttrTraceparent       = "traceparent"
	AttrTracestate        = "tracestate"
	AttrCloudTraceContext = "X-Cloud-Trace-Context"
)

// pushTraceContext copies the request's trace headers into m's attributes
// without overwriting the message's own.
func pushTraceContext(m *handler.Message, r *http.Request) {
	for _, name := range []string{AttrTraceparent, AttrTracestate, AttrCloudTraceContext} {
		if v := r.Header.Get(name); v != "" {
			setAttr(m, name, v)
		}
	}
}

// setAttr sets m.Attributes[k] = v unless k is there, copying the map first
// so the decoded envelope reachable with As keeps its own.
func setAttr(m *handler.Message, k, v string) {
	if _, ok := m.Attributes[k]; ok {
		return
	}
	attrs := make(map[string]string, len(m.Attributes)+1)
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	attrs[k] = v
	m.Attributes = attrs
}

// transportHeaders are never attributes of an unwrapped push.
var transportHeaders = map[string]bool{
	"Authorization": true, "Host": true, "Content-Length": true, "User-Agent": true,
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true, "Connection": true,
	"Forwarded": true, "X-Cloud-Trace-Context": true, "Traceparent": true, "Tracestate": true,
	"Via": true, "Te": true, "Upgrade": true, "Expect": true, "Keep-Alive": true,
}

func (p *PushHandler) unwrapped(r *http.Request, body []byte) (*handler.Message, error) {
	published, err := parseTime("header "+HeaderPublishTime, r.Header.Get(HeaderPublishTime))
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{}
	for name, vals := range r.Header {
		attr := ""
		if p.attrHdrs != nil {
			attr = p.attrHdrs[name]
		} else if !transportHeaders[name] && !strings.HasPrefix(name, "X-Forwarded-") && !strings.HasPrefix(name, "X-Goog-Pubsub-") {
			attr = strings.ToLower(name)
		}
		if attr != "" && len(vals) > 0 {
			attrs[attr] = strings.Join(vals, ",")
		}
	}
	m := &handler.Message{
		ID:          r.Header.Get(HeaderMessageID),
		Body:        body,
		Attributes:  attrs,
		Source:      handler.SourcePubSub,
		Queue:       r.Header.Get(HeaderSubscription),
		OrderingKey: r.Header.Get(HeaderOrderingKey),
		PublishedAt: published,
	}
	m.SetRaw(r)
	return m, nil
}
