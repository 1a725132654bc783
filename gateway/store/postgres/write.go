package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// unfinished is the SQL list of the states of a delivery not yet
// delivered or cancelled.
const unfinished = `('pending', 'in_flight', 'retry_wait', 'dead')`

// perCaseOrder is the per-case order rule on candidate d: a delivery of a
// case waits while an earlier one of the same case to the same partner is
// unfinished. Deliveries of no case (an empty case_id) are independent of each
// other. The check seeks deliveries_case.
const perCaseOrder = `(d.case_id = '' OR NOT EXISTS (
		SELECT 1 FROM deliveries AS e
		WHERE e.case_id = d.case_id AND e.partner = d.partner AND e.seq < d.seq
		  AND e.state IN ` + unfinished + `))`

// claimDue claims pushed deliveries: $1 is the new lease, $2 now, $3 the
// limit. The candidates come from deliveries_due in due order (ties by
// seq) and are locked with FOR UPDATE SKIP LOCKED: a candidate another
// transaction holds (another claimer's) is skipped, never waited for. A
// candidate that changed after the statement's snapshot is rechecked
// against the WHERE clause once locked (READ COMMITTED), so it is taken
// only if it is still due.
const claimDue = `WITH candidates AS (
	SELECT d.seq AS cseq FROM deliveries AS d
	WHERE d.due_at IS NOT NULL AND NOT d.pull AND d.due_at <= $2
	  AND ` + perCaseOrder + `
	ORDER BY d.due_at, d.seq
	LIMIT $3
	FOR UPDATE OF d SKIP LOCKED
), claimed AS (
	UPDATE deliveries SET state = 'in_flight', lease_until = $1, taken_over = (deliveries.state = 'in_flight')
	FROM candidates WHERE seq = cseq
	RETURNING ` + claimedReturning + `, taken_over
) ` + claimedTakenOverSelect

// anyDue says whether claimDue at $1 (now) would find a candidate,
// locks aside: a plain read, no row is locked.
const anyDue = `SELECT EXISTS (
	SELECT 1 FROM deliveries AS d
	WHERE d.due_at IS NOT NULL AND NOT d.pull AND d.due_at <= $1
	  AND ` + perCaseOrder + `)`

// anyRow answers sql, a SELECT EXISTS (anyDue, anyVisible), in a read of
// its own, outside any write transaction. After Close it fails with
// ErrClosed, as the claim's write would.
func (s *Store) anyRow(ctx context.Context, sql string, args ...any) (bool, error) {
	leave, err := s.enter()
	if err != nil {
		return false, err
	}
	defer leave()
	var found bool
	if err := s.pool.QueryRow(ctx, sql, args...).Scan(&found); err != nil {
		return false, unavailable(err)
	}
	return found, nil
}

// anyVisible says whether claimMailbox at $1 (now) would find a message
// of partner $2's mailbox, locks aside.
const anyVisible = `SELECT EXISTS (
	SELECT 1 FROM deliveries AS d
	WHERE d.due_at IS NOT NULL AND d.pull AND d.partner = $2 AND d.due_at <= $1
	  AND ` + perCaseOrder + `)`

// claimMailbox claims visible messages of one partner's mailbox: $1 is
// the new lease, $2 now, $3 the partner, $4 the cursor, $5 the limit, $6
// the reoffer text. %s is the cursor condition: the messages after it,
// or those up to it. Each offer counts as an attempt.
const claimMailbox = `WITH candidates AS (
	SELECT d.seq AS cseq FROM deliveries AS d
	WHERE d.due_at IS NOT NULL AND d.pull AND d.partner = $3 AND d.due_at <= $2
	  AND ` + perCaseOrder + `
	  AND %s
	ORDER BY d.seq
	LIMIT $5
	FOR UPDATE OF d SKIP LOCKED
), claimed AS (
	UPDATE deliveries SET state = 'in_flight', lease_until = $1, attempts = attempts + 1,
		last_error = CASE WHEN attempts > 0 THEN $6 ELSE last_error END
	FROM candidates WHERE seq = cseq
	RETURNING ` + claimedReturning + `
) ` + claimedSelect

