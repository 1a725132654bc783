package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/gateway/telemetry"
)

func newTelemetry(t *testing.T, cfg telemetry.Config, opts ...telemetry.Option) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.New(t.Context(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

func scrape(t *testing.T, tel *telemetry.Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestInMemoryExporterGetsSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel := newTelemetry(t, telemetry.Config{SamplingRatio: 1}, telemetry.WithSpanExporter(exp))
	_, span := tel.Tracer("test").Start(context.Background(), "work")
	span.End()
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "work" {
		t.Fatalf("got %d spans %v, want the one ended", len(spans), spans.Snapshots())
	}
	var service string
	for _, kv := range spans[0].Resource.Attributes() {
		if kv.Key == "service.name" {
			service = kv.Value.AsString()
		}
	}
	if service != telemetry.DefaultServiceName {
		t.Errorf("service.name = %q, want %q", service, telemetry.DefaultServiceName)
	}
}

func TestSamplingIsParentBased(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel := newTelemetry(t, telemetry.Config{SamplingRatio: 0}, telemetry.WithSpanExporter(exp))
	_, root := tel.Tracer("test").Start(context.Background(), "root")
	root.End()
	if !root.SpanContext().IsValid() || root.SpanContext().IsSampled() {
		t.Errorf("ratio 0: root span %v, want a valid, unsampled span context", root.SpanContext())
	}
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
	_, child := tel.Tracer("test").Start(parent, "child")
	child.End()
	if got := exp.GetSpans(); len(got) != 1 || got[0].Name != "child" || got[0].SpanContext.TraceID() != tid {
		t.Errorf("ratio 0: exported %v, want only the child of a sampled caller, in its trace", got.Snapshots())
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []telemetry.Config{
		{Exporter: "jaeger", SamplingRatio: 1},
		{SamplingRatio: 1.5},
		{SamplingRatio: -0.1},
	} {
		if _, err := telemetry.New(t.Context(), cfg); err == nil {
			t.Errorf("New(%+v): got nil error", cfg)
		}
	}
}

func TestExportersBuild(t *testing.T) {
	// The OTLP exporters connect lazily: building them needs no collector.
	for _, cfg := range []telemetry.Config{
		{Exporter: telemetry.ExporterOTLPGRPC, Endpoint: "127.0.0.1:4317", Insecure: true},
		{Exporter: telemetry.ExporterOTLPGRPC, Endpoint: "http://127.0.0.1:4317"},
		{Exporter: telemetry.ExporterOTLPHTTP, Endpoint: "127.0.0.1:4318", Insecure: true},
		{Exporter: telemetry.ExporterOTLPHTTP, Endpoint: "https://collector.example:4318/v1/traces"},
		{Exporter: telemetry.ExporterNone},
	} {
		tel, err := telemetry.New(t.Context(), cfg)
		if err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // nothing to flush; do not wait for a collector
		_ = tel.Shutdown(ctx)
	}
}

func TestStdoutExporter(t *testing.T) {
	var buf bytes.Buffer
	tel, err := telemetry.New(t.Context(), telemetry.Config{Exporter: telemetry.ExporterStdout, Stdout: &buf, SamplingRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer("test").Start(context.Background(), "printed")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got struct{ Name string }
	if err := json.NewDecoder(&buf).Decode(&got); err != nil || got.Name != "printed" {
		t.Errorf("stdout exporter wrote %q (%v), want the span as JSON", buf.String(), err)
	}
}

func TestMetricsAndObserve(t *testing.T) {
	tel := newTelemetry(t, telemetry.Config{SamplingRatio: 1})
	c, err := tel.Meter(telemetry.ScopeGateway).Int64Counter("tongban.test.things", metric.WithUnit("{thing}"))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 2, metric.WithAttributes(attribute.String("partner", "330702")))
	h, err := tel.Meter(telemetry.ScopeGateway).Float64Histogram("tongban.test.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	h.Record(context.Background(), 0.003)
	calls := 0
	unregister, err := tel.Observe("tongban.test.depth", "{delivery}", "test depth", func(ctx context.Context, record func(int64, ...attribute.KeyValue)) error {
		calls++
		if _, ok := ctx.Deadline(); !ok {
			t.Error("observe callback has no deadline")
		}
		record(7, attribute.String("transport_state", "pending"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	body := scrape(t, tel)
	for _, want := range []string{
		`tongban_test_things_total{partner="330702"} 2`,
		`tongban_test_depth{transport_state="pending"} 7`,
		`tongban_test_duration_seconds_bucket{le="0.0025"} 0`, // LatencyBuckets without advice
		`tongban_test_duration_seconds_bucket{le="0.005"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	before := calls
	scrape(t, tel)
	if calls != before {
		t.Errorf("callback ran after Unregister")
	}
}

func TestPropagator(t *testing.T) {
	// Whatever the global state, Propagator speaks traceparent.
	p := telemetry.Propagator()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	h := http.Header{}
	p.Inject(ctx, propagation.HeaderCarrier(h))
	if got, want := h.Get("traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got != want {
		t.Errorf("traceparent %q, want %q", got, want)
	}
	if got := telemetry.TraceID(p.Extract(context.Background(), propagation.HeaderCarrier(h))); got != tid.String() {
		t.Errorf("TraceID after Extract = %q, want %s", got, tid)
	}
	if got := telemetry.TraceID(context.Background()); got != "" {
		t.Errorf("TraceID of an empty context = %q", got)
	}
}
