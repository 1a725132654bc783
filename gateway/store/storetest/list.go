package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// listDeliveries calls ListDeliveries and returns the ids, in the order
// returned.
func (e *env) listDeliveries(q gateway.DeliveryQuery) []string {
	e.t.Helper()
	ds, err := e.s.ListDeliveries(e.t.Context(), q)
	if err != nil {
		e.t.Fatalf("ListDeliveries(%+v): %v", q, err)
	}
	return idsOf(ds)
}

// testListDeliveries: ListDeliveries lists the unfinished deliveries in
// the states asked for, pushed and pulled, of a case or of none, to one
// partner or to all, in seq order from the cursor on, at most the limit,
// each as stored but for its payload and acknowledgement; it refuses a
// query outside its contract.
func testListDeliveries(t *testing.T, e *env) {
	const puller = "610102"
	dead, retry := contracts.TransportStateDead, contracts.TransportStateRetryWait
	pending, inFlight := contracts.TransportStatePending, contracts.TransportStateInFlight
	states := func(s ...contracts.TransportState) []contracts.TransportState { return s }

	e.setPull(puller)
	a, ds := e.caseWith(now.Add(-time.Hour), wucheng, chiping, zhonglou, "310116")
	e.mustClaim(now.Add(-time.Hour), time.Minute, ds...)
	e.saveAttempt(ds[0], retry, 1, now.Add(time.Hour))
	e.saveAttempt(ds[1], dead, 9, now)
	e.deliver(a.ID, ds[2], now)
	retried, died, inFlightPushed := ds[0], ds[1], ds[3]
	_, later := e.caseWith(now.Add(time.Hour), wucheng) // pending, not due
	usage := e.usageWith(wucheng, now.Add(-time.Hour))  // of no case
	e.mustClaim(now.Add(-time.Hour), time.Minute, usage)
	e.saveAttempt(usage, dead, 9, now)
	_, offered := e.caseWith(now.Add(-time.Hour), puller)
	if got := idsOf(e.poll(puller, now.Add(-time.Hour), 0, 10)); !slices.Equal(got, []string{offered[0].ID}) {
		t.Fatalf("ClaimMailbox(%s): got %v, want %s", puller, got, offered[0].ID)
	}
	_, waiting := e.caseWith(now.Add(time.Hour), puller) // pulled, pending

	all := states(pending, inFlight, retry, dead)
	unfinished := []*gateway.Delivery{retried, died, inFlightPushed, later[0], usage, offered[0], waiting[0]}
	tests := []struct {
		name string
		q    gateway.DeliveryQuery
		want []*gateway.Delivery
	}{
		{"dead and retry_wait", gateway.DeliveryQuery{States: states(dead, retry), Limit: 100}, []*gateway.Delivery{retried, died, usage}},
		{"dead", gateway.DeliveryQuery{States: states(dead), Limit: 100}, []*gateway.Delivery{died, usage}},
		{"retry_wait", gateway.DeliveryQuery{States: states(retry), Limit: 100}, []*gateway.Delivery{retried}},
		{"pending", gateway.DeliveryQuery{States: states(pending), Limit: 100}, []*gateway.Delivery{later[0], waiting[0]}},
		{"in_flight", gateway.DeliveryQuery{States: states(inFlight), Limit: 100}, []*gateway.Delivery{inFlightPushed, offered[0]}},
		{"every unfinished state", gateway.DeliveryQuery{States: all, Limit: 100}, unfinished},
		{"a state twice", gateway.DeliveryQuery{States: states(dead, dead), Limit: 100}, []*gateway.Delivery{died, usage}},
		{"one partner", gateway.DeliveryQuery{States: states(dead, retry), Partner: wucheng, Limit: 100}, []*gateway.Delivery{retried, usage}},
		{"a pulling partner", gateway.DeliveryQuery{States: all, Partner: puller, Limit: 100}, []*gateway.Delivery{offered[0], waiting[0]}},
		{"an unknown partner", gateway.DeliveryQuery{States: all, Partner: "no-such-partner", Limit: 100}, nil},
		{"after a cursor", gateway.DeliveryQuery{States: states(dead, retry), After: died.Seq, Limit: 100}, []*gateway.Delivery{usage}},
		{"after the last", gateway.DeliveryQuery{States: all, After: waiting[0].Seq, Limit: 100}, nil},
		{"limit", gateway.DeliveryQuery{States: all, Limit: 2}, []*gateway.Delivery{retried, died}},
		{"limit after a cursor", gateway.DeliveryQuery{States: all, After: died.Seq, Limit: 2}, []*gateway.Delivery{inFlightPushed, later[0]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := e.sub(t).listDeliveries(tt.q), idsOf(tt.want); !slices.Equal(got, want) {
				t.Errorf("ListDeliveries(%+v): got %v, want %v", tt.q, got, want)
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		var got []string
		q := gateway.DeliveryQuery{States: all, Limit: 3}
		for range len(unfinished) + 1 {
			ds, err := e.s.ListDeliveries(t.Context(), q)
			if err != nil {
				t.Fatalf("ListDeliveries(%+v): %v", q, err)
			}
			if len(ds) == 0 {
				break
			}
			got = append(got, idsOf(ds)...)
			q.After = ds[len(ds)-1].Seq
		}
		if want := idsOf(unfinished); !slices.Equal(got, want) {
			t.Errorf("paging by the last Seq: got %v, want %v", got, want)
		}
	})

	t.Run("fields", func(t *testing.T) {
		ds, err := e.s.ListDeliveries(t.Context(), gateway.DeliveryQuery{States: all, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Payload != nil || d.Ack != nil || d.AckBody != nil || d.AckSig != nil {
				t.Errorf("listed %s with its payload or acknowledgement", d.ID)
			}
			want := e.sub(t).getDelivery(d.ID)
			if !ms(d.Since).Equal(ms(want.Since)) {
				t.Errorf("listed %s: Since %s, want %s", d.ID, d.Since, want.Since)
			}
			want.Payload, want.Ack, want.AckBody, want.AckSig, want.PayloadKey = nil, nil, nil, nil, ""
			sameDelivery(t, "listed "+d.ID, d, want)
		}
		if len(ds) > 0 && (ds[0].ID != retried.ID || ds[0].LastError == "" || ds[0].Attempts != 1 || !ms(ds[0].NextAt).Equal(now.Add(time.Hour))) {
			t.Errorf("listed retry_wait delivery: got %s", fmtDelivery(*ds[0]))
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, q := range []gateway.DeliveryQuery{
			{States: states(dead), Limit: 0},
			{States: states(dead), Limit: -1},
			{Limit: 10},
			{States: states(contracts.TransportStateDelivered), Limit: 10},
			{States: states(dead, contracts.TransportStateCancelled), Limit: 10},
			{States: states("dead' OR '1' = '1"), Limit: 10},
		} {
			if ds, err := e.s.ListDeliveries(t.Context(), q); err == nil {
				t.Errorf("ListDeliveries(%+v): got %v and no error", q, idsOf(ds))
			}
		}
	})
}
