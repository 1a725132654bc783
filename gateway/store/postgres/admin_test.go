package postgres

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/gateway/store/storetest"
	"github.com/tongban/tongban/signing"
)

// TestMigrateTo5: a case stored before migration 0005 reads back with no
// bundle, deadline, alarm, overdue flag or administration, is found by
// none of AlarmsDue and BundleParts, and takes them on its next update;
// the migration leaves its partial indexes.
func TestMigrateTo5(t *testing.T) {
	schema := freshSchema(t)
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := poolConfig(testDSN(), schema)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = migrateWith(t.Context(), pool, schema, ms[:4])
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := execIn(t, schema, `INSERT INTO cases (id, exchange_id, sender, owner, from_region, to_region, state, outcome,
			owner_case_no, local_case_no, service_item, created_at, updated_at, version) VALUES
			('c1', 'x1', '320404', '330702', '320404', '330702', 'accepted', '', 'WC-1', 'SJ-1', '{"name":"登记"}', 1000, 2000, 3)`); err != nil {
		t.Fatal(err)
	}
	s := openClosed(t, schema)
	ctx := t.Context()
	c, err := s.GetCase(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.BundleID != "" || !c.Deadline.IsZero() || !c.AlarmAt.IsZero() || c.Overdue || c.Admin != nil ||
		c.Version != 3 || c.OwnerCaseNo != "WC-1" || c.ServiceItem.Name != "登记" {
		t.Fatalf("case stored before 0005: %+v", c)
	}
	far := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	if due, err := s.AlarmsDue(ctx, far, 10); err != nil || len(due) != 0 {
		t.Errorf("AlarmsDue: %d cases, %v; want none", len(due), err)
	}
	c.BundleID, c.Deadline, c.AlarmAt, c.Overdue = "b1", far, time.Unix(0, 5000), true
	c.Admin = &gateway.CaseAdmin{WarnAt: time.Unix(0, 4000).UTC()}
	if err := s.UpdateCase(ctx, gateway.Change{Case: c}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCase(ctx, "c1")
	if err != nil || got.BundleID != "b1" || !got.Deadline.Equal(far) || !got.Overdue || got.Admin == nil || got.Version != 4 {
		t.Fatalf("case updated after 0005: %+v, %v", got, err)
	}
	if parts, err := s.BundleParts(ctx, "b1"); err != nil || len(parts) != 1 {
		t.Errorf("BundleParts(b1): %d cases, %v; want c1", len(parts), err)
	}
	for _, name := range []string{"cases_bundle", "cases_deadline", "cases_alarm", "cases_overdue"} {
		var def string
		if err := admin(t).QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2`,
			schema, name).Scan(&def); err != nil {
			t.Errorf("index %s: %v", name, err)
		} else if !strings.Contains(def, "WHERE") {
			t.Errorf("index %s is not partial: %s", name, def)
		}
	}
}

// TestCaseReadsUseIndexes: AlarmsDue and BundleParts read their partial
// indexes, in their order (no sort), with sequential scans priced out.
func TestCaseReadsUseIndexes(t *testing.T) {
	s := openClosed(t, freshSchema(t))
	conn, err := s.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(t.Context(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(t.Context(), `RESET enable_seqscan`) //nolint:errcheck // the connection is released next
	for name, q := range map[string]struct {
		sql   string
		args  []any
		index string
	}{
		"alarms due":   {alarmsDueQuery, []any{int64(5), 10}, "cases_alarm"},
		"bundle parts": {bundlePartsQuery, []any{"b"}, "cases_bundle"},
	} {
		rows, err := conn.Query(t.Context(), "EXPLAIN "+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, strings.TrimSpace(line))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, q.index) || strings.Contains(text, "Sort") {
			t.Errorf("%s: want %s read in order: %s", name, q.index, text)
		}
		t.Logf("%s: %s", name, text)
	}
}

// TestCopyCaseAdminFromSQLite: a case with every field of its
// administration set, copied from the embedded store's file (its export)
// into a PostgreSQL schema (what tongban store copy does), reads back
// the same from the copy, HeldUntil and the overdue flag (an integer in
// the file, a boolean here) included, and the copy finds it as the file
// did (AlarmsDue, BundleParts, the audit search's filters).
func TestCopyCaseAdminFromSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tongban.db")
	src, err := sqlite.Open(t.Context(), sqlite.Options{Path: path, Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		t.Fatal(err)
	}
	c, plain := storetest.AdminCase(fixID("case")), &gateway.Case{ID: fixID("case"), ExchangeID: fixID("ex"), Sender: "320404", Owner: "330702"}
	c.AlarmAt = t0 // due, to be found by AlarmsDue
	held := &gateway.Delivery{ID: fixID("dl"), Kind: contracts.DeliveryKindCase, Partner: "330702", ExchangeID: fixID("dx"),
		NextAt: gateway.HeldUntil, CreatedAt: t0}
	rec := contracts.EvidenceRecord{At: t0, Actor: c.Sender, Event: contracts.EventCaseReceived, ExchangeID: c.ExchangeID,
		CaseID: c.ID, DeliveryID: held.ID, Partner: c.Owner, Kind: contracts.ExchangeKindCase}
	if err := src.CreateCase(t.Context(), gateway.Change{Case: c, Enqueue: []*gateway.Delivery{held}, Evidence: []contracts.EvidenceRecord{rec}}); err != nil {
		t.Fatal(err)
	}
	if err := src.CreateCase(t.Context(), gateway.Change{Case: plain}); err != nil {
		t.Fatal(err)
	}
	src.Close()

	x, err := sqlite.OpenExport(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	dst := openClosed(t, freshSchema(t))
	if _, err := dst.Import(t.Context(), x, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []*gateway.Case{c, plain} {
		got, err := dst.GetCase(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		storetest.SameAdminCase(t, "case "+want.ID+" in the copy", got, want)
	}
	if d, err := dst.GetDelivery(t.Context(), held.ID); err != nil || !d.NextAt.Equal(gateway.HeldUntil) {
		t.Errorf("held delivery in the copy: %+v, %v; want NextAt %s", d, err, gateway.HeldUntil)
	}
	if due, err := dst.AlarmsDue(t.Context(), t0, 10); err != nil || len(due) != 1 || due[0].ID != c.ID {
		t.Errorf("AlarmsDue in the copy: %d cases, %v; want %s", len(due), err, c.ID)
	}
	if parts, err := dst.BundleParts(t.Context(), c.BundleID); err != nil || len(parts) != 1 || parts[0].ID != c.ID {
		t.Errorf("BundleParts in the copy: %d cases, %v; want %s", len(parts), err, c.ID)
	}
	for name, q := range map[string]gateway.ExchangeQuery{
		"overdue":    {Overdue: true, Limit: 10},
		"due before": {DueBefore: c.Deadline.Add(time.Nanosecond), Limit: 10},
	} {
		if xs, _, err := dst.SearchExchanges(t.Context(), q); err != nil || len(xs) != 1 || xs[0].CaseID != c.ID {
			t.Errorf("SearchExchanges (%s) in the copy: %+v, %v; want the case's exchange", name, xs, err)
		}
	}
}
