package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/tongban/tongban/contracts"
)

// recordAck stores a partner's acknowledgement of del, made at now: the
// delivery becomes delivered with the acknowledgement as evidence (ack,
// and the exact bytes raw and signature sig it came in), and a case
// acknowledgement moves the case from received to forwarded with the
// owner's case number. del.Attempts must already count the acknowledged
// attempt.
//
// An attempt's acknowledgement (outOfBand false) is fenced by del's lease:
// if another dispatcher has claimed the delivery since, its outcome stands
// and recordAck returns ErrStale. A mailbox acknowledgement (outOfBand
// true) is taken whatever the lease, unless the delivery is already
// delivered or cancelled (ErrStale). A delivery of no case is marked
// alone; it cannot be acknowledged out of band. The evidence record of the
// acknowledged attempt (latency as measured, sm3 digesting the
// acknowledgement's bytes) is written in the same write.
func recordAck(ctx context.Context, store Store, evl attemptLog, now time.Time, del *Delivery, ack *contracts.Ack, raw, sig []byte, outOfBand bool, latency time.Duration) error {
	del.State, del.DeliveredAt = contracts.TransportStateDelivered, now
	del.Ack, del.AckBody, del.AckSig = ack, raw, sig // LastError keeps the last failure, for operators
	if del.CaseID == "" {
		if outOfBand {
			return errors.New("gateway: a delivery of no case is acknowledged only by an attempt")
		}
		return store.MarkDelivered(ctx, del, evl.record(del, now, "delivered", latency, "")...)
	}
	for range maxStaleRetries {
		c, err := store.GetCase(ctx, del.CaseID)
		if err != nil {
			return err
		}
		var (
			st        *Status
			caseState contracts.CaseState
		)
		if del.Kind == contracts.DeliveryKindCase && ack != nil {
			if ack.PartnerCaseNo != "" {
				c.OwnerCaseNo = ack.PartnerCaseNo
			}
			if c.State == contracts.CaseStateReceived {
				c.State, caseState = contracts.CaseStateForwarded, contracts.CaseStateForwarded
				st = &Status{CaseID: c.ID, State: c.State, At: now, ExchangeID: del.ExchangeID, ReportedBy: del.Partner,
					Note: "acknowledged by owner as " + ack.PartnerCaseNo}
			}
		}
		c.UpdatedAt = now
		ev := evl.record(del, now, "delivered", latency, caseState)
		err = store.UpdateCase(ctx, Change{Case: c, Status: st, Delivered: del, OutOfBand: outOfBand, Evidence: ev})
		if !errors.Is(err, ErrStale) {
			return err
		}
		// Stale: the case changed under us, or the delivery is no longer
		// ours to mark. Only the first is worth another try.
		cur, gerr := store.GetDelivery(ctx, del.ID)
		if gerr != nil {
			return gerr
		}
		switch {
		case cur.State == contracts.TransportStateDelivered || cur.State == contracts.TransportStateCancelled:
			return ErrStale
		case !outOfBand && !cur.LeaseUntil.Equal(del.LeaseUntil):
			return ErrStale // another dispatcher owns it now; its outcome stands
		}
	}
	return ErrStale
}
