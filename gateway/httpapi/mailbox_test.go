package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// caseTo submits a fresh case from zhonglou to region and returns its id.
func (e *env) caseTo(region string) string {
	e.t.Helper()
	sub := bytes.Replace(submission(e.t), []byte(`"to_region": "330702"`), []byte(`"to_region": "`+region+`"`), 1)
	r := e.post(zhonglou, "/v1/cases", sub)
	if r.status != http.StatusAccepted {
		e.t.Fatalf("submit to %s: %d %s", region, r.status, r.body)
	}
	return e.verifyReceipt(r).CaseID
}

// poll polls caller's mailbox with query q and decodes the batch.
func (e *env) poll(caller, q string) contracts.MailboxBatch {
	e.t.Helper()
	r := e.get(caller, "/v1/mailbox"+q)
	if r.status != http.StatusOK {
		e.t.Fatalf("poll %s: %d %s", q, r.status, r.body)
	}
	var b contracts.MailboxBatch
	if err := json.Unmarshal(r.body, &b); err != nil {
		e.t.Fatalf("batch %s: %v", r.body, err)
	}
	return b
}

// ackOf is the partner's acknowledgement of m.
func ackOf(m contracts.MailboxMessage, caseNo string) contracts.Ack {
	return contracts.Ack{ExchangeID: m.ExchangeID, DeliveryID: m.DeliveryID, PartnerCaseNo: caseNo,
		AcknowledgedAt: time.Now().UTC().Truncate(time.Second), BodySM3: sm3Hex(m.Body), KeyID: xincheng}
}

func (e *env) ack(acks ...contracts.Ack) response {
	e.t.Helper()
	b, err := json.Marshal(contracts.MailboxAck{Acks: acks})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.post(xincheng, "/v1/mailbox/ack", b)
}

func TestMailboxPollAndAck(t *testing.T) {
	e := newEnv(t)
	caseID := e.caseTo("610102")

	b := e.poll(xincheng, "")
	if len(b.Messages) != 1 {
		t.Fatalf("poll: %d messages, want the case delivery", len(b.Messages))
	}
	m := b.Messages[0]
	if m.Kind != contracts.DeliveryKindCase || m.KeyID != "gateway" || b.NextCursor != m.Cursor || m.Cursor == "" {
		t.Errorf("message %+v, next cursor %q", m, b.NextCursor)
	}
	if err := signing.Verify(e.gwKey.Public(), m.Body, m.Signature); err != nil {
		t.Errorf("the gateway's signature does not verify over the message body: %v", err)
	}
	var d contracts.CaseDelivery
	if err := json.Unmarshal(m.Body, &d); err != nil || d.CaseID != caseID || d.DeliveryID != m.DeliveryID || d.ExchangeID != m.ExchangeID {
		t.Errorf("body %s: %v", m.Body, err)
	}
	if again := e.poll(xincheng, "?after="+b.NextCursor); len(again.Messages) != 0 || again.NextCursor != b.NextCursor {
		t.Errorf("a message handed out is hidden: got %+v", again)
	}

	res := e.ack(ackOf(m, "610102-2026-000001"))
	var ar contracts.MailboxAckResult
	if res.status != http.StatusOK || json.Unmarshal(res.body, &ar) != nil || ar.Acknowledged != 1 || len(ar.Unknown) != 0 {
		t.Fatalf("ack: %d %s", res.status, res.body)
	}
	var v contracts.CaseView
	if g := e.get(zhonglou, "/v1/cases/"+caseID); json.Unmarshal(g.body, &v) != nil || v.State != contracts.CaseStateForwarded ||
		v.OwnerCaseNo != "610102-2026-000001" || v.Deliveries[0].State != contracts.TransportStateDelivered || v.Deliveries[0].Ack == nil {
		t.Errorf("case after the mailbox ack: %s", g.body)
	}
	if res := e.ack(ackOf(m, "610102-2026-000001")); res.status != http.StatusOK {
		t.Errorf("acknowledging twice: %d %s", res.status, res.body)
	}

	// The owner's status update goes back to zhonglou by push, not here.
	if r := e.post(xincheng, "/v1/cases/"+caseID+"/status", statusUpdate(t, caseID, contracts.CaseStateAccepted)); r.status != http.StatusAccepted {
		t.Fatalf("status from the mailbox partner: %d %s", r.status, r.body)
	}
	if b := e.poll(xincheng, ""); len(b.Messages) != 0 {
		t.Errorf("mailbox holds %d messages, want none", len(b.Messages))
	}
}

func TestMailboxAckRefusals(t *testing.T) {
	e := newEnv(t)
	e.caseTo("610102")
	m := e.poll(xincheng, "").Messages[0]

	wrongBody := ackOf(m, "X-1")
	wrongBody.BodySM3 = sm3Hex(append(bytes.Clone(m.Body), ' '))
	wantError(t, e.ack(wrongBody), http.StatusBadRequest, contracts.CodeValidationFailed)
	noCaseNo := ackOf(m, "")
	wantError(t, e.ack(noCaseNo), http.StatusBadRequest, contracts.CodeValidationFailed)
	otherKey := ackOf(m, "X-1")
	otherKey.KeyID = "someone"
	wantError(t, e.ack(otherKey), http.StatusBadRequest, contracts.CodeValidationFailed)

	unknown := ackOf(m, "X-1")
	unknown.DeliveryID = "no-such-delivery"
	res := e.ack(unknown, ackOf(m, "X-1"))
	var ar contracts.MailboxAckResult
	if res.status != http.StatusOK || json.Unmarshal(res.body, &ar) != nil || ar.Acknowledged != 1 || len(ar.Unknown) != 1 || ar.Unknown[0] != "no-such-delivery" {
		t.Errorf("ack with an unknown delivery: %d %s", res.status, res.body)
	}

	wantError(t, e.get(zhonglou, "/v1/mailbox"), http.StatusForbidden, contracts.CodeForbidden)
	wantError(t, e.post(zhonglou, "/v1/mailbox/ack", []byte(`{"acks":[]}`)), http.StatusForbidden, contracts.CodeForbidden)
	wantError(t, e.post(xincheng, "/v1/mailbox/ack", []byte(`{"acks":[]}`)), http.StatusBadRequest, contracts.CodeValidationFailed)
	for _, q := range []string{"?wait=31", "?wait=x", "?limit=0", "?limit=101", "?after=abc", "?after=-1", "?other=1", "?wait=1&wait=2"} {
		wantError(t, e.get(xincheng, "/v1/mailbox"+q), http.StatusBadRequest, contracts.CodeBadRequest)
	}
}

// TestMailboxLongPoll: a poll with wait answers as soon as a message
// arrives.
func TestMailboxLongPoll(t *testing.T) {
	e := newEnv(t)
	got := make(chan contracts.MailboxBatch, 1)
	go func() {
		r := e.do(http.MethodGet, "/v1/mailbox?wait=30", nil, map[string]string{"Authorization": "Bearer " + e.tokenFor(xincheng)})
		var b contracts.MailboxBatch
		_ = json.Unmarshal(r.body, &b)
		got <- b
	}()
	// Submit once the poll is (very likely) waiting; either way the poll
	// must return the message well before its 30 s.
	time.Sleep(50 * time.Millisecond)
	caseID := e.caseTo("610102")
	select {
	case b := <-got:
		var d contracts.CaseDelivery
		if len(b.Messages) != 1 || json.Unmarshal(b.Messages[0].Body, &d) != nil || d.CaseID != caseID {
			t.Errorf("long poll answered %+v", b)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("long poll did not answer when the message arrived")
	}
}
