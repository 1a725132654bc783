package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// The claim folded into an acknowledgement's write (gateway.NextClaim)
// and the claim answered without a write.

// deliveryIDs returns the ids of ds, in order.
func deliveryIDs(ds []*gateway.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// testNextClaimPerCaseOrder: the write that marks a delivery delivered
// claims the next delivery of its case to the same partner, which
// ClaimDue held back until then, and never a pulling partner's; what it
// claims is held under the lease it hands out (ClaimDue passes it over,
// and it can be delivered under that lease).
func testNextClaimPerCaseOrder(t *testing.T, e *env) {
	const lease = time.Minute
	c, ds := e.caseWith(now.Add(-time.Minute), wucheng, wucheng)
	d1, d2 := ds[0], ds[1]
	e.setPull(chiping)
	e.caseWith(now.Add(-time.Hour), chiping) // due longest, but pulled
	e.mustClaim(now, lease, d1)              // d2 waits for d1

	at := now.Add(time.Second)
	ch := deliveredChange(*e.getCase(c.ID), d1, at)
	ch.Claim = &gateway.NextClaim{Now: at, Lease: lease, Limit: 10}
	if err := e.s.UpdateCase(t.Context(), ch); err != nil {
		t.Fatalf("UpdateCase delivering %s with a claim: %v", d1.ID, err)
	}
	if got, want := deliveryIDs(ch.Claim.Claimed), []string{d2.ID}; !slices.Equal(got, want) {
		t.Fatalf("claimed with the acknowledgement of %s: got %v, want %v (the next of its case)", d1.ID, got, want)
	}
	got := ch.Claim.Claimed[0]
	want := *d2
	want.Seq, want.State, want.LeaseUntil = got.Seq, contracts.TransportStateInFlight, at.Add(lease)
	sameDelivery(t, "the delivery claimed with the acknowledgement", got, &want)
	if got.TakenOver {
		t.Errorf("a pending delivery claimed with the acknowledgement comes back TakenOver")
	}
	e.wantState(d2.ID, contracts.TransportStateInFlight)
	if ids := e.claim(at, lease, 10); len(ids) != 0 {
		t.Errorf("ClaimDue after the folded claim: got %v, want nothing (it holds %s)", ids, d2.ID)
	}
	d2.State, d2.LeaseUntil = got.State, got.LeaseUntil
	e.deliver(c.ID, d2, at.Add(time.Second)) // fenced by the lease the folded claim handed out
}

// testNextClaimFenced: a write whose fence or version check fails claims
// nothing: Claimed stays nil and the due delivery stays claimable.
func testNextClaimFenced(t *testing.T, open func(t *testing.T) gateway.Store) {
	tests := []struct {
		name string
		// setup prepares a write that fails with want, made by fail
		// with the claim next.
		setup func(e *env) (fail func(next *gateway.NextClaim) error)
		want  error
	}{
		{"the lease was taken over", func(e *env) func(*gateway.NextClaim) error {
			c, ds := e.caseWith(now.Add(-2*time.Hour), wucheng)
			e.mustClaim(now.Add(-2*time.Hour), time.Minute, ds[0])
			stale := *ds[0]
			e.mustClaim(now.Add(-time.Hour), 2*time.Hour, ds[0]) // another dispatcher's, once the lease ran out
			return func(next *gateway.NextClaim) error {
				ch := deliveredChange(*e.getCase(c.ID), &stale, now)
				ch.Claim = next
				return e.s.UpdateCase(e.t.Context(), ch)
			}
		}, gateway.ErrStale},
		{"the case changed since it was read", func(e *env) func(*gateway.NextClaim) error {
			c, ds := e.caseWith(now.Add(-2*time.Hour), wucheng)
			e.mustClaim(now.Add(-2*time.Hour), 3*time.Hour, ds[0])
			read := *e.getCase(c.ID)
			moved := read
			moved.LocalCaseNo += "-corrected"
			if err := e.s.UpdateCase(e.t.Context(), gateway.Change{Case: &moved}); err != nil {
				e.t.Fatalf("UpdateCase: %v", err)
			}
			return func(next *gateway.NextClaim) error {
				ch := deliveredChange(read, ds[0], now)
				ch.Claim = next
				return e.s.UpdateCase(e.t.Context(), ch)
			}
		}, gateway.ErrStale},
		{"a delivery of no case whose lease was taken over", func(e *env) func(*gateway.NextClaim) error {
			u := e.usageWith(wucheng, now.Add(-2*time.Hour))
			e.mustClaim(now.Add(-2*time.Hour), time.Minute, u)
			stale := *u
			e.mustClaim(now.Add(-time.Hour), 2*time.Hour, u)
			return func(next *gateway.NextClaim) error {
				return e.s.MarkDelivered(e.t.Context(), usageDone(&stale, now), next)
			}
		}, gateway.ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, open)
			fail := tt.setup(e)
			_, other := e.caseWith(now.Add(-30*time.Minute), wucheng) // due at now only
			next := &gateway.NextClaim{Now: now, Lease: time.Minute, Limit: 10,
				Claimed: []*gateway.Delivery{{ID: "left over"}}}
			wantErr(t, "the write with a claim", fail(next), tt.want)
			if next.Claimed != nil {
				t.Errorf("a failed write claimed %v, want nil", deliveryIDs(next.Claimed))
			}
			e.wantState(other[0].ID, contracts.TransportStatePending)
			e.mustClaim(now, time.Minute, other[0])
		})
	}
}

