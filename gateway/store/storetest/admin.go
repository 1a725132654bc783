package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/workdays"
)

// A case's administration (gateway.Case.BundleID, Deadline, AlarmAt,
// Overdue, Admin): kept with the case by every write, read back by
// every read of a case, and found by AlarmsDue, BundleParts and the
// audit search's Overdue and DueBefore.

// fullAdmin returns an administration with every field set, times in
// another zone and to the nanosecond: the store keeps its JSON as given.
func fullAdmin(c *gateway.Case) *gateway.CaseAdmin {
	at := time.Date(2026, 3, 3, 10, 15, 0, 123456789, cst)
	return &gateway.CaseAdmin{
		Clock: &workdays.Clock{Limit: workdays.Limit{Days: 5, Unit: workdays.WorkingDays}, Used: 1,
			Since: at, Deadline: at.AddDate(0, 0, 7)},
		ClockStartedAt: at.Add(-time.Hour), ClockStoppedAt: at.Add(-time.Minute),
		WarnAt: at.AddDate(0, 0, 5), WarnedAt: at.AddDate(0, 0, 5), OverdueAt: at.AddDate(0, 0, 8),
		Evaluation: &contracts.Evaluation{EvaluationID: "ev-" + c.ID, CaseID: c.ID, ExchangeID: "evx-" + c.ID,
			ImplementationCode: c.ServiceItem.ImplementationCode, Sender: c.Sender, Owner: c.Owner,
			Level: contracts.LevelDissatisfied, Score: 2, Channel: contracts.ChannelWindow, EvaluatedAt: at,
			HolderType: "111", ApplicantMasked: "110105********002X", ReceivedAt: at.Add(time.Second)},
		FollowUp: &contracts.FollowUp{State: contracts.FollowUpOpen,
			Limit: contracts.TimeLimit{Days: 3, Unit: contracts.LimitWorkingDays}, Due: at.AddDate(0, 0, 3)},
		Bundle: &gateway.BundleAdmin{Name: "开办餐饮店", ConcludedAt: at},
		Part:   &gateway.PartAdmin{Part: "food", Name: "食品经营许可", Parts: 2, After: []string{"license"}, Held: "dl-" + c.ID},
	}
}

// testCaseAdminRoundTrip: every new field of a case round-trips through
// CreateCase and UpdateCase (set, changed and cleared), read by GetCase,
// CaseByOwnerCaseNo and with the delivery a claim hands out; Admin
// exactly as JSON, nil as nil, and gateway.HeldUntil exactly.
func testCaseAdminRoundTrip(t *testing.T, e *env) {
	deadline := time.Date(2026, 3, 9, 17, 0, 0, 999_000_000, cst)
	tests := []struct {
		name string
		set  func(c *gateway.Case)
	}{
		{"none", func(c *gateway.Case) {}},
		{"bundle", func(c *gateway.Case) {
			c.BundleID = c.ID
			c.Admin = &gateway.CaseAdmin{Bundle: fullAdmin(c).Bundle}
		}},
		{"part", func(c *gateway.Case) {
			c.BundleID = "bundle-of-" + c.ID
			c.Admin = &gateway.CaseAdmin{Part: fullAdmin(c).Part}
		}},
		{"clock running", func(c *gateway.Case) {
			c.Deadline, c.AlarmAt = deadline, deadline.Add(-48*time.Hour)
			c.Admin = fullAdmin(c)
		}},
		{"overdue", func(c *gateway.Case) {
			c.Deadline, c.Overdue = deadline, true
			c.Admin = &gateway.CaseAdmin{OverdueAt: deadline}
		}},
		{"held until", func(c *gateway.Case) { c.Deadline, c.AlarmAt = gateway.HeldUntil, gateway.HeldUntil }},
		{"empty administration", func(c *gateway.Case) { c.Admin = &gateway.CaseAdmin{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.sub(t)
			c := newCase()
			c.OwnerCaseNo = "WC-" + c.ID
			tt.set(c)
			want := *c
			d := newDelivery(c, wucheng, t0)
			e.create(c, d)
			want.Version = 1
			sameCase(t, "GetCase", e.getCase(c.ID), &want)
			byNo, err := e.s.CaseByOwnerCaseNo(t.Context(), c.Owner, c.OwnerCaseNo)
			if err != nil {
				t.Fatalf("CaseByOwnerCaseNo: %v", err)
			}
			sameCase(t, "CaseByOwnerCaseNo", byNo, &want)
			claimed := e.claimed(t0, time.Hour, 10)
			if len(claimed) != 1 || claimed[0].ID != d.ID || claimed[0].Case == nil {
				t.Fatalf("ClaimDue: %v, want %s with its case", deliveryIDs(claimed), d.ID)
			}
			sameCase(t, "the case claimed with its delivery", claimed[0].Case, &want)
			// gateway.HeldUntil reads back exactly, not only to the
			// millisecond.
			if got := e.getCase(c.ID); want.AlarmAt.Equal(gateway.HeldUntil) &&
				(!got.AlarmAt.Equal(gateway.HeldUntil) || !got.Deadline.Equal(gateway.HeldUntil)) {
				t.Errorf("AlarmAt, Deadline: got %s, %s, want %s exactly", got.AlarmAt, got.Deadline, gateway.HeldUntil)
			}

			// Every field changed: what was set cleared, what was not set.
			u := *e.getCase(c.ID)
			if u.BundleID == "" {
				u.BundleID = "bundle-" + c.ID
			} else {
				u.BundleID = ""
			}
			if u.Deadline.IsZero() {
				u.Deadline = deadline.Add(time.Hour)
			} else {
				u.Deadline = time.Time{}
			}
			if u.AlarmAt.IsZero() {
				u.AlarmAt = t0.Add(time.Minute)
			} else {
				u.AlarmAt = time.Time{}
			}
			u.Overdue = !u.Overdue
			if u.Admin == nil {
				u.Admin = fullAdmin(c)
			} else {
				u.Admin = nil
			}
			want = u
			if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: &u}); err != nil {
				t.Fatalf("UpdateCase: %v", err)
			}
			want.Version = 2
			sameCase(t, "GetCase after UpdateCase", e.getCase(c.ID), &want)
		})
	}
}

// caseIDs returns the ids of cs, in order.
func caseIDs(cs []*gateway.Case) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// testAlarmsDue: AlarmsDue returns the cases whose alarm is set and not
// after now, earliest first, lowest id among equals, at most limit; a
// case with no alarm, or one held until gateway.HeldUntil, never.
func testAlarmsDue(t *testing.T, e *env) {
	var cs []*gateway.Case
	for range 6 {
		cs = append(cs, newCase()) // ids in this order
	}
	a, b, c, d, none, held := cs[0], cs[1], cs[2], cs[3], cs[4], cs[5]
	a.AlarmAt = t0.Add(2 * time.Hour)
	b.AlarmAt = t0
	c.AlarmAt = t0.Add(2 * time.Hour) // as a's: a first, by id
	d.AlarmAt = t0.Add(3 * time.Hour)
	held.AlarmAt = gateway.HeldUntil
	for _, x := range []*gateway.Case{d, c, none, held, b, a} { // not in id or alarm order
		e.create(x)
	}
	far := time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"before every alarm", t0.Add(-time.Millisecond), 10, nil},
		{"at the first", t0, 10, []string{b.ID}},
		{"equal alarms by id", t0.Add(2 * time.Hour), 10, []string{b.ID, a.ID, c.ID}},
		{"limit", t0.Add(3 * time.Hour), 2, []string{b.ID, a.ID}},
		{"all but none and held", far, 10, []string{b.ID, a.ID, c.ID, d.ID}},
		{"limit zero", far, 0, nil},
		{"zero now", time.Time{}, 10, nil},
	}
	for _, tt := range tests {
		got, err := e.s.AlarmsDue(t.Context(), tt.now, tt.limit)
		if err != nil {
			t.Fatalf("%s: AlarmsDue: %v", tt.name, err)
		}
		if ids := caseIDs(got); !slices.Equal(ids, append([]string{}, tt.want...)) {
			t.Errorf("%s: AlarmsDue(%s, %d) = %v, want %v", tt.name, tt.now.Format(time.RFC3339), tt.limit, ids, tt.want)
		}
	}
	got, err := e.s.AlarmsDue(t.Context(), t0, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("AlarmsDue: %v, %v", caseIDs(got), err)
	}
	sameCase(t, "the case AlarmsDue returns", got[0], e.getCase(b.ID))

	// An alarm cleared or moved is found where it is now.
	nb := *e.getCase(b.ID)
	nb.AlarmAt = time.Time{}
	na := *e.getCase(a.ID)
	na.AlarmAt = t0.Add(4 * time.Hour)
	for _, x := range []*gateway.Case{&nb, &na} {
		if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: x}); err != nil {
			t.Fatalf("UpdateCase(%s): %v", x.ID, err)
		}
	}
	if got, err := e.s.AlarmsDue(t.Context(), t0.Add(3*time.Hour), 10); err != nil || !slices.Equal(caseIDs(got), []string{c.ID, d.ID}) {
		t.Errorf("AlarmsDue after the changes: %v, %v; want %v", caseIDs(got), err, []string{c.ID, d.ID})
	}
}

