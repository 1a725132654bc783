package outbox

import (
	"context"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Outcomes of delivery.attempt records beside the transport states
// (delivered, retry_wait, dead) and a mailbox's offered.
const (
	// OutcomeInterrupted: an attempt cut off with no outcome recorded
	// (its dispatcher crashed, or lost its lease), found when another
	// dispatcher claimed the delivery from its expired lease. The partner
	// may or may not have received it; the next attempt follows.
	OutcomeInterrupted = "interrupted"
	// OutcomeAckRefused: a pulling partner's acknowledgement refused
	// because the owner's case number it gives belongs to another case of
	// that owner (AckConflict); the message stays in the mailbox.
	OutcomeAckRefused = "ack_refused"
)

// interruptedReason is the last error an interrupted attempt leaves.
const interruptedReason = "attempt interrupted before its outcome was recorded (lease expired); the partner may have received it"

// interrupted records the attempt of del that a crashed dispatcher left
// without an outcome, before del is attempted again: del.Attempts counts
// it from now on (the count is stored with the next outcome), its last
// error says so, and a delivery.attempt record with outcome interrupted
// goes to the evidence log at once, so the log shows that the partner may
// get the delivery twice. del must have been claimed with TakenOver set.
func (d *Dispatcher) interrupted(ctx context.Context, del *gateway.Delivery) {
	now := d.env.Clock.Now().UTC()
	del.Attempts++
	del.LastError = interruptedReason
	d.inst.attempt(ctx, del, OutcomeInterrupted, 0)
	if ev := d.env.Recorder.Attempt(del, now, OutcomeInterrupted, 0, ""); len(ev) > 0 {
		if err := d.store.AppendEvidence(ctx, ev...); err != nil {
			d.env.Log.ErrorContext(ctx, "recording interrupted attempt failed", "delivery_id", del.ID, "err", err)
		}
	}
	d.env.Log.WarnContext(ctx, "delivery attempt interrupted", "delivery_id", del.ID, "case_id", del.CaseID,
		"partner", del.Partner, "attempt", del.Attempts, "reason", interruptedReason)
}

// refuseAck records an acknowledgement of an attempt that the store
// refused as c (the owner's case number it gives is another case's: see
// acker.record): the delivery becomes a dead letter ("permanent:
// acknowledged as case number …"), reported in the log and the
// ack-conflict metric, since the partner would answer a repeat the same
// way until it is fixed (then an operator redelivers).
func (d *Dispatcher) refuseAck(ctx context.Context, del *gateway.Delivery, p *gateway.Partner, c *AckConflict, latency time.Duration) {
	d.inst.ackConflict(ctx, del)
	d.env.Log.WarnContext(ctx, "acknowledgement refused: the owner's case number belongs to another case",
		"delivery_id", del.ID, "case_id", del.CaseID, "other_case_id", c.OtherCase, "partner", del.Partner,
		"partner_case_no", c.CaseNo)
	d.failAfter(ctx, del, p, failure{permanent: true, reason: c.Error(), public: c.Error()}, latency)
}

// refuseMailboxAck reports a pulling partner's acknowledgement of del
// that acker.conflict refused with c (the whole batch is refused): a
// delivery.attempt record with outcome ack_refused, a log line and the
// ack-conflict metric. The message stays as it is: offered again after
// its visibility, a dead letter once its offers run out.
func (m *Mailbox) refuseMailboxAck(ctx context.Context, del *gateway.Delivery, c *AckConflict) {
	m.inst.ackConflict(ctx, del)
	m.env.Log.WarnContext(ctx, "acknowledgement refused: the owner's case number belongs to another case",
		"delivery_id", del.ID, "case_id", del.CaseID, "other_case_id", c.OtherCase, "partner", del.Partner,
		"partner_case_no", c.CaseNo, "via", "mailbox")
	rec := *del
	rec.LastError = c.Error()
	if ev := m.env.Recorder.Attempt(&rec, m.env.Clock.Now().UTC(), OutcomeAckRefused, 0, ""); len(ev) > 0 {
		if err := m.store.AppendEvidence(ctx, ev...); err != nil {
			m.env.Log.ErrorContext(ctx, "recording refused acknowledgement failed", "delivery_id", del.ID, "err", err)
		}
	}
}

// mailboxConflict is the refusal a pulling partner gets for the
// acknowledgement at field whose case number is another case's.
func mailboxConflict(field string) error {
	return gateway.Failf(contracts.CodeValidationFailed,
		"%s.partner_case_no: is the number of another case you were sent; each message is a case of its own, recognised by its delivery_id", field)
}
