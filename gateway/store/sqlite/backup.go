package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	sqlitedrv "modernc.org/sqlite"
)

// Backup writes a consistent copy of the store file at src to dst while
// the store may be serving: SQLite's VACUUM INTO reads one snapshot of
// the database (a read transaction, so writers go on meanwhile) and writes
// it, compacted, as a new file. It refuses a dst that exists and leaves no
// partial file behind on failure. The copy is a whole store: it opens
// with Open, and OpenReader verifies its evidence log.
func Backup(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("sqlite: backup to %s: the file exists; give a new name", dst)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sqlite: backup to %s: %w", dst, err)
	}
	r, err := OpenReader(ctx, src) // the file exists and is a store
	if err != nil {
		return err
	}
	r.Close()
	abs, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", dst, err)
	}
	// VACUUM INTO needs a connection that may write (the new file), so
	// not a query_only reader; it only reads the source, which exists.
	o, err := Options{Path: src}.withDefaults()
	if err != nil {
		return err
	}
	c, err := sqlitedrv.NewConnector(o.dsn())
	if err != nil {
		return fmt.Errorf("sqlite: backup %s: %w", src, err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		os.Remove(abs)
		return fmt.Errorf("sqlite: backup %s to %s: %w", src, dst, err)
	}
	return nil
}
