package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tongban/tongban/gateway"
)

// deliveryListSelect reads deliveries as ListDeliveries returns them: every
// column of deliverySelect but the payload and the acknowledgement. The
// deliveries table is mostly history (delivered), so the query never walks
// it: the literal state list is deliveries_unfinished's condition, which
// lets the planner read that index in seq order (from the cursor on) and
// stop at the limit; $3 then keeps the states asked for. Append the
// partner condition ($4), if any, and deliveryListOrder.
const deliveryListSelect = `SELECT d.seq, d.id, d.case_id, d.partner, d.kind, d.exchange_id, d.state,
	d.attempts, d.next_at, d.lease_until, d.created_at, d.delivered_at, d.last_error,
	coalesce(d.since_at, d.created_at), d.traceparent, d.pull, NULL::text, NULL::bytea, NULL::bytea, NULL::bytea, ''::text
	FROM deliveries AS d
	WHERE d.state IN ('pending', 'in_flight', 'retry_wait', 'dead')
	  AND d.state = ANY($3) AND d.seq > $1`

const deliveryListOrder = ` ORDER BY d.seq LIMIT $2`

// ListDeliveries returns the unfinished deliveries q selects, oldest
// first, without payloads and acknowledgements (see
// gateway.OutboxStore.ListDeliveries).
func (s *Store) ListDeliveries(ctx context.Context, q gateway.DeliveryQuery) ([]*gateway.Delivery, error) {
	text, args, err := deliveryListQuery(q)
	if err != nil {
		return nil, fmt.Errorf("postgres: list deliveries: %w", err)
	}
	rows, err := s.pool.Query(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*gateway.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list deliveries: %w", err)
	}
	return out, nil
}

// deliveryListQuery returns the query text and arguments of q.
func deliveryListQuery(q gateway.DeliveryQuery) (string, []any, error) {
	if q.Limit <= 0 {
		return "", nil, fmt.Errorf("limit %d is not positive", q.Limit)
	}
	if len(q.States) == 0 {
		return "", nil, errors.New("no state asked for")
	}
	states := make([]string, len(q.States))
	for i, st := range q.States {
		if !gateway.Unfinished(st) {
			return "", nil, fmt.Errorf("state %q is not an unfinished delivery's", st)
		}
		states[i] = string(st)
	}
	text, args := deliveryListSelect, []any{q.After, q.Limit, states}
	if q.Partner != "" {
		text += ` AND d.partner = $4`
		args = append(args, q.Partner)
	}
	return text + deliveryListOrder, args, nil
}
