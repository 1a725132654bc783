// Package storetest is the shared test suite of gateway.Store: every store
// implementation runs it from its own tests, the way Vault's physical
// backends share one suite.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) gateway.Store {
//			s, err := mystore.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The suite checks every promise of the gateway.Store contract, grouped by
// the store's roles (Roles; RunRole runs one). It needs
// times to round-trip to the millisecond: it compares instants with Equal
// after Truncate(time.Millisecond) (locations need not survive), and every
// time it uses in a due rule is a whole millisecond. It never sleeps: clocks
// are explicit arguments, and concurrency is awaited with channels.
package storetest

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// The roles of gateway.Store the suite checks, one group of tests each:
// a store (or a test run with -run 'TestStore/Outbox/') can be checked
// role by role. Every test opens a whole store, since seeding one role
// takes another's writes (a delivery belongs to a case).
const (
	RoleCases    = "Cases"    // gateway.CaseStore
	RoleOutbox   = "Outbox"   // gateway.OutboxStore
	RoleMailbox  = "Mailbox"  // gateway.MailboxStore
	RoleUsage    = "Usage"    // gateway.UsageStore
	RoleEvidence = "Evidence" // gateway.EvidenceLog
	RoleAudit    = "Audit"    // gateway.AuditReader
)

// Roles lists the roles in the order Run checks them.
var Roles = []string{RoleCases, RoleOutbox, RoleMailbox, RoleUsage, RoleEvidence, RoleAudit}

// test is one test of the suite: on a fresh store (env), or given open
// when it opens stores itself (a table with a store per row).
type test struct {
	name string
	fn   func(t *testing.T, e *env)
	open func(t *testing.T, open func(t *testing.T) gateway.Store)
}

// suite is every test, by role.
var suite = map[string][]test{
	RoleCases: {
		{name: "CreateCase/RoundTrip", fn: testCreateRoundTrip},
		{name: "CreateCase/DuplicateExchange", fn: testCreateDuplicateExchange},
		{name: "CreateCase/SameExchangeIDOtherSender", fn: testCreateOtherSender},
		{name: "GetExchange/Bytes", fn: testExchangeBytes},
		{name: "CaseByOwnerCaseNo", fn: testCaseByOwnerCaseNo},
		{name: "GetExchange/ReceiptType", fn: testReceiptType},
		{name: "NotFound", fn: testNotFound},
		{name: "UpdateCase/Applies", fn: testUpdateApplies},
		{name: "UpdateCase/Stale", fn: testUpdateStale},
		{name: "UpdateCase/NotFound", fn: testUpdateNotFound},
		{name: "UpdateCase/DuplicateExchange", fn: testUpdateDuplicateExchange},
		{name: "UpdateCase/DeliveredRoundTrip", fn: testDelivered},
		{name: "UpdateCase/DeliveredUnknown", fn: testDeliveredUnknown},
		{name: "UpdateCase/OutOfBand", fn: testOutOfBand},
		{name: "UpdateCase/FreeOwnerCaseNo", fn: testFreeOwnerCaseNo},
		{name: "History/Order", fn: testHistoryOrder},
		{name: "Deliveries/SeqOrder", fn: testDeliveriesOrder},
		{name: "Concurrent/CreateCase", fn: testConcurrentCreate},
		{name: "Concurrent/UpdateCaseSameVersion", fn: testConcurrentUpdate},
		{name: "CaseAdmin/RoundTrip", fn: testCaseAdminRoundTrip},
		{name: "AlarmsDue", fn: testAlarmsDue},
		{name: "BundleParts", fn: testBundleParts},
		{name: "Also/Applies", fn: testAlsoApplies},
		{name: "Also/AllOrNothing", fn: testAlsoAllOrNothing},
		{name: "Also/Refused", fn: testAlsoRefused},
		{name: "Cancel/States", fn: testCancelStates},
	},
	RoleOutbox: {
		{name: "ClaimDue/DueRules", fn: testClaimDueRules},
		{name: "ClaimDue/DueRulesEach", open: testClaimDueEach},
		{name: "ClaimDue/LeaseHeld", fn: testClaimLeaseHeld},
		{name: "ClaimDue/TakenOverOnce", fn: testClaimTakenOverOnce},
		{name: "ClaimDue/LimitAndSeqOrder", fn: testClaimLimit},
		{name: "ClaimDue/PerCaseOrder", fn: testClaimPerCaseOrder},
		{name: "ClaimDue/PerCaseOrderOtherPartner", fn: testClaimOtherPartner},
		{name: "ClaimDue/PerCaseOrderNotDueBlocks", fn: testClaimNotDueBlocks},
		{name: "ClaimDue/Concurrent", fn: testClaimConcurrent},
		{name: "ClaimDue/NoCaseIndependent", fn: testUsageClaimIndependent},
		{name: "ClaimDue/EmptyWritesNothing", fn: testClaimEmptyWritesNothing},
		{name: "NextClaim/PerCaseOrder", fn: testNextClaimPerCaseOrder},
		{name: "NextClaim/DueRules", fn: testNextClaimDueRules},
		{name: "NextClaim/Fenced", open: testNextClaimFenced},
		{name: "ClaimDue/CarriesCase", fn: testClaimCarriesCase},
		{name: "NextDue", fn: testNextDue},
		{name: "HeldUntil", fn: testHeldUntil},
		{name: "SaveAttempt", fn: testSaveAttempt},
		{name: "Fence/SameClaimConcurrent", fn: testFenceSameClaimConcurrent},
		{name: "Fence/ExpiredLease", open: testFenceExpiredLease},
		{name: "Fence/NotTheCallersClaim", open: testFenceStates},
		{name: "MarkDelivered", fn: testMarkDelivered},
		{name: "MarkDelivered/SameClaimConcurrent", fn: testMarkDeliveredConcurrent},
		{name: "MarkDelivered/NotTheCallersClaim", open: testMarkDeliveredFenced},
		{name: "MarkDeliveredAll", fn: testMarkDeliveredAll},
		{name: "MarkDeliveredAll/OutOfBand", fn: testMarkDeliveredAllOutOfBand},
		{name: "MarkDeliveredAll/SameClaimConcurrent", fn: testMarkDeliveredAllConcurrent},
		{name: "Redeliver", fn: testRedeliver},
		{name: "RedeliverDead", fn: testRedeliverDead},
		{name: "CountByState", fn: testCountByState},
		{name: "ListDeliveries", fn: testListDeliveries},
	},
	RoleMailbox: {
		{name: "SetPullPartners/NotClaimed", fn: testPullNotClaimed},
		{name: "ClaimMailbox", fn: testClaimMailbox},
		{name: "ClaimMailbox/PerCaseOrder", fn: testClaimMailboxPerCaseOrder},
		{name: "ClaimMailbox/Offers", fn: testClaimMailboxOffers},
	},
	RoleUsage: {
		{name: "AddUsage/RoundTrip", fn: testAddUsageRoundTrip},
		{name: "AddUsage/Atomic", fn: testAddUsageAtomic},
		{name: "ListUsage/Filters", fn: testListUsageFilters},
		{name: "ListUsage/Pages", fn: testListUsagePages},
		{name: "ListUsage/TimeBounds", fn: testListUsageTimeBounds},
		{name: "ListUsage/Limit", fn: testListUsageLimit},
	},
	RoleEvidence: {
		{name: "Append", fn: testAppendEvidence},
		{name: "Atomic", fn: testEvidenceAtomic},
		{name: "Writes", fn: testEvidenceWrites},
		{name: "Concurrent", fn: testEvidenceConcurrent},
		{name: "Checkpoints", fn: testCheckpoints},
	},
	RoleAudit: {
		{name: "SearchExchanges", fn: testSearchExchanges},
		{name: "SearchExchanges/CaseClock", fn: testSearchCaseClock},
	},
}

