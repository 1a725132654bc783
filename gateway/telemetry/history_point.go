package telemetry

import (
	"cmp"
	"math"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tongban/tongban/contracts"
)

// The instruments a History reads, by their OpenTelemetry names (made by
// the outbox, the HTTP layer and the application's gauges).
const (
	MetricDeliveryAttempts = "tongban.delivery.attempts" // counter: partner, kind, outcome
	MetricDeliveryDuration = "tongban.delivery.duration" // histogram in s: partner, outcome
	MetricOutboxDeliveries = "tongban.outbox.deliveries" // gauge: transport_state
	MetricEvidenceHead     = "tongban.evidence.head"     // gauge, no attributes
	MetricHTTPRequests     = "tongban.http.requests"     // counter: http.route, http.response.status_code, …
)

// The attributes a History reads.
const (
	attrPartner        = "partner"
	attrOutcome        = "outcome"
	attrTransportState = "transport_state"
	attrHTTPRoute      = "http.route"
	attrHTTPStatus     = "http.response.status_code"
)

// probeRoutes are the routes a point's HTTP numbers leave out: probes and
// scrapes, which say nothing of the gateway's work.
var probeRoutes = []string{"/healthz", "/readyz", "/metrics"}

// partnerAcc sums one partner's attempts and timed durations in a window.
type partnerAcc struct {
	delivered, offered, failed, dead int64
	// The durations' histogram: buckets[i] holds the observations in
	// (bounds[i-1], bounds[i]], the last bucket those above the last
	// bound; lo and hi are the smallest and largest observation when
	// known (hasLo, hasHi).
	bounds       []float64
	buckets      []uint64
	lo, hi       float64
	hasLo, hasHi bool
}

// activity orders partners when a point keeps only the busiest.
func (a *partnerAcc) activity() int64 { return a.delivered + a.offered + a.failed }

// addOutcome counts n attempts of outcome. The outcomes are those of the
// outbox: delivered, offered (to a mailbox), retry_wait, dead and
// interrupted (cut off by a crash); the last three failed.
func (a *partnerAcc) addOutcome(outcome string, n int64) {
	switch contracts.TransportState(outcome) {
	case contracts.TransportStateDelivered:
		a.delivered += n
	case contracts.TransportStateRetryWait:
		a.failed += n
	case contracts.TransportStateDead:
		a.failed += n
		a.dead += n
	default:
		switch outcome {
		case "offered":
			a.offered += n
		case "interrupted":
			a.failed += n
		}
	}
}

// addHistogram adds a histogram's buckets; buckets with other bounds than
// those already added (no view of the gateway makes them) are left out.
func (a *partnerAcc) addHistogram(bounds []float64, counts []uint64, lo, hi float64, hasLo, hasHi bool) {
	if len(counts) != len(bounds)+1 {
		return
	}
	switch {
	case a.buckets == nil:
		a.bounds, a.buckets = slices.Clone(bounds), slices.Clone(counts)
	case slices.Equal(a.bounds, bounds):
		for i, c := range counts {
			a.buckets[i] += c
		}
	default:
		return
	}
	if hasLo && (!a.hasLo || lo < a.lo) {
		a.lo, a.hasLo = lo, true
	}
	if hasHi && (!a.hasHi || hi > a.hi) {
		a.hi, a.hasHi = hi, true
	}
}

// merge adds b's numbers to a.
func (a *partnerAcc) merge(b *partnerAcc) {
	a.delivered += b.delivered
	a.offered += b.offered
	a.failed += b.failed
	a.dead += b.dead
	if b.buckets != nil {
		a.addHistogram(b.bounds, b.buckets, b.lo, b.hi, b.hasLo, b.hasHi)
	}
}

// latencyMs estimates the q-quantile of a's durations in milliseconds;
// nil when none was timed.
func (a *partnerAcc) latencyMs(q float64) *float64 {
	lo, hi := 0.0, 0.0
	if len(a.bounds) > 0 {
		hi = a.bounds[len(a.bounds)-1]
	}
	if a.hasLo {
		lo = a.lo
	}
	if a.hasHi {
		hi = a.hi
	}
	v, ok := quantile(q, a.bounds, a.buckets, lo, hi)
	if !ok {
		return nil
	}
	ms := roundTo(v*1000, 3)
	return &ms
}

// quantile estimates the q-quantile (0 < q < 1) of the observations a
// histogram holds: counts[i] observations in (bounds[i-1], bounds[i]],
// the last count those above the last bound. Observations are taken as
// spread evenly within their bucket, as Prometheus's histogram_quantile
// does; the first bucket starts at lo and the last ends at hi (the
// smallest and largest observation when known, else 0 and the last
// bound), and no bucket reaches beyond them. ok is false without
// observations.
func quantile(q float64, bounds []float64, counts []uint64, lo, hi float64) (v float64, ok bool) {
	if len(counts) != len(bounds)+1 {
		return 0, false
	}
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0, false
	}
	rank := q * float64(total)
	var cum float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) < rank {
			cum += float64(c)
			continue
		}
		lower, upper := lo, hi
		if i > 0 {
			lower = max(bounds[i-1], lo)
		}
		if i < len(bounds) {
			upper = min(bounds[i], hi)
		}
		if upper < lower {
			return lower, true
		}
		return lower + (upper-lower)*(rank-cum)/float64(c), true
	}
	return hi, true // rounding: rank past the last observation
}

