package sqlite

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
	"github.com/tongban/tongban/gateway/store/storetest"
)

// TestBackupKeepsCaseAdmin: a backup holds a case's administration as
// the store does, HeldUntil included.
func TestBackupKeepsCaseAdmin(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "tongban.db"), Options{})
	defer s.Close()
	c := storetest.AdminCase("c-backup")
	if err := s.CreateCase(t.Context(), gateway.Change{Case: c}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "backup.db")
	if err := Backup(t.Context(), filepath.Join(dir, "tongban.db"), dst); err != nil {
		t.Fatal(err)
	}
	b := openAt(t, dst, Options{})
	defer b.Close()
	got, err := b.GetCase(t.Context(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.SameAdminCase(t, "case in the backup", got, c)
	if parts, err := b.BundleParts(t.Context(), c.BundleID); err != nil || len(parts) != 1 {
		t.Errorf("BundleParts in the backup: %d, %v; want the case", len(parts), err)
	}
}

// TestExportCaseAdmin: an export lists a case's administration columns
// and reads them as stored: the bundle id, times as Unix nanoseconds
// (HeldUntil as storecodec.Held), the overdue flag as 0 or 1, the
// administration as its JSON text, and NULL for a case with none.
func TestExportCaseAdmin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tongban.db")
	s := openAt(t, path, Options{})
	c, plain := storetest.AdminCase("c-1"), &gateway.Case{ID: "c-2", ExchangeID: "x-2", Sender: "320404", Owner: "330702"}
	for _, x := range []*gateway.Case{c, plain} {
		if err := s.CreateCase(t.Context(), gateway.Change{Case: x}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	x, err := OpenExport(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	cols := []string{"id", "bundle_id", "deadline", "alarm_at", "overdue", "admin"}
	for _, col := range cols {
		if !slices.Contains(x.Tables()["cases"], col) {
			t.Fatalf("the export's cases lack %s: %v", col, x.Tables()["cases"])
		}
	}
	admin, _ := json.Marshal(c.Admin)
	want := [][]any{
		{"c-1", c.BundleID, c.Deadline.UnixNano(), storecodec.Held, int64(1), string(admin)},
		{"c-2", "", nil, nil, int64(0), nil},
	}
	var got [][]any
	if err := x.Rows(t.Context(), "cases", cols, func(v []any) error { got = append(got, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cases exported:\ngot  %#v\nwant %#v", got, want)
	}
}
