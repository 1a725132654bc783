package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tongban/tongban/gateway"
)

// claimCandidates selects the seqs ClaimDue takes: ?2 is now, ?3 the
// limit. Deliveries to pulling partners (pull = 1) are never taken. The candidates come from deliveries_due in due order (ties by seq),
// so the query reads about limit rows plus those held back by the per-case
// order rule, never the whole table; the held-back check seeks
// deliveries_case. The state list is "not yet delivered or cancelled".
// Deliveries of no case (an empty case_id) are independent of each other: the
// rule does not apply to them, and their check is skipped before it seeks.
const claimCandidates = `SELECT d.seq FROM deliveries AS d
	WHERE ` + dueWhere + `
	ORDER BY d.due_at, d.seq
	LIMIT ?3`

// dueWhere is what makes delivery d claimable by ClaimDue at ?2: due,
// pushed, and first of its case to its partner among the unfinished.
const dueWhere = `d.due_at IS NOT NULL AND d.pull = 0 AND d.due_at <= ?2
	  AND (d.case_id = '' OR NOT EXISTS (
		SELECT 1 FROM deliveries AS e
		WHERE e.case_id = d.case_id AND e.partner = d.partner AND e.seq < d.seq
		  AND e.state IN ('pending', 'in_flight', 'retry_wait', 'dead')))`

// mailboxCandidates selects the visible messages of one partner's mailbox:
// ?2 is now, ?3 the partner; the caller appends a seq bound, the order and
// the limit. It walks deliveries_mailbox in seq order, with the per-case
// order rule of claimCandidates.
const mailboxCandidates = `SELECT d.seq FROM deliveries AS d
	WHERE d.due_at IS NOT NULL AND d.pull = 1 AND d.partner = ?3 AND d.due_at <= ?2
	  AND (d.case_id = '' OR NOT EXISTS (
		SELECT 1 FROM deliveries AS e
		WHERE e.case_id = d.case_id AND e.partner = d.partner AND e.seq < d.seq
		  AND e.state IN ('pending', 'in_flight', 'retry_wait', 'dead')))`

// request is one write waiting for the writer. fn runs inside the batch's
// transaction, within a savepoint of its own; done receives its outcome
// once the batch has committed (or failed).
type request struct {
	ctx  context.Context
	fn   func(*writer) error
	done chan error
}

// writer owns the single read-write connection and its prepared
// statements. Only the writer goroutine touches it after newWriter.
type writer struct {
	conn *sql.Conn
	bg   context.Context

	begin, commit, rollback            *sql.Stmt
	savepoint, release, rollbackToSave *sql.Stmt

	insExchange, insCase, updCase, caseExists *sql.Stmt
	ownerCaseNo, claimedCases                 *sql.Stmt
	insStatus, insDelivery, insPayload        *sql.Stmt
	cancel                                    *sql.Stmt
	markDelivered, insAck                     *sql.Stmt
	saveAttempt, redeliver, deliveryState     *sql.Stmt
	deliveryFence, insUsage                   *sql.Stmt
	redeliverDead, claim                      *sql.Stmt
	claimAfter, claimUpTo, setPull            *sql.Stmt
	insEvidence, caseHead, insCheckpoint      *sql.Stmt
	lastHead                                  *sql.Stmt

	// head is the evidence log's last record, appends of this transaction
	// included; linker links appended records (Options.Linker).
	head   gateway.ChainHead
	linker gateway.ChainLinker

	stmts []*sql.Stmt
	stats *stats

	// check, when set, is called before each commit: an error (the store
	// file was moved or replaced, fileIdentity.check) rolls the batch back
	// and fails each of its requests with it.
	check func() error
}

