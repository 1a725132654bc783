package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tongban/tongban/gateway"
)

// CopySource is a whole store's content, read from one consistent
// snapshot: what Import copies. The embedded store's export
// (sqlite.Export) is one. Table and column names are the stores' own,
// which mirror each other.
type CopySource interface {
	// Tables returns the source's tables of content, each with its
	// stored columns.
	Tables() map[string][]string
	// Rows calls fn with every row of table in primary-key order, with
	// the values of cols in that order, as stored: nil (NULL), int64,
	// float64, bool, string or []byte. fn may keep vals. Rows stops at
	// fn's first error and returns it.
	Rows(ctx context.Context, table string, cols []string, fn func(vals []any) error) error
	// KeyCounter returns the largest key table's own counter has handed
	// out (the embedded store's AUTOINCREMENT deliveries.seq), 0 when it
	// keeps none.
	KeyCounter(ctx context.Context, table string) (int64, error)
}

// importOrder is the order Import fills the tables in: each after the
// ones it refers to. Tables a later migration adds come after these, in
// name order.
var importOrder = []string{"cases", "exchanges", "statuses", "deliveries", "delivery_payloads", "delivery_acks",
	"usage_records", "evidence", "evidence_checkpoints"}

// importDerived are the tables of the schema Import does not copy into:
// its own bookkeeping (schema_migrations, probe), and what it derives
// from what it copies: evidence_head from the last evidence record, and
// the delivery counters, which the triggers of deliveries maintain.
var importDerived = map[string]bool{
	"schema_migrations":     true,
	"probe":                 true,
	"evidence_head":         true,
	"delivery_counts":       true,
	"delivery_count_deltas": true,
}

// CopyingEvery is how many rows of a table Import copies between calls
// of ImportOptions.Copying.
const CopyingEvery = 100_000

// importLockTimeout bounds how long Import waits for the schema's tables
// while a gateway on it holds them.
var importLockTimeout = 30 * time.Second

// TableCount is how many rows a table holds.
type TableCount struct {
	Table string
	Rows  int64
}

// ImportOptions are Import's hooks.
type ImportOptions struct {
	// Progress, when set, is called after each table is copied with the
	// rows it received; an error it returns aborts the import, which is
	// rolled back.
	Progress func(table string, rows int64) error
	// Copying, when set, is called during a table's copy every
	// CopyingEvery rows, with the rows copied so far.
	Copying func(table string, rows int64)
	// BeforeCommit, when set, is called with what the transaction holds
	// just before it commits (the tables' rows as counted then, and the
	// evidence head); an error it returns rolls the import back.
	BeforeCommit func(ctx context.Context, r *ImportResult) error
}

// ImportResult is what an import wrote.
type ImportResult struct {
	// Tables are the tables copied into, in the order they were filled,
	// with the rows each holds.
	Tables []TableCount
	// Head is the evidence head: the last copied record's seq and hash
	// ((0, ZeroHash) when the source had no evidence).
	Head gateway.ChainHead
}

// NotEmptyError is Import's refusal of a schema that already holds data.
type NotEmptyError struct {
	Schema string
	// Rows are the tables holding rows (cases and evidence always
	// named), in import order.
	Rows []TableCount
	// Counters is set when the delivery counters are not zero.
	Counters bool
}

func (e *NotEmptyError) Error() string {
	var parts []string
	for _, tc := range e.Rows {
		parts = append(parts, fmt.Sprintf("%d %s", tc.Rows, tableNoun(tc.Table)))
	}
	if e.Counters {
		parts = append(parts, "delivery counters that are not zero")
	}
	return fmt.Sprintf("schema %s already holds data (%s)", e.Schema, strings.Join(parts, ", "))
}

// tableNoun names the rows of table for people.
func tableNoun(table string) string {
	switch table {
	case "cases", "exchanges", "deliveries":
		return table
	case "statuses":
		return "history entries"
	case "delivery_payloads":
		return "delivery payloads"
	case "delivery_acks":
		return "acknowledgements"
	case "usage_records":
		return "usage records"
	case "evidence":
		return "evidence records"
	case "evidence_checkpoints":
		return "checkpoints"
	}
	return "rows of " + table
}

// targetColumn is a column of the target schema.
type targetColumn struct {
	name, dataType string
	// optional: the column may be left out of a copy (nullable, or with
	// a default or an identity).
	optional, identity bool
}

// importTable is one table to copy: the source's columns and how each
// value is converted to the target column's type.
type importTable struct {
	name     string
	cols     []string
	types    []string
	identity []string // identity columns copied (their sequences restart after the copied keys)
}

