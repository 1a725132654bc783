package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/telemetry"
)

// Attribute keys of the server spans and HTTP metrics.
const (
	attrRoute     = "http.route"
	attrMethod    = "http.request.method"
	attrStatus    = "http.response.status_code"
	attrCaller    = "tongban.caller"
	attrRequestID = "tongban.request_id"
	attrErrorCode = "tongban.error_code"
)

// Labels for requests that name no route or no caller.
const (
	routeUnmatched = "unmatched"
	callerNone     = "none"
)

// HTTP metric names (OpenTelemetry; Prometheus shows dots as underscores
// and adds _total, _seconds).
const (
	MetricRequests        = "tongban.http.requests"
	MetricRequestDuration = "tongban.http.request.duration"
)

// instruments are the HTTP layer's metrics.
type instruments struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
}

func newInstruments(m metric.Meter) instruments {
	req, err := m.Int64Counter(MetricRequests, metric.WithUnit("{request}"),
		metric.WithDescription("HTTP requests served, by route, method, status and authenticated caller."))
	if err != nil {
		panic(err) // constant, valid names
	}
	dur, err := m.Float64Histogram(MetricRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to serve an HTTP request, by route, method, status and authenticated caller."),
		metric.WithExplicitBucketBoundaries(telemetry.LatencyBuckets...))
	if err != nil {
		panic(err)
	}
	return instruments{requests: req, duration: dur}
}

// quiet routes are probed often and are not traced (they are counted).
func quiet(route string) bool {
	return route == "/healthz" || route == "/readyz" || route == "/metrics"
}

// routeOf is the route template the request matched, or routeUnmatched.
func routeOf(c echo.Context) string {
	p := c.Path()
	if p == "" || strings.HasSuffix(p, "/*") || p == "/v1" {
		return routeUnmatched
	}
	return p
}

// methodOf bounds the method label to the methods HTTP defines.
func methodOf(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// observe gives every request its request id in the context (for logs),
// a server span named by its route that continues the caller's
// traceparent (probes excepted), and its count and latency in the
// metrics. It lets the error handler answer errors itself, so that the
// status is known; nothing personal is recorded: the route template, never
// the path or query.
func (a *api) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		route, method := routeOf(c), methodOf(req.Method)
		ctx := telemetry.WithRequestID(req.Context(), requestID(c))
		var span trace.Span
		if !quiet(route) {
			ctx = telemetry.Propagator().Extract(ctx, propagation.HeaderCarrier(req.Header))
			ctx, span = a.tracer.Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(
					attribute.String(attrMethod, method),
					attribute.String(attrRoute, route),
					attribute.String(attrRequestID, requestID(c)),
				))
		}
		c.SetRequest(req.WithContext(ctx))

		err := next(c)
		if err != nil {
			var he *echo.HTTPError
			if errors.As(err, &he) && (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed) {
				route = routeUnmatched // the router's refusal, whatever template it matched
			}
			c.Error(err)
		}
		status := c.Response().Status
		caller := callerNone
		if p, ok := c.Get(principalKey).(gateway.Principal); ok && p.Partner != nil {
			caller = p.ID()
		}
		if span != nil {
			span.SetName(method + " " + route)
			span.SetAttributes(attribute.String(attrRoute, route), attribute.Int(attrStatus, status))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
		}
		took := time.Since(start)
		attrs := metric.WithAttributes(
			attribute.String(attrRoute, route), attribute.String(attrMethod, method),
			attribute.Int(attrStatus, status), attribute.String(attrCaller, caller),
		)
		a.metrics.requests.Add(ctx, 1, attrs)
		a.metrics.duration.Record(ctx, took.Seconds(), attrs)
		a.Log.DebugContext(ctx, "request", "method", method, "route", route, "status", status,
			"caller", caller, "duration_ms", float64(took.Microseconds())/1000)
		return nil
	}
}
