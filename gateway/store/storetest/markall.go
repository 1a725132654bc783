package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// MarkDeliveredAll: the acknowledgements of a batch of deliveries of no
// case (usage records sent in one call) recorded in one write, each fenced
// on its own.

// markOf returns the mark of d acknowledged at at, with one evidence
// record naming it.
func markOf(d *gateway.Delivery, at time.Time) gateway.DeliveredMark {
	ev := record("delivery.attempt", "", at)
	ev.DeliveryID = d.ID
	return gateway.DeliveredMark{Delivery: usageDone(d, at), Evidence: []contracts.EvidenceRecord{ev}}
}

// markAll calls MarkDeliveredAll and fails on an error of the write.
func (e *env) markAll(marks []gateway.DeliveredMark, outOfBand bool) []error {
	e.t.Helper()
	errs, err := e.s.MarkDeliveredAll(e.t.Context(), marks, outOfBand)
	if err != nil {
		e.t.Fatalf("MarkDeliveredAll: %v", err)
	}
	if len(errs) != len(marks) {
		e.t.Fatalf("MarkDeliveredAll: %d errors for %d marks", len(errs), len(marks))
	}
	return errs
}

// loggedDeliveries returns the delivery ids the log's records name, in
// log order.
func (e *env) loggedDeliveries() []string {
	e.t.Helper()
	out := []string{}
	for _, r := range e.rows() {
		out = append(out, decode(e.t, r).DeliveryID)
	}
	return out
}

// testMarkDeliveredAll: the marks that pass their fence are written with
// their evidence, in marks' order; a stale claim, an unknown delivery and
// a case's delivery write nothing and say why, without holding the others
// back.
func testMarkDeliveredAll(t *testing.T, e *env) {
	if errs, err := e.s.MarkDeliveredAll(t.Context(), nil, false); err != nil || errs != nil {
		t.Fatalf("MarkDeliveredAll of nothing: got %v, %v, want nil, nil", errs, err)
	}
	d1 := e.usageWith(wucheng, now.Add(-time.Hour))
	d2 := e.usageWith(wucheng, now.Add(-time.Hour))
	_, cds := e.caseWith(now.Add(-time.Hour), wucheng)
	d3 := e.usageWith(chiping, now.Add(-time.Hour))
	e.mustClaim(now, time.Minute, d1, d2, cds[0], d3)
	before2, beforeCase := e.getDelivery(d2.ID), e.getDelivery(cds[0].ID)

	at := time.Date(2026, 3, 3, 9, 30, 0, 987654321, cst)
	stale := *d2
	stale.LeaseUntil = stale.LeaseUntil.Add(time.Second)
	ghost := *d1
	ghost.ID = "no-such-delivery"
	marks := []gateway.DeliveredMark{markOf(d1, at), markOf(&stale, at), markOf(&ghost, at), markOf(cds[0], at), markOf(d3, at)}
	errs := e.markAll(marks, false)
	for i, want := range []error{nil, gateway.ErrStale, gateway.ErrNotFound, gateway.ErrNotFound, nil} {
		if want == nil && errs[i] != nil || want != nil && !errors.Is(errs[i], want) {
			t.Errorf("mark %d (%s): got %v, want %v", i, marks[i].Delivery.ID, errs[i], want)
		}
	}
	for _, i := range []int{0, 4} {
		got := e.getDelivery(marks[i].Delivery.ID)
		want := *marks[i].Delivery
		want.LeaseUntil = got.LeaseUntil // not part of the promise
		sameDelivery(t, fmt.Sprintf("GetDelivery of mark %d", i), got, &want)
	}
	sameDelivery(t, "GetDelivery of the stale mark's delivery", e.getDelivery(d2.ID), before2)
	sameDelivery(t, "GetDelivery of the case's delivery", e.getDelivery(cds[0].ID), beforeCase)

	// Only the written marks' evidence, in marks' order, linked into the
	// chain, and numbered in the caller's records.
	if got := fmt.Sprint(e.loggedDeliveries()); got != fmt.Sprint([]string{d1.ID, d3.ID}) {
		t.Errorf("log names deliveries %s, want those of the written marks, %s then %s", got, d1.ID, d3.ID)
	}
	if s0, s4 := marks[0].Evidence[0].Seq, marks[4].Evidence[0].Seq; s0 != 1 || s4 != 2 || marks[1].Evidence[0].Seq != 0 {
		t.Errorf("the callers' records got seqs %d, %d (stale %d), want 1, 2 (0)", s0, s4, marks[1].Evidence[0].Seq)
	}
	e.wantChain(2)

	// Written once: the same marks again are stale.
	errs = e.markAll([]gateway.DeliveredMark{markOf(d1, at), markOf(d3, at)}, false)
	for i, err := range errs {
		wantErr(t, fmt.Sprintf("mark %d again", i), err, gateway.ErrStale)
	}
	e.wantChain(2)
	wantCounts := map[contracts.TransportState]int{contracts.TransportStateDelivered: 2, contracts.TransportStateInFlight: 2}
	if got := e.counts(); !sameCounts(got, wantCounts) {
		t.Errorf("CountByState: got %v, want %v", got, wantCounts)
	}
}