// testNextClaimDueRules: the folded claim takes what ClaimDue would: the
// deliveries due longest first, up to Limit, returned in Seq order, one
// taken from an expired lease with TakenOver set; and MarkDelivered
// claims as UpdateCase does.
func testNextClaimDueRules(t *testing.T, e *env) {
	const lease = time.Minute
	// x is acknowledged; b's lease runs out at now-2h+1m; a and c are
	// pending, due at now-3h and now-1h; d is not due yet.
	xc, x := e.caseWith(now.Add(-4*time.Hour), wucheng)
	e.mustClaim(now.Add(-4*time.Hour), 24*time.Hour, x[0])
	_, b := e.caseWith(now.Add(-2*time.Hour), wucheng)
	e.mustClaim(now.Add(-2*time.Hour), lease, b[0])
	_, a := e.caseWith(now.Add(-3*time.Hour), wucheng)
	_, c := e.caseWith(now.Add(-time.Hour), wucheng)
	e.caseWith(now.Add(time.Hour), wucheng)

	ch := deliveredChange(*e.getCase(xc.ID), x[0], now)
	ch.Claim = &gateway.NextClaim{Now: now, Lease: lease, Limit: 2}
	if err := e.s.UpdateCase(t.Context(), ch); err != nil {
		t.Fatalf("UpdateCase with a claim of 2: %v", err)
	}
	if got, want := deliveryIDs(ch.Claim.Claimed), []string{b[0].ID, a[0].ID}; !slices.Equal(got, want) {
		t.Fatalf("claimed: got %v, want %v (due longest first, in Seq order)", got, want)
	}
	if !ch.Claim.Claimed[0].TakenOver || ch.Claim.Claimed[1].TakenOver {
		t.Errorf("TakenOver: got %v, %v; want true for the expired lease, false for the pending one",
			ch.Claim.Claimed[0].TakenOver, ch.Claim.Claimed[1].TakenOver)
	}
	for _, d := range ch.Claim.Claimed {
		if !d.LeaseUntil.Equal(now.Add(lease)) {
			t.Errorf("%s: LeaseUntil %s, want %s", d.ID, d.LeaseUntil, now.Add(lease))
		}
	}

	// The same through MarkDelivered, for a delivery of no case.
	u := e.usageWith(wucheng, now.Add(-5*time.Hour))
	e.mustClaim(now.Add(-5*time.Hour), 24*time.Hour, u)
	next := &gateway.NextClaim{Now: now, Lease: lease, Limit: 10}
	if err := e.s.MarkDelivered(t.Context(), usageDone(u, now), next); err != nil {
		t.Fatalf("MarkDelivered with a claim: %v", err)
	}
	if got, want := deliveryIDs(next.Claimed), []string{c[0].ID}; !slices.Equal(got, want) {
		t.Errorf("claimed with MarkDelivered: got %v, want %v", got, want)
	}
	e.wantState(u.ID, contracts.TransportStateDelivered)

	// A Limit of 0 claims nothing.
	_, late := e.caseWith(now, wucheng)
	cc := next.Claimed[0]
	ch = deliveredChange(*e.getCase(cc.CaseID), cc, now)
	ch.Claim = &gateway.NextClaim{Now: now, Lease: lease}
	if err := e.s.UpdateCase(t.Context(), ch); err != nil {
		t.Fatalf("UpdateCase with a claim of 0: %v", err)
	}
	if ch.Claim.Claimed != nil {
		t.Errorf("a claim of 0 claimed %v", deliveryIDs(ch.Claim.Claimed))
	}
	e.mustClaim(now, lease, late[0])
}

