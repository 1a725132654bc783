package telemetry_test

import (
	"bufio"
	"context"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tongban/tongban/gateway/telemetry"
)

// scrapedFamilies lists the metric families of a /metrics page (its
// "# TYPE" lines), sorted by name.
func scrapedFamilies(page string) []telemetry.MetricFamily {
	var fams []telemetry.MetricFamily
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			fams = append(fams, telemetry.MetricFamily{Name: f[2], Type: f[3]})
		}
	}
	slices.SortFunc(fams, func(a, b telemetry.MetricFamily) int { return strings.Compare(a.Name, b.Name) })
	return fams
}

// TestMetricFamiliesAreTheScrapes: MetricFamilies names every instrument
// made through the provider before it records anything, as the page shows
// it once it has (name and type), and nothing else.
func TestMetricFamiliesAreTheScrapes(t *testing.T) {
	tel := newTelemetry(t, telemetry.Config{SamplingRatio: 1})
	ctx := context.Background()
	m := tel.Meter(telemetry.ScopeGateway)
	things, err := m.Int64Counter("tongban.test.things", metric.WithUnit("{thing}"))
	if err != nil {
		t.Fatal(err)
	}
	took, err := m.Float64Histogram("tongban.test.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	level, err := m.Int64UpDownCounter("tongban.test.level", metric.WithUnit("By"))
	if err != nil {
		t.Fatal(err)
	}
	temp, err := tel.Meter(telemetry.ScopeHTTP).Float64Gauge("tongban.test.ratio", metric.WithUnit("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tel.Observe("tongban.test.depth", "{delivery}", "depth", func(_ context.Context, record func(int64, ...attribute.KeyValue)) error {
		record(3)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fams, err := tel.MetricFamilies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []telemetry.MetricFamily{
		{Name: "tongban_test_things_total", Type: "counter"}, {Name: "tongban_test_duration_seconds", Type: "histogram"},
		{Name: "tongban_test_level_bytes", Type: "gauge"}, {Name: "tongban_test_ratio", Type: "gauge"},
		{Name: "tongban_test_depth", Type: "gauge"}, {Name: "target_info", Type: "gauge"}, {Name: "go_goroutines", Type: "gauge"},
	} {
		if !slices.Contains(fams, want) {
			t.Errorf("MetricFamilies lacks %+v: %v", want, fams)
		}
	}
	for _, f := range scrapedFamilies(scrape(t, tel)) {
		if f.Name == "tongban_test_things_total" {
			t.Fatal("a counter that never counted is on the page; the test below proves nothing")
		}
	}

	things.Add(ctx, 1)
	took.Record(ctx, 0.2)
	level.Add(ctx, 5)
	temp.Record(ctx, 0.5)
	if got := scrapedFamilies(scrape(t, tel)); !slices.Equal(got, fams) {
		t.Errorf("families on the page:\n%v\nMetricFamilies:\n%v", got, fams)
	}
}
