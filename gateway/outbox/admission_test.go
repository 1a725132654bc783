package outbox

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// ackFor is a partner's acknowledgement of a case delivery.
func ackFor(d *contracts.CaseDelivery) *contracts.Ack {
	return &contracts.Ack{ExchangeID: d.ExchangeID, PartnerCaseNo: "no-" + d.CaseID, KeyID: owner}
}

// TestDispatcherHangingPartnerDoesNotStarveOthers: one partner hangs
// (its attempts never return until the test lets them); with PerPartner
// 2 of 4 workers it holds at most 2, and another partner's deliveries,
// claimed after the hanging partner's, are all delivered meanwhile. The
// hanging partner's surplus deliveries are put back without an attempt
// (once they have waited Poll for a slot of their partner).
func TestDispatcherHangingPartnerDoesNotStarveOthers(t *testing.T) {
	const hangingID, healthyID = "330703", "330704"
	unblock := make(chan struct{})
	var inFlight, most atomic.Int32
	hang := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-unblock:
			return ackFor(d), nil, nil, nil
		case <-ctx.Done():
			return nil, nil, nil, ctx.Err()
		}
	})
	fine := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return ackFor(d), nil, nil, nil
	})
	hanging := pushing(hangingID, hang, nil, gateway.RetryPolicy{})
	hanging.Timeout = time.Hour
	e := newEnvWith(t, DispatcherOptions{Seed: 42, Workers: 4, PerPartner: 2, Poll: 5 * time.Millisecond}, true,
		hanging, pushing(healthyID, fine, nil, gateway.RetryPolicy{}))
	var hangs, others []*gateway.Delivery
	for n := range 6 {
		hangs = append(hangs, e.enqueue(n, contracts.DeliveryKindCase, hangingID)) // first in Seq order
	}
	for n := 6; n < 10; n++ {
		others = append(others, e.enqueue(n, contracts.DeliveryKindCase, healthyID))
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.ob.Dispatcher().Run(ctx) }()
	stop := func() { close(unblock); cancel(); wg.Wait() }

	deadline := time.Now().Add(5 * time.Second)
	for {
		done := 0
		for _, d := range others {
			if e.store.delivery(d.ID).State == contracts.TransportStateDelivered {
				done++
			}
		}
		if done == len(others) {
			break
		}
		if time.Now().After(deadline) {
			hung := inFlight.Load()
			stop()
			t.Fatalf("%d of %d deliveries to the healthy partner delivered within 5s while %s hangs (%d of its attempts in flight)",
				done, len(others), hangingID, hung)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := most.Load(); got > 2 {
		t.Errorf("%d attempts to the hanging partner in flight at once, want at most PerPartner 2", got)
	}
	// The surplus waits for a slot of its partner up to Poll, then is put
	// back.
	var (
		st        PartnerState
		postponed int
	)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, s := range e.ob.Dispatcher().PartnerStates() {
			if s.Partner == hangingID {
				st = s
			}
		}
		postponed = 0
		for _, d := range hangs {
			if got := e.store.delivery(d.ID); got.State == contracts.TransportStateRetryWait && got.Attempts == 0 {
				postponed++
			}
		}
		if st.Postponed > 0 && postponed > 0 {
			break
		}
	}
	if st.Postponed == 0 {
		t.Errorf("the hanging partner's surplus deliveries were not put back within 5s: %+v", st)
	}
	if postponed == 0 {
		t.Errorf("no delivery to the hanging partner waits in retry_wait with 0 attempts")
	}
	stop()
}