// testClaimEmptyWritesNothing: a ClaimDue or ClaimMailbox that finds
// nothing due is answered without a write (checked on stores that count
// their writes, storecodec.Counter).
func testClaimEmptyWritesNothing(t *testing.T, e *env) {
	counter, ok := e.s.(*pulling).Store.(storecodec.Counter)
	if !ok {
		t.Skip("the store does not count its writes (storecodec.Counter)")
	}
	e.caseWith(now.Add(2*time.Hour), wucheng) // not due yet
	_, held := e.caseWith(now, wucheng, wucheng)
	e.mustClaim(now, time.Minute, held[0]) // held[1] waits for it
	e.setPull(chiping)
	e.caseWith(now.Add(2*time.Hour), chiping) // in a mailbox, not visible yet
	before := counter.Stats()
	for _, at := range []time.Time{now, now.Add(30 * time.Second)} {
		if ids := e.claim(at, time.Minute, 10); len(ids) != 0 {
			t.Fatalf("ClaimDue(%s): got %v, want nothing", at, ids)
		}
		if ds := e.poll(chiping, at, 0, 10); len(ds) != 0 {
			t.Fatalf("ClaimMailbox(%s): got %v, want nothing", at, idsOf(ds))
		}
	}
	if after := counter.Stats(); after != before {
		t.Errorf("ClaimDue and ClaimMailbox with nothing due wrote: stats went from %+v to %+v", before, after)
	}
	e.mustClaim(now.Add(time.Hour), time.Minute, held[0]) // its lease ran out: a write again
	if after := counter.Stats(); after.Writes <= before.Writes {
		t.Errorf("ClaimDue that claimed: stats went from %+v to %+v, want one more write", before, after)
	}
}

