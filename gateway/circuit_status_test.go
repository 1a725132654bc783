package gateway

import (
	"testing"
	"time"
)

// TestCircuitStatus: a breaker reports closed, then open with the time
// its cooldown ends once it trips, then half-open when the cooldown has
// passed; without breakers it reports nothing.
func TestCircuitStatus(t *testing.T) {
	if st, until := NewCircuits(CircuitPolicy{}).CircuitStatus("330702"); st != "" || !until.IsZero() {
		t.Errorf("no breakers: got %q %v, want nothing", st, until)
	}
	const cooldown = 80 * time.Millisecond
	c := NewCircuits(CircuitPolicy{Failures: 2, Cooldown: cooldown})
	if st, until := c.CircuitStatus("330702"); st != CircuitClosed || !until.IsZero() {
		t.Fatalf("new breaker: got %q %v, want closed", st, until)
	}
	before := time.Now()
	for range 2 {
		done, _, ok := c.Allow("330702")
		if !ok {
			t.Fatal("a closed circuit refused a call")
		}
		done(true)
	}
	after := time.Now()
	st, until := c.CircuitStatus("330702")
	if st != CircuitOpen || until.Before(before.Add(cooldown)) || until.After(after.Add(cooldown)) {
		t.Fatalf("after 2 failures: got %q until %v, want open until %v..%v", st, until, before.Add(cooldown), after.Add(cooldown))
	}
	if st, _ := c.CircuitStatus("320404"); st != CircuitClosed {
		t.Errorf("another partner: got %q, want closed", st)
	}
	time.Sleep(time.Until(until) + 10*time.Millisecond)
	if st, until := c.CircuitStatus("330702"); st != CircuitHalfOpen || !until.IsZero() {
		t.Errorf("after the cooldown: got %q %v, want half-open", st, until)
	}
}