var (
	claimMailboxAfter = fmt.Sprintf(claimMailbox, `d.seq > $4`)
	claimMailboxUpTo  = fmt.Sprintf(claimMailbox, `d.seq <= $4`)
)

// notifyChannel is the channel of WatchDeliveries; the payload is the
// store's schema, so that stores in other schemas ignore it.
const notifyChannel = "tongban_deliveries"

// CreateCase stores a new case (Version 1) with the change's exchange,
// history entry, deliveries and evidence records, all or nothing. On
// success ch.Case.Version is 1 and every enqueued delivery has its Seq,
// State pending and CaseID. It fails with ErrDuplicateExchange if the
// exchange is already stored, by this process or any other. The change's
// Cancel and Also are applied as UpdateCase applies them.
func (s *Store) CreateCase(ctx context.Context, ch gateway.Change) error {
	return s.change(ctx, ch, true)
}

// UpdateCase applies ch to an existing case if its stored Version equals
// ch.Case.Version, all or nothing. On success ch.Case.Version is
// incremented to the stored version and every enqueued delivery has its
// Seq, State pending and CaseID. A Delivered delivery must belong to the
// case and still be in flight under Delivered.LeaseUntil (the caller's
// claim), or, with OutOfBand, in any state but delivered or cancelled;
// marking it delivered also clears its lease. It fails with ErrNotFound
// (no such case, or no such Delivered delivery of this case), ErrStale (a
// stale case Version, or a Delivered delivery no longer in flight under
// the caller's lease) or ErrDuplicateExchange; on failure nothing of ch is
// written.
//
// ch.Cancel's deliveries of the case are marked cancelled before the
// deliveries of ch.Enqueue are stored, those pending, retry_wait or dead
// only. Each change of ch.Also is then applied in order, in the same
// transaction: its case created (Create) or updated at its Version, its
// history entry, cancellations, deliveries and evidence records, as for
// ch; should one fail (ErrStale, ErrNotFound, ...), nothing of ch is
// written. On success their cases' Versions and deliveries are set as
// ch's are. An Also change carrying what only the main change may
// (storecodec.CheckAlso) is refused before anything is written.
func (s *Store) UpdateCase(ctx context.Context, ch gateway.Change) error {
	return s.change(ctx, ch, false)
}

// changeResult is what a committed Change hands back to its caller.
type changeResult struct {
	version int64
	seqs    []int64
	claimed []*gateway.Delivery // Change.Claim's, in seq order
}

// set gives ch what its committed write assigned: the case's Version,
// and each enqueued delivery's Seq, State pending and CaseID.
func (r *changeResult) set(ch *gateway.Change) {
	ch.Case.Version = r.version
	for i, d := range ch.Enqueue {
		d.Seq = r.seqs[i]
		d.State = contracts.TransportStatePending
		if d.CaseID == "" {
			d.CaseID = ch.Case.ID
		}
	}
}

