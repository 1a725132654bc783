package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// t0 is the suite's reference time. Times the due rules compare are whole
// milliseconds, so stores with millisecond precision pass.
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// cst is a non-UTC zone, to check that stores keep instants, not zones.
var cst = time.FixedZone("CST", 8*60*60)

// The demo partners the fixtures use.
const (
	zhonglou = "320404" // receiving district A
	wucheng  = "330702" // owning district B
	chiping  = "371523" // another partner
)

// ids is shared by every store the suite opens, so ids never collide, even
// across the stores of RunDurable.
var ids atomic.Int64

func newID(prefix string) string { return fmt.Sprintf("%s-%06d", prefix, ids.Add(1)) }

// env is one store under test with helpers that fail the test on error.
type env struct {
	t *testing.T
	s gateway.Store
}

// pulling is the store under test as the core uses it: every delivery it
// enqueues carries Pull for the partners set last with SetPullPartners
// (the core decides Pull from its directory; the suite's directory is
// this set).
type pulling struct {
	gateway.Store
	mu   sync.Mutex
	pull map[string]bool
}

func (p *pulling) SetPullPartners(ctx context.Context, partners []string) error {
	p.mu.Lock()
	p.pull = map[string]bool{}
	for _, id := range partners {
		p.pull[id] = true
	}
	p.mu.Unlock()
	return p.Store.SetPullPartners(ctx, partners)
}

func (p *pulling) mark(ds []*gateway.Delivery) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range ds {
		d.Pull = p.pull[d.Partner]
	}
}

// markChange marks the deliveries ch and its Also changes enqueue.
func (p *pulling) markChange(ch gateway.Change) {
	p.mark(ch.Enqueue)
	for _, a := range ch.Also {
		p.mark(a.Enqueue)
	}
}

func (p *pulling) CreateCase(ctx context.Context, ch gateway.Change) error {
	p.markChange(ch)
	return p.Store.CreateCase(ctx, ch)
}

func (p *pulling) UpdateCase(ctx context.Context, ch gateway.Change) error {
	p.markChange(ch)
	return p.Store.UpdateCase(ctx, ch)
}

func (p *pulling) AddUsage(ctx context.Context, entries []gateway.UsageEntry, enqueue []*gateway.Delivery, ev ...contracts.EvidenceRecord) error {
	p.mark(enqueue)
	return p.Store.AddUsage(ctx, entries, enqueue, ev...)
}

func newEnv(t *testing.T, open func(t *testing.T) gateway.Store) *env {
	t.Helper()
	s := open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &env{t: t, s: &pulling{Store: s}}
}

// sub returns e for subtest t: the same store, failing t.
func (e *env) sub(t *testing.T) *env { return &env{t: t, s: e.s} }

// newCase returns a new case from zhonglou to wucheng, not yet stored.
func newCase() *gateway.Case {
	id := newID("case")
	return &gateway.Case{
		ID:          id,
		ExchangeID:  newID("ex"),
		Sender:      zhonglou,
		Owner:       wucheng,
		FromRegion:  zhonglou,
		ToRegion:    wucheng,
		State:       contracts.CaseStateReceived,
		LocalCaseNo: "SJ-" + id,
		ServiceItem: contracts.ServiceItem{
			BasicCode:          "000105002000",
			ImplementationCode: "11330702002566031G4000105002000",
			Name:               "个体工商户设立登记",
			Department:         "婺城区市场监督管理局",
		},
		CreatedAt: t0,
		UpdatedAt: t0,
	}
}

// exchangeFor returns the exchange that submitted c.
func exchangeFor(c *gateway.Case) *gateway.Exchange {
	return &gateway.Exchange{
		Sender:     c.Sender,
		ExchangeID: c.ExchangeID,
		Kind:       gateway.ExchangeCase,
		CaseID:     c.ID,
		Body:       []byte(`{"exchange_id":"` + c.ExchangeID + `","remark":"补正后提交"}`),
		BodySM3:    "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
		Signature:  []byte{0x30, 0x44, 0x02, 0x20, 0x00, 0xff, 0x01},
		KeyID:      c.Sender,
		TraceID:    "4bf92f3577b34da6a3ce929d0e0e4736",
		ReceivedAt: t0,
		Receipt:    []byte(`{"case_id":"` + c.ID + `","state":"received"}`),
		ReceiptSig: []byte{0x30, 0x45, 0x02, 0x21, 0x00, 0x80},
		BodyKey:    "2026-03", // stored and returned as given
	}
}

