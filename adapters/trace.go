package adapters

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the adapters' spans.
const TracerName = "tongban/adapters"

// Propagator returns the global OpenTelemetry propagator, or W3C Trace
// Context while none is installed: the gateway and its partners speak
// traceparent whatever the process set up.
func Propagator() propagation.TextMapPropagator {
	p := otel.GetTextMapPropagator()
	if len(p.Fields()) == 0 {
		return propagation.TraceContext{}
	}
	return p
}

// InjectTrace writes the trace context of the span ctx carries into h
// (the traceparent header); it writes nothing when ctx carries none.
func InjectTrace(ctx context.Context, h http.Header) {
	Propagator().Inject(ctx, propagation.HeaderCarrier(h))
}

// ExtractTrace returns ctx carrying the remote span context h names (its
// traceparent header). A missing or malformed traceparent leaves ctx as it
// is: the W3C rules (lowercase hex, no all-zero ids, version ff refused)
// are the propagator's.
func ExtractTrace(ctx context.Context, h http.Header) context.Context {
	return Propagator().Extract(ctx, propagation.HeaderCarrier(h))
}

// tracer returns the tracer for a client span under ctx: the provider of
// the recording span ctx carries, so that a request's spans stay in one
// provider, else the global one.
func tracer(ctx context.Context) trace.Tracer {
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		return sp.TracerProvider().Tracer(TracerName)
	}
	return otel.GetTracerProvider().Tracer(TracerName)
}
