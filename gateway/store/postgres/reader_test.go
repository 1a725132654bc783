package postgres

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestReader: OpenReader reads what a store wrote, page by page, writes
// nothing, and refuses a database without the store's schema.
func TestReader(t *testing.T) {
	const n = 23
	schema := freshSchema(t)
	s := openClosed(t, schema)
	for i := range n {
		rec := contracts.EvidenceRecord{At: t0, Actor: "gateway", Event: fmt.Sprintf("e%02d", i), CaseID: fmt.Sprintf("c%d", i%3)}
		if err := s.AppendEvidence(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		if seq := int64(i + 1); seq == 5 || seq == 20 {
			_, head, err := s.EvidenceHead(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			cp := contracts.Checkpoint{Seq: seq, HeadHash: head, At: t0, KeyID: "gateway", Signature: []byte{1}}
			if err := s.SaveCheckpoint(t.Context(), cp); err != nil {
				t.Fatal(err)
			}
		}
	}

	defer func(p int) { scanPage = p }(scanPage)
	scanPage = 4 // several pages, the last one short

	r, err := OpenReader(t.Context(), testDSN(), schema)
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	defer r.Close()
	wantChain(t, r, n)
	seq, hash, err := r.EvidenceHead(t.Context())
	if wantSeq, wantHash, _ := s.EvidenceHead(t.Context()); err != nil || seq != wantSeq || hash != wantHash {
		t.Errorf("EvidenceHead: %d %s %v, want %d %s", seq, hash, err, wantSeq, wantHash)
	}
	for _, tt := range []struct{ from, to, first, last int64 }{
		{1, 0, 1, n}, {0, 0, 1, n}, {3, 0, 3, n}, {2, 9, 2, 9}, {4, 8, 4, 8}, {n, 0, n, n}, {5, 5, 5, 5}, {n + 1, 0, 0, 0}, {7, 3, 0, 0},
	} {
		var got []int64
		err := r.ScanEvidence(t.Context(), tt.from, tt.to, func(row gateway.EvidenceRow) error {
			got = append(got, row.Seq)
			return nil
		})
		var want []int64
		for s := tt.first; s > 0 && s <= tt.last; s++ {
			want = append(want, s)
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ScanEvidence(%d, %d): %v, %v; want %v", tt.from, tt.to, got, err, want)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := r.ScanEvidence(t.Context(), 1, 0, func(gateway.EvidenceRow) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ScanEvidence stopping at fn's error: %v after %d calls", err, calls)
	}
	cps, err := r.Checkpoints(t.Context(), 0, 0)
	if err != nil || len(cps) != 2 || cps[1].Seq != 20 {
		t.Errorf("Checkpoints: %+v, %v", cps, err)
	}
	// Its connections are read-only.
	if _, err := r.pool.Exec(t.Context(), `INSERT INTO probe (id, at) VALUES (1, 1)`); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a write through the reader: got %v, want a read-only transaction error", err)
	}

	// No schema: refused, and not created.
	missing := newSchemaName()
	if _, err := OpenReader(t.Context(), testDSN(), missing); err == nil || !strings.Contains(err.Error(), "no schema") {
		t.Errorf("OpenReader of a missing schema: got %v, want an error saying there is no schema", err)
	} else {
		t.Logf("OpenReader of a missing schema: %v", err)
	}
	if n := queryInt(t, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, missing); n != 0 {
		t.Errorf("OpenReader created schema %s", missing)
	}
	// A schema that is not a store's: refused.
	empty := freshSchema(t)
	if err := execIn(t, "public", `CREATE SCHEMA `+empty); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReader(t.Context(), testDSN(), empty); err == nil || !strings.Contains(err.Error(), "no tongban evidence log") {
		t.Errorf("OpenReader of an empty schema: got %v, want an error saying it holds no evidence log", err)
	}
	if n := queryInt(t, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, empty); n != 0 {
		t.Errorf("OpenReader created %d tables in schema %s", n, empty)
	}
}
