package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	sqlitedrv "modernc.org/sqlite"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// openAtVersion creates a database at path with the embedded migrations
// up to version only, the way a build of that time left it, and returns
// a connection to it with foreign keys on, as the store's writer has.
func openAtVersion(t *testing.T, path string, version int) *sql.Conn {
	t.Helper()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sqlitedrv.NewConnector(path + "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := migrateWith(t.Context(), conn, path, ms[:version], version); err != nil {
		t.Fatalf("migrate to version %d: %v", version, err)
	}
	return conn
}

func execAll(t *testing.T, conn *sql.Conn, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// v2Fixture fills a database at schema version 2: two cases with
// deliveries in every transport state, their payloads, an ack, history,
// and a deleted delivery, so that the AUTOINCREMENT counter is above the
// largest seq stored. It returns that counter.
func v2Fixture(t *testing.T, conn *sql.Conn) int64 {
	t.Helper()
	execAll(t, conn,
		`INSERT INTO cases (id, exchange_id, sender, owner, from_region, to_region, state, outcome,
			owner_case_no, local_case_no, service_item, created_at, updated_at, version) VALUES
			('c1', 'x1', '320404', '330702', '320404', '330702', 'forwarded', '', 'WC-1', 'SJ-1', '{"name":"登记"}', 1000, 2000, 2),
			('c2', 'x2', '320404', '371523', '320404', '371523', 'received', '', '', 'SJ-2', '{}', 3000, 3000, 1)`,
		`INSERT INTO statuses (case_id, state, outcome, at, exchange_id, reported_by, reason, note) VALUES
			('c1', 'received', '', 1000, 'x1', '320404', '', ''),
			('c1', 'forwarded', '', 2000, 'x1', 'gateway', '', '')`,
		`INSERT INTO deliveries (id, case_id, partner, kind, exchange_id, state, attempts, next_at,
			lease_until, created_at, delivered_at, last_error, since_at) VALUES
			('d1', 'c1', '330702', 'case', 'dx1', 'delivered', 1, 1000, NULL, 1000, 2000, '', NULL),
			('d2', 'c1', '320404', 'status', 'dx2', 'pending', 0, 5000, NULL, 2000, NULL, '', NULL),
			('d3', 'c1', '371523', 'status', 'dx3', 'in_flight', 2, 2000, 9000, 2000, NULL, 'timeout', NULL),
			('d4', 'c2', '371523', 'case', 'dx4', 'retry_wait', 3, 7000, NULL, 3000, NULL, '503', 3500),
			('d5', 'c2', '330702', 'case', 'dx5', 'dead', 8, NULL, NULL, 3000, NULL, 'refused', NULL),
			('d6', 'c2', '310116', 'case', 'dx6', 'cancelled', 0, NULL, NULL, 3000, NULL, '', NULL),
			('gone', 'c2', '310116', 'case', 'dx7', 'pending', 0, NULL, NULL, 3000, NULL, '', NULL)`,
		`INSERT INTO delivery_payloads (seq, payload)
			SELECT seq, CAST('{"delivery":"' || id || '"}' AS BLOB) FROM deliveries WHERE id <> 'gone'`,
		`INSERT INTO delivery_acks (seq, ack, ack_body, ack_sig)
			SELECT seq, '{"exchange_id":"dx1","delivery_id":"d1","partner_case_no":"WC-1","acknowledged_at":"2026-03-02T09:30:00Z","body_sm3":"","key_id":"330702"}',
				x'7b7d', x'3044' FROM deliveries WHERE id = 'd1'`,
		`DELETE FROM deliveries WHERE id = 'gone'`,
	)
	var counter int64
	if err := conn.QueryRowContext(t.Context(), `SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'`).Scan(&counter); err != nil {
		t.Fatal(err)
	}
	var maxSeq int64
	if err := conn.QueryRowContext(t.Context(), `SELECT max(seq) FROM deliveries`).Scan(&maxSeq); err != nil {
		t.Fatal(err)
	}
	if counter <= maxSeq {
		t.Fatalf("fixture: AUTOINCREMENT counter %d, largest seq %d: want the counter above", counter, maxSeq)
	}
	return counter
}

// readDeliveries reads the deliveries of a version-2 database, whose
// rows have no traceparent yet (it reads as "", the column's default).
func readDeliveries(t *testing.T, conn *sql.Conn) []*gateway.Delivery {
	t.Helper()
	q := strings.NewReplacer("d.traceparent", "''", "d.pull", "0", "p.payload_key", "''").Replace(deliverySelect)
	rows, err := conn.QueryContext(t.Context(), q+` ORDER BY d.seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*gateway.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readCounts(t *testing.T, conn *sql.Conn, q string) map[string]int {
	t.Helper()
	rows, err := conn.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			out[state] = n
		}
	}
	return out
}

// TestMigrateFromV2 upgrades a database written at schema version 2 and
// checks that every delivery, payload, ack and count survives, that seqs
// go on from the old counter, and that the new table keeps its indexes,
// triggers and the references payloads and acks make to it.
func TestMigrateFromV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	conn := openAtVersion(t, path, 2)
	counter := v2Fixture(t, conn)
	wantDeliveries := readDeliveries(t, conn)
	wantCounts := readCounts(t, conn, `SELECT state, n FROM delivery_counts`)
	if len(wantDeliveries) != 6 || wantDeliveries[0].Ack == nil {
		t.Fatalf("fixture: got %d deliveries, first ack %v", len(wantDeliveries), wantDeliveries[0].Ack)
	}
	conn.Close()

	s := openAt(t, path, Options{})
	defer s.Close()
	ctx := t.Context()

	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	var version int
	if err := s.rdb.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil || version != len(ms) {
		t.Fatalf("schema version: got %d, %v, want the latest, %d", version, err, len(ms))
	}
	for _, want := range wantDeliveries {
		got, err := s.GetDelivery(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetDelivery(%s): %v", want.ID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetDelivery(%s) after migration:\ngot  %+v\nwant %+v", want.ID, got, want)
		}
	}
	if ds, err := s.Deliveries(ctx, "c1"); err != nil || len(ds) != 3 {
		t.Errorf("Deliveries(c1): got %d, %v, want 3", len(ds), err)
	}
	counts, err := s.CountByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for state, n := range wantCounts {
		if counts[contracts.TransportState(state)] != n {
			t.Errorf("CountByState: got %v, want %v", counts, wantCounts)
			break
		}
	}

	if got := s.pragma(t, "foreign_keys"); got != "1" {
		t.Errorf("PRAGMA foreign_keys after migration: got %s, want 1", got)
	}

	// due_at still works: at 9000, d2 (pending, due at 5000), d3 (in
	// flight, its lease over at 9000) and d4 (retry_wait, due at 7000; the
	// dead d5 of its case goes to another partner) are due.
	ds, err := s.ClaimDue(ctx, time.Unix(0, 9000), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	var claimed []string
	for _, d := range ds {
		claimed = append(claimed, d.ID)
	}
	if want := []string{"d2", "d3", "d4"}; !reflect.DeepEqual(claimed, want) {
		t.Errorf("ClaimDue after migration: got %v, want %v", claimed, want)
	}

	// New seqs go on from the old counter, never reusing a deleted seq.
	ch := testCase("c3", "x3")
	if err := s.CreateCase(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if seq := ch.Enqueue[0].Seq; seq <= counter {
		t.Errorf("Seq after migration: got %d, want more than the old counter %d", seq, counter)
	}
	u := &gateway.Delivery{ID: "u1", Partner: "330702", Kind: contracts.DeliveryKindUsageRecord, ExchangeID: "ux1"}
	if err := s.AddUsage(ctx, []gateway.UsageEntry{{Record: contracts.UsageRecord{UsageRecordID: "r1"}}}, []*gateway.Delivery{u}); err != nil {
		t.Fatalf("AddUsage after migration: %v", err)
	}
	if u.Seq <= ch.Enqueue[0].Seq {
		t.Errorf("Seq of a delivery of no case: got %d, want more than %d", u.Seq, ch.Enqueue[0].Seq)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The schema, read directly.
	db := rawDB(t, path+"?_pragma=foreign_keys(1)")
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("PRAGMA integrity_check: got %q, %v", check, err)
	}
	var violations int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil || violations != 0 {
		t.Errorf("foreign key violations: got %d, %v, want none", violations, err)
	}
	schema := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT name, ifnull(sql, '') FROM sqlite_schema`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, text string
		if err := rows.Scan(&name, &text); err != nil {
			t.Fatal(err)
		}
		schema[name] = text
	}
	rows.Close()
	for _, name := range []string{"deliveries_due", "deliveries_case", "deliveries_dead",
		"deliveries_count_insert", "deliveries_count_update", "deliveries_count_delete",
		"deliveries_case_insert", "deliveries_case_update", "usage_records"} {
		if _, ok := schema[name]; !ok {
			t.Errorf("schema has no %s", name)
		}
	}
	if _, ok := schema["new_deliveries"]; ok {
		t.Error("schema still has new_deliveries")
	}
	if text := schema["deliveries"]; strings.Contains(text, "REFERENCES") || !strings.Contains(text, "GENERATED ALWAYS") {
		t.Errorf("deliveries: %s: want no foreign key and the generated due_at", text)
	}
	for _, name := range []string{"delivery_payloads", "delivery_acks"} {
		if !strings.Contains(schema[name], "REFERENCES deliveries (seq)") {
			t.Errorf("%s: %s: want its reference to deliveries (seq) kept", name, schema[name])
		}
	}
	// The references are enforced: no payload of a missing delivery, and
	// no delivery of a missing case.
	if _, err := db.ExecContext(ctx, `INSERT INTO delivery_payloads (seq, payload) VALUES (?, x'00')`, counter+1000); !isConstraint(err) {
		t.Errorf("payload of a missing delivery: got %v, want a constraint violation", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO deliveries (id, case_id, partner, kind, exchange_id, state,
		attempts, last_error) VALUES ('orphan', 'no-such-case', 'p', 'case', 'x', 'pending', 0, '')`); !isConstraint(err) {
		t.Errorf("delivery of a missing case: got %v, want a constraint violation", err)
	}
	gotCounts := readCountsDB(t, db, `SELECT state, count(*) FROM deliveries GROUP BY state`)
	wantCounts = readCountsDB(t, db, `SELECT state, n FROM delivery_counts`)
	if !reflect.DeepEqual(gotCounts, wantCounts) {
		t.Errorf("deliveries by state: got %v, delivery_counts says %v", gotCounts, wantCounts)
	}
}

func readCountsDB(t *testing.T, db *sql.DB, q string) map[string]int {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return readCounts(t, conn, q)
}

// TestMigrationChecksForeignKeys: a migration runs with foreign keys off,
// so it is refused, and rolled back whole, if it would leave a row
// referencing nothing; foreign keys are on again afterwards.
func TestMigrationChecksForeignKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orphan.db")
	conn := openAtVersion(t, path, 2)
	v2Fixture(t, conn)
	execAll(t, conn, `PRAGMA foreign_keys = OFF`,
		`INSERT INTO delivery_payloads (seq, payload) VALUES (1000, x'00')`,
		`PRAGMA foreign_keys = ON`)
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	err = migrateWith(t.Context(), conn, path, ms, len(ms))
	if err == nil || !strings.Contains(err.Error(), "delivery_payloads row 1000 references a missing deliveries") {
		t.Fatalf("migrate: got %v, want a foreign key violation of delivery_payloads row 1000", err)
	}
	var version int
	var fk string
	if err := conn.QueryRowContext(context.Background(), `SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil || version != 2 {
		t.Errorf("schema version after a failed migration: got %d, %v, want 2", version, err)
	}
	if err := conn.QueryRowContext(context.Background(), `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != "1" {
		t.Errorf("PRAGMA foreign_keys after a failed migration: got %s, %v, want 1", fk, err)
	}
	var tables int
	if err := conn.QueryRowContext(context.Background(), `SELECT count(*) FROM sqlite_schema WHERE name IN ('new_deliveries', 'usage_records')`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("tables of the failed migration: got %d, %v, want none", tables, err)
	}
}

// TestMigrateTo11: a case stored before migration 0011 reads back with
// no bundle, deadline, alarm, overdue flag or administration, is found
// by none of AlarmsDue, BundleParts and the audit search's filters, and
// takes them on its next update; the migration leaves its partial
// indexes.
func TestMigrateTo11(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v10.db")
	conn := openAtVersion(t, path, 10)
	execAll(t, conn,
		`INSERT INTO cases (id, exchange_id, sender, owner, from_region, to_region, state, outcome,
			owner_case_no, local_case_no, service_item, created_at, updated_at, version) VALUES
			('c1', 'x1', '320404', '330702', '320404', '330702', 'accepted', '', 'WC-1', 'SJ-1', '{"name":"登记"}', 1000, 2000, 3)`)
	conn.Close()

	s := openAt(t, path, Options{})
	defer s.Close()
	ctx := t.Context()
	c, err := s.GetCase(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.BundleID != "" || !c.Deadline.IsZero() || !c.AlarmAt.IsZero() || c.Overdue || c.Admin != nil ||
		c.Version != 3 || c.OwnerCaseNo != "WC-1" || c.ServiceItem.Name != "登记" {
		t.Fatalf("case stored before 0011: %+v", c)
	}
	far := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	if due, err := s.AlarmsDue(ctx, far, 10); err != nil || len(due) != 0 {
		t.Errorf("AlarmsDue: %d cases, %v; want none", len(due), err)
	}
	if parts, err := s.BundleParts(ctx, ""); err != nil || len(parts) != 0 {
		t.Errorf("BundleParts(\"\"): %d cases, %v; want none", len(parts), err)
	}

	c.BundleID, c.Deadline, c.AlarmAt, c.Overdue = "b1", far, time.Unix(0, 5000), true
	c.Admin = &gateway.CaseAdmin{WarnAt: time.Unix(0, 4000).UTC()}
	if err := s.UpdateCase(ctx, gateway.Change{Case: c}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCase(ctx, "c1")
	if err != nil || got.BundleID != "b1" || !got.Deadline.Equal(far) || !got.Overdue || got.Admin == nil || got.Version != 4 {
		t.Fatalf("case updated after 0011: %+v, %v", got, err)
	}
	if due, err := s.AlarmsDue(ctx, time.Unix(0, 5000), 10); err != nil || len(due) != 1 {
		t.Errorf("AlarmsDue after the update: %d cases, %v; want c1", len(due), err)
	}
	if parts, err := s.BundleParts(ctx, "b1"); err != nil || len(parts) != 1 {
		t.Errorf("BundleParts(b1): %d cases, %v; want c1", len(parts), err)
	}
	s.Close()

	db := rawDB(t, path)
	for _, name := range []string{"cases_bundle", "cases_deadline", "cases_alarm", "cases_overdue"} {
		var where string
		if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?`, name).Scan(&where); err != nil {
			t.Errorf("index %s: %v", name, err)
		} else if !strings.Contains(where, "WHERE") {
			t.Errorf("index %s is not partial: %s", name, where)
		}
	}
}
