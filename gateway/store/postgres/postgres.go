// Package postgres is a gateway.Store kept in PostgreSQL, on
// github.com/jackc/pgx/v5: the store to use when several gateway processes
// share one durable state.
//
// # Schema
//
// Every table lives in one schema of the database (Options.Schema,
// "tongban" by default), reached through the connections' search_path, so
// one database can hold several stores. Open creates the schema and brings
// it up to date with the embedded, numbered migrations
// (migrations/NNNN_name.sql, recorded in schema_migrations), all in one
// transaction that holds a transaction-scoped advisory lock
// (pg_advisory_xact_lock(migrateLockKey, hashtext(schema))): replicas
// starting together migrate once, the others wait and then find the schema
// current. Open refuses a schema newer than this build knows
// (ErrSchemaTooNew), and then changes nothing.
//
// The tables mirror the embedded store's (gateway/store/sqlite): cases;
// exchanges, whose primary key (sender, exchange_id) is the idempotency
// key; statuses; deliveries, with delivery_payloads and delivery_acks
// beside them so that a state change rewrites a small row; usage_records;
// evidence with evidence_head (its last record) and evidence_checkpoints;
// delivery_counts and delivery_count_deltas, which CountByState reads;
// probe. Times are bigint Unix nanoseconds, so they round-trip exactly, as
// in the embedded store, and a lease fence compares the very value
// ClaimDue handed out; gateway.HeldUntil, past what they hold, is the
// largest bigint (storecodec.Held), never due. A case's administration
// (gateway.Case.Admin) is kept as JSON text, as its service item is.
//
// # Locking
//
// Any number of processes may use one schema at once; there is no
// single-instance lock. Every write runs in a READ COMMITTED transaction
// on a connection of the pool, with the other writes of its batch (see
// Writes), and what must not race is decided by row locks:
//
//   - ClaimDue and ClaimMailbox select their candidates with FOR UPDATE
//     SKIP LOCKED, so a delivery another claimer holds is passed over,
//     never waited for and never claimed twice, and apply the per-case
//     order rule: a delivery is not claimable while an earlier delivery
//     (lower seq) of the same case to the same partner is pending,
//     in_flight, retry_wait or dead.
//   - SaveAttempt, MarkDelivered and Change.Delivered are fenced by the
//     lease: their UPDATE matches only the delivery still in_flight under
//     the caller's LeaseUntil. A concurrent writer of the same row waits
//     for its lock and then finds the fence gone (ErrStale).
//   - UpdateCase updates the case row only at the Version it read
//     (ErrStale otherwise); the deliveries of a change are inserted under
//     that row lock, so their seqs follow the case's order.
//   - Evidence records are linked in the transaction that writes their
//     step: it locks the single row of evidence_head (SELECT ... FOR
//     UPDATE), links each record after it with Options.Linker (and the
//     hash of the case's last record, read after the lock), inserts it,
//     and moves the head to its last record before the COMMIT. A batch
//     holding a write with evidence takes the head
//     lock first, right after BEGIN, once for all its writes, and holds it
//     to commit, so the log has one total order across processes, without
//     forks or gaps, and a batch waiting for the head holds no other lock.
//     Triggers refuse UPDATE, DELETE and TRUNCATE of evidence and
//     evidence_checkpoints, and an evidence insert whose seq does not
//     follow the last record's.
//   - The same exchange stored by two processes at once is stored once:
//     the loser's insert waits for the winner's commit, violates
//     exchanges_pkey, and its whole change fails with
//     gateway.ErrDuplicateExchange (within one batch, the second insert
//     fails at once).
//   - Batches of two processes that take row locks in opposite orders
//     can deadlock, where their writes one by one would not; the write
//     PostgreSQL cancels is rolled back to its savepoint and run again in
//     a later batch (up to maxRetries times), so callers do not see it.
//   - Writers never update a shared counter: statement triggers append
//     per-state deltas to delivery_count_deltas, which the store folds
//     into delivery_counts now and then (one process at a time, under a
//     tried advisory lock).
//
// Writes that store new deliveries or move deliveries back to pending call
// pg_notify('tongban_deliveries', schema) inside their transaction, so
// the notification is sent if and only if they commit; WatchDeliveries
// (gateway.DeliveryWatcher) listens for it, so every process's dispatcher
// wakes when any process enqueues. A notification of a write rolled back
// to its savepoint is dropped with it; those of a batch are delivered once,
// at its commit. PostgreSQL serialises the commits of notifying
// transactions, which costs nothing more for writes that append evidence
// (the head lock serialises them already).
//
// # Writes
//
// The writes of one Store are committed in groups (batch.go): a writer
// goroutine takes what is queued when it is free, up to maxBatch writes,
// without waiting for more, and runs them in one transaction, then
// COMMITs once. It first sends every write's statements at once, without
// savepoints; should one fail, it rolls that back and runs the batch
// again write by write, each within a SAVEPOINT of its own: a write that
// fails (ErrStale, ErrDuplicateExchange, ErrNotDead, a lease fence, an
// SQL error) is rolled back to its savepoint and gets its own error; the
// others of its batch commit. Write transactions run their statements on
// generic plans (plan_cache_mode). Each caller is answered only after the
// batch's COMMIT: a write that returns nil has committed (durable as the
// server's synchronous_commit says); a COMMIT that fails fails every
// write of its batch, and a write that fails has written nothing.
//
// A write's statements are pipelined: queued, and sent together in one
// round trip whenever the write needs an answer to go on, its savepoint
// with its first statements. The batch's BEGIN goes with the head lock
// and the read of the last hashes of the cases its writes declared
// records for, so a CreateCase with evidence is one round trip of its own.
// A write whose context ends while it is queued, or before its
// statements are done, is rolled back and fails with the context's error;
// once they are done it commits with its batch, and the COMMIT is not
// interrupted by any context, so a write's outcome is definite (unless the
// connection is lost while the COMMIT is on its way: then, as with any
// database client, the error cannot say whether it committed). A
// statement waiting for a lock waits while some caller of its batch does.
//
// The store holds no domain rule: what to write is decided by the
// sub-domains, how records are linked by the evidence package.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tongban/tongban/gateway"
)

