package outbox

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestListPartners: the operators' view of every partner: how it gets its
// deliveries, what the dispatcher saw of its attempts (failures in a row,
// last failure and error), its circuit (open, with the end of the
// cooldown), its unfinished deliveries by state and the age of its oldest
// waiting one; exact totals count deliveries to partners no longer
// configured too. Only operators may look.
func TestListPartners(t *testing.T) {
	refuse := caseFunc(func(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return nil, nil, nil, errors.New("dial tcp: connection refused")
	})
	win := &gateway.Partner{ID: "window-330702", Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{"330702"}}
	own := pushing(owner, refuse, nil, gateway.RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Second})
	own.Style = "standard"
	e := newEnvWith(t, DispatcherOptions{Seed: 42, Circuit: gateway.CircuitPolicy{Failures: 2, Cooldown: time.Hour}}, true,
		own, pulling(puller, gateway.RetryPolicy{}), win)
	ops := e.principal(operator)

	// Two attempts to the owner fail: its circuit opens.
	first := e.enqueue(1, contracts.DeliveryKindCase, owner)
	e.runOnce()
	e.clock.Advance(2 * time.Second)
	e.runOnce()
	failedAt := e.clock.Now()
	opened := time.Now()
	// More deliveries: pending to the owner, dead, in flight to the
	// puller, and one to a partner no longer configured.
	e.clock.Advance(time.Minute)
	e.enqueue(2, contracts.DeliveryKindCase, owner)
	dead := e.enqueue(3, contracts.DeliveryKindCase, owner)
	e.store.set(dead.ID, func(d *gateway.Delivery) { d.State = contracts.TransportStateDead })
	off := e.enqueue(4, contracts.DeliveryKindCase, puller)
	e.store.set(off.ID, func(d *gateway.Delivery) { d.State = contracts.TransportStateInFlight })
	e.enqueue(5, contracts.DeliveryKindCase, "gone")
	e.clock.Advance(10 * time.Minute)

	l, err := e.ob.ListPartners(e.ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	if !l.GeneratedAt.Equal(e.clock.Now()) || l.CountCap != QueueCountCap {
		t.Errorf("generated at %v cap %d", l.GeneratedAt, l.CountCap)
	}
	if want := (contracts.QueueDepth{Pending: 2, InFlight: 1, RetryWait: 1, Dead: 1}); l.Totals != want {
		t.Errorf("totals %+v, want %+v (the delivery to a partner no longer configured included)", l.Totals, want)
	}
	byID := map[string]contracts.PartnerStatus{}
	var ids []string
	for _, p := range l.Partners {
		byID[p.ID] = p
		ids = append(ids, p.ID)
	}
	if fmt.Sprint(ids) != fmt.Sprint([]string{puller, owner, operator, "window-330702"}) {
		t.Errorf("partners %v, want every configured caller sorted by id", ids)
	}
	o := byID[owner]
	if o.Delivery != contracts.DeliveryPush || o.Style != "standard" || !o.Degraded || o.ConsecutiveFailures != 2 ||
		o.LastError != "dial tcp: connection refused" || !o.LastFailure.Equal(failedAt) || !o.LastSuccess.IsZero() {
		t.Errorf("owner: %+v", o)
	}
	if o.Circuit != contracts.CircuitOpen || o.CircuitUntil.Before(opened.Add(time.Hour-time.Second)) || o.CircuitUntil.After(time.Now().Add(time.Hour)) {
		t.Errorf("owner's circuit: %s until %v, want open for the hour's cooldown from %v", o.Circuit, o.CircuitUntil, opened)
	}
	if want := (contracts.QueueDepth{Pending: 1, RetryWait: 1, Dead: 1}); o.Queue != want || o.QueueCapped {
		t.Errorf("owner's queue %+v capped %v, want %+v", o.Queue, o.QueueCapped, want)
	}
	if !o.OldestWaitingAt.Equal(first.CreatedAt) || o.OldestWaitingSeconds != int64(e.clock.Now().Sub(first.CreatedAt)/time.Second) {
		t.Errorf("owner's oldest waiting: %v (%ds), want %v", o.OldestWaitingAt, o.OldestWaitingSeconds, first.CreatedAt)
	}
	pl := byID[puller]
	if pl.Delivery != contracts.DeliveryPull || pl.Circuit != "" || pl.Degraded || pl.Queue != (contracts.QueueDepth{InFlight: 1}) || !pl.OldestWaitingAt.IsZero() {
		t.Errorf("puller: %+v", pl)
	}
	w := byID["window-330702"]
	if w.Delivery != contracts.DeliveryNone || w.Circuit != "" || len(w.Roles) != 1 || w.Regions[0] != "330702" || w.Style != "" {
		t.Errorf("window: %+v", w)
	}
	if r := byID[operator].Regions; r == nil || len(r) != 0 {
		t.Errorf("operator's regions: %#v, want an empty array", r)
	}

	aud := gateway.Principal{Partner: &gateway.Partner{ID: "auditor", Roles: []contracts.Role{contracts.RoleAuditor}}}
	for _, p := range []gateway.Principal{aud, e.principal(owner), e.principal("window-330702")} {
		if _, err := e.ob.ListPartners(e.ctx, p); gateway.CodeOf(err) != contracts.CodeForbidden {
			t.Errorf("%s: got %v, want forbidden", p.ID(), err)
		}
	}
}

// TestListPartnersCapsCounts: a partner's count stops at QueueCountCap
// and says so; the totals stay exact.
func TestListPartnersCapsCounts(t *testing.T) {
	e := newEnv(t, true, pulling(puller, gateway.RetryPolicy{}))
	for i := range QueueCountCap + 5 {
		e.enqueue(i+1, contracts.DeliveryKindUsageRecord, puller)
	}
	l, err := e.ob.ListPartners(e.ctx, e.principal(operator))
	if err != nil {
		t.Fatal(err)
	}
	if p := l.Partners[0]; p.ID != puller || p.Queue.Pending != QueueCountCap || !p.QueueCapped {
		t.Errorf("puller: %+v, want %d pending, capped", p, QueueCountCap)
	}
	if l.Totals.Pending != QueueCountCap+5 {
		t.Errorf("totals: %+v, want %d pending", l.Totals, QueueCountCap+5)
	}
}