// statusFor returns a history entry for c entering state.
func statusFor(c *gateway.Case, state contracts.CaseState, at time.Time) *gateway.Status {
	return &gateway.Status{
		CaseID:     c.ID,
		State:      state,
		At:         at,
		ExchangeID: newID("ex"),
		ReportedBy: "gateway",
		Note:       "note " + string(state),
	}
}

// newDelivery returns a new delivery of c to partner, due at nextAt.
func newDelivery(c *gateway.Case, partner string, nextAt time.Time) *gateway.Delivery {
	return &gateway.Delivery{
		ID:         newID("dl"),
		CaseID:     c.ID,
		Kind:       contracts.DeliveryKindCase,
		Partner:    partner,
		ExchangeID: newID("dx"),
		Payload:    []byte(`{"case_id":"` + c.ID + `"}`),
		PayloadKey: "2026-03", // stored and returned as given
		NextAt:     nextAt,
		CreatedAt:  t0,
	}
}

// create stores c with its exchange, a received entry and ds.
func (e *env) create(c *gateway.Case, ds ...*gateway.Delivery) {
	e.t.Helper()
	ch := gateway.Change{Case: c, Exchange: exchangeFor(c), Status: statusFor(c, contracts.CaseStateReceived, t0), Enqueue: ds}
	if err := e.s.CreateCase(e.t.Context(), ch); err != nil {
		e.t.Fatalf("CreateCase(%s): %v", c.ID, err)
	}
}

// caseWith stores a new case whose deliveries go to partners, all due at
// nextAt, and returns the case and its deliveries.
func (e *env) caseWith(nextAt time.Time, partners ...string) (*gateway.Case, []*gateway.Delivery) {
	e.t.Helper()
	c := newCase()
	var ds []*gateway.Delivery
	for _, p := range partners {
		ds = append(ds, newDelivery(c, p, nextAt))
	}
	e.create(c, ds...)
	return c, ds
}

// claimed calls ClaimDue and returns what it claimed.
func (e *env) claimed(now time.Time, lease time.Duration, limit int) []*gateway.Delivery {
	e.t.Helper()
	ds, err := e.s.ClaimDue(e.t.Context(), now, lease, limit)
	if err != nil {
		e.t.Fatalf("ClaimDue(%s, %s, %d): %v", now, lease, limit, err)
	}
	return ds
}

// claim calls ClaimDue and returns the ids claimed, in the order returned.
func (e *env) claim(now time.Time, lease time.Duration, limit int) []string {
	e.t.Helper()
	out := []string{}
	for _, d := range e.claimed(now, lease, limit) {
		out = append(out, d.ID)
	}
	return out
}

// mustClaim claims at now and fails unless exactly want come back. It
// records the claim in each of want (State in_flight and the LeaseUntil
// ClaimDue returned), the way a dispatcher holds its claim, so that a
// later saveAttempt or deliver of it passes the lease fence.
func (e *env) mustClaim(now time.Time, lease time.Duration, want ...*gateway.Delivery) {
	e.t.Helper()
	wantIDs := []string{}
	for _, d := range want {
		wantIDs = append(wantIDs, d.ID)
	}
	ds := e.claimed(now, lease, 100)
	got := []string{}
	for _, d := range ds {
		got = append(got, d.ID)
	}
	if !reflect.DeepEqual(got, wantIDs) {
		e.t.Fatalf("ClaimDue(%s): got %v, want %v", now.Format(time.TimeOnly), got, wantIDs)
	}
	for i, d := range ds {
		want[i].State, want[i].LeaseUntil = d.State, d.LeaseUntil
	}
}

// saveAttempt records a failed attempt of d, which must hold a current
// claim (see mustClaim).
func (e *env) saveAttempt(d *gateway.Delivery, state contracts.TransportState, attempts int, nextAt time.Time) {
	e.t.Helper()
	a := *d
	a.State, a.Attempts, a.NextAt, a.LastError = state, attempts, nextAt, "partner answered 503"
	if err := e.s.SaveAttempt(e.t.Context(), &a); err != nil {
		e.t.Fatalf("SaveAttempt(%s, %s): %v", d.ID, state, err)
	}
}

