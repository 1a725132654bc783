// Package pgtest gives tests the PostgreSQL server they run against: the
// DSN from TONGBAN_TEST_POSTGRES_DSN (default the local server, trust
// auth, database test), an admin pool, and fresh schemas dropped when the
// test ends, so test runs never see each other. When the server cannot
// be reached a test is skipped, or, when CI is set, fails loudly: CI
// never passes without having run them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultDSN is the server the tests use unless TONGBAN_TEST_POSTGRES_DSN
// names another.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DSN returns the test server's DSN.
func DSN() string {
	if dsn := os.Getenv("TONGBAN_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

var (
	adminOnce sync.Once
	adminPool *pgxpool.Pool
	adminErr  error
)

// Admin returns a pool on the test database for what tests do behind a
// store's back (creating and dropping schemas), skipping tb, or failing
// it when CI is set, when the server cannot be reached.
func Admin(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	adminOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		adminPool, adminErr = pgxpool.New(ctx, DSN())
		if adminErr == nil {
			adminErr = adminPool.Ping(ctx)
		}
	})
	if adminErr != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL at %s cannot be reached and CI is set: %v", DSN(), adminErr)
		}
		tb.Skipf("PostgreSQL at %s cannot be reached: %v (set TONGBAN_TEST_POSTGRES_DSN)", DSN(), adminErr)
	}
	return adminPool
}

// SchemaName returns a schema name no test has used.
func SchemaName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "t_" + hex.EncodeToString(b)
}

// FreshSchema returns the name of a schema that does not exist yet and is
// dropped, with everything in it, when tb ends.
func FreshSchema(tb testing.TB) string {
	tb.Helper()
	name := SchemaName()
	DropAtEnd(tb, name)
	return name
}

// DropAtEnd drops schema when tb ends.
func DropAtEnd(tb testing.TB, schema string) {
	tb.Helper()
	pool := Admin(tb)
	tb.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
}

// FreshDatabase creates a database on the test server that no test has
// used, returns its DSN, and drops it when tb ends.
func FreshDatabase(tb testing.TB) string {
	tb.Helper()
	pool := Admin(tb)
	name := SchemaName()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(DSN())
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("TONGBAN_TEST_POSTGRES_DSN must be a postgres:// URL to name another database: %q", DSN())
	}
	u.Path = "/" + name
	return u.String()
}
