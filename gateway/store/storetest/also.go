package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Changes to several cases in one write (gateway.Change.Also), deliveries
// cancelled by a change (Change.Cancel) and held deliveries
// (gateway.HeldUntil).

// eventsOf returns the events of the stored records from seq from on.
func (e *env) eventsOf(from int64) []string {
	e.t.Helper()
	out := []string{}
	for _, r := range e.rows() {
		if r.Seq >= from {
			out = append(out, decode(e.t, r).Event)
		}
	}
	return out
}

// head returns the evidence log's head seq.
func (e *env) head() int64 {
	e.t.Helper()
	seq, _, err := e.s.EvidenceHead(e.t.Context())
	if err != nil {
		e.t.Fatalf("EvidenceHead: %v", err)
	}
	return seq
}

// testAlsoApplies: a change's Also changes are written with it, after
// it, in order: created cases (Version 1) and updated ones (at their
// Version), their history entries, cancellations and deliveries, and
// their evidence after the main change's; each gets its Version and its
// deliveries their Seq, State and CaseID, as the main change does.
func testAlsoApplies(t *testing.T, e *env) {
	bundle, p1, p2 := newCase(), newCase(), newCase()
	for _, c := range []*gateway.Case{bundle, p1, p2} {
		c.BundleID = bundle.ID
	}
	bundle.Admin, p2.Admin = fullAdmin(bundle), &gateway.CaseAdmin{Part: fullAdmin(p2).Part}
	d0 := newDelivery(bundle, wucheng, t0)
	d1 := newDelivery(p1, wucheng, t0)
	d2 := newDelivery(p2, chiping, gateway.HeldUntil)
	d1.CaseID, d2.CaseID = "", "" // the store fills them in
	st1 := statusFor(p1, contracts.CaseStateReceived, t0)
	ch := gateway.Change{Case: bundle, Exchange: exchangeFor(bundle), Status: statusFor(bundle, contracts.CaseStateReceived, t0),
		Enqueue: []*gateway.Delivery{d0}, Evidence: []contracts.EvidenceRecord{record("bundle.received", bundle.ID, t0)},
		Also: []gateway.Change{
			{Case: p1, Create: true, Status: st1, Enqueue: []*gateway.Delivery{d1},
				Evidence: []contracts.EvidenceRecord{record("part.received", p1.ID, t0)}},
			{Case: p2, Create: true, Enqueue: []*gateway.Delivery{d2},
				Evidence: []contracts.EvidenceRecord{record("part.held", p2.ID, t0), record("part.waits", p2.ID, t0)}},
		}}
	wants := []gateway.Case{*bundle, *p1, *p2}
	from := e.head() + 1
	if err := e.s.CreateCase(t.Context(), ch); err != nil {
		t.Fatalf("CreateCase with Also: %v", err)
	}
	for i, c := range []*gateway.Case{bundle, p1, p2} {
		if c.Version != 1 {
			t.Errorf("case %d: Version %d after the write, want 1", i, c.Version)
		}
		wants[i].Version = 1
		sameCase(t, "GetCase "+c.ID, e.getCase(c.ID), &wants[i])
	}
	for i, d := range []*gateway.Delivery{d0, d1, d2} {
		if d.State != contracts.TransportStatePending || d.Seq <= 0 || (i > 0 && d.Seq <= []*gateway.Delivery{d0, d1, d2}[i-1].Seq) {
			t.Errorf("delivery %s after the write: State %q Seq %d; want pending, seqs in the order applied", d.ID, d.State, d.Seq)
		}
	}
	if d1.CaseID != p1.ID || d2.CaseID != p2.ID {
		t.Errorf("Also deliveries' CaseID: %q, %q; want %q, %q", d1.CaseID, d2.CaseID, p1.ID, p2.ID)
	}
	if ds := e.deliveries(p2.ID); len(ds) != 1 || ds[0].ID != d2.ID || !ds[0].NextAt.Equal(gateway.HeldUntil) {
		t.Errorf("Deliveries(part 2): %v, want %s held until %s", deliveryIDs(ds), d2.ID, gateway.HeldUntil)
	}
	if h := e.history(p1.ID); len(h) != 1 || h[0].Note != st1.Note {
		t.Errorf("History(part 1): %+v, want its received entry", h)
	}
	if got, want := e.eventsOf(from), []string{"bundle.received", "part.received", "part.held", "part.waits"}; !slices.Equal(got, want) {
		t.Errorf("records appended: %v, want %v (the main change's first, then each Also's in order)", got, want)
	}
	if r := ch.Also[1].Evidence[1]; r.Seq != from+3 || r.Hash == "" {
		t.Errorf("Also record after the write: Seq %d Hash %q, want %d and its hash (updated in place)", r.Seq, r.Hash, from+3)
	}

	// An update: the bundle, part 1 at its version, part 2 released (its
	// held delivery cancelled, a successor enqueued).
	ub, u1, u2 := *e.getCase(bundle.ID), *e.getCase(p1.ID), *e.getCase(p2.ID)
	ub.State, u1.Overdue, u2.AlarmAt = contracts.CaseStateForwarded, true, t0.Add(time.Hour)
	d3 := newDelivery(p2, chiping, t0)
	from = e.head() + 1
	err := e.s.UpdateCase(t.Context(), gateway.Change{Case: &ub, Evidence: []contracts.EvidenceRecord{record("bundle.forwarded", bundle.ID, t0)},
		Also: []gateway.Change{
			{Case: &u1, Status: statusFor(&u1, contracts.CaseStateForwarded, t0)},
			{Case: &u2, Cancel: []string{d2.ID}, Enqueue: []*gateway.Delivery{d3},
				Evidence: []contracts.EvidenceRecord{record("part.released", p2.ID, t0)}},
		}})
	if err != nil {
		t.Fatalf("UpdateCase with Also: %v", err)
	}
	for _, c := range []*gateway.Case{&ub, &u1, &u2} {
		if c.Version != 2 {
			t.Errorf("case %s: Version %d after the update, want 2", c.ID, c.Version)
		}
		sameCase(t, "GetCase "+c.ID+" after the update", e.getCase(c.ID), c)
	}
	if d3.Seq <= d2.Seq || d3.State != contracts.TransportStatePending {
		t.Errorf("successor after the update: Seq %d State %q", d3.Seq, d3.State)
	}
	e.wantState(d2.ID, contracts.TransportStateCancelled)
	if h := e.history(p1.ID); len(h) != 2 {
		t.Errorf("History(part 1) after the update: %d entries, want 2", len(h))
	}
	if got, want := e.eventsOf(from), []string{"bundle.forwarded", "part.released"}; !slices.Equal(got, want) {
		t.Errorf("records appended by the update: %v, want %v", got, want)
	}
}

