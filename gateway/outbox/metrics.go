package outbox

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tongban/tongban/gateway"
)

// instruments are the outbox's metrics, made once per Outbox (or
// Dispatcher) from the kernel's meter. An instrument the provider refuses
// is a no-op (the API's guarantee), so metrics never fail a delivery.
type instruments struct {
	attempts     metric.Int64Counter
	duration     metric.Float64Histogram
	postpones    metric.Int64Counter
	ackConflicts metric.Int64Counter
}

// newInstruments makes the outbox's instruments with meter.
func newInstruments(meter metric.Meter) *instruments {
	m := &instruments{}
	m.attempts, _ = meter.Int64Counter("tongban.delivery.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Delivery attempts (and mailbox offers) by partner, kind and outcome: delivered, offered, retry_wait, dead."))
	m.duration, _ = meter.Float64Histogram("tongban.delivery.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from sending a delivery to the partner's answer (or the failure), by partner and outcome."))
	m.postpones, _ = meter.Int64Counter("tongban.delivery.postponed", metric.WithUnit("{delivery}"),
		metric.WithDescription("Claimed deliveries put back without an attempt, by partner and reason: partner_busy (its concurrency limit), circuit_open."))
	m.ackConflicts, _ = meter.Int64Counter("tongban.delivery.ack_conflicts", metric.WithUnit("{acknowledgement}"),
		metric.WithDescription("Acknowledgements refused because the owner's case number they give belongs to another case of that owner, by partner."))
	return m
}

// postponed counts one delivery put back without an attempt for reason.
func (m *instruments) postponed(ctx context.Context, del *gateway.Delivery, reason string) {
	m.postpones.Add(ctx, 1, metric.WithAttributes(attribute.String("partner", del.Partner), attribute.String("reason", reason)))
}

// ackConflict counts one acknowledgement of del refused as an AckConflict.
func (m *instruments) ackConflict(ctx context.Context, del *gateway.Delivery) {
	m.ackConflicts.Add(ctx, 1, metric.WithAttributes(attribute.String("partner", del.Partner)))
}

// attempt counts one attempt of del with its outcome and, when latency is
// not zero (a mailbox offer is not timed), its duration.
func (m *instruments) attempt(ctx context.Context, del *gateway.Delivery, outcome string, latency time.Duration) {
	m.attempts.Add(ctx, 1, metric.WithAttributes(attribute.String("partner", del.Partner), attribute.String("kind", string(del.Kind)),
		attribute.String("outcome", outcome)))
	if latency > 0 {
		m.duration.Record(ctx, latency.Seconds(), metric.WithAttributes(attribute.String("partner", del.Partner),
			attribute.String("outcome", outcome)))
	}
}
