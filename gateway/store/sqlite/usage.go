package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// AddUsage stores entries and enqueue, the deliveries passing them to
// their issuers, in one atomic write: all of it is durable, or none of it
// is. Every delivery must belong to no case (CaseID ""); on success each
// has its Seq and State pending. A usage record id or a delivery id that
// is already stored (or given twice) fails the whole write. With no
// entries and no deliveries it does nothing and returns nil.
func (s *Store) AddUsage(ctx context.Context, entries []gateway.UsageEntry, enqueue []*gateway.Delivery, ev ...contracts.EvidenceRecord) error {
	if len(entries) == 0 && len(enqueue) == 0 && len(ev) == 0 {
		return nil
	}
	var e encoder
	rows := make([][]any, len(entries))
	for i := range entries {
		u := &entries[i]
		if u.Record.UsageRecordID == "" {
			return errors.New("sqlite: add usage: usage record without an id")
		}
		if rows[i] = e.usageArgs(u); e.Err() != nil {
			return fmt.Errorf("sqlite: add usage: usage record %q: %w", u.Record.UsageRecordID, e.Err())
		}
	}
	for _, d := range enqueue {
		if d.CaseID != "" {
			return fmt.Errorf("sqlite: add usage: delivery %q belongs to case %q, not to no case", d.ID, d.CaseID)
		}
	}
	seqs := make([]int64, len(enqueue))
	err := s.submit(ctx, func(w *writer) error {
		for i, args := range rows {
			if _, err := w.insUsage.ExecContext(w.bg, args...); err != nil {
				id := entries[i].Record.UsageRecordID
				if isDuplicate(err) {
					return fmt.Errorf("usage record %q already stored", id)
				}
				return fmt.Errorf("insert usage record %q: %w", id, err)
			}
		}
		for i, d := range enqueue {
			var err error
			if seqs[i], err = w.insertDelivery(d, ""); err != nil {
				return err
			}
		}
		return w.appendEvidence(ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite: add usage: %w", err)
	}
	for i, d := range enqueue {
		d.Seq, d.State = seqs[i], contracts.TransportStatePending
	}
	return nil
}

// MarkDelivered marks d, a delivery of no case, delivered: it writes
// State delivered, Attempts, DeliveredAt and the acknowledgement (Ack,
// AckBody, AckSig) and clears the lease, if the stored delivery is still
// in flight under d.LeaseUntil (the caller's claim). It fails with
// ErrNotFound if there is no such delivery or it belongs to a case (those
// are marked through UpdateCase), and with ErrStale if the claim is no
// longer the caller's; then nothing is written. With next it claims the
// next due deliveries in the same write (gateway.NextClaim).
func (s *Store) MarkDelivered(ctx context.Context, d *gateway.Delivery, next *gateway.NextClaim, ev ...contracts.EvidenceRecord) error {
	var e encoder
	deliveredAt, ack, lease := e.Time(d.DeliveredAt), e.Ack(d.Ack), e.Time(d.LeaseUntil)
	if e.Err() != nil {
		return fmt.Errorf("sqlite: mark delivery %q delivered: %w", d.ID, e.Err())
	}
	claim, err := s.nextClaim(next)
	if err != nil {
		return fmt.Errorf("sqlite: mark delivery %q delivered: %w", d.ID, err)
	}
	var claimed []*gateway.Delivery
	err = s.submit(ctx, func(w *writer) (err error) {
		if err := w.markDone(d, "", deliveredAt, ack, lease, false); err != nil {
			return err
		}
		if err := w.appendEvidence(ev); err != nil {
			return err
		}
		if claim != nil {
			claimed, err = w.claimDue(claim.now, claim.lease, claim.limit)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: mark delivery %q delivered: %w", d.ID, err)
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
// The evidence of each mark written is appended right after it, so the
// records follow marks' order.
func (s *Store) MarkDeliveredAll(ctx context.Context, marks []gateway.DeliveredMark, outOfBand bool) ([]error, error) {
	if len(marks) == 0 {
		return nil, nil
	}
	type args struct{ deliveredAt, ack, lease any }
	as := make([]args, len(marks))
	var e encoder
	for i, m := range marks {
		d := m.Delivery
		as[i] = args{e.Time(d.DeliveredAt), e.Ack(d.Ack), e.Time(d.LeaseUntil)}
		if e.Err() != nil {
			return nil, fmt.Errorf("sqlite: mark deliveries delivered: delivery %q: %w", d.ID, e.Err())
		}
	}
	errs := make([]error, len(marks))
	err := s.submit(ctx, func(w *writer) error {
		clear(errs)
		for i, m := range marks {
			err := w.markDone(m.Delivery, "", as[i].deliveredAt, as[i].ack, as[i].lease, outOfBand)
			if errors.Is(err, gateway.ErrStale) || errors.Is(err, gateway.ErrNotFound) {
				errs[i] = err // nothing of this mark was written
				continue
			}
			if err != nil {
				return err
			}
			if err := w.appendEvidence(m.Evidence); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: mark %d deliveries delivered: %w", len(marks), err)
	}
	return errs, nil
}

// ListUsage returns the usage records q selects, newest first (by
// UsageRecordID, descending), at most q.Limit of them, each as it was
// stored (CheckedAt to the nanosecond, in UTC). q.Limit must be positive.
//
// An equality filter (HolderID, LicenseID, Caller, or VisibleTo on one of
// its three columns) seeks its index, which holds the records in
// UsageRecordID order, so a page costs about Limit rows whatever the
// table's size. A query with no equality filter, only a time range or
// Before, walks the records newest first from Before and stops at Limit
// matches: paging through a time range reads each record once in all,
// though a first page of an old range reads past the newer records.
func (s *Store) ListUsage(ctx context.Context, q gateway.UsageQuery) ([]gateway.UsageEntry, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("sqlite: list usage: limit %d is not positive", q.Limit)
	}
	text, args, err := usageQuery(q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list usage: %w", err)
	}
	st, err := s.r.usageStmt(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list usage: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list usage: %w", err)
	}
	defer rows.Close()
	var out []gateway.UsageEntry
	for rows.Next() {
		u, err := scanUsage(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list usage: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list usage: %w", err)
	}
	return out, nil
}

// usageQuery returns the query text and arguments of q. The text depends
// only on which filters q sets, never on their values, so that there are
// few of them to prepare.
//
// VisibleTo is "caller, window_id or library is it". With an equality
// filter besides, that filter's index finds the rows and VisibleTo is
// checked on each. Without one, VisibleTo is asked as a UNION of three
// queries, one per column, each reading its index newest first (the
// indexes end with usage_record_id) and merged in order, so that SQLite
// stops after q.Limit ids; an OR of the three would collect and sort every
// visible record instead.
func usageQuery(q gateway.UsageQuery) (string, []any, error) {
	var (
		e     encoder
		conds []string
		args  []any
		eq    bool
	)
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if q.HolderID != "" {
		add("holder_id = ?", q.HolderID)
		eq = true
	}
	if q.LicenseID != "" {
		add("license_id = ?", q.LicenseID)
		eq = true
	}
	if q.Caller != "" {
		add("caller = ?", q.Caller)
		eq = true
	}
	if !q.From.IsZero() {
		add("checked_at >= ?", e.Time(q.From))
	}
	if !q.To.IsZero() {
		add("checked_at < ?", e.Time(q.To))
	}
	if q.Before != "" {
		add("usage_record_id < ?", q.Before)
	}
	if e.Err() != nil {
		return "", nil, fmt.Errorf("time range: %w", e.Err())
	}

	var b strings.Builder
	if q.VisibleTo != "" && !eq {
		fargs := args
		args = nil
		b.WriteString("SELECT " + usageCols + " FROM usage_records WHERE usage_record_id IN (")
		for i, col := range []string{"caller", "window_id", "library"} {
			if i > 0 {
				b.WriteString(" UNION ")
			}
			b.WriteString("SELECT usage_record_id FROM usage_records WHERE " + col + " = ?")
			for _, c := range conds {
				b.WriteString(" AND " + c)
			}
			args = append(append(args, q.VisibleTo), fargs...)
		}
		b.WriteString(" ORDER BY 1 DESC LIMIT ?) ORDER BY usage_record_id DESC")
		return b.String(), append(args, q.Limit), nil
	}
	if q.VisibleTo != "" {
		add("(caller = ? OR window_id = ? OR library = ?)", q.VisibleTo)
		args = append(args, q.VisibleTo, q.VisibleTo)
	}
	b.WriteString("SELECT " + usageCols + " FROM usage_records")
	for i, c := range conds {
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		b.WriteString(c)
	}
	b.WriteString(" ORDER BY usage_record_id DESC LIMIT ?")
	return b.String(), append(args, q.Limit), nil
}