// Run runs the whole suite, role by role. open must return a new, empty
// store each time it is called; the suite closes every store it gets.
func Run(t *testing.T, open func(t *testing.T) gateway.Store) {
	for _, role := range Roles {
		t.Run(role, func(t *testing.T) { RunRole(t, role, open) })
	}
}

// RunRole runs the tests of one role (one of Roles).
func RunRole(t *testing.T, role string, open func(t *testing.T) gateway.Store) {
	tests, ok := suite[role]
	if !ok {
		t.Fatalf("storetest: no role %q; the roles are %v", role, Roles)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.open != nil {
				tt.open(t, open)
				return
			}
			tt.fn(t, newEnv(t, open))
		})
	}
}

func testCreateRoundTrip(t *testing.T, e *env) {
	c := newCase()
	// Sub-millisecond parts and a non-UTC zone: the store must keep the
	// instant to the millisecond.
	c.CreatedAt = time.Date(2026, 3, 2, 17, 30, 1, 123456789, cst)
	c.UpdatedAt = c.CreatedAt.Add(time.Microsecond)
	x := exchangeFor(c)
	x.ReceivedAt = c.CreatedAt
	st := statusFor(c, contracts.CaseStateReceived, c.CreatedAt)
	st.Reason, st.Outcome = "reason", contracts.OutcomeApproved
	d1 := newDelivery(c, wucheng, t0.Add(-time.Hour))
	d2 := newDelivery(c, chiping, time.Time{})
	d2.Kind, d2.Attempts, d2.LastError = contracts.DeliveryKindStatus, 0, ""
	want := *c
	if err := e.s.CreateCase(t.Context(), gateway.Change{Case: c, Exchange: x, Status: st, Enqueue: []*gateway.Delivery{d1, d2}}); err != nil {
		t.Fatalf("CreateCase: %v", err)
	}
	if c.Version != 1 {
		t.Errorf("Case.Version after CreateCase: got %d, want 1", c.Version)
	}
	want.Version = 1
	sameCase(t, "GetCase", e.getCase(c.ID), &want)

	gx, err := e.s.GetExchange(t.Context(), x.Sender, x.ExchangeID)
	if err != nil {
		t.Fatalf("GetExchange: %v", err)
	}
	sameExchange(t, "GetExchange", gx, x)

	if got, want := e.history(c.ID), []gateway.Status{*st}; len(got) != 1 || !reflect.DeepEqual(normStatus(got[0]), normStatus(want[0])) {
		t.Errorf("History:\ngot  %+v\nwant %+v", got, want)
	}

	if d1.Seq <= 0 || d2.Seq <= d1.Seq {
		t.Errorf("Seq after CreateCase: got %d, %d, want 0 < first < second", d1.Seq, d2.Seq)
	}
	for _, d := range []*gateway.Delivery{d1, d2} {
		if d.State != contracts.TransportStatePending {
			t.Errorf("enqueued %s: got State %q, want pending", d.ID, d.State)
		}
	}
	ds := e.deliveries(c.ID)
	if len(ds) != 2 {
		t.Fatalf("Deliveries: got %d, want 2", len(ds))
	}
	for i, want := range []*gateway.Delivery{d1, d2} {
		sameDelivery(t, "Deliveries["+want.ID+"]", ds[i], want)
		sameDelivery(t, "GetDelivery("+want.ID+")", e.getDelivery(want.ID), want)
	}
}

func testCreateDuplicateExchange(t *testing.T, e *env) {
	first, _ := e.caseWith(t0, wucheng)
	before := e.counts()

	c := newCase()
	c.ExchangeID = first.ExchangeID
	x := exchangeFor(c) // same sender and exchange id, other bytes
	d1, d2 := newDelivery(c, wucheng, t0), newDelivery(c, chiping, t0)
	err := e.s.CreateCase(t.Context(), gateway.Change{
		Case: c, Exchange: x, Status: statusFor(c, contracts.CaseStateReceived, t0),
		Enqueue: []*gateway.Delivery{d1, d2},
	})
	wantErr(t, "CreateCase with a stored exchange", err, gateway.ErrDuplicateExchange)

	_, err = e.s.GetCase(t.Context(), c.ID)
	wantErr(t, "GetCase of the refused case", err, gateway.ErrNotFound)
	if c.Version != 0 {
		t.Errorf("Case.Version after refused CreateCase: got %d, want 0", c.Version)
	}
	for _, d := range []*gateway.Delivery{d1, d2} {
		_, err := e.s.GetDelivery(t.Context(), d.ID)
		wantErr(t, "GetDelivery of a refused delivery", err, gateway.ErrNotFound)
	}
	if h, err := e.s.History(t.Context(), c.ID); len(h) != 0 || (err != nil && !errors.Is(err, gateway.ErrNotFound)) {
		t.Errorf("History of the refused case: got %v, %v, want none", h, err)
	}
	if ds, err := e.s.Deliveries(t.Context(), c.ID); len(ds) != 0 || (err != nil && !errors.Is(err, gateway.ErrNotFound)) {
		t.Errorf("Deliveries of the refused case: got %d, %v, want none", len(ds), err)
	}
	if got := e.counts(); !sameCounts(got, before) {
		t.Errorf("CountByState after refused CreateCase: got %v, want %v", got, before)
	}
	gx, err := e.s.GetExchange(t.Context(), first.Sender, first.ExchangeID)
	if err != nil {
		t.Fatalf("GetExchange: %v", err)
	}
	sameExchange(t, "the first exchange", gx, exchangeFor(first))
}

func testCreateOtherSender(t *testing.T, e *env) {
	first, _ := e.caseWith(t0, wucheng)
	c := newCase()
	c.ExchangeID, c.Sender = first.ExchangeID, chiping
	e.create(c, newDelivery(c, wucheng, t0))
	for _, sender := range []string{zhonglou, chiping} {
		x, err := e.s.GetExchange(t.Context(), sender, first.ExchangeID)
		if err != nil {
			t.Fatalf("GetExchange(%s): %v", sender, err)
		}
		if x.Sender != sender {
			t.Errorf("GetExchange(%s): got sender %s", sender, x.Sender)
		}
	}
}

