package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tongban/tongban/gateway"
)

// rename moves from to to, failing the test if it cannot.
func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// copyFile copies from to to (a new inode with the same bytes).
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// caseStored reports whether the case of ch is stored, with its exchange
// and its deliveries, or wholly absent; anything in between fails t.
func caseStored(t *testing.T, s *Store, ch gateway.Change) bool {
	t.Helper()
	ctx := t.Context()
	_, cerr := s.GetCase(ctx, ch.Case.ID)
	_, xerr := s.GetExchange(ctx, ch.Exchange.Sender, ch.Exchange.ExchangeID)
	ds, derr := s.Deliveries(ctx, ch.Case.ID)
	switch {
	case cerr == nil && xerr == nil && derr == nil && len(ds) == len(ch.Enqueue):
		return true
	case errors.Is(cerr, gateway.ErrNotFound) && errors.Is(xerr, gateway.ErrNotFound) && derr == nil && len(ds) == 0:
		return false
	}
	t.Fatalf("case %s partly stored: case %v, exchange %v, %d deliveries (%v)", ch.Case.ID, cerr, xerr, len(ds), derr)
	return false
}

// TestFileMovedRefusesWrites moves, replaces or removes the store file or
// its write-ahead log under an open store: while the path does not name
// the files the store opened, writes and the probe fail with
// ErrStoreUnavailable and leave nothing, readers never open (or create)
// a file at the path; once the files are back the same store takes
// writes again, and a store reopened on the file has every write that
// returned nil.
func TestFileMovedRefusesWrites(t *testing.T) {
	tests := []struct {
		name           string
		break_, repair func(t *testing.T, path string)
		// wantAtPath: what the path holds while broken (false: nothing).
		wantAtPath bool
	}{
		{"database moved away and back", func(t *testing.T, p string) { rename(t, p, p+".moved") },
			func(t *testing.T, p string) { rename(t, p+".moved", p) }, false},
		{"log moved away and back", func(t *testing.T, p string) { rename(t, p+"-wal", p+".wal-moved") },
			func(t *testing.T, p string) { rename(t, p+".wal-moved", p+"-wal") }, true},
		{"database replaced by a copy, then the original put back", func(t *testing.T, p string) {
			rename(t, p, p+".orig")
			copyFile(t, p+".orig", p)
		}, func(t *testing.T, p string) { rename(t, p+".orig", p) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tongban.db")
			s := openAt(t, path, Options{})
			defer s.Close()
			ctx := t.Context()
			now := time.Now()
			before := benchChange(now)
			if err := s.CreateCase(ctx, before); err != nil {
				t.Fatal(err)
			}
			// Every read from here opens a new connection, as a pool does
			// once its connections are used up.
			s.rdb.SetMaxIdleConns(0)

			tt.break_(t, path)
			refused := benchChange(now)
			if err := s.CreateCase(ctx, refused); !errors.Is(err, gateway.ErrStoreUnavailable) {
				t.Fatalf("CreateCase while broken: %v, want ErrStoreUnavailable", err)
			}
			if err := s.Probe(ctx); !errors.Is(err, gateway.ErrStoreUnavailable) {
				t.Errorf("Probe while broken: %v, want ErrStoreUnavailable", err)
			}
			if _, err := s.GetCase(ctx, before.Case.ID); !errors.Is(err, gateway.ErrStoreUnavailable) {
				t.Errorf("GetCase while broken: %v, want ErrStoreUnavailable", err)
			}
			if _, err := os.Stat(path); (err == nil) != tt.wantAtPath {
				t.Errorf("while broken, stat %s: %v; want a file there: %v (readers must not create one)", path, err, tt.wantAtPath)
			}

			tt.repair(t, path)
			after := benchChange(now)
			if err := s.CreateCase(ctx, after); err != nil {
				t.Fatalf("CreateCase once repaired: %v", err)
			}
			if err := s.Probe(ctx); err != nil {
				t.Errorf("Probe once repaired: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = openAt(t, path, Options{})
			for _, c := range []struct {
				ch   gateway.Change
				want bool
			}{{before, true}, {refused, false}, {after, true}} {
				if got := caseStored(t, s, c.ch); got != c.want {
					t.Errorf("after reopening: case %s stored %v, want %v", c.ch.Case.ID, got, c.want)
				}
			}
		})
	}
}

// TestOpenRefusesGoneFile: where a store file was (its write-ahead log
// or its lock file is there) and is missing now (moved or deleted while a
// store had it open), Open refuses and creates nothing; with neither it
// creates a new store.
func TestOpenRefusesGoneFile(t *testing.T) {
	tests := []struct {
		name    string
		leave   []string // files left beside the missing database
		refused bool
	}{
		{"write-ahead log left", []string{"-wal"}, true},
		{"lock file left", []string{".lock"}, true},
		{"nothing left", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tongban.db")
			for _, suffix := range tt.leave {
				if err := os.WriteFile(path+suffix, []byte("left by a store whose file is elsewhere"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(t.Context(), Options{Path: path})
			if !tt.refused {
				if err != nil {
					t.Fatalf("Open: %v, want a new store", err)
				}
				s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), "put it back") {
				t.Fatalf("Open: %v, want refused", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Open refused, but stat %s: %v; want no file created", path, err)
			}
		})
	}
}

// TestReadOnlyDSN: the read pool's data source opens an existing file
// whatever its name holds (URI-special characters included) and never
// creates a missing one.
func TestReadOnlyDSN(t *testing.T) {
	for _, name := range []string{"tongban.db", "a b.db", "50%.db", "#1.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			s := openAt(t, path, Options{})
			if err := s.CreateCase(t.Context(), testCase("c1", "x1")); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct {
				path string
				want int // cases; -1: cannot open
			}{{path, 1}, {filepath.Join(dir, "missing-"+name), -1}} {
				o, err := Options{Path: p.path}.withDefaults()
				if err != nil {
					t.Fatal(err)
				}
				c, err := sqlitedrv.NewConnector(o.roDSN("query_only(1)"))
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(c)
				n := -1
				if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM cases`).Scan(&n); err != nil {
					var se *sqlitedrv.Error
					if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_CANTOPEN {
						t.Errorf("%s: %v, want SQLITE_CANTOPEN", p.path, err)
					}
				}
				db.Close()
				if n != p.want {
					t.Errorf("%s: %d cases, want %d", p.path, n, p.want)
				}
				if _, err := os.Stat(p.path); (err == nil) != (p.want >= 0) {
					t.Errorf("stat %s after a read-only open: %v", p.path, err)
				}
			}
		})
	}
}

// checkFull checks that err is the unavailable store's SQLITE_FULL, that
// ch left nothing (no case, exchange, delivery, or evidence record past
// head), and that ch is stored once free() frees space, without reopening.
func checkFull(t *testing.T, s *Store, ch gateway.Change, err error, head int64, free func()) {
	t.Helper()
	var se *sqlitedrv.Error
	if !errors.Is(err, gateway.ErrStoreUnavailable) || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_FULL {
		t.Fatalf("CreateCase on a full store: %v, want ErrStoreUnavailable wrapping SQLITE_FULL", err)
	}
	if caseStored(t, s, ch) {
		t.Errorf("the failed case %s is stored", ch.Case.ID)
	}
	if seq, _, err := s.EvidenceHead(t.Context()); err != nil || seq != head {
		t.Errorf("evidence head after the failed write: %d (%v), want %d", seq, err, head)
	}
	free()
	if err := s.CreateCase(t.Context(), ch); err != nil {
		t.Fatalf("CreateCase once space is free: %v", err)
	}
	if !caseStored(t, s, ch) {
		t.Errorf("case %s not stored once space is free", ch.Case.ID)
	}
}

// TestDatabaseFull fills the database to its size limit (PRAGMA
// max_page_count, a real SQLITE_FULL): the write that does not fit fails
// with ErrStoreUnavailable and leaves nothing; raising the limit lets the
// same store take it.
func TestDatabaseFull(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "tongban.db"), Options{})
	defer s.Close()
	pages := s.pragma(t, "page_count")
	if got := s.pragma(t, "max_page_count = "+pages); got != pages {
		t.Fatalf("max_page_count = %s: got %s", pages, got)
	}
	// Fill in single writes, so that the failing one is alone in its batch.
	var head int64
	now := time.Now()
	var (
		ch  gateway.Change
		err error
	)
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("1000 cases fit in a database limited to its current size")
		}
		head, _, _ = s.EvidenceHead(t.Context())
		ch = benchChange(now)
		if err = s.CreateCase(t.Context(), ch); err != nil {
			break
		}
	}
	checkFull(t, s, ch, err, head, func() { s.pragma(t, "max_page_count = 1073741823") })
}

// TestFileSystemFull runs the store on a 2 MiB tmpfs beside a ballast
// file and fills it (a real ENOSPC): the write that does not fit fails
// with ErrStoreUnavailable and leaves nothing; once the ballast is
// removed the same store takes it. It needs to mount a file system
// (root); elsewhere it is skipped.
func TestFileSystemFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tongban-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): needs root", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 512<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, filepath.Join(dir, "tongban.db"), Options{})
	defer s.Close()
	head := int64(0)
	var (
		ch  gateway.Change
		err error
	)
	now := time.Now()
	for i := 0; ; i++ {
		if i == 5000 {
			t.Fatal("5000 cases fit in 2 MiB")
		}
		head, _, _ = s.EvidenceHead(t.Context())
		ch = benchChange(now)
		if err = s.CreateCase(t.Context(), ch); err != nil {
			break
		}
	}
	t.Logf("full after %d cases", head)
	checkFull(t, s, ch, err, head, func() {
		if err := os.Remove(ballast); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkFileIdentityCheck measures the check the writer makes before
// each commit (two stat calls).
func BenchmarkFileIdentityCheck(b *testing.B) {
	s, err := Open(context.Background(), Options{Path: filepath.Join(b.TempDir(), "id.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if err := s.id.check(); err != nil {
			b.Fatal(fmt.Errorf("check: %w", err))
		}
	}
}
