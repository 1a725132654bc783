package telemetry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tongban/tongban/contracts"
)

// Defaults and bounds of a History.
const (
	// DefaultStatsInterval is how often a History samples by default.
	DefaultStatsInterval = time.Minute
	// DefaultStatsPoints is how many samples a History keeps by default:
	// an hour at DefaultStatsInterval.
	DefaultStatsPoints = 60
	// MaxStatsPoints bounds HistoryOptions.Points: a day at one a minute.
	MaxStatsPoints = 1440
	// DefaultStatsPartners is how many partners a point lists by default
	// before summing the rest as contracts.OtherPartners.
	DefaultStatsPartners = 200
	// MaxStatsPartners bounds HistoryOptions.Partners.
	MaxStatsPartners = 2000
)

// HistoryOptions configure the History of a Telemetry (WithHistory); the
// zero value is the default.
type HistoryOptions struct {
	// Interval is how often Run samples, at least a second; 0 means
	// DefaultStatsInterval. Stats reports it in whole seconds.
	Interval time.Duration
	// Points is how many samples are kept, the oldest dropped first, from
	// 1 to MaxStatsPoints; 0 means DefaultStatsPoints.
	Points int
	// Partners is how many partners a point lists, from 2 to
	// MaxStatsPartners; 0 means DefaultStatsPartners. Beyond it the least
	// active partners are summed as contracts.OtherPartners, which takes
	// one of the places.
	Partners int
	// Now is the clock the points are stamped with; nil means time.Now.
	Now func() time.Time
	// Ticker returns the channel Run samples on, ticking every d, and the
	// function that stops it; nil means a time.Ticker.
	Ticker func(d time.Duration) (ticks <-chan time.Time, stop func())
	// OnError is told why a sample failed or was partial (the store did
	// not answer a gauge's callback); nil means otel.Handle.
	OnError func(error)
}

// WithHistory configures the History New builds (see History).
func WithHistory(h HistoryOptions) Option {
	return func(o *options) { o.history = h }
}

