package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// changeResult is what a committed Change hands back to its caller.
type changeResult struct {
	version int64
	seqs    []int64
	claimed []*gateway.Delivery // Change.Claim's, in Seq order
}

// CreateCase stores a new case (Version 1) with the change's exchange,
// history entry and deliveries, all or nothing. On success ch.Case.Version
// is 1 and every enqueued delivery has its Seq, State pending and CaseID.
// It fails with ErrDuplicateExchange if the exchange is already stored.
// The change's Cancel and Also are applied as UpdateCase applies them.
func (s *Store) CreateCase(ctx context.Context, ch gateway.Change) error {
	return s.change(ctx, ch, true)
}

// UpdateCase applies ch to an existing case if its stored Version equals
// ch.Case.Version, all or nothing. On success ch.Case.Version is
// incremented to the stored version and every enqueued delivery has its
// Seq, State pending and CaseID. A Delivered delivery must belong to the
// case and still be in flight under Delivered.LeaseUntil (the caller's
// claim); marking it delivered also clears its lease. It fails with
// ErrNotFound (no such case, or no such Delivered delivery of this case),
// ErrStale (a stale case Version, or a Delivered delivery no longer in
// flight under the caller's lease) or ErrDuplicateExchange; on failure
// nothing of ch is written.
//
// ch.Cancel's deliveries of the case are marked cancelled before the
// deliveries of ch.Enqueue are stored, those pending, retry_wait or dead
// only. Each change of ch.Also is then applied in order, in the same
// write: its case created (Create) or updated at its Version, its
// history entry, cancellations, deliveries and evidence records, as for
// ch; should one fail (ErrStale, ErrNotFound, ...), nothing of ch is
// written. On success their cases' Versions and deliveries are set as
// ch's are. An Also change carrying what only the main change may
// (storecodec.CheckAlso) is refused before anything is written.
func (s *Store) UpdateCase(ctx context.Context, ch gateway.Change) error {
	return s.change(ctx, ch, false)
}