// deliver marks d of case caseID delivered at at, moving the case to
// forwarded, and returns the Delivered value written. d must hold a
// current claim (see mustClaim).
func (e *env) deliver(caseID string, d *gateway.Delivery, at time.Time) *gateway.Delivery {
	e.t.Helper()
	ch := deliveredChange(*e.getCase(caseID), d, at)
	if err := e.s.UpdateCase(e.t.Context(), ch); err != nil {
		e.t.Fatalf("UpdateCase delivering %s: %v", d.ID, err)
	}
	return ch.Delivered
}

// deliveredChange returns the change that marks d (claimed, with its
// LeaseUntil) delivered at at and moves case c, as read, to forwarded.
func deliveredChange(c gateway.Case, d *gateway.Delivery, at time.Time) gateway.Change {
	caseID := c.ID
	c.State, c.OwnerCaseNo, c.UpdatedAt = contracts.CaseStateForwarded, "WC-"+caseID, at
	done := *d
	done.State = contracts.TransportStateDelivered
	done.Attempts = d.Attempts + 1
	done.DeliveredAt = at
	done.Ack = &contracts.Ack{
		ExchangeID:     d.ExchangeID,
		DeliveryID:     d.ID,
		PartnerCaseNo:  "WC-" + caseID,
		AcknowledgedAt: at.Add(-time.Second).In(cst),
		BodySM3:        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
		KeyID:          d.Partner,
	}
	done.AckBody = []byte(`{"partner_case_no":"WC-` + caseID + `"}`)
	done.AckSig = []byte{0x30, 0x46, 0x02, 0x21, 0x00, 0xfe}
	return gateway.Change{Case: &c, Status: statusFor(&c, contracts.CaseStateForwarded, at), Delivered: &done}
}

func (e *env) getCase(id string) *gateway.Case {
	e.t.Helper()
	c, err := e.s.GetCase(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("GetCase(%s): %v", id, err)
	}
	return c
}

func (e *env) getDelivery(id string) *gateway.Delivery {
	e.t.Helper()
	d, err := e.s.GetDelivery(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("GetDelivery(%s): %v", id, err)
	}
	return d
}

func (e *env) history(caseID string) []gateway.Status {
	e.t.Helper()
	h, err := e.s.History(e.t.Context(), caseID)
	if err != nil {
		e.t.Fatalf("History(%s): %v", caseID, err)
	}
	return h
}

func (e *env) deliveries(caseID string) []*gateway.Delivery {
	e.t.Helper()
	ds, err := e.s.Deliveries(e.t.Context(), caseID)
	if err != nil {
		e.t.Fatalf("Deliveries(%s): %v", caseID, err)
	}
	return ds
}

func (e *env) counts() map[contracts.TransportState]int {
	e.t.Helper()
	m, err := e.s.CountByState(e.t.Context())
	if err != nil {
		e.t.Fatalf("CountByState: %v", err)
	}
	return m
}

// wantState fails unless the stored delivery id is in state.
func (e *env) wantState(id string, state contracts.TransportState) {
	e.t.Helper()
	if got := e.getDelivery(id).State; got != state {
		e.t.Errorf("delivery %s: got state %s, want %s", id, got, state)
	}
}

// wantErr fails unless err is want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// ms normalizes t for comparison: the suite needs millisecond precision
// and compares instants, not locations.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