func testExchangeBytes(t *testing.T, e *env) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name string
		body []byte
	}{
		{"json with CJK", []byte(`{"applicant":{"name":"张三"},"remark":"跨省通办"}` + "\n")},
		{"every byte value", all},
		{"trailing zeros", []byte{'{', '}', 0, 0}},
		{"one MiB", big},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCase()
			x := exchangeFor(c)
			x.Body = tt.body
			x.Signature = append([]byte{0x30}, tt.body[:min(len(tt.body), 70)]...)
			x.Receipt = append(slices.Clone(tt.body), 'r')
			x.ReceiptSig = []byte{0x30, 0x44, 0x00, 0x00}
			if err := e.s.CreateCase(t.Context(), gateway.Change{Case: c, Exchange: x}); err != nil {
				t.Fatalf("CreateCase: %v", err)
			}
			got, err := e.s.GetExchange(t.Context(), x.Sender, x.ExchangeID)
			if err != nil {
				t.Fatalf("GetExchange: %v", err)
			}
			sameExchange(t, "GetExchange", got, x)
		})
	}
}

// testCaseByOwnerCaseNo checks the lookup of an owner's case by its case
// number: only that owner's, never by an empty number, the lowest id when
// several hold it, and a number set by UpdateCase is found at once.
func testCaseByOwnerCaseNo(t *testing.T, e *env) {
	ctx := t.Context()
	a, b, other := newCase(), newCase(), newCase()
	a.OwnerCaseNo, b.OwnerCaseNo = "WC-2026-000042", "WC-2026-000042"
	other.Owner, other.ToRegion, other.OwnerCaseNo = chiping, chiping, "WC-2026-000043"
	e.create(a)
	e.create(b)
	e.create(other)
	first := min(a.ID, b.ID)
	tests := []struct {
		owner, no string
		want      string // case id; "" for ErrNotFound
	}{
		{wucheng, "WC-2026-000042", first},
		{chiping, "WC-2026-000042", ""},
		{chiping, "WC-2026-000043", other.ID},
		{wucheng, "WC-2026-000043", ""},
		{wucheng, "", ""},
		{wucheng, "wc-2026-000042", ""},
	}
	for _, tt := range tests {
		c, err := e.s.CaseByOwnerCaseNo(ctx, tt.owner, tt.no)
		switch {
		case tt.want == "":
			wantErr(t, "CaseByOwnerCaseNo("+tt.owner+", "+tt.no+")", err, gateway.ErrNotFound)
		case err != nil:
			t.Errorf("CaseByOwnerCaseNo(%s, %s): %v", tt.owner, tt.no, err)
		case c.ID != tt.want || c.OwnerCaseNo != tt.no || c.Owner != tt.owner:
			t.Errorf("CaseByOwnerCaseNo(%s, %s): got case %s of %s numbered %q, want %s", tt.owner, tt.no, c.ID, c.Owner, c.OwnerCaseNo, tt.want)
		}
	}
	// A case without a number is never found by "", and one numbered by
	// an update is found by its number.
	c, _ := e.caseWith(t0)
	if _, err := e.s.CaseByOwnerCaseNo(ctx, wucheng, ""); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("CaseByOwnerCaseNo(%s, \"\"): got %v, want ErrNotFound", wucheng, err)
	}
	ch, _ := updateChange(c, t0.Add(time.Minute))
	ch.Case.OwnerCaseNo = "WC-2026-000099"
	if err := e.s.UpdateCase(ctx, ch); err != nil {
		t.Fatalf("UpdateCase: %v", err)
	}
	if got, err := e.s.CaseByOwnerCaseNo(ctx, wucheng, "WC-2026-000099"); err != nil || got.ID != c.ID {
		t.Errorf("CaseByOwnerCaseNo after UpdateCase: got %v, %v, want case %s", got, err, c.ID)
	}
}

func testNotFound(t *testing.T, e *env) {
	e.caseWith(t0, wucheng)
	_, err := e.s.GetCase(t.Context(), "no-such-case")
	wantErr(t, "GetCase", err, gateway.ErrNotFound)
	_, err = e.s.GetExchange(t.Context(), zhonglou, "no-such-exchange")
	wantErr(t, "GetExchange", err, gateway.ErrNotFound)
	_, err = e.s.GetDelivery(t.Context(), "no-such-delivery")
	wantErr(t, "GetDelivery", err, gateway.ErrNotFound)
	// An unknown case has no history and no deliveries; saying ErrNotFound
	// is allowed too.
	if h, err := e.s.History(t.Context(), "no-such-case"); len(h) != 0 || (err != nil && !errors.Is(err, gateway.ErrNotFound)) {
		t.Errorf("History: got %v, %v, want none", h, err)
	}
	if ds, err := e.s.Deliveries(t.Context(), "no-such-case"); len(ds) != 0 || (err != nil && !errors.Is(err, gateway.ErrNotFound)) {
		t.Errorf("Deliveries: got %v, %v, want none", ds, err)
	}
}

// updateChange returns a change that accepts c, with a status exchange
// from the owner, a history entry and a status delivery to the sender.
func updateChange(c *gateway.Case, at time.Time) (gateway.Change, *gateway.Delivery) {
	u := *c
	u.State, u.OwnerCaseNo, u.UpdatedAt = contracts.CaseStateAccepted, "WC-2026-0001", at
	x := exchangeFor(&u)
	x.Sender, x.ExchangeID, x.Kind, x.KeyID = u.Owner, newID("ex"), gateway.ExchangeStatus, u.Owner
	st := statusFor(&u, contracts.CaseStateAccepted, at)
	st.ExchangeID, st.ReportedBy = x.ExchangeID, u.Owner
	d := newDelivery(&u, u.Sender, at)
	d.Kind = contracts.DeliveryKindStatus
	return gateway.Change{Case: &u, Exchange: x, Status: st, Enqueue: []*gateway.Delivery{d}}, d
}

func testUpdateApplies(t *testing.T, e *env) {
	c, ds := e.caseWith(t0, wucheng)
	ch, d := updateChange(c, t0.Add(time.Minute))
	want := *ch.Case
	if err := e.s.UpdateCase(t.Context(), ch); err != nil {
		t.Fatalf("UpdateCase: %v", err)
	}
	if ch.Case.Version != 2 {
		t.Errorf("Case.Version after UpdateCase: got %d, want 2", ch.Case.Version)
	}
	want.Version = 2
	sameCase(t, "GetCase", e.getCase(c.ID), &want)
	if h := e.history(c.ID); len(h) != 2 || !reflect.DeepEqual(normStatus(h[1]), normStatus(*ch.Status)) {
		t.Errorf("History: got %+v, want the received entry then %+v", h, *ch.Status)
	}
	if d.Seq <= ds[0].Seq {
		t.Errorf("Seq of the enqueued delivery: got %d, want more than %d", d.Seq, ds[0].Seq)
	}
	sameDelivery(t, "GetDelivery", e.getDelivery(d.ID), d)
	x, err := e.s.GetExchange(t.Context(), ch.Exchange.Sender, ch.Exchange.ExchangeID)
	if err != nil {
		t.Fatalf("GetExchange: %v", err)
	}
	sameExchange(t, "GetExchange", x, ch.Exchange)

	// The updated Version is the one to use next.
	ch2, _ := updateChange(ch.Case, t0.Add(2*time.Minute))
	if err := e.s.UpdateCase(t.Context(), ch2); err != nil {
		t.Fatalf("second UpdateCase: %v", err)
	}
	if got := e.getCase(c.ID).Version; got != 3 {
		t.Errorf("Version after two updates: got %d, want 3", got)
	}
}