func (s *Store) change(ctx context.Context, ch gateway.Change, create bool) error {
	op := "update case"
	if create {
		op = "create case"
	}
	if ch.Case == nil {
		return fmt.Errorf("sqlite: %s: change has no case", op)
	}
	if err := storecodec.CheckAlso(ch); err != nil {
		return fmt.Errorf("sqlite: %s %q: %w", op, ch.Case.ID, err)
	}
	next, err := s.nextClaim(ch.Claim)
	if err != nil {
		return fmt.Errorf("sqlite: %s %q: %w", op, ch.Case.ID, err)
	}
	var (
		res  changeResult
		also = make([]changeResult, len(ch.Also))
	)
	err = s.submit(ctx, func(w *writer) (err error) {
		if res, err = w.applyChange(&ch, create); err != nil {
			return err
		}
		for i := range ch.Also {
			a := &ch.Also[i]
			if also[i], err = w.applyChange(a, a.Create); err != nil {
				return fmt.Errorf("also case %q: %w", a.Case.ID, err)
			}
		}
		if next != nil {
			res.claimed, err = w.claimDue(next.now, next.lease, next.limit)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: %s %q: %w", op, ch.Case.ID, err)
	}
	if ch.Claim != nil {
		ch.Claim.Claimed = res.claimed
	}
	res.set(&ch)
	for i := range ch.Also {
		also[i].set(&ch.Also[i])
	}
	return nil
}

// set gives ch what its committed write assigned: the case's Version,
// and each enqueued delivery's Seq, State pending and CaseID.
func (r changeResult) set(ch *gateway.Change) {
	ch.Case.Version = r.version
	for i, d := range ch.Enqueue {
		d.Seq = r.seqs[i]
		d.State = contracts.TransportStatePending
		if d.CaseID == "" {
			d.CaseID = ch.Case.ID
		}
	}
}

// applyChange writes ch inside the caller's savepoint: ch's case is
// created when create is set, else updated at its Version. It writes
// ch's case, history entry, cancellations, deliveries and evidence, not
// ch.Also.
func (w *writer) applyChange(ch *gateway.Change, create bool) (changeResult, error) {
	var (
		res changeResult
		e   encoder
		c   = ch.Case
	)
	if x := ch.Exchange; x != nil {
		args := []any{x.Sender, x.ExchangeID, string(x.Kind), x.CaseID, x.BodySM3, x.KeyID, x.TraceID,
			e.Time(x.ReceivedAt), blob(x.Body), blob(x.Signature), blob(x.Receipt), blob(x.ReceiptSig), x.ReceiptType, x.BodyKey}
		if e.Err() != nil {
			return res, fmt.Errorf("exchange %q: %w", x.ExchangeID, e.Err())
		}
		if _, err := w.insExchange.ExecContext(w.bg, args...); err != nil {
			if isConstraint(err) {
				return res, fmt.Errorf("exchange %q from %q: %w", x.ExchangeID, x.Sender, gateway.ErrDuplicateExchange)
			}
			return res, fmt.Errorf("insert exchange %q: %w", x.ExchangeID, err)
		}
	}

	if no := ch.FreeOwnerCaseNo; no != "" {
		var other string
		err := w.ownerCaseNo.QueryRowContext(w.bg, c.Owner, no, c.ID).Scan(&other)
		switch {
		case err == nil:
			return res, &gateway.OwnerCaseNoTaken{Owner: c.Owner, CaseNo: no, OtherCase: other}
		case !errors.Is(err, sql.ErrNoRows):
			return res, fmt.Errorf("check case number: %w", err)
		}
	}

	caseArgs := e.caseArgs(c)
	if e.Err() != nil {
		return res, fmt.Errorf("case: %w", e.Err())
	}
	if create {
		if _, err := w.insCase.ExecContext(w.bg, append([]any{c.ID}, caseArgs...)...); err != nil {
			if isConstraint(err) {
				return res, errors.New("case already exists")
			}
			return res, fmt.Errorf("insert case: %w", err)
		}
		res.version = 1
	} else {
		r, err := w.updCase.ExecContext(w.bg, append(caseArgs, c.ID, c.Version)...)
		if err != nil {
			return res, fmt.Errorf("update case: %w", err)
		}
		if n, err := r.RowsAffected(); err != nil {
			return res, fmt.Errorf("update case: %w", err)
		} else if n == 0 {
			var exists bool
			if err := w.caseExists.QueryRowContext(w.bg, c.ID).Scan(&exists); err != nil {
				return res, fmt.Errorf("update case: %w", err)
			}
			if !exists {
				return res, gateway.ErrNotFound
			}
			return res, fmt.Errorf("version %d: %w", c.Version, gateway.ErrStale)
		}
		res.version = c.Version + 1
	}

	if st := ch.Status; st != nil {
		if st.CaseID != "" && st.CaseID != c.ID {
			return res, fmt.Errorf("status is for case %q", st.CaseID)
		}
		args := []any{c.ID, string(st.State), string(st.Outcome), e.Time(st.At), st.ExchangeID,
			st.ReportedBy, st.Reason, st.Note}
		if e.Err() != nil {
			return res, fmt.Errorf("status: %w", e.Err())
		}
		if _, err := w.insStatus.ExecContext(w.bg, args...); err != nil {
			return res, fmt.Errorf("insert status: %w", err)
		}
	}

	if len(ch.Cancel) > 0 {
		list, err := json.Marshal(ch.Cancel)
		if err != nil {
			return res, fmt.Errorf("cancel deliveries: %w", err)
		}
		if _, err := w.cancel.ExecContext(w.bg, c.ID, string(list)); err != nil {
			return res, fmt.Errorf("cancel deliveries: %w", err)
		}
	}

	res.seqs = make([]int64, len(ch.Enqueue))
	for i, d := range ch.Enqueue {
		if d.CaseID != "" && d.CaseID != c.ID {
			return res, fmt.Errorf("delivery %q is for case %q", d.ID, d.CaseID)
		}
		var err error
		if res.seqs[i], err = w.insertDelivery(d, c.ID); err != nil {
			return res, err
		}
	}

	if d := ch.Delivered; d != nil {
		deliveredAt, ack, lease := e.Time(d.DeliveredAt), e.Ack(d.Ack), e.Time(d.LeaseUntil)
		if e.Err() != nil {
			return res, fmt.Errorf("delivered %q: %w", d.ID, e.Err())
		}
		// Fenced out, or no such delivery of this case: either way the
		// caller's savepoint rolls back everything written above.
		if err := w.markDone(d, c.ID, deliveredAt, ack, lease, ch.OutOfBand); err != nil {
			return res, err
		}
	}
	if err := w.appendEvidence(ch.Evidence); err != nil {
		return res, err
	}
	return res, nil
}

// insertDelivery inserts d as a pending delivery of case caseID ("" for
// none) with its payload, and returns the seq it was given.
func (w *writer) insertDelivery(d *gateway.Delivery, caseID string) (int64, error) {
	var e encoder
	args := []any{d.ID, caseID, d.Partner, string(d.Kind), d.ExchangeID, d.Attempts,
		e.Time(d.NextAt), e.Time(d.CreatedAt), d.LastError, d.Pull, d.TraceParent}
	if e.Err() != nil {
		return 0, fmt.Errorf("delivery %q: %w", d.ID, e.Err())
	}
	r, err := w.insDelivery.ExecContext(w.bg, args...)
	if err != nil {
		if isDuplicate(err) {
			return 0, fmt.Errorf("delivery %q already exists", d.ID)
		}
		return 0, fmt.Errorf("insert delivery %q: %w", d.ID, err)
	}
	seq, err := r.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("insert delivery %q: %w", d.ID, err)
	}
	if _, err := w.insPayload.ExecContext(w.bg, seq, blob(d.Payload), d.PayloadKey); err != nil {
		return 0, fmt.Errorf("insert payload of delivery %q: %w", d.ID, err)
	}
	return seq, nil
}

// markDone marks d, a delivery of case caseID ("" for none), delivered
// with its acknowledgement, if it is still in flight under the caller's
// lease, or, outOfBand, in any state but delivered or cancelled;
// deliveredAt, ack and lease are d's, encoded. It fails like fenceErr when
// the fence or the case does not match.
func (w *writer) markDone(d *gateway.Delivery, caseID string, deliveredAt, ack, lease any, outOfBand bool) error {
	var seq int64
	err := w.markDelivered.QueryRowContext(w.bg, d.Attempts, deliveredAt, d.ID, caseID, lease, outOfBand).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return w.fenceErr(d, &caseID)
	}
	if err != nil {
		return fmt.Errorf("mark delivery %q delivered: %w", d.ID, err)
	}
	if _, err := w.insAck.ExecContext(w.bg, seq, ack, blob(d.AckBody), blob(d.AckSig)); err != nil {
		return fmt.Errorf("store ack of delivery %q: %w", d.ID, err)
	}
	return nil
}