func (s *Store) change(ctx context.Context, ch gateway.Change, create bool) error {
	op := "update case"
	if create {
		op = "create case"
	}
	if ch.Case == nil {
		return fmt.Errorf("postgres: %s: change has no case", op)
	}
	if err := storecodec.CheckAlso(ch); err != nil {
		return fmt.Errorf("postgres: %s %q: %w", op, ch.Case.ID, err)
	}
	next, err := nextClaim(ch.Claim)
	if err != nil {
		return fmt.Errorf("postgres: %s %q: %w", op, ch.Case.ID, err)
	}
	// The records of every change, as far as the batch needs them (their
	// cases), so that it locks the evidence head first.
	recs := ch.Evidence
	for _, a := range ch.Also {
		if len(a.Evidence) > 0 {
			recs = append(slices.Clip(recs), a.Evidence...)
		}
	}
	var (
		res  *changeResult
		also = make([]*changeResult, len(ch.Also))
	)
	err = s.submit(ctx, len(recs) > 0, recs, func(w *txn) (err error) {
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
			w.laterClaim(&res.claimed, next)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: %s %q: %w", op, ch.Case.ID, err)
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

// applyChange queues ch's statements in this order: the exchange, the
// case (its row lock orders concurrent changes of one case), the history
// entry, the cancellations, the deliveries, the Delivered mark, and last
// the evidence records; ch's case is created when create is set, else
// updated at its Version (ch.Also is not applied). They are answered
// before the next write of the batch starts: a version check or a
// Delivered fence that fails rolls the change back to its savepoint,
// records included.
func (w *txn) applyChange(ch *gateway.Change, create bool) (*changeResult, error) {
	var (
		res = &changeResult{}
		e   encoder
		c   = ch.Case
	)
	if x := ch.Exchange; x != nil {
		args := []any{x.Sender, x.ExchangeID, string(x.Kind), x.CaseID, x.BodySM3, x.KeyID, x.TraceID,
			e.Time(x.ReceivedAt), x.Body, x.Signature, x.Receipt, x.ReceiptSig, x.ReceiptType, x.BodyKey}
		if e.Err() != nil {
			return nil, fmt.Errorf("exchange %q: %w", x.ExchangeID, e.Err())
		}
		w.later(func(err error) error {
			if isUniqueViolation(err, "exchanges_pkey") {
				return fmt.Errorf("exchange %q from %q: %w", x.ExchangeID, x.Sender, gateway.ErrDuplicateExchange)
			}
			return fmt.Errorf("insert exchange %q: %w", x.ExchangeID, err)
		}, `INSERT INTO exchanges (`+exchangeCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, args...)
	}

	caseArgs := e.caseArgs(c)
	if e.Err() != nil {
		return nil, fmt.Errorf("case: %w", e.Err())
	}
	if create {
		if no := ch.FreeOwnerCaseNo; no != "" {
			w.laterRow(func(row pgx.Row) error {
				var other string
				switch err := row.Scan(&other); {
				case errors.Is(err, pgx.ErrNoRows):
					return nil
				case err != nil:
					return fmt.Errorf("check case number: %w", err)
				}
				return &gateway.OwnerCaseNoTaken{Owner: c.Owner, CaseNo: no, OtherCase: other}
			}, `SELECT id FROM cases WHERE owner = $1 AND owner_case_no = $2 AND owner_case_no <> '' AND id <> $3
				ORDER BY id LIMIT 1`, c.Owner, no, c.ID)
		}
		w.later(func(err error) error {
			if isUniqueViolation(err, "cases_pkey") {
				return fmt.Errorf("case %q already exists", c.ID)
			}
			return fmt.Errorf("insert case: %w", err)
		}, `INSERT INTO cases (`+caseCols+`)
			VALUES ($18, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $14, $15, $16, $17)`,
			append(caseArgs, c.ID)...)
		res.version = 1
	} else {
		// The statement also says why it missed: no such case, or another
		// version (cases are never deleted, so its snapshot answers), or
		// another case of the owner holding FreeOwnerCaseNo ($20).
		w.laterRow(func(row pgx.Row) error {
			var (
				updated, exists bool
				taken           *string
			)
			if err := row.Scan(&updated, &exists, &taken); err != nil {
				return fmt.Errorf("update case: %w", err)
			}
			switch {
			case taken != nil:
				return &gateway.OwnerCaseNoTaken{Owner: c.Owner, CaseNo: ch.FreeOwnerCaseNo, OtherCase: *taken}
			case updated:
				return nil
			case !exists:
				return fmt.Errorf("case %q: %w", c.ID, gateway.ErrNotFound)
			}
			// Named: it may be a case of ch.Also, answered after ch's.
			return fmt.Errorf("case %q at version %d: %w", c.ID, c.Version, gateway.ErrStale)
		}, `WITH taken AS (
				SELECT id FROM cases
				WHERE $20 <> '' AND owner = $3 AND owner_case_no = $20 AND owner_case_no <> '' AND id <> $18
				ORDER BY id LIMIT 1),
			updated AS (
				UPDATE cases SET exchange_id = $1, sender = $2, owner = $3, from_region = $4,
					to_region = $5, state = $6, outcome = $7, owner_case_no = $8, local_case_no = $9,
					service_item = $10, created_at = $11, updated_at = $12, bundle_id = $13,
					deadline = $14, alarm_at = $15, overdue = $16, admin = $17, version = version + 1
				WHERE id = $18 AND version = $19 AND NOT EXISTS (SELECT 1 FROM taken)
				RETURNING 1)
			SELECT EXISTS (SELECT 1 FROM updated), EXISTS (SELECT 1 FROM cases WHERE id = $18), (SELECT id FROM taken)`,
			append(caseArgs, c.ID, c.Version, ch.FreeOwnerCaseNo)...)
		res.version = c.Version + 1
	}

	if st := ch.Status; st != nil {
		if st.CaseID != "" && st.CaseID != c.ID {
			return nil, fmt.Errorf("status is for case %q", st.CaseID)
		}
		args := []any{c.ID, string(st.State), string(st.Outcome), e.Time(st.At), st.ExchangeID,
			st.ReportedBy, st.Reason, st.Note}
		if e.Err() != nil {
			return nil, fmt.Errorf("status: %w", e.Err())
		}
		w.later(wrap("insert status"), `INSERT INTO statuses (`+statusCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, args...)
	}

	if len(ch.Cancel) > 0 {
		// Deliveries the per-case order rule held back behind a cancelled
		// one may be due now: the watchers are told.
		w.later(wrap("cancel deliveries"), `UPDATE deliveries SET state = 'cancelled'
			WHERE case_id = $1 AND id = ANY($2::text[]) AND state IN ('pending', 'retry_wait', 'dead')`,
			c.ID, ch.Cancel)
		w.notify()
	}

	res.seqs = make([]int64, len(ch.Enqueue))
	for i, d := range ch.Enqueue {
		if d.CaseID != "" && d.CaseID != c.ID {
			return nil, fmt.Errorf("delivery %q is for case %q", d.ID, d.CaseID)
		}
		if err := w.insertDelivery(d, c.ID, &res.seqs[i]); err != nil {
			return nil, err
		}
	}

	if d := ch.Delivered; d != nil {
		if err := w.markDone(d, c.ID, ch.OutOfBand); err != nil {
			return nil, err
		}
	}
	w.tail = create && ch.Delivered == nil
	if err := w.appendEvidence(ch.Evidence); err != nil {
		return nil, err
	}
	return res, nil
}

// insertDelivery queues the insert of d as a pending delivery of case
// caseID ("" for none) with its payload, and the notification; the seq d
// is given is stored in seq once the statement is answered.
func (w *txn) insertDelivery(d *gateway.Delivery, caseID string, seq *int64) error {
	var e encoder
	args := []any{d.ID, caseID, d.Partner, string(d.Kind), d.ExchangeID, d.Attempts,
		e.Time(d.NextAt), e.Time(d.CreatedAt), d.LastError, d.Pull, d.TraceParent, d.Payload, d.PayloadKey}
	if e.Err() != nil {
		return fmt.Errorf("delivery %q: %w", d.ID, e.Err())
	}
	w.laterRow(func(row pgx.Row) error {
		err := row.Scan(seq)
		switch {
		case isUniqueViolation(err, "deliveries_id_key"):
			return fmt.Errorf("delivery %q already exists", d.ID)
		case err != nil:
			return fmt.Errorf("insert delivery %q: %w", d.ID, err)
		}
		return nil
	}, `WITH d AS (
			INSERT INTO deliveries (id, case_id, partner, kind, exchange_id, state, attempts,
				next_at, created_at, last_error, pull, traceparent)
			VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11)
			RETURNING seq)
		INSERT INTO delivery_payloads (seq, payload, payload_key) SELECT seq, $12, $13 FROM d
		RETURNING seq`, args...)
	w.notify()
	return nil
}

// markDone queues the mark of d, a delivery of case caseID ("" for none),
// delivered with its acknowledgement, if it is still in flight under the
// caller's lease (d.LeaseUntil) or, outOfBand, in any state but delivered
// or cancelled. It fails like fenceErr when the fence or the case does
// not match. A concurrent writer of the same delivery holds its row lock
// until it commits; the UPDATE then rechecks the fence against what that
// writer committed.
func (w *txn) markDone(d *gateway.Delivery, caseID string, outOfBand bool) error {
	var e encoder
	deliveredAt, ack, lease := e.Time(d.DeliveredAt), e.Ack(d.Ack), e.Time(d.LeaseUntil)
	if e.Err() != nil {
		return fmt.Errorf("delivered %q: %w", d.ID, e.Err())
	}
	w.laterFenced(d, &caseID, fmt.Sprintf(fenceExplained, `done AS (
				UPDATE deliveries SET state = 'delivered', attempts = $1, delivered_at = $2, lease_until = NULL
				WHERE id = $3 AND case_id = $4 AND (
					(state = 'in_flight' AND lease_until IS NOT DISTINCT FROM $5)
					OR ($6 AND state IN `+unfinished+`))
				RETURNING seq),
			fenced AS (
				INSERT INTO delivery_acks (seq, ack, ack_body, ack_sig) SELECT seq, $7, $8, $9 FROM done
				ON CONFLICT (seq) DO UPDATE SET ack = excluded.ack, ack_body = excluded.ack_body, ack_sig = excluded.ack_sig
				RETURNING seq)`, "$3"),
		d.Attempts, deliveredAt, d.ID, caseID, lease, outOfBand, ack, d.AckBody, d.AckSig)
	return nil
}

// queueMarkDone queues markDone's statement for one mark of several
// (MarkDeliveredAll): a miss is no error of the write, and *matched is set
// once it is answered, when it wrote.
func (w *txn) queueMarkDone(d *gateway.Delivery, caseID string, outOfBand bool, matched *bool) error {
	var e encoder
	deliveredAt, ack, lease := e.Time(d.DeliveredAt), e.Ack(d.Ack), e.Time(d.LeaseUntil)
	if e.Err() != nil {
		return fmt.Errorf("delivered %q: %w", d.ID, e.Err())
	}
	w.laterRow(func(row pgx.Row) error {
		var seq int64
		err := row.Scan(&seq)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("mark delivery %q delivered: %w", d.ID, err)
		}
		*matched = true
		return nil
	}, `WITH done AS (
			UPDATE deliveries SET state = 'delivered', attempts = $1, delivered_at = $2, lease_until = NULL
			WHERE id = $3 AND case_id = $4 AND (
				(state = 'in_flight' AND lease_until IS NOT DISTINCT FROM $5)
				OR ($6 AND state IN `+unfinished+`))
			RETURNING seq)
		INSERT INTO delivery_acks (seq, ack, ack_body, ack_sig) SELECT seq, $7, $8, $9 FROM done
		ON CONFLICT (seq) DO UPDATE SET ack = excluded.ack, ack_body = excluded.ack_body, ack_sig = excluded.ack_sig
		RETURNING seq`, d.Attempts, deliveredAt, d.ID, caseID, lease, outOfBand, ack, d.AckBody, d.AckSig)
	return nil
}

// claim sends what is queued with a claiming statement and returns the
// deliveries it claimed, in seq order.
func (w *txn) claim(sql string, args ...any) ([]*gateway.Delivery, error) {
	var out []*gateway.Delivery
	w.queueClaim(&out, sql, false, args...)
	if err := w.flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// queueClaim queues a claiming statement; its deliveries, in seq order,
// are stored in *out once it is answered. With takenOver (claimDue's
// rows), each row carries the delivery's taken_over, read into
// Delivery.TakenOver, and its case, read into Delivery.Case.
func (w *txn) queueClaim(out *[]*gateway.Delivery, sql string, takenOver bool, args ...any) {
	*out = nil
	w.b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		var ds []*gateway.Delivery
		for rows.Next() {
			var (
				extra []any
				to    bool
				c     claimedCase
			)
			if takenOver {
				extra = append([]any{&to}, c.dest()...)
			}
			d, err := scanDelivery(rows, extra...)
			if err != nil {
				return err
			}
			d.TakenOver = to
			if d.Case, err = c.get(); err != nil {
				return err
			}
			ds = append(ds, d)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		*out = ds
		return nil
	})
}

// laterClaim queues ClaimDue's claim as a (see nextClaim) says; the
// claimed deliveries are stored in *out once it is answered.
func (w *txn) laterClaim(out *[]*gateway.Delivery, a *claimArgs) {
	w.queueClaim(out, claimDue, true, a.lease, a.now, a.limit)
}

// claimArgs are a claim's encoded arguments.
type claimArgs struct {
	now, lease any // Unix nanoseconds
	limit      int
}

// nextClaim encodes c's arguments and clears c.Claimed; nil when c claims
// nothing (nil, or a Limit of 0 or less).
func nextClaim(c *gateway.NextClaim) (*claimArgs, error) {
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

// ClaimDue takes up to limit due pushed deliveries (see gateway.Store),
// marks them in_flight with LeaseUntil = now+lease and returns them in
// Seq order. When more than limit are due it takes those due longest,
// oldest Seq first among equals, passing over any that another
// transaction holds at that moment, so concurrent claimers, in this
// process or others, never take the same delivery and never wait for each
// other.
//
// It first asks, in a read of its own outside any write transaction,
// whether anything is claimable at all, and answers an empty claim from
// there: a dispatcher polling an empty outbox starts no write transaction
// and takes no place in a batch. A delivery committed after that look is
// missed only by this call; whoever stored it notifies the watchers after
// its commit, and the next claim sees it.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*gateway.Delivery, error) {
	a, err := nextClaim(&gateway.NextClaim{Now: now, Lease: lease, Limit: limit})
	if err != nil || a == nil {
		if err != nil {
			err = fmt.Errorf("postgres: claim due: %w", err)
		}
		return nil, err
	}
	if due, err := s.anyRow(ctx, anyDue, a.now); err != nil {
		return nil, fmt.Errorf("postgres: claim due: %w", err)
	} else if !due {
		return nil, nil
	}
	var out []*gateway.Delivery
	err = s.write(ctx, func(w *txn) error {
		w.laterClaim(&out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim due: %w", err)
	}
	return out, nil
}

// SetPullPartners brings the pull flag of every unfinished delivery in
// step with partners (see gateway.MailboxStore); new deliveries carry
// their own (Delivery.Pull). When it changed any delivery it notifies the
// watchers, since deliveries may have become claimable.
func (s *Store) SetPullPartners(ctx context.Context, partners []string) error {
	set := make(map[string]bool, len(partners))
	for _, p := range partners {
		set[p] = true
	}
	list := append([]string{}, slices.Sorted(maps.Keys(set))...)
	err := s.write(ctx, func(w *txn) error {
		// The rows are locked in seq order first, so two processes doing
		// this at once cannot deadlock.
		tag, err := w.exec(`WITH changed AS (
				SELECT seq AS cseq FROM deliveries
				WHERE state IN `+unfinished+` AND pull <> (partner = ANY($1::text[]))
				ORDER BY seq
				FOR UPDATE)
			UPDATE deliveries SET pull = (partner = ANY($1::text[]))
			FROM changed WHERE seq = cseq`, list)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			w.notify()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: set pull partners: %w", err)
	}
	return nil
}

// ClaimMailbox takes up to q.Limit visible messages of q.Partner's mailbox
// (see gateway.Store): first those above q.After in seq order, then, if
// the limit is not reached, those at or below it. Each is hidden until
// q.Now+q.Visibility with its attempts incremented; the records q.Offer
// returns are appended in the same transaction. Messages another
// transaction holds are passed over, as in ClaimDue. A mailbox with
// nothing visible is answered by a read, without a write transaction.
func (s *Store) ClaimMailbox(ctx context.Context, q gateway.MailboxClaim) ([]*gateway.Delivery, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	var e encoder
	nowArg, leaseArg := e.Time(q.Now), e.Time(q.Now.Add(q.Visibility))
	if e.Err() != nil {
		return nil, fmt.Errorf("postgres: claim mailbox of %q: %w", q.Partner, e.Err())
	}
	// As ClaimDue, an empty claim is answered by a read of its own.
	if visible, err := s.anyRow(ctx, anyVisible, nowArg, q.Partner); err != nil {
		return nil, fmt.Errorf("postgres: claim mailbox of %q: %w", q.Partner, err)
	} else if !visible {
		return nil, nil
	}
	var out []*gateway.Delivery
	err := s.submit(ctx, q.Offer != nil, nil, func(w *txn) error {
		out = out[:0]
		for _, sql := range []string{claimMailboxAfter, claimMailboxUpTo} {
			if len(out) >= q.Limit {
				break
			}
			ds, err := w.claim(sql, leaseArg, nowArg, q.Partner, q.After, q.Limit-len(out), q.Reoffer)
			if err != nil {
				return err
			}
			out = append(out, ds...)
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
		return nil, fmt.Errorf("postgres: claim mailbox of %q: %w", q.Partner, err)
	}
	return out, nil
}

// SaveAttempt writes a failed attempt's outcome (State retry_wait or dead,
// Attempts, NextAt, LastError) and clears the lease, with the evidence
// records ev, if the stored delivery is still in flight under
// d.LeaseUntil (the caller's claim). It fails with ErrNotFound for an
// unknown delivery and ErrStale when the claim is no longer the caller's
// (its lease was reclaimed, or the delivery is not in flight); then
// nothing is written.
func (s *Store) SaveAttempt(ctx context.Context, d *gateway.Delivery, ev ...contracts.EvidenceRecord) error {
	if d.State != contracts.TransportStateRetryWait && d.State != contracts.TransportStateDead {
		return fmt.Errorf("postgres: save attempt of delivery %q: state %q is not retry_wait or dead", d.ID, d.State)
	}
	var e encoder
	args := []any{string(d.State), d.Attempts, e.Time(d.NextAt), d.LastError, d.ID, e.Time(d.LeaseUntil)}
	if e.Err() != nil {
		return fmt.Errorf("postgres: save attempt of delivery %q: %w", d.ID, e.Err())
	}
	err := s.submit(ctx, len(ev) > 0, ev, func(w *txn) error {
		w.laterFenced(d, nil, fmt.Sprintf(fenceExplained, `fenced AS (
				UPDATE deliveries SET state = $1, attempts = $2, next_at = $3, last_error = $4,
					lease_until = NULL
				WHERE id = $5 AND state = 'in_flight' AND lease_until IS NOT DISTINCT FROM $6
				RETURNING seq)`, "$5"), args...)
		return w.appendEvidence(ev)
	})
	if err != nil {
		return fmt.Errorf("postgres: save attempt of delivery %q: %w", d.ID, err)
	}
	return nil
}

// Redeliver moves the dead delivery id back to pending, due at now, with
// Attempts reset to 0 and its series of attempts restarted (Since = now),
// appending ev in the same transaction, and notifies the watchers. It
// fails with ErrNotFound or ErrNotDead.
func (s *Store) Redeliver(ctx context.Context, id string, now time.Time, ev ...contracts.EvidenceRecord) error {
	var e encoder
	nowArg := e.Time(now)
	if e.Err() != nil {
		return fmt.Errorf("postgres: redeliver %q: %w", id, e.Err())
	}
	err := s.submit(ctx, len(ev) > 0, ev, func(w *txn) error {
		var matched bool
		w.laterExec(nil, func(ct pgconn.CommandTag) error {
			matched = ct.RowsAffected() > 0
			return nil
		}, `UPDATE deliveries SET state = 'pending', attempts = 0, next_at = $1, since_at = $1,
				lease_until = NULL
			WHERE id = $2 AND state = 'dead'`, nowArg, id)
		// Why the update missed, read right after it.
		w.laterRow(func(row pgx.Row) error {
			var state string
			err := row.Scan(&state)
			switch {
			case matched:
				return nil
			case errors.Is(err, pgx.ErrNoRows):
				return gateway.ErrNotFound
			case err != nil:
				return err
			}
			return fmt.Errorf("state %s: %w", state, gateway.ErrNotDead)
		}, `SELECT state FROM deliveries WHERE id = $1`, id)
		// Sent only if the write commits (a write rolled back to its
		// savepoint drops it), which it does only if the delivery was
		// moved.
		w.notify()
		return w.appendEvidence(ev)
	})
	if err != nil {
		return fmt.Errorf("postgres: redeliver %q: %w", id, err)
	}
	return nil
}

// RedeliverDead moves every dead delivery to partner back to pending, due
// at now with Attempts reset to 0, and returns their ids in Seq order.
// When ev is not nil it is appended in the same transaction with the ids
// as its Detail's deliveries, and updated in place. When it moved any, it
// notifies the watchers.
func (s *Store) RedeliverDead(ctx context.Context, partner string, now time.Time, ev *contracts.EvidenceRecord) ([]string, error) {
	var e encoder
	nowArg := e.Time(now)
	if e.Err() != nil {
		return nil, fmt.Errorf("postgres: redeliver dead to %q: %w", partner, e.Err())
	}
	var (
		ids  []string
		recs []contracts.EvidenceRecord
	)
	if ev != nil {
		recs = []contracts.EvidenceRecord{*ev}
	}
	err := s.submit(ctx, ev != nil, recs, func(w *txn) error {
		ids = nil
		rows, err := w.query(`WITH dead AS (
				SELECT seq AS dseq FROM deliveries WHERE partner = $2 AND state = 'dead'
				ORDER BY seq
				FOR UPDATE)
			UPDATE deliveries SET state = 'pending', attempts = 0, next_at = $1, since_at = $1,
				lease_until = NULL
			FROM dead WHERE seq = dseq
			RETURNING seq, id`, nowArg, partner)
		if err != nil {
			return err
		}
		type moved struct {
			seq int64
			id  string
		}
		ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (m moved, err error) {
			err = r.Scan(&m.seq, &m.id)
			return m, err
		})
		if err != nil {
			return err
		}
		slices.SortFunc(ms, func(a, b moved) int { return cmp.Compare(a.seq, b.seq) })
		ids = make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.id
		}
		if len(ids) > 0 {
			w.notify()
		}
		if ev == nil {
			return nil
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
		return nil, fmt.Errorf("postgres: redeliver dead to %q: %w", partner, err)
	}
	return ids, nil
}

// fenceErr explains why a fenced write of d changed no row, from the
// stored delivery (found false when there is none). It returns
// ErrNotFound if there is no such delivery, or if ofCase is not nil and
// the delivery does not belong to case *ofCase ("" meaning no case); else
// ErrStale, the stored delivery no longer being in flight under d's lease.
func fenceErr(d *gateway.Delivery, ofCase *string, found bool, storedCase, state string, lease *int64) error {
	switch {
	case !found:
		if ofCase != nil && *ofCase != "" {
			return fmt.Errorf("delivery %q of this case: %w", d.ID, gateway.ErrNotFound)
		}
		return gateway.ErrNotFound
	case ofCase != nil && storedCase != *ofCase:
		if *ofCase != "" {
			return fmt.Errorf("delivery %q of this case: %w", d.ID, gateway.ErrNotFound)
		}
		return fmt.Errorf("delivery %q of no case (it belongs to case %q): %w", d.ID, storedCase, gateway.ErrNotFound)
	}
	if state != string(contracts.TransportStateInFlight) {
		return fmt.Errorf("delivery %q is %s, not in flight under the caller's lease: %w", d.ID, state, gateway.ErrStale)
	}
	if decTime(lease).Equal(d.LeaseUntil) {
		// Found as the fenced statement's snapshot had it: the writer it
		// waited for changed it meanwhile.
		return fmt.Errorf("delivery %q was changed by a concurrent write: %w", d.ID, gateway.ErrStale)
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