// wantUnchanged fails unless case c still has version, history entries
// and deliveries as given.
func (e *env) wantUnchanged(c *gateway.Case, version int64, history, deliveries int) {
	e.t.Helper()
	if got := e.getCase(c.ID); got.Version != version || got.State != c.State {
		e.t.Errorf("GetCase: got version %d state %s, want %d %s", got.Version, got.State, version, c.State)
	}
	if got := len(e.history(c.ID)); got != history {
		e.t.Errorf("History: got %d entries, want %d", got, history)
	}
	if got := len(e.deliveries(c.ID)); got != deliveries {
		e.t.Errorf("Deliveries: got %d, want %d", got, deliveries)
	}
}

func testUpdateStale(t *testing.T, e *env) {
	c, _ := e.caseWith(t0, wucheng)
	ok, _ := updateChange(c, t0.Add(time.Minute))
	if err := e.s.UpdateCase(t.Context(), ok); err != nil {
		t.Fatalf("UpdateCase: %v", err)
	}
	for _, version := range []int64{1, 3, 0} {
		stale := *c
		stale.Version = version
		ch, d := updateChange(&stale, t0.Add(2*time.Minute))
		ch.Case.State = contracts.CaseStateRejected
		err := e.s.UpdateCase(t.Context(), ch)
		wantErr(t, "UpdateCase with a stale version", err, gateway.ErrStale)
		if ch.Case.Version != version {
			t.Errorf("Case.Version after ErrStale: got %d, want %d", ch.Case.Version, version)
		}
		_, err = e.s.GetDelivery(t.Context(), d.ID)
		wantErr(t, "GetDelivery of the refused delivery", err, gateway.ErrNotFound)
		_, err = e.s.GetExchange(t.Context(), ch.Exchange.Sender, ch.Exchange.ExchangeID)
		wantErr(t, "GetExchange of the refused exchange", err, gateway.ErrNotFound)
		e.wantUnchanged(ok.Case, 2, 2, 2)
	}
}

func testUpdateNotFound(t *testing.T, e *env) {
	c := newCase()
	c.Version = 1
	ch, _ := updateChange(c, t0)
	err := e.s.UpdateCase(t.Context(), ch)
	wantErr(t, "UpdateCase of an unknown case", err, gateway.ErrNotFound)
	_, err = e.s.GetExchange(t.Context(), ch.Exchange.Sender, ch.Exchange.ExchangeID)
	wantErr(t, "GetExchange of the refused exchange", err, gateway.ErrNotFound)
}

func testUpdateDuplicateExchange(t *testing.T, e *env) {
	c, _ := e.caseWith(t0, wucheng)
	ch, d := updateChange(c, t0.Add(time.Minute))
	ch.Exchange = exchangeFor(c) // already stored by CreateCase
	err := e.s.UpdateCase(t.Context(), ch)
	wantErr(t, "UpdateCase with a stored exchange", err, gateway.ErrDuplicateExchange)
	if ch.Case.Version != 1 {
		t.Errorf("Case.Version after ErrDuplicateExchange: got %d, want 1", ch.Case.Version)
	}
	_, err = e.s.GetDelivery(t.Context(), d.ID)
	wantErr(t, "GetDelivery of the refused delivery", err, gateway.ErrNotFound)
	e.wantUnchanged(c, 1, 1, 1)
	if got := e.counts()[contracts.TransportStatePending]; got != 1 {
		t.Errorf("CountByState pending: got %d, want 1", got)
	}
}

func testDelivered(t *testing.T, e *env) {
	c, ds := e.caseWith(t0, wucheng)
	e.mustClaim(t0, time.Minute, ds[0])
	at := time.Date(2026, 3, 2, 17, 31, 0, 987654321, cst)
	done := e.deliver(c.ID, ds[0], at)
	got := e.getDelivery(ds[0].ID)
	want := *ds[0]
	want.State = contracts.TransportStateDelivered
	want.Attempts, want.DeliveredAt = 1, at
	want.Ack, want.AckBody, want.AckSig = done.Ack, done.AckBody, done.AckSig
	// The lease is not part of the promise; take the store's value.
	want.LeaseUntil = got.LeaseUntil
	sameDelivery(t, "GetDelivery after delivery", got, &want)
	if got := e.getCase(c.ID); got.Version != 2 || got.State != contracts.CaseStateForwarded || got.OwnerCaseNo != "WC-"+c.ID {
		t.Errorf("GetCase: got version %d state %s owner case no %q, want 2 forwarded %q", got.Version, got.State, got.OwnerCaseNo, "WC-"+c.ID)
	}
	if got := e.counts(); got[contracts.TransportStateDelivered] != 1 || got[contracts.TransportStateInFlight] != 0 {
		t.Errorf("CountByState: got %v, want 1 delivered", got)
	}
}

func testDeliveredUnknown(t *testing.T, e *env) {
	c, ds := e.caseWith(t0, wucheng)
	u := *c
	u.State = contracts.CaseStateForwarded
	ghost := *ds[0]
	ghost.ID = "no-such-delivery"
	extra := newDelivery(c, chiping, t0)
	ch := gateway.Change{Case: &u, Status: statusFor(c, contracts.CaseStateForwarded, t0), Enqueue: []*gateway.Delivery{extra}, Delivered: &ghost}
	err := e.s.UpdateCase(t.Context(), ch)
	wantErr(t, "UpdateCase delivering an unknown delivery", err, gateway.ErrNotFound)
	e.wantUnchanged(c, 1, 1, 1)
}

func testHistoryOrder(t *testing.T, e *env) {
	c, _ := e.caseWith(t0, wucheng)
	states := []contracts.CaseState{
		contracts.CaseStateForwarded, contracts.CaseStateAccepted, contracts.CaseStateInProgress,
		contracts.CaseStateConcluded, contracts.CaseStateDispatched, contracts.CaseStateDelivered,
	}
	want := e.history(c.ID)
	for i, s := range states {
		c.State = s
		st := statusFor(c, s, t0.Add(time.Duration(i+1)*time.Minute))
		if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: c, Status: st}); err != nil {
			t.Fatalf("UpdateCase to %s: %v", s, err)
		}
		want = append(want, *st)
	}
	got := e.history(c.ID)
	if len(got) != len(want) {
		t.Fatalf("History: got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if g, w := normStatus(got[i]), normStatus(want[i]); !reflect.DeepEqual(g, w) {
			t.Errorf("History[%d]: got %+v, want %+v", i, g, w)
		}
	}
}

