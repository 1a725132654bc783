package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// The lease fence: SaveAttempt and Change.Delivered write only while the
// delivery is still in flight under the caller's claim (its LeaseUntil).

// snapshot is everything a fenced write could change about one case.
type snapshot struct {
	c          *gateway.Case
	history    []gateway.Status
	deliveries []*gateway.Delivery
	counts     map[contracts.TransportState]int
}

func (e *env) snapshot(caseID string) snapshot {
	e.t.Helper()
	return snapshot{e.getCase(caseID), e.history(caseID), e.deliveries(caseID), e.counts()}
}

// wantSnapshot fails unless the case is still as in want.
func (e *env) wantSnapshot(what string, want snapshot) {
	e.t.Helper()
	got := e.snapshot(want.c.ID)
	sameCase(e.t, what+": GetCase", got.c, want.c)
	if len(got.history) != len(want.history) {
		e.t.Errorf("%s: History: got %d entries, want %d", what, len(got.history), len(want.history))
	}
	if len(got.deliveries) != len(want.deliveries) {
		e.t.Errorf("%s: Deliveries: got %d, want %d", what, len(got.deliveries), len(want.deliveries))
	} else {
		for i := range want.deliveries {
			sameDelivery(e.t, what+": Deliveries["+want.deliveries[i].ID+"]", got.deliveries[i], want.deliveries[i])
		}
	}
	if !sameCounts(got.counts, want.counts) {
		e.t.Errorf("%s: CountByState: got %v, want %v", what, got.counts, want.counts)
	}
}

// wantFenced checks that stale, a claim of a delivery of case caseID that
// is no longer the caller's, can write nothing: SaveAttempt and an
// UpdateCase marking it delivered (based on the current case Version, with
// an exchange, a history entry and a new delivery) both fail with ErrStale
// and leave every row as it was.
func (e *env) wantFenced(caseID string, stale *gateway.Delivery) {
	e.t.Helper()
	ctx := e.t.Context()
	before := e.snapshot(caseID)

	for _, state := range []contracts.TransportState{contracts.TransportStateRetryWait, contracts.TransportStateDead} {
		a := *stale
		a.State, a.Attempts, a.NextAt, a.LastError = state, stale.Attempts+1, now.Add(time.Hour), "late outcome"
		err := e.s.SaveAttempt(ctx, &a)
		wantErr(e.t, "SaveAttempt("+string(state)+") under a stale claim", err, gateway.ErrStale)
		e.wantSnapshot("after a stale SaveAttempt("+string(state)+")", before)
	}

	ch := deliveredChange(*e.getCase(caseID), stale, now.Add(time.Minute))
	ch.Exchange = exchangeFor(ch.Case)
	ch.Exchange.Sender, ch.Exchange.ExchangeID, ch.Exchange.Kind = ch.Case.Owner, newID("ex"), gateway.ExchangeStatus
	extra := newDelivery(ch.Case, chiping, now)
	ch.Enqueue = []*gateway.Delivery{extra}
	version := ch.Case.Version
	err := e.s.UpdateCase(ctx, ch)
	wantErr(e.t, "UpdateCase delivering under a stale claim", err, gateway.ErrStale)
	if ch.Case.Version != version {
		e.t.Errorf("Case.Version after a fenced UpdateCase: got %d, want %d", ch.Case.Version, version)
	}
	e.wantSnapshot("after a stale Delivered", before)
	_, err = e.s.GetDelivery(ctx, extra.ID)
	wantErr(e.t, "GetDelivery of the delivery the fenced change enqueued", err, gateway.ErrNotFound)
	_, err = e.s.GetExchange(ctx, ch.Exchange.Sender, ch.Exchange.ExchangeID)
	wantErr(e.t, "GetExchange of the fenced change's exchange", err, gateway.ErrNotFound)
}

