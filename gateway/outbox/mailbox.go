package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Mailbox limits.
const (
	// MaxMailboxWait is the longest a poll may wait for a message.
	MaxMailboxWait = 30 * time.Second
	// MaxMailboxBatch is the most messages one poll returns, and the most
	// acknowledgements one MailboxAck carries.
	MaxMailboxBatch = 100
	// DefaultMailboxBatch is the messages one poll returns when it does not
	// say.
	DefaultMailboxBatch = 20
	// mailboxRecheck is how often a waiting poll looks again even without
	// news: a message whose visibility timeout ran out becomes visible
	// without anything being written.
	mailboxRecheck = time.Second
	// reofferText is the last error of a message offered again.
	reofferText = "offered again: not acknowledged within the visibility timeout"
)

// Mailbox hands pulling partners (those with a gateway.MailboxPolicy)
// their deliveries and takes their signed acknowledgements. It is safe
// for concurrent use.
type Mailbox struct {
	store  Store
	crypto gateway.Crypto
	env    Env
	inst   *instruments
	acks   acker
	signal *signal // broadcast by Outbox.Wake
	wake   func()  // Outbox.Wake
}

// Query is one poll of a partner's mailbox.
type Query struct {
	// After is the next_cursor of the previous batch, "" for none.
	After string
	// Wait is how long to wait for a message when none is visible, at
	// most MaxMailboxWait; zero answers at once.
	Wait time.Duration
	// Limit is the most messages returned, 1..MaxMailboxBatch; zero means
	// DefaultMailboxBatch.
	Limit int
}

// ParseCursor reads a mailbox cursor: "" (0) or the decimal seq of a
// message the gateway handed out. It fails with bad_request otherwise.
func ParseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strings.TrimLeft(s, "0123456789") != "" || len(s) > 19 {
		return 0, gateway.Failf(contracts.CodeBadRequest, "query parameter after is not a cursor this endpoint returned")
	}
	return n, nil
}

