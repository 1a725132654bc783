// Package telemetry sets up the gateway's observability: an OpenTelemetry
// TracerProvider whose spans go to an OTLP collector, standard output or
// nowhere; a MeterProvider read by a Prometheus exporter and served at
// /metrics; the W3C Trace Context propagator; and a slog handler that puts
// the request id and trace id of the context on every log line and masks
// identity numbers (see NewLogHandler).
//
// The core and the adapters use the OpenTelemetry API only, through the
// global providers (otel.Tracer, otel.Meter) that Install sets; nothing
// outside cmd needs this package's SDK types.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Span exporters a Config may name.
const (
	ExporterNone     = "none"      // spans are made (trace ids flow) but not exported
	ExporterOTLPGRPC = "otlp-grpc" // OTLP over gRPC, default endpoint localhost:4317
	ExporterOTLPHTTP = "otlp-http" // OTLP over HTTP/protobuf, default endpoint localhost:4318
	ExporterStdout   = "stdout"    // one JSON document per span on standard output
)

// Instrumentation scope names: the name a package passes to otel.Tracer and
// otel.Meter.
const (
	ScopeHTTP     = "tongban/httpapi"
	ScopeGateway  = "tongban/gateway"
	ScopeAdapters = "tongban/adapters"
	ScopeCmd      = "tongban/cmd"
)

// DefaultServiceName is the service.name of the gateway's telemetry.
const DefaultServiceName = "tongban"

// DefaultSamplingRatio samples every trace.
const DefaultSamplingRatio = 1.0

// LatencyBuckets are the histogram bucket boundaries, in seconds, of every
// histogram whose unit is "s" (HTTP requests, delivery attempts): from 1 ms
// to 30 s. A view of the MeterProvider applies them, overriding an
// instrument's own bucket advice.
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// ObserveTimeout bounds one callback of an observable instrument registered
// with Observe, so a slow store cannot stall a scrape.
const ObserveTimeout = 2 * time.Second

// Config selects where spans go and how many are kept.
type Config struct {
	// Exporter is ExporterNone (also ""), ExporterOTLPGRPC,
	// ExporterOTLPHTTP or ExporterStdout.
	Exporter string
	// Endpoint is the collector for the OTLP exporters: host:port, or a
	// URL (http://host:4318/v1/traces). Empty: the exporter's default,
	// which honours OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string
	// Insecure sends OTLP without TLS.
	Insecure bool
	// ServiceName is the service.name resource attribute; "" means
	// DefaultServiceName.
	ServiceName string
	// ServiceVersion is the service.version resource attribute, if set.
	ServiceVersion string
	// SamplingRatio is the share of new traces recorded, from 0 to 1,
	// parent-based: a request whose caller sampled (or did not sample) its
	// trace follows the caller's decision. The YAML configuration defaults
	// it to DefaultSamplingRatio; here it is taken as given.
	SamplingRatio float64
	// Stdout receives the stdout exporter's spans; nil means os.Stdout.
	Stdout io.Writer
}

// Option changes what New builds; tests use them.
type Option func(*options)

type options struct {
	spanExporters []sdktrace.SpanExporter
	history       HistoryOptions
}

// WithSpanExporter adds exp as a synchronous exporter: each span is handed
// to it when it ends, before End returns. Tests pass a
// tracetest.InMemoryExporter and read the spans right after the request.
func WithSpanExporter(exp sdktrace.SpanExporter) Option {
	return func(o *options) { o.spanExporters = append(o.spanExporters, exp) }
}

// Telemetry is one gateway's tracer and meter providers and its Prometheus
// registry. Its methods are safe for concurrent use.
type Telemetry struct {
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	res      *resource.Resource
	registry *prometheus.Registry
	metrics  http.Handler
	// history samples mp through a reader of its own (see History);
	// catalogue lists the instruments made through mp (see MetricFamilies).
	history   *History
	catalogue *catalogue
}

// New builds the providers cfg describes without installing them (see
// Install). The OTLP exporters connect lazily: an unreachable collector
// does not fail New; spans it could not take are dropped and reported
// through otel's error handler.
func New(ctx context.Context, cfg Config, opts ...Option) (*Telemetry, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if cfg.SamplingRatio < 0 || cfg.SamplingRatio > 1 {
		return nil, fmt.Errorf("telemetry: sampling ratio %v is not from 0 to 1", cfg.SamplingRatio)
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = DefaultServiceName
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SamplingRatio))),
	}
	exp, err := spanExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if exp != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	for _, e := range o.spanExporters {
		tpOpts = append(tpOpts, sdktrace.WithSyncer(e))
	}

	ho, err := o.history.withDefaults()
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	registerCollectors(reg)
	pe, err := newPromExporter(reg)
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	// The history's reader takes differences: each of its collections
	// returns what the counters and histograms took since the previous.
	hr := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
		return metricdata.DeltaTemporality
	}))
	cat := &catalogue{}
	t := &Telemetry{
		tp: sdktrace.NewTracerProvider(tpOpts...),
		mp: sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(pe), sdkmetric.WithReader(hr),
			// Every histogram in seconds gets LatencyBuckets, so a core
			// instrument is useful without bucket advice of its own.
			sdkmetric.WithView(sdkmetric.NewView(
				sdkmetric.Instrument{Name: "*", Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: LatencyBuckets}},
			), cat.view)),
		res:       res,
		registry:  reg,
		metrics:   promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
		history:   newHistory(hr, ho),
		catalogue: cat,
	}
	return t, nil
}