func testDeliveriesOrder(t *testing.T, e *env) {
	c, want := e.caseWith(t0, wucheng, chiping)
	other, _ := e.caseWith(t0, wucheng) // interleaves seqs
	for i := range 3 {
		d := newDelivery(c, zhonglou, t0.Add(-time.Duration(i)*time.Hour))
		if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: c, Enqueue: []*gateway.Delivery{d}}); err != nil {
			t.Fatalf("UpdateCase: %v", err)
		}
		want = append(want, d)
		e.caseWith(t0, wucheng)
	}
	got := e.deliveries(c.ID)
	if len(got) != len(want) {
		t.Fatalf("Deliveries: got %d, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Seq != want[i].Seq {
			t.Errorf("Deliveries[%d]: got %s seq %d, want %s seq %d", i, got[i].ID, got[i].Seq, want[i].ID, want[i].Seq)
		}
		if i > 0 && got[i].Seq <= got[i-1].Seq {
			t.Errorf("Deliveries[%d]: seq %d after %d", i, got[i].Seq, got[i-1].Seq)
		}
	}
	if got := e.deliveries(other.ID); len(got) != 1 {
		t.Errorf("Deliveries of another case: got %d, want 1", len(got))
	}
}

// now is the clock of the ClaimDue tests.
var now = t0.Add(24 * time.Hour)

// testClaimDueEach checks each due rule on a store holding only the one
// delivery, brought to its state through the Store's own methods.
func testClaimDueEach(t *testing.T, open func(t *testing.T) gateway.Store) {
	const lease = 5 * time.Minute
	tests := []struct {
		name  string
		setup func(e *env) *gateway.Delivery
		due   bool
		// takenOver: claimed from in_flight, so ClaimDue sets TakenOver.
		takenOver bool
	}{
		{"pending due before now", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now.Add(-time.Second), wucheng)
			return ds[0]
		}, true, false},
		{"pending due exactly now", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now, wucheng)
			return ds[0]
		}, true, false},
		{"pending with zero NextAt", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(time.Time{}, wucheng)
			return ds[0]
		}, true, false},
		{"pending due later", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now.Add(time.Millisecond), wucheng)
			return ds[0]
		}, false, false},
		{"retry_wait due", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now.Add(-time.Hour), lease, ds[0])
			e.saveAttempt(ds[0], contracts.TransportStateRetryWait, 1, now.Add(-time.Millisecond))
			return ds[0]
		}, true, false},
		{"retry_wait due exactly now", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now.Add(-time.Hour), lease, ds[0])
			e.saveAttempt(ds[0], contracts.TransportStateRetryWait, 1, now)
			return ds[0]
		}, true, false},
		{"retry_wait due later", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now.Add(-time.Hour), lease, ds[0])
			e.saveAttempt(ds[0], contracts.TransportStateRetryWait, 1, now.Add(time.Millisecond))
			return ds[0]
		}, false, false},
		{"in_flight with expired lease", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now.Add(-10*time.Minute), lease, ds[0])
			return ds[0]
		}, true, true},
		{"in_flight with lease ending now", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now.Add(-lease), lease, ds[0])
			return ds[0]
		}, true, true},
		{"in_flight with lease held", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now.Add(-lease+time.Millisecond), lease, ds[0])
			return ds[0]
		}, false, false},
		{"dead", func(e *env) *gateway.Delivery {
			_, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now.Add(-time.Hour), lease, ds[0])
			e.saveAttempt(ds[0], contracts.TransportStateDead, 8, now.Add(-time.Hour))
			return ds[0]
		}, false, false},
		{"delivered", func(e *env) *gateway.Delivery {
			c, ds := e.caseWith(now.Add(-time.Hour), wucheng)
			e.mustClaim(now.Add(-time.Hour), lease, ds[0])
			e.deliver(c.ID, ds[0], now.Add(-time.Hour))
			return ds[0]
		}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, open)
			d := tt.setup(e)
			before := e.getDelivery(d.ID)
			got, err := e.s.ClaimDue(t.Context(), now, lease, 10)
			if err != nil {
				t.Fatalf("ClaimDue: %v", err)
			}
			if claimed := len(got) == 1 && got[0].ID == d.ID; claimed != tt.due || len(got) > 1 {
				t.Fatalf("ClaimDue: got %d deliveries (claimed=%v), want claimed=%v", len(got), claimed, tt.due)
			}
			after := e.getDelivery(d.ID)
			if !tt.due {
				sameDelivery(t, "delivery not claimed", after, before)
				return
			}
			want := *before
			want.State, want.LeaseUntil = contracts.TransportStateInFlight, now.Add(lease)
			sameDelivery(t, "GetDelivery after ClaimDue", after, &want)
			if after.TakenOver {
				t.Errorf("GetDelivery after ClaimDue: TakenOver set; only ClaimDue's answer carries it")
			}
			want.TakenOver = tt.takenOver
			sameDelivery(t, "returned by ClaimDue", got[0], &want)
			if got[0].TakenOver != tt.takenOver {
				t.Errorf("returned by ClaimDue: TakenOver %v, want %v", got[0].TakenOver, tt.takenOver)
			}
		})
	}
}

// testClaimDueRules checks the due rules together on one store.
func testClaimDueRules(t *testing.T, e *env) {
	const lease = time.Minute
	_, early := e.caseWith(now.Add(-time.Hour), wucheng)
	_, late := e.caseWith(now.Add(time.Hour), wucheng)
	_, retry := e.caseWith(now.Add(-2*time.Hour), wucheng)
	_, dead := e.caseWith(now.Add(-2*time.Hour), wucheng)
	e.mustClaim(now.Add(-2*time.Hour), lease, retry[0], dead[0])
	e.saveAttempt(retry[0], contracts.TransportStateRetryWait, 1, now.Add(-time.Minute))
	e.saveAttempt(dead[0], contracts.TransportStateDead, 1, now.Add(-time.Minute))
	e.mustClaim(now, lease, early[0], retry[0])
	e.mustClaim(now.Add(lease-time.Millisecond), lease)
	e.mustClaim(now.Add(lease), lease, early[0], retry[0])
	e.mustClaim(now.Add(time.Hour), lease, early[0], late[0], retry[0])
}

