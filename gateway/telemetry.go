package gateway

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Telemetry is where the core's spans and metrics go. The application
// injects it (gateway/telemetry builds the providers); the zero value
// records nothing. The core reads no global provider.
type Telemetry struct {
	Traces  trace.TracerProvider
	Metrics metric.MeterProvider
}

// instrumentation is the name the core's spans and instruments are made
// under.
const instrumentation = "tongban/gateway"

// Meter returns the meter the core's instruments are made with (a no-op
// one when t has no meter provider). An instrument the provider refuses
// is a no-op too (the API's guarantee), so metrics never fail a step.
func (t Telemetry) Meter() metric.Meter {
	if t.Metrics == nil {
		return metricnoop.NewMeterProvider().Meter(instrumentation)
	}
	return t.Metrics.Meter(instrumentation)
}

// tracer returns the tracer of the core's spans under ctx: the provider
// of the recording span ctx carries, so that one request's spans stay in
// one provider, else t's.
func (t Telemetry) tracer(ctx context.Context) trace.Tracer {
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		return sp.TracerProvider().Tracer(instrumentation)
	}
	if t.Traces == nil {
		return tracenoop.NewTracerProvider().Tracer(instrumentation)
	}
	return t.Traces.Tracer(instrumentation)
}

// StartSpan starts an internal span of the core.
func (t Telemetry) StartSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return t.tracer(ctx).Start(ctx, name, trace.WithAttributes(attrs...))
}

// EndSpan ends span, marking it failed when err is not nil (its text says
// only what failed: core errors carry no personal data).
func EndSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, string(CodeOf(err)))
	}
	span.End()
}

// WithTraceParent returns ctx carrying the remote span context of a W3C
// traceparent ("00-<trace id>-<span id>-<flags>"), so that spans started
// from it continue that trace; ctx unchanged when tp is not one.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" {
		return ctx
	}
	tid, err1 := trace.TraceIDFromHex(parts[1])
	sid, err2 := trace.SpanIDFromHex(parts[2])
	if err1 != nil || err2 != nil || len(parts[3]) != 2 {
		return ctx
	}
	flags := trace.TraceFlags(0)
	if parts[3] == "01" {
		flags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
