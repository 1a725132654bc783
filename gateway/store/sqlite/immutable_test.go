package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

// dumpTable returns every row of table in seq order, as text.
func dumpTable(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			fmt.Fprintf(&b, "%s=%q ", cols[i], fmt.Sprint(v))
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestEvidenceIsAppendOnly: the store file itself refuses to change or
// remove evidence records and checkpoints, whoever asks: statements on a
// connection of their own, while the store is open, fail and change
// nothing. (Someone who drops the triggers first can; the chain and the
// signed checkpoints show that.)
func TestEvidenceIsAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tongban.db")
	s := openAt(t, path, Options{})
	defer s.Close()
	ctx := t.Context()
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		rec := contracts.EvidenceRecord{At: at.Add(time.Duration(i) * time.Second), Actor: "320404",
			Event: contracts.EventCaseReceived, CaseID: "case-1", ExchangeID: fmt.Sprint("ex-", i)}
		if err := s.AppendEvidence(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	seq, head, err := s.EvidenceHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp := contracts.Checkpoint{Seq: seq, HeadHash: head, At: at, KeyID: "gateway", Signature: []byte{0x30, 0x44}}
	if err := s.SaveCheckpoint(ctx, cp); err != nil {
		t.Fatal(err)
	}

	db := rawDB(t, path)
	if _, err := db.Exec(`PRAGMA busy_timeout = 5000`); err != nil {
		t.Fatal(err)
	}
	evidence, checkpoints := dumpTable(t, db, "evidence"), dumpTable(t, db, "evidence_checkpoints")
	if strings.Count(evidence, "\n") != 3 || strings.Count(checkpoints, "\n") != 1 {
		t.Fatalf("fixture: evidence\n%s\ncheckpoints\n%s", evidence, checkpoints)
	}

	for _, q := range []string{
		`UPDATE evidence SET actor = '320405' WHERE seq = 2`,
		`UPDATE evidence SET record = CAST(replace(CAST(record AS TEXT), '"actor":"320404"', '"actor":"320405"') AS BLOB) WHERE seq = 2`,
		`UPDATE evidence SET seq = seq + 100 WHERE seq >= 2`,
		`UPDATE evidence SET hash = hash`,
		`DELETE FROM evidence WHERE seq = 2`,
		`DELETE FROM evidence WHERE seq = (SELECT max(seq) FROM evidence)`,
		`DELETE FROM evidence`,
		`INSERT INTO evidence (seq, at, event, actor, case_id, exchange_id, delivery_id, partner, region, kind, trace_id, hash, record)
			SELECT seq, at, event, '320405', case_id, exchange_id, delivery_id, partner, region, kind, trace_id, hash, record
			FROM evidence WHERE seq = 2
			ON CONFLICT (seq) DO UPDATE SET actor = excluded.actor`,
		// REPLACE deletes the stored row without firing delete triggers
		// (recursive_triggers is off): 0007 refuses it.
		`INSERT OR REPLACE INTO evidence (seq, at, event, actor, case_id, exchange_id, delivery_id, partner, region, kind, trace_id, hash, record)
			SELECT seq, at, event, '320405', case_id, exchange_id, delivery_id, partner, region, kind, trace_id, hash, record
			FROM evidence WHERE seq = 2`,
		`REPLACE INTO evidence (seq, at, event, actor, case_id, exchange_id, delivery_id, partner, region, kind, trace_id, hash, record)
			VALUES (3, 0, 'x', 'x', '', '', '', '', '', '', '', 'x', X'7B7D')`,
		`UPDATE evidence_checkpoints SET signature = X'3006020101020101'`,
		`UPDATE evidence_checkpoints SET head_hash = 'x' WHERE seq = 3`,
		`DELETE FROM evidence_checkpoints WHERE seq = 3`,
		`DELETE FROM evidence_checkpoints`,
	} {
		_, err := db.Exec(q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s\n\tgot %v, want the append-only refusal", q, err)
		}
	}
	// A checkpoint's seq already stored is skipped, as SaveCheckpoint's
	// INSERT OR IGNORE does, however the insert is asked.
	for _, q := range []string{
		`INSERT OR REPLACE INTO evidence_checkpoints (seq, head_hash, at, key_id, signature) VALUES (3, 'x', 0, 'other', X'00')`,
		`REPLACE INTO evidence_checkpoints (seq, head_hash, at, key_id, signature) VALUES (3, 'x', 0, 'other', X'00')`,
		`INSERT INTO evidence_checkpoints (seq, head_hash, at, key_id, signature) VALUES (3, 'x', 0, 'other', X'00')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Errorf("%s: %v, want it skipped", q, err)
		}
	}
	if got := dumpTable(t, db, "evidence"); got != evidence {
		t.Errorf("evidence changed:\n%s\nwant\n%s", got, evidence)
	}
	if got := dumpTable(t, db, "evidence_checkpoints"); got != checkpoints {
		t.Errorf("checkpoints changed:\n%s\nwant\n%s", got, checkpoints)
	}

	// What the store itself does still works: appending, and saving a
	// checkpoint again (nothing happens).
	if err := s.SaveCheckpoint(ctx, cp); err != nil {
		t.Errorf("SaveCheckpoint of a seq already saved: %v", err)
	}
	if err := s.AppendEvidence(ctx, contracts.EvidenceRecord{At: at, Actor: "gateway", Event: "test"}); err != nil {
		t.Errorf("append after the refusals: %v", err)
	}
}
