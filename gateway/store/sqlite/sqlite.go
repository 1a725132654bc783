// Package sqlite is Tongban's default embedded store: a gateway.Store kept
// in one SQLite database file, using the pure-Go driver modernc.org/sqlite.
//
// The database runs in WAL mode. Every write (CreateCase, UpdateCase,
// ClaimDue, SaveAttempt, Redeliver, RedeliverDead, AddUsage,
// MarkDelivered) goes through a single writer goroutine that takes all
// requests waiting in its queue, applies them in one transaction with a
// savepoint per request, commits once and then answers each caller (group
// commit): N concurrent writes cost one sync, and one request's failure
// (ErrDuplicateExchange, ErrStale, ...) undoes only that request. Reads use
// a separate pool of read-only connections, which WAL lets run alongside
// the writer; ClaimDue and ClaimMailbox ask one first whether anything is
// due, and answer an empty claim without queueing for the writer.
//
// The store keeps to the files it opened. Before each commit the writer
// checks (two stat calls) that the configured path and its -wal still name
// the files it holds open; while they do not (the file was moved, deleted
// or replaced under the running store), every write fails with
// gateway.ErrStoreUnavailable and writes nothing, and resumes once the
// original files are back at the path (a copy is another file: reopen).
// Read connections are opened read-only (never creating the file) and only
// while the path names the store's file. A full disk, a read-only file
// system or a lock held past the busy timeout also fail writes with
// gateway.ErrStoreUnavailable, and the store takes writes again once the
// cause clears. Open refuses a path whose file is missing while its -wal
// or its lock file is there (a store was there), rather than create an
// empty store in place of the one that was moved away.
//
// A write that returns nil is committed and synced as Options.Synchronous
// says. Once a write has been queued it runs to its end even if its context
// is cancelled meanwhile, so its result is always definite: a write whose
// context is already done when its turn comes is skipped and fails with the
// context's error, and any failed write has written nothing.
//
// Times are stored as Unix nanoseconds, so they round-trip exactly (as UTC
// instants; the location is not kept). Times outside the years 1678–2262
// are refused, except gateway.HeldUntil (year 9999, a held delivery's
// NextAt), stored as the largest int64 (storecodec.Held): it reads back
// exactly and sorts after every other time, so it is never due.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlitedrv "modernc.org/sqlite"

	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// Compile-time interface guard.
var _ gateway.Store = (*Store)(nil)

// ErrClosed is returned by writes submitted after Close.
var ErrClosed = errors.New("sqlite: store is closed")

// Options configures Open. Only Path is required.
type Options struct {
	// Path is the database file; it is created if missing, with its -wal and
	// -shm companions next to it, unless a store was there before (its
	// -wal or .lock file remains): Open refuses that. In-memory databases are not supported,
	// since readers and the writer use separate connections.
	Path string
	// Synchronous is SQLite's synchronous setting for commits: "FULL" (the
	// default) syncs the write-ahead log on every commit, so a write that
	// returned nil survives power loss and OS crashes. "NORMAL" syncs only
	// at checkpoints: committed writes survive a crash of the process but
	// the most recent ones may be lost on power loss or an OS crash
	// (the database stays consistent either way). "EXTRA" is also accepted.
	Synchronous string
	// MaxBatch is the most write requests committed together in one
	// transaction (default 256).
	MaxBatch int
	// QueueSize is how many write requests may wait for the writer before
	// submitters block (default 4×MaxBatch).
	QueueSize int
	// BusyTimeout is how long a connection waits for a database lock
	// held by another connection: a read-only tool (OpenReader) on the
	// same file, say (default 5s).
	BusyTimeout time.Duration
	// MaxReaders bounds the read-only connection pool (default
	// max(4, GOMAXPROCS)).
	MaxReaders int
	// CacheSizeKiB is each connection's page cache size in KiB
	// (default 16384).
	CacheSizeKiB int
	// Linker links evidence records into the chain
	// (evidence.Linker): the store computes no hash of its own. Without
	// it the store refuses to append evidence records.
	Linker gateway.ChainLinker
	// ReleaseLeases returns every delivery left in_flight by a crashed
	// process to the queue at Open (retry_wait, due at once), instead of
	// letting it wait out its lease. The store is exclusive (Open refuses
	// a file another store holds: ErrLocked), so whatever is in flight at
	// Open was left by a process that is gone.
	ReleaseLeases bool
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Path == "":
		return o, errors.New("sqlite: options: path is required")
	case o.Path == ":memory:" || strings.HasPrefix(o.Path, "file:") || strings.ContainsRune(o.Path, '?'):
		return o, fmt.Errorf("sqlite: options: path %q must be a plain file path", o.Path)
	}
	switch s := strings.ToUpper(o.Synchronous); s {
	case "":
		o.Synchronous = "FULL"
	case "FULL", "NORMAL", "EXTRA":
		o.Synchronous = s
	default:
		return o, fmt.Errorf("sqlite: options: synchronous %q: want FULL, NORMAL or EXTRA", o.Synchronous)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4 * o.MaxBatch
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.MaxReaders <= 0 {
		o.MaxReaders = max(4, runtime.GOMAXPROCS(0))
	}
	if o.CacheSizeKiB <= 0 {
		o.CacheSizeKiB = 16384
	}
	return o, nil
}

// dsn returns the driver's data source name for path with the given pragmas.
// busy_timeout is set first by the driver, before anything that can lock.
func (o Options) dsn(pragmas ...string) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(o.BusyTimeout.Milliseconds()))
	q["_pragma"] = append([]string{fmt.Sprintf("cache_size(-%d)", o.CacheSizeKiB)}, pragmas...)
	return o.Path + "?" + q.Encode()
}