// written is what a failed write of several cases must leave as it was.
type written struct {
	cases   []gateway.Case
	history []int
	dels    [][]string
	states  map[string]contracts.TransportState
	head    int64
	counts  map[contracts.TransportState]int
}

// written reads what the store holds of cs.
func (e *env) written(cs ...*gateway.Case) written {
	e.t.Helper()
	s := written{states: map[string]contracts.TransportState{}, head: e.head(), counts: e.counts()}
	for _, c := range cs {
		s.cases = append(s.cases, *e.getCase(c.ID))
		s.history = append(s.history, len(e.history(c.ID)))
		ds := e.deliveries(c.ID)
		s.dels = append(s.dels, deliveryIDs(ds))
		for _, d := range ds {
			s.states[d.ID] = d.State
		}
	}
	return s
}

// same fails unless the store holds what s did.
func (s written) same(t *testing.T, e *env, what string) {
	t.Helper()
	now := e.written(casesOf(s.cases)...)
	for i := range s.cases {
		sameCase(t, what+": case "+s.cases[i].ID, &now.cases[i], &s.cases[i])
		if now.history[i] != s.history[i] || !slices.Equal(now.dels[i], s.dels[i]) {
			t.Errorf("%s: case %s has %d history entries and deliveries %v, had %d and %v",
				what, s.cases[i].ID, now.history[i], now.dels[i], s.history[i], s.dels[i])
		}
	}
	for id, st := range s.states {
		if now.states[id] != st {
			t.Errorf("%s: delivery %s is %s, was %s", what, id, now.states[id], st)
		}
	}
	if now.head != s.head {
		t.Errorf("%s: evidence head %d, was %d", what, now.head, s.head)
	}
	for st, n := range s.counts {
		if now.counts[st] != n {
			t.Errorf("%s: CountByState %v, was %v", what, now.counts, s.counts)
			break
		}
	}
}

func casesOf(cs []gateway.Case) []*gateway.Case {
	out := make([]*gateway.Case, len(cs))
	for i := range cs {
		out[i] = &cs[i]
	}
	return out
}