// testFenceExpiredLease: a dispatcher claims, its lease runs out, another
// claims; the first one's late outcome is refused whether it comes before
// or after the second one's, and the second one's is kept. Each row has a
// store of its own.
func testFenceExpiredLease(t *testing.T, open func(t *testing.T) gateway.Store) {
	const lease = time.Minute
	tests := []struct {
		name       string
		outcome    contracts.TransportState // the second claimer's
		loserFirst bool
	}{
		{"late outcome then retry", contracts.TransportStateRetryWait, true},
		{"retry then late outcome", contracts.TransportStateRetryWait, false},
		{"late outcome then dead", contracts.TransportStateDead, true},
		{"dead then late outcome", contracts.TransportStateDead, false},
		{"late outcome then delivered", contracts.TransportStateDelivered, true},
		{"delivered then late outcome", contracts.TransportStateDelivered, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, open)
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now, lease, ds[0])
			first := *ds[0]
			e.mustClaim(now.Add(time.Second), lease) // still held
			e.mustClaim(now.Add(lease), lease, ds[0])
			second := *ds[0]
			if first.LeaseUntil.Equal(second.LeaseUntil) {
				t.Fatalf("two claims got the same LeaseUntil %s", first.LeaseUntil)
			}
			if tt.loserFirst {
				e.wantFenced(c.ID, &first)
			}

			var want gateway.Delivery
			switch tt.outcome {
			case contracts.TransportStateDelivered:
				ch := deliveredChange(*e.getCase(c.ID), &second, now.Add(lease+time.Second))
				if err := e.s.UpdateCase(t.Context(), ch); err != nil {
					t.Fatalf("UpdateCase delivering under the current claim: %v", err)
				}
				if ch.Case.Version != 2 {
					t.Errorf("Case.Version after delivery: got %d, want 2", ch.Case.Version)
				}
				want = *ch.Delivered
			default:
				a := second
				a.State, a.Attempts, a.NextAt, a.LastError = tt.outcome, 1, now.Add(time.Hour), "partner answered 503"
				if err := e.s.SaveAttempt(t.Context(), &a); err != nil {
					t.Fatalf("SaveAttempt under the current claim: %v", err)
				}
				want = a
			}
			want.LeaseUntil = time.Time{}
			got := e.getDelivery(ds[0].ID)
			if tt.outcome == contracts.TransportStateDelivered {
				want.LeaseUntil = got.LeaseUntil // not part of the promise
			}
			sameDelivery(t, "the current claim's outcome", got, &want)

			if !tt.loserFirst {
				e.wantFenced(c.ID, &first)
			}
			sameDelivery(t, "the current claim's outcome at the end", e.getDelivery(ds[0].ID), &want)
			wantVersion, wantHistory := int64(1), 1
			if tt.outcome == contracts.TransportStateDelivered {
				wantVersion, wantHistory = 2, 2
			}
			if got := e.getCase(c.ID).Version; got != wantVersion {
				t.Errorf("case Version at the end: got %d, want %d", got, wantVersion)
			}
			if got := len(e.history(c.ID)); got != wantHistory {
				t.Errorf("History at the end: got %d entries, want %d", got, wantHistory)
			}
			if got := len(e.deliveries(c.ID)); got != 1 {
				t.Errorf("Deliveries at the end: got %d, want 1", got)
			}
		})
	}
}

