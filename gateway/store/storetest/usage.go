package storetest

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Usage records (AddUsage, ListUsage) and the deliveries of no case that
// pass them to their issuers (ClaimDue, MarkDelivered).

func testAddUsageRoundTrip(t *testing.T, e *env) {
	if err := e.s.AddUsage(t.Context(), nil, nil); err != nil {
		t.Fatalf("AddUsage of nothing: got %v, want nil", err)
	}
	if got := e.listUsage(gateway.UsageQuery{Limit: 10}); len(got) != 0 {
		t.Errorf("ListUsage after AddUsage of nothing: got %v, want none", usageIDs(got))
	}

	verified := newUsage(windowZL, time.Date(2026, 3, 2, 17, 30, 1, 123456789, cst))
	verified.Record.Cached = true
	refused := newUsage(chiping, t0.Add(time.Minute))
	refused.Record = contracts.UsageRecord{
		UsageRecordID: refused.Record.UsageRecordID, Caller: chiping, OperatorID: "clerk-12",
		Purpose: "跨省通办：核验身份", LicenseTypeCode: "11100000000000131002",
		ErrorCode: contracts.CodeForbidden, CheckedAt: t0.Add(time.Minute),
	}
	refused.HolderType, refused.HolderID, refused.Library, refused.Subject, refused.SealKey = "001", holderCompany, "", "sys-371523", ""
	d := usageDelivery(verified, wucheng, t0.Add(-time.Hour))
	d.Attempts, d.LastError = 0, ""
	e.addUsage([]gateway.UsageEntry{verified, refused}, d)

	if d.Seq <= 0 || d.State != contracts.TransportStatePending || d.CaseID != "" {
		t.Errorf("enqueued delivery: got Seq %d State %q CaseID %q, want a Seq, pending, no case", d.Seq, d.State, d.CaseID)
	}
	sameDelivery(t, "GetDelivery", e.getDelivery(d.ID), d)
	sameUsage(t, "ListUsage", e.listUsage(gateway.UsageQuery{Limit: 10}), []gateway.UsageEntry{refused, verified})
	if got := e.counts(); !sameCounts(got, map[contracts.TransportState]int{contracts.TransportStatePending: 1}) {
		t.Errorf("CountByState: got %v, want 1 pending", got)
	}
	if got, ok, err := e.s.NextDue(t.Context()); err != nil || !ok || !ms(got).Equal(ms(d.NextAt)) {
		t.Errorf("NextDue: got %s, %v, %v, want %s", got, ok, err, d.NextAt)
	}

	// Records alone, deliveries alone; seqs go on increasing, shared with
	// the deliveries of cases.
	e.addUsage([]gateway.UsageEntry{newUsage(zhonglou, t0)})
	alone := usageDelivery(verified, chiping, t0)
	e.addUsage(nil, alone)
	_, cds := e.caseWith(t0, wucheng)
	if alone.Seq <= d.Seq || cds[0].Seq <= alone.Seq {
		t.Errorf("Seqs: got %d, %d, then a case's %d, want increasing", d.Seq, alone.Seq, cds[0].Seq)
	}
	if got := len(e.listUsage(gateway.UsageQuery{Limit: 10})); got != 3 {
		t.Errorf("ListUsage: got %d records, want 3", got)
	}
}