// TestDispatcherCircuitBreaker: after Failures attempts in a row that get
// no answer, the partner's circuit opens and its due deliveries are put
// back without an attempt (not sent, not counted as attempts, no evidence
// record, counted as postponed); after the cooldown one trial attempt is
// let through (half-open): a failed trial opens the circuit again, a
// successful one closes it, and the rest follow.
func TestDispatcherCircuitBreaker(t *testing.T) {
	const cooldown = 20 * time.Millisecond
	var calls atomic.Int32
	var down atomic.Bool
	down.Store(true)
	// trialHolds, when set, holds a successful attempt until it returns:
	// the trial waits until the round has put the other deliveries back,
	// so that its success cannot close the circuit before they are
	// admitted (RunOnce admits one after the other while attempts run).
	var trialHolds atomic.Pointer[func()]
	partner := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		calls.Add(1)
		if down.Load() {
			return nil, nil, nil, errors.New("dial tcp: connection refused")
		}
		if hold := trialHolds.Load(); hold != nil {
			(*hold)()
		}
		return ackFor(d), nil, nil, nil
	})
	e := newEnvWith(t, DispatcherOptions{Seed: 42, Circuit: gateway.CircuitPolicy{Failures: 3, Cooldown: cooldown}}, true,
		pushing(owner, partner, nil, gateway.RetryPolicy{MaxAttempts: 100}))
	var dels []*gateway.Delivery
	for n := range 4 {
		dels = append(dels, e.enqueue(n, contracts.DeliveryKindCase, owner))
	}
	state := func() PartnerState { return e.ob.Dispatcher().PartnerStates()[0] }
	waitHalfOpen := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for state().Circuit != gateway.CircuitHalfOpen {
			if time.Now().After(deadline) {
				t.Fatalf("circuit %s 5s after opening with a %s cooldown", state().Circuit, cooldown)
			}
			time.Sleep(time.Millisecond)
		}
	}
	attemptsOf := func() (sum int) {
		for _, d := range dels {
			sum += e.store.delivery(d.ID).Attempts
		}
		return sum
	}

	// Closed: all four are attempted and fail; three in a row open it.
	if n := e.runOnce(); n != 4 || calls.Load() != 4 {
		t.Fatalf("round 1: attempted %d, partner called %d times; want 4 and 4", n, calls.Load())
	}
	if st := state(); st.Circuit != gateway.CircuitOpen || st.State != "down" {
		t.Fatalf("after 4 failures: %+v, want circuit open, down", st)
	}
	records := len(e.store.records())

	// Open: due again, put back without an attempt.
	e.clock.Advance(time.Hour)
	if n := e.runOnce(); n != 0 || calls.Load() != 4 {
		t.Fatalf("open: attempted %d, partner called %d times; want 0 and still 4", n, calls.Load())
	}
	if got := attemptsOf(); got != 4 {
		t.Errorf("open: %d attempts stored, want still 4", got)
	}
	if got := len(e.store.records()); got != records {
		t.Errorf("open: %d evidence records written for deliveries not attempted", got-records)
	}
	for _, d := range dels {
		got := e.store.delivery(d.ID)
		if got.State != contracts.TransportStateRetryWait || !got.NextAt.After(e.clock.Now()) || got.NextAt.After(e.clock.Now().Add(cooldown)) {
			t.Errorf("open: delivery %s %s, due %s; want retry_wait, due within the cooldown after %s", d.ID, got.State, got.NextAt, e.clock.Now())
		}
	}
	if st := state(); st.Postponed != 4 {
		t.Errorf("open: postponed %d, want 4", st.Postponed)
	}

	// Half-open, still down: one trial, which fails and opens it again.
	waitHalfOpen()
	e.clock.Advance(time.Hour)
	if n := e.runOnce(); n != 1 || calls.Load() != 5 {
		t.Fatalf("half-open: attempted %d, partner called %d times; want one trial (1 and 5)", n, calls.Load())
	}
	if st := state(); st.Circuit != gateway.CircuitOpen {
		t.Fatalf("after a failed trial: circuit %s, want open", st.Circuit)
	}
	e.clock.Advance(time.Hour)
	if n := e.runOnce(); n != 0 || calls.Load() != 5 {
		t.Fatalf("reopened: attempted %d, partner called %d times; want 0 and 5", n, calls.Load())
	}

	// Half-open, back up: the trial succeeds and closes it; the rest follow.
	waitHalfOpen()
	down.Store(false)
	before := state().Postponed
	hold := func() {
		for deadline := time.Now().Add(5 * time.Second); state().Postponed < before+3 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	trialHolds.Store(&hold)
	e.clock.Advance(time.Hour)
	if n := e.runOnce(); n != 1 {
		t.Fatalf("half-open, partner back: attempted %d, want one trial", n)
	}
	trialHolds.Store(nil)
	if st := state(); st.Circuit != gateway.CircuitClosed || st.State != "up" {
		t.Fatalf("after a successful trial: %+v, want circuit closed, up", st)
	}
	e.clock.Advance(time.Hour)
	if n := e.runOnce(); n != 3 {
		t.Fatalf("closed again: attempted %d, want the other 3", n)
	}
	for _, d := range dels {
		if got := e.store.delivery(d.ID); got.State != contracts.TransportStateDelivered {
			t.Errorf("delivery %s %s after recovery, want delivered", d.ID, got.State)
		}
	}
}

// TestDispatcherCircuitIgnoresRefusals: a permanent refusal is the
// partner's answer, not its absence: however many there are, the circuit
// stays closed.
func TestDispatcherCircuitIgnoresRefusals(t *testing.T) {
	refuse := caseFunc(func(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return nil, nil, nil, &deliveryErr{permanent: true, reason: "HTTP 422", public: "HTTP 422"}
	})
	e := newEnvWith(t, DispatcherOptions{Seed: 42, Circuit: gateway.CircuitPolicy{Failures: 2, Cooldown: time.Hour}}, true,
		pushing(owner, refuse, nil, gateway.RetryPolicy{}))
	for n := range 5 {
		e.enqueue(n, contracts.DeliveryKindCase, owner)
	}
	if n := e.runOnce(); n != 5 {
		t.Fatalf("attempted %d, want 5", n)
	}
	if st := e.ob.Dispatcher().PartnerStates()[0]; st.Circuit != gateway.CircuitClosed {
		t.Errorf("after 5 refusals: circuit %s, want closed", st.Circuit)
	}
}
