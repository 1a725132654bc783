package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tongban/tongban/gateway/store/storecodec"
)

// ErrSchemaTooNew means the schema was written by a newer build whose
// schema this build does not know; Open refuses it rather than risk
// damaging it.
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this build")

// migrateLockKey is the first key of the advisory lock migrations hold
// ("tong"); the second is hashtext(schema), so stores in other schemas do
// not wait for each other.
const migrateLockKey int32 = 0x746f6e67

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change, migrations/NNNN_name.sql.
type migration = storecodec.Migration

// loadMigrations returns the migrations of fsys in order
// (storecodec.LoadMigrations).
func loadMigrations(fsys fs.FS) ([]migration, error) { return storecodec.LoadMigrations(fsys) }

// migrate brings schema up to the newest embedded migration.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return migrateWith(ctx, pool, schema, ms)
}

// migrateWith applies the migrations of ms that schema lacks, all in one
// transaction holding the migration lock of schema: it creates the schema
// if it is missing, reads the version recorded in schema_migrations,
// refuses a version newer than the last of ms (rolling back, so that
// nothing changes), and applies and records the missing ones. A process
// that waited for the lock finds them applied.
func migrateWith(ctx context.Context, pool *pgxpool.Pool, schema string, ms []migration) (err error) {
	fail := func(err error) error { return fmt.Errorf("postgres: migrate schema %s: %w", schema, err) }
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, migrateLockKey, schema); err != nil {
		return fail(fmt.Errorf("take the migration lock: %w", err))
	}
	// Creating a schema needs the CREATE privilege on the database even
	// with IF NOT EXISTS: ask only when it is missing, so that a schema an
	// administrator made will do.
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return fail(err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fail(fmt.Errorf("create the schema: %w", err))
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fail(err)
	}
	var cur int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fail(err)
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].Version
	}
	if cur > latest {
		return fmt.Errorf("%w: schema %s has schema version %d, this build knows up to %d; use a newer tongban",
			ErrSchemaTooNew, schema, cur, latest)
	}
	for _, m := range ms[cur:] {
		// The simple protocol runs a file of several statements at once.
		if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fail(fmt.Errorf("apply %s: %w", m.Name, err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fail(fmt.Errorf("record %s: %w", m.Name, err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(fmt.Errorf("commit: %w", err))
	}
	return nil
}
