package middleware_test

import (
	"context"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// discardExporter is a metric exporter that keeps nothing.
type discardExporter struct{}

func (discardExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}
func (discardExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}
func (discardExporter) Export(context.Context, *metricdata.ResourceMetrics) error { return nil }
func (discardExporter) ForceFlush(context.Context) error                          { return nil }
func (discardExporter) Shutdown(context.Context) error                            { return nil }

func noopMeter() metric.MeterProvider { return noopmetric.NewMeterProvider() }
