package sqlite

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestListUsageUsesIndexes checks the plan of every combination of
// ListUsage's filters: none sorts (each reads an index or the table in
// UsageRecordID order and stops at the limit), and none with an equality
// filter (HolderID, LicenseID, Caller, VisibleTo) scans.
func TestListUsageUsesIndexes(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "plan.db"), Options{})
	defer s.Close()
	const (
		holder = 1 << iota
		license
		caller
		from
		to
		before
		visible
		all
	)
	for shape := range all {
		q := gateway.UsageQuery{Limit: 10}
		var names []string
		set := func(bit int, name string, f func()) {
			if shape&bit != 0 {
				f()
				names = append(names, name)
			}
		}
		set(holder, "holder", func() { q.HolderID = "11010519491231002X" })
		set(license, "license", func() { q.LicenseID = "1.2.156.3005.2.x" })
		set(caller, "caller", func() { q.Caller = "320404" })
		set(from, "from", func() { q.From = time.Unix(1, 0) })
		set(to, "to", func() { q.To = time.Unix(2, 0) })
		set(before, "before", func() { q.Before = "ur-1" })
		set(visible, "visible", func() { q.VisibleTo = "330702" })
		name := strings.Join(names, "+")
		if name == "" {
			name = "none"
		}

		text, args, err := usageQuery(q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := strings.Count(text, "?"); n != len(args) {
			t.Fatalf("%s: %d placeholders, %d arguments: %s", name, n, len(args), text)
		}
		rows, err := s.rdb.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+text, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text = strings.Join(plan, "; ")
		if strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s sorts: %s", name, text)
		}
		if shape&(holder|license|caller|visible) != 0 && strings.Contains(text, "SCAN ") {
			t.Errorf("%s scans: %s", name, text)
		}
		if shape&(holder|license|caller) == 0 || shape == visible {
			t.Logf("%s: %s", name, text)
		}
	}
}

// TestUsageExact checks what the suite leaves to the store: CheckedAt
// round-trips to the nanosecond, in UTC; a zero CheckedAt stays zero and
// sorts before every time (a To bound keeps it, a From bound drops it);
// Deliveries("") lists no delivery of no case; and MarkDelivered clears
// the lease.
func TestUsageExact(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "exact.db"), Options{})
	defer s.Close()
	ctx := t.Context()
	at := time.Date(2026, 3, 2, 17, 30, 1, 123456789, time.FixedZone("CST", 8*60*60))
	timed := gateway.UsageEntry{
		Record: contracts.UsageRecord{UsageRecordID: "ur-2", Caller: "320404", Purpose: "核验", CheckedAt: at,
			Outcome: contracts.LicenseOutcomeValid, Cached: true},
		HolderType: "111", HolderID: "11010519491231002X", Library: "330702", Subject: "clerk",
	}
	zero := gateway.UsageEntry{Record: contracts.UsageRecord{UsageRecordID: "ur-1", Caller: "320404",
		ErrorCode: contracts.CodeForbidden}}
	d := &gateway.Delivery{ID: "dl-1", Partner: "330702", Kind: contracts.DeliveryKindUsageRecord, ExchangeID: "dx-1"}
	if err := s.AddUsage(ctx, []gateway.UsageEntry{timed, zero}, []*gateway.Delivery{d}); err != nil {
		t.Fatal(err)
	}

	got, err := s.ListUsage(ctx, gateway.UsageQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := []gateway.UsageEntry{timed, zero}
	want[0].Record.CheckedAt = at.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListUsage:\ngot  %+v\nwant %+v", got, want)
	}
	for _, tt := range []struct {
		q    gateway.UsageQuery
		want []string
	}{
		{gateway.UsageQuery{To: at, Limit: 10}, []string{"ur-1"}},
		{gateway.UsageQuery{To: at.Add(time.Nanosecond), Limit: 10}, []string{"ur-2", "ur-1"}},
		{gateway.UsageQuery{From: at, Limit: 10}, []string{"ur-2"}},
		{gateway.UsageQuery{From: at.Add(time.Nanosecond), Limit: 10}, nil},
	} {
		es, err := s.ListUsage(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range es {
			ids = append(ids, e.Record.UsageRecordID)
		}
		if !reflect.DeepEqual(ids, tt.want) {
			t.Errorf("ListUsage(from %s, to %s): got %v, want %v", tt.q.From, tt.q.To, ids, tt.want)
		}
	}

	if ds, err := s.Deliveries(ctx, ""); err != nil || len(ds) != 0 {
		t.Errorf(`Deliveries(""): got %d, %v, want none`, len(ds), err)
	}
	ds, err := s.ClaimDue(ctx, at, time.Minute, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("ClaimDue: got %d, %v, want 1", len(ds), err)
	}
	done := *ds[0]
	done.State, done.Attempts, done.DeliveredAt = contracts.TransportStateDelivered, 1, at
	if err := s.MarkDelivered(ctx, &done, nil); err != nil {
		t.Fatal(err)
	}
	if g, err := s.GetDelivery(ctx, d.ID); err != nil || !g.LeaseUntil.IsZero() || !g.DeliveredAt.Equal(at) {
		t.Errorf("GetDelivery after MarkDelivered: got lease %s delivered %s, %v, want no lease, %s", g.LeaseUntil, g.DeliveredAt, err, at)
	}
}
