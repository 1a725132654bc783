package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// vis is the suite's mailbox visibility timeout.
const vis = 30 * time.Second

// setPull calls SetPullPartners.
func (e *env) setPull(partners ...string) {
	e.t.Helper()
	if err := e.s.SetPullPartners(e.t.Context(), partners); err != nil {
		e.t.Fatalf("SetPullPartners(%v): %v", partners, err)
	}
}

// poll claims partner's mailbox at now and returns the deliveries.
func (e *env) poll(partner string, now time.Time, after int64, limit int) []*gateway.Delivery {
	e.t.Helper()
	ds, err := e.s.ClaimMailbox(e.t.Context(), gateway.MailboxClaim{
		Partner: partner, Now: now, Visibility: vis, After: after, Limit: limit, Reoffer: "offered again",
	})
	if err != nil {
		e.t.Fatalf("ClaimMailbox(%s, %s): %v", partner, now.Format(time.TimeOnly), err)
	}
	return ds
}

// idsOf returns the ids of ds in order.
func idsOf(ds []*gateway.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// testPullNotClaimed: ClaimDue and NextDue leave a pulling partner's
// deliveries alone, stored before or after SetPullPartners, and take them
// again once the partner is dropped from the set.
func testPullNotClaimed(t *testing.T, e *env) {
	_, before := e.caseWith(t0, wucheng, chiping)
	e.setPull(chiping)
	_, after := e.caseWith(t0, chiping)
	if got, want := e.claim(t0, time.Minute, 100), []string{before[0].ID}; !slices.Equal(got, want) {
		t.Fatalf("ClaimDue with %s pulling: got %v, want %v", chiping, got, want)
	}
	if due, ok, err := e.s.NextDue(t.Context()); err != nil || !ok || !ms(due).Equal(t0.Add(time.Minute)) {
		t.Errorf("NextDue with pulled deliveries due now: got %s, %v, %v; want the pushed one's lease %s", due, ok, err, t0.Add(time.Minute))
	}
	e.setPull()
	if got, want := e.claim(t0, time.Minute, 100), []string{before[1].ID, after[0].ID}; !slices.Equal(got, want) {
		t.Errorf("ClaimDue once %s pushes again: got %v, want %v", chiping, got, want)
	}
}

// testClaimMailbox checks the mailbox claim: one partner's visible
// messages, after the cursor first, hidden for the visibility timeout,
// each offer counted, offered again once it runs out.
func testClaimMailbox(t *testing.T, e *env) {
	e.setPull(chiping, zhonglou)
	var all []*gateway.Delivery
	for range 4 {
		_, ds := e.caseWith(t0, chiping)
		all = append(all, ds[0])
	}
	e.caseWith(t0, zhonglou) // another mailbox
	e.caseWith(t0, wucheng)  // a pushed partner

	first := e.poll(chiping, t0, all[1].Seq, 3)
	if got, want := idsOf(first), []string{all[2].ID, all[3].ID, all[0].ID}; !slices.Equal(got, want) {
		t.Fatalf("ClaimMailbox after %d: got %v, want %v (after the cursor first, then from the start)", all[1].Seq, got, want)
	}
	for _, d := range first {
		if d.State != contracts.TransportStateInFlight || !ms(d.LeaseUntil).Equal(ms(t0.Add(vis))) || d.Attempts != 1 || d.LastError != "" {
			t.Errorf("claimed %s: state %s, lease %s, attempts %d, last error %q; want in_flight until now+%s, 1 attempt, no error",
				d.ID, d.State, d.LeaseUntil, d.Attempts, d.LastError, vis)
		}
		if string(d.Payload) != string(all[slices.IndexFunc(all, func(x *gateway.Delivery) bool { return x.ID == d.ID })].Payload) {
			t.Errorf("claimed %s without its payload", d.ID)
		}
	}
	if got, want := idsOf(e.poll(chiping, t0.Add(vis/2), 0, 10)), []string{all[1].ID}; !slices.Equal(got, want) {
		t.Errorf("ClaimMailbox inside the visibility timeout: got %v, want only the one not handed out %v", got, want)
	}
	if got := e.poll(chiping, t0.Add(vis/2), 0, 10); len(got) != 0 {
		t.Errorf("ClaimMailbox with every message hidden: got %v", idsOf(got))
	}
	again := e.poll(chiping, t0.Add(vis), all[3].Seq, 10)
	if got, want := idsOf(again), []string{all[0].ID, all[2].ID, all[3].ID}; !slices.Equal(got, want) {
		t.Fatalf("ClaimMailbox once the timeout ran out: got %v, want %v again, in seq order", got, want)
	}
	for _, d := range again {
		if d.Attempts != 2 || d.LastError != "offered again" {
			t.Errorf("offered again %s: attempts %d, last error %q; want 2 and the reoffer text", d.ID, d.Attempts, d.LastError)
		}
	}
	if n := len(e.claim(t0.Add(time.Hour), time.Minute, 100)); n != 1 {
		t.Errorf("ClaimDue took %d deliveries, want only the pushed partner's one", n)
	}
}

// testClaimMailboxPerCaseOrder: a later delivery of a case is not offered
// while an earlier one to the same partner is unacknowledged.
func testClaimMailboxPerCaseOrder(t *testing.T, e *env) {
	e.setPull(chiping)
	c, ds := e.caseWith(t0, chiping)
	ch, later := updateChange(c, t0)
	later.Partner = chiping
	if err := e.s.UpdateCase(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	got := e.poll(chiping, t0, 0, 10)
	if !slices.Equal(idsOf(got), []string{ds[0].ID}) {
		t.Fatalf("ClaimMailbox: got %v, want only the case delivery %s", idsOf(got), ds[0].ID)
	}
	ack := deliveredChange(*e.getCase(c.ID), got[0], t0.Add(time.Second))
	ack.OutOfBand = true
	if err := e.s.UpdateCase(t.Context(), ack); err != nil {
		t.Fatalf("acknowledging out of band: %v", err)
	}
	if got := e.poll(chiping, t0.Add(2*time.Second), 0, 10); !slices.Equal(idsOf(got), []string{later.ID}) {
		t.Errorf("ClaimMailbox after the case delivery was acknowledged: got %v, want %s", idsOf(got), later.ID)
	}
}

// testOutOfBand: an out-of-band acknowledgement is taken whatever the
// lease and in any state that is not final; a fenced one is not.
func testOutOfBand(t *testing.T, e *env) {
	e.setPull(chiping)
	for _, tt := range []struct {
		name  string
		setup func(d *gateway.Delivery)
	}{
		{"pending", func(*gateway.Delivery) {}},
		{"offered", func(d *gateway.Delivery) { e.poll(chiping, t0, 0, 10) }},
		{"offered and expired", func(d *gateway.Delivery) { e.poll(chiping, t0.Add(-time.Hour), 0, 10) }},
		{"dead", func(d *gateway.Delivery) {
			got := e.poll(chiping, t0, 0, 10)
			e.saveAttempt(got[0], contracts.TransportStateDead, 1, time.Time{})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.sub(t)
			c, ds := e.caseWith(t0.Add(-2*time.Hour), chiping)
			tt.setup(ds[0])
			stale := *ds[0] // no lease the store knows
			ch := deliveredChange(*e.getCase(c.ID), &stale, t0.Add(time.Minute))
			if err := e.s.UpdateCase(t.Context(), ch); !errors.Is(err, gateway.ErrStale) {
				t.Errorf("fenced acknowledgement without the lease: got %v, want ErrStale", err)
			}
			ch = deliveredChange(*e.getCase(c.ID), &stale, t0.Add(time.Minute))
			ch.OutOfBand = true
			if err := e.s.UpdateCase(t.Context(), ch); err != nil {
				t.Fatalf("out-of-band acknowledgement: %v", err)
			}
			got := e.getDelivery(ds[0].ID)
			if got.State != contracts.TransportStateDelivered || got.Ack == nil || string(got.AckBody) != string(ch.Delivered.AckBody) {
				t.Errorf("after the acknowledgement: %s", fmtDelivery(*got))
			}
			if e.getCase(c.ID).State != contracts.CaseStateForwarded {
				t.Errorf("case not forwarded")
			}
			again := deliveredChange(*e.getCase(c.ID), &stale, t0.Add(2*time.Minute))
			again.OutOfBand = true
			if err := e.s.UpdateCase(t.Context(), again); !errors.Is(err, gateway.ErrStale) {
				t.Errorf("acknowledging a delivered one again: got %v, want ErrStale", err)
			}
		})
	}
}

// testReceiptType: an exchange keeps the media type of its receipt.
func testReceiptType(t *testing.T, e *env) {
	c := newCase()
	x := exchangeFor(c)
	x.Receipt, x.ReceiptType = []byte(`<soap:Envelope/>`), "text/xml; charset=utf-8"
	if err := e.s.CreateCase(t.Context(), gateway.Change{Case: c, Exchange: x}); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.GetExchange(t.Context(), x.Sender, x.ExchangeID)
	if err != nil {
		t.Fatal(err)
	}
	sameExchange(t, "GetExchange", got, x)
}

// testClaimMailboxOffers: the records Offer returns are written with the
// claim, in claim order; a message Offer skips gets none.
func testClaimMailboxOffers(t *testing.T, e *env) {
	e.setPull(chiping)
	var ids []string
	for range 3 {
		_, ds := e.caseWith(t0, chiping)
		ids = append(ids, ds[0].ID)
	}
	seq0, _, err := e.s.EvidenceHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := e.s.ClaimMailbox(t.Context(), gateway.MailboxClaim{
		Partner: chiping, Now: t0, Visibility: vis, Limit: 10, Reoffer: "offered again",
		Offer: func(d *gateway.Delivery) []contracts.EvidenceRecord {
			if d.ID == ids[1] {
				return nil
			}
			return []contracts.EvidenceRecord{{At: t0, Actor: "gateway", Event: contracts.EventDeliveryAttempt, DeliveryID: d.ID, CaseID: d.CaseID}}
		},
	})
	if err != nil || len(ds) != 3 {
		t.Fatalf("ClaimMailbox: %d, %v", len(ds), err)
	}
	var got []string
	for _, r := range e.rows() {
		if r.Seq > seq0 {
			got = append(got, decode(t, r).DeliveryID)
		}
	}
	if want := []string{ids[0], ids[2]}; !slices.Equal(got, want) {
		t.Errorf("offer records: %v, want %v", got, want)
	}
}