// testAlsoAllOrNothing: when an Also change fails (a stale or unknown
// case, a case created twice, a delivery of another case), or the main
// change does, nothing of the write is stored: not the main change's
// case, history, cancellations, deliveries or evidence, nor any Also
// change's, those applied before the failing one included.
func testAlsoAllOrNothing(t *testing.T, e *env) {
	bundle, p1, p2 := newCase(), newCase(), newCase()
	for _, c := range []*gateway.Case{bundle, p1, p2} {
		c.BundleID = bundle.ID
	}
	dB := newDelivery(bundle, chiping, t0.Add(time.Hour))
	e.create(bundle, dB)
	e.create(p1)
	e.create(p2, newDelivery(p2, wucheng, gateway.HeldUntil))
	fresh := newCase()

	// change returns a write of all three cases, each read now; broken
	// spoils it.
	change := func(broken func(ch *gateway.Change)) gateway.Change {
		b, c1, c2 := *e.getCase(bundle.ID), *e.getCase(p1.ID), *e.getCase(p2.ID)
		b.State, c1.Overdue, c2.Deadline = contracts.CaseStateForwarded, true, t0.Add(72*time.Hour)
		nc := *fresh
		ch := gateway.Change{Case: &b, Status: statusFor(&b, contracts.CaseStateForwarded, t0), Cancel: []string{dB.ID},
			Enqueue:  []*gateway.Delivery{newDelivery(&b, wucheng, t0)},
			Evidence: []contracts.EvidenceRecord{record("bundle.forwarded", b.ID, t0)},
			Also: []gateway.Change{
				{Case: &c1, Status: statusFor(&c1, contracts.CaseStateForwarded, t0), Enqueue: []*gateway.Delivery{newDelivery(&c1, wucheng, t0)},
					Evidence: []contracts.EvidenceRecord{record("part.forwarded", c1.ID, t0)}},
				{Case: &nc, Create: true, Enqueue: []*gateway.Delivery{newDelivery(&nc, wucheng, t0)},
					Evidence: []contracts.EvidenceRecord{record("part.added", nc.ID, t0)}},
				{Case: &c2, Evidence: []contracts.EvidenceRecord{record("part.clock", c2.ID, t0)}},
			}}
		if broken != nil {
			broken(&ch)
		}
		return ch
	}
	tests := []struct {
		name   string
		broken func(ch *gateway.Change)
		want   error // nil: any error
	}{
		{"last Also stale", func(ch *gateway.Change) { ch.Also[2].Case.Version = 7 }, gateway.ErrStale},
		{"first Also stale", func(ch *gateway.Change) { ch.Also[0].Case.Version = 0 }, gateway.ErrStale},
		{"Also of an unknown case", func(ch *gateway.Change) {
			unknown := newCase()
			unknown.Version = 1
			ch.Also[2].Case = unknown
			ch.Also[2].Evidence = nil
		}, gateway.ErrNotFound},
		{"Also creates a stored case", func(ch *gateway.Change) {
			again := *e.getCase(p2.ID)
			ch.Also[2] = gateway.Change{Case: &again, Create: true}
		}, nil},
		{"Also enqueues another case's delivery", func(ch *gateway.Change) {
			ch.Also[2].Enqueue = []*gateway.Delivery{newDelivery(bundle, wucheng, t0)}
		}, nil},
		{"main change stale", func(ch *gateway.Change) { ch.Case.Version = 9 }, gateway.ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.sub(t)
			before := e.written(bundle, p1, p2)
			w := change(tt.broken)
			err := e.s.UpdateCase(t.Context(), w)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("UpdateCase: got %v, want %v", err, tt.want)
			}
			before.same(t, e, "after the failed write")
			if _, err := e.s.GetCase(t.Context(), fresh.ID); !errors.Is(err, gateway.ErrNotFound) {
				t.Errorf("the case the failed write would create: %v, want ErrNotFound", err)
			}
			for _, d := range append(w.Enqueue, w.Also[0].Enqueue...) {
				if _, err := e.s.GetDelivery(t.Context(), d.ID); !errors.Is(err, gateway.ErrNotFound) {
					t.Errorf("delivery %s of the failed write: %v, want ErrNotFound", d.ID, err)
				}
			}
		})
	}
	// The same write, unbroken, is stored whole.
	w := change(nil)
	if err := e.s.UpdateCase(t.Context(), w); err != nil {
		t.Fatalf("UpdateCase unbroken: %v", err)
	}
	e.wantState(dB.ID, contracts.TransportStateCancelled)
	if got := e.getCase(fresh.ID); got.Version != 1 {
		t.Errorf("created case: Version %d, want 1", got.Version)
	}
	if got := e.getCase(p2.ID); got.Version != 2 || !got.Deadline.Equal(t0.Add(72*time.Hour)) {
		t.Errorf("last Also case: Version %d Deadline %s, want 2 and its deadline", got.Version, got.Deadline)
	}
}