// nb normalizes a byte slice: nil and empty are the same.
func nb(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func normCase(c gateway.Case) gateway.Case {
	c.CreatedAt, c.UpdatedAt = ms(c.CreatedAt), ms(c.UpdatedAt)
	c.Deadline, c.AlarmAt = ms(c.Deadline), ms(c.AlarmAt)
	return c
}

// adminJSON is a case's administration as the stores keep it, JSON
// ("null" for none): what sameCase compares, since times in it read back
// in the zone they were written in, not the caller's *time.Location.
func adminJSON(a *gateway.CaseAdmin) string {
	b, err := json.Marshal(a)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	return string(b)
}

func normStatus(s gateway.Status) gateway.Status {
	s.At = ms(s.At)
	return s
}

func normExchange(x gateway.Exchange) gateway.Exchange {
	x.ReceivedAt = ms(x.ReceivedAt)
	x.Body, x.Signature, x.Receipt, x.ReceiptSig = nb(x.Body), nb(x.Signature), nb(x.Receipt), nb(x.ReceiptSig)
	return x
}

func normDelivery(d gateway.Delivery) gateway.Delivery {
	d.Since = time.Time{} // store-owned; testRedeliver checks it
	d.Case = nil          // set by claims only; testClaimCarriesCase checks it
	d.NextAt, d.LeaseUntil, d.CreatedAt, d.DeliveredAt = ms(d.NextAt), ms(d.LeaseUntil), ms(d.CreatedAt), ms(d.DeliveredAt)
	d.Payload, d.AckBody, d.AckSig = nb(d.Payload), nb(d.AckBody), nb(d.AckSig)
	if d.Ack != nil {
		a := *d.Ack
		a.AcknowledgedAt = ms(a.AcknowledgedAt)
		d.Ack = &a
	}
	return d
}

// sameCase fails unless got and want agree to the millisecond, their
// administrations as JSON.
func sameCase(t *testing.T, what string, got, want *gateway.Case) {
	t.Helper()
	g, w := normCase(*got), normCase(*want)
	ga, wa := adminJSON(g.Admin), adminJSON(w.Admin)
	g.Admin, w.Admin = nil, nil
	if !reflect.DeepEqual(g, w) || ga != wa {
		t.Errorf("%s:\ngot  %+v admin %s\nwant %+v admin %s", what, g, ga, w, wa)
	}
}

func sameDelivery(t *testing.T, what string, got, want *gateway.Delivery) {
	t.Helper()
	g, w := normDelivery(*got), normDelivery(*want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\ngot  %s\nwant %s", what, fmtDelivery(g), fmtDelivery(w))
	}
}

func fmtDelivery(d gateway.Delivery) string {
	ack := "<nil>"
	if d.Ack != nil {
		ack = fmt.Sprintf("%+v", *d.Ack)
	}
	return fmt.Sprintf("{ID:%s CaseID:%s Seq:%d Kind:%s Partner:%s ExchangeID:%s State:%s Attempts:%d NextAt:%s LeaseUntil:%s LastError:%q CreatedAt:%s DeliveredAt:%s Ack:%s Payload:%q AckBody:%q AckSig:%x}",
		d.ID, d.CaseID, d.Seq, d.Kind, d.Partner, d.ExchangeID, d.State, d.Attempts, d.NextAt, d.LeaseUntil,
		d.LastError, d.CreatedAt, d.DeliveredAt, ack, d.Payload, d.AckBody, d.AckSig)
}

func sameExchange(t *testing.T, what string, got, want *gateway.Exchange) {
	t.Helper()
	g, w := normExchange(*got), normExchange(*want)
	for _, b := range []struct {
		name      string
		got, want []byte
	}{
		{"Body", g.Body, w.Body},
		{"Signature", g.Signature, w.Signature},
		{"Receipt", g.Receipt, w.Receipt},
		{"ReceiptSig", g.ReceiptSig, w.ReceiptSig},
	} {
		if !bytes.Equal(b.got, b.want) {
			t.Errorf("%s: %s: got %d bytes %.40x…, want %d bytes %.40x…", what, b.name, len(b.got), b.got, len(b.want), b.want)
		}
	}
	g.Body, g.Signature, g.Receipt, g.ReceiptSig = nil, nil, nil, nil
	w.Body, w.Signature, w.Receipt, w.ReceiptSig = nil, nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\ngot  %+v\nwant %+v", what, g, w)
	}
}

// Usage records.

// The holders and licenses of the usage fixtures.
const (
	holderPerson  = "11010519491231002X" // GB 11643 citizen id
	holderCompany = "91330702MA2D4N8Q6L" // GB 32100 unified social credit code
	licenseA      = "1.2.156.3005.2.11100000000000127001.11330702002566031G.320260302001.001.K"
	licenseB      = "1.2.156.3005.2.11100000000000131002.11371523004403367C.320260302077.001.7"
	windowZL      = "window-320404" // a window of zhonglou
)