func testAddUsageAtomic(t *testing.T, e *env) {
	first := newUsage(zhonglou, t0)
	firstD := usageDelivery(first, wucheng, t0)
	e.addUsage([]gateway.UsageEntry{first}, firstD)
	wantRecords := e.listUsage(gateway.UsageQuery{Limit: 100})
	wantCounts := e.counts()

	fresh := func() (gateway.UsageEntry, *gateway.Delivery) {
		u := newUsage(chiping, t0.Add(time.Minute))
		return u, usageDelivery(u, wucheng, t0)
	}
	tests := []struct {
		name string
		add  func() ([]gateway.UsageEntry, []*gateway.Delivery)
	}{
		{"a stored record id", func() ([]gateway.UsageEntry, []*gateway.Delivery) {
			u, d := fresh()
			dup := newUsage(chiping, t0.Add(time.Hour))
			dup.Record.UsageRecordID = first.Record.UsageRecordID
			return []gateway.UsageEntry{u, dup}, []*gateway.Delivery{d}
		}},
		{"one record id twice", func() ([]gateway.UsageEntry, []*gateway.Delivery) {
			u, d := fresh()
			return []gateway.UsageEntry{u, u}, []*gateway.Delivery{d}
		}},
		{"a stored delivery id", func() ([]gateway.UsageEntry, []*gateway.Delivery) {
			u, d := fresh()
			dup := usageDelivery(u, chiping, t0)
			dup.ID = firstD.ID
			return []gateway.UsageEntry{u}, []*gateway.Delivery{d, dup}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.sub(t)
			entries, ds := tt.add()
			err := e.s.AddUsage(t.Context(), entries, ds)
			if err == nil {
				t.Fatal("AddUsage: got nil, want an error")
			}
			sameUsage(t, "ListUsage after a refused AddUsage", e.listUsage(gateway.UsageQuery{Limit: 100}), wantRecords)
			for _, d := range ds {
				if d.ID == firstD.ID {
					continue
				}
				_, err := e.s.GetDelivery(t.Context(), d.ID)
				wantErr(t, "GetDelivery of a refused delivery", err, gateway.ErrNotFound)
			}
			sameDelivery(t, "the stored delivery", e.getDelivery(firstD.ID), firstD)
			if got := e.counts(); !sameCounts(got, wantCounts) {
				t.Errorf("CountByState after a refused AddUsage: got %v, want %v", got, wantCounts)
			}
			// Nothing of it was kept: the same records and deliveries,
			// without the duplicate, go in now.
			var keep []gateway.UsageEntry
			for _, u := range entries {
				if u.Record.UsageRecordID != first.Record.UsageRecordID && !slices.ContainsFunc(keep, func(k gateway.UsageEntry) bool {
					return k.Record.UsageRecordID == u.Record.UsageRecordID
				}) {
					keep = append(keep, u)
				}
			}
			e.addUsage(keep, ds[0])
			wantRecords = e.listUsage(gateway.UsageQuery{Limit: 100})
			wantCounts = e.counts()
		})
	}
}

// testUsageClaimIndependent: deliveries of no case are claimed on their
// own due times, whatever became of earlier ones to the same partner,
// while the deliveries of a case keep their order.
func testUsageClaimIndependent(t *testing.T, e *env) {
	const lease = time.Minute
	dead := e.usageWith(wucheng, now.Add(-time.Hour))
	retry := e.usageWith(wucheng, now.Add(-time.Hour))
	later := e.usageWith(wucheng, now.Add(time.Hour))
	due := e.usageWith(wucheng, now)
	c, cds := e.caseWith(now.Add(-time.Hour), wucheng, wucheng)

	// later, not yet due, holds nothing back; cds[1] waits for cds[0].
	e.mustClaim(now, lease, dead, retry, due, cds[0])
	e.saveAttempt(dead, contracts.TransportStateDead, 8, now)
	e.saveAttempt(retry, contracts.TransportStateRetryWait, 1, now.Add(time.Hour))
	e.saveAttempt(cds[0], contracts.TransportStateDead, 8, now)

	// A dead, a retry_wait and an in_flight delivery of no case to wucheng
	// do not hold the next one back; the dead cds[0] still holds cds[1].
	next := e.usageWith(wucheng, now)
	e.mustClaim(now, lease, next)
	if err := e.s.Redeliver(t.Context(), dead.ID, now); err != nil {
		t.Fatalf("Redeliver of a delivery of no case: %v", err)
	}
	e.mustClaim(now, lease, dead)
	e.wantState(cds[1].ID, contracts.TransportStatePending)

	// Once cds[0] is delivered, cds[1] goes.
	if err := e.s.Redeliver(t.Context(), cds[0].ID, now); err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	e.mustClaim(now, lease, cds[0])
	e.deliver(c.ID, cds[0], now)
	e.mustClaim(now, lease, cds[1])
	e.mustClaim(now.Add(time.Hour), lease, dead, retry, later, due, cds[1], next)
}

