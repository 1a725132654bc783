package gateway_test

import (
	"bytes"
	"encoding/json"
	"flag"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/outbox"
	"github.com/tongban/tongban/signing"
)

// pollAs polls jinshan's mailbox at the harness's time.
func (e *env) pollAs(after string) *contracts.MailboxBatch {
	e.t.Helper()
	b, err := e.core.Outbox.Mailbox().Poll(e.ctx, e.principal(jinshan), outbox.Query{After: after})
	if err != nil {
		e.t.Fatalf("PollMailbox: %v", err)
	}
	return b
}

// ackAs acknowledges messages as jinshan, signed with its key.
func (e *env) ackAs(ms ...contracts.MailboxMessage) *contracts.MailboxAckResult {
	e.t.Helper()
	var acks []contracts.Ack
	for _, m := range ms {
		no := ""
		if m.Kind == contracts.DeliveryKindCase {
			no = "310116-2026-000001"
		}
		acks = append(acks, contracts.Ack{ExchangeID: m.ExchangeID, DeliveryID: m.DeliveryID, PartnerCaseNo: no,
			AcknowledgedAt: e.clock.Now(), BodySM3: sm3Hex(m.Body), KeyID: jinshan})
	}
	res, err := e.core.Outbox.Mailbox().Ack(e.ctx, e.signed(jinshan, mustJSON(e.t, contracts.MailboxAck{Acks: acks})))
	if err != nil {
		e.t.Fatalf("AckMailbox: %v", err)
	}
	return res
}

// TestMailboxOffersAgainThenDeadLetters: a message not acknowledged is
// offered again once its visibility timeout runs out, each offer counting
// as an attempt; past max_attempts it is a dead letter, and an operator's
// redelivery puts it back. The dispatcher never pushes it.
func TestMailboxOffersAgainThenDeadLetters(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{MaxAttempts: 3})
	sub := e.submission()
	sub.ToRegion = jinshan
	caseID := e.submitOK(sub).CaseID

	if n := e.runOnce(); n != 0 {
		t.Errorf("the dispatcher attempted %d deliveries to a pulling partner", n)
	}
	first := e.pollAs("").Messages
	if len(first) != 1 {
		t.Fatalf("first poll: %d messages", len(first))
	}
	e.clock.Advance(59 * time.Second)
	if got := e.pollAs("").Messages; len(got) != 0 {
		t.Fatalf("inside the visibility timeout: %d messages", len(got))
	}
	for offer := 2; offer <= 3; offer++ {
		e.clock.Advance(2 * time.Second)
		got := e.pollAs(first[0].Cursor).Messages
		if len(got) != 1 || got[0].DeliveryID != first[0].DeliveryID {
			t.Fatalf("offer %d: %+v", offer, got)
		}
		d := e.delivery(first[0].DeliveryID)
		if d.Attempts != offer || !strings.Contains(d.LastError, "not acknowledged") {
			t.Errorf("offer %d: attempts %d, last error %q", offer, d.Attempts, d.LastError)
		}
		e.clock.Advance(time.Minute)
	}
	if got := e.pollAs("").Messages; len(got) != 0 {
		t.Fatalf("past max_attempts: offered %d messages again", len(got))
	}
	d := e.delivery(first[0].DeliveryID)
	if d.State != contracts.TransportStateDead || d.Attempts != 3 || !strings.Contains(d.LastError, "gave up after 3 offers") {
		t.Fatalf("past max_attempts: %s after %d attempts (%q), want dead", d.State, d.Attempts, d.LastError)
	}

	if _, err := e.core.Outbox.Redelivery().Redeliver(e.ctx, e.principal(operator), d.ID); err != nil {
		t.Fatal(err)
	}
	again := e.pollAs("").Messages
	if len(again) != 1 {
		t.Fatalf("after redelivery: %d messages", len(again))
	}
	if res := e.ackAs(again...); res.Acknowledged != 1 {
		t.Errorf("ack: %+v", res)
	}
	c := e.getCase(caseID)
	if c.State != contracts.CaseStateForwarded || c.OwnerCaseNo != "310116-2026-000001" {
		t.Errorf("case %s / %q after the ack", c.State, c.OwnerCaseNo)
	}
	// An acknowledgement of the earlier offer, late, is harmless.
	if res := e.ackAs(first...); res.Acknowledged != 1 {
		t.Errorf("late ack of an earlier offer: %+v", res)
	}
}

// TestMailboxPerCaseOrder: status updates of a case the pulling partner
// submitted come in order: the second is not offered before the first is
// acknowledged.
func TestMailboxPerCaseOrder(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	sub := e.submission()
	sub.FromRegion, sub.Window.Region = jinshan, jinshan
	ans, err := e.core.Cases.SubmitCase(e.ctx, e.signed(jinshan, mustJSON(t, sub)))
	if err != nil {
		t.Fatal(err)
	}
	caseID := e.receipt(ans).CaseID
	e.drain() // the case reaches wucheng by push
	e.reportOK(e.update(caseID, contracts.CaseStateAccepted))
	e.reportOK(e.update(caseID, contracts.CaseStateInProgress))

	got := e.pollAs("").Messages
	if len(got) != 1 {
		t.Fatalf("poll: %d messages, want only the first update", len(got))
	}
	var d contracts.StatusDelivery
	if err := json.Unmarshal(got[0].Body, &d); err != nil || d.Update.State != contracts.CaseStateAccepted {
		t.Fatalf("first message: %s", got[0].Body)
	}
	// Offered and not yet acknowledged (in flight): a poll in between
	// must not hand out the update after it.
	if between := e.pollAs(got[0].Cursor).Messages; len(between) != 0 {
		t.Fatalf("poll while the first update is offered and unacknowledged: %d messages, want none", len(between))
	}
	e.ackAs(got...)
	next := e.pollAs(got[0].Cursor).Messages
	if len(next) != 1 || json.Unmarshal(next[0].Body, &d) != nil || d.Update.State != contracts.CaseStateInProgress {
		t.Fatalf("after the first was acknowledged: %+v", next)
	}
}

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestMailboxBatchGolden pins the exact bytes a pulling partner receives
// for a case: the poll answer with the delivery's body inside, which the
// gateway's signature covers (checked, then blanked: SM2 signatures are
// randomised). Ids and times come from a seeded source and the fake clock.
// Run with -update to accept a change.
func TestMailboxBatchGolden(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	svc := e.withCore(t, node.Options{Rand: mrand.NewChaCha8([32]byte{7})})
	sub := e.submission()
	sub.ExchangeID, sub.ToRegion = "0195f3a0-0001-7001-8001-000000000001", jinshan
	if _, err := svc.Cases.SubmitCase(e.ctx, e.signed(zhonglou, mustJSON(t, sub))); err != nil {
		t.Fatal(err)
	}
	b, err := svc.Outbox.Mailbox().Poll(e.ctx, e.principal(jinshan), outbox.Query{})
	if err != nil || len(b.Messages) != 1 {
		t.Fatalf("poll: %+v, %v", b, err)
	}
	if err := signing.Verify(e.gwPub, b.Messages[0].Body, b.Messages[0].Signature); err != nil {
		t.Fatalf("message signature: %v", err)
	}
	b.Messages[0].Signature = nil
	got, err := json.Marshal(b) // the bytes the HTTP layer writes, but for its newline
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "mailbox_batch.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("mailbox batch differs from %s (run with -update to accept):\n%s", path, got)
	}
}
