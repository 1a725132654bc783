package postgres

import (
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

// TestCountCompaction: folding the count deltas into the counters, while
// writers go on adding deltas, changes no count.
func TestCountCompaction(t *testing.T) {
	schema := freshSchema(t)
	s := openClosed(t, schema)
	ctx := t.Context()
	for range 30 {
		if err := s.CreateCase(ctx, fixChange("")); err != nil {
			t.Fatal(err)
		}
	}
	if ds, err := s.ClaimDue(ctx, t0, time.Hour, 10); err != nil || len(ds) != 10 {
		t.Fatalf("ClaimDue: %d, %v", len(ds), err)
	}
	if n := queryInt(t, `SELECT count(*) FROM `+ident(schema, "delivery_count_deltas")); n == 0 {
		t.Fatal("no count deltas before the fold")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 30 {
			if err := s.CreateCase(ctx, fixChange("")); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 5 {
		if err := s.compactCounts(ctx); err != nil {
			t.Fatalf("compactCounts: %v", err)
		}
	}
	wg.Wait()
	want := map[contracts.TransportState]int{contracts.TransportStatePending: 50, contracts.TransportStateInFlight: 10}
	check := func(what string) {
		t.Helper()
		got, err := s.CountByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []contracts.TransportState{contracts.TransportStatePending, contracts.TransportStateInFlight,
			contracts.TransportStateDelivered, contracts.TransportStateRetryWait, contracts.TransportStateDead, contracts.TransportStateCancelled} {
			if got[st] != want[st] {
				t.Errorf("%s: CountByState[%s] = %d, want %d", what, st, got[st], want[st])
			}
		}
	}
	check("after folds during writes")
	if err := s.compactCounts(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, `SELECT count(*) FROM `+ident(schema, "delivery_count_deltas")); n != 0 {
		t.Errorf("%d count deltas left after a fold with no writer", n)
	}
	if n := queryInt(t, `SELECT n FROM `+ident(schema, "delivery_counts")+` WHERE state = 'pending'`); n != 50 {
		t.Errorf("delivery_counts pending after the fold: %d, want 50", n)
	}
	check("after the last fold")
}
