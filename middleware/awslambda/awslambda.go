// Package awslambda adds what only AWS Lambda knows to eventfn's
// middleware: the invocation's request ID and whether the invocation is the
// process's first (a cold start). It links
// github.com/aws/aws-lambda-go/lambdacontext and nothing else of AWS, so
// the middleware package itself stays free of any cloud SDK.
package awslambda

import (
	"context"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/middleware"
)

// Log field names LogAttrs adds. The function name comes from the Logging
// middleware itself (middleware.LogFunctionName).
const (
	LogRequestID = "aws_request_id"
	LogColdStart = "cold_start"
)

var (
	mu        sync.Mutex
	firstID   string // the request ID of the process's first invocation
	firstSeen bool
)

// coldStart reports whether requestID is the process's first invocation.
func coldStart(requestID string) bool {
	mu.Lock()
	defer mu.Unlock()
	if !firstSeen {
		firstSeen, firstID = true, requestID
	}
	return requestID == firstID
}

// LogAttrs returns the Lambda fields of a message's log lines: the
// invocation's aws_request_id (from the context aws-lambda-go gives the
// handler) and cold_start (true during the process's first invocation).
// Its signature fits middleware.LoggingOptions.Attrs. It is safe for
// concurrent use.
func LogAttrs(ctx context.Context, _ *handler.Message) []slog.Attr {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return []slog.Attr{slog.String(LogRequestID, lc.AwsRequestID), slog.Bool(LogColdStart, coldStart(lc.AwsRequestID))}
	}
	return nil
}

// Defaults returns middleware.Defaults(opts) with LogAttrs added to the
// logging layer's fields (unless opts.Logging.Attrs is set). It is safe for
// concurrent use.
func Defaults(opts *middleware.Options) handler.Middleware {
	var o middleware.Options
	if opts != nil {
		o = *opts
	}
	var lo middleware.LoggingOptions
	if o.Logging != nil {
		lo = *o.Logging
	}
	if lo.Attrs == nil {
		lo.Attrs = LogAttrs
	}
	o.Logging = &lo
	return middleware.Defaults(&o)
}