// withDefaults fills in the zero fields and checks the others.
func (o HistoryOptions) withDefaults() (HistoryOptions, error) {
	if o.Interval == 0 {
		o.Interval = DefaultStatsInterval
	}
	if o.Points == 0 {
		o.Points = DefaultStatsPoints
	}
	if o.Partners == 0 {
		o.Partners = DefaultStatsPartners
	}
	switch {
	case o.Interval < time.Second:
		return o, fmt.Errorf("telemetry: stats interval %v is shorter than a second", o.Interval)
	case o.Points < 1 || o.Points > MaxStatsPoints:
		return o, fmt.Errorf("telemetry: stats points %d is not from 1 to %d", o.Points, MaxStatsPoints)
	case o.Partners < 2 || o.Partners > MaxStatsPartners:
		return o, fmt.Errorf("telemetry: stats partners %d is not from 2 to %d", o.Partners, MaxStatsPartners)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Ticker == nil {
		o.Ticker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if o.OnError == nil {
		o.OnError = otel.Handle
	}
	return o, nil
}

// collector is where a History reads the metrics: the delta-temporality
// ManualReader New registers with the meter provider.
type collector interface {
	Collect(ctx context.Context, rm *metricdata.ResourceMetrics) error
}

// History keeps the recent past of the gateway's own metrics in memory: a
// bounded ring of points (contracts.StatsPoint), one per sample of the
// meter provider. Each sample reads what happened since the previous one
// (the provider's reader for it has delta temporality: counters and
// histograms come as differences, so nothing is lost between samples and
// no running totals are kept here), and the levels of the gauges at that
// moment. The first sample counts from the creation of the Telemetry.
// Nothing is stored: a restart starts an empty history.
//
// Memory is bounded: Points points, each with at most Partners partners
// and the six transport states. Its methods are safe for concurrent use.
type History struct {
	o   HistoryOptions
	src collector

	// sampling serialises samples: each one takes the deltas since the
	// previous one, and last and lastHead are the previous one's.
	sampling sync.Mutex
	last     time.Time
	lastHead *int64

	mu    sync.Mutex
	ring  []contracts.StatsPoint
	start int // index of the oldest point
	n     int // points held
}

// newHistory returns an empty history reading src, whose deltas start
// now.
func newHistory(src collector, o HistoryOptions) *History {
	return &History{o: o, src: src, last: o.Now(), ring: make([]contracts.StatsPoint, o.Points)}
}

// Interval is how often Run samples.
func (h *History) Interval() time.Duration { return h.o.Interval }

// Run samples every Interval until ctx ends, telling OnError of a sample
// that failed or was partial. Run once per History: two loops would split
// the samples between them.
func (h *History) Run(ctx context.Context) {
	ticks, stop := h.o.Ticker(h.o.Interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if err := h.Sample(ctx); err != nil {
				h.o.OnError(err)
			}
		}
	}
}

// Sample reads the metrics now and appends a point covering the time
// since the previous sample, dropping the oldest point when the ring is
// full. When a gauge's callback failed (the store did not answer) the
// point is kept without that gauge's numbers and the error returned; when
// nothing could be read (ctx ended, the provider shut down) no point is
// added and the deltas stay for the next sample.
func (h *History) Sample(ctx context.Context) error {
	h.sampling.Lock()
	defer h.sampling.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("telemetry: stats sample: %w", err)
	}
	var rm metricdata.ResourceMetrics
	err := h.src.Collect(ctx, &rm)
	if rm.Resource == nil {
		// Nothing was produced: the provider shut down, or ctx ended
		// before the collection started. Its deltas are still pending.
		if err == nil {
			err = sdkmetric.ErrReaderNotRegistered
		}
		return fmt.Errorf("telemetry: stats sample: %w", err)
	}
	now := h.o.Now()
	p := pointOf(&rm, h.o.Partners)
	p.At = now.UTC()
	p.Seconds = roundTo(now.Sub(h.last).Seconds(), 3)
	if p.EvidenceHead != nil && h.lastHead != nil && *p.EvidenceHead >= *h.lastHead {
		g := *p.EvidenceHead - *h.lastHead
		p.EvidenceGrowth = &g
	}
	h.last, h.lastHead = now, p.EvidenceHead
	h.mu.Lock()
	if h.n < len(h.ring) {
		h.ring[(h.start+h.n)%len(h.ring)] = p
		h.n++
	} else {
		h.ring[h.start] = p
		h.start = (h.start + 1) % len(h.ring)
	}
	h.mu.Unlock()
	if err != nil {
		return errors.Join(errors.New("telemetry: stats sample is partial"), err)
	}
	return nil
}

// Stats returns the history, oldest point first: a copy the caller may
// keep and change.
func (h *History) Stats() contracts.Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := contracts.Stats{IntervalSeconds: int(h.o.Interval / time.Second), Points: make([]contracts.StatsPoint, 0, h.n)}
	for i := range h.n {
		s.Points = append(s.Points, clonePoint(h.ring[(h.start+i)%len(h.ring)]))
	}
	return s
}

// clonePoint copies p deeply.
func clonePoint(p contracts.StatsPoint) contracts.StatsPoint {
	c := p
	if p.DeliveriesByState != nil {
		c.DeliveriesByState = maps.Clone(p.DeliveriesByState)
	}
	c.EvidenceHead, c.EvidenceGrowth = cloneInt(p.EvidenceHead), cloneInt(p.EvidenceGrowth)
	c.Partners = make([]contracts.PartnerStats, len(p.Partners))
	for i, ps := range p.Partners {
		c.Partners[i] = ps
		c.Partners[i].P50Ms, c.Partners[i].P95Ms = cloneFloat(ps.P50Ms), cloneFloat(ps.P95Ms)
	}
	return c
}

func cloneInt(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneFloat(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