// ClaimDue takes up to limit due deliveries (see gateway.Store), marks them
// in_flight with LeaseUntil = now+lease and returns them in Seq order.
// When more than limit are due it takes those due longest, oldest Seq
// first among equals.
//
// It first asks a reader whether anything is claimable at all, and
// answers an empty claim from there without queueing for the writer: a
// dispatcher polling an empty outbox costs the writer nothing. A reader
// sees the last commit, so a delivery committed after that look is missed
// only by this call; whoever stored it wakes the dispatcher after its
// commit, and the next claim sees it.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*gateway.Delivery, error) {
	next, err := s.nextClaim(&gateway.NextClaim{Now: now, Lease: lease, Limit: limit})
	if err != nil || next == nil {
		if err != nil {
			err = fmt.Errorf("sqlite: claim due: %w", err)
		}
		return nil, err
	}
	if due, err := s.anyDue(ctx, next.now); err != nil {
		return nil, fmt.Errorf("sqlite: claim due: %w", err)
	} else if !due {
		return nil, nil
	}
	var out []*gateway.Delivery
	err = s.submit(ctx, func(w *writer) (err error) {
		out, err = w.claimDue(next.now, next.lease, next.limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim due: %w", err)
	}
	return out, nil
}

// claimArgs are a claim's encoded arguments.
type claimArgs struct {
	now, lease any // Unix nanoseconds
	limit      int
}

// nextClaim encodes c's arguments; nil when c claims nothing (nil, or a
// Limit of 0 or less).
func (s *Store) nextClaim(c *gateway.NextClaim) (*claimArgs, error) {
	if c == nil {
		return nil, nil
	}
	c.Claimed = nil
	if c.Limit <= 0 {
		return nil, nil
	}
	var e encoder
	a := &claimArgs{now: e.Time(c.Now), lease: e.Time(c.Now.Add(c.Lease)), limit: c.Limit}
	if e.Err() != nil {
		return nil, e.Err()
	}
	return a, nil
}

// anyDue reports, from a reader, whether ClaimDue at now would claim
// anything as of the last commit.
func (s *Store) anyDue(ctx context.Context, now any) (bool, error) {
	return s.anyRow(ctx, s.r.anyDue, now)
}

// anyRow reports, from a reader, whether st (anyDue, anyVisible) finds a
// row. After Close it fails with ErrClosed, as the claim's write would.
func (s *Store) anyRow(ctx context.Context, st *sql.Stmt, args ...any) (bool, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return false, ErrClosed
	}
	var one int
	err := st.QueryRowContext(ctx, args...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// claimDue claims up to limit due deliveries inside the caller's
// savepoint (see ClaimDue) and returns them in Seq order.
func (w *writer) claimDue(now, lease any, limit int) ([]*gateway.Delivery, error) {
	rows, err := w.claim.QueryContext(w.bg, lease, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*gateway.Delivery
	for rows.Next() {
		var takenOver bool
		d, err := scanDelivery(rows, &takenOver)
		if err != nil {
			return nil, err
		}
		d.TakenOver = takenOver
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	slices.SortFunc(out, func(a, b *gateway.Delivery) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, w.withCases(out)
}

// withCases sets the Case of each of ds that belongs to one, as stored
// now (gateway.Delivery.Case): one read for all.
func (w *writer) withCases(ds []*gateway.Delivery) error {
	var ids []string
	for _, d := range ds {
		if d.CaseID != "" && !slices.Contains(ids, d.CaseID) {
			ids = append(ids, d.CaseID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := w.claimedCases.QueryContext(w.bg, string(list))
	if err != nil {
		return fmt.Errorf("read the claimed deliveries' cases: %w", err)
	}
	defer rows.Close()
	byID := make(map[string]*gateway.Case, len(ids))
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return fmt.Errorf("read the claimed deliveries' cases: %w", err)
		}
		byID[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the claimed deliveries' cases: %w", err)
	}
	for _, d := range ds {
		if c := byID[d.CaseID]; c != nil {
			cc := *c
			d.Case = &cc
		}
	}
	return nil
}

// SetPullPartners brings the pull flag of every unfinished delivery in
// step with partners (see gateway.MailboxStore); new deliveries carry
// their own (Delivery.Pull).
func (s *Store) SetPullPartners(ctx context.Context, partners []string) error {
	set := make(map[string]bool, len(partners))
	for _, p := range partners {
		set[p] = true
	}
	list, err := json.Marshal(append([]string{}, slices.Sorted(maps.Keys(set))...))
	if err != nil {
		return fmt.Errorf("sqlite: set pull partners: %w", err)
	}
	err = s.submit(ctx, func(w *writer) error {
		_, err := w.setPull.ExecContext(w.bg, string(list))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set pull partners: %w", err)
	}
	return nil
}

// ClaimMailbox takes up to q.Limit visible messages of q.Partner's mailbox
// (see gateway.Store): first those above q.After in seq order, then, if
// the limit is not reached, those at or below it. Each is hidden until
// q.Now+q.Visibility with its attempts incremented. A mailbox with nothing
// visible is answered from a reader, without a write (see ClaimDue).
func (s *Store) ClaimMailbox(ctx context.Context, q gateway.MailboxClaim) ([]*gateway.Delivery, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	var e encoder
	nowArg, leaseArg := e.Time(q.Now), e.Time(q.Now.Add(q.Visibility))
	if e.Err() != nil {
		return nil, fmt.Errorf("sqlite: claim mailbox of %q: %w", q.Partner, e.Err())
	}
	// As ClaimDue, an empty claim is answered from a reader.
	if visible, err := s.anyRow(ctx, s.r.anyVisible, nowArg, q.Partner); err != nil {
		return nil, fmt.Errorf("sqlite: claim mailbox of %q: %w", q.Partner, err)
	} else if !visible {
		return nil, nil
	}
	var out []*gateway.Delivery
	err := s.submit(ctx, func(w *writer) error {
		out = out[:0]
		for _, st := range []*sql.Stmt{w.claimAfter, w.claimUpTo} {
			if len(out) >= q.Limit {
				break
			}
			first := len(out)
			rows, err := st.QueryContext(w.bg, leaseArg, nowArg, q.Partner, q.After, q.Limit-len(out), q.Reoffer)
			if err != nil {
				return err
			}
			for rows.Next() {
				d, err := scanDelivery(rows)
				if err != nil {
					rows.Close()
					return err
				}
				out = append(out, d)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
			part := out[first:]
			slices.SortFunc(part, func(a, b *gateway.Delivery) int { return cmp.Compare(a.Seq, b.Seq) })
		}
		if q.Offer == nil {
			return nil
		}
		var recs []contracts.EvidenceRecord
		for _, d := range out {
			recs = append(recs, q.Offer(d)...)
		}
		return w.appendEvidence(recs)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim mailbox of %q: %w", q.Partner, err)
	}
	return out, nil
}

// SaveAttempt writes a failed attempt's outcome (State retry_wait or dead,
// Attempts, NextAt, LastError) and clears the lease, if the stored delivery
// is still in flight under d.LeaseUntil (the caller's claim). It fails with
// ErrNotFound for an unknown delivery and ErrStale when the claim is no
// longer the caller's (its lease was reclaimed, or the delivery is not in
// flight); then nothing is written.
func (s *Store) SaveAttempt(ctx context.Context, d *gateway.Delivery, ev ...contracts.EvidenceRecord) error {
	if d.State != contracts.TransportStateRetryWait && d.State != contracts.TransportStateDead {
		return fmt.Errorf("sqlite: save attempt of delivery %q: state %q is not retry_wait or dead", d.ID, d.State)
	}
	var e encoder
	args := []any{string(d.State), d.Attempts, e.Time(d.NextAt), d.LastError, d.ID, e.Time(d.LeaseUntil)}
	if e.Err() != nil {
		return fmt.Errorf("sqlite: save attempt of delivery %q: %w", d.ID, e.Err())
	}
	err := s.submit(ctx, func(w *writer) error {
		r, err := w.saveAttempt.ExecContext(w.bg, args...)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return w.fenceErr(d, nil)
		}
		return w.appendEvidence(ev)
	})
	if err != nil {
		return fmt.Errorf("sqlite: save attempt of delivery %q: %w", d.ID, err)
	}
	return nil
}

// Redeliver moves the dead delivery id back to pending, due at now, with
// Attempts reset to 0. It fails with ErrNotFound or ErrNotDead.
func (s *Store) Redeliver(ctx context.Context, id string, now time.Time, ev ...contracts.EvidenceRecord) error {
	var e encoder
	nowArg := e.Time(now)
	if e.Err() != nil {
		return fmt.Errorf("sqlite: redeliver %q: %w", id, e.Err())
	}
	err := s.submit(ctx, func(w *writer) error {
		r, err := w.redeliver.ExecContext(w.bg, nowArg, id)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			return w.appendEvidence(ev)
		}
		var state string
		err = w.deliveryState.QueryRowContext(w.bg, id).Scan(&state)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return gateway.ErrNotFound
		case err != nil:
			return err
		}
		return fmt.Errorf("state %s: %w", state, gateway.ErrNotDead)
	})
	if err != nil {
		return fmt.Errorf("sqlite: redeliver %q: %w", id, err)
	}
	return nil
}

// RedeliverDead moves every dead delivery to partner back to pending, due
// at now with Attempts reset to 0, and returns their ids in Seq order.
func (s *Store) RedeliverDead(ctx context.Context, partner string, now time.Time, ev *contracts.EvidenceRecord) ([]string, error) {
	var e encoder
	nowArg := e.Time(now)
	if e.Err() != nil {
		return nil, fmt.Errorf("sqlite: redeliver dead to %q: %w", partner, e.Err())
	}
	type moved struct {
		seq int64
		id  string
	}
	var ms []moved
	err := s.submit(ctx, func(w *writer) error {
		ms = ms[:0]
		rows, err := w.redeliverDead.QueryContext(w.bg, nowArg, partner)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m moved
			if err := rows.Scan(&m.seq, &m.id); err != nil {
				return err
			}
			ms = append(ms, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if ev == nil {
			return nil
		}
		slices.SortFunc(ms, func(a, b moved) int { return cmp.Compare(a.seq, b.seq) })
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.id
		}
		rec, err := withDeliveries(*ev, ids)
		if err != nil {
			return err
		}
		recs := []contracts.EvidenceRecord{rec}
		if err := w.appendEvidence(recs); err != nil {
			return err
		}
		*ev = recs[0]
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: redeliver dead to %q: %w", partner, err)
	}
	slices.SortFunc(ms, func(a, b moved) int { return cmp.Compare(a.seq, b.seq) })
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.id
	}
	return ids, nil
}

// fenceErr explains why a fenced write of d changed no row. It returns
// ErrNotFound if there is no such delivery, or if ofCase is not nil and
// the delivery does not belong to case *ofCase ("" meaning no case); else
// ErrStale, the stored delivery no longer being in flight under d's lease.
func (w *writer) fenceErr(d *gateway.Delivery, ofCase *string) error {
	var (
		storedCase, state string
		lease             sql.NullInt64
	)
	err := w.deliveryFence.QueryRowContext(w.bg, d.ID).Scan(&storedCase, &state, &lease)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if ofCase != nil && *ofCase != "" {
			return fmt.Errorf("delivery %q of this case: %w", d.ID, gateway.ErrNotFound)
		}
		return gateway.ErrNotFound
	case err != nil:
		return fmt.Errorf("check lease of delivery %q: %w", d.ID, err)
	case ofCase != nil && storedCase != *ofCase:
		if *ofCase != "" {
			return fmt.Errorf("delivery %q of this case: %w", d.ID, gateway.ErrNotFound)
		}
		return fmt.Errorf("delivery %q of no case (it belongs to case %q): %w", d.ID, storedCase, gateway.ErrNotFound)
	}
	if state != string(contracts.TransportStateInFlight) {
		return fmt.Errorf("delivery %q is %s, not in flight under the caller's lease: %w", d.ID, state, gateway.ErrStale)
	}
	return fmt.Errorf("delivery %q is in flight under lease %s, not the caller's %s: %w", d.ID,
		fmtLease(decTime(lease)), fmtLease(d.LeaseUntil), gateway.ErrStale)
}

func fmtLease(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