// spanExporter builds the exporter cfg names; nil for none.
func spanExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	url := len(cfg.Endpoint) > 0 && (hasScheme(cfg.Endpoint, "http://") || hasScheme(cfg.Endpoint, "https://"))
	switch cfg.Exporter {
	case "", ExporterNone:
		return nil, nil
	case ExporterStdout:
		w := cfg.Stdout
		if w == nil {
			w = os.Stdout
		}
		return stdouttrace.New(stdouttrace.WithWriter(w))
	case ExporterOTLPGRPC:
		var opts []otlptracegrpc.Option
		switch {
		case url:
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		case cfg.Endpoint != "":
			opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		e, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp-grpc exporter: %w", err)
		}
		return e, nil
	case ExporterOTLPHTTP:
		var opts []otlptracehttp.Option
		switch {
		case url:
			opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
		case cfg.Endpoint != "":
			opts = append(opts, otlptracehttp.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		e, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp-http exporter: %w", err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("telemetry: exporter %q is not none, otlp-grpc, otlp-http or stdout", cfg.Exporter)
}

func hasScheme(s, scheme string) bool {
	return len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme)
}

// Setup builds the providers cfg describes (New), installs them globally
// (Install) and returns them with the function that flushes and stops them
// (Shutdown), to be called once at exit.
func Setup(ctx context.Context, cfg Config, opts ...Option) (*Telemetry, func(context.Context) error, error) {
	t, err := New(ctx, cfg, opts...)
	if err != nil {
		return nil, nil, err
	}
	t.Install()
	return t, t.Shutdown, nil
}

// Install makes t's providers the global ones (otel.Tracer, otel.Meter)
// and installs the W3C Trace Context propagator (InstallPropagator).
// Instruments and tracers obtained from the globals before Install start
// using t's providers.
func (t *Telemetry) Install() {
	otel.SetTracerProvider(t.tp)
	otel.SetMeterProvider(t.mp)
	InstallPropagator()
}

// InstallPropagator makes W3C Trace Context (the traceparent header) the
// global propagator. It is what the gateway speaks on the wire, whatever
// the exporter: with exporter none trace ids still flow from callers to
// partners and back.
func InstallPropagator() { otel.SetTextMapPropagator(propagation.TraceContext{}) }

// Propagator returns the global propagator, or W3C Trace Context while no
// propagator is installed, so traceparent flows even in a process that
// never called Install.
func Propagator() propagation.TextMapPropagator {
	p := otel.GetTextMapPropagator()
	if len(p.Fields()) == 0 {
		return propagation.TraceContext{}
	}
	return p
}

// TracerProvider returns t's tracer provider.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns t's meter provider.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Tracer returns t's tracer for an instrumentation scope (ScopeHTTP, …).
func (t *Telemetry) Tracer(scope string) trace.Tracer { return t.tp.Tracer(scope) }

// Meter returns t's meter for an instrumentation scope (ScopeHTTP, …).
func (t *Telemetry) Meter(scope string) metric.Meter { return t.mp.Meter(scope) }

// MetricsHandler serves t's metrics in the Prometheus text format: every
// instrument made through t's MeterProvider (or the global one, once t is
// installed), plus the Go runtime's and the process's collectors.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// History returns t's history of its own metrics (contracts.Stats): empty
// until its Run loop (or Sample) takes samples.
func (t *Telemetry) History() *History { return t.history }

// Registry returns t's Prometheus registry, for collectors that are not
// OpenTelemetry instruments.
func (t *Telemetry) Registry() *prometheus.Registry { return t.registry }

// Observe registers an observable gauge named name (an OpenTelemetry name
// such as "tongban.outbox.deliveries"; Prometheus shows it with dots as
// underscores) whose value observe reports at each collection, once per
// attribute set through record. observe's ctx is bounded by ObserveTimeout;
// an error it returns is passed to otel's error handler and the values it
// recorded are kept. The returned function unregisters the gauge.
func (t *Telemetry) Observe(name, unit, description string, observe func(ctx context.Context, record func(v int64, attrs ...attribute.KeyValue)) error) (unregister func() error, err error) {
	m := t.Meter(ScopeCmd)
	g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(description))
	if err != nil {
		return nil, fmt.Errorf("telemetry: gauge %s: %w", name, err)
	}
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, ObserveTimeout)
		defer cancel()
		return observe(ctx, func(v int64, attrs ...attribute.KeyValue) {
			o.ObserveInt64(g, v, metric.WithAttributes(attrs...))
		})
	}, g)
	if err != nil {
		return nil, fmt.Errorf("telemetry: gauge %s: %w", name, err)
	}
	return reg.Unregister, nil
}

// Shutdown flushes the spans not yet exported and stops both providers;
// ctx bounds the flush. Spans ended later are dropped.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.tp.Shutdown(ctx), t.mp.Shutdown(ctx))
}

// TraceID returns the trace id of the span ctx carries as 32 lowercase hex
// digits, or "" when it carries no valid span context.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
