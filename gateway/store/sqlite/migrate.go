package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrSchemaTooNew means the database was written by a newer build whose
// schema this build does not know; Open refuses it rather than risk
// damaging it.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this build")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change, migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in order. Their numbers
// must run 1, 2, 3, ... without gaps or repeats.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.name, i+1)
		}
	}
	return ms, nil
}

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
		m.version).Scan(&done); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", dbPath, err)
	}
	if done {
		_, err := conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migrate %s: apply %s: %w", dbPath, m.name, err)
	}
	if err := checkForeignKeys(ctx, conn); err != nil {
		return fmt.Errorf("sqlite: migrate %s: apply %s: %w", dbPath, m.name, err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("sqlite: migrate %s: record %s: %w", dbPath, m.name, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlite: migrate %s: commit %s: %w", dbPath, m.name, err)
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