// pointOf turns one collection of the delta reader into a point (without
// its time, window and evidence growth, which are the History's): what
// the counters and histograms took since the previous collection, the
// gauges' levels, at most maxPartners partners.
func pointOf(rm *metricdata.ResourceMetrics, maxPartners int) contracts.StatsPoint {
	var p contracts.StatsPoint
	partners := map[string]*partnerAcc{}
	acc := func(attrs attribute.Set) *partnerAcc {
		id := contracts.OtherPartners
		if v, ok := attrs.Value(attrPartner); ok && v.Type() == attribute.STRING && v.AsString() != "" {
			id = v.AsString()
		}
		a := partners[id]
		if a == nil {
			a = &partnerAcc{}
			partners[id] = a
		}
		return a
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case MetricDeliveryAttempts:
				for attrs, n := range deltas(m.Data) {
					v, _ := attrs.Value(attrOutcome)
					acc(attrs).addOutcome(v.AsString(), n)
				}
			case MetricDeliveryDuration:
				h, ok := m.Data.(metricdata.Histogram[float64])
				if !ok || h.Temporality != metricdata.DeltaTemporality {
					continue
				}
				for _, dp := range h.DataPoints {
					lo, hasLo := dp.Min.Value()
					hi, hasHi := dp.Max.Value()
					acc(dp.Attributes).addHistogram(dp.Bounds, dp.BucketCounts, lo, hi, hasLo, hasHi)
				}
			case MetricOutboxDeliveries:
				for attrs, n := range levels(m.Data) {
					v, _ := attrs.Value(attrTransportState)
					if st := contracts.TransportState(v.AsString()); st.Valid() {
						if p.DeliveriesByState == nil {
							p.DeliveriesByState = map[contracts.TransportState]int64{}
						}
						p.DeliveriesByState[st] += n
					}
				}
			case MetricEvidenceHead:
				for attrs, n := range levels(m.Data) {
					if attrs.Len() == 0 {
						head := n
						p.EvidenceHead = &head
					}
				}
			case MetricHTTPRequests:
				for attrs, n := range deltas(m.Data) {
					route, _ := attrs.Value(attrHTTPRoute)
					if slices.Contains(probeRoutes, route.AsString()) {
						continue
					}
					p.HTTPRequests += n
					status, _ := attrs.Value(attrHTTPStatus)
					switch s := status.AsInt64(); {
					case s >= 500:
						p.HTTPErrors += n
					case s >= 400:
						p.HTTPRefused += n
					}
				}
			}
		}
	}
	p.Partners = partnerStats(partners, maxPartners)
	return p
}

// deltas yields the data points of a delta sum (a counter's increments
// since the previous collection); nothing for any other aggregation.
func deltas(data metricdata.Aggregation) func(yield func(attribute.Set, int64) bool) {
	return func(yield func(attribute.Set, int64) bool) {
		switch d := data.(type) {
		case metricdata.Sum[int64]:
			if d.Temporality != metricdata.DeltaTemporality {
				return
			}
			for _, dp := range d.DataPoints {
				if !yield(dp.Attributes, dp.Value) {
					return
				}
			}
		case metricdata.Sum[float64]:
			if d.Temporality != metricdata.DeltaTemporality {
				return
			}
			for _, dp := range d.DataPoints {
				if !yield(dp.Attributes, int64(math.Round(dp.Value))) {
					return
				}
			}
		}
	}
}

// levels yields the data points of a gauge.
func levels(data metricdata.Aggregation) func(yield func(attribute.Set, int64) bool) {
	return func(yield func(attribute.Set, int64) bool) {
		switch d := data.(type) {
		case metricdata.Gauge[int64]:
			for _, dp := range d.DataPoints {
				if !yield(dp.Attributes, dp.Value) {
					return
				}
			}
		case metricdata.Gauge[float64]:
			for _, dp := range d.DataPoints {
				if !yield(dp.Attributes, int64(math.Round(dp.Value))) {
					return
				}
			}
		}
	}
}

// partnerStats lists the partners sorted by id, contracts.OtherPartners
// last: at most maxPartners of them, the least active beyond that summed
// into contracts.OtherPartners.
func partnerStats(partners map[string]*partnerAcc, maxPartners int) []contracts.PartnerStats {
	ids := make([]string, 0, len(partners))
	for id := range partners {
		if id != contracts.OtherPartners {
			ids = append(ids, id)
		}
	}
	if len(partners) > maxPartners {
		slices.SortFunc(ids, func(a, b string) int {
			return cmp.Or(cmp.Compare(partners[b].activity(), partners[a].activity()), cmp.Compare(a, b))
		})
		other := partners[contracts.OtherPartners]
		if other == nil {
			other = &partnerAcc{}
			partners[contracts.OtherPartners] = other
		}
		for _, id := range ids[maxPartners-1:] {
			other.merge(partners[id])
		}
		ids = ids[:maxPartners-1]
	}
	slices.Sort(ids)
	if _, ok := partners[contracts.OtherPartners]; ok {
		ids = append(ids, contracts.OtherPartners)
	}
	out := make([]contracts.PartnerStats, 0, len(ids))
	for _, id := range ids {
		a := partners[id]
		out = append(out, contracts.PartnerStats{
			Partner: id, Delivered: a.delivered, Offered: a.offered, Failed: a.failed, Dead: a.dead,
			P50Ms: a.latencyMs(0.5), P95Ms: a.latencyMs(0.95),
		})
	}
	return out
}

// roundTo rounds v to d decimal places.
func roundTo(v float64, d int) float64 {
	p := math.Pow10(d)
	return math.Round(v*p) / p
}