func testMarkDelivered(t *testing.T, e *env) {
	d := e.usageWith(wucheng, now.Add(-time.Hour))
	c, cds := e.caseWith(now.Add(-time.Hour), wucheng)
	e.mustClaim(now, time.Minute, d, cds[0])

	ghost := usageDone(d, now)
	ghost.ID = "no-such-delivery"
	wantErr(t, "MarkDelivered of an unknown delivery", e.s.MarkDelivered(t.Context(), ghost, nil), gateway.ErrNotFound)
	wantErr(t, "MarkDelivered of a case's delivery", e.s.MarkDelivered(t.Context(), usageDone(cds[0], now), nil), gateway.ErrNotFound)
	e.wantState(cds[0].ID, contracts.TransportStateInFlight)
	stale := usageDone(d, now)
	stale.LeaseUntil = stale.LeaseUntil.Add(time.Second)
	wantErr(t, "MarkDelivered under a lease never handed out", e.s.MarkDelivered(t.Context(), stale, nil), gateway.ErrStale)
	e.wantState(d.ID, contracts.TransportStateInFlight)

	done := usageDone(d, time.Date(2026, 3, 3, 9, 30, 0, 987654321, cst))
	if err := e.s.MarkDelivered(t.Context(), done, nil); err != nil {
		t.Fatalf("MarkDelivered: %v", err)
	}
	got := e.getDelivery(d.ID)
	want := *done
	want.LeaseUntil = got.LeaseUntil // not part of the promise
	sameDelivery(t, "GetDelivery after MarkDelivered", got, &want)
	wantCounts := map[contracts.TransportState]int{contracts.TransportStateDelivered: 1, contracts.TransportStateInFlight: 1}
	if got := e.counts(); !sameCounts(got, wantCounts) {
		t.Errorf("CountByState: got %v, want %v", got, wantCounts)
	}
	wantErr(t, "MarkDelivered again under the same claim", e.s.MarkDelivered(t.Context(), done, nil), gateway.ErrStale)
	sameDelivery(t, "GetDelivery after a refused MarkDelivered", e.getDelivery(d.ID), &want)
	e.mustClaim(now.Add(time.Hour), time.Minute, cds[0]) // the delivered one is never due again
	e.deliver(c.ID, cds[0], now.Add(time.Hour))
}

// testMarkDeliveredFenced: a claim of a delivery of no case that is no
// longer the caller's can write nothing, whatever became of the delivery.
// Each row has a store of its own.
func testMarkDeliveredFenced(t *testing.T, open func(t *testing.T) gateway.Store) {
	const lease = time.Minute
	tests := []struct {
		name  string
		setup func(e *env, d *gateway.Delivery) (stale gateway.Delivery)
	}{
		{"pending, never claimed", func(e *env, d *gateway.Delivery) gateway.Delivery {
			return *d
		}},
		{"retry_wait", func(e *env, d *gateway.Delivery) gateway.Delivery {
			e.mustClaim(now, lease, d)
			stale := *d
			e.saveAttempt(d, contracts.TransportStateRetryWait, 1, now.Add(time.Hour))
			return stale
		}},
		{"dead", func(e *env, d *gateway.Delivery) gateway.Delivery {
			e.mustClaim(now, lease, d)
			stale := *d
			e.saveAttempt(d, contracts.TransportStateDead, 8, now)
			return stale
		}},
		{"in_flight under a newer claim", func(e *env, d *gateway.Delivery) gateway.Delivery {
			e.mustClaim(now, lease, d)
			stale := *d
			e.mustClaim(now.Add(2*lease), lease, d)
			return stale
		}},
		{"in_flight, caller without a lease", func(e *env, d *gateway.Delivery) gateway.Delivery {
			e.mustClaim(now, lease, d)
			stale := *d
			stale.LeaseUntil = time.Time{}
			return stale
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, open)
			d := e.usageWith(wucheng, now.Add(-time.Hour))
			stale := tt.setup(e, d)
			before, counts := e.getDelivery(d.ID), e.counts()
			err := e.s.MarkDelivered(t.Context(), usageDone(&stale, now), nil)
			wantErr(t, "MarkDelivered under a stale claim", err, gateway.ErrStale)
			sameDelivery(t, "GetDelivery after a refused MarkDelivered", e.getDelivery(d.ID), before)
			if got := e.counts(); !sameCounts(got, counts) {
				t.Errorf("CountByState: got %v, want %v", got, counts)
			}
		})
	}
}