// testClaimTakenOverOnce checks that TakenOver says whether this claim
// took the delivery from an expired in_flight lease: set on the takeover,
// cleared again on a later claim from retry_wait.
func testClaimTakenOverOnce(t *testing.T, e *env) {
	const lease = time.Minute
	_, ds := e.caseWith(now.Add(-time.Hour), wucheng)
	claims := []struct {
		at        time.Time
		takenOver bool
	}{
		{now.Add(-time.Hour), false},                              // pending
		{now.Add(-time.Hour + lease), true},                       // its lease expired: a crashed attempt
		{now.Add(-time.Hour + 2*lease), true},                     // and again
		{now.Add(-time.Hour + 2*lease + time.Millisecond), false}, // retry_wait, after the attempt below
	}
	for i, c := range claims {
		if i == 3 {
			e.saveAttempt(ds[0], contracts.TransportStateRetryWait, 1, c.at)
		}
		got := e.claimed(c.at, lease, 10)
		if len(got) != 1 || got[0].ID != ds[0].ID {
			t.Fatalf("claim %d: got %d deliveries, want %s", i, len(got), ds[0].ID)
		}
		if got[0].TakenOver != c.takenOver {
			t.Errorf("claim %d: TakenOver %v, want %v", i, got[0].TakenOver, c.takenOver)
		}
		ds[0].State, ds[0].LeaseUntil = got[0].State, got[0].LeaseUntil
	}
}

func testClaimLeaseHeld(t *testing.T, e *env) {
	_, ds := e.caseWith(now.Add(-time.Second), wucheng)
	e.mustClaim(now, time.Minute, ds[0])
	e.mustClaim(now, time.Minute)
	e.mustClaim(now.Add(30*time.Second), time.Minute)
	e.mustClaim(now.Add(time.Minute-time.Millisecond), time.Minute)
	e.mustClaim(now.Add(time.Minute), 2*time.Minute, ds[0])
	if got := e.getDelivery(ds[0].ID).LeaseUntil; !got.Equal(now.Add(3 * time.Minute)) {
		t.Errorf("LeaseUntil after the second claim: got %s, want %s", got, now.Add(3*time.Minute))
	}
}

func testClaimLimit(t *testing.T, e *env) {
	var all []*gateway.Delivery
	for range 5 {
		_, ds := e.caseWith(now.Add(-time.Second), wucheng)
		all = append(all, ds...)
	}
	if got := e.claim(now, time.Minute, 0); len(got) != 0 {
		t.Errorf("ClaimDue with limit 0: got %v, want none", got)
	}
	for _, want := range [][]*gateway.Delivery{all[0:2], all[2:4], all[4:5], nil} {
		ds, err := e.s.ClaimDue(t.Context(), now, time.Minute, 2)
		if err != nil {
			t.Fatalf("ClaimDue: %v", err)
		}
		if len(ds) != len(want) {
			t.Fatalf("ClaimDue(limit 2): got %d, want %d", len(ds), len(want))
		}
		for i := range want {
			if ds[i].ID != want[i].ID || ds[i].Seq != want[i].Seq {
				t.Errorf("ClaimDue(limit 2)[%d]: got %s seq %d, want %s seq %d", i, ds[i].ID, ds[i].Seq, want[i].ID, want[i].Seq)
			}
		}
	}

	// Returned in Seq order even when the later one has been due longer.
	_, first := e.caseWith(now.Add(-time.Second), wucheng)
	_, second := e.caseWith(now.Add(-time.Hour), wucheng)
	e.mustClaim(now, time.Minute, first[0], second[0])
}

func testClaimPerCaseOrder(t *testing.T, e *env) {
	const lease = time.Minute
	c, ds := e.caseWith(now.Add(-time.Second), wucheng, wucheng)
	d1, d2 := ds[0], ds[1]
	oc, other := e.caseWith(now.Add(-time.Second), wucheng) // another case, same partner

	// d2 waits while d1 is pending, in flight, retry_wait or dead.
	e.mustClaim(now, lease, d1, other[0])
	e.deliver(oc.ID, other[0], now)
	e.mustClaim(now, lease)
	e.saveAttempt(d1, contracts.TransportStateRetryWait, 1, now.Add(time.Hour))
	e.mustClaim(now, lease)
	e.mustClaim(now.Add(time.Hour), lease, d1) // the retry, and still not d2
	e.saveAttempt(d1, contracts.TransportStateDead, 2, now)
	e.mustClaim(now, lease)
	if err := e.s.Redeliver(t.Context(), d1.ID, now); err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	e.mustClaim(now, lease, d1)
	// An expired lease hands d1 out again, never d2.
	e.mustClaim(now.Add(lease), lease, d1)
	e.deliver(c.ID, d1, now.Add(lease))
	e.mustClaim(now.Add(lease), lease, d2)

	// Three in a row go one at a time, delivered earlier ones not blocking.
	c3, ds3 := e.caseWith(now, chiping, chiping, chiping)
	for _, d := range ds3 {
		e.mustClaim(now, lease, d)
		e.mustClaim(now, lease)
		e.deliver(c3.ID, d, now)
	}
}

func testClaimOtherPartner(t *testing.T, e *env) {
	const lease = time.Minute
	c, ds := e.caseWith(now.Add(-time.Second), wucheng, zhonglou, wucheng, zhonglou)
	e.mustClaim(now, lease, ds[0], ds[1])
	e.saveAttempt(ds[0], contracts.TransportStateDead, 8, now)
	e.mustClaim(now, lease) // ds[1] in flight, ds[0] dead
	e.deliver(c.ID, ds[1], now)
	e.mustClaim(now, lease, ds[3])
}

func testClaimNotDueBlocks(t *testing.T, e *env) {
	c := newCase()
	later := newDelivery(c, wucheng, now.Add(time.Hour))
	due := newDelivery(c, wucheng, now.Add(-time.Hour))
	e.create(c, later, due)
	e.mustClaim(now, time.Minute)
	e.mustClaim(now.Add(time.Hour), time.Minute, later)
}

func testClaimConcurrent(t *testing.T, e *env) {
	const n, workers, limit = 200, 8, 7
	want := map[string]bool{}
	for i := range n / 4 {
		partners := []string{wucheng, zhonglou, chiping, "310116"}
		_, ds := e.caseWith(now.Add(-time.Duration(i)*time.Second), partners...)
		for _, d := range ds {
			want[d.ID] = true
		}
	}
	claimed := make(chan []*gateway.Delivery, workers)
	errc := make(chan error, workers)
	for range workers {
		go func() {
			var mine []*gateway.Delivery
			for range n { // bounded: a claim that finds nothing ends the loop
				ds, err := e.s.ClaimDue(t.Context(), now, time.Hour, limit)
				if err != nil {
					errc <- err
					claimed <- mine
					return
				}
				if len(ds) == 0 {
					break
				}
				mine = append(mine, ds...)
			}
			errc <- nil
			claimed <- mine
		}()
	}
	seen := map[string]bool{}
	for range workers {
		if err := <-errc; err != nil {
			t.Errorf("ClaimDue: %v", err)
		}
		for _, d := range <-claimed {
			if seen[d.ID] {
				t.Errorf("delivery %s claimed twice", d.ID)
			}
			seen[d.ID] = true
		}
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("claimed %d distinct deliveries, want all %d", len(seen), len(want))
	}
}

