package postgres

import (
	"context"
	"errors"
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

// laterFence queues, right after a fenced statement whose callback sets
// *matched when it wrote, the read of delivery d that explains a miss:
// run after the fenced statement, it sees what that statement saw (and
// what the writer it may have waited for committed). It fails like
// fenceErr when *matched is false.
func (w *txn) laterFence(d *gateway.Delivery, ofCase *string, matched *bool) {
	w.laterRow(func(row pgx.Row) error {
		var (
			storedCase, state string
			lease             *int64
		)
		err := row.Scan(&storedCase, &state, &lease)
		switch {
		case *matched:
			return nil
		case errors.Is(err, pgx.ErrNoRows):
			return fenceErr(d, ofCase, false, "", "", nil)
		case err != nil:
			return fmt.Errorf("check lease of delivery %q: %w", d.ID, err)
		}
		return fenceErr(d, ofCase, true, storedCase, state, lease)
	}, `SELECT case_id, state, lease_until FROM deliveries WHERE id = $1`, d.ID)
}
