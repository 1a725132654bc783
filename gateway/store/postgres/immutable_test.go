package postgres

import (
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
)

// TestAppendOnly: the database itself refuses to change or remove
// evidence records and checkpoints, to store a seq twice or leave a gap,
// and to remove the head; what the gateway wrote still verifies after
// every attempt.
func TestAppendOnly(t *testing.T) {
	schema := freshSchema(t)
	s := openClosed(t, schema)
	ctx := t.Context()
	if err := s.AppendEvidence(ctx,
		contracts.EvidenceRecord{At: t0, Actor: "gateway", Event: "a", CaseID: "c1"},
		contracts.EvidenceRecord{At: t0, Actor: "gateway", Event: "b", CaseID: "c1"},
	); err != nil {
		t.Fatal(err)
	}
	_, head, err := s.EvidenceHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCheckpoint(ctx, contracts.Checkpoint{Seq: 2, HeadHash: head, At: t0, KeyID: "gateway", Signature: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sql string
		want      string // in the error
	}{
		{"update a record", `UPDATE evidence SET hash = 'x' WHERE seq = 1`, "append-only"},
		{"update the record bytes", `UPDATE evidence SET record = record || '\x20'::bytea`, "append-only"},
		{"delete a record", `DELETE FROM evidence WHERE seq = 2`, "append-only"},
		{"delete every record", `DELETE FROM evidence`, "append-only"},
		{"truncate the log", `TRUNCATE evidence`, "append-only"},
		{"store a seq again", `INSERT INTO evidence SELECT * FROM evidence WHERE seq = 1`, "does not follow"},
		{"replace a record", `INSERT INTO evidence SELECT * FROM evidence WHERE seq = 2
			ON CONFLICT (seq) DO UPDATE SET hash = 'x'`, "does not follow"},
		{"skip a seq", `INSERT INTO evidence (seq, at, event, actor, case_id, exchange_id, delivery_id, partner,
			region, kind, trace_id, hash, record) SELECT 4, at, event, actor, case_id, exchange_id, delivery_id,
			partner, region, kind, trace_id, hash, record FROM evidence WHERE seq = 2`, "does not follow"},
		{"update a checkpoint", `UPDATE evidence_checkpoints SET key_id = 'other'`, "append-only"},
		{"delete a checkpoint", `DELETE FROM evidence_checkpoints`, "append-only"},
		{"truncate the checkpoints", `TRUNCATE evidence_checkpoints`, "append-only"},
		{"delete the head", `DELETE FROM evidence_head`, "append-only"},
		{"truncate the head", `TRUNCATE evidence_head`, "append-only"},
		{"truncate the deliveries", `TRUNCATE deliveries CASCADE`, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := execIn(t, schema, tt.sql)
			if err == nil {
				t.Fatalf("%s: got nil, want an error", tt.sql)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: got %v, want an error saying %q", tt.sql, err, tt.want)
			}
		})
	}
	// A seq stored twice is refused by the primary key even without the
	// contiguity trigger.
	if err := execIn(t, schema, `ALTER TABLE evidence DISABLE TRIGGER evidence_contiguous;
		INSERT INTO evidence SELECT * FROM evidence WHERE seq = 1`); err == nil || !strings.Contains(err.Error(), "evidence_pkey") {
		t.Errorf("duplicate seq without the trigger: got %v, want a violation of evidence_pkey", err)
	}
	wantChain(t, s, 2)
	cps, err := s.Checkpoints(ctx, 0, 0)
	if err != nil || len(cps) != 1 || cps[0].KeyID != "gateway" {
		t.Errorf("Checkpoints: %+v, %v", cps, err)
	}
	if err := s.AppendEvidence(ctx, contracts.EvidenceRecord{At: t0, Actor: "gateway", Event: "c", CaseID: "c1"}); err != nil {
		t.Fatal(err)
	}
	wantChain(t, s, 3)
}
