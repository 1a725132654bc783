package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/tongban/tongban/gateway/store/storecodec"
)

// ErrSchemaTooNew means the database was written by a newer build whose
// schema this build does not know; Open refuses it rather than risk
// damaging it.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this build")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change, migrations/NNNN_name.sql.
type migration = storecodec.Migration

// loadMigrations returns the migrations of fsys in order
// (storecodec.LoadMigrations).
func loadMigrations(fsys fs.FS) ([]migration, error) { return storecodec.LoadMigrations(fsys) }

// migrate brings the database on conn up to the newest embedded schema.
// Each migration runs in its own transaction together with its row in
// schema_migrations, so a failed one leaves no trace.
//
// A migration runs with foreign key enforcement off, as SQLite's
// table-rebuild procedure requires (https://sqlite.org/lang_altertable.html):
// dropping a table that others reference would otherwise count every
// referencing row as a violation, even once its replacement is renamed into
// place. Instead PRAGMA foreign_key_check must find no violation before the
// migration commits, and enforcement is back on for conn when migrate
// returns, whatever the outcome.
func migrate(ctx context.Context, conn *sql.Conn, dbPath string) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return migrateWith(ctx, conn, dbPath, ms, len(ms))
}

// migrateWith applies ms to the database on conn, latest being the newest
// schema version this build knows.
func migrateWith(ctx context.Context, conn *sql.Conn, dbPath string, ms []migration, latest int) (err error) {
	// PRAGMA foreign_keys is a no-op inside a transaction, so it is set
	// before the migrations' transactions begin and after they end.
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", dbPath, err)
	}
	defer func() {
		if _, ferr := conn.ExecContext(context.Background(), "PRAGMA foreign_keys = ON"); ferr != nil && err == nil {
			err = fmt.Errorf("sqlite: migrate %s: turn foreign keys back on: %w", dbPath, ferr)
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", dbPath, err)
	}
	for _, m := range ms {
		if err := applyMigration(ctx, conn, dbPath, m, latest); err != nil {
			return err
		}
	}
	// A database already at the newest version still needs the check.
	return checkVersion(ctx, conn, dbPath, latest)
}

func checkVersion(ctx context.Context, conn *sql.Conn, dbPath string, latest int) error {
	var cur int
	if err := conn.QueryRowContext(ctx, `SELECT ifnull(max(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", dbPath, err)
	}
	if cur > latest {
		return fmt.Errorf("%w: %s has schema version %d, this build knows up to %d; use a newer tongban",
			ErrSchemaTooNew, dbPath, cur, latest)
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, dbPath string, m migration, latest int) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", dbPath, err)
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if err := checkVersion(ctx, conn, dbPath, latest); err != nil {
		return err
	}
	var done bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`,
		m.Version).Scan(&done); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", dbPath, err)
	}
	if done {
		_, err := conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("sqlite: migrate %s: apply %s: %w", dbPath, m.Name, err)
	}
	if err := checkForeignKeys(ctx, conn); err != nil {
		return fmt.Errorf("sqlite: migrate %s: apply %s: %w", dbPath, m.Name, err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("sqlite: migrate %s: record %s: %w", dbPath, m.Name, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlite: migrate %s: commit %s: %w", dbPath, m.Name, err)
	}
	return nil
}

// checkForeignKeys fails if any row of the database violates a foreign
// key, naming the first few.
func checkForeignKeys(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var (
			table, parent string
			rowid         sql.NullInt64
			fkid          int
		)
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return fmt.Errorf("foreign key check: %w", err)
		}
		if len(bad) < 5 {
			bad = append(bad, fmt.Sprintf("%s row %d references a missing %s", table, rowid.Int64, parent))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("foreign key violations: %s", strings.Join(bad, "; "))
	}
	return nil
}
