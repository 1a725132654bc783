package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/store/postgres/pgtest"
	"github.com/tongban/tongban/gateway/store/storetest"
	"github.com/tongban/tongban/signing"
)

// The tests run against the PostgreSQL server TONGBAN_TEST_POSTGRES_DSN
// names (default: the local one). Every store gets a schema of its own,
// dropped when its test ends. Without a server the tests are skipped, or,
// when CI is set, fail.

func testDSN() string { return pgtest.DSN() }

// admin returns the test server's admin pool (pgtest.Admin).
func admin(tb testing.TB) *pgxpool.Pool { return pgtest.Admin(tb) }

func TestMain(m *testing.M) { os.Exit(m.Run()) }

// newSchemaName returns a schema name no test has used.
func newSchemaName() string { return pgtest.SchemaName() }

// freshSchema returns the name of a schema that does not exist yet and is
// dropped when tb ends.
func freshSchema(tb testing.TB) string { return pgtest.FreshSchema(tb) }

func dropAtEnd(tb testing.TB, _ *pgxpool.Pool, schema string) { pgtest.DropAtEnd(tb, schema) }

// linker is the gateway's own.
var linker = evidence.Linker{SM3: signing.EvidenceHash}

// openStore opens a store on schema, with the gateway's linker unless
// opts says otherwise.
func openStore(tb testing.TB, schema string, opts Options) *Store {
	tb.Helper()
	admin(tb)
	opts.DSN, opts.Schema = testDSN(), schema
	if opts.Linker == nil {
		opts.Linker = linker
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		tb.Fatalf("Open(schema %s): %v", schema, err)
	}
	return s
}

// openClosed opens a store on schema that is closed when tb ends.
func openClosed(tb testing.TB, schema string) *Store {
	tb.Helper()
	s := openStore(tb, schema, Options{})
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	admin(t)
	storetest.Run(t, func(t *testing.T) gateway.Store {
		return openStore(t, freshSchema(t), Options{})
	})
}

// TestStoreSmallPool runs the suite with pools of two connections, so
// the concurrent tests queue for connections and hold locks longer.
func TestStoreSmallPool(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	admin(t)
	storetest.Run(t, func(t *testing.T) gateway.Store {
		return openStore(t, freshSchema(t), Options{MaxConns: 2})
	})
}

func TestStoreDurable(t *testing.T) {
	admin(t)
	var dropped sync.Map
	storetest.RunDurable(t, func(t *testing.T, path string) gateway.Store {
		// The same path opens the same schema again.
		sum := sha256.Sum256([]byte(path))
		schema := "d_" + hex.EncodeToString(sum[:10])
		if _, seen := dropped.LoadOrStore(schema, true); !seen {
			dropAtEnd(t, admin(t), schema)
		}
		return openStore(t, schema, Options{})
	})
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"no DSN", Options{}, "DSN is required"},
		{"bad DSN", Options{DSN: "postgres://%zz"}, "DSN"},
		{"schema with a capital", Options{DSN: testDSN(), Schema: "Tongban"}, "lowercase identifier"},
		{"schema with a quote", Options{DSN: testDSN(), Schema: `t"; DROP TABLE x; --`}, "lowercase identifier"},
		{"min above max", Options{DSN: testDSN(), MaxConns: 2, MinConns: 3}, "MinConns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open: got nil, want an error with %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open: got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

// TestDefaultSchema checks that a store opened without a schema uses
// DefaultSchema.
func TestDefaultSchema(t *testing.T) {
	pool := admin(t)
	var exists bool
	if err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, DefaultSchema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Skipf("schema %s exists in the test database; not touching it", DefaultSchema)
	}
	dropAtEnd(t, pool, DefaultSchema)
	s, err := Open(t.Context(), Options{DSN: testDSN(), Linker: linker})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Schema() != DefaultSchema {
		t.Errorf("Schema: got %q, want %q", s.Schema(), DefaultSchema)
	}
	if err := pool.QueryRow(t.Context(), `SELECT to_regclass($1) IS NOT NULL`, DefaultSchema+".evidence").Scan(&exists); err != nil || !exists {
		t.Errorf("no %s.evidence table: %v", DefaultSchema, err)
	}
}

// TestUnreachable checks that Open fails, within its context, when no
// server answers.
func TestUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, Options{DSN: "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", Linker: linker})
	if err == nil {
		t.Fatal("Open of a closed port: got nil, want an error")
	}
	t.Logf("Open of a closed port: %v", err)
}

func TestProbe(t *testing.T) {
	s := openClosed(t, freshSchema(t))
	for range 2 {
		if err := s.Probe(t.Context()); err != nil {
			t.Fatalf("Probe: %v", err)
		}
	}
	s.Close()
	if err := s.Probe(t.Context()); err == nil {
		t.Error("Probe after Close: got nil, want an error")
	}
}

// execIn runs sql as the administrator with schema as search_path.
func execIn(t *testing.T, schema, sql string, args ...any) error {
	t.Helper()
	conn, err := admin(t).Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(t.Context(), `SET search_path TO `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), `RESET search_path`)
	_, err = conn.Exec(t.Context(), sql, args...)
	return err
}

func queryInt(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := admin(t).QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// wantChain fails unless src's log holds n records that verify.
func wantChain(t *testing.T, src gateway.EvidenceSource, n int64) {
	t.Helper()
	v := evidence.ChainVerifier{SM3: signing.EvidenceHash}
	res, err := v.Verify(t.Context(), src, 0, 0)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.OK || res.HeadSeq != n || res.Checked != n {
		t.Fatalf("Verify: ok %v, head %d, checked %d (first bad %v: %s); want %d records intact",
			res.OK, res.HeadSeq, res.Checked, res.FirstBadSeq, res.Reason, n)
	}
}

func ident(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }
