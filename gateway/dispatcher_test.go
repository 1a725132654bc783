package gateway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/outbox"
	"github.com/tongban/tongban/signing"
)

// caseDeliveryOf returns the case's first case delivery.
func (e *env) caseDeliveryOf(caseID string) *gateway.Delivery {
	e.t.Helper()
	for _, d := range e.deliveries(caseID) {
		if d.Kind == contracts.DeliveryKindCase {
			return d
		}
	}
	e.t.Fatalf("case %s has no case delivery", caseID)
	return nil
}

// statusDeliveriesOf returns the case's status deliveries in Seq order.
func (e *env) statusDeliveriesOf(caseID string) []*gateway.Delivery {
	e.t.Helper()
	var out []*gateway.Delivery
	for _, d := range e.deliveries(caseID) {
		if d.Kind == contracts.DeliveryKindStatus {
			out = append(out, d)
		}
	}
	return out
}

func TestDispatcherDeliversCaseAndStoresAck(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	caseID := e.newCase()
	e.clock.Advance(3 * time.Second)
	if n := e.runOnce(); n != 1 {
		t.Fatalf("RunOnce attempted %d, want 1", n)
	}
	if n := e.runOnce(); n != 0 {
		t.Fatalf("second RunOnce attempted %d, want 0", n)
	}
	owner := e.districts[wucheng]
	caseNo, ok := owner.sim.CaseNo(caseID)
	if !ok || caseNo == "" {
		t.Fatal("the owner's simulator did not receive the case")
	}
	c := e.getCase(caseID)
	if c.State != contracts.CaseStateForwarded || c.OwnerCaseNo != caseNo {
		t.Errorf("case %s, owner_case_no %q; want forwarded, %q", c.State, c.OwnerCaseNo, caseNo)
	}
	h := e.history(caseID)
	if len(h) != 2 || h[1].State != contracts.CaseStateForwarded || h[1].ReportedBy != wucheng || !h[1].At.Equal(e.clock.Now()) {
		t.Errorf("history %+v, want received then forwarded by %s", h, wucheng)
	}

	d := e.caseDeliveryOf(caseID)
	if d.State != contracts.TransportStateDelivered || d.Attempts != 1 || !d.DeliveredAt.Equal(e.clock.Now()) || d.LastError != "" {
		t.Errorf("delivery %s, attempts %d, delivered_at %s, last_error %q", d.State, d.Attempts, d.DeliveredAt, d.LastError)
	}
	if d.Ack == nil || d.Ack.PartnerCaseNo != caseNo || d.Ack.ExchangeID != d.ExchangeID || d.Ack.KeyID != wucheng {
		t.Fatalf("stored ack %+v", d.Ack)
	}
	// The evidence: the partner's exact bytes and its signature, which
	// verifies with the partner's key.
	if err := signing.Verify(owner.key.Public(), d.AckBody, d.AckSig); err != nil {
		t.Errorf("stored ack signature does not verify with the owner's key: %v", err)
	}
	var raw contracts.Ack
	if err := json.Unmarshal(d.AckBody, &raw); err != nil || raw != *d.Ack {
		t.Errorf("stored ack body %s does not match the stored ack %+v (%v)", d.AckBody, d.Ack, err)
	}
	got := owner.sim.Cases()
	if len(got) != 1 || got[0].CaseID != caseID || got[0].DeliveryID != d.ID {
		t.Errorf("owner received %+v", got)
	}
	if m := e.countByState(); m[contracts.TransportStateDelivered] != 1 || total(m) != 1 {
		t.Errorf("counts %v, want one delivered", m)
	}
}

// An owner may report accepted before its acknowledgement is recorded; the
// late acknowledgement then records the owner's case number but does not
// move the case back to forwarded.
func TestDispatcherLateAckKeepsReportedState(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	caseID := e.newCase()
	e.reportOK(e.update(caseID, contracts.CaseStateAccepted))
	e.drain()
	c := e.getCase(caseID)
	caseNo, _ := e.districts[wucheng].sim.CaseNo(caseID)
	if c.State != contracts.CaseStateAccepted || c.OwnerCaseNo != caseNo {
		t.Errorf("case %s, owner_case_no %q; want accepted, %q", c.State, c.OwnerCaseNo, caseNo)
	}
	for _, h := range e.history(caseID) {
		if h.State == contracts.CaseStateForwarded {
			t.Error("history records forwarded after accepted")
		}
	}
}

