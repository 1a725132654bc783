package postgres

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
}

// TestMigrateConcurrently: stores opened at once on a fresh schema (as
// replicas starting together) all succeed, and the schema is migrated
// once.
func TestMigrateConcurrently(t *testing.T) {
	const n = 8
	schema := freshSchema(t)
	ms, _ := loadMigrations(migrationFiles)
	stores := make([]*Store, n)
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			stores[i], errs[i] = Open(t.Context(), Options{DSN: testDSN(), Schema: schema, Linker: linker})
		})
	}
	start.Done()
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if got := queryInt(t, `SELECT count(*) FROM `+ident(schema, "schema_migrations")); got != int64(len(ms)) {
		t.Errorf("schema_migrations holds %d rows, want %d (one per migration)", got, len(ms))
	}
	// Every migration was applied in one transaction, by one Open.
	if got := queryInt(t, `SELECT count(DISTINCT applied_at) FROM `+ident(schema, "schema_migrations")); got != 1 {
		t.Errorf("migrations applied by %d transactions, want 1", got)
	}
	if got := queryInt(t, `SELECT count(*) FROM `+ident(schema, "evidence_head")); got != 1 {
		t.Errorf("evidence_head holds %d rows, want 1", got)
	}
	// And each store works.
	for _, s := range stores {
		if s != nil {
			if err := s.CreateCase(t.Context(), fixChange("")); err != nil {
				t.Errorf("CreateCase: %v", err)
			}
		}
	}
	wantChain(t, stores[0], n)
}

// TestMigrateOnce: opening a current schema again applies nothing.
func TestMigrateOnce(t *testing.T) {
	schema := freshSchema(t)
	openStore(t, schema, Options{}).Close()
	before := queryInt(t, `SELECT count(*) FROM `+ident(schema, "schema_migrations"))
	s := openStore(t, schema, Options{})
	s.Close()
	if after := queryInt(t, `SELECT count(*) FROM `+ident(schema, "schema_migrations")); after != before {
		t.Errorf("schema_migrations: %d rows after reopening, %d before", after, before)
	}
}

// TestSchemaTooNew: a schema a newer build migrated is refused, with the
// versions in the message, and left as it was.
func TestSchemaTooNew(t *testing.T) {
	ms, _ := loadMigrations(migrationFiles)
	known := len(ms)

	t.Run("migrated", func(t *testing.T) {
		schema := freshSchema(t)
		openStore(t, schema, Options{}).Close()
		if err := execIn(t, schema, `INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future')`); err != nil {
			t.Fatal(err)
		}
		wantTooNew(t, schema, known)
		if got := queryInt(t, `SELECT count(*) FROM `+ident(schema, "schema_migrations")); got != int64(known+1) {
			t.Errorf("schema_migrations holds %d rows after the refusal, want %d", got, known+1)
		}
	})
	t.Run("nothing but the version", func(t *testing.T) {
		schema := freshSchema(t)
		if err := execIn(t, "public", `CREATE SCHEMA `+schema); err != nil {
			t.Fatal(err)
		}
		if err := execIn(t, schema, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()); INSERT INTO schema_migrations (version, name) VALUES (999, 'x')`); err != nil {
			t.Fatal(err)
		}
		wantTooNew(t, schema, known)
		if got := queryInt(t, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1`, schema); got != 2 { // the table and its primary key
			t.Errorf("schema %s holds %d relations after the refusal, want only schema_migrations and its key", schema, got)
		}
	})
}

func wantTooNew(t *testing.T, schema string, known int) {
	t.Helper()
	s, err := Open(t.Context(), Options{DSN: testDSN(), Schema: schema, Linker: linker})
	if err == nil {
		s.Close()
		t.Fatal("Open of a schema at version 999: got nil, want ErrSchemaTooNew")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Open: got %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{"999", fmt.Sprintf("knows up to %d", known)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open: %q does not say %q", err, want)
		}
	}
	t.Logf("Open: %v", err)
}
