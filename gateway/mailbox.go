package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tongban/tongban/contracts"
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

// signal wakes every goroutine waiting on it at once: waiters take the
// current channel, broadcast closes it.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next broadcast.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// broadcast wakes every current waiter.
func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// wake tells the dispatcher and every waiting mailbox poll that new
// deliveries may be due.
func (s *Service) wake() {
	s.notify()
	s.mailbox.broadcast()
}

// MailboxQuery is one poll of a partner's mailbox.
type MailboxQuery struct {
	// After is the next_cursor of the previous batch, "" for none.
	After string
	// Wait is how long to wait for a message when none is visible, at
	// most MaxMailboxWait; zero answers at once.
	Wait time.Duration
	// Limit is the most messages returned, 1..MaxMailboxBatch; zero means
	// DefaultMailboxBatch.
	Limit int
}

// ParseCursor reads a mailbox cursor: "" or the decimal seq of a message
// the gateway handed out. It fails with bad_request otherwise.
func ParseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strings.TrimLeft(s, "0123456789") != "" || len(s) > 19 {
		return 0, failf(contracts.CodeBadRequest, "query parameter after is not a cursor this endpoint returned")
	}
	return n, nil
}

// PollMailbox hands the calling partner the next messages of its mailbox:
// deliveries addressed to it that are not acknowledged, after its cursor
// first, each signed by the gateway. Messages handed out are hidden from
// later polls for the mailbox's visibility timeout; not acknowledged by
// then, they are offered again (each offer counts as an attempt of the
// partner's retry policy; past max_attempts offers or max_age a message is
// a dead letter instead, redeliverable by an operator). A status update is
// never offered before the earlier deliveries of its case to the same
// partner are acknowledged. With q.Wait the call holds until a message is
// visible or the wait has passed, then answers, possibly with none.
func (s *Service) PollMailbox(ctx context.Context, p Principal, q MailboxQuery) (*contracts.MailboxBatch, error) {
	if err := Authorize(p, ActPullMailbox, nil, ""); err != nil {
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
		return nil, failf(contracts.CodeBadRequest, "query parameter limit must be an integer from 1 to %d", MaxMailboxBatch)
	}
	if q.Wait < 0 || q.Wait > MaxMailboxWait {
		return nil, failf(contracts.CodeBadRequest, "query parameter wait must be from 0 to %d seconds", int(MaxMailboxWait/time.Second))
	}
	deadline := time.Now().Add(q.Wait)
	for {
		changed := s.mailbox.wait() // before the claim: a write after it wakes us
		msgs, err := s.offer(ctx, p.Partner, after, q.Limit)
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
			return nil, failf(contracts.CodeUnavailable, "poll abandoned")
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// offer claims up to limit visible messages of p's mailbox and returns
// them signed. Messages past the retry policy become dead letters
// instead.
func (s *Service) offer(ctx context.Context, p *Partner, after int64, limit int) ([]contracts.MailboxMessage, error) {
	now := s.clock.Now().UTC()
	policy := p.Retry.WithDefaults()
	expired := func(d *Delivery) bool { return d.Attempts > policy.MaxAttempts || now.Sub(since(d)) >= policy.MaxAge }
	claimed, err := s.store.ClaimMailbox(ctx, MailboxClaim{
		Partner: p.ID, Now: now, Visibility: p.Mailbox.Visibility, After: after, Limit: limit, Reoffer: reofferText,
		// Each offer's record is written with its claim.
		Offer: func(d *Delivery) []contracts.EvidenceRecord {
			if expired(d) {
				return nil
			}
			return s.attempts().record(d, now, "offered", 0, "")
		},
	})
	if err != nil {
		return nil, internal(err)
	}
	msgs := make([]contracts.MailboxMessage, 0, len(claimed))
	for _, d := range claimed {
		if expired(d) {
			s.expire(ctx, d, policy)
			continue
		}
		recordAttempt(ctx, d, "offered", 0)
		sig, err := s.crypto.Sign(d.Payload)
		if err != nil {
			return nil, internal(fmt.Errorf("sign mailbox message: %w", err))
		}
		msgs = append(msgs, contracts.MailboxMessage{
			Cursor: strconv.FormatInt(d.Seq, 10), DeliveryID: d.ID, ExchangeID: d.ExchangeID, Kind: d.Kind,
			SentAt: d.CreatedAt, Body: d.Payload, Signature: sig, KeyID: s.crypto.KeyID(),
		})
	}
	return msgs, nil
}

// expire makes a claimed mailbox message a dead letter: it was offered as
// often, or waited as long, as the partner's retry policy allows.
func (s *Service) expire(ctx context.Context, d *Delivery, policy RetryPolicy) {
	d.Attempts-- // this claim was not an offer
	d.State = contracts.TransportStateDead
	if d.Attempts >= policy.MaxAttempts {
		d.LastError = fmt.Sprintf("gave up after %d offers: not acknowledged", d.Attempts)
	} else {
		d.LastError = fmt.Sprintf("gave up after %s: not acknowledged", policy.MaxAge)
	}
	ev := s.attempts().record(d, s.clock.Now().UTC(), string(d.State), 0, "")
	if err := s.store.SaveAttempt(ctx, d, ev...); err != nil && !errors.Is(err, ErrStale) {
		s.log.ErrorContext(ctx, "recording dead mailbox message failed", "delivery_id", d.ID, "err", err)
		return
	}
	s.log.WarnContext(ctx, "mailbox message dead", "delivery_id", d.ID, "case_id", d.CaseID, "partner", d.Partner, "reason", d.LastError)
}

// AckMailbox takes a pulling partner's signed acknowledgements of messages
// it received from its mailbox. The body (a contracts.MailboxAck) is
// verified against the caller's key like every exchange; each
// acknowledgement must name a delivery of the caller's with its
// exchange_id, the SM3 of the message body as handed out, the key that
// signed the batch and, for a case, the partner's case number. All are
// checked before any is recorded: one that does not match refuses the
// whole batch (validation_failed, naming it). Deliveries that are not the
// caller's are listed as unknown. Acknowledging twice is harmless. Each
// delivery keeps the whole signed batch as its acknowledgement evidence.
func (s *Service) AckMailbox(ctx context.Context, in Inbound) (*contracts.MailboxAckResult, error) {
	if err := Authorize(in.Caller, ActPullMailbox, nil, ""); err != nil {
		return nil, err
	}
	if err := s.verify(ctx, in); err != nil {
		return nil, err
	}
	acks, err := parseMailboxAck(in.Body, in.KeyID)
	if err != nil {
		return nil, err
	}
	res := &contracts.MailboxAckResult{}
	type pending struct {
		d   *Delivery
		ack contracts.Ack
	}
	var todo []pending
	seen := map[string]bool{}
	for i, a := range acks {
		field := fmt.Sprintf("acks[%d]", i)
		d, err := s.store.GetDelivery(ctx, a.DeliveryID)
		switch {
		case errors.Is(err, ErrNotFound):
			res.Unknown = append(res.Unknown, a.DeliveryID)
			continue
		case err != nil:
			return nil, internal(err)
		case d.Partner != in.Caller.ID():
			res.Unknown = append(res.Unknown, a.DeliveryID)
			continue
		}
		switch {
		case a.ExchangeID != d.ExchangeID:
			return nil, failf(contracts.CodeValidationFailed, "%s.exchange_id: is not the exchange of delivery %s", field, d.ID)
		case a.BodySM3 != s.crypto.SM3Hex(d.Payload):
			return nil, failf(contracts.CodeValidationFailed, "%s.body_sm3: is not the SM3 of the message body handed out", field)
		case d.Kind == contracts.DeliveryKindCase && a.PartnerCaseNo == "":
			return nil, failf(contracts.CodeValidationFailed, "%s.partner_case_no: is required when acknowledging a case", field)
		}
		if seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		todo = append(todo, pending{d, a})
	}
	now := s.clock.Now().UTC()
	for _, t := range todo {
		res.Acknowledged++
		if t.d.State == contracts.TransportStateDelivered || t.d.State == contracts.TransportStateCancelled {
			continue
		}
		ack := t.ack
		if t.d.Attempts == 0 {
			t.d.Attempts = 1 // acknowledged without an offer on record (after a redelivery)
		}
		err := recordAck(ctx, s.store, s.attempts(), now, t.d, &ack, in.Body, in.Signature, true, 0)
		if err != nil && !errors.Is(err, ErrStale) {
			return nil, internal(err)
		}
		s.log.InfoContext(ctx, "delivered", "delivery_id", t.d.ID, "case_id", t.d.CaseID, "kind", t.d.Kind,
			"partner", t.d.Partner, "attempt", t.d.Attempts, "via", "mailbox")
	}
	if len(todo) > 0 {
		s.wake() // a later message of the same case may be visible now
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
	if err := decodeStrict(body, &batch); err != nil {
		return nil, err
	}
	if n := len(batch.Acks); n == 0 || n > MaxMailboxBatch {
		return nil, failf(contracts.CodeValidationFailed, "acks: must hold 1 to %d acknowledgements", MaxMailboxBatch)
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
// at most 64 printable bytes.
func checkAckShape(field string, a contracts.Ack, keyID string) error {
	switch {
	case a.DeliveryID == "" || len(a.DeliveryID) > 64:
		return failf(contracts.CodeValidationFailed, "%s.delivery_id: is required (at most 64 bytes)", field)
	case contracts.ValidateUUID(a.ExchangeID) != nil:
		return failf(contracts.CodeInvalidExchangeID, "%s.exchange_id: is not a canonical UUID", field)
	case a.AcknowledgedAt.IsZero():
		return failf(contracts.CodeValidationFailed, "%s.acknowledged_at: is required", field)
	case contracts.ValidateSM3Hex("body_sm3", a.BodySM3) != nil:
		return failf(contracts.CodeValidationFailed, "%s.body_sm3: is not 64 lowercase hex digits", field)
	case a.KeyID != keyID:
		return failf(contracts.CodeValidationFailed, "%s.key_id: is not the Gw-Key-Id that signed the batch", field)
	case len(a.PartnerCaseNo) > 64 || strings.ContainsFunc(a.PartnerCaseNo, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return failf(contracts.CodeValidationFailed, "%s.partner_case_no: at most 64 printable bytes", field)
	}
	return nil
}
