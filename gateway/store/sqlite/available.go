package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tongban/tongban/gateway"
)

// unavailable wraps err with gateway.ErrStoreUnavailable when it is an
// SQLite failure whose cause lies outside the request and may clear while
// the store stays open: a full disk (SQLITE_FULL), an I/O error such as a
// read-only file system (SQLITE_IOERR, SQLITE_READONLY), a file that
// cannot be opened (SQLITE_CANTOPEN), a lock another process holds past
// the busy timeout (SQLITE_BUSY). Any other error is returned as it is.
func unavailable(err error) error {
	if err == nil || errors.Is(err, gateway.ErrStoreUnavailable) {
		return err
	}
	var e *sqlitedrv.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY:
		return fmt.Errorf("%w: %w", gateway.ErrStoreUnavailable, err)
	}
	return err
}

// fileIdentity is the identity (device and inode) of the database file
// and of its write-ahead log as the store opened them. The writer's
// connection keeps both open, so neither inode can be reused while the
// store is open: a path that names another inode names another file.
type fileIdentity struct {
	path    string
	db, wal os.FileInfo
}

// identify records the identity of the files at path and path-wal, which
// the writer has just opened.
func identify(path string) (*fileIdentity, error) {
	id := &fileIdentity{path: path}
	var err error
	if id.db, err = os.Stat(path); err != nil {
		return nil, err
	}
	if id.wal, err = os.Stat(path + "-wal"); err != nil {
		return nil, fmt.Errorf("the write-ahead log is missing after opening in WAL mode: %w", err)
	}
	return id, nil
}

// check returns nil while path and path-wal still name the files the
// store opened, and an error wrapping gateway.ErrStoreUnavailable once
// either was moved, deleted or replaced: a commit then would land in a
// file the configured path no longer names (and be lost to the next
// start), so the writer refuses to commit until the files are back. It
// costs two stat calls.
func (id *fileIdentity) check() error {
	for _, f := range []struct {
		name string
		want os.FileInfo
	}{{id.path, id.db}, {id.path + "-wal", id.wal}} {
		fi, err := os.Stat(f.name)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%w: %s is gone (moved or deleted while the store had it open); put it back", gateway.ErrStoreUnavailable, f.name)
		case err != nil:
			return fmt.Errorf("%w: %s: %w", gateway.ErrStoreUnavailable, f.name, err)
		case !os.SameFile(fi, f.want):
			return fmt.Errorf("%w: %s is no longer the file this store opened (moved or replaced); put the original back", gateway.ErrStoreUnavailable, f.name)
		}
	}
	return nil
}

// checkedConnector opens the read pool's connections: each one only
// after, and only if, the configured path still names the store's files,
// checked before and after the open, so that a reader never reads a file
// that replaced the store's (and, opened read-only, never creates one).
type checkedConnector struct {
	driver.Connector
	id *fileIdentity
}

func (c checkedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := c.id.check(); err != nil {
		return nil, err
	}
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	if err := c.id.check(); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// roDSN is the data source name of a read-only connection to the file at
// o.Path with the given pragmas: an SQLite URI with mode=ro, so that
// opening it never creates the file (a missing file is SQLITE_CANTOPEN).
func (o Options) roDSN(pragmas ...string) string {
	path := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.Clean(o.Path))
	q := strings.SplitN(o.dsn(pragmas...), "?", 2)[1] // o.Path holds no '?' (withDefaults)
	return "file:" + path + "?mode=ro&" + q
}
