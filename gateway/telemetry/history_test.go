package telemetry_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/telemetry"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var clockStart = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// gatewayMetrics are instruments named and shaped as the gateway's (the
// outbox's attempts and durations, the HTTP layer's requests, the
// application's two gauges), made through a Telemetry's provider.
type gatewayMetrics struct {
	attempts metric.Int64Counter
	duration metric.Float64Histogram
	requests metric.Int64Counter
	// states and head are what the gauges report; headErr fails the
	// head's callback.
	mu      sync.Mutex
	states  map[string]int64
	head    int64
	headErr error
}

func newGatewayMetrics(t *testing.T, tel *telemetry.Telemetry) *gatewayMetrics {
	t.Helper()
	core, api := tel.Meter(telemetry.ScopeGateway), tel.Meter(telemetry.ScopeHTTP)
	g := &gatewayMetrics{states: map[string]int64{}}
	var err error
	if g.attempts, err = core.Int64Counter(telemetry.MetricDeliveryAttempts, metric.WithUnit("{attempt}")); err != nil {
		t.Fatal(err)
	}
	if g.duration, err = core.Float64Histogram(telemetry.MetricDeliveryDuration, metric.WithUnit("s")); err != nil {
		t.Fatal(err)
	}
	if g.requests, err = api.Int64Counter(telemetry.MetricHTTPRequests, metric.WithUnit("{request}")); err != nil {
		t.Fatal(err)
	}
	if _, err := tel.Observe(telemetry.MetricOutboxDeliveries, "{delivery}", "by state", func(_ context.Context, record func(int64, ...attribute.KeyValue)) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		for st, n := range g.states {
			record(n, attribute.String("transport_state", st))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := tel.Observe(telemetry.MetricEvidenceHead, "{record}", "head", func(_ context.Context, record func(int64, ...attribute.KeyValue)) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.headErr != nil {
			return g.headErr
		}
		record(g.head)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return g
}

// attempt counts n attempts to partner with outcome, each taking took
// (none when took is 0, as a mailbox offer).
func (g *gatewayMetrics) attempt(partner, outcome string, n int, took time.Duration) {
	for range n {
		g.attempts.Add(context.Background(), 1, metric.WithAttributes(attribute.String("partner", partner),
			attribute.String("kind", "case"), attribute.String("outcome", outcome)))
		if took > 0 {
			g.duration.Record(context.Background(), took.Seconds(), metric.WithAttributes(attribute.String("partner", partner),
				attribute.String("outcome", outcome)))
		}
	}
}

// request counts n requests on route answered with status.
func (g *gatewayMetrics) request(route string, status, n int) {
	g.requests.Add(context.Background(), int64(n), metric.WithAttributes(attribute.String("http.route", route),
		attribute.String("http.request.method", "POST"), attribute.Int("http.response.status_code", status),
		attribute.String("tongban.caller", "320404")))
}

func (g *gatewayMetrics) set(states map[string]int64, head int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.states, g.head = states, head
}

func i64(v int64) *int64     { return &v }
func f64(v float64) *float64 { return &v }

// newHistoryTelemetry is a Telemetry whose history runs on clock.
func newHistoryTelemetry(t *testing.T, clock *fakeClock, o telemetry.HistoryOptions) *telemetry.Telemetry {
	t.Helper()
	o.Now = clock.Now
	return newTelemetry(t, telemetry.Config{SamplingRatio: 1}, telemetry.WithHistory(o))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHistorySamplesDeltas: each point counts what happened since the
// previous one (the first since the Telemetry was made) and reads the
// gauges at its time.
func TestHistorySamplesDeltas(t *testing.T) {
	clock := &fakeClock{now: clockStart}
	tel := newHistoryTelemetry(t, clock, telemetry.HistoryOptions{})
	g := newGatewayMetrics(t, tel)
	h := tel.History()

	// Window 1: wucheng takes 3 cases at 10 ms, one retry and one dead
	// letter at 1 s; xincheng (a mailbox) is offered 2; the API answers
	// 5 cases, 2 failures, 1 refusal; the probes do not count.
	g.attempt("330702", "delivered", 3, 10*time.Millisecond)
	g.attempt("330702", "retry_wait", 1, time.Second)
	g.attempt("330702", "dead", 1, time.Second)
	g.attempt("610102", "offered", 2, 0)
	g.request("/v1/cases", 202, 5)
	g.request("/v1/cases", 503, 2)
	g.request("/v1/cases", 401, 1)
	g.request("/healthz", 200, 4)
	g.request("/metrics", 200, 4)
	g.set(map[string]int64{"pending": 2, "dead": 1, "delivered": 3, "not_a_state": 9}, 40)
	clock.Advance(time.Minute)
	if err := h.Sample(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Window 2, 90 s (a late sample): one more delivery; the head grows
	// by 7.
	g.attempt("330702", "delivered", 1, 20*time.Millisecond)
	g.request("/v1/cases/:case_id", 200, 1)
	g.set(map[string]int64{"pending": 0, "dead": 1, "delivered": 4}, 47)
	clock.Advance(90 * time.Second)
	if err := h.Sample(t.Context()); err != nil {
		t.Fatal(err)
	}

	want := contracts.Stats{IntervalSeconds: 60, Points: []contracts.StatsPoint{
		{
			At: clockStart.Add(time.Minute), Seconds: 60,
			DeliveriesByState: map[contracts.TransportState]int64{"pending": 2, "dead": 1, "delivered": 3},
			EvidenceHead:      i64(40),
			HTTPRequests:      8, HTTPErrors: 2, HTTPRefused: 1,
			Partners: []contracts.PartnerStats{
				// 5 timed attempts: 3 in (5 ms, 10 ms], 2 in (0.5 s, 1 s].
				// p50 (rank 2.5) is in the first bucket, which cannot
				// start below the smallest duration, 10 ms: 10 ms. p95
				// (rank 4.75) is 7/8 of the way up the second.
				{Partner: "330702", Delivered: 3, Failed: 2, Dead: 1, P50Ms: f64(10), P95Ms: f64(937.5)},
				{Partner: "610102", Offered: 2},
			},
		},
		{
			At: clockStart.Add(150 * time.Second), Seconds: 90,
			DeliveriesByState: map[contracts.TransportState]int64{"pending": 0, "dead": 1, "delivered": 4},
			EvidenceHead:      i64(47), EvidenceGrowth: i64(7),
			HTTPRequests: 1,
			Partners:     []contracts.PartnerStats{{Partner: "330702", Delivered: 1, P50Ms: f64(20), P95Ms: f64(20)}},
		},
	}}
	if got := h.Stats(); !reflect.DeepEqual(got, want) {
		t.Errorf("stats:\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, want))
	}
}

// TestHistoryRingKeepsTheLatest: a full ring drops its oldest point;
// Stats lists oldest first.
func TestHistoryRingKeepsTheLatest(t *testing.T) {
	clock := &fakeClock{now: clockStart}
	tel := newHistoryTelemetry(t, clock, telemetry.HistoryOptions{Points: 3, Interval: 10 * time.Second})
	g := newGatewayMetrics(t, tel)
	for i := 1; i <= 5; i++ {
		g.request("/v1/cases", 202, i)
		clock.Advance(10 * time.Second)
		if err := tel.History().Sample(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	s := tel.History().Stats()
	if s.IntervalSeconds != 10 || len(s.Points) != 3 {
		t.Fatalf("got interval %d, %d points; want 10 and 3", s.IntervalSeconds, len(s.Points))
	}
	for i, p := range s.Points {
		if want := clockStart.Add(time.Duration(30+10*i) * time.Second); !p.At.Equal(want) || p.HTTPRequests != int64(3+i) {
			t.Errorf("point %d: at %v with %d requests; want %v with %d", i, p.At, p.HTTPRequests, want, 3+i)
		}
	}
}

// TestHistoryCapsPartners: beyond the limit, the least active partners
// are summed as one, latency included.
func TestHistoryCapsPartners(t *testing.T) {
	clock := &fakeClock{now: clockStart}
	tel := newHistoryTelemetry(t, clock, telemetry.HistoryOptions{Partners: 3})
	g := newGatewayMetrics(t, tel)
	g.attempt("a", "delivered", 5, 0)
	g.attempt("b", "delivered", 4, 0)
	g.attempt("c", "dead", 1, 100*time.Millisecond)
	g.attempt("d", "delivered", 1, 100*time.Millisecond)
	g.attempt("e", "interrupted", 2, 0)
	clock.Advance(time.Minute)
	if err := tel.History().Sample(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := tel.History().Stats().Points[0].Partners
	want := []contracts.PartnerStats{
		{Partner: "a", Delivered: 5},
		{Partner: "b", Delivered: 4},
		{Partner: contracts.OtherPartners, Delivered: 1, Failed: 3, Dead: 1, P50Ms: f64(100), P95Ms: f64(100)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("partners:\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, want))
	}
}

// TestHistorySampleFailures: a gauge that fails leaves its numbers out of
// the point, which is kept, and the evidence growth unknown on both
// sides; a provider shut down adds no point.
func TestHistorySampleFailures(t *testing.T) {
	clock := &fakeClock{now: clockStart}
	tel := newHistoryTelemetry(t, clock, telemetry.HistoryOptions{})
	g := newGatewayMetrics(t, tel)
	h := tel.History()
	sample := func() error { clock.Advance(time.Minute); return h.Sample(t.Context()) }

	g.set(map[string]int64{"pending": 1}, 10)
	if err := sample(); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.headErr = errors.New("store unavailable")
	g.mu.Unlock()
	g.request("/v1/cases", 202, 1)
	if err := sample(); err == nil {
		t.Error("a sample whose gauge failed: got no error")
	}
	g.mu.Lock()
	g.headErr = nil
	g.mu.Unlock()
	g.set(map[string]int64{"pending": 1}, 15)
	if err := sample(); err != nil {
		t.Fatal(err)
	}
	ps := h.Stats().Points
	if len(ps) != 3 {
		t.Fatalf("got %d points, want 3", len(ps))
	}
	if p := ps[1]; p.EvidenceHead != nil || p.EvidenceGrowth != nil || p.HTTPRequests != 1 || p.DeliveriesByState["pending"] != 1 {
		t.Errorf("partial point: %s; want no head nor growth, the request and the states", mustJSON(t, p))
	}
	if p := ps[2]; p.EvidenceGrowth != nil || p.EvidenceHead == nil || *p.EvidenceHead != 15 {
		t.Errorf("point after the partial one: %s; want head 15 and no growth", mustJSON(t, p))
	}

	// Going back (a restored store) is no growth either.
	g.set(nil, 12)
	if err := sample(); err != nil {
		t.Fatal(err)
	}
	if p := h.Stats().Points[3]; p.EvidenceGrowth != nil || p.DeliveriesByState != nil {
		t.Errorf("head going back: %s; want no growth and no states (none reported)", mustJSON(t, p))
	}

	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := sample(); err == nil {
		t.Error("sample after shutdown: got no error")
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.Sample(canceled); err == nil {
		t.Error("sample with a cancelled context: got no error")
	}
	if n := len(h.Stats().Points); n != 4 {
		t.Errorf("got %d points after failed samples, want 4", n)
	}
}

// TestHistoryStatsIsACopy: what Stats returns is the caller's.
func TestHistoryStatsIsACopy(t *testing.T) {
	clock := &fakeClock{now: clockStart}
	tel := newHistoryTelemetry(t, clock, telemetry.HistoryOptions{})
	g := newGatewayMetrics(t, tel)
	g.set(map[string]int64{"dead": 1}, 3)
	g.attempt("330702", "delivered", 1, time.Millisecond)
	clock.Advance(time.Minute)
	if err := tel.History().Sample(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := tel.History().Stats()
	s.Points[0].DeliveriesByState["dead"] = 99
	*s.Points[0].EvidenceHead = 99
	*s.Points[0].Partners[0].P50Ms = 99
	s.Points[0].Partners[0].Delivered = 99
	p := tel.History().Stats().Points[0]
	if p.DeliveriesByState["dead"] != 1 || *p.EvidenceHead != 3 || *p.Partners[0].P50Ms == 99 || p.Partners[0].Delivered != 1 {
		t.Errorf("changing a copy changed the history: %s", mustJSON(t, p))
	}
}

// fakeTicker hands Run a channel the test ticks.
type fakeTicker struct {
	ticks    chan time.Time
	interval time.Duration
	stopped  chan struct{}
}

func (f *fakeTicker) ticker(d time.Duration) (<-chan time.Time, func()) {
	f.interval = d
	return f.ticks, func() { close(f.stopped) }
}

// TestHistoryRun: Run samples on each tick of a ticker of its interval,
// reports failed samples and stops its ticker when ctx ends.
func TestHistoryRun(t *testing.T) {
	clock := &fakeClock{now: clockStart}
	ft := &fakeTicker{ticks: make(chan time.Time), stopped: make(chan struct{})}
	errs := make(chan error, 1)
	// Once armed, the clock tells the test each time a sample, its
	// collection done, reads it.
	var armed atomic.Bool
	collected := make(chan struct{})
	now := func() time.Time {
		if armed.Load() {
			collected <- struct{}{}
		}
		return clock.Now()
	}
	tel := newTelemetry(t, telemetry.Config{SamplingRatio: 1}, telemetry.WithHistory(telemetry.HistoryOptions{
		Interval: 30 * time.Second, Ticker: ft.ticker, Now: now, OnError: func(err error) { errs <- err }}))
	g := newGatewayMetrics(t, tel)
	armed.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); tel.History().Run(ctx) }()

	g.request("/v1/cases", 202, 2)
	clock.Advance(30 * time.Second)
	ft.ticks <- clock.Now()
	<-collected
	// The provider shut down, the next sample fails.
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	ft.ticks <- clock.Now()
	select {
	case err := <-errs:
		if err == nil {
			t.Error("OnError got nil")
		}
	case <-collected:
		t.Fatal("a sample after shutdown went on as if it had read the metrics")
	}
	cancel()
	<-done
	<-ft.stopped
	if ft.interval != 30*time.Second {
		t.Errorf("ticker interval %v, want 30s", ft.interval)
	}
	ps := tel.History().Stats().Points
	if len(ps) != 1 || ps[0].HTTPRequests != 2 || !ps[0].At.Equal(clockStart.Add(30*time.Second)) {
		t.Errorf("points %s; want one with the 2 requests", mustJSON(t, ps))
	}
}

func TestWithHistoryRefuses(t *testing.T) {
	for _, o := range []telemetry.HistoryOptions{
		{Interval: time.Millisecond},
		{Points: -1},
		{Points: telemetry.MaxStatsPoints + 1},
		{Partners: 1},
		{Partners: telemetry.MaxStatsPartners + 1},
	} {
		if _, err := telemetry.New(t.Context(), telemetry.Config{SamplingRatio: 1}, telemetry.WithHistory(o)); err == nil {
			t.Errorf("%+v: got no error", o)
		}
	}
}