// testFreeOwnerCaseNo: a change giving its case an owner's case number
// that another case of the same owner holds (Change.FreeOwnerCaseNo) is
// refused with *OwnerCaseNoTaken naming the lowest such case, and writes
// nothing: not the case, not the delivery it marks delivered, not the
// claim it carries. The case's own number, another owner's, or a number
// nobody holds pass.
func testFreeOwnerCaseNo(t *testing.T, e *env) {
	const lease = time.Minute
	a, b, theirs := newCase(), newCase(), newCase()
	a.OwnerCaseNo, b.OwnerCaseNo = "WC-2026-000042", "WC-2026-000042"
	theirs.Owner, theirs.ToRegion, theirs.OwnerCaseNo = chiping, chiping, "WC-2026-000050"
	e.create(a)
	e.create(b)
	e.create(theirs)
	own := newCase()
	own.OwnerCaseNo = "WC-2026-000060"
	e.create(own)
	c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
	e.mustClaim(now, lease, ds[0])
	_, due := e.caseWith(now.Add(-time.Minute), wucheng) // what a claim with the write would take

	tests := []struct {
		caseID, no string
		taken      string // the case holding no; "" when the change passes
	}{
		{c.ID, "WC-2026-000042", min(a.ID, b.ID)},
		{c.ID, "", ""},
		{own.ID, "WC-2026-000060", ""}, // its own
		{own.ID, "WC-2026-000050", ""}, // another owner's
	}
	for _, tt := range tests {
		read := e.getCase(tt.caseID)
		ch := gateway.Change{Case: read, FreeOwnerCaseNo: tt.no}
		if tt.caseID == c.ID {
			ch = deliveredChange(*read, ds[0], now)
			ch.FreeOwnerCaseNo = tt.no
			ch.Claim = &gateway.NextClaim{Now: now, Lease: lease, Limit: 10}
		}
		version := ch.Case.Version
		err := e.s.UpdateCase(t.Context(), ch)
		if tt.taken == "" {
			if err != nil {
				t.Errorf("UpdateCase of %s with the free number %q: %v", tt.caseID, tt.no, err)
			}
			continue
		}
		var taken *gateway.OwnerCaseNoTaken
		if !errors.As(err, &taken) || taken.OtherCase != tt.taken || taken.CaseNo != tt.no || taken.Owner != wucheng {
			t.Fatalf("UpdateCase with the number %q of case %s: got %v, want *OwnerCaseNoTaken naming %s", tt.no, tt.taken, err, tt.taken)
		}
		if got := e.getCase(tt.caseID); got.Version != version || got.OwnerCaseNo != "" {
			t.Errorf("refused UpdateCase wrote the case: version %d (want %d), number %q", got.Version, version, got.OwnerCaseNo)
		}
		e.wantState(ds[0].ID, contracts.TransportStateInFlight)
		e.wantState(due[0].ID, contracts.TransportStatePending)
		if ch.Claim.Claimed != nil {
			t.Errorf("refused UpdateCase claimed %v", deliveryIDs(ch.Claim.Claimed))
		}
	}
	e.wantState(ds[0].ID, contracts.TransportStateDelivered) // by the change with no number to check
}

// testClaimCarriesCase: ClaimDue and the folded claim hand each delivery
// of a case out with its case as stored at the claim (Delivery.Case),
// and a delivery of no case without one.
func testClaimCarriesCase(t *testing.T, e *env) {
	const lease = time.Minute
	c, ds := e.caseWith(now.Add(-time.Hour), wucheng, wucheng)
	u := e.usageWith(wucheng, now.Add(-time.Hour))
	moved := e.getCase(c.ID)
	moved.LocalCaseNo += "-corrected"
	if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: moved}); err != nil {
		t.Fatalf("UpdateCase: %v", err)
	}
	got := e.claimed(now, lease, 10)
	if ids, want := deliveryIDs(got), []string{ds[0].ID, u.ID}; !slices.Equal(ids, want) {
		t.Fatalf("ClaimDue: got %v, want %v", ids, want)
	}
	if got[0].Case == nil {
		t.Fatalf("ClaimDue handed %s out without its case", got[0].ID)
	}
	sameCase(t, "the case claimed with "+got[0].ID, got[0].Case, e.getCase(c.ID))
	if got[1].Case != nil {
		t.Errorf("ClaimDue handed %s, of no case, out with case %s", got[1].ID, got[1].Case.ID)
	}

	// The acknowledgement's write claims the next with the case as it
	// wrote it.
	ch := deliveredChange(*got[0].Case, got[0], now)
	ch.Claim = &gateway.NextClaim{Now: now, Lease: lease, Limit: 10}
	if err := e.s.UpdateCase(t.Context(), ch); err != nil {
		t.Fatalf("UpdateCase based on the claimed case: %v", err)
	}
	if len(ch.Claim.Claimed) != 1 || ch.Claim.Claimed[0].ID != ds[1].ID || ch.Claim.Claimed[0].Case == nil {
		t.Fatalf("claimed with the acknowledgement: %v, want %s with its case", deliveryIDs(ch.Claim.Claimed), ds[1].ID)
	}
	sameCase(t, "the case claimed with "+ds[1].ID, ch.Claim.Claimed[0].Case, e.getCase(c.ID))
}
