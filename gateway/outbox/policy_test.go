package outbox

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestPolicyTransitions walks every transition of the outbox's state
// machine: each row is a step with its inputs and the state, next due
// time and last error it must give. The boundaries are the exact
// MaxAttempts and MaxAge, for attempts and offers alike.
func TestPolicyTransitions(t *testing.T) {
	pol := Policy{Retry: gateway.RetryPolicy{MaxAttempts: 5, MaxAge: time.Hour, BaseDelay: time.Second, MaxDelay: time.Minute}}
	since := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	at := func(age time.Duration) time.Time { return since.Add(age) }
	const backoff = 3 * time.Second
	failed := func(attempts int, age time.Duration, permanent bool, retryAfter time.Duration) func() (Transition, bool) {
		return func() (Transition, bool) {
			drawn := false
			tr := pol.Failed(attempts, since, at(age), permanent, retryAfter, func() time.Duration { drawn = true; return backoff })
			return tr, drawn
		}
	}
	offer := func(offered int, age time.Duration) func() (Transition, bool) {
		return func() (Transition, bool) { return pol.Offer(offered, since, at(age)), false }
	}
	const (
		dead      = contracts.TransportStateDead
		retryWait = contracts.TransportStateRetryWait
		inFlight  = contracts.TransportStateInFlight
		pending   = contracts.TransportStatePending
	)
	tests := []struct {
		name   string
		step   func() (tr Transition, drewBackoff bool)
		reason string
		state  contracts.TransportState
		next   time.Time
		why    string
		reset  bool
		drawn  bool
	}{
		// A failed push attempt (attempts counts it).
		{"first failure retries after the backoff", failed(1, time.Minute, false, 0), "boom",
			retryWait, at(time.Minute + backoff), "boom", false, true},
		{"permanent failure is dead at once", failed(1, time.Minute, true, 0), "boom",
			dead, time.Time{}, "permanent: boom", false, false},
		{"permanent wins over an exhausted policy", failed(5, time.Hour, true, 0), "boom",
			dead, time.Time{}, "permanent: boom", false, false},
		{"one attempt below MaxAttempts retries", failed(4, time.Minute, false, 0), "boom",
			retryWait, at(time.Minute + backoff), "boom", false, true},
		{"exactly MaxAttempts is dead", failed(5, time.Minute, false, 0), "boom",
			dead, time.Time{}, "gave up after 5 attempts: boom", false, false},
		{"past MaxAttempts is dead", failed(6, time.Minute, false, 0), "boom",
			dead, time.Time{}, "gave up after 6 attempts: boom", false, false},
		{"just under MaxAge retries", failed(2, time.Hour-time.Nanosecond, false, 0), "boom",
			retryWait, at(time.Hour - time.Nanosecond + backoff), "boom", false, true},
		{"exactly MaxAge is dead", failed(2, time.Hour, false, 0), "boom",
			dead, time.Time{}, "gave up after 1h0m0s: boom", false, false},
		{"attempts are told before age", failed(5, time.Hour, false, 0), "boom",
			dead, time.Time{}, "gave up after 5 attempts: boom", false, false},
		{"a Retry-After longer than the backoff wins", failed(1, 0, false, 10*time.Second), "busy",
			retryWait, at(10 * time.Second), "busy", false, true},
		{"a Retry-After shorter than the backoff loses", failed(1, 0, false, time.Second), "busy",
			retryWait, at(backoff), "busy", false, true},
		{"a Retry-After does not revive an exhausted delivery", failed(5, 0, false, time.Minute), "busy",
			dead, time.Time{}, "gave up after 5 attempts: busy", false, false},

		// A claimed mailbox message (offered counts the offers before the claim).
		{"first offer", offer(0, 0), notAcknowledged,
			inFlight, time.Time{}, notAcknowledged, false, false},
		{"one offer below MaxAttempts is offered", offer(4, time.Minute), notAcknowledged,
			inFlight, time.Time{}, notAcknowledged, false, false},
		{"exactly MaxAttempts offers is dead", offer(5, time.Minute), notAcknowledged,
			dead, time.Time{}, "gave up after 5 offers: not acknowledged", false, false},
		{"just under MaxAge is offered", offer(1, time.Hour-time.Nanosecond), notAcknowledged,
			inFlight, time.Time{}, notAcknowledged, false, false},
		{"exactly MaxAge is dead", offer(1, time.Hour), notAcknowledged,
			dead, time.Time{}, "gave up after 1h0m0s: not acknowledged", false, false},
		{"offers are told before age", offer(5, time.Hour), notAcknowledged,
			dead, time.Time{}, "gave up after 5 offers: not acknowledged", false, false},

		// An operator's redelivery of a dead letter.
		{"redelivery", func() (Transition, bool) { return pol.Redeliver(at(2 * time.Hour)), false }, "boom",
			pending, at(2 * time.Hour), "boom", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, drawn := tt.step()
			if tr.State != tt.state || !tr.Next.Equal(tt.next) || tr.Why(tt.reason) != tt.why || tr.Reset != tt.reset {
				t.Errorf("got state %s, next %s, why %q, reset %v; want %s, %s, %q, %v",
					tr.State, tr.Next, tr.Why(tt.reason), tr.Reset, tt.state, tt.next, tt.why, tt.reset)
			}
			if tr.Dead() != (tt.state == dead) {
				t.Errorf("Dead() = %v in state %s", tr.Dead(), tr.State)
			}
			if drawn != tt.drawn {
				t.Errorf("backoff drawn: %v, want %v (only a retried delivery draws its jitter)", drawn, tt.drawn)
			}
		})
	}
}

