package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tongban/tongban/gateway"
)

// A write runs in a READ COMMITTED transaction on a connection of the
// pool, with the other writes of its batch (see batch.go and the package
// documentation, Writes). Its statements are executed in the order they
// were queued, each with a snapshot taken when it starts, so a statement
// queued after one that waits for a lock sees what the lock holder
// committed.

// beginSQL begins a write's transaction.
const beginSQL = "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"

// genericPlans makes the transaction's statements run on their prepared
// statements' generic plans. Every write statement of the store finds its
// rows by an index whatever its parameters, so a plan made once per
// connection serves; left to itself the server re-plans some of them on
// every execution (a custom plan): the claim's (ClaimDue, NextClaim)
// planning cost the writer about half a millisecond per claim, more
// than running it.
const genericPlans = "SET LOCAL plan_cache_mode = force_generic_plan"

// txn is one batch's transaction, as each of its writes sees it.
type txn struct {
	s *Store
	// ctx is the batch's: statements end early only when every caller of
	// the batch has given up.
	ctx  context.Context
	conn *pgxpool.Conn
	// b holds the statements queued and not yet sent; the first batch
	// starts with beginSQL.
	b *pgx.Batch
	// tail is set when every statement queued fails, if at all, only with
	// an error of PostgreSQL's. A write's last statements are sent when
	// it is done, before the next write of the batch starts, and a write
	// that fails is rolled back to its savepoint, so tail no longer
	// changes what is sent; it records what the statements may do.
	tail bool
	// head is the evidence log's head as this transaction has locked and
	// moved it; nil until the head is locked (by the batch, or by the
	// first append). A write rolled back to its savepoint restores it.
	head *chainHead
	// casePrev holds, while the head is locked, the hash of the last
	// record of each case the transaction has read or appended to; undo
	// what the current write changed in it.
	casePrev map[string]string
	undo     []casePrevUndo
	// notified is set once the transaction has queued its notification
	// (restored, too, when a write is rolled back: its notification goes
	// with it).
	notified bool
	// appended is set once a write of the transaction has appended
	// evidence (restored, too, when the write is rolled back): the head
	// row is then moved to w.head before the COMMIT (moveHead).
	appended bool
}

// flush sends the queued statements and runs their callbacks in order. It
// returns the first error, a statement's or a callback's; then the later
// callbacks are not run.
func (w *txn) flush() error {
	if w.b.Len() == 0 {
		return nil
	}
	b := w.b
	w.b = &pgx.Batch{}
	return w.conn.SendBatch(w.ctx, b).Close()
}

// later queues a statement whose only failure is PostgreSQL's; explain,
// when not nil, turns that error into the write's.
func (w *txn) later(explain func(error) error, sql string, args ...any) {
	qq := w.b.Queue(sql, args...)
	qq.Fn = func(br pgx.BatchResults) error {
		_, err := br.Exec()
		if err != nil && explain != nil {
			return explain(err)
		}
		return err
	}
}

// laterRow queues a single-row query; scan is called with its row, and
// its error (pgx.ErrNoRows included) is the statement's.
func (w *txn) laterRow(scan func(pgx.Row) error, sql string, args ...any) {
	w.b.Queue(sql, args...).Fn = func(br pgx.BatchResults) error {
		return scan(br.QueryRow())
	}
}

// laterExec queues a statement and calls check with its command tag;
// explain, when not nil, turns the statement's error into the write's.
func (w *txn) laterExec(explain func(error) error, check func(pgconn.CommandTag) error, sql string, args ...any) {
	w.b.Queue(sql, args...).Fn = func(br pgx.BatchResults) error {
		ct, err := br.Exec()
		switch {
		case err != nil && explain != nil:
			return explain(err)
		case err != nil:
			return err
		}
		return check(ct)
	}
}

// wrap returns an explain function that prefixes an error with what.
func wrap(format string, args ...any) func(error) error {
	what := fmt.Sprintf(format, args...)
	return func(err error) error { return fmt.Errorf("%s: %w", what, err) }
}

// exec sends what is queued, then runs sql.
func (w *txn) exec(sql string, args ...any) (pgconn.CommandTag, error) {
	if err := w.flush(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return w.conn.Exec(w.ctx, sql, args...)
}

// query sends what is queued, then runs the query sql.
func (w *txn) query(sql string, args ...any) (pgx.Rows, error) {
	if err := w.flush(); err != nil {
		return nil, err
	}
	return w.conn.Query(w.ctx, sql, args...)
}

// queryRow sends what is queued, then runs the single-row query sql.
func (w *txn) queryRow(sql string, args ...any) pgx.Row {
	if err := w.flush(); err != nil {
		return errRow{err}
	}
	return w.conn.QueryRow(w.ctx, sql, args...)
}

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// notify queues the notification that deliveries were stored or moved
// back to pending; PostgreSQL delivers it when the transaction commits,
// and not at all if it rolls back. It is queued once per transaction.
func (w *txn) notify() {
	if w.notified {
		return
	}
	w.later(func(err error) error { return fmt.Errorf("notify: %w", err) },
		`SELECT pg_notify($1, $2)`, notifyChannel, w.s.schema)
	w.notified = true
}

// fenceExplained makes a fenced statement of data-modifying CTEs, the
// last named fenced, whose RETURNING lists a row per row it wrote: the
// statement answers, in one row, whether it wrote and, to explain a
// miss, the delivery as the statement found it (its snapshot). The first
// %s is the CTEs, the second the placeholder of the delivery's id.
const fenceExplained = `WITH %s
	SELECT EXISTS (SELECT 1 FROM fenced), d.case_id, d.state, d.lease_until
	FROM (VALUES (1)) AS one LEFT JOIN deliveries AS d ON d.id = %s`

// laterFenced queues sql, a statement built with fenceExplained, and
// fails like fenceErr when it wrote nothing. Reading the delivery in the
// fenced statement itself spares the write a statement of its own; it
// reads the delivery as the statement found it, before any writer it
// waited for committed, which changes the wording of the error, never
// its kind (deliveries are never deleted, nor moved to another case).
func (w *txn) laterFenced(d *gateway.Delivery, ofCase *string, sql string, args ...any) {
	w.laterRow(func(row pgx.Row) error {
		var (
			matched           bool
			storedCase, state *string
			lease             *int64
		)
		if err := row.Scan(&matched, &storedCase, &state, &lease); err != nil {
			return fmt.Errorf("fenced write of delivery %q: %w", d.ID, err)
		}
		switch {
		case matched:
			return nil
		case storedCase == nil:
			return fenceErr(d, ofCase, false, "", "", nil)
		}
		return fenceErr(d, ofCase, true, *storedCase, *state, lease)
	}, sql, args...)
}
