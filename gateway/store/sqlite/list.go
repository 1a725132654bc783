package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// deliveryListSelect reads deliveries as ListDeliveries returns them: every
// column of deliverySelect but the payload and the acknowledgement.
const deliveryListSelect = `SELECT d.seq, d.id, d.case_id, d.partner, d.kind, d.exchange_id, d.state,
	d.attempts, d.next_at, d.lease_until, d.created_at, d.delivered_at, d.last_error,
	coalesce(d.since_at, d.created_at), d.traceparent, d.pull, NULL, NULL, NULL, NULL, ''
	FROM deliveries AS d`

// ListDeliveries returns the unfinished deliveries q selects, oldest
// first, without payloads and acknowledgements (see
// gateway.OutboxStore.ListDeliveries).
func (s *Store) ListDeliveries(ctx context.Context, q gateway.DeliveryQuery) ([]*gateway.Delivery, error) {
	text, args, err := deliveryListQuery(q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	defer rows.Close()
	var out []*gateway.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	return out, nil
}

// deliveryListQuery returns the query text and arguments of q.
//
// The deliveries table is mostly history (delivered), so the query never
// walks it: it collects the seqs of the rows asked for from the partial
// indexes that hold only unfinished deliveries, one branch per index
// (dead letters from deliveries_dead; pending, in_flight and retry_wait
// ones from deliveries_due, the pushed, and deliveries_mailbox, the
// pulled), and reads those rows in seq order. The states are written into
// the text as literals (they are checked against the fixed set first), so
// that each branch's condition implies its index's.
func deliveryListQuery(q gateway.DeliveryQuery) (string, []any, error) {
	if q.Limit <= 0 {
		return "", nil, fmt.Errorf("limit %d is not positive", q.Limit)
	}
	if len(q.States) == 0 {
		return "", nil, errors.New("no state asked for")
	}
	var dead bool
	var waiting []string
	for _, st := range q.States {
		if !gateway.Unfinished(st) {
			return "", nil, fmt.Errorf("state %q is not an unfinished delivery's", st)
		}
		lit := "'" + string(st) + "'"
		switch {
		case st == contracts.TransportStateDead:
			dead = true
		case !slices.Contains(waiting, lit):
			waiting = append(waiting, lit)
		}
	}
	// The seq bound is +seq: as a rowid range it would tempt SQLite into
	// walking the table from the cursor on.
	cond := "+seq > ?1"
	args := []any{q.After, q.Limit}
	if q.Partner != "" {
		cond += " AND partner = ?3"
		args = append(args, q.Partner)
	}
	var branches []string
	if dead {
		branches = append(branches, `SELECT seq FROM deliveries WHERE state = 'dead' AND `+cond)
	}
	if len(waiting) > 0 {
		in := "state IN (" + strings.Join(waiting, ", ") + ")"
		branches = append(branches,
			`SELECT seq FROM deliveries WHERE due_at IS NOT NULL AND pull = 0 AND `+in+` AND `+cond,
			`SELECT seq FROM deliveries WHERE due_at IS NOT NULL AND pull = 1 AND `+in+` AND `+cond)
	}
	text := deliveryListSelect + ` WHERE d.seq IN (` + strings.Join(branches, " UNION ALL ") + `) ORDER BY d.seq LIMIT ?2`
	return text, args, nil
}
