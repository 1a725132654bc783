package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// AddUsage stores entries and enqueue, the deliveries passing them to
// their issuers, with the evidence records ev in one transaction: all of
// it is committed, or none of it is. Every delivery must belong to no case
// (CaseID ""); on success each has its Seq and State pending, and the
// watchers are notified. A usage record id or a delivery id that is
// already stored (or given twice) fails the whole write. With no entries,
// no deliveries and no records it does nothing and returns nil.
func (s *Store) AddUsage(ctx context.Context, entries []gateway.UsageEntry, enqueue []*gateway.Delivery, ev ...contracts.EvidenceRecord) error {
	if len(entries) == 0 && len(enqueue) == 0 && len(ev) == 0 {
		return nil
	}
	var e encoder
	rows := make([][]any, len(entries))
	for i := range entries {
		u := &entries[i]
		if u.Record.UsageRecordID == "" {
			return errors.New("postgres: add usage: usage record without an id")
		}
		if rows[i] = e.usageArgs(u); e.Err() != nil {
			return fmt.Errorf("postgres: add usage: usage record %q: %w", u.Record.UsageRecordID, e.Err())
		}
	}
	for _, d := range enqueue {
		if d.CaseID != "" {
			return fmt.Errorf("postgres: add usage: delivery %q belongs to case %q, not to no case", d.ID, d.CaseID)
		}
	}
	seqs := make([]int64, len(enqueue))
	err := s.submit(ctx, len(ev) > 0, ev, func(w *txn) error {
		for i, args := range rows {
			id := entries[i].Record.UsageRecordID
			w.later(func(err error) error {
				if isUniqueViolation(err, "usage_records_pkey") {
					return fmt.Errorf("usage record %q already stored", id)
				}
				return fmt.Errorf("insert usage record %q: %w", id, err)
			}, `INSERT INTO usage_records (`+usageCols+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`, args...)
		}
		for i, d := range enqueue {
			if err := w.insertDelivery(d, "", &seqs[i]); err != nil {
				return err
			}
		}
		// Every statement so far fails only with PostgreSQL's errors.
		w.tail = true
		return w.appendEvidence(ev)
	})
	if err != nil {
		return fmt.Errorf("postgres: add usage: %w", err)
	}
	for i, d := range enqueue {
		d.Seq, d.State = seqs[i], contracts.TransportStatePending
	}
	return nil
}

// MarkDelivered marks d, a delivery of no case, delivered: it writes
// State delivered, Attempts, DeliveredAt and the acknowledgement (Ack,
// AckBody, AckSig) and clears the lease, with the evidence records ev, if
// the stored delivery is still in flight under d.LeaseUntil (the caller's
// claim). It fails with ErrNotFound if there is no such delivery or it
// belongs to a case (those are marked through UpdateCase), and with
// ErrStale if the claim is no longer the caller's; then nothing is
// written.
//
// With next it claims the next due deliveries in the same transaction
// (gateway.NextClaim).
func (s *Store) MarkDelivered(ctx context.Context, d *gateway.Delivery, next *gateway.NextClaim, ev ...contracts.EvidenceRecord) error {
	a, err := nextClaim(next)
	if err != nil {
		return fmt.Errorf("postgres: mark delivery %q delivered: %w", d.ID, err)
	}
	var claimed []*gateway.Delivery
	err = s.submit(ctx, len(ev) > 0, ev, func(w *txn) error {
		if err := w.markDone(d, "", false); err != nil {
			return err
		}
		if err := w.appendEvidence(ev); err != nil {
			return err
		}
		if a != nil {
			w.laterClaim(&claimed, a)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: mark delivery %q delivered: %w", d.ID, err)
	}
	if next != nil {
		next.Claimed = claimed
	}
	return nil
}

// MarkDeliveredAll marks the deliveries of marks, deliveries of no case,
// delivered in one write, each fenced on its own (see
// gateway.OutboxStore): a mark whose delivery is not in flight under its
// LeaseUntil (with outOfBand: is delivered or cancelled) gets ErrStale, one
// of an unknown delivery or a case's gets ErrNotFound, and writes nothing.
// The fenced updates go first, in delivery id order (two writers of
// overlapping marks lock the rows in the same order), each followed by the
// read that explains a miss; the evidence of the marks written is then
// appended in marks' order.
func (s *Store) MarkDeliveredAll(ctx context.Context, marks []gateway.DeliveredMark, outOfBand bool) ([]error, error) {
	if len(marks) == 0 {
		return nil, nil
	}
	order := make([]int, len(marks))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(marks[a].Delivery.ID, marks[b].Delivery.ID) })
	errs := make([]error, len(marks))
	err := s.submit(ctx, true, nil, func(w *txn) error {
		// A write that lost a deadlock runs again: start afresh.
		clear(errs)
		matched := make([]bool, len(marks))
		noCase := ""
		for _, i := range order {
			d := marks[i].Delivery
			if err := w.queueMarkDone(d, "", outOfBand, &matched[i]); err != nil {
				return err
			}
			w.laterRow(func(row pgx.Row) error {
				var (
					storedCase, state string
					lease             *int64
				)
				err := row.Scan(&storedCase, &state, &lease)
				switch {
				case matched[i]:
					return nil
				case errors.Is(err, pgx.ErrNoRows):
					errs[i] = fenceErr(d, &noCase, false, "", "", nil)
				case err != nil:
					return fmt.Errorf("check lease of delivery %q: %w", d.ID, err)
				default:
					errs[i] = fenceErr(d, &noCase, true, storedCase, state, lease)
				}
				return nil
			}, `SELECT case_id, state, lease_until FROM deliveries WHERE id = $1`, d.ID)
		}
		if err := w.flush(); err != nil {
			return err
		}
		for i, m := range marks {
			if matched[i] {
				if err := w.appendEvidence(m.Evidence); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: mark %d deliveries delivered: %w", len(marks), err)
	}
	return errs, nil
}

// ListUsage returns the usage records q selects, newest first (by
// UsageRecordID, descending, compared byte by byte), at most q.Limit of
// them, each as it was stored (CheckedAt to the nanosecond, in UTC).
// q.Limit must be positive.
//
// An equality filter (HolderID, LicenseID, Caller) seeks its index, which
// ends with usage_record_id, so a page costs about Limit rows whatever the
// table's size. VisibleTo without such a filter is asked as the union of
// three queries, one per column it matches, each reading its index newest
// first and stopping at Limit.
func (s *Store) ListUsage(ctx context.Context, q gateway.UsageQuery) ([]gateway.UsageEntry, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("postgres: list usage: limit %d is not positive", q.Limit)
	}
	text, args, err := usageQuery(q)
	if err != nil {
		return nil, fmt.Errorf("postgres: list usage: %w", err)
	}
	rows, err := s.pool.Query(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list usage: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.UsageEntry, error) { return scanUsage(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list usage: %w", err)
	}
	return out, nil
}

// params numbers the arguments of a query as it is built.
type params struct{ args []any }

// add appends arg and returns its placeholder.
func (p *params) add(arg any) string {
	p.args = append(p.args, arg)
	return "$" + strconv.Itoa(len(p.args))
}

// usageQuery returns the query text and arguments of q. The text depends
// only on which filters q sets, never on their values, so that there are
// few of them for the connections' statement caches.
func usageQuery(q gateway.UsageQuery) (string, []any, error) {
	var (
		e  encoder
		p  params
		eq bool
	)
	// conds returns the filters other than VisibleTo, with their
	// arguments added to p (once per call: each branch of a union has
	// placeholders of its own).
	conds := func() []string {
		var cs []string
		if q.HolderID != "" {
			cs = append(cs, "holder_id = "+p.add(q.HolderID))
		}
		if q.LicenseID != "" {
			cs = append(cs, "license_id = "+p.add(q.LicenseID))
		}
		if q.Caller != "" {
			cs = append(cs, "caller = "+p.add(q.Caller))
		}
		if !q.From.IsZero() {
			cs = append(cs, "checked_at >= "+p.add(e.Instant(q.From)))
		}
		if !q.To.IsZero() {
			cs = append(cs, "checked_at < "+p.add(e.Instant(q.To)))
		}
		if q.Before != "" {
			cs = append(cs, "usage_record_id < "+p.add(q.Before))
		}
		return cs
	}
	eq = q.HolderID != "" || q.LicenseID != "" || q.Caller != ""

	var b strings.Builder
	if q.VisibleTo != "" && !eq {
		b.WriteString("SELECT " + usageCols + " FROM usage_records WHERE usage_record_id IN (")
		b.WriteString("SELECT id FROM (")
		for i, col := range []string{"caller", "window_id", "library"} {
			if i > 0 {
				b.WriteString(" UNION ")
			}
			cs := append([]string{col + " = " + p.add(q.VisibleTo)}, conds()...)
			b.WriteString("(SELECT usage_record_id AS id FROM usage_records WHERE " + strings.Join(cs, " AND "))
			b.WriteString(" ORDER BY usage_record_id DESC LIMIT " + p.add(q.Limit) + ")")
		}
		b.WriteString(") AS visible ORDER BY id DESC LIMIT " + p.add(q.Limit) + ")")
		b.WriteString(" ORDER BY usage_record_id DESC")
		if e.Err() != nil {
			return "", nil, fmt.Errorf("time range: %w", e.Err())
		}
		return b.String(), p.args, nil
	}
	cs := conds()
	if q.VisibleTo != "" {
		v := p.add(q.VisibleTo)
		cs = append(cs, "(caller = "+v+" OR window_id = "+v+" OR library = "+v+")")
	}
	if e.Err() != nil {
		return "", nil, fmt.Errorf("time range: %w", e.Err())
	}
	b.WriteString("SELECT " + usageCols + " FROM usage_records")
	if len(cs) > 0 {
		b.WriteString(" WHERE " + strings.Join(cs, " AND "))
	}
	b.WriteString(" ORDER BY usage_record_id DESC LIMIT " + p.add(q.Limit))
	return b.String(), p.args, nil
}
