package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	sqlitedrv "modernc.org/sqlite"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// exportSkipped are the tables of a store file that hold nothing of the
// store's content: what an export leaves out. Tables whose names start
// with sqlite_ (SQLite's own: sqlite_sequence, sqlite_stat1, ...) are
// left out too; KeyCounter reads sqlite_sequence.
var exportSkipped = map[string]string{
	"schema_migrations": "the file's schema history; the target keeps its own",
	"delivery_counts":   "counters derived from deliveries by triggers; the target derives its own",
	"probe":             "the readiness probe's scratch row",
}

// Export is one consistent, read-only snapshot of a store file, for
// copying the whole store elsewhere (tongban store copy): every table of
// content, its columns and its rows exactly as stored, and the evidence
// log (it is a gateway.EvidenceSource, so the log it holds can be
// verified before it is copied).
//
// Everything is read in one read transaction on a query_only connection:
// the snapshot of the moment OpenExport began, whatever a gateway still
// serving from the file commits meanwhile. The file is never written and
// no lock is taken on it. Close ends the transaction.
//
// An Export is used by one goroutine at a time.
type Export struct {
	path   string
	db     *sql.DB
	tx     *sql.Tx
	tables map[string]*exportTable
	inUse  string
}

// exportTable is one exported table: its stored columns (generated ones
// left out) and its primary key, the order rows are read in.
type exportTable struct {
	cols []string
	key  []string // primary-key columns in key order; empty: rowid
}

var _ gateway.EvidenceSource = (*Export)(nil)

// OpenExport opens the store file at path for export and takes the
// snapshot. The file must exist and have this build's schema version: a
// file an older build wrote is refused (the gateway of this build
// migrates it when it opens it), as is one a newer build wrote
// (ErrSchemaTooNew). A gateway may be serving from the file meanwhile
// (see InUse).
func OpenExport(ctx context.Context, path string) (_ *Export, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: export %s: %w", path, err)
	}
	o, err := Options{Path: path}.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := sqlitedrv.NewConnector(o.dsn("query_only(1)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: export %s: %w", path, err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	x := &Export{path: path, db: db, inUse: lockInUse(path)}
	defer func() {
		if err != nil {
			x.Close()
		}
	}()
	fail := func(err error) error { return fmt.Errorf("sqlite: export %s: %w", path, err) }
	// The snapshot begins with the transaction's first read, this one.
	if x.tx, err = db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}); err != nil {
		return nil, fail(err)
	}
	var store int
	if err := x.tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master
		WHERE type = 'table' AND name IN ('schema_migrations', 'evidence')`).Scan(&store); err != nil {
		return nil, fail(err)
	}
	if store != 2 {
		return nil, fmt.Errorf("sqlite: export %s: not a tongban store (no schema_migrations and evidence tables), or one older than schema 5", path)
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	var version int
	if err := x.tx.QueryRowContext(ctx, `SELECT ifnull(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return nil, fail(err)
	}
	switch latest := len(ms); {
	case version > latest:
		return nil, fmt.Errorf("%w: %s has schema version %d, this build knows up to %d; use a newer tongban",
			ErrSchemaTooNew, path, version, latest)
	case version < latest:
		return nil, fmt.Errorf("sqlite: export %s: the file has schema version %d, this build's is %d: start this build's gateway on it once (it migrates the file), or copy it with the build that wrote it",
			path, version, latest)
	}
	if x.tables, err = exportTables(ctx, x.tx); err != nil {
		return nil, fail(err)
	}
	return x, nil
}

