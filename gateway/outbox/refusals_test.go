package outbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// recordsOf returns the details of the evidence records of delivery id
// with event, in the order written.
func (e *env) recordsOf(id, event string) []contracts.EvidenceDetail {
	e.t.Helper()
	var out []contracts.EvidenceDetail
	for _, r := range e.store.records() {
		if r.DeliveryID != id || r.Event != event {
			continue
		}
		var d contracts.EvidenceDetail
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// TestDispatcherRefusesAckOfAnotherCasesNumber: an owner that
// acknowledges a case with the case number it already gave another case
// (it took the second case for the first) does not get the delivery
// counted as delivered: the delivery is a dead letter whose record says
// why, the case stays received without the number, and its own number or
// a fresh one is taken.
func TestDispatcherRefusesAckOfAnotherCasesNumber(t *testing.T) {
	tests := []struct {
		name     string
		caseNo   string // what the owner answers for case-2
		accepted bool
	}{
		{"another case's number", "330702-2026-000001", false},
		{"a fresh number", "330702-2026-000002", true},
		{"its own number", "330702-2026-000009", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accept := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
				return &contracts.Ack{PartnerCaseNo: tt.caseNo, KeyID: owner}, []byte(`{}`), []byte("sig"), nil
			})
			e := newEnv(t, false, pushing(owner, accept, nil, gateway.RetryPolicy{}))
			first := e.enqueue(1, contracts.DeliveryKindCase, owner)
			e.store.mu.Lock()
			e.store.cases[first.CaseID].OwnerCaseNo = "330702-2026-000001"
			e.store.cases[first.CaseID].State = contracts.CaseStateForwarded
			e.store.dels[first.ID].State = contracts.TransportStateDelivered
			e.store.mu.Unlock()
			del := e.enqueue(2, contracts.DeliveryKindCase, owner)
			if tt.caseNo == "330702-2026-000009" {
				e.store.mu.Lock()
				e.store.cases[del.CaseID].OwnerCaseNo = tt.caseNo
				e.store.mu.Unlock()
			}
			e.clock.Advance(time.Second)
			if n := e.runOnce(); n != 1 {
				t.Fatalf("attempted %d", n)
			}
			got := e.store.delivery(del.ID)
			c, _ := e.store.GetCase(e.ctx, del.CaseID)
			if tt.accepted {
				// (The test's hook moves the case; cases.AckEffect numbers it.)
				if got.State != contracts.TransportStateDelivered || c.State != contracts.CaseStateForwarded || len(e.effects) != 1 {
					t.Errorf("delivery %s, case %s, %d hook calls; want delivered, forwarded, 1", got.State, c.State, len(e.effects))
				}
				return
			}
			if got.State != contracts.TransportStateDead || got.Attempts != 1 || !strings.Contains(got.LastError, "which the owner gave case case-1 already") {
				t.Errorf("delivery: %s after %d attempts, %q; want dead naming case-1", got.State, got.Attempts, got.LastError)
			}
			// (The hook may have seen the case: the store refuses the
			// write that would have recorded what it did.)
			if c.State != contracts.CaseStateReceived || c.OwnerCaseNo != "" || c.Version != 1 {
				t.Errorf("case %s numbered %q, version %d; want received, unnumbered, as stored (1)", c.State, c.OwnerCaseNo, c.Version)
			}
			recs := e.recordsOf(del.ID, contracts.EventDeliveryAttempt)
			if len(recs) != 1 || recs[0].Outcome != "dead" || !strings.Contains(recs[0].Reason, "acknowledged as case number 330702-2026-000001") {
				t.Errorf("evidence: %+v", recs)
			}
		})
	}
}

