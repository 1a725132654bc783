package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/store/postgres"
	"github.com/tongban/tongban/gateway/store/postgres/pgtest"
	"github.com/tongban/tongban/signing"
)

// TestAuditVerifyPostgres: tongban audit verify walks a PostgreSQL
// store's log like the embedded one's, names the schema's absence
// clearly, and never prints the DSN's password.
func TestAuditVerifyPostgres(t *testing.T) {
	schema := pgtest.FreshSchema(t)
	st, err := postgres.Open(context.Background(), postgres.Options{DSN: pgtest.DSN(), Schema: schema,
		Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		t.Fatal(err)
	}
	pub := fillEvidence(t, st)
	st.Close()
	dsn := pgtest.DSN()
	r := must(t, runIn(t, t.TempDir(), "", "audit", "verify", "--store", dsn, "--schema", schema, "--gateway-pub", pub))
	if !strings.Contains(r.stdout, "OK: every record and checkpoint verifies") || !strings.Contains(r.stdout, "20 records, 2 checkpoints") {
		t.Fatalf("postgres log:\n%s%s", r.stdout, r.stderr)
	}
	r = runIn(t, t.TempDir(), "", "audit", "verify", "--store", dsn, "--schema", "t_no_such_schema", "--gateway-pub", pub)
	if r.code != 2 || !strings.Contains(r.stderr, `no schema "t_no_such_schema"`) {
		t.Errorf("missing schema: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A password in the DSN is never printed.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret-pw")
	r = runIn(t, t.TempDir(), "", "audit", "verify", "--store", u.String(), "--schema", schema, "--gateway-pub", pub)
	if strings.Contains(r.stdout+r.stderr, "s3cret-pw") {
		t.Errorf("the password reached the output:\n%s%s", r.stdout, r.stderr)
	}
}
