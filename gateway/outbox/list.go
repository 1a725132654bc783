package outbox

import (
	"context"
	"strconv"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// The page sizes of ListDeliveries.
const (
	DefaultDeliveryPage = 100
	MaxDeliveryPage     = 500
)

// DeliveryFilter is what an operator asks of ListDeliveries (GET
// /v1/admin/deliveries).
type DeliveryFilter struct {
	// State is pending, in_flight, retry_wait or dead; "" means dead and
	// retry_wait, the deliveries that need an operator's eye.
	State contracts.TransportState
	// Partner, when set, keeps only the deliveries to that partner id.
	Partner string
	// Cursor is the next_cursor of the page before; "" for the first.
	Cursor string
	// Limit is the page size; 0 means DefaultDeliveryPage.
	Limit int
}

// ListDeliveries returns a page of the unfinished deliveries f selects,
// oldest first, each with its kind, case, partner, attempts, last error
// and next attempt: what waits for operators. Only operators may
// (forbidden otherwise); a bad filter is refused with validation_failed
// naming it. A partner the directory does not know is no error: the
// deliveries of a partner no longer configured are listed too.
func (r *Redelivery) ListDeliveries(ctx context.Context, p gateway.Principal, f DeliveryFilter) (*contracts.DeliveryPage, error) {
	if err := gateway.Authorize(p, gateway.ActListDeliveries, nil, ""); err != nil {
		return nil, err
	}
	q := gateway.DeliveryQuery{Partner: f.Partner, Limit: f.Limit}
	switch {
	case f.State == "":
		q.States = []contracts.TransportState{contracts.TransportStateDead, contracts.TransportStateRetryWait}
	case gateway.Unfinished(f.State):
		q.States = []contracts.TransportState{f.State}
	default:
		return nil, gateway.Failf(contracts.CodeValidationFailed, "state: %q is not dead, retry_wait, pending or in_flight", f.State)
	}
	if q.Partner != "" {
		if err := contracts.ValidateOpaqueID("partner", q.Partner); err != nil {
			return nil, gateway.FromField(err)
		}
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxDeliveryPage:
		return nil, gateway.Failf(contracts.CodeValidationFailed, "limit: must be from 1 to %d", MaxDeliveryPage)
	case q.Limit == 0:
		q.Limit = DefaultDeliveryPage
	}
	if f.Cursor != "" {
		n, err := ParseDeliveryCursor(f.Cursor)
		if err != nil {
			return nil, err
		}
		q.After = n
	}
	limit := q.Limit
	q.Limit++ // one more tells whether a page follows
	ds, err := r.store.ListDeliveries(ctx, q)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	page := &contracts.DeliveryPage{Items: make([]contracts.DeliverySummary, 0, min(len(ds), limit))}
	for i, d := range ds {
		if i == limit {
			page.NextCursor = strconv.FormatInt(ds[i-1].Seq, 10)
			break
		}
		page.Items = append(page.Items, deliverySummary(d))
	}
	return page, nil
}

// ParseDeliveryCursor reads a next_cursor of ListDeliveries; anything else
// is refused with validation_failed.
func ParseDeliveryCursor(cursor string) (int64, error) {
	n, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || n <= 0 {
		return 0, gateway.Failf(contracts.CodeValidationFailed, "cursor: not a cursor this listing returned")
	}
	return n, nil
}

// deliverySummary is d as operators see it.
func deliverySummary(d *gateway.Delivery) contracts.DeliverySummary {
	s := contracts.DeliverySummary{
		DeliveryID: d.ID, Kind: d.Kind, CaseID: d.CaseID, Partner: d.Partner, ExchangeID: d.ExchangeID,
		State: d.State, Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt.UTC(),
	}
	if d.State == contracts.TransportStatePending || d.State == contracts.TransportStateRetryWait {
		s.NextAttemptAt = d.NextAt.UTC()
	}
	return s
}
