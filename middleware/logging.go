package middleware

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/internal/textutil"
)

// LoggingOptions configure Logging. The zero value is ready to use.
type LoggingOptions struct {
	// Logger receives the outcome lines and is the base of each message's
	// logger. Default: PlatformLogger().
	Logger *slog.Logger
	// CorrelationAttribute names the message attribute holding the
	// correlation ID. Default: "correlation_id". Without it the producer's
	// trace ID is used (see ProducerSpanContext).
	CorrelationAttribute string
	// Attrs, if set, adds fields to each message's logger, computed when a
	// line is first logged; awslambda.LogAttrs adds the Lambda request ID,
	// function name and cold start. It must be safe for concurrent use.
	Attrs func(ctx context.Context, m *handler.Message) []slog.Attr
	// LogBody adds the message body, truncated to MaxBody bytes, to every
	// line. Bodies may hold personal data: off by default.
	LogBody bool
	// MaxBody bounds a logged body. Default: 1024.
	MaxBody int

	function string // the platform's name for the function, from the environment
}

// DefaultCorrelationAttribute is LoggingOptions.CorrelationAttribute's
// default.
const DefaultCorrelationAttribute = "correlation_id"

// Log field names.
const (
	LogMessageID       = "message_id"
	LogSource          = "source"
	LogQueue           = "queue"
	LogDeliveryAttempt = "delivery_attempt"
	LogOrderingKey     = "ordering_key"
	LogCorrelationID   = "correlation_id"
	LogFunctionName    = "function_name"
	LogTraceID         = "trace_id"
	LogOutcome         = "outcome"
	LogErrorClass      = "error_class"
	LogError           = "error"
	LogDuration        = "duration_ms"
	LogBody            = "body"
)

type logKey struct{}

// msgLog is the context a message's handler runs with: its parent plus
// the message's logger, built the first time a line is logged. One
// allocation per message holds both.
type msgLog struct {
	context.Context
	o    *LoggingOptions
	m    *handler.Message
	once sync.Once
	l    *slog.Logger
}

// Value returns ml for logKey and defers every other key to the parent.
func (ml *msgLog) Value(key any) any {
	if key == (logKey{}) {
		return ml
	}
	return ml.Context.Value(key)
}

func (ml *msgLog) logger() *slog.Logger {
	ml.once.Do(func() { ml.l = ml.o.Logger.With(ml.o.fields(ml.Context, ml.m)...) })
	return ml.l
}

// LoggerFrom returns the logger of the message ctx is handling, carrying
// its ID, source, queue, delivery attempt, ordering key and correlation ID
// (see Logging), or slog.Default() outside the Logging middleware. It is
// safe for concurrent use.
func LoggerFrom(ctx context.Context) *slog.Logger {
	if ml, ok := ctx.Value(logKey{}).(*msgLog); ok {
		return ml.logger()
	}
	return slog.Default()
}

// Logging returns a middleware that gives each message a logger (see
// LoggerFrom) carrying message_id, source, queue, delivery_attempt,
// ordering_key when set, function_name (AWS_LAMBDA_FUNCTION_NAME,
// K_SERVICE or FUNCTION_TARGET on Google Cloud, WEBSITE_SITE_NAME on
// Azure) when set, correlation_id (from
// LoggingOptions.CorrelationAttribute, else the producer's trace ID) and
// trace_id of the producer when known, plus LoggingOptions.Attrs.
// It logs every message that is not acknowledged, with its outcome, error
// class and error: Warn for a retry, Error for a rejection or a panic
// (with the stack; the panic is re-raised). Successes are logged at Debug.
// Bodies are logged only with LogBody. The fields are computed only when
// a line is logged. It is safe for concurrent use.
func Logging(opts *LoggingOptions) handler.Middleware {
	var o LoggingOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = PlatformLogger()
	}
	if o.CorrelationAttribute == "" {
		o.CorrelationAttribute = DefaultCorrelationAttribute
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1024
	}
	o.function = firstEnv("AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "FUNCTION_TARGET", "WEBSITE_SITE_NAME")
	return func(h handler.Handler) handler.Handler {
		return handler.HandlerFunc(func(ctx context.Context, m *handler.Message) error { return o.handle(ctx, h, m) })
	}
}

func (o *LoggingOptions) handle(ctx context.Context, h handler.Handler, m *handler.Message) (err error) {
	if m == nil {
		return h.Handle(ctx, m)
	}
	ml := &msgLog{Context: ctx, o: o, m: m}
	start := monotonic()
	defer func() {
		if v := recover(); v != nil {
			ml.logger().LogAttrs(ctx, slog.LevelError, "message handler panicked",
				slog.String(LogOutcome, handler.Retry.String()), slog.String(LogErrorClass, "panic"),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())), durationAttr(start))
			panic(v)
		}
		out := handler.Classify(err)
		level, msg := slog.LevelDebug, "message done"
		switch out {
		case handler.Retry:
			level, msg = slog.LevelWarn, "message failed; it will be redelivered"
			var pe *handler.PanicError
			if asPanic(err, &pe) {
				level = slog.LevelError
			}
		case handler.Reject:
			level, msg = slog.LevelError, "message rejected; it will be dead-lettered"
		}
		if !o.Logger.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{slog.String(LogOutcome, out.String()), durationAttr(start)}
		if err != nil {
			attrs = append(attrs, slog.String(LogErrorClass, errorClass(err)), slog.String(LogError, err.Error()))
			if d, ok := handler.RetryDelay(err); ok {
				attrs = append(attrs, slog.Duration("retry_after", d))
			}
		}
		ml.logger().LogAttrs(ctx, level, msg, attrs...)
	}()
	return h.Handle(ml, m)
}

func durationAttr(start time.Duration) slog.Attr {
	return slog.Float64(LogDuration, float64((monotonic()-start).Microseconds())/1000)
}

// fields returns the attributes of m's logger.
func (o *LoggingOptions) fields(ctx context.Context, m *handler.Message) []any {
	f := make([]any, 0, 10)
	f = append(f,
		slog.String(LogMessageID, m.ID),
		slog.String(LogSource, m.Source),
		slog.String(LogQueue, m.Queue),
		slog.Int(LogDeliveryAttempt, m.DeliveryAttempt))
	if m.OrderingKey != "" {
		f = append(f, slog.String(LogOrderingKey, m.OrderingKey))
	}
	if o.function != "" {
		f = append(f, slog.String(LogFunctionName, o.function))
	}
	if a := Attempt(ctx); a > 1 {
		f = append(f, slog.Int("attempt", a))
	}
	sc := ProducerSpanContext(m)
	corr := m.Attribute(o.CorrelationAttribute)
	if corr == "" && sc.IsValid() {
		corr = sc.TraceID().String()
	}
	if corr != "" {
		f = append(f, slog.String(LogCorrelationID, corr))
	}
	if sc.IsValid() {
		f = append(f, slog.String(LogTraceID, sc.TraceID().String()))
	}
	if o.LogBody {
		f = append(f, slog.String(LogBody, textutil.Truncate(string(m.Body), o.MaxBody)))
	}
	if o.Attrs != nil {
		for _, a := range o.Attrs(ctx, m) {
			f = append(f, a)
		}
	}
	return f
}

func asPanic(err error, pe **handler.PanicError) bool { return errors.As(err, pe) }