// testFenceStates: a claim that is no longer the caller's can write
// nothing, whatever became of the delivery. Each row has a store of its
// own.
func testFenceStates(t *testing.T, open func(t *testing.T) gateway.Store) {
	const lease = time.Minute
	tests := []struct {
		name  string
		setup func(e *env) (caseID string, stale *gateway.Delivery)
	}{
		{"pending, never claimed", func(e *env) (string, *gateway.Delivery) {
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			return c.ID, ds[0]
		}},
		{"pending again after dead and redeliver", func(e *env) (string, *gateway.Delivery) {
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now, lease, ds[0])
			stale := *ds[0]
			e.saveAttempt(ds[0], contracts.TransportStateDead, 8, now)
			if err := e.s.Redeliver(e.t.Context(), ds[0].ID, now.Add(time.Hour)); err != nil {
				e.t.Fatalf("Redeliver: %v", err)
			}
			return c.ID, &stale
		}},
		{"retry_wait: the claim's outcome already saved", func(e *env) (string, *gateway.Delivery) {
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now, lease, ds[0])
			stale := *ds[0]
			e.saveAttempt(ds[0], contracts.TransportStateRetryWait, 1, now.Add(time.Hour))
			return c.ID, &stale
		}},
		{"dead", func(e *env) (string, *gateway.Delivery) {
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now, lease, ds[0])
			stale := *ds[0]
			e.saveAttempt(ds[0], contracts.TransportStateDead, 8, now)
			return c.ID, &stale
		}},
		{"delivered", func(e *env) (string, *gateway.Delivery) {
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now, lease, ds[0])
			stale := *ds[0]
			e.deliver(c.ID, ds[0], now)
			return c.ID, &stale
		}},
		{"in_flight under a newer claim", func(e *env) (string, *gateway.Delivery) {
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now, lease, ds[0])
			stale := *ds[0]
			e.mustClaim(now.Add(2*lease), lease, ds[0])
			return c.ID, &stale
		}},
		{"in_flight under a lease never handed out", func(e *env) (string, *gateway.Delivery) {
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now, lease, ds[0])
			stale := *ds[0]
			stale.LeaseUntil = stale.LeaseUntil.Add(time.Second)
			return c.ID, &stale
		}},
		{"in_flight, caller without a lease", func(e *env) (string, *gateway.Delivery) {
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now, lease, ds[0])
			stale := *ds[0]
			stale.LeaseUntil = time.Time{}
			return c.ID, &stale
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, open)
			caseID, stale := tt.setup(e)
			e.wantFenced(caseID, stale)
		})
	}
}

// testFenceSameClaimConcurrent: many writers race with one claim (a
// dispatcher that reports twice, say); exactly one outcome is written.
func testFenceSameClaimConcurrent(t *testing.T, e *env) {
	const workers = 16
	c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
	e.mustClaim(now, time.Minute, ds[0])
	claim := *ds[0]
	read := *e.getCase(c.ID)

	type result struct {
		delivered bool
		err       error
	}
	results := make(chan result, workers)
	var start sync.WaitGroup
	start.Add(1)
	for i := range workers {
		go func() {
			start.Wait()
			if i%2 == 0 {
				results <- result{true, e.s.UpdateCase(t.Context(), deliveredChange(read, &claim, now))}
				return
			}
			a := claim
			a.State, a.Attempts, a.NextAt, a.LastError = contracts.TransportStateRetryWait, 1, now.Add(time.Hour), "timeout"
			results <- result{false, e.s.SaveAttempt(t.Context(), &a)}
		}()
	}
	start.Done()
	var winners []result
	for range workers {
		r := <-results
		switch {
		case r.err == nil:
			winners = append(winners, r)
		case !errors.Is(r.err, gateway.ErrStale):
			t.Errorf("write under a raced claim: got %v, want nil or %v", r.err, gateway.ErrStale)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d writes under one claim succeeded, want exactly 1", len(winners))
	}
	wantState, wantVersion, wantHistory := contracts.TransportStateRetryWait, int64(1), 1
	if winners[0].delivered {
		wantState, wantVersion, wantHistory = contracts.TransportStateDelivered, 2, 2
	}
	e.wantState(ds[0].ID, wantState)
	got := e.snapshot(c.ID)
	if got.c.Version != wantVersion || len(got.history) != wantHistory {
		t.Errorf("case after the race: got version %d, %d history entries, want %d, %d", got.c.Version, len(got.history), wantVersion, wantHistory)
	}
	wantCounts := map[contracts.TransportState]int{wantState: 1}
	if len(got.deliveries) != 1 || !sameCounts(got.counts, wantCounts) {
		t.Errorf("after the race: got %d deliveries, counts %v, want 1, %v", len(got.deliveries), got.counts, wantCounts)
	}
}
