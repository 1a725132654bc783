package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Regions and partner ids of the tests.
const (
	owner    = "330702" // pushes: takes cases
	sender   = "310101" // pushes: takes status updates
	puller   = "310116" // pulls from its mailbox
	operator = "ops"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// env is one outbox over a fake store, with a clock the test moves.
type env struct {
	t       *testing.T
	ctx     context.Context
	store   *fakeStore
	clock   *fakeClock
	dir     *gateway.Directory
	ob      *Outbox
	effects []effectCall
}

// effectCall is one call of the AckEffect hook.
type effectCall struct {
	caseID, deliveryID string
	ack                *contracts.Ack
}

// newEnv builds the outbox for partners (plus an operator), with an
// AckEffect hook that moves a case received → forwarded and records its
// calls, unless noEffect.
func newEnv(t *testing.T, noEffect bool, partners ...*gateway.Partner) *env {
	t.Helper()
	return newEnvWith(t, DispatcherOptions{Seed: 42}, noEffect, partners...)
}

// newEnvWith is newEnv with the dispatcher tuned by opt.
func newEnvWith(t *testing.T, opt DispatcherOptions, noEffect bool, partners ...*gateway.Partner) *env {
	t.Helper()
	partners = append(partners, &gateway.Partner{ID: operator, Roles: []contracts.Role{contracts.RoleOperator}})
	dir, err := gateway.NewDirectory(partners)
	if err != nil {
		t.Fatalf("NewDirectory: %v", err)
	}
	e := &env{t: t, ctx: t.Context(), store: newFakeStore(), clock: &fakeClock{now: t0}, dir: dir}
	var effect gateway.AckEffect
	if !noEffect {
		effect = func(c *gateway.Case, del *gateway.Delivery, ack *contracts.Ack, now time.Time) (*gateway.Status, contracts.CaseState) {
			e.effects = append(e.effects, effectCall{caseID: c.ID, deliveryID: del.ID, ack: ack})
			if c.State != contracts.CaseStateReceived {
				return nil, ""
			}
			c.State = contracts.CaseStateForwarded
			return &gateway.Status{CaseID: c.ID, State: c.State, At: now, ReportedBy: del.Partner}, c.State
		}
	}
	e.ob, err = New(Options{Store: e.store, Directory: dir, Crypto: fakeCrypto{},
		Env:        Env{Env: gateway.Env{Clock: e.clock, Log: slog.New(slog.DiscardHandler), Recorder: fakeRecorder{}}, AckEffect: effect},
		Dispatcher: opt})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// pushing is a partner taking cases and status updates through deliver.
func pushing(id string, cases caseFunc, statuses statusFunc, retry gateway.RetryPolicy) *gateway.Partner {
	p := &gateway.Partner{ID: id, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{id}, Retry: retry}
	if cases != nil {
		p.Cases = cases
	}
	if statuses != nil {
		p.Statuses = statuses
	}
	return p
}

// pulling is a partner with a mailbox whose messages stay hidden a minute.
func pulling(id string, retry gateway.RetryPolicy) *gateway.Partner {
	return &gateway.Partner{ID: id, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{id}, Retry: retry,
		Mailbox: &gateway.MailboxPolicy{Visibility: time.Minute}}
}

// enqueue stores case n (received) and its delivery of kind to partner.
func (e *env) enqueue(n int, kind contracts.DeliveryKind, partner string) *gateway.Delivery {
	e.t.Helper()
	caseID := fmt.Sprintf("case-%d", n)
	if kind != contracts.DeliveryKindUsageRecord {
		e.store.addCase(gateway.Case{ID: caseID, Sender: sender, Owner: partner, State: contracts.CaseStateReceived, CreatedAt: t0})
	} else {
		caseID = ""
	}
	id := fmt.Sprintf("delivery-%d", n)
	exchangeID := fmt.Sprintf("0195f3a0-0001-7001-8001-%012d", n)
	var payload any
	switch kind {
	case contracts.DeliveryKindCase:
		payload = contracts.CaseDelivery{DeliveryID: id, CaseID: caseID, ExchangeID: exchangeID}
	case contracts.DeliveryKindStatus:
		payload = contracts.StatusDelivery{DeliveryID: id, CaseID: caseID, ExchangeID: exchangeID}
	default:
		payload = contracts.UsageRecordDelivery{DeliveryID: id}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	d := &gateway.Delivery{ID: id, CaseID: caseID, Kind: kind, Partner: partner, ExchangeID: exchangeID, Payload: body,
		Pull: e.dir.Pulls(partner), NextAt: e.clock.Now(), CreatedAt: e.clock.Now()}
	e.store.add(d)
	return d
}

// runOnce runs one dispatcher round and returns how many it attempted.
func (e *env) runOnce() int {
	e.t.Helper()
	n, err := e.ob.Dispatcher().RunOnce(e.ctx)
	if err != nil {
		e.t.Fatalf("RunOnce: %v", err)
	}
	return n
}

// principal is the caller id acting.
func (e *env) principal(id string) gateway.Principal {
	return gateway.Principal{Partner: e.dir.Get(id)}
}

// lastRecord returns the detail of the last evidence record.
func (e *env) lastRecord() contracts.EvidenceDetail {
	e.t.Helper()
	recs := e.store.records()
	if len(recs) == 0 {
		e.t.Fatal("no evidence record written")
	}
	var d contracts.EvidenceDetail
	if err := json.Unmarshal(recs[len(recs)-1].Detail, &d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// TestDispatcherPermanentErrorDeadLetters: a failure that says it is
// permanent makes the delivery a dead letter at its first attempt; the
// stored last error keeps the partner's words, the evidence record and
// the partner's state do not.
func TestDispatcherPermanentErrorDeadLetters(t *testing.T) {
	refuse := caseFunc(func(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return nil, nil, nil, &deliveryErr{permanent: true, reason: "HTTP 422: applicant Zhang San unknown", public: "HTTP 422"}
	})
	e := newEnv(t, false, pushing(owner, refuse, nil, gateway.RetryPolicy{}))
	del := e.enqueue(1, contracts.DeliveryKindCase, owner)
	if n := e.runOnce(); n != 1 {
		t.Fatalf("attempted %d", n)
	}
	got := e.store.delivery(del.ID)
	if got.State != contracts.TransportStateDead || got.Attempts != 1 || got.LastError != "permanent: HTTP 422: applicant Zhang San unknown" {
		t.Errorf("stored: state %s, attempts %d, last error %q", got.State, got.Attempts, got.LastError)
	}
	if rec := e.lastRecord(); rec.Outcome != "dead" || rec.Reason != "permanent: HTTP 422" || rec.Attempt != 1 {
		t.Errorf("evidence: %+v", rec)
	}
	st := e.ob.Dispatcher().PartnerStates()
	if len(st) != 1 || st[0].Partner != owner || st[0].ConsecutiveFailures != 1 || st[0].LastError != "permanent: HTTP 422" {
		t.Errorf("partner states: %+v", st)
	}
	if n := e.runOnce(); n != 0 {
		t.Errorf("a dead letter was attempted again (%d)", n)
	}
}

// TestDispatcherRetryableErrorWaits: a failure that is not permanent (a
// plain error, or an adapter's) puts the delivery in retry_wait, due
// after the backoff of its attempt, or after the partner's Retry-After
// when that is longer; the partner's retry policy ends it.
func TestDispatcherRetryableErrorWaits(t *testing.T) {
	retry := gateway.RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Second, MaxDelay: time.Hour}
	var fail error
	flaky := caseFunc(func(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return nil, nil, nil, fail
	})
	e := newEnv(t, false, pushing(owner, flaky, nil, retry))
	// The same seed draws the same jitter: twin tells the backoff to expect.
	twin := NewDispatcher(nil, nil, Env{}, DispatcherOptions{Seed: 42})
	policy := e.dir.Get(owner).Retry
	del := e.enqueue(1, contracts.DeliveryKindCase, owner)

	fail = errors.New("dial tcp: connection reset")
	e.runOnce()
	got := e.store.delivery(del.ID)
	want := t0.Add(twin.Backoff(policy, 1))
	if got.State != contracts.TransportStateRetryWait || got.Attempts != 1 || !got.NextAt.Equal(want) || got.LastError != "dial tcp: connection reset" {
		t.Errorf("after attempt 1: state %s, attempts %d, next %s (want %s), last error %q", got.State, got.Attempts, got.NextAt, want, got.LastError)
	}
	if rec := e.lastRecord(); rec.Outcome != "retry_wait" || rec.Reason != "dial tcp: connection reset" {
		t.Errorf("evidence: %+v", rec)
	}
	if n := e.runOnce(); n != 0 {
		t.Fatalf("attempted %d before the backoff ran out", n)
	}

	// The partner asks for an hour's pause: longer than the backoff.
	e.clock.Advance(got.NextAt.Sub(e.clock.Now()))
	fail = &deliveryErr{after: time.Hour, reason: "HTTP 503: maintenance until 11:00 (call Li Si)", public: "HTTP 503"}
	twin.Backoff(policy, 2) // what the dispatcher draws, and does not use
	now := e.clock.Now()
	e.runOnce()
	got = e.store.delivery(del.ID)
	if got.State != contracts.TransportStateRetryWait || got.Attempts != 2 || !got.NextAt.Equal(now.Add(time.Hour)) ||
		got.LastError != "HTTP 503: maintenance until 11:00 (call Li Si)" {
		t.Errorf("after attempt 2: state %s, attempts %d, next %s, last error %q", got.State, got.Attempts, got.NextAt, got.LastError)
	}
	if rec := e.lastRecord(); rec.Reason != "HTTP 503" {
		t.Errorf("evidence keeps the partner's words: %+v", rec)
	}

	// The third attempt is the last the policy allows.
	e.clock.Advance(time.Hour)
	e.runOnce()
	got = e.store.delivery(del.ID)
	if got.State != contracts.TransportStateDead || got.Attempts != 3 || got.LastError != "gave up after 3 attempts: HTTP 503: maintenance until 11:00 (call Li Si)" {
		t.Errorf("after attempt 3: state %s, attempts %d, last error %q", got.State, got.Attempts, got.LastError)
	}
	if st := e.ob.Dispatcher().PartnerStates(); len(st) != 1 || st[0].State != "down" {
		t.Errorf("after %d failures in a row: %+v", PartnerDown, st)
	}
}

// TestDispatcherRefusesKindsThePartnerDoesNotTake: a delivery of a kind
// the partner's adapter has no deliverer for is refused permanently, with
// a reason naming what is missing, and never sent.
func TestDispatcherRefusesKindsThePartnerDoesNotTake(t *testing.T) {
	sent := 0
	cases := caseFunc(func(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		sent++
		return &contracts.Ack{}, nil, nil, nil
	})
	statuses := statusFunc(func(context.Context, *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
		sent++
		return &contracts.Ack{}, nil, nil, nil
	})
	e := newEnv(t, false, pushing(owner, nil, statuses, gateway.RetryPolicy{}), pushing(sender, cases, nil, gateway.RetryPolicy{}))
	tests := []struct {
		kind    contracts.DeliveryKind
		partner string
		why     string
	}{
		{contracts.DeliveryKindCase, owner, "permanent: partner 330702's adapter is not configured to deliver cases"},
		{contracts.DeliveryKindStatus, sender, "permanent: partner 310101's adapter is not configured to deliver status updates"},
		{contracts.DeliveryKindUsageRecord, owner, "permanent: partner 330702 no longer accepts usage records"},
		{contracts.DeliveryKindCase, "440305", "permanent: partner 440305 is not configured for delivery"},
	}
	for i, tt := range tests {
		del := e.enqueue(i+1, tt.kind, tt.partner)
		if n := e.runOnce(); n != 1 {
			t.Fatalf("%s to %s: attempted %d", tt.kind, tt.partner, n)
		}
		got := e.store.delivery(del.ID)
		if got.State != contracts.TransportStateDead || got.Attempts != 1 || got.LastError != tt.why {
			t.Errorf("%s to %s: state %s, attempts %d, last error %q; want dead, 1, %q", tt.kind, tt.partner, got.State, got.Attempts, got.LastError, tt.why)
		}
	}
	if sent != 0 {
		t.Errorf("%d refused deliveries were sent", sent)
	}
}

// TestDispatcherAcknowledgementEffect: an acknowledged delivery is
// delivered with the partner's acknowledgement, and its case changes as
// the AckEffect hook says, in the same write; without a hook the case
// stays as it is.
func TestDispatcherAcknowledgementEffect(t *testing.T) {
	ack := &contracts.Ack{PartnerCaseNo: "330702-2026-000001", KeyID: owner}
	accept := caseFunc(func(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return ack, []byte(`{"ack":1}`), []byte("sig"), nil
	})
	for _, noEffect := range []bool{false, true} {
		e := newEnv(t, noEffect, pushing(owner, accept, nil, gateway.RetryPolicy{}))
		del := e.enqueue(1, contracts.DeliveryKindCase, owner)
		e.clock.Advance(time.Second)
		e.runOnce()
		got := e.store.delivery(del.ID)
		if got.State != contracts.TransportStateDelivered || got.Attempts != 1 || got.Ack != ack || string(got.AckBody) != `{"ack":1}` ||
			!got.DeliveredAt.Equal(e.clock.Now()) {
			t.Errorf("hook %v: stored %+v", !noEffect, got)
		}
		c, _ := e.store.GetCase(e.ctx, del.CaseID)
		hist, _ := e.store.History(e.ctx, del.CaseID)
		rec := e.lastRecord()
		if noEffect {
			if c.State != contracts.CaseStateReceived || len(hist) != 0 || !c.UpdatedAt.Equal(e.clock.Now()) || rec.CaseState != "" {
				t.Errorf("without a hook: case %+v, history %+v, record %+v", c, hist, rec)
			}
			continue
		}
		if len(e.effects) != 1 || e.effects[0].caseID != del.CaseID || e.effects[0].deliveryID != del.ID || e.effects[0].ack != ack {
			t.Errorf("hook calls: %+v", e.effects)
		}
		if c.State != contracts.CaseStateForwarded || len(hist) != 1 || rec.CaseState != contracts.CaseStateForwarded || rec.Outcome != "delivered" {
			t.Errorf("with the hook: case %+v, history %+v, record %+v", c, hist, rec)
		}
		if st := e.ob.Dispatcher().PartnerStates(); len(st) != 1 || st[0].State != "up" {
			t.Errorf("partner states: %+v", st)
		}
	}
}

// TestMailboxPollWakesOnWake: a poll waiting for a message answers as
// soon as a delivery is stored and Wake called, long before the
// mailbox's periodic recheck.
func TestMailboxPollWakesOnWake(t *testing.T) {
	e := newEnv(t, false, pulling(puller, gateway.RetryPolicy{}))
	e.store.claimed = make(chan struct{}, 1)
	type answer struct {
		b   *contracts.MailboxBatch
		err error
	}
	done := make(chan answer, 1)
	go func() {
		b, err := e.ob.Mailbox().Poll(e.ctx, e.principal(puller), Query{Wait: 5 * time.Second})
		done <- answer{b, err}
	}()
	// The poll has looked once and found nothing.
	select {
	case <-e.store.claimed:
	case <-time.After(5 * time.Second):
		t.Fatal("the poll never claimed")
	}
	time.Sleep(50 * time.Millisecond)
	del := e.enqueue(1, contracts.DeliveryKindCase, puller)
	woke := time.Now()
	e.ob.Wake()
	select {
	case a := <-done:
		if took := time.Since(woke); took > 500*time.Millisecond {
			t.Errorf("the poll answered %s after Wake", took)
		}
		if a.err != nil || len(a.b.Messages) != 1 || a.b.Messages[0].DeliveryID != del.ID || a.b.NextCursor != "1" {
			t.Fatalf("poll: %+v, %v", a.b, a.err)
		}
	case <-time.After(500 * time.Millisecond):
		t.Fatal("the poll did not answer within 500ms of Wake")
	}
}

// TestMailboxOffersThenDeadLetters: a message not acknowledged is offered
// again once its visibility runs out, each offer an attempt; the claim
// that finds it offered max_attempts times makes it a dead letter whose
// attempts are the offers made, and an operator's redelivery puts it
// back.
func TestMailboxOffersThenDeadLetters(t *testing.T) {
	e := newEnv(t, false, pulling(puller, gateway.RetryPolicy{MaxAttempts: 2}))
	del := e.enqueue(1, contracts.DeliveryKindCase, puller)
	poll := func() []contracts.MailboxMessage {
		t.Helper()
		b, err := e.ob.Mailbox().Poll(e.ctx, e.principal(puller), Query{})
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		return b.Messages
	}
	for offer := 1; offer <= 2; offer++ {
		if got := poll(); len(got) != 1 {
			t.Fatalf("offer %d: %d messages", offer, len(got))
		}
		if got := poll(); len(got) != 0 {
			t.Fatalf("offer %d: offered again while hidden", offer)
		}
		if d := e.store.delivery(del.ID); d.Attempts != offer || e.lastRecord().Outcome != "offered" {
			t.Errorf("offer %d: attempts %d, record %+v", offer, d.Attempts, e.lastRecord())
		}
		e.clock.Advance(time.Minute)
	}
	if got := poll(); len(got) != 0 {
		t.Fatalf("offered a third time: %+v", got)
	}
	d := e.store.delivery(del.ID)
	if d.State != contracts.TransportStateDead || d.Attempts != 2 || d.LastError != "gave up after 2 offers: not acknowledged" {
		t.Errorf("dead letter: state %s, attempts %d, last error %q", d.State, d.Attempts, d.LastError)
	}
	if rec := e.lastRecord(); rec.Outcome != "dead" || rec.Attempt != 2 {
		t.Errorf("dead letter record: %+v", rec)
	}

	if _, err := e.ob.Redelivery().Redeliver(e.ctx, e.principal(puller), del.ID); gateway.CodeOf(err) != contracts.CodeForbidden {
		t.Errorf("a partner redelivered: %v", err)
	}
	res, err := e.ob.Redelivery().RedeliverPartner(e.ctx, e.principal(operator), puller)
	if err != nil || res.Count != 1 || res.Redelivered[0] != del.ID {
		t.Fatalf("RedeliverPartner: %+v, %v", res, err)
	}
	if got := poll(); len(got) != 1 {
		t.Fatalf("after the redelivery: %d messages", len(got))
	}
	if d := e.store.delivery(del.ID); d.Attempts != 1 {
		t.Errorf("after the redelivery: attempts %d, want 1", d.Attempts)
	}
}

// TestMailboxAck: a pulling partner's signed acknowledgement marks its
// message delivered (out of band, whatever the lease) and changes its
// case through the hook; acknowledging again is harmless, and an
// acknowledgement that does not match the message refuses the batch.
func TestMailboxAck(t *testing.T) {
	e := newEnv(t, false, pulling(puller, gateway.RetryPolicy{}))
	del := e.enqueue(1, contracts.DeliveryKindCase, puller)
	b, err := e.ob.Mailbox().Poll(e.ctx, e.principal(puller), Query{})
	if err != nil || len(b.Messages) != 1 {
		t.Fatalf("Poll: %+v, %v", b, err)
	}
	m := b.Messages[0]
	if string(m.Signature) != "sig:"+string(m.Body) || m.KeyID != "gw" {
		t.Errorf("message signature %q by %s", m.Signature, m.KeyID)
	}
	ack := func(a contracts.Ack) (*contracts.MailboxAckResult, error) {
		body, _ := json.Marshal(contracts.MailboxAck{Acks: []contracts.Ack{a}})
		return e.ob.Mailbox().Ack(e.ctx, gateway.Inbound{Caller: e.principal(puller), Body: body,
			Signature: partnerSig(puller, body), KeyID: puller})
	}
	good := contracts.Ack{ExchangeID: m.ExchangeID, DeliveryID: m.DeliveryID, PartnerCaseNo: "310116-2026-000001",
		AcknowledgedAt: e.clock.Now(), BodySM3: fakeCrypto{}.SM3Hex(m.Body), KeyID: puller}
	bad := good
	bad.BodySM3 = strings.Repeat("0", 64)
	if _, err := ack(bad); gateway.CodeOf(err) != contracts.CodeValidationFailed {
		t.Errorf("an acknowledgement of other bytes: %v", err)
	}
	for range 2 {
		res, err := ack(good)
		if err != nil || res.Acknowledged != 1 || len(res.Unknown) != 0 {
			t.Fatalf("Ack: %+v, %v", res, err)
		}
	}
	d := e.store.delivery(del.ID)
	if d.State != contracts.TransportStateDelivered || d.Ack == nil || d.Ack.PartnerCaseNo != good.PartnerCaseNo || d.Attempts != 1 {
		t.Errorf("stored: %+v", d)
	}
	if len(e.effects) != 1 {
		t.Errorf("the hook was called %d times", len(e.effects))
	}
	if c, _ := e.store.GetCase(e.ctx, del.CaseID); c.State != contracts.CaseStateForwarded {
		t.Errorf("case %s", c.State)
	}
}

// TestRedeliverRefusals: only dead letters are redelivered, only known
// partners' dead letters, and the request's evidence goes with it.
func TestRedeliverRefusals(t *testing.T) {
	e := newEnv(t, false, pulling(puller, gateway.RetryPolicy{}))
	del := e.enqueue(1, contracts.DeliveryKindCase, puller)
	r := e.ob.Redelivery()
	ops := e.principal(operator)
	if _, err := r.Redeliver(e.ctx, ops, del.ID); gateway.CodeOf(err) != contracts.CodeInvalidTransition {
		t.Errorf("redelivering a pending delivery: %v", err)
	}
	if _, err := r.Redeliver(e.ctx, ops, "nope"); gateway.CodeOf(err) != contracts.CodeNotFound {
		t.Errorf("redelivering an unknown delivery: %v", err)
	}
	if _, err := r.RedeliverPartner(e.ctx, ops, "nope"); gateway.CodeOf(err) != contracts.CodeNotFound {
		t.Errorf("redelivering an unknown partner's: %v", err)
	}
	res, err := r.RedeliverPartner(e.ctx, ops, puller)
	if err != nil || res.Count != 0 || res.Redelivered == nil {
		t.Errorf("nothing to redeliver: %+v, %v", res, err)
	}
	recs := e.store.records()
	if len(recs) != 1 || recs[0].Event != contracts.EventAdminRedeliver || recs[0].Partner != puller || recs[0].Actor != operator {
		t.Errorf("evidence: %+v", recs)
	}
}