// testAlsoRefused: an Also change carrying what only the main change may
// (an exchange, a Delivered mark, FreeOwnerCaseNo, a claim, an Also of
// its own), or no case, is refused and nothing of the write stored.
func testAlsoRefused(t *testing.T, e *env) {
	main, part := newCase(), newCase()
	e.create(main)
	_, ds := e.caseWith(t0, chiping)
	e.create(part, newDelivery(part, wucheng, t0))
	claimed := e.claimed(t0, time.Hour, 10)
	if len(claimed) != 2 {
		t.Fatalf("ClaimDue: %v", deliveryIDs(claimed))
	}
	var partDel *gateway.Delivery
	for _, d := range claimed {
		if d.CaseID == part.ID {
			partDel = d
		}
	}
	tests := []struct {
		name  string
		spoil func(a *gateway.Change)
	}{
		{"exchange", func(a *gateway.Change) {
			a.Exchange = exchangeFor(a.Case)
			a.Exchange.ExchangeID = newID("ex") // not stored yet
		}},
		{"delivered", func(a *gateway.Change) {
			done := *partDel
			done.State, done.Attempts, done.DeliveredAt = contracts.TransportStateDelivered, 1, t0
			a.Delivered = &done
		}},
		{"free owner case number", func(a *gateway.Change) { a.FreeOwnerCaseNo = "WC-1" }},
		{"claim", func(a *gateway.Change) {
			a.Claim = &gateway.NextClaim{Now: t0.Add(2 * time.Hour), Lease: time.Minute, Limit: 10}
		}},
		{"nested also", func(a *gateway.Change) {
			other := *e.getCase(ds[0].CaseID)
			a.Also = []gateway.Change{{Case: &other}}
		}},
		{"no case", func(a *gateway.Change) { a.Case = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.sub(t)
			before := e.written(main, part)
			m, p := *e.getCase(main.ID), *e.getCase(part.ID)
			m.State, p.State = contracts.CaseStateForwarded, contracts.CaseStateForwarded
			a := gateway.Change{Case: &p, Status: statusFor(&p, contracts.CaseStateForwarded, t0),
				Evidence: []contracts.EvidenceRecord{record("part", p.ID, t0)}}
			tt.spoil(&a)
			err := e.s.UpdateCase(t.Context(), gateway.Change{Case: &m, Status: statusFor(&m, contracts.CaseStateForwarded, t0),
				Enqueue:  []*gateway.Delivery{newDelivery(&m, wucheng, t0)},
				Evidence: []contracts.EvidenceRecord{record("main", m.ID, t0)}, Also: []gateway.Change{a}})
			if err == nil {
				t.Fatal("UpdateCase: got nil, want the Also change refused")
			}
			before.same(t, e, "after the refused write")
			e.wantState(partDel.ID, contracts.TransportStateInFlight)
		})
	}
}