// Per-case order: while the first status delivery of a case to the sender
// is failing, the later ones to the sender wait, even when due.
func TestDispatcherKeepsPerCaseOrder(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{BaseDelay: time.Second})
	caseID := e.newCase()
	e.drain()
	sender := e.districts[zhonglou].sim
	sender.SetFaults(partnersim.Faults{FailFirst: 1000})
	e.reportOK(e.update(caseID, contracts.CaseStateAccepted))
	e.reportOK(e.update(caseID, contracts.CaseStateInProgress))
	e.reportOK(e.update(caseID, contracts.CaseStateConcluded))
	sd := e.statusDeliveriesOf(caseID)
	if len(sd) != 3 {
		t.Fatalf("%d status deliveries, want 3", len(sd))
	}

	for round := 1; round <= 3; round++ {
		if n := e.runOnce(); n != 1 {
			t.Fatalf("round %d: attempted %d, want only the first status delivery", round, n)
		}
		first := e.delivery(sd[0].ID)
		if first.State != contracts.TransportStateRetryWait || first.Attempts != round {
			t.Fatalf("round %d: first delivery %s after %d attempts", round, first.State, first.Attempts)
		}
		for _, later := range sd[1:] {
			if d := e.delivery(later.ID); d.State != contracts.TransportStatePending || d.Attempts != 0 {
				t.Fatalf("round %d: a later delivery is %s after %d attempts; it must wait", round, d.State, d.Attempts)
			}
		}
		e.clock.AdvanceTo(first.NextAt.Add(time.Hour)) // everything is long due
	}
	if got := sender.Attempts(); got != 3 {
		t.Errorf("sender saw %d attempts, want 3", got)
	}
	if n := len(sender.StatusDeliveries()); n != 0 {
		t.Fatalf("sender acknowledged %d deliveries while failing", n)
	}

	sender.SetFaults(partnersim.Faults{})
	for i := range sd {
		if n := e.runOnce(); n != 1 {
			t.Fatalf("after recovery, round %d attempted %d, want 1 (one at a time, in order)", i+1, n)
		}
	}
	if n := e.runOnce(); n != 0 {
		t.Errorf("attempted %d after all were delivered", n)
	}
	var got []contracts.CaseState
	for _, s := range sender.StatusDeliveries() {
		got = append(got, s.Update.State)
	}
	want := []contracts.CaseState{contracts.CaseStateAccepted, contracts.CaseStateInProgress, contracts.CaseStateConcluded}
	if strings.Join(states(got), ",") != strings.Join(states(want), ",") {
		t.Errorf("sender received %v, want %v", got, want)
	}
}

// The order rule is per case and per destination (Store.ClaimDue): a case
// delivery still retrying at the owner does not hold back status deliveries
// to the sender, and the owner's trouble does not hold back other cases.
func TestDispatcherOrderIsPerCaseAndPartner(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{BaseDelay: time.Second})
	owner := e.districts[wucheng].sim
	owner.SetFaults(partnersim.Faults{FailFirst: 1})
	stuck := e.newCase()
	if n := e.runOnce(); n != 1 {
		t.Fatalf("attempted %d", n)
	}
	if d := e.caseDeliveryOf(stuck); d.State != contracts.TransportStateRetryWait {
		t.Fatalf("case delivery %s, want retry_wait", d.State)
	}
	// The owner got the case through another channel and answers it
	// before the gateway recorded an acknowledgement.
	e.reportOK(e.update(stuck, contracts.CaseStateAccepted))
	other := e.newCase()
	if n := e.runOnce(); n != 2 {
		t.Fatalf("attempted %d, want the status delivery and the other case", n)
	}
	if d := e.statusDeliveriesOf(stuck)[0]; d.State != contracts.TransportStateDelivered {
		t.Errorf("status delivery to the sender is %s", d.State)
	}
	if d := e.caseDeliveryOf(other); d.State != contracts.TransportStateDelivered {
		t.Errorf("other case's delivery is %s", d.State)
	}
	if d := e.caseDeliveryOf(stuck); d.State != contracts.TransportStateRetryWait || d.Attempts != 1 {
		t.Errorf("stuck case delivery %s after %d attempts, want retry_wait after 1 (not yet due)", d.State, d.Attempts)
	}
}