// testBundleParts: BundleParts returns the cases of a bundle in id
// order, the bundle's own case left out; a part, a case on its own, ""
// and an unknown id have none.
func testBundleParts(t *testing.T, e *env) {
	var cs []*gateway.Case
	for range 7 {
		cs = append(cs, newCase()) // ids in this order
	}
	bundle, p1, p2, p3, other, op, alone := cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], cs[6]
	for _, p := range []*gateway.Case{bundle, p1, p2, p3} {
		p.BundleID = bundle.ID
	}
	other.BundleID, op.BundleID = other.ID, other.ID
	p1.Admin = fullAdmin(p1)
	for _, x := range []*gateway.Case{p3, bundle, p1, other, alone, op, p2} {
		e.create(x)
	}
	tests := []struct {
		name, bundle string
		want         []string
	}{
		{"a bundle's parts by id", bundle.ID, []string{p1.ID, p2.ID, p3.ID}},
		{"another bundle", other.ID, []string{op.ID}},
		{"a part", p1.ID, nil},
		{"a case on its own", alone.ID, nil},
		{"no bundle", "", nil},
		{"unknown", "no-such-bundle", nil},
	}
	for _, tt := range tests {
		got, err := e.s.BundleParts(t.Context(), tt.bundle)
		if err != nil {
			t.Fatalf("%s: BundleParts: %v", tt.name, err)
		}
		if ids := caseIDs(got); !slices.Equal(ids, append([]string{}, tt.want...)) {
			t.Errorf("%s: BundleParts(%q) = %v, want %v", tt.name, tt.bundle, ids, tt.want)
		}
	}
	got, err := e.s.BundleParts(t.Context(), bundle.ID)
	if err != nil || len(got) != 3 {
		t.Fatalf("BundleParts: %v, %v", caseIDs(got), err)
	}
	sameCase(t, "the part BundleParts returns", got[0], e.getCase(p1.ID))
}

// testSearchCaseClock: the audit search's Overdue keeps the exchanges of
// overdue cases, DueBefore those of cases whose deadline is set and
// before it, as the cases stand when searched; exchanges of no case are
// left out by either.
func testSearchCaseClock(t *testing.T, e *env) {
	day := 24 * time.Hour
	late, soon, open := newCase(), newCase(), newCase()
	late.Overdue, late.Deadline = true, t0.Add(day)
	soon.Deadline = t0.Add(3 * day)
	var recs []contracts.EvidenceRecord
	ex := map[*gateway.Case]string{}
	for i, c := range []*gateway.Case{late, soon, open} {
		d := newDelivery(c, wucheng, t0)
		e.create(c, d)
		ex[c] = d.ExchangeID
		recs = append(recs, exchangeRecord(contracts.EventCaseReceived, c, d, t0.Add(time.Duration(i)*time.Minute), `{"state":"received"}`))
	}
	lic := contracts.EvidenceRecord{At: t0.Add(time.Hour), Actor: windowZL, Event: contracts.EventLicenseVerified,
		ExchangeID: newID("ur"), Partner: "lib-" + chiping, Region: chiping, Kind: contracts.ExchangeKindLicenseVerify}
	if err := e.s.AppendEvidence(t.Context(), append(recs, lic)...); err != nil {
		t.Fatalf("AppendEvidence: %v", err)
	}
	search := func(q gateway.ExchangeQuery) []string {
		t.Helper()
		q.Limit = 10
		got, _, err := e.s.SearchExchanges(t.Context(), q)
		if err != nil {
			t.Fatalf("SearchExchanges(%+v): %v", q, err)
		}
		out := []string{}
		for _, x := range got {
			out = append(out, x.ExchangeID)
		}
		return out
	}
	tests := []struct {
		name string
		q    gateway.ExchangeQuery
		want []string
	}{
		{"no filter", gateway.ExchangeQuery{}, []string{lic.ExchangeID, ex[open], ex[soon], ex[late]}},
		{"overdue", gateway.ExchangeQuery{Overdue: true}, []string{ex[late]}},
		{"due before the first deadline", gateway.ExchangeQuery{DueBefore: t0.Add(day)}, []string{}},
		{"due before, to the millisecond", gateway.ExchangeQuery{DueBefore: t0.Add(day + time.Millisecond)}, []string{ex[late]}},
		{"due before both", gateway.ExchangeQuery{DueBefore: t0.Add(4 * day)}, []string{ex[soon], ex[late]}},
		{"overdue and due before", gateway.ExchangeQuery{Overdue: true, DueBefore: t0.Add(4 * day)}, []string{ex[late]}},
		{"with another filter", gateway.ExchangeQuery{DueBefore: t0.Add(4 * day), CaseID: soon.ID}, []string{ex[soon]}},
	}
	for _, tt := range tests {
		if got := search(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	// The search reads the cases as they are now.
	o := *e.getCase(open.ID)
	o.Overdue = true
	if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: &o}); err != nil {
		t.Fatal(err)
	}
	if got, want := search(gateway.ExchangeQuery{Overdue: true}), []string{ex[open], ex[late]}; !slices.Equal(got, want) {
		t.Errorf("overdue after an update: got %v, want %v", got, want)
	}
}
