package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// maxStaleRetries bounds the retries of one acknowledgement's write
// against concurrent changes of its case.
const maxStaleRetries = 8

// acker records partners' acknowledgements: the delivery becomes
// delivered, its case changes as effect says, and the evidence record of
// the acknowledged attempt goes in the same write.
type acker struct {
	store  DispatchStore
	rec    gateway.Recorder
	effect gateway.AckEffect // nil: the case is left as it is
}

// record stores a partner's acknowledgement of del, made at now: the
// delivery becomes delivered with the acknowledgement as evidence (ack,
// and the exact bytes raw and signature sig it came in) and, for a
// delivery of a case, the case changes as the AckEffect hook says (called
// with the case as just read; without a hook only its UpdatedAt moves).
// del.Attempts must already count the acknowledged attempt.
//
// An acknowledgement of a case delivery giving, as the owner's case
// number, one that belongs to another case of the same owner is refused
// with an *AckConflict, and nothing is written (the store checks it in
// the write: gateway.Change.FreeOwnerCaseNo).
//
// An attempt's acknowledgement (outOfBand false) is fenced by del's lease:
// if another dispatcher has claimed the delivery since, its outcome stands
// and record returns gateway.ErrStale. A mailbox acknowledgement
// (outOfBand true) is taken whatever the lease, unless the delivery is
// already delivered or cancelled (ErrStale); see Policy.Acknowledgeable. A
// delivery of no case is marked alone; it cannot be acknowledged out of
// band here (several, out of band or not, are marked together with mark
// and MarkDeliveredAll). When the case changed under the write, it is read again and the
// write retried, at most maxStaleRetries times. The evidence record of the
// acknowledged attempt (latency as measured) is written in the same write.
func (a acker) record(ctx context.Context, now time.Time, del *gateway.Delivery, ack *contracts.Ack, raw, sig []byte, outOfBand bool, latency time.Duration) error {
	return a.recordNext(ctx, now, del, ack, raw, sig, outOfBand, latency, nil)
}

// recordNext is record whose write also claims the next due deliveries
// as next says (gateway.NextClaim), when next is not nil: next.Claimed
// holds them once it returns nil. A write retried after a concurrent
// change of the case claims with the write that succeeds.
func (a acker) recordNext(ctx context.Context, now time.Time, del *gateway.Delivery, ack *contracts.Ack, raw, sig []byte,
	outOfBand bool, latency time.Duration, next *gateway.NextClaim) error {
	del.State, del.DeliveredAt = contracts.TransportStateDelivered, now
	del.Ack, del.AckBody, del.AckSig = ack, raw, sig // LastError keeps the last failure, for operators
	if del.CaseID == "" {
		if outOfBand {
			return errors.New("gateway: a delivery of no case is acknowledged only by an attempt")
		}
		return a.store.MarkDelivered(ctx, del, next, a.rec.Attempt(del, now, "delivered", latency, "")...)
	}
	// The owner's case number the acknowledgement gives must be no other
	// case's: the write checks it (see conflict).
	var free string
	if del.Kind == contracts.DeliveryKindCase && ack != nil {
		free = ack.PartnerCaseNo
	}
	// The case as claimed with the delivery, if it came with it (the
	// write fails with ErrStale if it has changed since); else, and on
	// every retry, as read now.
	claimed := del.Case
	for range maxStaleRetries {
		var c *gateway.Case
		if claimed != nil && claimed.ID == del.CaseID {
			cc := *claimed
			c, claimed = &cc, nil
		} else {
			var err error
			if c, err = a.store.GetCase(ctx, del.CaseID); err != nil {
				return err
			}
		}
		var (
			st        *gateway.Status
			caseState contracts.CaseState
		)
		if a.effect != nil {
			st, caseState = a.effect(c, del, ack, now)
		}
		c.UpdatedAt = now
		ev := a.rec.Attempt(del, now, "delivered", latency, caseState)
		err := a.store.UpdateCase(ctx, gateway.Change{Case: c, Status: st, Delivered: del, OutOfBand: outOfBand, Evidence: ev,
			FreeOwnerCaseNo: free, Claim: next})
		var taken *gateway.OwnerCaseNoTaken
		if errors.As(err, &taken) {
			return &AckConflict{CaseNo: taken.CaseNo, OtherCase: taken.OtherCase}
		}
		if !errors.Is(err, gateway.ErrStale) {
			return err
		}
		// Stale: the case changed under us, or the delivery is no longer
		// ours to mark. Only the first is worth another try.
		cur, gerr := a.store.GetDelivery(ctx, del.ID)
		if gerr != nil {
			return gerr
		}
		if !(Policy{}).Acknowledgeable(cur.State, cur.LeaseUntil, del.LeaseUntil, outOfBand) {
			return gateway.ErrStale
		}
	}
	return gateway.ErrStale
}

// mark returns the acknowledgement ack of del, a delivery of no case, made
// at now, as one mark of an OutboxStore.MarkDeliveredAll write: del
// becomes delivered with the acknowledgement as evidence (ack, and the
// exact bytes raw and signature sig it came in), with the evidence record
// of the acknowledged attempt (latency as measured). del.Attempts must
// already count that attempt. Several such marks are recorded in one
// write, each fenced on its own.
func (a acker) mark(now time.Time, del *gateway.Delivery, ack *contracts.Ack, raw, sig []byte, latency time.Duration) gateway.DeliveredMark {
	del.State, del.DeliveredAt = contracts.TransportStateDelivered, now
	del.Ack, del.AckBody, del.AckSig = ack, raw, sig // LastError keeps the last failure, for operators
	return gateway.DeliveredMark{Delivery: del, Evidence: a.rec.Attempt(del, now, "delivered", latency, "")}
}

// AckConflict is an acknowledgement of a case delivery that gives, as the
// owner's case number, one that already belongs to another case of the
// same owner: the owner took this case for that one (say it recognised
// repeats by a key that is unique per sender only) and filed nothing of
// its own for it. The acknowledgement is refused: the delivery does not
// count as delivered (see acker.conflict).
type AckConflict struct {
	// CaseNo is the owner's case number the acknowledgement gave.
	CaseNo string
	// OtherCase is the gateway's id of the case that holds it.
	OtherCase string
}

// Error says what was refused, in operators' terms. It names case
// numbers and ids only, no personal data.
func (e *AckConflict) Error() string {
	return fmt.Sprintf("acknowledged as case number %s, which the owner gave case %s already; not taken as delivered", e.CaseNo, e.OtherCase)
}

// conflict checks the acknowledgement ack of the case delivery del (to
// its owner, del.Partner): the owner's case number it gives must belong
// to no other case of that owner. It returns an *AckConflict when it
// does, the store's error when the check could not be made, and nil for
// any other delivery, an acknowledgement without a number, or a number
// that is this case's own or no case's. record makes the same check in
// its write; a mailbox checks a whole batch of acknowledgements first.
func (a acker) conflict(ctx context.Context, del *gateway.Delivery, ack *contracts.Ack) error {
	if del.Kind != contracts.DeliveryKindCase || del.CaseID == "" || ack == nil || ack.PartnerCaseNo == "" {
		return nil
	}
	other, err := a.store.CaseByOwnerCaseNo(ctx, del.Partner, ack.PartnerCaseNo)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return nil
	case err != nil:
		return err
	case other.ID == del.CaseID:
		return nil
	}
	return &AckConflict{CaseNo: ack.PartnerCaseNo, OtherCase: other.ID}
}