// newWriter prepares the writer's statements on conn. It takes conn over:
// it closes conn if it fails, and close closes it.
func newWriter(ctx context.Context, conn *sql.Conn, st *stats, linker gateway.ChainLinker) (*writer, error) {
	w := &writer{conn: conn, bg: context.Background(), stats: st, linker: linker}
	head, err := loadHead(conn.QueryRowContext(ctx, headQuery))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read the evidence log's head: %w", err)
	}
	w.head = head
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.begin, `BEGIN IMMEDIATE`},
		{&w.commit, `COMMIT`},
		{&w.rollback, `ROLLBACK`},
		{&w.savepoint, `SAVEPOINT request`},
		{&w.release, `RELEASE request`},
		{&w.rollbackToSave, `ROLLBACK TO request`},
		{&w.insExchange, `INSERT INTO exchanges (` + exchangeCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.insCase, `INSERT INTO cases (` + caseCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1,
			?, ?, ?, ?, ?)`},
		{&w.updCase, `UPDATE cases SET exchange_id = ?, sender = ?, owner = ?, from_region = ?, to_region = ?,
			state = ?, outcome = ?, owner_case_no = ?, local_case_no = ?, service_item = ?, created_at = ?,
			updated_at = ?, bundle_id = ?, deadline = ?, alarm_at = ?, overdue = ?, admin = ?,
			version = version + 1
			WHERE id = ? AND version = ?`},
		// cancel marks the listed deliveries (?2, a JSON array of ids) of
		// case ?1 cancelled, those that are pending, retry_wait or dead.
		{&w.cancel, `UPDATE deliveries SET state = 'cancelled'
			WHERE case_id = ?1 AND id IN (SELECT value FROM json_each(?2))
			  AND state IN ('pending', 'retry_wait', 'dead')`},
		{&w.caseExists, `SELECT EXISTS (SELECT 1 FROM cases WHERE id = ?)`},
		{&w.claimedCases, `SELECT ` + caseCols + ` FROM cases WHERE id IN (SELECT value FROM json_each(?))`},
		{&w.ownerCaseNo, `SELECT id FROM cases WHERE owner = ?1 AND owner_case_no = ?2 AND owner_case_no <> '' AND id <> ?3
			ORDER BY id LIMIT 1`},
		{&w.insStatus, `INSERT INTO statuses (` + statusCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.insDelivery, `INSERT INTO deliveries (id, case_id, partner, kind, exchange_id, state, attempts,
			next_at, lease_until, created_at, delivered_at, last_error, pull, traceparent)
			VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, NULL, ?, NULL, ?, ?, ?)`},
		{&w.insPayload, `INSERT INTO delivery_payloads (seq, payload, payload_key) VALUES (?, ?, ?)`},
		{&w.insUsage, `INSERT INTO usage_records (` + usageCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		// markDelivered and saveAttempt are fenced: they write only while
		// the delivery is still in flight under the caller's lease (?5 and
		// ?6 are the lease; IS also matches a NULL one). markDelivered of
		// an out-of-band acknowledgement (?6 true) takes any state that is
		// not final.
		{&w.markDelivered, `UPDATE deliveries SET state = 'delivered', attempts = ?1, delivered_at = ?2,
			lease_until = NULL
			WHERE id = ?3 AND case_id = ?4 AND (
				(state = 'in_flight' AND lease_until IS ?5)
				OR (?6 AND state IN ('pending', 'in_flight', 'retry_wait', 'dead')))
			RETURNING seq`},
		{&w.insAck, `INSERT OR REPLACE INTO delivery_acks (seq, ack, ack_body, ack_sig) VALUES (?, ?, ?, ?)`},
		{&w.saveAttempt, `UPDATE deliveries SET state = ?1, attempts = ?2, next_at = ?3, last_error = ?4,
			lease_until = NULL
			WHERE id = ?5 AND state = 'in_flight' AND lease_until IS ?6`},
		{&w.redeliver, `UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?1, since_at = ?1,
			lease_until = NULL
			WHERE id = ?2 AND state = 'dead'`},
		{&w.deliveryState, `SELECT state FROM deliveries WHERE id = ?`},
		{&w.deliveryFence, `SELECT case_id, state, lease_until FROM deliveries WHERE id = ?`},
		{&w.redeliverDead, `UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?1, since_at = ?1,
			lease_until = NULL
			WHERE partner = ?2 AND state = 'dead'
			RETURNING seq, id`},
		{&w.claim, `UPDATE deliveries SET state = 'in_flight', lease_until = ?1, taken_over = (state = 'in_flight')
			WHERE seq IN (` + claimCandidates + `)
			RETURNING ` + deliveryReturning + `, taken_over`},
		{&w.claimAfter, `UPDATE deliveries SET state = 'in_flight', lease_until = ?1, attempts = attempts + 1,
			last_error = CASE WHEN attempts > 0 THEN ?6 ELSE last_error END
			WHERE seq IN (` + mailboxCandidates + ` AND d.seq > ?4 ORDER BY d.seq LIMIT ?5)
			RETURNING ` + deliveryReturning},
		{&w.claimUpTo, `UPDATE deliveries SET state = 'in_flight', lease_until = ?1, attempts = attempts + 1,
			last_error = CASE WHEN attempts > 0 THEN ?6 ELSE last_error END
			WHERE seq IN (` + mailboxCandidates + ` AND d.seq <= ?4 ORDER BY d.seq LIMIT ?5)
			RETURNING ` + deliveryReturning},
		{&w.insEvidence, `INSERT INTO evidence (seq, at, event, actor, case_id, exchange_id, delivery_id, partner,
			region, kind, trace_id, hash, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.caseHead, `SELECT hash FROM evidence WHERE case_id = ? AND case_id <> '' ORDER BY seq DESC LIMIT 1`},
		{&w.lastHead, headQuery},
		{&w.insCheckpoint, `INSERT OR IGNORE INTO evidence_checkpoints (seq, head_hash, at, key_id, signature)
			VALUES (?, ?, ?, ?, ?)`},
		{&w.setPull, setPullSQL},
	} {
		st, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = st
		w.stmts = append(w.stmts, st)
	}
	return w, nil
}