// exportTables reads the schema: every table of content with its stored
// columns and primary key.
func exportTables(ctx context.Context, tx *sql.Tx) (map[string]*exportTable, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		if _, skip := exportSkipped[name]; !skip {
			names = append(names, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]*exportTable, len(names))
	for _, name := range names {
		// hidden: 0 a stored column, 1 a virtual table's hidden one, 2
		// and 3 generated (VIRTUAL, STORED): computed, never copied.
		rows, err := tx.QueryContext(ctx, `SELECT name, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid`, name)
		if err != nil {
			return nil, fmt.Errorf("columns of %s: %w", name, err)
		}
		t := &exportTable{}
		keys := map[int]string{}
		for rows.Next() {
			var (
				col        string
				pk, hidden int
			)
			if err := rows.Scan(&col, &pk, &hidden); err != nil {
				rows.Close()
				return nil, fmt.Errorf("columns of %s: %w", name, err)
			}
			if hidden != 0 {
				continue
			}
			t.cols = append(t.cols, col)
			if pk > 0 {
				keys[pk] = col
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", name, err)
		}
		for i := 1; i <= len(keys); i++ {
			t.key = append(t.key, keys[i])
		}
		out[name] = t
	}
	return out, nil
}

// lockInUse describes the store that holds the file's lock (a gateway
// serving from it), or returns "" when none does. It tries a shared lock
// on the lock file, without creating it, and lets go at once.
func lockInUse(dbPath string) string {
	lockPath := dbPath + lockSuffix
	f, err := os.Open(lockPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if err := flock(f, unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			msg := lockedError(dbPath, lockPath).Error()
			return strings.TrimPrefix(msg, ErrLocked.Error()+": ")
		}
		return ""
	}
	flock(f, unix.LOCK_UN)
	return ""
}

// Path returns the exported file's path.
func (x *Export) Path() string { return x.path }

// InUse describes the gateway that held the file when the export began
// ("the file is held by pid ..."), or is "" when none did. Whatever such
// a gateway commits after the snapshot is not in the export.
func (x *Export) InUse() string { return x.inUse }

// Tables returns the exported tables, each with its stored columns in
// table order. The tables of no content (schema_migrations,
// delivery_counts, probe and SQLite's own) and generated columns
// (deliveries.due_at) are not among them.
func (x *Export) Tables() map[string][]string {
	out := make(map[string][]string, len(x.tables))
	for name, t := range x.tables {
		out[name] = slices.Clone(t.cols)
	}
	return out
}

// table returns the exported table name, or an error.
func (x *Export) table(name string) (*exportTable, error) {
	t, ok := x.tables[name]
	if !ok {
		return nil, fmt.Errorf("sqlite: export %s: no table %q to export", x.path, name)
	}
	return t, nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Rows calls fn with every row of table, in primary-key order, with the
// values of cols in that order exactly as stored: nil (NULL), int64,
// float64, string or []byte. Each call has a slice of its own, which fn
// may keep. Rows stops at fn's first error and returns it.
func (x *Export) Rows(ctx context.Context, table string, cols []string, fn func(vals []any) error) error {
	t, err := x.table(table)
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return fmt.Errorf("sqlite: export %s: table %s: no columns asked for", x.path, table)
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		if !slices.Contains(t.cols, c) {
			return fmt.Errorf("sqlite: export %s: table %s has no column %q", x.path, table, c)
		}
		quoted[i] = quoteIdent(c)
	}
	order := "rowid"
	if len(t.key) > 0 {
		keys := make([]string, len(t.key))
		for i, k := range t.key {
			keys[i] = quoteIdent(k)
		}
		order = strings.Join(keys, ", ")
	}
	rows, err := x.tx.QueryContext(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM `+quoteIdent(table)+` ORDER BY `+order)
	if err != nil {
		return fmt.Errorf("sqlite: export %s: read %s: %w", x.path, table, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i] // database/sql copies a []byte into an *any
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("sqlite: export %s: read %s: %w", x.path, table, err)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: export %s: read %s: %w", x.path, table, err)
	}
	return nil
}

// Count returns how many rows table holds.
func (x *Export) Count(ctx context.Context, table string) (int64, error) {
	if _, err := x.table(table); err != nil {
		return 0, err
	}
	var n int64
	if err := x.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: export %s: count %s: %w", x.path, table, err)
	}
	return n, nil
}

// Counts returns how many rows each exported table holds, by name.
func (x *Export) Counts(ctx context.Context) (map[string]int64, error) {
	names := make([]string, 0, len(x.tables))
	for name := range x.tables {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]int64, len(names))
	for _, name := range names {
		n, err := x.Count(ctx, name)
		if err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, nil
}

// KeyCounter returns the largest key table's AUTOINCREMENT counter has
// handed out (deliveries.seq), which may be above the largest key stored,
// or 0 when the table keeps no such counter. Keys above it were never
// used, so a copy that continues from it never repeats one.
func (x *Export) KeyCounter(ctx context.Context, table string) (int64, error) {
	if _, err := x.table(table); err != nil {
		return 0, err
	}
	var n int64
	err := x.tx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = ?`, table).Scan(&n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil && strings.Contains(err.Error(), "no such table"):
		return 0, nil // no AUTOINCREMENT table in the file at all
	case err != nil:
		return 0, fmt.Errorf("sqlite: export %s: key counter of %s: %w", x.path, table, err)
	}
	return n, nil
}

// CountByState returns how many deliveries the snapshot holds in each
// transport state, as the store counts them (delivery_counts).
func (x *Export) CountByState(ctx context.Context) (map[contracts.TransportState]int, error) {
	rows, err := x.tx.QueryContext(ctx, `SELECT state, n FROM delivery_counts`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: export %s: count by state: %w", x.path, err)
	}
	defer rows.Close()
	out := make(map[contracts.TransportState]int, 6)
	for rows.Next() {
		var (
			st contracts.TransportState
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("sqlite: export %s: count by state: %w", x.path, err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: export %s: count by state: %w", x.path, err)
	}
	return out, nil
}

// EvidenceHead returns the snapshot's last evidence record's seq and hash.
func (x *Export) EvidenceHead(ctx context.Context) (int64, string, error) {
	h, err := loadHead(x.tx.QueryRowContext(ctx, headQuery))
	if err != nil {
		return 0, "", fmt.Errorf("sqlite: export %s: evidence head: %w", x.path, err)
	}
	return h.Seq, h.Hash, nil
}

// ScanEvidence calls fn with the snapshot's records from from to to (0:
// the head), in seq order, as stored.
func (x *Export) ScanEvidence(ctx context.Context, from, to int64, fn func(gateway.EvidenceRow) error) error {
	if to <= 0 {
		to = 1<<63 - 1
	}
	rows, err := x.tx.QueryContext(ctx, `SELECT seq, hash, record FROM evidence WHERE seq >= ? AND seq <= ? ORDER BY seq`, from, to)
	if err != nil {
		return fmt.Errorf("sqlite: export %s: scan evidence: %w", x.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r gateway.EvidenceRow
		if err := rows.Scan(&r.Seq, &r.Hash, &r.Record); err != nil {
			return fmt.Errorf("sqlite: export %s: scan evidence: %w", x.path, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: export %s: scan evidence: %w", x.path, err)
	}
	return nil
}

// Checkpoints returns the snapshot's checkpoints from from to to (0: no
// bound), in seq order.
func (x *Export) Checkpoints(ctx context.Context, from, to int64) ([]contracts.Checkpoint, error) {
	if to <= 0 {
		to = 1<<63 - 1
	}
	rows, err := x.tx.QueryContext(ctx, `SELECT seq, head_hash, at, key_id, signature FROM evidence_checkpoints
		WHERE seq >= ? AND seq <= ? ORDER BY seq`, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqlite: export %s: checkpoints: %w", x.path, err)
	}
	defer rows.Close()
	var out []contracts.Checkpoint
	for rows.Next() {
		var (
			cp contracts.Checkpoint
			at int64
		)
		if err := rows.Scan(&cp.Seq, &cp.HeadHash, &at, &cp.KeyID, &cp.Signature); err != nil {
			return nil, fmt.Errorf("sqlite: export %s: checkpoints: %w", x.path, err)
		}
		cp.At = decInstant(at)
		out = append(out, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: export %s: checkpoints: %w", x.path, err)
	}
	return out, nil
}

// Close ends the snapshot and closes the file. It is safe to call more
// than once.
func (x *Export) Close() error {
	var errs []error
	if x.tx != nil {
		if err := x.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
			errs = append(errs, err)
		}
		x.tx = nil
	}
	if x.db != nil {
		errs = append(errs, x.db.Close())
		x.db = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: export %s: close: %w", x.path, err)
	}
	return nil
}