func states(s []contracts.CaseState) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}

func TestDispatcherRetriesUntilPartnerRecovers(t *testing.T) {
	policy := gateway.RetryPolicy{BaseDelay: 2 * time.Second, MaxDelay: 10 * time.Minute}
	e := newEnv(t, policy)
	owner := e.districts[wucheng].sim
	owner.SetFaults(partnersim.Faults{FailFirst: 5})
	caseID := e.newCase()
	id := e.caseDeliveryOf(caseID).ID

	var prevDelay time.Duration
	var prevNext time.Time
	for attempt := 1; attempt <= 5; attempt++ {
		if n := e.runOnce(); n != 1 {
			t.Fatalf("attempt %d: RunOnce attempted %d", attempt, n)
		}
		now := e.clock.Now()
		d := e.delivery(id)
		if d.State != contracts.TransportStateRetryWait || d.Attempts != attempt {
			t.Fatalf("attempt %d: delivery %s with %d attempts, want retry_wait with %d", attempt, d.State, d.Attempts, attempt)
		}
		if d.LastError == "" || !strings.Contains(d.LastError, "503") {
			t.Errorf("attempt %d: last_error %q, want the partner's 503", attempt, d.LastError)
		}
		if !d.LeaseUntil.IsZero() {
			t.Errorf("attempt %d: lease %s not cleared", attempt, d.LeaseUntil)
		}
		delay := d.NextAt.Sub(now)
		ceiling := policy.BaseDelay << (attempt - 1)
		if delay < ceiling/2 || delay > ceiling {
			t.Errorf("attempt %d: next attempt in %s, want within [%s, %s]", attempt, delay, ceiling/2, ceiling)
		}
		if !d.NextAt.After(now) || !d.NextAt.After(prevNext) || delay < prevDelay {
			t.Errorf("attempt %d: next_at %s (delay %s) does not grow from %s (delay %s)", attempt, d.NextAt, delay, prevNext, prevDelay)
		}
		prevDelay, prevNext = delay, d.NextAt
		if got := owner.Attempts(); got != attempt {
			t.Errorf("owner saw %d requests after %d attempts (max_retries 0)", got, attempt)
		}

		// Not a moment early.
		e.clock.AdvanceTo(d.NextAt.Add(-time.Millisecond))
		if n := e.runOnce(); n != 0 {
			t.Fatalf("attempt %d: retried %d before next_at", attempt, n)
		}
		e.clock.AdvanceTo(d.NextAt)
	}
	if n := e.runOnce(); n != 1 {
		t.Fatalf("6th attempt: RunOnce attempted %d", n)
	}
	d := e.delivery(id)
	// (last_error keeps the last failed attempt's reason: the store does not
	// write it with Change.Delivered.)
	if d.State != contracts.TransportStateDelivered || d.Attempts != 6 || !d.DeliveredAt.Equal(e.clock.Now()) || d.Ack == nil {
		t.Errorf("after recovery: %s, %d attempts, delivered_at %s, ack %+v", d.State, d.Attempts, d.DeliveredAt, d.Ack)
	}
	if got := owner.Attempts(); got != 6 {
		t.Errorf("owner saw %d requests, want 6", got)
	}
	if n := len(owner.Cases()); n != 1 {
		t.Errorf("owner acknowledged %d cases, want 1", n)
	}
	if c := e.getCase(caseID); c.State != contracts.CaseStateForwarded || c.OwnerCaseNo == "" {
		t.Errorf("case %s, owner_case_no %q", c.State, c.OwnerCaseNo)
	}
}

// runToDead runs rounds, advancing the clock to each next_at, until the
// delivery is dead (at most limit rounds).
func (e *env) runToDead(id string, limit int) *gateway.Delivery {
	e.t.Helper()
	for range limit {
		e.runOnce()
		d := e.delivery(id)
		if d.State == contracts.TransportStateDead {
			return d
		}
		if d.State != contracts.TransportStateRetryWait {
			e.t.Fatalf("delivery is %s, want retry_wait or dead", d.State)
		}
		e.clock.AdvanceTo(d.NextAt)
	}
	e.t.Fatalf("delivery %s not dead after %d rounds", id, limit)
	return nil
}