// TestMailboxRefusesAckOfAnotherCasesNumber: a pulling owner's batch
// that acknowledges a case with another case's number is refused naming
// the acknowledgement, leaves the message undelivered, and is on record.
func TestMailboxRefusesAckOfAnotherCasesNumber(t *testing.T) {
	e := newEnv(t, false, pulling(puller, gateway.RetryPolicy{}))
	first := e.enqueue(1, contracts.DeliveryKindCase, puller)
	e.store.mu.Lock()
	e.store.cases[first.CaseID].OwnerCaseNo = "310116-2026-000001"
	e.store.dels[first.ID].State = contracts.TransportStateDelivered
	e.store.mu.Unlock()
	del := e.enqueue(2, contracts.DeliveryKindCase, puller)
	b, err := e.ob.Mailbox().Poll(e.ctx, e.principal(puller), Query{})
	if err != nil || len(b.Messages) != 1 || b.Messages[0].DeliveryID != del.ID {
		t.Fatalf("Poll: %+v, %v", b, err)
	}
	m := b.Messages[0]
	a := contracts.Ack{ExchangeID: m.ExchangeID, DeliveryID: m.DeliveryID, PartnerCaseNo: "310116-2026-000001",
		AcknowledgedAt: e.clock.Now(), BodySM3: fakeCrypto{}.SM3Hex(m.Body), KeyID: puller}
	body, _ := json.Marshal(contracts.MailboxAck{Acks: []contracts.Ack{a}})
	_, err = e.ob.Mailbox().Ack(e.ctx, gateway.Inbound{Caller: e.principal(puller), Body: body, Signature: partnerSig(puller, body), KeyID: puller})
	if gateway.CodeOf(err) != contracts.CodeValidationFailed || !strings.Contains(err.Error(), "acks[0].partner_case_no") {
		t.Fatalf("Ack: %v, want validation_failed naming acks[0].partner_case_no", err)
	}
	if got := e.store.delivery(del.ID); got.State != contracts.TransportStateInFlight {
		t.Errorf("delivery %s, want still in_flight (offered)", got.State)
	}
	if c, _ := e.store.GetCase(e.ctx, del.CaseID); c.State != contracts.CaseStateReceived || c.OwnerCaseNo != "" {
		t.Errorf("case %s numbered %q", c.State, c.OwnerCaseNo)
	}
	recs := e.recordsOf(del.ID, contracts.EventDeliveryAttempt)
	if len(recs) != 2 || recs[0].Outcome != "offered" || recs[1].Outcome != OutcomeAckRefused || !strings.Contains(recs[1].Reason, "case-1") {
		t.Errorf("evidence: %+v; want offered, then ack_refused naming case-1", recs)
	}
}

// TestDispatcherRecordsInterruptedAttempt: a delivery whose dispatcher
// claimed it and never recorded an outcome (a crash) is claimed again
// once the lease expired; before the new attempt, an attempt record with
// outcome interrupted goes to the log, and the attempts count it.
func TestDispatcherRecordsInterruptedAttempt(t *testing.T) {
	calls := 0
	accept := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		calls++
		return &contracts.Ack{PartnerCaseNo: "330702-2026-000001", KeyID: owner}, []byte(`{}`), []byte("sig"), nil
	})
	e := newEnv(t, false, pushing(owner, accept, nil, gateway.RetryPolicy{}))
	del := e.enqueue(1, contracts.DeliveryKindCase, owner)
	lease := DispatcherOptions{}.withDefaults().Lease
	// The crashed dispatcher: its claim, and nothing after.
	if ds, err := e.store.ClaimDue(e.ctx, e.clock.Now(), lease, 10); err != nil || len(ds) != 1 || ds[0].TakenOver {
		t.Fatalf("first claim: %+v, %v", ds, err)
	}
	e.clock.Advance(lease / 2)
	if n := e.runOnce(); n != 0 {
		t.Fatalf("claimed %d while the lease holds", n)
	}
	e.clock.Advance(lease)
	if n := e.runOnce(); n != 1 || calls != 1 {
		t.Fatalf("after the lease: attempted %d, partner called %d times", n, calls)
	}
	recs := e.recordsOf(del.ID, contracts.EventDeliveryAttempt)
	if len(recs) != 2 || recs[0].Outcome != OutcomeInterrupted || recs[0].Attempt != 1 || !strings.Contains(recs[0].Reason, "may have received it") ||
		recs[1].Outcome != "delivered" || recs[1].Attempt != 2 {
		t.Errorf("evidence: %+v; want attempt 1 interrupted, attempt 2 delivered", recs)
	}
	if got := e.store.delivery(del.ID); got.State != contracts.TransportStateDelivered || got.Attempts != 2 {
		t.Errorf("delivery %s after %d attempts, want delivered after 2", got.State, got.Attempts)
	}
}

// TestRedeliverNamesTheCase: the record of an operator's redelivery of
// one delivery names its case, so the case's trace shows it.
func TestRedeliverNamesTheCase(t *testing.T) {
	refuse := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return nil, nil, nil, &deliveryErr{permanent: true, reason: "refused", public: "refused"}
	})
	e := newEnv(t, false, pushing(owner, refuse, nil, gateway.RetryPolicy{}))
	del := e.enqueue(1, contracts.DeliveryKindCase, owner)
	e.runOnce()
	if got := e.store.delivery(del.ID); got.State != contracts.TransportStateDead {
		t.Fatalf("delivery %s, want dead", got.State)
	}
	if _, err := e.ob.Redelivery().Redeliver(e.ctx, e.principal(operator), del.ID); err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	recs := e.store.records()
	last := recs[len(recs)-1]
	if last.Event != contracts.EventAdminRedeliver || last.CaseID != del.CaseID || last.DeliveryID != del.ID || last.Partner != owner {
		t.Errorf("redelivery record: %+v; want case %s, delivery %s, partner %s", last, del.CaseID, del.ID, owner)
	}
}
