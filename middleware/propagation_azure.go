package middleware

import "go.opentelemetry.io/otel/trace"

// AttrDiagnosticID is the application property the Azure Service Bus SDKs
// write the producer's W3C traceparent into.
const AttrDiagnosticID = "Diagnostic-Id"

// diagnosticID parses a Diagnostic-Id in traceparent form; the older
// hierarchical Request-Id form ("|guid.1.") carries no W3C context and is
// skipped.
func diagnosticID(v string) trace.SpanContext { return w3c(v, "") }