// testCancelStates: Change.Cancel cancels the listed deliveries of the
// change's case that are pending, retry_wait or dead; one in flight,
// delivered or cancelled already, one of another case and an unknown id
// are left as they are, and the write succeeds. The counts follow.
func testCancelStates(t *testing.T, e *env) {
	c := newCase()
	partners := []string{"p-pending", "p-retry", "p-dead", "p-flight", "p-done", "p-again"}
	ds := map[string]*gateway.Delivery{}
	var all []*gateway.Delivery
	for _, p := range partners {
		due := t0
		if p == "p-pending" {
			due = t0.Add(10 * time.Hour) // not claimed below
		}
		d := newDelivery(c, p, due)
		ds[p] = d
		all = append(all, d)
	}
	e.create(c, all...)
	other, ods := e.caseWith(t0.Add(10*time.Hour), "p-other")
	e.mustClaim(t0, time.Hour, ds["p-retry"], ds["p-dead"], ds["p-flight"], ds["p-done"], ds["p-again"])
	e.saveAttempt(ds["p-retry"], contracts.TransportStateRetryWait, 1, t0.Add(time.Hour))
	e.saveAttempt(ds["p-dead"], contracts.TransportStateDead, 1, time.Time{})
	e.saveAttempt(ds["p-again"], contracts.TransportStateDead, 1, time.Time{})
	e.deliver(c.ID, ds["p-done"], t0.Add(time.Minute))
	// p-again is cancelled once, then listed again.
	cc := *e.getCase(c.ID)
	if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: &cc, Cancel: []string{ds["p-again"].ID}}); err != nil {
		t.Fatalf("UpdateCase (first cancel): %v", err)
	}
	e.wantState(ds["p-again"].ID, contracts.TransportStateCancelled)
	before := e.counts()

	cc = *e.getCase(c.ID)
	var cancel []string
	for _, d := range all {
		cancel = append(cancel, d.ID)
	}
	cancel = append(cancel, ods[0].ID, "no-such-delivery")
	if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: &cc, Cancel: cancel}); err != nil {
		t.Fatalf("UpdateCase cancelling: %v", err)
	}
	tests := []struct {
		id   string
		want contracts.TransportState
	}{
		{ds["p-pending"].ID, contracts.TransportStateCancelled},
		{ds["p-retry"].ID, contracts.TransportStateCancelled},
		{ds["p-dead"].ID, contracts.TransportStateCancelled},
		{ds["p-flight"].ID, contracts.TransportStateInFlight},
		{ds["p-done"].ID, contracts.TransportStateDelivered},
		{ds["p-again"].ID, contracts.TransportStateCancelled},
		{ods[0].ID, contracts.TransportStatePending}, // of case other
	}
	for _, tt := range tests {
		e.wantState(tt.id, tt.want)
	}
	if got := e.getDelivery(ds["p-done"].ID); got.Ack == nil {
		t.Error("the delivered delivery lost its acknowledgement")
	}
	after := e.counts()
	for st, delta := range map[contracts.TransportState]int{contracts.TransportStateCancelled: 3, contracts.TransportStatePending: -1,
		contracts.TransportStateRetryWait: -1, contracts.TransportStateDead: -1, contracts.TransportStateInFlight: 0,
		contracts.TransportStateDelivered: 0} {
		if after[st]-before[st] != delta {
			t.Errorf("CountByState %s: %d before, %d after, want a change of %d", st, before[st], after[st], delta)
		}
	}
	if got := e.getCase(other.ID).Version; got != 1 {
		t.Errorf("the other case: Version %d, want 1 (untouched)", got)
	}
}

// testHeldUntil: a delivery held until gateway.HeldUntil is stored and
// read back with that NextAt exactly, is never due (ClaimDue in 2262,
// NextDue), holds back the later deliveries of its case
// to its partner, and once cancelled lets its successor go.
func testHeldUntil(t *testing.T, e *env) {
	c := newCase()
	held := newDelivery(c, wucheng, gateway.HeldUntil)
	e.create(c, held)
	if got := e.getDelivery(held.ID); !got.NextAt.Equal(gateway.HeldUntil) || got.State != contracts.TransportStatePending {
		t.Fatalf("held delivery read back: NextAt %s State %s, want %s exactly, pending", got.NextAt, got.State, gateway.HeldUntil)
	}
	if ds := e.deliveries(c.ID); len(ds) != 1 || !ds[0].NextAt.Equal(gateway.HeldUntil) {
		t.Fatalf("Deliveries: %v", deliveryIDs(ds))
	}
	last := time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC) // months before Unix nanoseconds end
	if got := e.claim(last, time.Minute, 10); len(got) != 0 {
		t.Errorf("ClaimDue at %s: %v, want the held delivery left", last, got)
	}
	if at, ok, err := e.s.NextDue(t.Context()); err != nil || ok {
		t.Errorf("NextDue with only a held delivery: %s, %v, %v; want none", at, ok, err)
	}

	// Its successor waits behind it, to the same partner; another
	// partner's delivery of the case does not.
	after, aside := newDelivery(c, wucheng, t0), newDelivery(c, chiping, t0)
	cc := *e.getCase(c.ID)
	if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: &cc, Enqueue: []*gateway.Delivery{after, aside}}); err != nil {
		t.Fatal(err)
	}
	if at, ok, err := e.s.NextDue(t.Context()); err != nil || !ok || !ms(at).Equal(t0) {
		t.Errorf("NextDue with due deliveries: %s, %v, %v; want %s", at, ok, err, t0)
	}
	e.mustClaim(now, time.Minute, aside)

	// Released: cancelled, its successor goes.
	cc = *e.getCase(c.ID)
	if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: &cc, Cancel: []string{held.ID}}); err != nil {
		t.Fatal(err)
	}
	got := e.getDelivery(held.ID)
	if got.State != contracts.TransportStateCancelled || !got.NextAt.Equal(gateway.HeldUntil) {
		t.Errorf("released delivery: State %s NextAt %s, want cancelled, NextAt kept", got.State, got.NextAt)
	}
	e.mustClaim(now, time.Minute, after)
}