func TestDispatcherDeadLetterAndRedeliver(t *testing.T) {
	const maxAttempts = 4
	e := newEnv(t, gateway.RetryPolicy{MaxAttempts: maxAttempts, BaseDelay: time.Second})
	owner := e.districts[wucheng].sim
	owner.SetFaults(partnersim.Faults{FailFirst: 1 << 20})
	caseID := e.newCase()
	id := e.caseDeliveryOf(caseID).ID

	d := e.runToDead(id, 3*maxAttempts)
	if d.Attempts != maxAttempts || owner.Attempts() != maxAttempts {
		t.Errorf("dead after %d attempts (partner saw %d), want %d", d.Attempts, owner.Attempts(), maxAttempts)
	}
	if !strings.Contains(d.LastError, "gave up after 4 attempts") || !strings.Contains(d.LastError, "503") {
		t.Errorf("last_error %q", d.LastError)
	}
	e.clock.Advance(time.Hour)
	if n := e.runOnce(); n != 0 {
		t.Fatalf("a dead letter was attempted (%d)", n)
	}
	if m := e.countByState(); m[contracts.TransportStateDead] != 1 {
		t.Errorf("counts %v, want one dead", m)
	}

	// Only operators redeliver; unknown and live deliveries are refused.
	_, err := e.core.Outbox.Redelivery().Redeliver(e.ctx, e.principal(wucheng), id)
	wantCode(t, err, contracts.CodeForbidden)
	_, err = e.core.Outbox.Redelivery().Redeliver(e.ctx, e.principal(auditor), id)
	wantCode(t, err, contracts.CodeForbidden)
	_, err = e.core.Outbox.Redelivery().Redeliver(e.ctx, e.principal(operator), e.newExchangeID())
	wantCode(t, err, contracts.CodeNotFound)

	res, err := e.core.Outbox.Redelivery().Redeliver(e.ctx, e.principal(operator), id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || len(res.Redelivered) != 1 || res.Redelivered[0] != id {
		t.Errorf("result %+v", res)
	}
	d = e.delivery(id)
	if d.State != contracts.TransportStatePending || d.Attempts != 0 || !d.NextAt.Equal(e.clock.Now()) {
		t.Errorf("after redeliver: %s, %d attempts, next_at %s (now %s)", d.State, d.Attempts, d.NextAt, e.clock.Now())
	}
	_, err = e.core.Outbox.Redelivery().Redeliver(e.ctx, e.principal(operator), id)
	wantCode(t, err, contracts.CodeInvalidTransition)

	owner.SetFaults(partnersim.Faults{})
	if n := e.runOnce(); n != 1 {
		t.Fatalf("RunOnce after redeliver attempted %d", n)
	}
	d = e.delivery(id)
	if d.State != contracts.TransportStateDelivered || d.Attempts != 1 {
		t.Errorf("redelivered: %s after %d attempts", d.State, d.Attempts)
	}
	if c := e.getCase(caseID); c.State != contracts.CaseStateForwarded {
		t.Errorf("case %s, want forwarded", c.State)
	}
	_, err = e.core.Outbox.Redelivery().Redeliver(e.ctx, e.principal(operator), id)
	wantCode(t, err, contracts.CodeInvalidTransition)

	// The case's audit trace shows the redelivery, between the dead
	// letter and the attempt that delivered it.
	tr, err := e.core.Auditor.TraceCase(e.ctx, e.principal(auditor), caseID)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, en := range tr.Timeline {
		if en.Event == contracts.EventAdminRedeliver || en.Event == contracts.EventDeliveryAttempt && en.Outcome != "retry_wait" {
			steps = append(steps, en.Event+":"+en.Outcome+":"+en.Actor)
		}
	}
	want := "delivery.attempt:dead:gateway,admin.redeliver::" + operator + ",delivery.attempt:delivered:gateway"
	if got := strings.Join(steps, ","); got != want {
		t.Errorf("trace of the case: %s, want %s", got, want)
	}
}

func TestDispatcherPermanentErrorIsDeadAtOnce(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	owner := e.districts[wucheng].sim
	owner.SetFaults(partnersim.Faults{BadSignature: true})
	caseID := e.newCase()
	if n := e.runOnce(); n != 1 {
		t.Fatalf("attempted %d", n)
	}
	d := e.caseDeliveryOf(caseID)
	if d.State != contracts.TransportStateDead || d.Attempts != 1 {
		t.Fatalf("delivery %s after %d attempts, want dead after 1", d.State, d.Attempts)
	}
	if !strings.HasPrefix(d.LastError, "permanent: ") || !strings.Contains(d.LastError, "signature") {
		t.Errorf("last_error %q", d.LastError)
	}
	if d.Ack != nil || len(d.AckBody) != 0 {
		t.Error("a refused acknowledgement was stored")
	}
	if c := e.getCase(caseID); c.State != contracts.CaseStateReceived || c.OwnerCaseNo != "" {
		t.Errorf("case %s, owner_case_no %q; an unverified ack must not move it", c.State, c.OwnerCaseNo)
	}
	e.clock.Advance(24 * time.Hour)
	if n := e.runOnce(); n != 0 {
		t.Errorf("dead letter attempted again (%d)", n)
	}
	if got := owner.Attempts(); got != 1 {
		t.Errorf("owner saw %d requests, want 1", got)
	}
}

func TestServiceRedeliverPartner(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	owner := e.districts[wucheng].sim
	sender := e.districts[zhonglou].sim
	owner.SetFaults(partnersim.Faults{BadSignature: true})
	sender.SetFaults(partnersim.Faults{BadSignature: true})
	c1, c2 := e.newCase(), e.newCase()
	e.reportOK(e.update(c1, contracts.CaseStateAccepted)) // a dead letter to the sender too
	if n := e.runOnce(); n != 3 {
		t.Fatalf("attempted %d, want 3", n)
	}
	if m := e.countByState(); m[contracts.TransportStateDead] != 3 {
		t.Fatalf("counts %v, want 3 dead", m)
	}
	d1, d2 := e.caseDeliveryOf(c1), e.caseDeliveryOf(c2)
	toSender := e.statusDeliveriesOf(c1)[0]

	_, err := e.core.Outbox.Redelivery().RedeliverPartner(e.ctx, e.principal(wucheng), wucheng)
	wantCode(t, err, contracts.CodeForbidden)
	_, err = e.core.Outbox.Redelivery().RedeliverPartner(e.ctx, e.principal(operator), "999999")
	wantCode(t, err, contracts.CodeNotFound)
	none, err := e.core.Outbox.Redelivery().RedeliverPartner(e.ctx, e.principal(operator), chiping)
	if err != nil || none.Count != 0 || none.Redelivered == nil || len(none.Redelivered) != 0 {
		t.Errorf("partner without dead letters: %+v, %v; want count 0 and an empty list", none, err)
	}

	res, err := e.core.Outbox.Redelivery().RedeliverPartner(e.ctx, e.principal(operator), wucheng)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2 || len(res.Redelivered) != 2 || res.Redelivered[0] != d1.ID || res.Redelivered[1] != d2.ID {
		t.Errorf("redelivered %+v, want [%s %s]", res, d1.ID, d2.ID)
	}
	if d := e.delivery(toSender.ID); d.State != contracts.TransportStateDead {
		t.Errorf("the sender's dead letter is %s; only the named partner's are redelivered", d.State)
	}
	for _, id := range res.Redelivered {
		if d := e.delivery(id); d.State != contracts.TransportStatePending || d.Attempts != 0 {
			t.Errorf("%s: %s after redelivery with %d attempts", id, d.State, d.Attempts)
		}
	}

	owner.SetFaults(partnersim.Faults{})
	e.drain()
	for _, id := range []string{c1, c2} {
		if d := e.caseDeliveryOf(id); d.State != contracts.TransportStateDelivered {
			t.Errorf("case %s: delivery %s", id, d.State)
		}
	}
	if c := e.getCase(c2); c.State != contracts.CaseStateForwarded {
		t.Errorf("case 2 is %s, want forwarded", c.State)
	}
	if c := e.getCase(c1); c.State != contracts.CaseStateAccepted {
		t.Errorf("case 1 is %s, want accepted (the late ack keeps it)", c.State)
	}
	if m := e.countByState(); m[contracts.TransportStateDead] != 1 || m[contracts.TransportStateDelivered] != 2 {
		t.Errorf("counts %v, want 1 dead, 2 delivered", m)
	}
}

func TestBackoff(t *testing.T) {
	policy := gateway.RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Minute}.WithDefaults()
	tests := []struct {
		attempt int
		ceiling time.Duration
	}{
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{4, 8 * time.Second},
		{5, 16 * time.Second},
		{6, 32 * time.Second},
		{7, time.Minute}, // 64s capped
		{8, time.Minute},
		{30, time.Minute},
		{40, time.Minute},
		{41, time.Minute},
		{63, time.Minute},
		{64, time.Minute},
		{100, time.Minute},
		{1 << 20, time.Minute},
	}
	a := outbox.NewDispatcher(nil, nil, outbox.Env{}, outbox.DispatcherOptions{Seed: 42})
	b := outbox.NewDispatcher(nil, nil, outbox.Env{}, outbox.DispatcherOptions{Seed: 42})
	for _, tt := range tests {
		distinct := map[time.Duration]bool{}
		for range 20 {
			got := a.Backoff(policy, tt.attempt)
			if got < tt.ceiling/2 || got > tt.ceiling {
				t.Errorf("Backoff(attempt %d) = %s, want within [%s, %s]", tt.attempt, got, tt.ceiling/2, tt.ceiling)
			}
			if again := b.Backoff(policy, tt.attempt); again != got {
				t.Errorf("attempt %d: same seed gave %s and %s", tt.attempt, got, again)
			}
			distinct[got] = true
		}
		if len(distinct) < 2 {
			t.Errorf("attempt %d: 20 delays were all %v; want jitter", tt.attempt, distinct)
		}
	}

	// The default policy caps at 10 minutes.
	def := gateway.RetryPolicy{}.WithDefaults()
	for _, n := range []int{10, 11, 12, 50} {
		if got := a.Backoff(def, n); got < 5*time.Minute || got > 10*time.Minute {
			t.Errorf("default policy, attempt %d: %s, want within [5m, 10m]", n, got)
		}
	}
	if got := a.Backoff(def, 1); got < 500*time.Millisecond || got > time.Second {
		t.Errorf("default policy, attempt 1: %s, want within [500ms, 1s]", got)
	}
}

