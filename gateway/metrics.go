package gateway

import (
	"context"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tongban/tongban/contracts"
)

// coreMetrics are the core's instruments, made through the global meter
// provider (gateway/telemetry installs the one /metrics reads; until then
// they record nothing).
type coreMetrics struct {
	attempts      metric.Int64Counter
	attemptTime   metric.Float64Histogram
	verifications metric.Int64Counter
}

// byProvider holds the core's instruments per meter provider, so that
// they follow the global provider whenever it is replaced (each gateway a
// test starts installs its own).
var byProvider sync.Map // metric.MeterProvider → *coreMetrics

// instruments returns the core's instruments on the global meter
// provider as installed now, made on first use. An instrument the
// provider refuses is a no-op (the API's guarantee), so metrics can never
// fail a delivery or a verification.
func instruments() *coreMetrics {
	mp := otel.GetMeterProvider()
	if m, ok := byProvider.Load(mp); ok {
		return m.(*coreMetrics)
	}
	meter := mp.Meter("tongban/gateway")
	m := &coreMetrics{}
	m.attempts, _ = meter.Int64Counter("tongban.delivery.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Delivery attempts (and mailbox offers) by partner, kind and outcome: delivered, offered, retry_wait, dead."))
	m.attemptTime, _ = meter.Float64Histogram("tongban.delivery.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from sending a delivery to the partner's answer (or the failure), by partner and outcome."))
	m.verifications, _ = meter.Int64Counter("tongban.license.verifications", metric.WithUnit("{verification}"),
		metric.WithDescription("License verifications by outcome (valid, expired, revoked, mismatch, not_found, ...) and whether the answer was cached."))
	actual, _ := byProvider.LoadOrStore(mp, m)
	return actual.(*coreMetrics)
}

// recordAttempt counts one attempt of del with its outcome and latency
// (zero: not timed, as a mailbox offer).
func recordAttempt(ctx context.Context, del *Delivery, outcome string, latency time.Duration) {
	m := instruments()
	attrs := metric.WithAttributes(attribute.String("partner", del.Partner), attribute.String("kind", string(del.Kind)),
		attribute.String("outcome", outcome))
	m.attempts.Add(ctx, 1, attrs)
	if latency > 0 {
		m.attemptTime.Record(ctx, latency.Seconds(), metric.WithAttributes(attribute.String("partner", del.Partner),
			attribute.String("outcome", outcome)))
	}
}

// recordVerification counts one license verification.
func recordVerification(ctx context.Context, r contracts.UsageRecord) {
	outcome := string(r.Outcome)
	if outcome == "" {
		outcome = "refused:" + string(r.ErrorCode)
	}
	instruments().verifications.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome), attribute.Bool("cached", r.Cached)))
}

// PartnerDown is how many consecutive failed attempts make a pushing
// partner "down" in PartnerStates.
const PartnerDown = 3

// PartnerState is what the dispatcher saw of one pushing partner lately:
// State is "up" (its last attempt succeeded, or fewer than PartnerDown
// in a row failed), "down" (the last PartnerDown or more failed) or
// "unknown" (no attempt since start). Deliveries to a down partner are
// not stopped: each backs off on its own, and the first success brings
// the partner up again.
type PartnerState struct {
	Partner             string    `json:"partner"`
	State               string    `json:"state"`
	ConsecutiveFailures int       `json:"consecutive_failures,omitempty"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastFailure         time.Time `json:"last_failure,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
}

// partnerHealth tracks PartnerStates.
type partnerHealth struct {
	mu sync.Mutex
	by map[string]*PartnerState
}

// note records an attempt's result.
func (h *partnerHealth) note(partner string, at time.Time, failure string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.by == nil {
		h.by = map[string]*PartnerState{}
	}
	s := h.by[partner]
	if s == nil {
		s = &PartnerState{Partner: partner}
		h.by[partner] = s
	}
	if failure == "" {
		s.ConsecutiveFailures, s.LastSuccess, s.LastError = 0, at, ""
	} else {
		s.ConsecutiveFailures++
		s.LastFailure, s.LastError = at, failure
	}
	s.State = "up"
	if s.ConsecutiveFailures >= PartnerDown {
		s.State = "down"
	}
}

// states returns the states of the partners of dir the dispatcher
// delivers to ("unknown" when not attempted yet), sorted by id.
func (h *partnerHealth) states(dir *Directory) []PartnerState {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []PartnerState
	for _, p := range dir.byID {
		if p.Adapter == nil && (p.Library == nil || p.Library.Usage == nil) {
			continue
		}
		if s := h.by[p.ID]; s != nil {
			out = append(out, *s)
		} else {
			out = append(out, PartnerState{Partner: p.ID, State: "unknown"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partner < out[j].Partner })
	return out
}
