package telemetry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// registerCollectors adds the collectors every registry of a Telemetry
// has besides OpenTelemetry's: the Go runtime's and the process's.
func registerCollectors(reg *prometheus.Registry) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// newPromExporter is the reader that serves a MeterProvider's
// instruments on reg, as /metrics shows them.
func newPromExporter(reg *prometheus.Registry) (*otelprom.Exporter, error) {
	return otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
}

// catalogue remembers every instrument made through a MeterProvider: a
// view that matches nothing sees each one as it is made.
type catalogue struct {
	mu    sync.Mutex
	insts map[instrumentKey]sdkmetric.Instrument
}

// instrumentKey tells instruments apart as the provider does.
type instrumentKey struct {
	scope, name, unit string
	kind              sdkmetric.InstrumentKind
}

// view notes i and leaves its stream alone.
func (c *catalogue) view(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.insts == nil {
		c.insts = map[instrumentKey]sdkmetric.Instrument{}
	}
	c.insts[instrumentKey{i.Scope.Name, i.Name, i.Unit, i.Kind}] = i
	return sdkmetric.Stream{}, false
}

// list returns the instruments seen so far.
func (c *catalogue) list() []sdkmetric.Instrument {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]sdkmetric.Instrument, 0, len(c.insts))
	for _, i := range c.insts {
		out = append(out, i)
	}
	return out
}

// MetricFamily is one metric family of a /metrics page: its name and its
// Prometheus type.
type MetricFamily struct {
	Name string
	// Type is counter, gauge, histogram (its series add _bucket, _sum and
	// _count to Name), summary (_sum, _count) or untyped, as the page's
	// "# TYPE" line says.
	Type string
}

// MetricFamilies returns, sorted by name, the metric families t's
// /metrics may show: those of every instrument made through t's meter
// provider so far, whether or not it has recorded anything yet (a counter
// appears on the page only once it has), as the Prometheus exporter names
// them (tongban_delivery_attempts_total, tongban_delivery_duration_seconds),
// target_info, and the Go runtime's and process's families (go_*,
// process_*).
//
// The names are the exporter's own: each instrument is made again, with
// its name, kind and unit, in a throwaway provider read by a throwaway
// exporter and registry set up as t's, which records once on each and is
// gathered.
func (t *Telemetry) MetricFamilies(ctx context.Context) ([]MetricFamily, error) {
	reg := prometheus.NewRegistry()
	registerCollectors(reg)
	exp, err := newPromExporter(reg)
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(t.res), sdkmetric.WithReader(exp))
	defer mp.Shutdown(context.WithoutCancel(ctx))
	for _, in := range t.catalogue.list() {
		if err := recordOnce(ctx, mp.Meter(in.Scope.Name), in); err != nil {
			return nil, err
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("telemetry: gather: %w", err)
	}
	out := make([]MetricFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, MetricFamily{Name: f.GetName(), Type: strings.ToLower(f.GetType().String())})
	}
	slices.SortFunc(out, func(a, b MetricFamily) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// recordOnce makes an instrument like in with m and records 1 on it.
func recordOnce(ctx context.Context, m metric.Meter, in sdkmetric.Instrument) error {
	desc, unit := metric.WithDescription(in.Description), metric.WithUnit(in.Unit)
	observe := func(_ context.Context, o metric.Float64Observer) error { o.Observe(1); return nil }
	var err error
	switch in.Kind {
	case sdkmetric.InstrumentKindCounter:
		var c metric.Float64Counter
		if c, err = m.Float64Counter(in.Name, desc, unit); err == nil {
			c.Add(ctx, 1)
		}
	case sdkmetric.InstrumentKindUpDownCounter:
		var c metric.Float64UpDownCounter
		if c, err = m.Float64UpDownCounter(in.Name, desc, unit); err == nil {
			c.Add(ctx, 1)
		}
	case sdkmetric.InstrumentKindHistogram:
		var h metric.Float64Histogram
		if h, err = m.Float64Histogram(in.Name, desc, unit); err == nil {
			h.Record(ctx, 1)
		}
	case sdkmetric.InstrumentKindGauge:
		var g metric.Float64Gauge
		if g, err = m.Float64Gauge(in.Name, desc, unit); err == nil {
			g.Record(ctx, 1)
		}
	case sdkmetric.InstrumentKindObservableCounter:
		_, err = m.Float64ObservableCounter(in.Name, desc, unit, metric.WithFloat64Callback(observe))
	case sdkmetric.InstrumentKindObservableUpDownCounter:
		_, err = m.Float64ObservableUpDownCounter(in.Name, desc, unit, metric.WithFloat64Callback(observe))
	case sdkmetric.InstrumentKindObservableGauge:
		_, err = m.Float64ObservableGauge(in.Name, desc, unit, metric.WithFloat64Callback(observe))
	default:
		return fmt.Errorf("telemetry: instrument %s: kind %v is not known", in.Name, in.Kind)
	}
	if err != nil {
		return fmt.Errorf("telemetry: instrument %s: %w", in.Name, err)
	}
	return nil
}
