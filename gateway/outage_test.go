package gateway_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/outbox"
)

// TestDistrictDownForAnHour: the sender district 320404 refuses every
// request for a simulated hour (the injected clock moves a minute per
// step) while the owner reports the lifecycle of six cases, each update
// a delivery back to 320404. The dispatcher runs as serve runs it: a
// circuit breaker per partner (5 failures) and a per-partner limit. When
// the district is back, every update reaches it, each case's in
// lifecycle order, and none twice.
//
// With the default policy (sized so that only the 24-hour age ends
// retrying) nothing needs an operator. With a policy of 12 attempts,
// which the backoff spends in 14 to 27 minutes, deliveries become dead
// letters during the hour, holding back the later updates of their case;
// the operator's redelivery of the partner's dead letters (tongban
// redeliver --partner) then gets everything delivered, still in order.
func TestDistrictDownForAnHour(t *testing.T) {
	for _, tt := range []struct {
		name       string
		retry      gateway.RetryPolicy
		redeliver  bool // the operator redelivers dead letters after the outage
		wantDeadIn bool // dead letters are expected during the outage
	}{
		{name: "default policy", retry: gateway.RetryPolicy{}},
		{name: "12 attempts and an operator", retry: gateway.RetryPolicy{MaxAttempts: 12}, redeliver: true, wantDeadIn: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.retry)
			core := e.withCore(t, node.Options{Dispatcher: outbox.DispatcherOptions{Seed: 7, PerPartner: 8,
				// The cooldown runs on the wall clock: short, so that the
				// simulated minute between steps always outlasts it.
				Circuit: gateway.CircuitPolicy{Failures: 5, Cooldown: time.Millisecond}}})
			disp := core.Outbox.Dispatcher()
			step := func() {
				t.Helper()
				time.Sleep(2 * time.Millisecond) // the cooldown, on the wall clock
				e.clock.Advance(time.Minute)
				for range 50 {
					n, err := disp.RunOnce(e.ctx)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						return
					}
				}
				t.Fatal("a step did not drain within 50 rounds")
			}

			const nCases = 6
			lifecycle := []contracts.CaseState{contracts.CaseStateAccepted, contracts.CaseStateInProgress, contracts.CaseStateConcluded}
			var ids []string
			for range nCases {
				ids = append(ids, e.newCase())
			}
			step() // the owner gets the cases
			for _, id := range ids {
				if d := e.caseDeliveryOf(id); d.State != contracts.TransportStateDelivered {
					t.Fatalf("case %s not delivered to the owner before the outage: %s", id, d.State)
				}
			}

			sender := e.districts[zhonglou].sim
			sender.SetFaults(partnersim.Faults{FailFirst: 1 << 30})
			// During the hour: case i's k-th update at minute 15k+2i.
			for minute := 1; minute <= 60; minute++ {
				for i, id := range ids {
					for k, st := range lifecycle {
						if minute == 15*(k+1)+2*i {
							e.reportOK(e.update(id, st))
						}
					}
				}
				step()
			}
			tried := sender.Attempts()
			counts := e.countByState()
			t.Logf("after the hour: %d requests reached the refusing district for %d updates; deliveries %v; partner %+v",
				tried, nCases*len(lifecycle), counts, partnerState(disp, zhonglou))
			if got := counts[contracts.TransportStateDead]; (got > 0) != tt.wantDeadIn {
				t.Errorf("%d dead letters after the hour; expected some: %v", got, tt.wantDeadIn)
			}
			if len(sender.StatusDeliveries()) != 0 {
				t.Fatal("the district acknowledged updates while refusing everything")
			}

			sender.SetFaults(partnersim.Faults{})
			if tt.redeliver {
				res, err := core.Outbox.Redelivery().RedeliverPartner(e.ctx, e.principal(operator), zhonglou)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("the operator redelivered %d dead letters", res.Count)
			}
			back := e.clock.Now()
			for range 120 { // at most two simulated hours
				step()
				if countOpen(e) == 0 {
					break
				}
			}
			if n := countOpen(e); n != 0 {
				t.Fatalf("%d deliveries still not delivered two simulated hours after the district came back: %v", n, e.countByState())
			}
			t.Logf("all delivered %s (simulated) after the district came back", e.clock.Now().Sub(back))

			// Each case's updates reached the district once each, in order.
			heard := map[string][]string{}
			for _, d := range sender.StatusDeliveries() {
				heard[d.CaseID] = append(heard[d.CaseID], string(d.Update.State))
			}
			want := strings.Join(states(lifecycle), ",")
			for _, id := range ids {
				if got := strings.Join(heard[id], ","); got != want {
					t.Errorf("case %s: the district heard %s, want %s", id, got, want)
				}
			}
			for _, id := range ids {
				var got []int64
				for _, d := range e.statusDeliveriesOf(id) {
					if d.State != contracts.TransportStateDelivered {
						t.Errorf("case %s: delivery %s is %s", id, d.ID, d.State)
					}
					got = append(got, d.DeliveredAt.UnixNano())
				}
				if !slices.IsSorted(got) {
					t.Errorf("case %s: delivered out of order (delivered_at %v)", id, got)
				}
			}
		})
	}
}

// partnerState returns the dispatcher's state of partner.
func partnerState(d *outbox.Dispatcher, partner string) outbox.PartnerState {
	for _, s := range d.PartnerStates() {
		if s.Partner == partner {
			return s
		}
	}
	return outbox.PartnerState{}
}

// countOpen returns how many deliveries are not yet delivered (or cancelled).
func countOpen(e *env) int {
	n := 0
	for st, c := range e.countByState() {
		if st != contracts.TransportStateDelivered && st != contracts.TransportStateCancelled {
			n += c
		}
	}
	return n
}