// Import copies src, a whole store, into this store's schema, which must
// be empty, in one transaction: each table with PostgreSQL's COPY, rows
// exactly as the source holds them (nothing is hashed, linked or signed),
// then the identity sequences moved past the copied keys (and past the
// source's own counters) so new rows continue after them, and the
// evidence head set to the last copied record. The schema's tables are
// locked for the whole transaction, so no gateway writes meanwhile.
//
// It refuses (*NotEmptyError) a schema that holds any row of content, a
// moved evidence head or non-zero delivery counters, and a source whose
// tables or columns do not match the schema's (a table or column with no
// place in the target, or a required target column the source lacks),
// writing nothing. Any failure, a cancelled ctx included, rolls the
// whole import back: the schema is left as it was, and the import can
// be run again.
func (s *Store) Import(ctx context.Context, src CopySource, o ImportOptions) (res *ImportResult, err error) {
	leave, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	fail := func(err error) error { return fmt.Errorf("postgres: import into schema %s: %w", s.schema, err) }
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return nil, fail(err)
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, importLockTimeout.Milliseconds())); err != nil {
		return nil, fail(err)
	}
	target, err := targetColumns(ctx, tx, s.schema)
	if err != nil {
		return nil, fail(err)
	}
	plan, err := importPlan(src.Tables(), target)
	if err != nil {
		return nil, fail(err)
	}
	// Every table but schema_migrations is locked against writers (a
	// gateway on the schema) until the transaction ends; readers go on.
	var locked []string
	for _, name := range slices.Sorted(maps.Keys(target)) {
		if name != "schema_migrations" {
			locked = append(locked, s.ident(name))
		}
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(locked, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		if e := pgError(err); e != nil && e.Code == "55P03" {
			return nil, fail(fmt.Errorf("its tables stayed in use for %s (is a gateway running on it?): stop every gateway on schema %s and try again", importLockTimeout, s.schema))
		}
		return nil, fail(fmt.Errorf("lock the tables: %w", err))
	}
	if err := s.checkEmpty(ctx, tx, plan, target); err != nil {
		return nil, err
	}

	res = &ImportResult{}
	copied := map[string]int64{}
	for _, t := range plan {
		n, err := s.copyTable(ctx, tx, src, t, o.Copying)
		if err != nil {
			return nil, fail(err)
		}
		copied[t.name] = n
		if o.Progress != nil {
			if err := o.Progress(t.name, n); err != nil {
				return nil, fail(err)
			}
		}
	}
	for _, t := range plan {
		for _, col := range t.identity {
			if err := s.restartIdentity(ctx, tx, src, t.name, col); err != nil {
				return nil, fail(err)
			}
		}
	}
	if _, ok := target["evidence_head"]; ok {
		if _, err := tx.Exec(ctx, `UPDATE evidence_head AS h SET seq = e.seq, hash = e.hash
			FROM (SELECT seq, hash FROM evidence ORDER BY seq DESC LIMIT 1) AS e WHERE h.id = 1`); err != nil {
			return nil, fail(fmt.Errorf("set the evidence head: %w", err))
		}
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM evidence_head WHERE id = 1`).Scan(&res.Head.Seq, &res.Head.Hash); err != nil {
			return nil, fail(fmt.Errorf("read the evidence head: %w", err))
		}
	}
	for _, t := range plan {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+s.ident(t.name)).Scan(&n); err != nil {
			return nil, fail(err)
		}
		if n != copied[t.name] {
			return nil, fail(fmt.Errorf("table %s holds %d rows after %d were copied", t.name, n, copied[t.name]))
		}
		res.Tables = append(res.Tables, TableCount{Table: t.name, Rows: n})
	}
	if err := checkCounters(ctx, tx, target); err != nil {
		return nil, fail(err)
	}
	if o.BeforeCommit != nil {
		if err := o.BeforeCommit(ctx, res); err != nil {
			return nil, fail(err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fail(fmt.Errorf("commit: %w", err))
	}
	return res, nil
}

// ident returns table qualified with the store's schema, quoted.
func (s *Store) ident(table string) string { return pgx.Identifier{s.schema, table}.Sanitize() }

// targetColumns reads the base tables of schema and their columns
// (generated columns left out: they are computed, never written).
func targetColumns(ctx context.Context, tx pgx.Tx, schema string) (map[string][]targetColumn, error) {
	// The catalogs, not information_schema: the same answer, many times
	// faster.
	rows, err := tx.Query(ctx, `SELECT c.relname, a.attname, format_type(a.atttypid, NULL),
			NOT a.attnotnull OR a.atthasdef OR a.attidentity <> '', a.attidentity <> ''
		FROM pg_class AS c
		JOIN pg_namespace AS n ON n.oid = c.relnamespace
		JOIN pg_attribute AS a ON a.attrelid = c.oid
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
		  AND a.attgenerated = ''
		ORDER BY c.relname, a.attnum`, schema)
	if err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	out := map[string][]targetColumn{}
	var (
		table string
		c     targetColumn
	)
	_, err = pgx.ForEachRow(rows, []any{&table, &c.name, &c.dataType, &c.optional, &c.identity}, func() error {
		out[table] = append(out[table], c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("schema %s has no tables", schema)
	}
	return out, nil
}

// importPlan matches the source's tables and columns with the target's:
// every source table and column must have its namesake in the target,
// and every target table of content its namesake in the source, with
// every column the target requires. It returns the tables to copy in
// import order, or every mismatch found.
func importPlan(src map[string][]string, target map[string][]targetColumn) ([]importTable, error) {
	var problems []string
	var names []string
	for _, name := range importOrder {
		if _, ok := target[name]; ok {
			names = append(names, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(target)) {
		if !importDerived[name] && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(src)) {
		if _, ok := target[name]; !ok || importDerived[name] {
			problems = append(problems, fmt.Sprintf("the source's table %s has no place in the target", name))
		}
	}
	var plan []importTable
	for _, name := range names {
		srcCols, ok := src[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("the target's table %s is not in the source", name))
			continue
		}
		cols := map[string]targetColumn{}
		for _, c := range target[name] {
			cols[c.name] = c
		}
		t := importTable{name: name}
		for _, col := range srcCols {
			c, ok := cols[col]
			if !ok {
				problems = append(problems, fmt.Sprintf("the source's column %s.%s has no place in the target", name, col))
				continue
			}
			t.cols, t.types = append(t.cols, col), append(t.types, c.dataType)
			if c.identity {
				t.identity = append(t.identity, col)
			}
		}
		for _, c := range target[name] {
			if !c.optional && !slices.Contains(srcCols, c.name) {
				problems = append(problems, fmt.Sprintf("the target's column %s.%s is required and not in the source", name, c.name))
			}
		}
		plan = append(plan, t)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the source's tables do not match the target's (stores of different versions?): %s", strings.Join(problems, "; "))
	}
	return plan, nil
}

// checkEmpty refuses a schema that holds data: any row of a table the
// import fills, an evidence head past 0, or delivery counters that do
// not add up to zero.
func (s *Store) checkEmpty(ctx context.Context, tx pgx.Tx, plan []importTable, target map[string][]targetColumn) error {
	e := &NotEmptyError{Schema: s.schema}
	held := false
	for _, t := range plan {
		var n int64
		// count(*) only where some row is there, and always for the two
		// tables the refusal names.
		if err := tx.QueryRow(ctx, `SELECT CASE WHEN EXISTS (SELECT 1 FROM `+s.ident(t.name)+`)
				THEN (SELECT count(*) FROM `+s.ident(t.name)+`) ELSE 0 END`).Scan(&n); err != nil {
			return fmt.Errorf("postgres: import into schema %s: %w", s.schema, err)
		}
		if n > 0 || t.name == "cases" || t.name == "evidence" {
			e.Rows = append(e.Rows, TableCount{Table: t.name, Rows: n})
		}
		held = held || n > 0
	}
	if _, ok := target["evidence_head"]; ok {
		var seq int64
		if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT seq FROM evidence_head WHERE id = 1), 0)`).Scan(&seq); err != nil {
			return fmt.Errorf("postgres: import into schema %s: %w", s.schema, err)
		}
		held = held || seq != 0
	}
	if _, ok := target["delivery_counts"]; ok {
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM (
				SELECT state, n FROM delivery_counts UNION ALL SELECT state, n FROM delivery_count_deltas) AS c
			GROUP BY state HAVING sum(n) <> 0)`).Scan(&e.Counters); err != nil {
			return fmt.Errorf("postgres: import into schema %s: %w", s.schema, err)
		}
		held = held || e.Counters
	}
	if held {
		return e
	}
	return nil
}

// Batches of rows sent with one COPY: at most copyBatchRows rows, and
// not many more than copyBatchBytes of strings and bytes.
const (
	copyBatchRows  = 2000
	copyBatchBytes = 8 << 20
)

// copyTable copies t's rows from src with COPY, a batch at a time, and
// returns how many it copied.
func (s *Store) copyTable(ctx context.Context, tx pgx.Tx, src CopySource, t importTable, copying func(string, int64)) (int64, error) {
	var (
		total int64
		batch [][]any
		size  int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, t.name}, t.cols, pgx.CopyFromRows(batch))
		if err != nil {
			return fmt.Errorf("copy %s (rows %d to %d): %w", t.name, total+1, total+int64(len(batch)), err)
		}
		if n != int64(len(batch)) {
			return fmt.Errorf("copy %s: %d of %d rows copied", t.name, n, len(batch))
		}
		if copying != nil && (total+n)/CopyingEvery > total/CopyingEvery {
			copying(t.name, total+n)
		}
		total += n
		batch, size = batch[:0], 0
		return nil
	}
	err := src.Rows(ctx, t.name, t.cols, func(vals []any) error {
		if len(vals) != len(t.cols) {
			return fmt.Errorf("copy %s: the source gave %d values for %d columns", t.name, len(vals), len(t.cols))
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			c, err := convertValue(v, t.types[i])
			if err != nil {
				return fmt.Errorf("copy %s: row %d: column %s: %w", t.name, total+int64(len(batch))+1, t.cols[i], err)
			}
			row[i] = c
			switch c := c.(type) {
			case string:
				size += len(c)
			case []byte:
				size += len(c)
			}
		}
		batch = append(batch, row)
		if len(batch) >= copyBatchRows || size >= copyBatchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return total, nil
}

// convertValue turns a source value into one of the target column's
// type, without changing what it says: the embedded store keeps booleans
// as integers 0 and 1, and SQLite may hand text back as bytes or bytes
// as text. Anything else is passed as it is, for COPY to accept or
// refuse.
func convertValue(v any, dataType string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch dataType {
	case "boolean":
		switch b := v.(type) {
		case bool:
			return b, nil
		case int64:
			if b == 0 || b == 1 {
				return b == 1, nil
			}
		}
		return nil, fmt.Errorf("%v (%T) is not a boolean", v, v)
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
	case "text", "character varying":
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
	case "bigint", "integer", "smallint":
		if _, ok := v.(int64); !ok {
			return nil, fmt.Errorf("%v (%T) is not an integer", v, v)
		}
	}
	return v, nil
}

// restartIdentity makes table's identity column col hand out keys after
// every copied one and after the source's own counter, so a key is never
// repeated. ALTER TABLE is transactional: a rolled-back import leaves the
// sequence as it was.
func (s *Store) restartIdentity(ctx context.Context, tx pgx.Tx, src CopySource, table, col string) error {
	var top int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(`+pgx.Identifier{col}.Sanitize()+`), 0) FROM `+s.ident(table)).Scan(&top); err != nil {
		return fmt.Errorf("the largest %s.%s: %w", table, col, err)
	}
	counter, err := src.KeyCounter(ctx, table)
	if err != nil {
		return err
	}
	top = max(top, counter)
	if top == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN %s RESTART WITH %d`,
		s.ident(table), pgx.Identifier{col}.Sanitize(), top+1)); err != nil {
		return fmt.Errorf("continue %s.%s after %d: %w", table, col, top, err)
	}
	return nil
}

// checkCounters checks that the delivery counters, which the triggers of
// deliveries kept during the copy, count the deliveries copied.
func checkCounters(ctx context.Context, tx pgx.Tx, target map[string][]targetColumn) error {
	for _, t := range []string{"deliveries", "delivery_counts", "delivery_count_deltas"} {
		if _, ok := target[t]; !ok {
			return nil
		}
	}
	rows, err := tx.Query(ctx, `SELECT coalesce(r.state, c.state), coalesce(r.n, 0), coalesce(c.n, 0) FROM
			(SELECT state, count(*) AS n FROM deliveries GROUP BY state) AS r
		FULL JOIN
			(SELECT state, sum(n) AS n FROM (SELECT state, n FROM delivery_counts
				UNION ALL SELECT state, n FROM delivery_count_deltas) AS u GROUP BY state) AS c
		ON c.state = r.state
		WHERE coalesce(r.n, 0) <> coalesce(c.n, 0)`)
	if err != nil {
		return fmt.Errorf("check the delivery counters: %w", err)
	}
	var (
		state    string
		have, nc int64
		bad      []string
	)
	_, err = pgx.ForEachRow(rows, []any{&state, &have, &nc}, func() error {
		bad = append(bad, fmt.Sprintf("%s: %d deliveries, counted %d", state, have, nc))
		return nil
	})
	if err != nil {
		return fmt.Errorf("check the delivery counters: %w", err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("the delivery counters do not count the deliveries copied: %s", strings.Join(bad, "; "))
	}
	return nil
}

// RowCounts returns how many rows each table of content of the schema
// holds (the tables Import fills), in import order.
func (s *Store) RowCounts(ctx context.Context) ([]TableCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1`, s.schema)
	if err != nil {
		return nil, fmt.Errorf("postgres: row counts: %w", err)
	}
	have := map[string]bool{}
	var name string
	if _, err := pgx.ForEachRow(rows, []any{&name}, func() error {
		have[name] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: row counts: %w", err)
	}
	var names []string
	for _, n := range importOrder {
		if have[n] {
			names = append(names, n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(have)) {
		if !importDerived[n] && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	out := make([]TableCount, 0, len(names))
	for _, n := range names {
		var c int64
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.ident(n)).Scan(&c); err != nil {
			return nil, fmt.Errorf("postgres: row counts: %s: %w", n, err)
		}
		out = append(out, TableCount{Table: n, Rows: c})
	}
	return out, nil
}