// newUsage returns a new usage record of a verification by caller at at,
// every field set, not yet stored.
func newUsage(caller string, at time.Time) gateway.UsageEntry {
	return gateway.UsageEntry{
		Record: contracts.UsageRecord{
			UsageRecordID:   newID("ur"),
			Caller:          caller,
			WindowID:        windowZL,
			OperatorID:      "clerk-07",
			Purpose:         "个体工商户设立登记：核验营业执照",
			CaseID:          newID("case"),
			LicenseID:       licenseA,
			LicenseTypeCode: "11100000000000127001",
			HolderIDMasked:  "110105********002X",
			Outcome:         contracts.LicenseOutcomeValid,
			SourceRegion:    wucheng,
			CheckedAt:       at,
		},
		HolderType: "111",
		HolderID:   holderPerson,
		Library:    wucheng,
		Subject:    "clerk-07",
		SealKey:    "2026-03", // stored and returned as given
	}
}

// usageDelivery returns a new delivery of no case passing u to partner,
// due at nextAt.
func usageDelivery(u gateway.UsageEntry, partner string, nextAt time.Time) *gateway.Delivery {
	return &gateway.Delivery{
		ID:         newID("dl"),
		Kind:       contracts.DeliveryKindUsageRecord,
		Partner:    partner,
		ExchangeID: newID("dx"),
		Payload:    []byte(`{"record":{"usage_record_id":"` + u.Record.UsageRecordID + `"}}`),
		PayloadKey: "2026-02",
		NextAt:     nextAt,
		CreatedAt:  t0,
	}
}

// addUsage stores entries and the deliveries ds in one AddUsage.
func (e *env) addUsage(entries []gateway.UsageEntry, ds ...*gateway.Delivery) {
	e.t.Helper()
	if err := e.s.AddUsage(e.t.Context(), entries, ds); err != nil {
		e.t.Fatalf("AddUsage(%d records, %d deliveries): %v", len(entries), len(ds), err)
	}
}

// usageWith stores a new usage record of zhonglou's with a delivery of it
// to partner due at nextAt, and returns the delivery.
func (e *env) usageWith(partner string, nextAt time.Time) *gateway.Delivery {
	e.t.Helper()
	u := newUsage(zhonglou, t0)
	d := usageDelivery(u, partner, nextAt)
	e.addUsage([]gateway.UsageEntry{u}, d)
	return d
}

// listUsage calls ListUsage.
func (e *env) listUsage(q gateway.UsageQuery) []gateway.UsageEntry {
	e.t.Helper()
	es, err := e.s.ListUsage(e.t.Context(), q)
	if err != nil {
		e.t.Fatalf("ListUsage(%+v): %v", q, err)
	}
	return es
}

// usageIDs returns the record ids of es, in order.
func usageIDs(es []gateway.UsageEntry) []string {
	ids := []string{}
	for _, u := range es {
		ids = append(ids, u.Record.UsageRecordID)
	}
	return ids
}

// usageDone returns what marks d (claimed, with its LeaseUntil) delivered
// at at, with the issuer's acknowledgement.
func usageDone(d *gateway.Delivery, at time.Time) *gateway.Delivery {
	done := *d
	done.State = contracts.TransportStateDelivered
	done.Attempts = d.Attempts + 1
	done.DeliveredAt = at
	done.Ack = &contracts.Ack{
		ExchangeID:     d.ExchangeID,
		DeliveryID:     d.ID,
		AcknowledgedAt: at.Add(-time.Second).In(cst),
		BodySM3:        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
		KeyID:          d.Partner,
	}
	done.AckBody = []byte(`{"delivery_id":"` + d.ID + `","received":true}`)
	done.AckSig = []byte{0x30, 0x45, 0x02, 0x20, 0x7f}
	return &done
}

func normUsage(u gateway.UsageEntry) gateway.UsageEntry {
	u.Record.CheckedAt = ms(u.Record.CheckedAt)
	return u
}

// sameUsage fails unless got and want hold the same records in the same
// order, every field equal (times to the millisecond).
func sameUsage(t *testing.T, what string, got, want []gateway.UsageEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d records %v, want %d %v", what, len(got), usageIDs(got), len(want), usageIDs(want))
		return
	}
	for i := range want {
		if g, w := normUsage(got[i]), normUsage(want[i]); !reflect.DeepEqual(g, w) {
			t.Errorf("%s[%d]:\ngot  %+v\nwant %+v", what, i, g, w)
		}
	}
}
