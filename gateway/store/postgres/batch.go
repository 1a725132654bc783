package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// Group commit. The writes of one Store are gathered by one writer
// goroutine (loop) into batches: it takes what is queued now, at most
// maxBatch requests, never waiting for more, and runs them in one
// transaction, each within a savepoint of its own, with one COMMIT. A
// write that fails is rolled back to its savepoint and gets its own error;
// the others of its batch go on. Each caller is answered once the batch's
// COMMIT is done: nil only if it succeeded, so a write that returns nil is
// durable; a failed COMMIT fails every write of the batch.
//
// A batch that holds a write declaring evidence locks the evidence head
// first, right after BEGIN, before any other lock, and holds it to the
// COMMIT: the evidence appends of a batch are linked one after the other,
// and batches of several processes take the head in turn, never holding
// another lock while they wait for it.

// maxBatch bounds the writes of one transaction. PostgreSQL keeps the
// subtransaction ids of 64 savepoints per backend in shared memory; a
// transaction with more "overflows" and makes every other session's
// snapshots costlier while it is open, so a batch stays within them.
const maxBatch = 64

// maxRetries bounds how often a write that lost a deadlock is run again,
// each time in a later batch.
const maxRetries = 3

// savepoints are the names of the savepoints of a batch, one per write.
var savepoints = func() []string {
	names := make([]string, maxBatch)
	for i := range names {
		names[i] = fmt.Sprintf("w%d", i)
	}
	return names
}()

// request is one write waiting for the writer: fn runs in the batch's
// transaction within a savepoint of its own; done receives its outcome
// once the batch has committed (or failed). head is set when fn may
// append evidence; recs are records it will append, if known, whose cases'
// last hashes the batch reads with the head.
type request struct {
	ctx   context.Context
	head  bool
	recs  []contracts.EvidenceRecord
	fn    func(*txn) error
	done  chan error
	tries int
}

// batchStats counts what the writer did (Stats).
type batchStats struct {
	batches atomic.Int64 // transactions committed
	writes  atomic.Int64 // writes committed in them
}

// Stats are the store's write counters since Open (storecodec.Counter):
// Commits is how many batches (transactions) this Store's writer
// committed, Writes how many writes those batches committed. A write
// rolled back to its savepoint (ErrStale, a lease fence, ...) is not
// counted, nor is a ClaimDue answered without a write.
type Stats = storecodec.Stats

var _ storecodec.Counter = (*Store)(nil)

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.stats.batches.Load(), Writes: s.stats.writes.Load()}
}

// write runs fn as one write of a batch (see submit); fn appends no
// evidence.
func (s *Store) write(ctx context.Context, fn func(*txn) error) error {
	return s.submit(ctx, false, nil, fn)
}

// submit queues fn for the writer and waits for its outcome: nil once the
// batch holding it has committed. head says that fn may append evidence,
// so that its batch locks the evidence head first; recs, the records it
// will append as far as they are known, need only their CaseID. If ctx ends while fn
// is still queued, or before fn's statements are done, fn is rolled back
// and submit fails with ctx's error; once they are done the write commits
// with its batch, whatever ctx does, so its outcome is definite.
func (s *Store) submit(ctx context.Context, head bool, recs []contracts.EvidenceRecord, fn func(*txn) error) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, head: head, recs: recs, fn: fn, done: make(chan error, 1)}
	select {
	case s.queue <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := <-r.done; err != nil {
		return err
	}
	s.wrote()
	return nil
}

