package outbox

import (
	"context"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// QueueCountCap is the most deliveries ListPartners counts per partner
// and state: a count that reaches it means at least that many. Counting
// reads the deliveries' rows (ListDeliveries, without payloads), so a
// backlog costs a bounded read per partner and state; the totals over all
// partners are exact (CountByState).
const QueueCountCap = 1000

// queueStates are the unfinished states, in the order PartnerStatus
// shows them.
var queueStates = []contracts.TransportState{
	contracts.TransportStatePending, contracts.TransportStateInFlight,
	contracts.TransportStateRetryWait, contracts.TransportStateDead,
}

// ListPartners returns every configured caller's state for operator p
// (forbidden for anyone else), sorted by id: roles, regions, adapter
// style, push or pull, what this process's dispatcher saw of its
// deliveries (down, consecutive failures, last success, last failure and
// its error: see PartnerState), its circuit breaker (state, and until
// when it stays open), and from the store its unfinished deliveries by
// state (each counted up to QueueCountCap) with when its oldest pending
// or retry_wait one was queued. Totals count every unfinished delivery,
// those to partners no longer configured included.
func (o *Outbox) ListPartners(ctx context.Context, p gateway.Principal) (*contracts.PartnerList, error) {
	if err := gateway.Authorize(p, gateway.ActReadPartners, nil, ""); err != nil {
		return nil, err
	}
	d := o.disp
	now := d.env.Clock.Now().UTC()
	counts, err := d.store.CountByState(ctx)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	out := &contracts.PartnerList{GeneratedAt: now, Partners: []contracts.PartnerStatus{}, CountCap: QueueCountCap,
		Totals: contracts.QueueDepth{
			Pending: counts[contracts.TransportStatePending], InFlight: counts[contracts.TransportStateInFlight],
			RetryWait: counts[contracts.TransportStateRetryWait], Dead: counts[contracts.TransportStateDead],
		}}
	for _, pt := range d.dir.Partners() { // one set of partners, sorted by id
		st, err := d.partnerStatus(ctx, pt, now)
		if err != nil {
			return nil, gateway.Internal(err)
		}
		out.Partners = append(out.Partners, st)
	}
	return out, nil
}

// partnerStatus is the state of partner pt at now.
func (d *Dispatcher) partnerStatus(ctx context.Context, pt *gateway.Partner, now time.Time) (contracts.PartnerStatus, error) {
	st := contracts.PartnerStatus{ID: pt.ID, Roles: append([]contracts.Role{}, pt.Roles...), Regions: append([]string{}, pt.Regions...),
		Style: pt.Style, Delivery: contracts.DeliveryNone}
	switch {
	case pt.Mailbox != nil:
		st.Delivery = contracts.DeliveryPull
	case pt.Pushes():
		st.Delivery = contracts.DeliveryPush
	}
	seen, _ := d.health.snapshot(pt.ID)
	st.ConsecutiveFailures, st.LastError = seen.ConsecutiveFailures, seen.LastError
	st.LastSuccess, st.LastFailure = utc(seen.LastSuccess), utc(seen.LastFailure)
	st.Degraded = seen.ConsecutiveFailures >= PartnerDown
	if st.Delivery == contracts.DeliveryPush {
		switch state, until := d.circuits.CircuitStatus(pt.ID); state {
		case gateway.CircuitOpen:
			st.Circuit, st.CircuitUntil, st.Degraded = contracts.CircuitOpen, until.UTC(), true
		case gateway.CircuitHalfOpen:
			st.Circuit = contracts.CircuitHalfOpen
		case gateway.CircuitClosed:
			st.Circuit = contracts.CircuitClosed
		}
	}
	var oldest time.Time
	for _, s := range queueStates {
		ds, err := d.store.ListDeliveries(ctx, gateway.DeliveryQuery{States: []contracts.TransportState{s}, Partner: pt.ID, Limit: QueueCountCap + 1})
		if err != nil {
			return st, err
		}
		n := len(ds)
		if n > QueueCountCap {
			n, st.QueueCapped = QueueCountCap, true
		}
		switch s {
		case contracts.TransportStatePending:
			st.Queue.Pending = n
		case contracts.TransportStateInFlight:
			st.Queue.InFlight = n
		case contracts.TransportStateRetryWait:
			st.Queue.RetryWait = n
		case contracts.TransportStateDead:
			st.Queue.Dead = n
		}
		if s != contracts.TransportStatePending && s != contracts.TransportStateRetryWait {
			continue
		}
		for _, del := range ds {
			if oldest.IsZero() || del.CreatedAt.Before(oldest) {
				oldest = del.CreatedAt
			}
		}
	}
	if !oldest.IsZero() {
		st.OldestWaitingAt = oldest.UTC()
		st.OldestWaitingSeconds = max(0, int64(now.Sub(oldest)/time.Second))
	}
	return st, nil
}

// utc is t in UTC, the zero time kept zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}
