package outbox

import (
	"context"
	"errors"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Redelivery puts dead letters back into the outbox at an operator's
// request (Policy.Redeliver: pending, due now, attempts reset), with the
// evidence record of the request in the same write, and wakes the
// dispatcher and the waiting mailbox polls. It also lists what waits for
// operators (ListDeliveries, list.go).
type Redelivery struct {
	store gateway.OutboxStore
	dir   *gateway.Directory
	env   Env
	wake  func() // Outbox.Wake
}

// Redeliver moves the dead delivery deliveryID back to the outbox. Only
// operators may (forbidden otherwise); it fails with not_found when there
// is no such delivery and invalid_transition when it is not dead. Its
// admin.redeliver record names the delivery's case and
// partner, so the case's audit trace shows the redelivery.
func (r *Redelivery) Redeliver(ctx context.Context, p gateway.Principal, deliveryID string) (*contracts.RedeliverResult, error) {
	if err := gateway.Authorize(p, gateway.ActRedeliver, nil, ""); err != nil {
		return nil, err
	}
	del, err := r.store.GetDelivery(ctx, deliveryID)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return nil, gateway.Failf(contracts.CodeNotFound, "no such delivery")
	case err != nil:
		return nil, gateway.Internal(err)
	}
	now := r.env.Clock.Now().UTC()
	ev := r.env.Recorder.Redelivery(ctx, p, now, deliveryID, "")
	for i := range ev {
		ev[i].CaseID, ev[i].Partner = del.CaseID, del.Partner
	}
	err = r.store.Redeliver(ctx, deliveryID, now, ev...)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return nil, gateway.Failf(contracts.CodeNotFound, "no such delivery")
	case errors.Is(err, gateway.ErrNotDead):
		return nil, gateway.Failf(contracts.CodeInvalidTransition, "delivery %s is not dead; only dead letters are redelivered", deliveryID)
	case err != nil:
		return nil, gateway.Internal(err)
	}
	r.wake()
	r.env.Log.InfoContext(ctx, "redelivery", "delivery_id", deliveryID, "operator", p.ID(), "subject", p.Subject)
	return &contracts.RedeliverResult{Redelivered: []string{deliveryID}, Count: 1}, nil
}

// RedeliverPartner moves every dead delivery to partnerID back to the
// outbox and lists them (an empty list when there were none). Only
// operators may (forbidden otherwise); it fails with not_found for a
// partner the directory does not know.
func (r *Redelivery) RedeliverPartner(ctx context.Context, p gateway.Principal, partnerID string) (*contracts.RedeliverResult, error) {
	if err := gateway.Authorize(p, gateway.ActRedeliver, nil, ""); err != nil {
		return nil, err
	}
	if r.dir.Get(partnerID) == nil {
		return nil, gateway.Failf(contracts.CodeNotFound, "no such partner")
	}
	now := r.env.Clock.Now().UTC()
	var evp *contracts.EvidenceRecord
	if ev := r.env.Recorder.Redelivery(ctx, p, now, "", partnerID); len(ev) > 0 {
		evp = &ev[0]
	}
	ids, err := r.store.RedeliverDead(ctx, partnerID, now, evp)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	if ids == nil {
		ids = []string{}
	}
	r.wake()
	r.env.Log.InfoContext(ctx, "redelivery", "partner", partnerID, "count", len(ids), "operator", p.ID(), "subject", p.Subject)
	return &contracts.RedeliverResult{Redelivered: ids, Count: len(ids)}, nil
}