// Store is a gateway.Store in one SQLite database. Its methods are safe for
// concurrent use.
type Store struct {
	opts Options
	wdb  *sql.DB // exactly one connection, owned by the writer goroutine
	rdb  *sql.DB // read-only pool

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan *request
	done   chan struct{} // closed when the writer goroutine has returned

	closeOnce sync.Once
	closeErr  error

	r     readStmts
	stats *stats
	id    *fileIdentity // the files the writer opened (available.go)

	// Test hooks: called after a request is queued, and once Close has
	// closed the queue.
	hookQueued, hookClosed func()
}

// Stats are counters of the writer since Open: Commits is how many
// transactions the writer committed, Writes how many write requests those
// commits carried, whatever their outcome (Writes/Commits is the mean
// group-commit batch). They are the counters every store keeps
// (storecodec.Counter).
type Stats = storecodec.Stats

var _ storecodec.Counter = (*Store)(nil)

type stats struct{ commits, writes atomic.Int64 }

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.stats.commits.Load(), Writes: s.stats.writes.Load()}
}

// Open opens (creating if needed) the database at opts.Path, brings its
// schema up to date and starts the writer. It refuses a database whose
// schema is newer than this build knows (ErrSchemaTooNew), and a missing
// file where a store was before (checkNotGone).
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkNotGone(opts.Path); err != nil {
		return nil, err
	}
	s := &Store{opts: opts, stats: new(stats)}
	if err := s.lock(); err != nil { // one writing store per file (lock.go)
		return nil, err
	}
	if err := s.open(ctx); err != nil {
		if s.rdb != nil {
			s.rdb.Close()
		}
		if s.wdb != nil {
			s.wdb.Close()
		}
		s.unlock()
		return nil, err
	}
	return s, nil
}

// checkNotGone refuses to create a store file at path where one was
// before: a missing file whose write-ahead log is there, or whose lock
// file is there (lock files are never removed), was moved or deleted,
// perhaps while a gateway ran on it; a new, empty store in its place
// would discard the log's transactions and hide every case in the file
// that was moved.
func checkNotGone(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, f := range []struct{ suffix, what string }{{"-wal", "write-ahead log"}, {lockSuffix, "lock file"}} {
		if _, err := os.Stat(path + f.suffix); err == nil {
			return fmt.Errorf("sqlite: open %s: the file is missing, but its %s %s%s is there: the store file was moved or deleted; "+
				"put it back (to start a new, empty store instead, remove %s%s)", path, f.what, path, f.suffix, path, f.suffix)
		}
	}
	return nil
}

func (s *Store) open(ctx context.Context) error {
	opts := s.opts
	wc, err := sqlitedrv.NewConnector(opts.dsn(
		"journal_mode(WAL)",
		"synchronous("+opts.Synchronous+")",
		"foreign_keys(1)",
		"temp_store(MEMORY)",
	))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}
	s.wdb = sql.OpenDB(wc)
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)

	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		conn.Close()
		return fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		conn.Close()
		return fmt.Errorf("sqlite: open %s: journal mode is %q, not wal (is the file system local?)", opts.Path, mode)
	}
	if err := migrate(ctx, conn, opts.Path); err != nil {
		conn.Close()
		return err
	}
	if opts.ReleaseLeases {
		if _, err := conn.ExecContext(ctx, releaseLeasesSQL, time.Now().UnixNano()); err != nil {
			conn.Close()
			return fmt.Errorf("sqlite: open %s: release leases: %w", opts.Path, err)
		}
	}
	w, err := newWriter(ctx, conn, s.stats, opts.Linker) // owns conn from here on
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}
	// The writer holds the file and its log open from here on: record
	// which files they are, so that the writer commits and readers open
	// only while the path still names them.
	if s.id, err = identify(opts.Path); err != nil {
		w.close()
		return fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}
	w.check = s.id.check

	// Readers open the file read-only (never creating it), and only while
	// the path names the writer's file.
	rc, err := sqlitedrv.NewConnector(opts.roDSN("query_only(1)"))
	if err != nil {
		w.close()
		return fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}
	s.rdb = sql.OpenDB(checkedConnector{Connector: rc, id: s.id})
	s.rdb.SetMaxOpenConns(opts.MaxReaders)
	s.rdb.SetMaxIdleConns(opts.MaxReaders)
	s.rdb.SetConnMaxLifetime(0)
	s.rdb.SetConnMaxIdleTime(0)
	if err := s.r.prepare(ctx, s.rdb); err != nil {
		w.close()
		return fmt.Errorf("sqlite: open %s: %w", opts.Path, err)
	}

	s.queue = make(chan *request, opts.QueueSize)
	s.done = make(chan struct{})
	go w.loop(s.queue, opts.MaxBatch, s.done)
	return nil
}

// Close stops accepting writes, lets every write already queued finish,
// and closes the database. It is safe to call more than once; later calls
// return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
		if s.hookClosed != nil {
			s.hookClosed()
		}
		<-s.done
		s.closeErr = errors.Join(s.r.close(), s.rdb.Close(), s.wdb.Close(), s.unlock())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlite: close %s: %w", s.opts.Path, s.closeErr)
		}
	})
	return s.closeErr
}

// submit queues fn for the writer and waits for its definite outcome. It
// gives up early only while the queue is full and ctx ends; once queued, the
// request is answered (see the package documentation).
func (s *Store) submit(ctx context.Context, fn func(*writer) error) error {
	r := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.queue <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	if s.hookQueued != nil {
		s.hookQueued()
	}
	return <-r.done
}