// A dispatcher that claimed a delivery and crashed leaves it in flight; once
// its lease expires another round takes it over, and first records the
// cut-off attempt (outcome interrupted, counted as attempt 1).
func TestDispatcherReclaimsExpiredLease(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	caseID := e.newCase()
	claimed, err := e.store.ClaimDue(e.ctx, e.clock.Now(), time.Minute, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimDue: %d, %v", len(claimed), err)
	}
	if n := e.runOnce(); n != 0 {
		t.Fatalf("attempted %d while another dispatcher holds the lease", n)
	}
	e.clock.Advance(time.Minute)
	if n := e.runOnce(); n != 1 {
		t.Fatalf("attempted %d after the lease expired, want 1", n)
	}
	d := e.caseDeliveryOf(caseID)
	if d.State != contracts.TransportStateDelivered || d.Attempts != 2 {
		t.Errorf("delivery %s after %d attempts, want delivered after 2 (the interrupted one counts)", d.State, d.Attempts)
	}
	rows, err := e.store.CaseEvidence(e.ctx, caseID)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, row := range rows {
		var r contracts.EvidenceRecord
		if err := json.Unmarshal(row.Record, &r); err != nil {
			t.Fatal(err)
		}
		if r.Event == contracts.EventDeliveryAttempt && r.DeliveryID == d.ID {
			var det contracts.EvidenceDetail
			if err := json.Unmarshal(r.Detail, &det); err != nil {
				t.Fatal(err)
			}
			outcomes = append(outcomes, fmt.Sprintf("%d:%s", det.Attempt, det.Outcome))
		}
	}
	if got := strings.Join(outcomes, ","); got != "1:interrupted,2:delivered" {
		t.Errorf("attempt records %s, want 1:interrupted,2:delivered", got)
	}
	if c := e.getCase(caseID); c.State != contracts.CaseStateForwarded {
		t.Errorf("case %s", c.State)
	}
}