// testMarkDeliveredConcurrent: writers race with one claim of a delivery
// of no case; exactly one outcome is written.
func testMarkDeliveredConcurrent(t *testing.T, e *env) {
	const workers = 16
	d := e.usageWith(wucheng, now.Add(-time.Hour))
	e.mustClaim(now, time.Minute, d)
	claim := *d
	results := make(chan error, workers)
	var start sync.WaitGroup
	start.Add(1)
	for i := range workers {
		go func() {
			start.Wait()
			if i%2 == 0 {
				results <- e.s.MarkDelivered(t.Context(), usageDone(&claim, now), nil)
				return
			}
			a := claim
			a.State, a.Attempts, a.NextAt, a.LastError = contracts.TransportStateRetryWait, 1, now.Add(time.Hour), "timeout"
			results <- e.s.SaveAttempt(t.Context(), &a)
		}()
	}
	start.Done()
	won := 0
	for range workers {
		switch err := <-results; {
		case err == nil:
			won++
		case !errors.Is(err, gateway.ErrStale):
			t.Errorf("write under a raced claim: got %v, want nil or %v", err, gateway.ErrStale)
		}
	}
	if won != 1 {
		t.Errorf("%d writes under one claim succeeded, want exactly 1", won)
	}
	got := e.counts()
	if got[contracts.TransportStateDelivered]+got[contracts.TransportStateRetryWait] != 1 || got[contracts.TransportStateInFlight] != 0 {
		t.Errorf("CountByState after the race: got %v, want one delivered or retry_wait", got)
	}
}

// usageFixture stores n usage records whose fields vary independently,
// inserted in shuffled order over several AddUsage calls, and returns
// them. CheckedAt is a permutation of t0 + 0..n-1 minutes, unrelated to
// the order of ids.
func (e *env) usageFixture(n int) []gateway.UsageEntry {
	e.t.Helper()
	callers := []string{zhonglou, windowZL, chiping}
	windows := []string{windowZL, "", "window-371523", windowZL}
	libraries := []string{wucheng, chiping, "", wucheng, zhonglou}
	holders := []string{holderPerson, holderCompany, ""}
	licenses := []string{licenseA, "", licenseB, licenseA}
	all := make([]gateway.UsageEntry, n)
	for i := range all {
		u := newUsage(callers[i%len(callers)], t0.Add(time.Duration(i*17%n)*time.Minute))
		u.Record.WindowID = windows[i%len(windows)]
		u.Library = libraries[i%len(libraries)]
		u.HolderID = holders[i/2%len(holders)]
		u.Record.LicenseID = licenses[i/3%len(licenses)]
		all[i] = u
	}
	shuffled := slices.Clone(all)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for len(shuffled) > 0 {
		k := min(len(shuffled), 7)
		e.addUsage(shuffled[:k])
		shuffled = shuffled[k:]
	}
	return all
}