// close releases the statements and the connection.
func (w *writer) close() error {
	var errs []error
	for _, st := range w.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(append(errs, w.conn.Close())...)
}

// loop serves the queue until it is closed and drained, then closes the
// connection and closes done.
func (w *writer) loop(queue <-chan *request, maxBatch int, done chan<- struct{}) {
	defer close(done)
	defer w.close()
	batch := make([]*request, 0, maxBatch)
	errs := make([]error, maxBatch)
	for {
		r, ok := <-queue
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.run(batch, errs[:len(batch)])
		for i, r := range batch {
			r.done <- errs[i]
			batch[i], errs[i] = nil, nil
		}
	}
}

// run applies batch in one transaction, one savepoint per request, and
// stores each request's outcome in errs.
func (w *writer) run(batch []*request, errs []error) {
	fail := func(err error) {
		for i := range batch {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	if _, err := w.begin.ExecContext(w.bg); err != nil {
		fail(unavailable(fmt.Errorf("begin: %w", err)))
		return
	}
	// The head is read again inside the write lock, so that the chain
	// continues from what is on disk even if a commit reported an error
	// after it was durable.
	head, err := loadHead(w.lastHead.QueryRowContext(w.bg))
	if err != nil {
		w.rollback.ExecContext(w.bg)
		fail(unavailable(fmt.Errorf("evidence head: %w", err)))
		return
	}
	w.head = head
	batchHead := w.head
	abort := func(err error) {
		// Requests that succeeded earlier in the batch are undone too.
		w.rollback.ExecContext(w.bg)
		w.head = batchHead
		fail(err)
	}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := w.savepoint.ExecContext(w.bg); err != nil {
			abort(unavailable(fmt.Errorf("savepoint: %w", err)))
			return
		}
		reqHead := w.head
		if err := r.fn(w); err != nil {
			errs[i] = unavailable(err)
			w.head = reqHead // its evidence records are rolled back with it
			if _, rerr := w.rollbackToSave.ExecContext(w.bg); rerr != nil {
				// The failure took the whole transaction with it (an I/O
				// error, a full disk): nothing in the batch was written.
				// The others see the failed write's error as text only
				// (it may be another write's ErrDuplicateExchange), and as
				// unavailable when it or the rollback's error is.
				cause := fmt.Errorf("transaction aborted by a failed write in the same batch: %v (rollback: %w)", err, rerr)
				if errors.Is(unavailable(err), gateway.ErrStoreUnavailable) {
					cause = fmt.Errorf("%w: %w", gateway.ErrStoreUnavailable, cause)
				}
				abort(unavailable(cause))
				return
			}
		}
		if _, err := w.release.ExecContext(w.bg); err != nil {
			abort(unavailable(fmt.Errorf("release savepoint: %w", err)))
			return
		}
	}
	// The commit would land in the file the writer holds: refuse it once
	// the configured path names another file (or none), since the next
	// start would not see it.
	if w.check != nil {
		if err := w.check(); err != nil {
			abort(err)
			return
		}
	}
	if _, err := w.commit.ExecContext(w.bg); err != nil {
		w.rollback.ExecContext(w.bg)
		w.head = batchHead
		fail(unavailable(fmt.Errorf("commit: %w", err)))
		return
	}
	w.stats.commits.Add(1)
	w.stats.writes.Add(int64(len(batch)))
}

// isConstraint reports whether err is an SQLite constraint violation.
func isConstraint(err error) bool {
	var e *sqlitedrv.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// isDuplicate reports whether err is a violation of a primary key or a
// unique constraint: a row with that key is already stored.
func isDuplicate(err error) bool {
	var e *sqlitedrv.Error
	return errors.As(err, &e) &&
		(e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
}
