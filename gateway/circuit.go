package gateway

import (
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// CircuitPolicy tunes the circuit breaker kept for each partner the core
// calls (a district's deliveries, a license library's lookups): after
// Failures failed calls in a row the circuit opens, and for Cooldown
// calls are refused without being made; then one trial call goes through
// (half-open): its success closes the circuit, its failure opens it for
// another Cooldown. Failures 0 means no breaker: every call is made.
// Cooldown zero means DefaultCircuitCooldown. The cooldown runs on the
// wall clock (the breaker library's), not on the injected Clock.
type CircuitPolicy struct {
	Failures int
	Cooldown time.Duration
}

// DefaultCircuitCooldown is how long an open circuit refuses calls when
// CircuitPolicy.Cooldown is zero.
const DefaultCircuitCooldown = 30 * time.Second

// Circuit states, as CircuitState reports them.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half-open"
)

// errCircuitFailure is what a failed call reports to the breaker.
var errCircuitFailure = errors.New("call failed")

// Circuits are the circuit breakers of one kind of call, one per partner,
// made on first use. The zero value and nil have no breakers (every call
// is allowed). It is safe for concurrent use.
type Circuits struct {
	policy CircuitPolicy
	mu     sync.Mutex
	by     map[string]*circuit
}

// circuit is one partner's breaker and when it last opened (wall clock).
type circuit struct {
	cb     *gobreaker.TwoStepCircuitBreaker[struct{}]
	mu     sync.Mutex
	opened time.Time
}

// NewCircuits returns the breakers of policy p (none when p.Failures is
// not positive).
func NewCircuits(p CircuitPolicy) *Circuits {
	if p.Cooldown <= 0 {
		p.Cooldown = DefaultCircuitCooldown
	}
	return &Circuits{policy: p, by: map[string]*circuit{}}
}

// get returns partner's breaker, nil when there are none.
func (c *Circuits) get(partner string) *circuit {
	if c == nil || c.policy.Failures <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.by[partner]; b != nil {
		return b
	}
	b := &circuit{}
	failures := uint32(c.policy.Failures)
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        partner,
		MaxRequests: 1,
		Timeout:     c.policy.Cooldown,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= failures },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.mu.Lock()
				b.opened = time.Now()
				b.mu.Unlock()
			}
		},
	})
	c.by[partner] = b
	return b
}

// Allow asks partner's breaker whether a call may be made now. When it
// may (ok), the caller makes the call and then calls done exactly once
// with its result: failed true when the partner gave no useful answer
// (unreachable, timed out, overloaded), which counts towards opening the
// circuit. Ask only for a call that will be made: an allowed call never
// reported keeps a half-open circuit waiting for its trial. When the call
// may not be made, ok is false and wait is how long the circuit stays
// open (at least a millisecond; the whole cooldown while a half-open
// circuit's trial call is in flight).
func (c *Circuits) Allow(partner string) (done func(failed bool), wait time.Duration, ok bool) {
	b := c.get(partner)
	if b == nil {
		return func(bool) {}, 0, true
	}
	report, err := b.cb.Allow()
	if err != nil {
		wait = c.policy.Cooldown
		if errors.Is(err, gobreaker.ErrOpenState) {
			b.mu.Lock()
			wait = c.policy.Cooldown - time.Since(b.opened)
			b.mu.Unlock()
		}
		return nil, max(wait, time.Millisecond), false
	}
	return func(failed bool) {
		if failed {
			report(errCircuitFailure)
		} else {
			report(nil)
		}
	}, 0, true
}

// State returns the state of partner's breaker: CircuitClosed,
// CircuitOpen or CircuitHalfOpen, or "" when there are no breakers.
func (c *Circuits) State(partner string) string {
	b := c.get(partner)
	if b == nil {
		return ""
	}
	switch b.cb.State() {
	case gobreaker.StateOpen:
		return CircuitOpen
	case gobreaker.StateHalfOpen:
		return CircuitHalfOpen
	}
	return CircuitClosed
}