// selects reports whether q selects u, as gateway.UsageQuery documents.
func selects(q gateway.UsageQuery, u gateway.UsageEntry) bool {
	r := u.Record
	return (q.HolderID == "" || u.HolderID == q.HolderID) &&
		(q.LicenseID == "" || r.LicenseID == q.LicenseID) &&
		(q.Caller == "" || r.Caller == q.Caller) &&
		(q.From.IsZero() || !r.CheckedAt.Before(q.From)) &&
		(q.To.IsZero() || r.CheckedAt.Before(q.To)) &&
		(q.Before == "" || r.UsageRecordID < q.Before) &&
		(q.VisibleTo == "" || r.Caller == q.VisibleTo || r.WindowID == q.VisibleTo || u.Library == q.VisibleTo)
}

// wantUsage returns what ListUsage(q) must return from all.
func wantUsage(all []gateway.UsageEntry, q gateway.UsageQuery) []gateway.UsageEntry {
	var out []gateway.UsageEntry
	for _, u := range all {
		if selects(q, u) {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b gateway.UsageEntry) int {
		return strings.Compare(b.Record.UsageRecordID, a.Record.UsageRecordID)
	})
	return out[:min(len(out), q.Limit)]
}

func testListUsageFilters(t *testing.T, e *env) {
	const n = 60
	all := e.usageFixture(n)
	ids := usageIDs(all)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name string
		q    gateway.UsageQuery
		none bool // the query selects nothing
	}{
		{"everything", gateway.UsageQuery{}, false},
		{"holder", gateway.UsageQuery{HolderID: holderPerson}, false},
		{"other holder", gateway.UsageQuery{HolderID: holderCompany}, false},
		{"unknown holder", gateway.UsageQuery{HolderID: "110105194912310021"}, true},
		{"license", gateway.UsageQuery{LicenseID: licenseB}, false},
		{"caller", gateway.UsageQuery{Caller: chiping}, false},
		{"window caller", gateway.UsageQuery{Caller: windowZL}, false},
		{"from", gateway.UsageQuery{From: at(40)}, false},
		{"to", gateway.UsageQuery{To: at(13)}, false},
		{"from and to", gateway.UsageQuery{From: at(7), To: at(31)}, false},
		{"from is to", gateway.UsageQuery{From: at(7), To: at(7)}, true},
		{"to before from", gateway.UsageQuery{From: at(31), To: at(7)}, true},
		{"range after every record", gateway.UsageQuery{From: at(n)}, true},
		{"before", gateway.UsageQuery{Before: ids[n/2]}, false},
		{"before an id not stored", gateway.UsageQuery{Before: ids[n/2] + "5"}, false},
		{"before every id", gateway.UsageQuery{Before: ids[0]}, true},
		{"visible to a district", gateway.UsageQuery{VisibleTo: chiping}, false},
		{"visible to a window", gateway.UsageQuery{VisibleTo: windowZL}, false},
		{"visible to a library", gateway.UsageQuery{VisibleTo: wucheng}, false},
		{"visible to a stranger", gateway.UsageQuery{VisibleTo: "610102"}, true},
		{"holder and license", gateway.UsageQuery{HolderID: holderPerson, LicenseID: licenseA}, false},
		{"holder and caller", gateway.UsageQuery{HolderID: holderCompany, Caller: zhonglou}, false},
		{"license and range", gateway.UsageQuery{LicenseID: licenseA, From: at(10), To: at(50)}, false},
		{"caller visible to the window", gateway.UsageQuery{Caller: zhonglou, VisibleTo: windowZL}, false},
		{"holder visible to a library", gateway.UsageQuery{HolderID: holderPerson, VisibleTo: chiping}, false},
		{"range visible to a library", gateway.UsageQuery{From: at(20), To: at(45), VisibleTo: wucheng}, false},
		{"before visible to a district", gateway.UsageQuery{Before: ids[40], VisibleTo: zhonglou}, false},
		{"every filter", gateway.UsageQuery{HolderID: holderPerson, LicenseID: licenseA, Caller: zhonglou,
			From: at(0), To: at(n), Before: ids[n-1], VisibleTo: windowZL}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.sub(t)
			q := tt.q
			q.Limit = 2 * n
			want := wantUsage(all, q)
			if (len(want) == 0) != tt.none || (!tt.none && tt.name != "everything" && len(want) == n) {
				t.Fatalf("the fixture gives %d of %d records for this query: fix the test", len(want), n)
			}
			sameUsage(t, "ListUsage", e.listUsage(q), want)

			q.Limit = 4
			sameUsage(t, "ListUsage limited to 4", e.listUsage(q), wantUsage(all, q))
		})
	}
}