// TestPolicyAcknowledgeable: an acknowledgement never marks a delivered or
// cancelled delivery again; an attempt's only under the lease it was made
// under; a mailbox acknowledgement whatever the lease, dead letters
// included.
func TestPolicyAcknowledgeable(t *testing.T) {
	claimed := time.Date(2026, 3, 14, 9, 2, 0, 0, time.UTC)
	other := claimed.Add(time.Minute)
	tests := []struct {
		state     contracts.TransportState
		stored    time.Time
		outOfBand bool
		want      bool
	}{
		{contracts.TransportStateInFlight, claimed, false, true},
		{contracts.TransportStateInFlight, other, false, false},
		{contracts.TransportStateInFlight, time.Time{}, false, false},
		{contracts.TransportStateRetryWait, other, false, false},
		{contracts.TransportStateDelivered, claimed, false, false},
		{contracts.TransportStateCancelled, claimed, false, false},
		{contracts.TransportStatePending, time.Time{}, true, true},
		{contracts.TransportStateInFlight, other, true, true},
		{contracts.TransportStateRetryWait, time.Time{}, true, true},
		{contracts.TransportStateDead, time.Time{}, true, true},
		{contracts.TransportStateDelivered, claimed, true, false},
		{contracts.TransportStateCancelled, claimed, true, false},
	}
	for _, tt := range tests {
		if got := (Policy{}).Acknowledgeable(tt.state, tt.stored, claimed, tt.outOfBand); got != tt.want {
			t.Errorf("Acknowledgeable(%s, same lease %v, out of band %v) = %v, want %v",
				tt.state, tt.stored.Equal(claimed), tt.outOfBand, got, tt.want)
		}
	}
	for _, s := range []contracts.TransportState{contracts.TransportStatePending, contracts.TransportStateInFlight,
		contracts.TransportStateRetryWait, contracts.TransportStateDelivered, contracts.TransportStateCancelled} {
		if (Policy{}).Redeliverable(s) {
			t.Errorf("a delivery in state %s is redeliverable", s)
		}
	}
	if !(Policy{}).Redeliverable(contracts.TransportStateDead) {
		t.Error("a dead letter is not redeliverable")
	}
}

// TestBackoff: BaseDelay·2^(attempt−1) capped at MaxDelay, with equal
// jitter: at least half the delay (jitter 0), at most all of it (the
// largest jitter), never beyond the cap however large the attempt.
func TestBackoff(t *testing.T) {
	policy := gateway.RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Minute}
	low := func(int64) int64 { return 0 }
	high := func(n int64) int64 { return n - 1 }
	tests := []struct {
		attempt int
		delay   time.Duration // before jitter
	}{
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{6, 32 * time.Second},
		{7, time.Minute}, // 64 s, capped
		{40, time.Minute},
		{41, time.Minute}, // the shift would overflow
		{1000, time.Minute},
	}
	for _, tt := range tests {
		if got := Backoff(policy, tt.attempt, low); got != tt.delay/2 {
			t.Errorf("Backoff(attempt %d, no jitter) = %s, want %s", tt.attempt, got, tt.delay/2)
		}
		if got := Backoff(policy, tt.attempt, high); got != tt.delay {
			t.Errorf("Backoff(attempt %d, largest jitter) = %s, want %s", tt.attempt, got, tt.delay)
		}
		var asked int64
		Backoff(policy, tt.attempt, func(n int64) int64 { asked = n; return 0 })
		if asked != int64(tt.delay/2)+1 {
			t.Errorf("Backoff(attempt %d) drew jitter below %d, want below %d", tt.attempt, asked, int64(tt.delay/2)+1)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		attempt := 1 + rnd.IntN(12)
		got := Backoff(policy, attempt, rnd.Int64N)
		ceiling := min(time.Second<<(attempt-1), time.Minute)
		if got < ceiling/2 || got > ceiling {
			t.Fatalf("Backoff(attempt %d) = %s, want within [%s, %s]", attempt, got, ceiling/2, ceiling)
		}
	}
	// The default policy: the first retry within [0.5 s, 1 s], the cap 10 min.
	def := gateway.RetryPolicy{}.WithDefaults()
	d := NewDispatcher(nil, nil, Env{}, DispatcherOptions{Seed: 42})
	if got := d.Backoff(def, 1); got < 500*time.Millisecond || got > time.Second {
		t.Errorf("default first backoff %s", got)
	}
	if got := d.Backoff(def, 30); got < 5*time.Minute || got > 10*time.Minute {
		t.Errorf("default capped backoff %s", got)
	}
	// The same seed draws the same jitter.
	a, b := NewDispatcher(nil, nil, Env{}, DispatcherOptions{Seed: 7}), NewDispatcher(nil, nil, Env{}, DispatcherOptions{Seed: 7})
	for n := 1; n <= 10; n++ {
		if x, y := a.Backoff(def, n), b.Backoff(def, n); x != y {
			t.Fatalf("seed 7, attempt %d: %s and %s", n, x, y)
		}
	}
}

// TestPolicyFor: a partner's retry policy with its defaults, or the
// defaults for a partner no longer configured.
func TestPolicyFor(t *testing.T) {
	if got, want := PolicyFor(nil).Retry, (gateway.RetryPolicy{}).WithDefaults(); got != want {
		t.Errorf("PolicyFor(nil) = %+v, want %+v", got, want)
	}
	p := &gateway.Partner{Retry: gateway.RetryPolicy{MaxAttempts: 3}}
	if got := PolicyFor(p).Retry; got.MaxAttempts != 3 || got.MaxAge != gateway.DefaultMaxAge {
		t.Errorf("PolicyFor(partner) = %+v", got)
	}
}
