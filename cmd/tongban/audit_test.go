package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/signing"
)

// evidenceLog writes a store file whose log holds 20 records, with
// signed checkpoints at 10 and 20, and the gateway's public key beside it.
// It returns the store's and the key's paths.
func evidenceLog(t *testing.T) (store, pub string) {
	t.Helper()
	store = filepath.Join(t.TempDir(), "tongban.db")
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: store, Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return store, fillEvidence(t, st)
}

// fillEvidence appends 20 records to st's log, with checkpoints signed at
// 10 and 20 by a fresh gateway key, and returns the key's public file.
func fillEvidence(t *testing.T, st gateway.EvidenceLog) (pub string) {
	t.Helper()
	pub = filepath.Join(t.TempDir(), "gateway.pub")
	key, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := signing.MarshalPublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kr, err := keyring.New(keyring.Options{GatewayID: "tongban-test", Signer: signing.NewSigner(key, nil), SignerKeyID: "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	cps := evidence.NewCheckpointer(st, kr, nil, nil, evidence.CheckpointOptions{})
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= 20; i++ {
		rec := contracts.EvidenceRecord{At: at.Add(time.Duration(i) * time.Second), Actor: "320404",
			Event: contracts.EventCaseReceived, CaseID: fmt.Sprintf("case-%d", i%3), ExchangeID: fmt.Sprintf("ex-%d", i)}
		if err := st.AppendEvidence(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := cps.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return pub
}

// tamperStore runs statements on a store file, with the append-only
// triggers dropped first: what someone editing the file by hand does.
func tamperStore(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range append([]string{"DROP TRIGGER IF EXISTS evidence_no_update", "DROP TRIGGER IF EXISTS evidence_no_delete",
		"DROP TRIGGER IF EXISTS evidence_checkpoints_no_update", "DROP TRIGGER IF EXISTS evidence_checkpoints_no_delete"}, stmts...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// rewriteFrom edits record seq's actor and recomputes the hash of every
// record from it to the head, each linking to the one before: a rewrite
// that keeps the chain whole, which only the signed checkpoints show.
func rewriteFrom(t *testing.T, path string, seq int64) {
	t.Helper()
	tamperStore(t, path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var prev string
	if err := db.QueryRow(`SELECT hash FROM evidence WHERE seq = ?`, seq-1).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT seq, record FROM evidence WHERE seq >= ? ORDER BY seq`, seq)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		seq    int64
		record []byte
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.record); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	rows.Close()
	for _, r := range all {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(r.record, &rec); err != nil {
			t.Fatal(err)
		}
		if r.seq == seq {
			rec.Actor = "320405"
		}
		rec.PrevHash = prev
		canon, err := rec.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		prev = signing.EvidenceHash(contracts.ChainHeader(r.seq, rec.PrevHash, signing.EvidenceHash(canon)))
		if _, err := db.Exec(`UPDATE evidence SET record = ?, hash = ? WHERE seq = ?`, canon, prev, r.seq); err != nil {
			t.Fatal(err)
		}
	}
}

// rewriteOne edits record seq's actor and recomputes its hash alone: the
// row is consistent with itself, and only the next record's link shows.
func rewriteOne(t *testing.T, path string, seq int64) {
	t.Helper()
	tamperStore(t, path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var raw []byte
	if err := db.QueryRow(`SELECT record FROM evidence WHERE seq = ?`, seq).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var rec contracts.EvidenceRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Actor = "320405"
	canon, err := rec.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	hash := signing.EvidenceHash(contracts.ChainHeader(seq, rec.PrevHash, signing.EvidenceHash(canon)))
	if _, err := db.Exec(`UPDATE evidence SET record = ?, hash = ? WHERE seq = ?`, canon, hash, seq); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyWithoutCheckpoint: a range no signed checkpoint covers
// verifies record by record, and the output says what that cannot show.
func TestAuditVerifyWithoutCheckpoint(t *testing.T) {
	store, pub := evidenceLog(t)
	r := must(t, runIn(t, t.TempDir(), "", "audit", "verify", "--store", store, "--gateway-pub", pub, "--from", "11", "--to", "19"))
	if strings.Contains(r.stdout, "every record and checkpoint verifies") || !strings.Contains(r.stdout, "no signed checkpoint lies in this range") ||
		!strings.Contains(r.stdout, "9 records, 0 checkpoints") {
		t.Errorf("range without a checkpoint:\n%s", r.stdout)
	}
}

func TestAuditVerifyNamesFirstBadRecord(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, path string)
		wantSeq int64
		reason  string
	}{
		{"edited", func(t *testing.T, p string) {
			tamperStore(t, p, `UPDATE evidence SET record = CAST(replace(CAST(record AS TEXT), '"actor":"320404"', '"actor":"320405"') AS BLOB) WHERE seq = 7`)
		}, 7, "hash mismatch"},
		{"edited hash too", func(t *testing.T, p string) {
			tamperStore(t, p, `UPDATE evidence SET record = CAST(replace(CAST(record AS TEXT), '"actor":"320404"', '"actor":"320405"') AS BLOB) WHERE seq = 7`)
			rewriteFrom(t, p, 7) // recompute 7 and everything after
		}, 10, "checkpoint 10 signed another head hash"},
		{"edited, its own hash recomputed", func(t *testing.T, p string) {
			rewriteOne(t, p, 7) // an insider who rewrites one row: record 8 still names the old hash
		}, 8, "record 8 does not link to record 7"},
		{"deleted", func(t *testing.T, p string) { tamperStore(t, p, `DELETE FROM evidence WHERE seq = 7`) }, 7, "missing"},
		{"deleted last", func(t *testing.T, p string) { tamperStore(t, p, `DELETE FROM evidence WHERE seq >= 19`) }, 19, "removed from the end"},
		{"swapped", func(t *testing.T, p string) {
			tamperStore(t, p,
				`UPDATE evidence SET seq = -8 WHERE seq = 8`,
				`UPDATE evidence SET seq = 8 WHERE seq = 7`,
				`UPDATE evidence SET seq = 7 WHERE seq = -8`)
		}, 7, "holds seq 8"},
		{"inserted", func(t *testing.T, p string) {
			tamperStore(t, p,
				`UPDATE evidence SET seq = seq + 100 WHERE seq >= 12`,
				`UPDATE evidence SET seq = seq - 99 WHERE seq >= 112`,
				`INSERT INTO evidence SELECT 12, at, event, actor, case_id, exchange_id, delivery_id, partner, region, kind, trace_id, hash, record FROM evidence WHERE seq = 11`)
		}, 12, "holds seq 11"},
		{"forged checkpoint", func(t *testing.T, p string) {
			tamperStore(t, p, `UPDATE evidence_checkpoints SET signature = X'3006020101020101' WHERE seq = 10`)
		}, 10, "signature does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, pub := evidenceLog(t)
			r := must(t, runIn(t, t.TempDir(), "", "audit", "verify", "--store", store, "--gateway-pub", pub))
			if !strings.Contains(r.stdout, "OK: every record and checkpoint verifies") || !strings.Contains(r.stdout, "20 records, 2 checkpoints") {
				t.Fatalf("intact log:\n%s", r.stdout)
			}
			tt.tamper(t, store)
			r = runIn(t, t.TempDir(), "", "audit", "verify", "--store", store, "--gateway-pub", pub)
			want := fmt.Sprintf("BAD: first bad record %d: ", tt.wantSeq)
			if r.code != 1 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, tt.reason) {
				t.Errorf("after %s: exit %d\n%s%s\nwant exit 1, %q and %q", tt.name, r.code, r.stdout, r.stderr, want, tt.reason)
			}
			r = runIn(t, t.TempDir(), "", "audit", "verify", "--store", store, "--gateway-pub", pub, "--json")
			var res contracts.ChainVerifyResult
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != tt.wantSeq {
				t.Errorf("--json after %s: %v %s", tt.name, err, r.stdout)
			}
		})
	}
}

func TestAuditVerifyUsage(t *testing.T) {
	store, _ := evidenceLog(t)
	dir := t.TempDir()
	// Without a key the chain is checked and the output says signatures were not.
	r := must(t, runIn(t, dir, "", "audit", "verify", "--store", store))
	if !strings.Contains(r.stdout, "checkpoint signatures were not checked") || !strings.Contains(r.stdout, "OK") {
		t.Errorf("no key:\n%s", r.stdout)
	}
	// Keys by id: the right one verifies; only another key's id is "not the gateway's".
	store2, pub := evidenceLog(t)
	if r := must(t, runIn(t, dir, "", "audit", "verify", "--store", store2, "--gateway-pub", "gateway="+pub)); !strings.Contains(r.stdout, "2 checkpoints") {
		t.Errorf("--gateway-pub gateway=FILE:\n%s", r.stdout)
	}
	if r := runIn(t, dir, "", "audit", "verify", "--store", store2, "--gateway-pub", "gateway-2019="+pub); r.code != 1 ||
		!strings.Contains(r.stdout, `checkpoint 10 is signed with key "gateway", which is not one of the gateway's keys given`) {
		t.Errorf("--gateway-pub with another key id: exit %d\n%s", r.code, r.stdout)
	}
	// Part of the log.
	r = must(t, runIn(t, dir, "", "audit", "verify", "--store", store, "--from", "5", "--to", "9"))
	if !strings.Contains(r.stdout, "checked records 5 to 9: 5 records, 0 checkpoints") {
		t.Errorf("--from 5 --to 9:\n%s", r.stdout)
	}
	for _, args := range [][]string{
		{"audit", "verify"},
		{"audit", "verify", "--store", store, "--config", "x.yaml"},
		{"audit", "verify", "--store", filepath.Join(dir, "nothing.db")},
		{"audit", "verify", "--store", store, "--from", "9", "--to", "5"},
		{"audit", "verify", "--store", store, "--gateway-pub", filepath.Join(dir, "nothing.pub")},
		{"audit", "verify-bundle", filepath.Join(dir, "nothing.zip")},
	} {
		if r := runIn(t, dir, "", args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a reason", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing.db")); err == nil {
		t.Error("audit verify of a missing store created it")
	}
	// A file that is not a bundle fails as one (exit 1), with the reason.
	notZip := filepath.Join(dir, "notes.zip")
	if err := os.WriteFile(notZip, []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runIn(t, dir, "", "audit", "verify-bundle", notZip); r.code != 1 || !strings.Contains(r.stdout, "not a readable zip archive") {
		t.Errorf("verify-bundle of a text file: exit %d\n%s", r.code, r.stdout)
	}
}

// TestEvidenceCheckableWithOpenSSL: an auditor needs no Tongban code to
// check the log: OpenSSL recomputes each record's chain hash (SM3 of the
// canonical form, then of the chain header) and verifies each checkpoint's
// SM2 signature with the gateway's public key.
func TestEvidenceCheckableWithOpenSSL(t *testing.T) {
	store, pub := evidenceLog(t)
	r, err := sqlite.OpenReader(t.Context(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	sm3 := func(data []byte) string {
		t.Helper()
		f := filepath.Join(dir, "in")
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out := must(t, runIn(t, dir, "openssl", "dgst", "-sm3", "-r", f)).stdout
		return strings.Fields(out)[0]
	}
	prev, n := contracts.ZeroHash, 0
	err = r.ScanEvidence(t.Context(), 1, 0, func(row gateway.EvidenceRow) error {
		header := fmt.Sprintf("tongban-evidence/v1\nseq=%d\nprev_hash=%s\ncontent_sm3=%s\n", row.Seq, prev, sm3(row.Record))
		if got := sm3([]byte(header)); got != row.Hash {
			t.Errorf("record %d: openssl computes %s, the log holds %s", row.Seq, got, row.Hash)
		}
		prev = row.Hash
		n++
		return nil
	})
	if err != nil || n != 20 {
		t.Fatalf("scanned %d records: %v", n, err)
	}
	cps, err := r.Checkpoints(t.Context(), 0, 0)
	if err != nil || len(cps) != 2 {
		t.Fatalf("checkpoints: %d, %v", len(cps), err)
	}
	for _, cp := range cps {
		os.WriteFile(filepath.Join(dir, "cp.txt"), cp.Canonical(), 0o600)
		os.WriteFile(filepath.Join(dir, "cp.sig"), cp.Signature, 0o600)
		res := runIn(t, dir, "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
			"-in", "cp.txt", "-sigfile", "cp.sig", "-pkeyopt", "distid:1234567812345678")
		if res.code != 0 || !strings.Contains(res.stdout, "Signature Verified Successfully") {
			t.Errorf("openssl rejects checkpoint %d: %+v", cp.Seq, res)
		}
	}
}
