package gateway

import (
	"time"

	"github.com/sony/gobreaker/v2"
)

// CircuitStatus returns the state of partner's breaker, as State does
// (CircuitClosed, CircuitOpen, CircuitHalfOpen; "" when there are no
// breakers), and, while it is open, until when it refuses calls (wall
// clock: when it opened plus the cooldown); until is zero in the other
// states. A half-open circuit lets one trial call through; its outcome
// closes it or opens it again.
func (c *Circuits) CircuitStatus(partner string) (state string, until time.Time) {
	b := c.get(partner)
	if b == nil {
		return "", time.Time{}
	}
	switch b.cb.State() {
	case gobreaker.StateOpen:
		b.mu.Lock()
		defer b.mu.Unlock()
		return CircuitOpen, b.opened.Add(c.policy.Cooldown)
	case gobreaker.StateHalfOpen:
		return CircuitHalfOpen, time.Time{}
	}
	return CircuitClosed, time.Time{}
}