// An operator's redelivery resets Attempts to 0 (Store.Redeliver), a fresh
// retry budget, but Dispatcher.fail (its MaxAge case) measures MaxAge
// from Delivery.CreatedAt, which a redelivery keeps: a dead letter older
// than MaxAge (default 24h) that an operator redelivers goes straight back
// to dead on its first failed attempt, however transient.
func TestRedeliveredOldDeadLetterGetsAFullSchedule(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{MaxAttempts: 100, MaxAge: time.Hour, BaseDelay: time.Minute, MaxDelay: 10 * time.Minute})
	owner := e.districts[wucheng].sim
	owner.SetFaults(partnersim.Faults{FailFirst: 1 << 20})
	caseID := e.newCase()
	id := e.caseDeliveryOf(caseID).ID
	d := e.runToDead(id, 40)
	if !strings.Contains(d.LastError, "gave up after 1h0m0s") {
		t.Fatalf("dead for another reason: %q", d.LastError)
	}

	e.clock.Advance(2 * time.Hour)
	if _, err := e.core.Outbox.Redelivery().Redeliver(e.ctx, e.principal(operator), id); err != nil {
		t.Fatal(err)
	}
	owner.SetFaults(partnersim.Faults{FailFirst: 1}) // one more blip, then up
	if n := e.runOnce(); n != 1 {
		t.Fatalf("attempted %d", n)
	}
	d = e.delivery(id)
	if d.State != contracts.TransportStateRetryWait {
		t.Fatalf("redelivered dead letter is %s after one failed attempt (%q); want retry_wait", d.State, d.LastError)
	}
	e.clock.AdvanceTo(d.NextAt)
	if n := e.runOnce(); n != 1 {
		t.Fatalf("attempted %d", n)
	}
	if d := e.delivery(id); d.State != contracts.TransportStateDelivered {
		t.Errorf("delivery %s, want delivered", d.State)
	}
}