// Compile-time interface guards.
var (
	_ gateway.Store           = (*Store)(nil)
	_ gateway.DeliveryWatcher = (*Store)(nil)
	_ gateway.EvidenceSource  = (*Reader)(nil)
)

// ErrClosed is returned by writes submitted after Close.
var ErrClosed = errors.New("postgres: store is closed")

// DefaultSchema is the schema a store uses when Options.Schema is empty.
const DefaultSchema = "tongban"

// schemaName is what Options.Schema may be: a lowercase SQL identifier
// that needs no quoting.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Options configures Open. DSN is required; the gateway also sets Linker.
type Options struct {
	// DSN is the PostgreSQL connection string, as a URL
	// (postgres://user@host:5432/db?sslmode=disable) or in key=value form.
	// A search_path it sets is replaced by Schema.
	DSN string
	// Schema is the schema the store's tables live in (default "tongban").
	// Open creates it if it is missing, which needs the CREATE privilege
	// on the database; it must be a lowercase identifier ([a-z_][a-z0-9_]*).
	Schema string
	// MaxConns, MinConns, MaxConnLifetime and MaxConnIdleTime configure the
	// connection pool; zero keeps pgxpool's default (MaxConns is then
	// max(4, number of CPUs)).
	MaxConns        int32
	MinConns        int32
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
	// Linker links evidence records into the chain (evidence.Linker): the
	// store computes no hash of its own. Without it the store refuses to
	// append evidence records.
	Linker gateway.ChainLinker
}

// schemaOrDefault returns the schema name to use, or an error if it is
// not acceptable.
func schemaOrDefault(schema string) (string, error) {
	if schema == "" {
		return DefaultSchema, nil
	}
	if !schemaName.MatchString(schema) {
		return "", fmt.Errorf("postgres: options: schema %q: want a lowercase identifier ([a-z_][a-z0-9_]*, at most 63 characters)", schema)
	}
	return schema, nil
}

