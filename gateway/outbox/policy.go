package outbox

import (
	"fmt"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// notAcknowledged is the reason a mailbox message offered too often, or
// for too long, becomes a dead letter.
const notAcknowledged = "not acknowledged"

// Policy is the outbox's state machine for one partner's deliveries: what
// a failed attempt, a mailbox offer, an acknowledgement and an operator's
// redelivery make of a delivery. It is pure: it reads no clock, no store
// and no random source of its own; the callers hand it the time and the
// facts and write what it decides.
type Policy struct {
	// Retry is the partner's retry policy, its zero fields already filled
	// with the defaults (see PolicyFor).
	Retry gateway.RetryPolicy
}

// PolicyFor returns the policy of partner p's deliveries: p's retry
// policy with the defaults filled in, or the default policy when p is nil
// (a delivery to a partner no longer configured).
func PolicyFor(p *gateway.Partner) Policy {
	if p == nil {
		return Policy{Retry: gateway.RetryPolicy{}.WithDefaults()}
	}
	return Policy{Retry: p.Retry.WithDefaults()}
}

// Transition is the state a delivery moves to, when it is due next and
// how the reason of the step is worded.
type Transition struct {
	// State is the delivery's new transport state.
	State contracts.TransportState
	// Next is when the delivery is due next: for retry_wait the next
	// attempt, for pending (a redelivery) now; zero otherwise.
	Next time.Time
	// Reset says the transition starts a new series of attempts (a
	// redelivery): Attempts goes back to 0 and Since becomes Next, so that
	// MaxAge counts afresh.
	Reset bool
	// prefix is what Why puts before the reason.
	prefix string
}

// Dead reports whether the transition makes the delivery a dead letter.
func (t Transition) Dead() bool { return t.State == contracts.TransportStateDead }

// Why words reason for the delivery's last error as the transition
// decided: "permanent: <reason>", "gave up after N attempts: <reason>",
// "gave up after N offers: <reason>", "gave up after <MaxAge>: <reason>",
// or reason unchanged for a delivery that will be tried again. The caller
// builds both texts of one failure from the same transition: the
// operators' (with the partner's own words) and the public one (the
// evidence log's, without them).
func (t Transition) Why(reason string) string { return t.prefix + reason }

// Failed decides what a failed push attempt makes of a delivery. attempts
// already counts the failed attempt; since is when the delivery's current
// series of attempts began (see Since); permanent and retryAfter are what
// the failure said of itself (port.DeliveryError). The rules, first match
// wins:
//
//   - permanent: dead, "permanent: <reason>";
//   - attempts >= MaxAttempts: dead, "gave up after <attempts> attempts: <reason>";
//   - now-since >= MaxAge: dead, "gave up after <MaxAge>: <reason>";
//   - else retry_wait, due at now + max(backoff(), retryAfter), "<reason>".
//
// backoff is called only in the last case, so a random jitter source is
// drawn from only for a delivery that will be retried.
func (p Policy) Failed(attempts int, since, now time.Time, permanent bool, retryAfter time.Duration, backoff func() time.Duration) Transition {
	switch {
	case permanent:
		return Transition{State: contracts.TransportStateDead, prefix: "permanent: "}
	case attempts >= p.Retry.MaxAttempts:
		return Transition{State: contracts.TransportStateDead, prefix: fmt.Sprintf("gave up after %d attempts: ", attempts)}
	case now.Sub(since) >= p.Retry.MaxAge:
		return p.tooOld()
	}
	return Transition{State: contracts.TransportStateRetryWait, Next: now.Add(max(backoff(), retryAfter))}
}

// Offer decides whether a mailbox message just claimed may be offered
// again, offered being the offers already made before this claim and
// since the start of its current series. The exhaustion rules are those
// of Failed, counting offers: offered >= MaxAttempts: dead, "gave up
// after <offered> offers: not acknowledged"; now-since >= MaxAge: dead,
// "gave up after <MaxAge>: not acknowledged"; else in_flight (offered
// once more). The caller words the last error of a dead message as
// Why("not acknowledged").
func (p Policy) Offer(offered int, since, now time.Time) Transition {
	switch {
	case offered >= p.Retry.MaxAttempts:
		return Transition{State: contracts.TransportStateDead, prefix: fmt.Sprintf("gave up after %d offers: ", offered)}
	case now.Sub(since) >= p.Retry.MaxAge:
		return p.tooOld()
	}
	return Transition{State: contracts.TransportStateInFlight}
}

// tooOld is the dead letter of a delivery whose series of attempts began
// MaxAge ago or more.
func (p Policy) tooOld() Transition {
	return Transition{State: contracts.TransportStateDead, prefix: fmt.Sprintf("gave up after %s: ", p.Retry.MaxAge)}
}

// Redeliverable reports whether an operator may redeliver a delivery in
// state: only a dead letter.
func (Policy) Redeliverable(state contracts.TransportState) bool {
	return state == contracts.TransportStateDead
}

// Redeliver is what an operator's redelivery makes of a dead letter:
// pending, due at now, with its attempts reset to 0 and a new series
// beginning at now (Reset). The store applies it
// (gateway.OutboxStore.Redeliver and RedeliverDead).
func (Policy) Redeliver(now time.Time) Transition {
	return Transition{State: contracts.TransportStatePending, Next: now, Reset: true}
}

// Acknowledgeable reports whether an acknowledgement may still mark a
// delivery delivered, given its state and lease as stored now and the
// lease claimed by the attempt that was acknowledged (ignored out of
// band): never once it is delivered or cancelled; an attempt's
// acknowledgement (outOfBand false) only while the stored lease is still
// the one its dispatcher claimed (else another dispatcher owns the
// delivery and its outcome stands); a mailbox acknowledgement (outOfBand
// true) in any other state, pending, in_flight, retry_wait or dead,
// whatever the lease. The store fences the write the same way
// (gateway.Change.OutOfBand); the outbox asks this to decide whether a
// refused write is worth another try and whether an acknowledgement has
// anything left to record.
func (Policy) Acknowledgeable(state contracts.TransportState, stored, claimed time.Time, outOfBand bool) bool {
	switch state {
	case contracts.TransportStateDelivered, contracts.TransportStateCancelled:
		return false
	}
	return outOfBand || stored.Equal(claimed)
}

// Backoff returns the delay before retry number attempt (1-based, at
// least 1):
// BaseDelay·2^(attempt−1) capped at MaxDelay, with "equal jitter": half
// the delay plus jitter(delay/2+1), a random point in the upper half, so
// that retries of many deliveries spread out. jitter(n) must return a
// value in [0, n).
func Backoff(retry gateway.RetryPolicy, attempt int, jitter func(n int64) int64) time.Duration {
	delay := retry.MaxDelay
	if attempt-1 < 40 {
		if e := retry.BaseDelay << (attempt - 1); e > 0 && e < retry.MaxDelay {
			delay = e
		}
	}
	return delay/2 + time.Duration(jitter(int64(delay/2)+1))
}

// Since returns when d's current series of attempts began: d.Since, or
// d.CreatedAt for a delivery stored before Since was kept.
func Since(d *gateway.Delivery) time.Time {
	if d.Since.IsZero() {
		return d.CreatedAt
	}
	return d.Since
}