// Status reports and acknowledgements write the same case rows at the same
// time; the optimistic retries must lose nothing and keep each case's
// updates in order at the sender.
func TestDispatcherConcurrentWithReports(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	const n = 4
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.newCase()
	}
	steps := []contracts.CaseState{contracts.CaseStateAccepted, contracts.CaseStateInProgress, contracts.CaseStateConcluded}
	// Everything that may fail the test is built here, not in the goroutines.
	reports := map[string][]gateway.Inbound{}
	for _, id := range ids {
		for _, st := range steps {
			reports[id] = append(reports[id], e.signed(wucheng, mustJSON(t, e.update(id, st))))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n*len(steps)+1)
	for _, id := range ids {
		wg.Go(func() {
			for _, in := range reports[id] {
				var err error
				for try := 0; ; try++ {
					_, err = e.core.Cases.ReportStatus(e.ctx, id, in)
					if gateway.CodeOf(err) != contracts.CodeUnavailable || try == 5 {
						break
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := e.disp.RunOnce(e.ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.drain()

	perCase := map[string][]string{}
	for _, sd := range e.districts[zhonglou].sim.StatusDeliveries() {
		perCase[sd.CaseID] = append(perCase[sd.CaseID], string(sd.Update.State))
	}
	want := strings.Join(states(steps), ",")
	for _, id := range ids {
		c := e.getCase(id)
		if c.State != contracts.CaseStateConcluded || c.OwnerCaseNo == "" {
			t.Errorf("case %s: %s, owner_case_no %q", id, c.State, c.OwnerCaseNo)
		}
		if got := strings.Join(perCase[id], ","); got != want {
			t.Errorf("case %s: sender received %s, want %s", id, got, want)
		}
		for _, d := range e.deliveries(id) {
			if d.State != contracts.TransportStateDelivered {
				t.Errorf("case %s: %s delivery %s", id, d.Kind, d.State)
			}
		}
	}
}
