package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storetest"
)

// schemaSource is a CopySource reading another store's schema: what the
// embedded store's export gives, from a store these tests can fill. Like
// the embedded store it hands booleans over as integers 0 and 1.
type schemaSource struct {
	t      *testing.T
	schema string
	tables map[string][]string
	// counter is what KeyCounter says of deliveries.
	counter int64
	// drop, when set, leaves tables out of Tables; extra adds columns.
	drop  []string
	extra map[string]string
}

func newSchemaSource(t *testing.T, schema string) *schemaSource {
	t.Helper()
	rows, err := admin(t).Query(context.Background(), `SELECT c.table_name, c.column_name
		FROM information_schema.columns AS c
		JOIN information_schema.tables AS t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE' AND c.is_generated <> 'ALWAYS'
		ORDER BY c.table_name, c.ordinal_position`, schema)
	if err != nil {
		t.Fatal(err)
	}
	src := &schemaSource{t: t, schema: schema, tables: map[string][]string{}}
	var table, col string
	if _, err := pgx.ForEachRow(rows, []any{&table, &col}, func() error {
		if !importDerived[table] {
			src.tables[table] = append(src.tables[table], col)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return src
}

func (s *schemaSource) Tables() map[string][]string {
	out := map[string][]string{}
	for name, cols := range s.tables {
		if !slices.Contains(s.drop, name) {
			out[name] = slices.Clone(cols)
		}
	}
	for name, col := range s.extra {
		out[name] = append(out[name], col)
	}
	return out
}

func (s *schemaSource) Rows(ctx context.Context, table string, cols []string, fn func([]any) error) error {
	// The first column is each table's key (seq, id, ...) or its first part.
	rows, err := admin(s.t).Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+ident(s.schema, table)+` ORDER BY 1, 2`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		for i, v := range vals {
			if b, ok := v.(bool); ok {
				vals[i] = int64(0)
				if b {
					vals[i] = int64(1)
				}
			}
			if n, ok := v.(int32); ok {
				vals[i] = int64(n)
			}
			if n, ok := v.(int16); ok {
				vals[i] = int64(n)
			}
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *schemaSource) KeyCounter(_ context.Context, table string) (int64, error) {
	if table == "deliveries" {
		return s.counter, nil
	}
	return 0, nil
}

// fillForImport stores cases with deliveries in several states (and one
// case with every field of its administration set), usage records and
// evidence with a checkpoint in schema.
func fillForImport(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	for range 6 {
		if err := s.CreateCase(ctx, fixChange("")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateCase(ctx, gateway.Change{Case: storetest.AdminCase(fixID("case"))}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.ClaimDue(ctx, t0, time.Minute, 2)
	if err != nil || len(ds) != 2 {
		t.Fatalf("ClaimDue: %d, %v", len(ds), err)
	}
	d := *ds[0]
	d.State, d.Attempts, d.NextAt, d.LastError = contracts.TransportStateDead, 1, t0, "gone"
	if err := s.SaveAttempt(ctx, &d, contracts.EvidenceRecord{At: t0, Actor: "gateway", Event: contracts.EventDeliveryAttempt}); err != nil {
		t.Fatal(err)
	}
	u := gateway.UsageEntry{Record: contracts.UsageRecord{UsageRecordID: fixID("ur"), Caller: "320404", CheckedAt: t0, Cached: true},
		HolderID: "11010519491231002X"}
	ud := &gateway.Delivery{ID: fixID("dl"), Kind: contracts.DeliveryKindUsageRecord, Partner: "330781", ExchangeID: fixID("dx"),
		Pull: true, NextAt: t0, CreatedAt: t0}
	if err := s.AddUsage(ctx, []gateway.UsageEntry{u}, []*gateway.Delivery{ud}); err != nil {
		t.Fatal(err)
	}
	seq, hash, err := s.EvidenceHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCheckpoint(ctx, contracts.Checkpoint{Seq: seq, HeadHash: hash, At: t0, KeyID: "gateway", Signature: []byte{0x30, 0x01}}); err != nil {
		t.Fatal(err)
	}
}

// tableText is every row of table in schema, as PostgreSQL prints them.
func tableText(t *testing.T, schema, table string) string {
	t.Helper()
	var s *string
	if err := admin(t).QueryRow(context.Background(), `SELECT array_agg(r ORDER BY r)::text FROM `+ident(schema, table)+` AS r`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return ""
	}
	return *s
}

// TestImport: a store's content imported into an empty schema is there
// row for row (generated columns and counters included), its log has the
// same head, and new writes continue after the copied keys and the
// source's counter.
func TestImport(t *testing.T) {
	from, to := freshSchema(t), freshSchema(t)
	a := openClosed(t, from)
	fillForImport(t, a)
	src := newSchemaSource(t, from)
	src.counter = 1000
	b := openClosed(t, to)
	var progress []string
	res, err := b.Import(t.Context(), src, ImportOptions{Progress: func(table string, n int64) error {
		progress = append(progress, fmt.Sprintf("%s %d", table, n))
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cases 7", "exchanges 6", "statuses 6", "deliveries 7", "delivery_payloads 7", "delivery_acks 0",
		"usage_records 1", "evidence 7", "evidence_checkpoints 1"}; !slices.Equal(progress, want) {
		t.Errorf("progress: %v, want %v", progress, want)
	}
	seq, hash, err := a.EvidenceHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Head != (gateway.ChainHead{Seq: seq, Hash: hash}) {
		t.Errorf("head %+v, want the source's %d %s", res.Head, seq, hash)
	}
	for _, table := range append(slices.Sorted(maps.Keys(src.tables)), "evidence_head") {
		if got, want := tableText(t, to, table), tableText(t, from, table); got != want {
			t.Errorf("table %s:\ncopy   %s\nsource %s", table, got, want)
		}
	}
	ca, _ := a.CountByState(t.Context())
	cb, _ := b.CountByState(t.Context())
	if fmt.Sprint(ca) != fmt.Sprint(cb) {
		t.Errorf("CountByState: copy %v, source %v", cb, ca)
	}
	counts, err := b.RowCounts(t.Context())
	if err != nil || fmt.Sprint(counts) != fmt.Sprint(res.Tables) {
		t.Errorf("RowCounts: %v, %v; want %v", counts, err, res.Tables)
	}

	ch := fixChange("")
	if err := b.CreateCase(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	if ch.Enqueue[0].Seq != 1001 || ch.Evidence[0].Seq != seq+1 || ch.Evidence[0].PrevHash != hash {
		t.Errorf("after the import: delivery seq %d (want 1001, after the source's counter), record %d after %s (want %d after %s)",
			ch.Enqueue[0].Seq, ch.Evidence[0].Seq, ch.Evidence[0].PrevHash, seq+1, hash)
	}
	wantChain(t, b, seq+1)
	if n := queryInt(t, `SELECT count(*) FROM `+ident(to, "statuses")+` WHERE id > 6`); n != 1 {
		t.Errorf("the new history entry did not follow the copied ones (%d after id 6)", n)
	}

	// The schema holds data now: a second import is refused whole.
	before := tableText(t, to, "evidence") + tableText(t, to, "deliveries")
	_, err = b.Import(t.Context(), src, ImportOptions{})
	var full *NotEmptyError
	if !errors.As(err, &full) || !strings.Contains(err.Error(), fmt.Sprintf("schema %s already holds data (8 cases, ", to)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("%d evidence records", seq+1)) {
		t.Errorf("import into a full schema: %v", err)
	}
	if after := tableText(t, to, "evidence") + tableText(t, to, "deliveries"); after != before {
		t.Error("the refused import changed the schema")
	}
}

// TestImportRollsBack: an import that fails after some tables leaves the
// schema as it was, sequences included, and can be run again.
func TestImportRollsBack(t *testing.T) {
	from, to := freshSchema(t), freshSchema(t)
	a := openClosed(t, from)
	fillForImport(t, a)
	src := newSchemaSource(t, from)
	b := openClosed(t, to)
	injected := errors.New("injected")
	_, err := b.Import(t.Context(), src, ImportOptions{Progress: func(table string, _ int64) error {
		if table == "deliveries" {
			return injected
		}
		return nil
	}})
	if !errors.Is(err, injected) {
		t.Fatalf("import failing after deliveries: %v", err)
	}
	_, err = b.Import(t.Context(), src, ImportOptions{BeforeCommit: func(context.Context, *ImportResult) error { return injected }})
	if !errors.Is(err, injected) {
		t.Fatalf("import refused before its commit: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	_, err = b.Import(ctx, src, ImportOptions{Progress: func(table string, _ int64) error {
		if table == "statuses" {
			cancel()
		}
		return nil
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled import: %v", err)
	}
	counts, err := b.RowCounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if c.Rows != 0 {
			t.Errorf("after the failures: table %s holds %d rows", c.Table, c.Rows)
		}
	}
	if got := tableText(t, to, "evidence_head"); !strings.Contains(got, "(1,0,") {
		t.Errorf("after the failures: evidence head %s", got)
	}
	if n := queryInt(t, `SELECT count(*) FROM `+ident(to, "delivery_count_deltas")); n != 0 {
		t.Errorf("after the failures: %d count deltas", n)
	}
	if _, err := b.Import(t.Context(), src, ImportOptions{}); err != nil {
		t.Fatalf("import after the failures: %v", err)
	}
	if got, want := tableText(t, to, "deliveries"), tableText(t, from, "deliveries"); got != want {
		t.Errorf("deliveries:\ncopy   %s\nsource %s", got, want)
	}
}

// TestImportRefusesMismatch: a source whose tables or columns do not
// match the schema's is refused, naming every mismatch, and nothing is
// written.
func TestImportRefusesMismatch(t *testing.T) {
	from, to := freshSchema(t), freshSchema(t)
	a := openClosed(t, from)
	fillForImport(t, a)
	b := openClosed(t, to)
	src := newSchemaSource(t, from)
	src.drop = []string{"usage_records"}
	src.extra = map[string]string{"deliveries": "priority", "mailboxes": "partner", "probe": "at"}
	_, err := b.Import(t.Context(), src, ImportOptions{})
	for _, want := range []string{"the target's table usage_records is not in the source", "the source's column deliveries.priority has no place",
		"the source's table mailboxes has no place", "the source's table probe has no place"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("mismatched source: %v; want it to say %q", err, want)
		}
	}
	src = newSchemaSource(t, from)
	src.tables["cases"] = slices.DeleteFunc(src.tables["cases"], func(c string) bool { return c == "version" })
	if _, err := b.Import(t.Context(), src, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "cases.version is required") {
		t.Errorf("source without a required column: %v", err)
	}
	if tableText(t, to, "cases") != "" {
		t.Error("a refused import wrote cases")
	}
	if _, err := convertValue(int64(2), "boolean"); err == nil {
		t.Error("2 converted to a boolean")
	}
	if v, err := convertValue("x", "bytea"); err != nil || string(v.([]byte)) != "x" {
		t.Errorf("text to bytea: %v, %v", v, err)
	}
	if v, err := convertValue([]byte("x"), "text"); err != nil || v.(string) != "x" {
		t.Errorf("bytes to text: %v, %v", v, err)
	}
	if _, err := convertValue(1.5, "bigint"); err == nil {
		t.Error("1.5 converted to an integer")
	}
}

// TestImportWaitsForWriters: an import into a schema a gateway is
// writing waits for the gateway's transaction, then gives up naming the
// cause, having written nothing.
func TestImportWaitsForWriters(t *testing.T) {
	from, to := freshSchema(t), freshSchema(t)
	fillForImport(t, openClosed(t, from))
	b := openClosed(t, to)
	defer func(d time.Duration) { importLockTimeout = d }(importLockTimeout)
	importLockTimeout = 300 * time.Millisecond
	// A gateway's write, under way: it holds a lock on the deliveries.
	tx, err := admin(t).Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `LOCK TABLE `+ident(to, "deliveries")+` IN ROW EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	_, err = b.Import(t.Context(), newSchemaSource(t, from), ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "stayed in use") || !strings.Contains(err.Error(), "stop every gateway on schema "+to) {
		t.Errorf("import while a writer holds the schema: %v", err)
	}
	tx.Rollback(t.Context())
	if _, err := b.Import(t.Context(), newSchemaSource(t, from), ImportOptions{}); err != nil {
		t.Errorf("import once the writer is done: %v", err)
	}
}