// testListUsagePages walks ListUsage page by page with Before, as the
// HTTP layer's cursor does: the pages together are the whole answer, in
// order, without duplicates or gaps.
func testListUsagePages(t *testing.T, e *env) {
	const n = 45
	all := e.usageFixture(n)
	queries := []gateway.UsageQuery{
		{},
		{HolderID: holderPerson},
		{VisibleTo: wucheng},
		{Caller: zhonglou, From: t0.Add(5 * time.Minute), To: t0.Add(40 * time.Minute)},
	}
	for _, q := range queries {
		full := wantUsage(all, gateway.UsageQuery{HolderID: q.HolderID, Caller: q.Caller, From: q.From, To: q.To, VisibleTo: q.VisibleTo, Limit: n})
		for _, limit := range []int{1, 2, 7, n - 1, n} {
			var got []gateway.UsageEntry
			q.Before, q.Limit = "", limit
			for pages := 0; ; pages++ {
				if pages > n {
					t.Fatalf("ListUsage(%+v): more than %d pages", q, n)
				}
				page := e.listUsage(q)
				if len(page) > limit {
					t.Fatalf("ListUsage(%+v): got %d records, want at most %d", q, len(page), limit)
				}
				got = append(got, page...)
				if len(page) < limit {
					break
				}
				q.Before = page[len(page)-1].Record.UsageRecordID
			}
			if !reflect.DeepEqual(usageIDs(got), usageIDs(full)) {
				t.Errorf("pages of %d of %+v:\ngot  %v\nwant %v", limit, q, usageIDs(got), usageIDs(full))
			}
		}
	}
}

// testListUsageTimeBounds: From is inclusive and To exclusive, to the
// millisecond.
func testListUsageTimeBounds(t *testing.T, e *env) {
	at := func(ms int) time.Time { return now.Add(time.Duration(ms) * time.Millisecond) }
	var us []gateway.UsageEntry
	for i := range 3 {
		us = append(us, newUsage(zhonglou, at(2*i).In(cst)))
	}
	e.addUsage(us)
	tests := []struct {
		name     string
		from, to time.Time
		want     []int // indexes into us
	}{
		{"from the first", at(0), time.Time{}, []int{0, 1, 2}},
		{"from the second", at(2), time.Time{}, []int{1, 2}},
		{"from just after the second", at(3), time.Time{}, []int{2}},
		{"to the second", time.Time{}, at(2), []int{0}},
		{"to just after the second", time.Time{}, at(3), []int{0, 1}},
		{"from the second to the third", at(2), at(4), []int{1}},
		{"from the first to just after the last", at(0), at(5), []int{0, 1, 2}},
		{"from the second to the second", at(2), at(2), nil},
		{"in another zone", at(2).In(cst), at(4).In(time.UTC), []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []gateway.UsageEntry
			for _, i := range slices.Backward(tt.want) {
				want = append(want, us[i])
			}
			e := e.sub(t)
			sameUsage(t, "ListUsage", e.listUsage(gateway.UsageQuery{From: tt.from, To: tt.to, Limit: 10}), want)
		})
	}
}

func testListUsageLimit(t *testing.T, e *env) {
	e.addUsage([]gateway.UsageEntry{newUsage(zhonglou, t0)})
	for _, limit := range []int{0, -1} {
		if got, err := e.s.ListUsage(t.Context(), gateway.UsageQuery{Limit: limit}); err == nil {
			t.Errorf("ListUsage with limit %d: got %d records, nil, want an error", limit, len(got))
		}
	}
}