func testNextDue(t *testing.T, e *env) {
	check := func(what string, want time.Time, wantOK bool) {
		t.Helper()
		got, ok, err := e.s.NextDue(t.Context())
		if err != nil {
			t.Fatalf("NextDue (%s): %v", what, err)
		}
		if ok != wantOK || (ok && !ms(got).Equal(ms(want))) {
			t.Errorf("NextDue (%s): got %s, %v, want %s, %v", what, got, ok, want, wantOK)
		}
	}
	check("empty store", time.Time{}, false)
	c1, d1 := e.caseWith(t0.Add(3*time.Hour), wucheng)
	_, d2 := e.caseWith(t0.Add(2*time.Hour), wucheng)
	check("two pending", t0.Add(2*time.Hour), true)
	e.mustClaim(t0.Add(2*time.Hour), 30*time.Minute, d2[0])
	check("one in flight", t0.Add(150*time.Minute), true)
	e.saveAttempt(d2[0], contracts.TransportStateRetryWait, 1, t0.Add(time.Hour))
	check("one in retry_wait", t0.Add(time.Hour), true)
	e.mustClaim(t0.Add(time.Hour), 30*time.Minute, d2[0])
	e.saveAttempt(d2[0], contracts.TransportStateDead, 2, t0.Add(time.Hour))
	check("one dead", t0.Add(3*time.Hour), true)
	e.mustClaim(t0.Add(3*time.Hour), time.Minute, d1[0])
	e.deliver(c1.ID, d1[0], t0.Add(3*time.Hour))
	check("delivered and dead", time.Time{}, false)
	// The per-case order rule does not apply: the second delivery is due
	// first even though ClaimDue would not take it.
	c := newCase()
	e.create(c, newDelivery(c, wucheng, t0.Add(5*time.Hour)), newDelivery(c, wucheng, t0.Add(4*time.Hour)))
	check("blocked delivery", t0.Add(4*time.Hour), true)
}

func testSaveAttempt(t *testing.T, e *env) {
	_, ds := e.caseWith(now.Add(-time.Hour), wucheng)
	for i, state := range []contracts.TransportState{contracts.TransportStateRetryWait, contracts.TransportStateDead} {
		// Each attempt is made under a claim of its own.
		e.mustClaim(now.Add(time.Duration(i)*time.Hour), time.Minute, ds[0])
		a := *ds[0]
		a.State, a.Attempts, a.LastError = state, i+3, "partner answered 503: 服务暂停"
		a.NextAt = time.Date(2026, 3, 3, 8, 0, 0, 456789000, cst)
		if err := e.s.SaveAttempt(t.Context(), &a); err != nil {
			t.Fatalf("SaveAttempt(%s): %v", state, err)
		}
		want := a
		want.LeaseUntil = time.Time{}
		sameDelivery(t, "GetDelivery after SaveAttempt("+string(state)+")", e.getDelivery(a.ID), &want)
	}
	ghost := *ds[0]
	ghost.ID, ghost.State = "no-such-delivery", contracts.TransportStateRetryWait
	wantErr(t, "SaveAttempt of an unknown delivery", e.s.SaveAttempt(t.Context(), &ghost), gateway.ErrNotFound)
}

func testRedeliver(t *testing.T, e *env) {
	c, ds := e.caseWith(now.Add(-time.Hour), wucheng, chiping, zhonglou, "310116")
	inFlight, retry, dead, done := ds[0], ds[1], ds[2], ds[3]
	e.mustClaim(now.Add(-time.Hour), time.Minute, inFlight, retry, dead, done)
	e.saveAttempt(retry, contracts.TransportStateRetryWait, 1, now.Add(time.Hour))
	e.saveAttempt(dead, contracts.TransportStateDead, 9, now)
	e.deliver(c.ID, done, now)
	e.mustClaim(now, time.Hour, inFlight)
	pending := newDelivery(c, "610102", now.Add(2*time.Hour))
	if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: e.getCase(c.ID), Enqueue: []*gateway.Delivery{pending}}); err != nil {
		t.Fatalf("UpdateCase: %v", err)
	}

	tests := []struct {
		name string
		id   string
		want error
	}{
		{"unknown", "no-such-delivery", gateway.ErrNotFound},
		{"pending", pending.ID, gateway.ErrNotDead},
		{"in_flight", inFlight.ID, gateway.ErrNotDead},
		{"retry_wait", retry.ID, gateway.ErrNotDead},
		{"delivered", done.ID, gateway.ErrNotDead},
	}
	for _, tt := range tests {
		before, _ := e.s.GetDelivery(t.Context(), tt.id)
		err := e.s.Redeliver(t.Context(), tt.id, now)
		wantErr(t, "Redeliver("+tt.name+")", err, tt.want)
		if before != nil {
			sameDelivery(t, "delivery after refused Redeliver("+tt.name+")", e.getDelivery(tt.id), before)
		}
	}

	if got := e.getDelivery(dead.ID); !ms(got.Since).Equal(ms(got.CreatedAt)) {
		t.Errorf("Since before any redelivery: got %s, want CreatedAt %s", got.Since, got.CreatedAt)
	}
	at := now.Add(2 * time.Minute)
	if err := e.s.Redeliver(t.Context(), dead.ID, at); err != nil {
		t.Fatalf("Redeliver(dead): %v", err)
	}
	got := e.getDelivery(dead.ID)
	if !ms(got.Since).Equal(at) {
		t.Errorf("Since after Redeliver: got %s, want %s (max_age restarts)", got.Since, at)
	}
	if got.State != contracts.TransportStatePending || got.Attempts != 0 || !ms(got.NextAt).Equal(at) || !got.LeaseUntil.IsZero() {
		t.Errorf("after Redeliver: got state %s attempts %d next %s lease %s, want pending 0 %s no lease",
			got.State, got.Attempts, got.NextAt, got.LeaseUntil, at)
	}
	e.mustClaim(at.Add(-time.Millisecond), time.Minute)
	e.mustClaim(at, time.Minute, dead)
	wantErr(t, "Redeliver of a redelivered delivery", e.s.Redeliver(t.Context(), dead.ID, at), gateway.ErrNotDead)
}

