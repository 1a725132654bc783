package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/workdays"
)

// Fixtures the stores' own tests (migrations, backups, copies) share.

// AdminCase returns a new case with every field of its administration
// set: a part of a bundle with a running clock, an alarm held until
// gateway.HeldUntil, overdue, and an administration in another zone.
func AdminCase(id string) *gateway.Case {
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

// SameAdminCase fails unless got is want as stored: every field, times
// as instants, the administration as JSON.
func SameAdminCase(t *testing.T, what string, got, want *gateway.Case) {
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
