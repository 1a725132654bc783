package gateway

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerFor returns the tracer of the core's spans (signing,
// verification, store writes, delivery attempts) under ctx: the provider
// of the recording span ctx carries, so that one request's spans stay in
// one provider, else the global provider as installed now
// (gateway/telemetry installs it at start).
func tracerFor(ctx context.Context) trace.Tracer {
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		return sp.TracerProvider().Tracer("tongban/gateway")
	}
	return otel.GetTracerProvider().Tracer("tongban/gateway")
}

// startSpan starts an internal span of the core.
func startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracerFor(ctx).Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan ends span, marking it failed when err is not nil (its text says
// only what failed: core errors carry no personal data).
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, string(CodeOf(err)))
	}
	span.End()
}

// withTraceParent returns ctx carrying the remote span context of a W3C
// traceparent ("00-<trace id>-<span id>-<flags>"), so that spans started
// from it continue that trace; ctx unchanged when tp is not one.
func withTraceParent(ctx context.Context, tp string) context.Context {
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