// loop serves the queue until it is closed (by Close, once every write
// has been answered), then closes loopDone.
func (s *Store) loop() {
	defer close(s.loopDone)
	var (
		batch = make([]*request, 0, maxBatch)
		carry []*request // deadlock losers, run again first
	)
	for {
		batch = append(batch[:0], carry...)
		carry = carry[:0]
		if len(batch) == 0 {
			r, ok := <-s.queue
			if !ok {
				return
			}
			batch = append(batch, r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if s.hookBatch != nil {
			s.hookBatch(len(batch))
		}
		errs := make([]error, len(batch))
		retry := s.runBatch(batch, errs)
		for i, r := range batch {
			if retry[i] {
				r.tries++
				carry = append(carry, r)
				continue
			}
			r.done <- errs[i]
			batch[i] = nil
		}
	}
}

// runBatch runs batch in one transaction and stores each request's
// outcome in errs; it reports the requests that lost a deadlock and are
// to run again in a later batch (with no error stored).
func (s *Store) runBatch(batch []*request, errs []error) (retry []bool) {
	retry = make([]bool, len(batch))
	// A server that is down, read-only or full fails the writes as
	// unavailable (503 to callers), whatever statement met it.
	defer func() {
		for i := range errs {
			errs[i] = unavailable(errs[i])
		}
	}()
	// The batch's statements end early only when every caller of the
	// batch has given up; the COMMIT is never interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(batch)))
	for _, r := range batch {
		stop := context.AfterFunc(r.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	// fail stores err for every write not failed yet; none commits.
	fail := func(err error) {
		for i := range batch {
			if errs[i] == nil && !retry[i] {
				errs[i] = err
			}
		}
	}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		fail(err)
		return retry
	}
	// A connection released inside a transaction (a ROLLBACK that failed)
	// is closed by the pool, never reused.
	defer conn.Release()
	defer func() {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			conn.Exec(context.Background(), "ROLLBACK")
		}
	}()

	if len(batch) > 1 {
		switch done, err := s.runAtOnce(ctx, conn, batch); {
		case done && err != nil:
			fail(err)
			return retry
		case done:
			return retry
		}
		// A write failed (or its caller gave up): undo the whole batch,
		// then run it write by write.
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			fail(fmt.Errorf("roll back a batch to run it write by write: %w", err))
			return retry
		}
	}
	w, err := s.begin(ctx, conn, batch)
	if err != nil {
		fail(err)
		return retry
	}
	committing := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		sp := savepoints[i]
		w.b.Queue("SAVEPOINT " + sp)
		headBefore, notified, appended := w.head, w.notified, w.appended
		w.undo = w.undo[:0]
		err := r.fn(w)
		if err == nil {
			err = w.flush()
		}
		if err == nil {
			// The caller gave up before its write was done: undo it.
			err = r.ctx.Err()
		}
		if err == nil {
			committing++
			continue
		}
		// Statements queued and not sent are dropped; what the write
		// appended and notified is rolled back with it.
		w.b = &pgx.Batch{}
		w.head, w.notified, w.appended = headBefore, notified, appended
		if headBefore == nil {
			// The write took the head and lost it: others may append
			// now, so what was read under the lock is stale.
			w.casePrev = nil
		} else {
			for j := len(w.undo) - 1; j >= 0; j-- {
				u := w.undo[j]
				if u.had {
					w.casePrev[u.caseID] = u.hash
				} else {
					delete(w.casePrev, u.caseID)
				}
			}
		}
		if _, rerr := conn.Exec(ctx, "ROLLBACK TO SAVEPOINT "+sp); rerr != nil {
			// The failure took the transaction with it (a lost
			// connection): nothing of the batch is written.
			errs[i] = err
			// The others see the failed write's error as text only (it
			// may be another write's ErrDuplicateExchange), and as
			// unavailable when it or the rollback's error is.
			cause := fmt.Errorf("transaction aborted by a failed write in the same batch: %v (rollback: %w)", err, rerr)
			if errors.Is(unavailable(err), gateway.ErrStoreUnavailable) {
				cause = fmt.Errorf("%w: %w", gateway.ErrStoreUnavailable, cause)
			}
			fail(cause)
			return retry
		}
		if errDeadlock(err) && r.tries < maxRetries {
			// A deadlock with another process's batch: run it again
			// once this batch, which holds what the other waits for,
			// has committed.
			retry[i] = true
			continue
		}
		errs[i] = err
	}
	if committing == 0 {
		return retry // the deferred ROLLBACK ends what was begun
	}
	if err := w.commit(); err != nil {
		fail(err)
		return retry
	}
	s.stats.batches.Add(1)
	s.stats.writes.Add(int64(committing))
	return retry
}

// begin begins batch's transaction on conn and, when a write of batch
// may append evidence, locks the evidence head and reads the last hashes
// of the cases the batch's writes declared records for: one round trip.
func (s *Store) begin(ctx context.Context, conn *pgxpool.Conn, batch []*request) (*txn, error) {
	w := &txn{s: s, ctx: ctx, conn: conn, b: &pgx.Batch{}}
	w.b.Queue(beginSQL)
	w.b.Queue(genericPlans)
	var (
		head  bool
		cases []string
		seen  = map[string]bool{}
	)
	for _, r := range batch {
		head = head || r.head
		for _, rec := range r.recs {
			if rec.CaseID != "" && !seen[rec.CaseID] {
				seen[rec.CaseID] = true
				cases = append(cases, rec.CaseID)
			}
		}
	}
	if head {
		// The head first, then the cases the batch will append to: one
		// round trip with the BEGIN.
		w.lockHead()
		w.readCasePrev(cases)
		if err := w.flush(); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// commit moves the evidence head and commits: the COMMIT is not
// interrupted by any context.
func (w *txn) commit() error {
	w.moveHead()
	var tag pgconn.CommandTag
	w.b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error {
		tag = ct
		return nil
	})
	w.ctx = context.Background()
	err := w.flush()
	if err == nil && tag.String() != "COMMIT" {
		// COMMIT of a transaction an error aborted rolls it back; every
		// error is handled before, so this is only a safety net.
		err = fmt.Errorf("the server answered %q", tag)
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// runAtOnce runs batch the fast way: every write's statements queued one
// after the other, without savepoints, and sent together (a write that
// needs an answer to go on sends what is queued before it), then the
// COMMIT. A batch whose writes all succeed, the usual case, thus costs
// three round trips (the BEGIN with the evidence head, the writes, the
// COMMIT) instead of one per write and savepoint. It returns done false,
// having committed nothing, as soon as a write fails or the caller of one
// has given up: the caller rolls the transaction back and runs the batch
// write by write, where each write's failure is its own. done true means
// the batch ran to its COMMIT; err is then the COMMIT's failure, or that
// of the BEGIN (nothing was written).
func (s *Store) runAtOnce(ctx context.Context, conn *pgxpool.Conn, batch []*request) (done bool, err error) {
	w, err := s.begin(ctx, conn, batch)
	if err != nil {
		return true, err
	}
	for _, r := range batch {
		if r.ctx.Err() != nil {
			return false, nil
		}
		if err := r.fn(w); err != nil {
			return false, nil
		}
	}
	if err := w.flush(); err != nil {
		return false, nil
	}
	for _, r := range batch {
		if r.ctx.Err() != nil {
			return false, nil
		}
	}
	if err := w.commit(); err != nil {
		return true, err
	}
	s.stats.batches.Add(1)
	s.stats.writes.Add(int64(len(batch)))
	return true, nil
}

// errDeadlock reports whether err is PostgreSQL's deadlock_detected.
func errDeadlock(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "40P01"
}