// Poll hands the calling partner the next messages of its mailbox:
// deliveries addressed to it that are not acknowledged, after its cursor
// first, each signed by the gateway. Messages handed out are hidden from
// later polls for the mailbox's visibility timeout; not acknowledged by
// then, they are offered again (each offer counts as an attempt of the
// partner's retry policy; past max_attempts offers or max_age a message is
// a dead letter instead, redeliverable by an operator: Policy.Offer). A
// status update is never offered before the earlier deliveries of its
// case to the same partner are acknowledged. With q.Wait the call holds
// until a message is visible or the wait has passed, then answers,
// possibly with none; Outbox.Wake ends the wait at once, and the mailbox
// looks again every second anyway.
func (m *Mailbox) Poll(ctx context.Context, p gateway.Principal, q Query) (*contracts.MailboxBatch, error) {
	if err := gateway.Authorize(p, gateway.ActPullMailbox, nil, ""); err != nil {
		return nil, err
	}
	after, err := ParseCursor(q.After)
	if err != nil {
		return nil, err
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultMailboxBatch
	case q.Limit < 0 || q.Limit > MaxMailboxBatch:
		return nil, gateway.Failf(contracts.CodeBadRequest, "query parameter limit must be an integer from 1 to %d", MaxMailboxBatch)
	}
	if q.Wait < 0 || q.Wait > MaxMailboxWait {
		return nil, gateway.Failf(contracts.CodeBadRequest, "query parameter wait must be from 0 to %d seconds", int(MaxMailboxWait/time.Second))
	}
	deadline := time.Now().Add(q.Wait)
	for {
		changed := m.signal.wait() // before the claim: a write after it wakes us
		msgs, err := m.offer(ctx, p.Partner, after, q.Limit)
		if err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if len(msgs) > 0 || left <= 0 {
			batch := &contracts.MailboxBatch{Messages: msgs, NextCursor: q.After}
			if n := len(msgs); n > 0 {
				batch.NextCursor = msgs[n-1].Cursor
			}
			return batch, nil
		}
		t := time.NewTimer(min(left, mailboxRecheck))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, gateway.Failf(contracts.CodeUnavailable, "poll abandoned")
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// offer claims up to limit visible messages of p's mailbox and returns
// them signed. Messages Policy.Offer refuses to offer again become dead
// letters instead.
func (m *Mailbox) offer(ctx context.Context, p *gateway.Partner, after int64, limit int) ([]contracts.MailboxMessage, error) {
	now := m.env.Clock.Now().UTC()
	pol := PolicyFor(p)
	decide := func(d *gateway.Delivery) Transition { return pol.Offer(offeredBefore(d), Since(d), now) }
	claimed, err := m.store.ClaimMailbox(ctx, gateway.MailboxClaim{
		Partner: p.ID, Now: now, Visibility: p.Mailbox.Visibility, After: after, Limit: limit, Reoffer: reofferText,
		// Each offer's record is written with its claim.
		Offer: func(d *gateway.Delivery) []contracts.EvidenceRecord {
			if decide(d).Dead() {
				return nil
			}
			return m.env.Recorder.Attempt(d, now, "offered", 0, "")
		},
	})
	if err != nil {
		return nil, gateway.Internal(err)
	}
	msgs := make([]contracts.MailboxMessage, 0, len(claimed))
	for _, d := range claimed {
		if tr := decide(d); tr.Dead() {
			m.expire(ctx, d, tr)
			continue
		}
		m.inst.attempt(ctx, d, "offered", 0)
		sig, err := m.crypto.Sign(d.Payload)
		if err != nil {
			return nil, gateway.Internal(fmt.Errorf("sign mailbox message: %w", err))
		}
		msgs = append(msgs, contracts.MailboxMessage{
			Cursor: strconv.FormatInt(d.Seq, 10), DeliveryID: d.ID, ExchangeID: d.ExchangeID, Kind: d.Kind,
			SentAt: d.CreatedAt, Body: d.Payload, Signature: sig, KeyID: m.crypto.KeyID(),
		})
	}
	return msgs, nil
}

// offeredBefore returns how often the claimed mailbox message d was
// offered before this claim: the store counted the claim as an offer
// (ClaimMailbox increments Attempts).
func offeredBefore(d *gateway.Delivery) int { return d.Attempts - 1 }

// expire makes a claimed mailbox message a dead letter as tr says: it was
// offered as often, or waited as long, as the partner's retry policy
// allows. Its stored attempts are the offers really made: the claim that
// found it exhausted offered nothing.
func (m *Mailbox) expire(ctx context.Context, d *gateway.Delivery, tr Transition) {
	d.Attempts = offeredBefore(d)
	d.State = tr.State
	d.LastError = tr.Why(notAcknowledged)
	ev := m.env.Recorder.Attempt(d, m.env.Clock.Now().UTC(), string(d.State), 0, "")
	if err := m.store.SaveAttempt(ctx, d, ev...); err != nil && !errors.Is(err, gateway.ErrStale) {
		m.env.Log.ErrorContext(ctx, "recording dead mailbox message failed", "delivery_id", d.ID, "err", err)
		return
	}
	m.env.Log.WarnContext(ctx, "mailbox message dead", "delivery_id", d.ID, "case_id", d.CaseID, "partner", d.Partner, "reason", d.LastError)
}

// Ack takes a pulling partner's signed acknowledgements of messages it
// received from its mailbox. The body (a contracts.MailboxAck) is verified
// against the caller's key like every exchange; each acknowledgement must
// name a delivery of the caller's with its exchange_id, the SM3 of the
// message body as handed out, the key that signed the batch and, for a
// case, the partner's case number. All are checked before any is
// recorded: one that does not match refuses the whole batch
// (validation_failed, naming it). Deliveries that are not the caller's are
// listed as unknown. Acknowledging twice is harmless. Each delivery keeps
// the whole signed batch as its acknowledgement evidence; its case changes
// as the AckEffect hook says. The deliveries of no case it acknowledges
// (usage records of licenses the caller issued) are recorded together, in
// one store write, each with its own delivery.attempt record.
func (m *Mailbox) Ack(ctx context.Context, in gateway.Inbound) (*contracts.MailboxAckResult, error) {
	if err := gateway.Authorize(in.Caller, gateway.ActPullMailbox, nil, ""); err != nil {
		return nil, err
	}
	if err := gateway.VerifyInbound(ctx, m.env.Telemetry, m.crypto, in); err != nil {
		return nil, err
	}
	acks, err := parseMailboxAck(in.Body, in.KeyID)
	if err != nil {
		return nil, err
	}
	res := &contracts.MailboxAckResult{}
	type pending struct {
		d   *gateway.Delivery
		ack contracts.Ack
	}
	var todo []pending
	seen := map[string]bool{}
	for i, a := range acks {
		field := fmt.Sprintf("acks[%d]", i)
		d, err := m.store.GetDelivery(ctx, a.DeliveryID)
		switch {
		case errors.Is(err, gateway.ErrNotFound):
			res.Unknown = append(res.Unknown, a.DeliveryID)
			continue
		case err != nil:
			return nil, gateway.Internal(err)
		case d.Partner != in.Caller.ID():
			res.Unknown = append(res.Unknown, a.DeliveryID)
			continue
		}
		switch {
		case a.ExchangeID != d.ExchangeID:
			return nil, gateway.Failf(contracts.CodeValidationFailed, "%s.exchange_id: is not the exchange of delivery %s", field, d.ID)
		case a.BodySM3 != m.crypto.SM3Hex(d.Payload):
			return nil, gateway.Failf(contracts.CodeValidationFailed, "%s.body_sm3: is not the SM3 of the message body handed out", field)
		case d.Kind == contracts.DeliveryKindCase && a.PartnerCaseNo == "":
			return nil, gateway.Failf(contracts.CodeValidationFailed, "%s.partner_case_no: is required when acknowledging a case", field)
		}
		if err := m.acks.conflict(ctx, d, &a); err != nil {
			var c *AckConflict
			if !errors.As(err, &c) {
				return nil, gateway.Internal(err)
			}
			m.refuseMailboxAck(ctx, d, c)
			return nil, mailboxConflict(field)
		}
		if seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		todo = append(todo, pending{d, a})
	}
	now := m.env.Clock.Now().UTC()
	var noCase []gateway.DeliveredMark
	for _, t := range todo {
		res.Acknowledged++
		if !(Policy{}).Acknowledgeable(t.d.State, t.d.LeaseUntil, t.d.LeaseUntil, true) {
			continue // already delivered or cancelled
		}
		ack := t.ack
		if t.d.Attempts == 0 {
			t.d.Attempts = 1 // acknowledged without an offer on record (after a redelivery)
		}
		if t.d.CaseID == "" {
			noCase = append(noCase, m.acks.mark(now, t.d, &ack, in.Body, in.Signature, 0))
			continue
		}
		err := m.acks.record(ctx, now, t.d, &ack, in.Body, in.Signature, true, 0)
		if err != nil && !errors.Is(err, gateway.ErrStale) {
			return nil, gateway.Internal(err)
		}
		m.env.Log.DebugContext(ctx, "delivered", "delivery_id", t.d.ID, "case_id", t.d.CaseID, "kind", t.d.Kind,
			"partner", t.d.Partner, "attempt", t.d.Attempts, "via", "mailbox")
	}
	if len(noCase) > 0 {
		errs, err := m.store.MarkDeliveredAll(ctx, noCase, true)
		if err != nil {
			return nil, gateway.Internal(err)
		}
		for i, mk := range noCase {
			if e := errs[i]; e != nil && !errors.Is(e, gateway.ErrStale) {
				return nil, gateway.Internal(e)
			}
			m.env.Log.DebugContext(ctx, "delivered", "delivery_id", mk.Delivery.ID, "kind", mk.Delivery.Kind,
				"partner", mk.Delivery.Partner, "attempt", mk.Delivery.Attempts, "via", "mailbox")
		}
	}
	if len(todo) > 0 {
		m.wake() // a later message of the same case may be visible now
	}
	return res, nil
}

// parseMailboxAck reads a MailboxAck body strictly and checks each of its
// 1 to MaxMailboxBatch acknowledgements on its own (checkAckShape), keyID
// being the key that signed the body. It fails with invalid_json,
// validation_failed or invalid_exchange_id, naming the acknowledgement at
// fault and never quoting a value.
func parseMailboxAck(body []byte, keyID string) ([]contracts.Ack, error) {
	var batch contracts.MailboxAck
	if err := gateway.DecodeStrict(body, &batch); err != nil {
		return nil, err
	}
	if n := len(batch.Acks); n == 0 || n > MaxMailboxBatch {
		return nil, gateway.Failf(contracts.CodeValidationFailed, "acks: must hold 1 to %d acknowledgements", MaxMailboxBatch)
	}
	for i, a := range batch.Acks {
		if err := checkAckShape(fmt.Sprintf("acks[%d]", i), a, keyID); err != nil {
			return nil, err
		}
	}
	return batch.Acks, nil
}

// checkAckShape checks one mailbox acknowledgement on its own: a
// canonical exchange id, a delivery id, acknowledged_at, a well-formed
// body_sm3, the key id that signed the batch, and a partner case number of
// at most 64 printable bytes. It fails naming field, never quoting a value.
func checkAckShape(field string, a contracts.Ack, keyID string) error {
	switch {
	case a.DeliveryID == "" || len(a.DeliveryID) > 64:
		return gateway.Failf(contracts.CodeValidationFailed, "%s.delivery_id: is required (at most 64 bytes)", field)
	case contracts.ValidateUUID(a.ExchangeID) != nil:
		return gateway.Failf(contracts.CodeInvalidExchangeID, "%s.exchange_id: is not a canonical UUID", field)
	case a.AcknowledgedAt.IsZero():
		return gateway.Failf(contracts.CodeValidationFailed, "%s.acknowledged_at: is required", field)
	case contracts.ValidateSM3Hex("body_sm3", a.BodySM3) != nil:
		return gateway.Failf(contracts.CodeValidationFailed, "%s.body_sm3: is not 64 lowercase hex digits", field)
	case a.KeyID != keyID:
		return gateway.Failf(contracts.CodeValidationFailed, "%s.key_id: is not the Gw-Key-Id that signed the batch", field)
	case len(a.PartnerCaseNo) > 64 || strings.ContainsFunc(a.PartnerCaseNo, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return gateway.Failf(contracts.CodeValidationFailed, "%s.partner_case_no: at most 64 printable bytes", field)
	}
	return nil
}
