package gateway_test

import (
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Two senders may use the same exchange_id (it is unique per sender
// only). Their cases to one owner are two cases all the way through:
// both accepted, both delivered, the owner files each under a number of
// its own (it recognises repeats by delivery_id), and both cases are
// forwarded with those numbers.
func TestSameExchangeIDFromTwoSendersIsTwoCases(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	first := e.submission()
	a := e.submitOK(first).CaseID
	other := e.submission()
	other.ExchangeID = first.ExchangeID
	other.FromRegion, other.Window.Region, other.Window.WindowID = chiping, chiping, "window-"+chiping
	ans, err := e.core.Cases.SubmitCase(e.ctx, e.signed(chiping, mustJSON(t, other)))
	if err != nil {
		t.Fatalf("the second sender's case: %v", err)
	}
	b := e.receipt(ans).CaseID
	if a == b {
		t.Fatalf("both submissions answered with case %s", a)
	}
	e.drain()
	ca, cb := e.getCase(a), e.getCase(b)
	for _, c := range []struct{ id, state, no string }{{a, string(ca.State), ca.OwnerCaseNo}, {b, string(cb.State), cb.OwnerCaseNo}} {
		if c.state != string(contracts.CaseStateForwarded) || c.no == "" {
			t.Errorf("case %s: %s numbered %q, want forwarded with the owner's number", c.id, c.state, c.no)
		}
	}
	if ca.OwnerCaseNo == cb.OwnerCaseNo {
		t.Errorf("both cases numbered %q by the owner", ca.OwnerCaseNo)
	}
	if got := e.districts[wucheng].sim.Cases(); len(got) != 2 {
		t.Errorf("the owner filed %d cases, want 2", len(got))
	}
}