func testRedeliverDead(t *testing.T, e *env) {
	const lease = time.Minute
	_, a := e.caseWith(now.Add(-time.Hour), wucheng, chiping)
	_, b := e.caseWith(now.Add(-time.Hour), wucheng, wucheng)
	e.mustClaim(now.Add(-time.Hour), lease, a[0], a[1], b[0])
	e.saveAttempt(a[0], contracts.TransportStateDead, 8, now)
	e.saveAttempt(a[1], contracts.TransportStateDead, 8, now)
	e.saveAttempt(b[0], contracts.TransportStateDead, 8, now)
	// b[1] waits behind the dead b[0]: still pending.

	got, err := e.s.RedeliverDead(t.Context(), wucheng, now, nil)
	if err != nil {
		t.Fatalf("RedeliverDead: %v", err)
	}
	want := []string{a[0].ID, b[0].ID}
	slices.Sort(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RedeliverDead(%s): got %v, want %v", wucheng, got, want)
	}
	for _, d := range []*gateway.Delivery{a[0], b[0]} {
		g := e.getDelivery(d.ID)
		if g.State != contracts.TransportStatePending || g.Attempts != 0 || !ms(g.NextAt).Equal(now) {
			t.Errorf("%s after RedeliverDead: got state %s attempts %d next %s, want pending 0 %s", d.ID, g.State, g.Attempts, g.NextAt, now)
		}
	}
	e.wantState(a[1].ID, contracts.TransportStateDead)
	e.wantState(b[1].ID, contracts.TransportStatePending)

	if got, err := e.s.RedeliverDead(t.Context(), wucheng, now, nil); err != nil || len(got) != 0 {
		t.Errorf("second RedeliverDead: got %v, %v, want none", got, err)
	}
	if got, err := e.s.RedeliverDead(t.Context(), "no-such-partner", now, nil); err != nil || len(got) != 0 {
		t.Errorf("RedeliverDead(no-such-partner): got %v, %v, want none", got, err)
	}
	e.mustClaim(now, lease, a[0], b[0])
}

func testCountByState(t *testing.T, e *env) {
	want := map[contracts.TransportState]int{}
	if got := e.counts(); !sameCounts(got, want) {
		t.Errorf("CountByState of an empty store: got %v, want all zero", got)
	}
	c, ds := e.caseWith(now.Add(-time.Hour), wucheng, chiping, zhonglou, "310116", "610102")
	e.caseWith(now.Add(time.Hour), wucheng)
	e.mustClaim(now, time.Minute, ds...)
	e.saveAttempt(ds[0], contracts.TransportStateRetryWait, 1, now.Add(time.Hour))
	e.saveAttempt(ds[1], contracts.TransportStateDead, 8, now)
	e.deliver(c.ID, ds[2], now)
	e.deliver(c.ID, ds[3], now)
	want = map[contracts.TransportState]int{
		contracts.TransportStatePending:   1,
		contracts.TransportStateInFlight:  1,
		contracts.TransportStateRetryWait: 1,
		contracts.TransportStateDead:      1,
		contracts.TransportStateDelivered: 2,
	}
	if got := e.counts(); !sameCounts(got, want) {
		t.Errorf("CountByState: got %v, want %v", got, want)
	}
	if _, err := e.s.RedeliverDead(t.Context(), chiping, now, nil); err != nil {
		t.Fatalf("RedeliverDead: %v", err)
	}
	want[contracts.TransportStateDead]--
	want[contracts.TransportStatePending]++
	if got := e.counts(); !sameCounts(got, want) {
		t.Errorf("CountByState after RedeliverDead: got %v, want %v", got, want)
	}
}

// sameCounts compares state counts, a missing state counting as 0.
func sameCounts(got, want map[contracts.TransportState]int) bool {
	for _, m := range []map[contracts.TransportState]int{got, want} {
		for s := range m {
			if got[s] != want[s] {
				return false
			}
		}
	}
	return true
}

func testConcurrentCreate(t *testing.T, e *env) {
	const workers, each = 50, 20
	type result struct {
		seqs []int64
		ids  []string
		err  error
	}
	results := make(chan result, workers)
	var start sync.WaitGroup
	start.Add(1)
	for range workers {
		go func() {
			start.Wait()
			var r result
			for range each {
				c := newCase()
				d := newDelivery(c, wucheng, t0)
				if r.err = e.s.CreateCase(t.Context(), gateway.Change{Case: c, Exchange: exchangeFor(c), Enqueue: []*gateway.Delivery{d}}); r.err != nil {
					break
				}
				r.seqs, r.ids = append(r.seqs, d.Seq), append(r.ids, d.ID)
			}
			results <- r
		}()
	}
	start.Done()
	seen := map[int64]string{}
	for range workers {
		r := <-results
		if r.err != nil {
			t.Errorf("CreateCase: %v", r.err)
		}
		for i, seq := range r.seqs {
			if i > 0 && seq <= r.seqs[i-1] {
				t.Errorf("one writer's seqs went %d then %d", r.seqs[i-1], seq)
			}
			if id, dup := seen[seq]; dup {
				t.Errorf("seq %d given to %s and %s", seq, id, r.ids[i])
			}
			seen[seq] = r.ids[i]
		}
	}
	if len(seen) != workers*each {
		t.Errorf("got %d distinct seqs, want %d", len(seen), workers*each)
	}
	for seq, id := range seen {
		if d := e.getDelivery(id); d.Seq != seq {
			t.Errorf("GetDelivery(%s).Seq: got %d, want %d", id, d.Seq, seq)
		}
	}
	if got := e.counts()[contracts.TransportStatePending]; got != workers*each {
		t.Errorf("CountByState pending: got %d, want %d", got, workers*each)
	}
}

func testConcurrentUpdate(t *testing.T, e *env) {
	const workers = 16
	c, _ := e.caseWith(t0, wucheng)
	type result struct {
		ch  gateway.Change
		err error
	}
	results := make(chan result, workers)
	var start sync.WaitGroup
	start.Add(1)
	for range workers {
		ch, _ := updateChange(c, t0.Add(time.Minute))
		go func() {
			start.Wait()
			results <- result{ch, e.s.UpdateCase(t.Context(), ch)}
		}()
	}
	start.Done()
	var winner *result
	for range workers {
		r := <-results
		switch {
		case r.err == nil:
			if winner != nil {
				t.Errorf("two updates of version 1 both succeeded")
			}
			winner = &r
			if r.ch.Case.Version != 2 {
				t.Errorf("winner's Case.Version: got %d, want 2", r.ch.Case.Version)
			}
		case errors.Is(r.err, gateway.ErrStale):
			if r.ch.Case.Version != 1 {
				t.Errorf("loser's Case.Version: got %d, want 1", r.ch.Case.Version)
			}
		default:
			t.Errorf("UpdateCase: got %v, want nil or %v", r.err, gateway.ErrStale)
		}
	}
	if winner == nil {
		t.Fatal("no update succeeded")
	}
	e.wantUnchanged(winner.ch.Case, 2, 2, 2)
	h := e.history(c.ID)
	if g, w := normStatus(h[1]), normStatus(*winner.ch.Status); !reflect.DeepEqual(g, w) {
		t.Errorf("History[1]: got %+v, want the winner's %+v", g, w)
	}
	if ds := e.deliveries(c.ID); ds[1].ID != winner.ch.Enqueue[0].ID {
		t.Errorf("Deliveries[1]: got %s, want the winner's %s", ds[1].ID, winner.ch.Enqueue[0].ID)
	}
}
