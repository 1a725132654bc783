package outbox

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestRunClaimsWithAcknowledgements: under Run, the deliveries to a busy
// partner are claimed mostly by the writes that record acknowledgements
// (gateway.NextClaim), not by claims of their own; those that find the
// partner's PerPartner slots taken wait for the next free one instead of
// being put back; and never more than PerPartner attempts run at once.
func TestRunClaimsWithAcknowledgements(t *testing.T) {
	const n, perPartner = 200, 3
	var inFlight, most atomic.Int32
	partner := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		k := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if k <= m || most.CompareAndSwap(m, k) {
				break
			}
		}
		time.Sleep(100 * time.Microsecond) // an attempt takes a while, so that slots fill up
		return ackFor(d), nil, nil, nil
	})
	e := newEnvWith(t, DispatcherOptions{Seed: 42, Workers: 8, PerPartner: perPartner, Poll: time.Hour}, true,
		pushing(owner, partner, nil, gateway.RetryPolicy{}))
	var dels []*gateway.Delivery
	for i := range n {
		dels = append(dels, e.enqueue(i, contracts.DeliveryKindCase, owner))
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = e.ob.Dispatcher().Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for done := 0; done < n; {
		done = 0
		for _, d := range dels {
			if e.store.delivery(d.ID).State == contracts.TransportStateDelivered {
				done++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered within 10s", done, n)
		}
		time.Sleep(time.Millisecond)
	}

	claims, folded, foldClaimed := e.store.claimStats()
	t.Logf("%d ClaimDue calls; %d acknowledgements claimed %d deliveries", claims, folded, foldClaimed)
	if foldClaimed < n/2 {
		t.Errorf("%d of %d deliveries claimed with an acknowledgement (%d by ClaimDue calls), want most", foldClaimed, n, claims)
	}
	if got := most.Load(); got > perPartner {
		t.Errorf("%d attempts in flight at once, want at most PerPartner %d", got, perPartner)
	}
	if st := e.ob.Dispatcher().PartnerStates()[0]; st.Postponed != 0 {
		t.Errorf("%d deliveries put back, want none: they wait for a slot of their partner", st.Postponed)
	}
}

// TestRunStopPutsBackWaiting: deliveries claimed and waiting for a slot of
// their partner when Run stops are put back, due at once, not left in
// flight until their lease runs out.
func TestRunStopPutsBackWaiting(t *testing.T) {
	unblock := make(chan struct{})
	started := make(chan struct{}, 10)
	hang := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		started <- struct{}{}
		<-unblock
		return ackFor(d), nil, nil, nil
	})
	e := newEnvWith(t, DispatcherOptions{Seed: 42, Workers: 4, PerPartner: 1, Poll: time.Hour}, true,
		pushing(owner, hang, nil, gateway.RetryPolicy{}))
	var dels []*gateway.Delivery
	for i := range 3 {
		dels = append(dels, e.enqueue(i, contracts.DeliveryKindCase, owner))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.ob.Dispatcher().Run(ctx); close(done) }()
	<-started // one attempt runs; what else was claimed waits
	waiting := 0
	for _, d := range dels {
		if e.store.delivery(d.ID).State == contracts.TransportStateInFlight {
			waiting++
		}
	}
	cancel()
	close(unblock)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context's end")
	}
	if waiting < 2 {
		t.Fatalf("%d deliveries in flight while one attempt ran, want the other claimed too (waiting)", waiting)
	}
	delivered := 0
	for _, d := range dels {
		got := e.store.delivery(d.ID)
		switch got.State {
		case contracts.TransportStateDelivered:
			delivered++
		case contracts.TransportStateRetryWait:
			if got.Attempts != 0 || got.NextAt.After(e.clock.Now()) {
				t.Errorf("%s put back with %d attempts, due %s; want 0 attempts, due at once (%s)", d.ID, got.Attempts, got.NextAt, e.clock.Now())
			}
		default:
			t.Errorf("%s is %s after Run stopped, want delivered or put back", d.ID, got.State)
		}
	}
	if delivered != 1 {
		t.Errorf("%d delivered, want the one attempt that ran", delivered)
	}
}

// TestAckOfAStaleClaimedCase: the acknowledgement is first written on
// the case as claimed with its delivery (Delivery.Case); when the case
// changed after the claim, the store refuses that (ErrStale) and the
// acknowledgement is written on the case as read again, keeping the
// change.
func TestAckOfAStaleClaimedCase(t *testing.T) {
	var e *env
	partner := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		// The case changes while the attempt is under way.
		e.store.mu.Lock()
		c := e.store.cases[d.CaseID]
		c.LocalCaseNo, c.Version = "corrected", c.Version+1
		e.store.mu.Unlock()
		return ackFor(d), nil, nil, nil
	})
	e = newEnv(t, true, pushing(owner, partner, nil, gateway.RetryPolicy{}))
	del := e.enqueue(1, contracts.DeliveryKindCase, owner)
	if n := e.runOnce(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	if got := e.store.delivery(del.ID); got.State != contracts.TransportStateDelivered {
		t.Fatalf("delivery %s, want delivered", got.State)
	}
	c, _ := e.store.GetCase(e.ctx, del.CaseID)
	if c.LocalCaseNo != "corrected" || c.Version != 3 {
		t.Errorf("case numbered %q at version %d; want the change kept (corrected) and the acknowledgement on top (3)", c.LocalCaseNo, c.Version)
	}
}
