package sqlite

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
	"github.com/tongban/tongban/gateway/workdays"
)

// adminCase returns a new case with every field of its administration
// set: a part of a bundle with a running clock, an alarm held until
// gateway.HeldUntil, overdue, and an administration in another zone.
func adminCase(id string) *gateway.Case {
	cst := time.FixedZone("CST", 8*3600)
	at := time.Date(2026, 12, 7, 9, 0, 0, 123456789, cst)
	return &gateway.Case{ID: id, ExchangeID: "x-" + id, Sender: "320404", Owner: "330702", FromRegion: "320404",
		ToRegion: "330702", State: contracts.CaseStateAccepted, OwnerCaseNo: "WC-" + id, CreatedAt: at, UpdatedAt: at,
		BundleID: "bundle-" + id, Deadline: at.AddDate(0, 0, 7), AlarmAt: gateway.HeldUntil, Overdue: true,
		Admin: &gateway.CaseAdmin{
			Clock:     &workdays.Clock{Limit: workdays.Limit{Days: 5, Unit: workdays.WorkingDays}, Since: at, Deadline: at.AddDate(0, 0, 7)},
			WarnAt:    at.AddDate(0, 0, 5),
			OverdueAt: at.AddDate(0, 0, 8),
			FollowUp:  &contracts.FollowUp{State: contracts.FollowUpOverdue, Due: at.AddDate(0, 0, 3)},
			Part:      &gateway.PartAdmin{Part: "food", Name: "食品经营许可", Parts: 2, After: []string{"license"}, Held: "dl-" + id},
		}}
}

// sameAdminCase fails unless got is want as stored: every field, times
// as instants, the administration as JSON.
func sameAdminCase(t *testing.T, what string, got, want *gateway.Case) {
	t.Helper()
	norm := func(c gateway.Case) (gateway.Case, string) {
		a, _ := json.Marshal(c.Admin)
		c.Admin = nil
		c.CreatedAt, c.UpdatedAt, c.Deadline, c.AlarmAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.Deadline.UTC(), c.AlarmAt.UTC()
		return c, string(a)
	}
	g, ga := norm(*got)
	w, wa := norm(*want)
	if !reflect.DeepEqual(g, w) || ga != wa {
		t.Errorf("%s:\ngot  %+v %s\nwant %+v %s", what, g, ga, w, wa)
	}
}

// TestBackupKeepsCaseAdmin: a backup holds a case's administration as
// the store does, HeldUntil included.
func TestBackupKeepsCaseAdmin(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "tongban.db"), Options{})
	defer s.Close()
	c := adminCase("c-backup")
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
	sameAdminCase(t, "case in the backup", got, c)
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
	c, plain := adminCase("c-1"), &gateway.Case{ID: "c-2", ExchangeID: "x-2", Sender: "320404", Owner: "330702"}
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