// testMarkDeliveredAllOutOfBand: an out-of-band acknowledgement of a
// delivery of no case (a pulling issuer's mailbox acknowledgement) is
// written whatever its claim, unless the delivery is finished.
func testMarkDeliveredAllOutOfBand(t *testing.T, e *env) {
	const lease = time.Minute
	pending := e.usageWith(wucheng, now.Add(time.Hour)) // not due: never claimed
	retry := e.usageWith(wucheng, now.Add(-time.Hour))
	dead := e.usageWith(wucheng, now.Add(-time.Hour))
	reclaimed := e.usageWith(wucheng, now.Add(-time.Hour))
	done := e.usageWith(wucheng, now.Add(-time.Hour))
	e.mustClaim(now, lease, retry, dead, reclaimed, done)
	e.saveAttempt(retry, contracts.TransportStateRetryWait, 1, now.Add(time.Hour))
	e.saveAttempt(dead, contracts.TransportStateDead, 8, now)
	if errs := e.markAll([]gateway.DeliveredMark{markOf(done, now)}, false); errs[0] != nil {
		t.Fatalf("MarkDeliveredAll under the claim: %v", errs[0])
	}
	doneStale := *done
	stale := *reclaimed
	e.mustClaim(now.Add(2*lease), lease, reclaimed)

	marks := []gateway.DeliveredMark{markOf(pending, now), markOf(retry, now), markOf(dead, now), markOf(&stale, now), markOf(&doneStale, now)}
	errs := e.markAll(marks, true)
	for i, want := range []error{nil, nil, nil, nil, gateway.ErrStale} {
		if want == nil && errs[i] != nil || want != nil && !errors.Is(errs[i], want) {
			t.Errorf("out-of-band mark %d (%s): got %v, want %v", i, marks[i].Delivery.ID, errs[i], want)
		}
	}
	for _, d := range []*gateway.Delivery{pending, retry, dead, reclaimed, done} {
		e.wantState(d.ID, contracts.TransportStateDelivered)
	}
	e.wantChain(5) // done's first record, then four
}

// testMarkDeliveredAllConcurrent: batch writes race with failed attempts
// under one claim of a delivery of no case; exactly one outcome is
// written.
func testMarkDeliveredAllConcurrent(t *testing.T, e *env) {
	const workers = 16
	d := e.usageWith(wucheng, now.Add(-time.Hour))
	other := e.usageWith(chiping, now.Add(-time.Hour))
	e.mustClaim(now, time.Minute, d, other)
	claim := *d
	type result struct {
		err   error
		batch bool
	}
	results := make(chan result, workers)
	var start sync.WaitGroup
	start.Add(1)
	for i := range workers {
		go func() {
			start.Wait()
			if i%2 == 0 {
				errs, err := e.s.MarkDeliveredAll(t.Context(), []gateway.DeliveredMark{markOf(&claim, now)}, false)
				if err == nil {
					err = errs[0]
				}
				results <- result{err, true}
				return
			}
			a := claim
			a.State, a.Attempts, a.NextAt, a.LastError = contracts.TransportStateRetryWait, 1, now.Add(time.Hour), "timeout"
			results <- result{e.s.SaveAttempt(t.Context(), &a), false}
		}()
	}
	start.Done()
	won := 0
	for range workers {
		switch r := <-results; {
		case r.err == nil:
			won++
		case !errors.Is(r.err, gateway.ErrStale):
			t.Errorf("write under a raced claim (batch %v): got %v, want nil or %v", r.batch, r.err, gateway.ErrStale)
		}
	}
	if won != 1 {
		t.Errorf("%d writes under one claim succeeded, want exactly 1", won)
	}
	st := e.getDelivery(d.ID).State
	if st != contracts.TransportStateDelivered && st != contracts.TransportStateRetryWait {
		t.Errorf("after the race the delivery is %s, want delivered or retry_wait", st)
	}
	e.wantState(other.ID, contracts.TransportStateInFlight)
}