// poolConfig parses dsn into a pool configuration whose connections use
// schema as their search_path.
func poolConfig(dsn, schema string) (*pgxpool.Config, error) {
	if dsn == "" {
		return nil, errors.New("postgres: options: DSN is required")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: options: DSN: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	return cfg, nil
}

// Store is a gateway.Store in one schema of a PostgreSQL database. Its
// methods are safe for concurrent use, by any number of Store values in
// any number of processes.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	linker gateway.ChainLinker

	// mu guards closed; writes holds every write under way, so that Close
	// lets them finish.
	mu     sync.RWMutex
	closed bool
	writes sync.WaitGroup
	// queue feeds the writer goroutine (loop), which closes loopDone when
	// Close has closed queue; stats counts its batches.
	queue    chan *request
	loopDone chan struct{}
	stats    batchStats
	// done ends with Close: watchers and compactions stop.
	done      context.Context
	closeDone context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	// compacting is set while a fold of delivery_count_deltas runs;
	// sinceCompact counts writes since the last one.
	compacting   atomic.Bool
	sinceCompact atomic.Int64

	// Test hooks: listening is called each time a watcher's LISTEN is in
	// place; notified with every notification a watcher receives.
	hookListening func()
	hookNotified  func(payload string)
	// hookBatch, a test hook, is called by the writer with the size of
	// each batch it has gathered, before running it.
	hookBatch func(size int)
}

// Open connects to the database opts.DSN names, creates opts.Schema if it
// is missing and brings it up to date (see the package documentation). It
// fails if the server cannot be reached, and with ErrSchemaTooNew if the
// schema was written by a newer build, changing nothing then.
func Open(ctx context.Context, opts Options) (*Store, error) {
	schema, err := schemaOrDefault(opts.Schema)
	if err != nil {
		return nil, err
	}
	cfg, err := poolConfig(opts.DSN, schema)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if opts.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = opts.MaxConnLifetime
	}
	if opts.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	}
	if cfg.MinConns > cfg.MaxConns {
		return nil, fmt.Errorf("postgres: options: MinConns %d is more than MaxConns %d", cfg.MinConns, cfg.MaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open schema %s: %w", schema, err)
	}
	if err := migrate(ctx, pool, schema); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, schema: schema, linker: opts.Linker,
		queue: make(chan *request, maxBatch), loopDone: make(chan struct{})}
	s.done, s.closeDone = context.WithCancel(context.Background())
	go s.loop()
	return s, nil
}

// Schema returns the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// Close stops accepting writes, lets every write under way finish, stops
// the watchers (WatchDeliveries returns nil) and closes the pool. It is
// safe to call more than once; later calls return the first call's
// result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.writes.Wait()
		close(s.queue)
		<-s.loopDone
		s.closeDone()
		s.pool.Close()
	})
	return s.closeErr
}

// enter registers a write; it fails with ErrClosed after Close. The
// caller must call the returned function when the write is over.
func (s *Store) enter() (func(), error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.writes.Add(1)
	return s.writes.Done, nil
}

// pgError returns err's PostgreSQL error, or nil.
func pgError(err error) *pgconn.PgError {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// isUniqueViolation reports whether err violates the unique constraint
// (or primary key) named constraint.
func isUniqueViolation(err error, constraint string) bool {
	e := pgError(err)
	return e != nil && e.Code == "23505" && e.ConstraintName == constraint
}

// Probe proves the store takes writes: it rewrites the one row of table
// probe in a committed write transaction. Readiness checks call it.
func (s *Store) Probe(ctx context.Context) error {
	at := time.Now().UnixNano()
	err := s.write(ctx, func(w *txn) error {
		w.later(nil, `INSERT INTO probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, at)
		w.tail = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: probe write: %w", err)
	}
	return nil
}
