package sqlite

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// exportFixture stores n cases, each with its exchange, history entry,
// a pushed delivery and a case.received record, and one usage record
// with a pulled delivery.
func exportFixture(t *testing.T, s *Store, n int) {
	t.Helper()
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("case-%03d-%d", i, time.Now().UnixNano())
		c := &gateway.Case{ID: id, ExchangeID: "ex-" + id, Sender: "320404", Owner: "330702", State: contracts.CaseStateReceived,
			CreatedAt: at, UpdatedAt: at}
		err := s.CreateCase(t.Context(), gateway.Change{Case: c,
			Exchange: &gateway.Exchange{Sender: "320404", ExchangeID: c.ExchangeID, Kind: gateway.ExchangeCase, CaseID: id,
				Body: []byte(`{"n":` + fmt.Sprint(i) + `}`), ReceivedAt: at},
			Status:   &gateway.Status{CaseID: id, State: contracts.CaseStateReceived, At: at, ReportedBy: "320404"},
			Enqueue:  []*gateway.Delivery{{ID: "dl-" + id, Kind: contracts.DeliveryKindCase, Partner: "330702", ExchangeID: "dx-" + id, Payload: []byte(`{}`), NextAt: at, CreatedAt: at}},
			Evidence: []contracts.EvidenceRecord{{At: at, Actor: "320404", Event: contracts.EventCaseReceived, CaseID: id}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	u := gateway.UsageEntry{Record: contracts.UsageRecord{UsageRecordID: fmt.Sprintf("ur-%d", time.Now().UnixNano()), Caller: "320404",
		CheckedAt: at, Cached: true}, HolderID: "11010519491231002X"}
	d := &gateway.Delivery{ID: "dl-" + u.Record.UsageRecordID, Kind: contracts.DeliveryKindUsageRecord, Partner: "330781",
		ExchangeID: "dx-" + u.Record.UsageRecordID, Pull: true, NextAt: at, CreatedAt: at}
	if err := s.AddUsage(t.Context(), []gateway.UsageEntry{u}, []*gateway.Delivery{d}); err != nil {
		t.Fatal(err)
	}
}

// TestExportSnapshot: an export lists the tables of content with their
// stored columns, reads rows in key order exactly as stored, and holds
// one snapshot however the store is written meanwhile; it tells that a
// gateway holds the file.
func TestExportSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tongban.db")
	s := openAt(t, path, Options{})
	defer s.Close()
	exportFixture(t, s, 5)

	x, err := OpenExport(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if !strings.Contains(x.InUse(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("InUse while the store is open: %q, want this process named", x.InUse())
	}
	tables := x.Tables()
	for _, want := range []string{"cases", "exchanges", "statuses", "deliveries", "delivery_payloads", "delivery_acks",
		"usage_records", "evidence", "evidence_checkpoints"} {
		if _, ok := tables[want]; !ok {
			t.Errorf("Tables lacks %s: %v", want, tables)
		}
	}
	for name := range tables {
		if _, skipped := exportSkipped[name]; skipped || strings.HasPrefix(name, "sqlite_") {
			t.Errorf("Tables has %s", name)
		}
	}
	if cols := tables["deliveries"]; slices.Contains(cols, "due_at") || !slices.Contains(cols, "pull") || !slices.Contains(cols, "seq") {
		t.Errorf("deliveries' columns: %v; want seq and pull, not the generated due_at", cols)
	}

	counts, err := x.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	head, hash, err := x.EvidenceHead(t.Context())
	if err != nil || head != 5 {
		t.Fatalf("EvidenceHead: %d, %v; want 5", head, err)
	}
	// The store goes on writing; the export still sees its snapshot.
	exportFixture(t, s, 3)
	if got, _ := x.Counts(t.Context()); fmt.Sprint(got) != fmt.Sprint(counts) {
		t.Errorf("counts after more writes: %v, want the snapshot's %v", got, counts)
	}
	if h, hh, _ := x.EvidenceHead(t.Context()); h != head || hh != hash {
		t.Errorf("head after more writes: %d %s, want the snapshot's %d %s", h, hh, head, hash)
	}
	var seqs []int64
	err = x.Rows(t.Context(), "deliveries", []string{"seq", "id", "pull", "next_at", "lease_until"}, func(v []any) error {
		seq, ok := v[0].(int64)
		if !ok {
			return fmt.Errorf("seq is %T", v[0])
		}
		if _, ok := v[2].(int64); !ok {
			return fmt.Errorf("pull is %T, want int64 (0 or 1)", v[2])
		}
		if v[4] != nil {
			return fmt.Errorf("lease_until of a pending delivery is %v, want NULL", v[4])
		}
		seqs = append(seqs, seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 6 || !slices.IsSorted(seqs) {
		t.Errorf("deliveries read: seqs %v, want the snapshot's 6 in order", seqs)
	}
	err = x.Rows(t.Context(), "delivery_payloads", []string{"payload"}, func(v []any) error {
		if _, ok := v[0].([]byte); !ok && v[0] != nil {
			return fmt.Errorf("payload is %T", v[0])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := x.KeyCounter(t.Context(), "deliveries"); err != nil || n < seqs[len(seqs)-1] {
		t.Errorf("KeyCounter(deliveries): %d, %v; want at least %d", n, err, seqs[len(seqs)-1])
	}
	if n, err := x.KeyCounter(t.Context(), "statuses"); err != nil || n != 0 {
		t.Errorf("KeyCounter(statuses): %d, %v; want 0 (no counter)", n, err)
	}
	stop := errors.New("stop")
	if err := x.Rows(t.Context(), "evidence", []string{"seq"}, func([]any) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Rows stopped by fn: %v", err)
	}
	for _, bad := range []struct {
		table string
		cols  []string
	}{{"schema_migrations", []string{"version"}}, {"deliveries", []string{"due_at"}}, {"cases", []string{"id; DROP TABLE cases"}}, {"cases", nil}} {
		if err := x.Rows(t.Context(), bad.table, bad.cols, func([]any) error { return nil }); err == nil {
			t.Errorf("Rows(%s, %v): no error", bad.table, bad.cols)
		}
	}
	var rows []gateway.EvidenceRow
	if err := x.ScanEvidence(t.Context(), 1, 0, func(r gateway.EvidenceRow) error { rows = append(rows, r); return nil }); err != nil || len(rows) != 5 {
		t.Errorf("ScanEvidence: %d rows, %v; want 5", len(rows), err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestExportReadsOnly: exporting a store file changes none of its bytes
// and leaves no file beside it; a file of an older schema, or no store
// at all, is refused.
func TestExportReadsOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tongban.db")
	s := openAt(t, path, Options{})
	exportFixture(t, s, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		es, _ := os.ReadDir(dir)
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return fmt.Sprintf("%x %v", sha256.Sum256(b), names)
	}
	before := state()
	x, err := OpenExport(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if x.InUse() != "" {
		t.Errorf("InUse of a closed store: %q", x.InUse())
	}
	for name, cols := range x.Tables() {
		if err := x.Rows(t.Context(), name, cols, func([]any) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := x.CountByState(t.Context()); err != nil {
		t.Fatal(err)
	}
	x.Close()
	if after := state(); after != before {
		t.Errorf("the file changed:\nbefore %s\nafter  %s", before, after)
	}

	old := filepath.Join(t.TempDir(), "old.db")
	openAtVersion(t, old, 5).Close()
	if _, err := OpenExport(t.Context(), old); err == nil || !strings.Contains(err.Error(), "schema version 5") {
		t.Errorf("export of a schema-5 file: %v, want refused naming its version", err)
	}
	notStore := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notStore, []byte("not a database"), 0o600)
	if _, err := OpenExport(t.Context(), notStore); err == nil {
		t.Error("export of a text file succeeded")
	}
	if _, err := OpenExport(t.Context(), filepath.Join(dir, "missing.db")); err == nil {
		t.Error("export of a missing file succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("export created the missing file")
	}
}
