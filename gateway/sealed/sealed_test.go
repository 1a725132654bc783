package sealed_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/sealed"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/signing"
)

var t0 = time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)

const (
	citizen = "110101199003070015"
	company = "91330702MA2D4N8Q6L"
)

// rig is a sealed store over a real embedded store, with the key file
// the sealer comes from.
type rig struct {
	raw *sqlite.Store
	kf  *signing.KeyFile
}

func newRig(t *testing.T) *rig {
	t.Helper()
	raw, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "tongban.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	kf, err := signing.NewKeyFile("2026-11", t0)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{raw: raw, kf: kf}
}

// store returns the sealed store under the key file as it is now.
func (r *rig) store(t *testing.T) *sealed.Store {
	t.Helper()
	s, err := r.kf.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	return sealed.Wrap(r.raw, s)
}

// newCase returns a change creating a case with its exchange and one
// delivery, each holding the citizen's id.
func newCase(id string) (gateway.Change, []byte, []byte) {
	body := []byte(`{"exchange_id":"x-` + id + `","applicant":{"id_number":"` + citizen + `"}}`)
	payload := []byte(`{"case_id":"` + id + `","applicant":{"id_number":"` + citizen + `"}}`)
	c := &gateway.Case{ID: id, ExchangeID: "x-" + id, Sender: "p-a", Owner: "p-b", FromRegion: "320404",
		ToRegion: "371523", State: contracts.CaseStateReceived, CreatedAt: t0, UpdatedAt: t0}
	return gateway.Change{
		Case: c,
		Exchange: &gateway.Exchange{Sender: "p-a", ExchangeID: "x-" + id, Kind: gateway.ExchangeCase, CaseID: id,
			Body: bytes.Clone(body), BodySM3: "00", Signature: []byte{1}, KeyID: "k", ReceivedAt: t0,
			Receipt: []byte(`{"case_id":"` + id + `"}`), ReceiptSig: []byte{2}},
		Enqueue: []*gateway.Delivery{{ID: "d-" + id, Kind: contracts.DeliveryKindCase, Partner: "p-b",
			ExchangeID: "dx-" + id, Payload: bytes.Clone(payload), NextAt: t0, CreatedAt: t0}},
	}, body, payload
}

func TestRoundTripSealsAtRest(t *testing.T) {
	r := newRig(t)
	s := r.store(t)
	ch, body, payload := newCase("c1")
	if err := s.CreateCase(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	if d := ch.Enqueue[0]; d.Seq == 0 || d.State != contracts.TransportStatePending || !bytes.Equal(d.Payload, payload) {
		t.Fatalf("caller's delivery after the write: Seq %d State %q Payload %q; want the store's Seq and state, the plaintext", d.Seq, d.State, d.Payload)
	}
	if !bytes.Equal(ch.Exchange.Body, body) {
		t.Fatal("the caller's exchange body was changed")
	}

	// At rest: ciphertext and the key id.
	rx, err := r.raw.GetExchange(t.Context(), "p-a", "x-c1")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.raw.GetDelivery(t.Context(), "d-c1")
	if err != nil {
		t.Fatal(err)
	}
	if rx.BodyKey != "2026-11" || rd.PayloadKey != "2026-11" {
		t.Fatalf("key ids at rest %q %q, want 2026-11", rx.BodyKey, rd.PayloadKey)
	}
	if bytes.Contains(rx.Body, []byte(citizen)) || bytes.Contains(rd.Payload, []byte(citizen)) {
		t.Fatal("the citizen id is stored in the clear")
	}

	// Read back through the sealed store.
	x, err := s.GetExchange(t.Context(), "p-a", "x-c1")
	if err != nil || !bytes.Equal(x.Body, body) || x.Shredded {
		t.Fatalf("GetExchange: %q %v", x.Body, err)
	}
	for _, get := range []func() (*gateway.Delivery, error){
		func() (*gateway.Delivery, error) { return s.GetDelivery(t.Context(), "d-c1") },
		func() (*gateway.Delivery, error) {
			ds, err := s.Deliveries(t.Context(), "c1")
			if err != nil || len(ds) != 1 {
				return nil, errors.Join(err, errors.New("want one delivery"))
			}
			return ds[0], nil
		},
		func() (*gateway.Delivery, error) {
			ds, err := s.ClaimDue(t.Context(), t0, time.Minute, 10)
			if err != nil || len(ds) != 1 {
				return nil, errors.Join(err, errors.New("want one claimed delivery"))
			}
			return ds[0], nil
		},
	} {
		d, err := get()
		if err != nil || !bytes.Equal(d.Payload, payload) {
			t.Fatalf("delivery read: %v", err)
		}
	}
}

func TestRotationKeepsOldRowsReadable(t *testing.T) {
	r := newRig(t)
	old, _, oldPayload := newCase("c1")
	if err := r.store(t).CreateCase(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if err := r.kf.Rotate("2026-12", t0.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	s := r.store(t)
	cur, _, curPayload := newCase("c2")
	if err := s.CreateCase(t.Context(), cur); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id, key string
		payload []byte
	}{{"d-c1", "2026-11", oldPayload}, {"d-c2", "2026-12", curPayload}} {
		rd, err := r.raw.GetDelivery(t.Context(), tt.id)
		if err != nil || rd.PayloadKey != tt.key {
			t.Fatalf("%s at rest: key %q %v, want %q", tt.id, rd.PayloadKey, err, tt.key)
		}
		d, err := s.GetDelivery(t.Context(), tt.id)
		if err != nil || !bytes.Equal(d.Payload, tt.payload) {
			t.Fatalf("%s after rotation: %v", tt.id, err)
		}
	}
}

func TestShreddedKeyLeavesHashesAndParksDeliveries(t *testing.T) {
	r := newRig(t)
	ch, _, _ := newCase("c1")
	if err := r.store(t).CreateCase(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	if err := r.kf.Rotate("2026-12", t0.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if got := r.kf.ShredBefore(t0.AddDate(0, 1, 0), t0.AddDate(0, 2, 0)); len(got) != 1 {
		t.Fatalf("shredded %v", got)
	}
	s := r.store(t)
	x, err := s.GetExchange(t.Context(), "p-a", "x-c1")
	if err != nil {
		t.Fatal(err)
	}
	if !x.Shredded || x.Body != nil || x.BodySM3 != "00" || len(x.Receipt) == 0 {
		t.Fatalf("shredded exchange: Shredded %v Body %q BodySM3 %q; want no body, its digest and receipt kept", x.Shredded, x.Body, x.BodySM3)
	}
	d, err := s.GetDelivery(t.Context(), "d-c1")
	if err != nil || !d.Shredded || d.Payload != nil {
		t.Fatalf("shredded delivery: %+v %v", d, err)
	}
	// A delivery whose payload is gone is never handed to a partner: the
	// claim parks it as a dead letter.
	ds, err := s.ClaimDue(t.Context(), t0, time.Minute, 10)
	if err != nil || len(ds) != 0 {
		t.Fatalf("ClaimDue: %d deliveries, %v; want none", len(ds), err)
	}
	rd, err := r.raw.GetDelivery(t.Context(), "d-c1")
	if err != nil || rd.State != contracts.TransportStateDead || rd.LastError != sealed.ShreddedPayload {
		t.Fatalf("parked delivery: state %q last error %q %v", rd.State, rd.LastError, err)
	}
}

func TestCiphertextBoundToItsRow(t *testing.T) {
	r := newRig(t)
	s := r.store(t)
	a, _, _ := newCase("c1")
	if err := s.CreateCase(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	ra, err := r.raw.GetExchange(t.Context(), "p-a", "x-c1")
	if err != nil {
		t.Fatal(err)
	}
	rda, err := r.raw.GetDelivery(t.Context(), "d-c1")
	if err != nil {
		t.Fatal(err)
	}
	// Another row written straight to the store with c1's ciphertext.
	b, _, _ := newCase("c2")
	b.Exchange.Body, b.Exchange.BodyKey = ra.Body, ra.BodyKey
	b.Enqueue[0].Payload, b.Enqueue[0].PayloadKey = rda.Payload, rda.PayloadKey
	if err := r.raw.CreateCase(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetExchange(t.Context(), "p-a", "x-c2"); !errors.Is(err, signing.ErrOpen) {
		t.Fatalf("exchange with another row's body: %v, want signing.ErrOpen", err)
	}
	if _, err := s.GetDelivery(t.Context(), "d-c2"); !errors.Is(err, signing.ErrOpen) {
		t.Fatalf("delivery with another row's payload: %v, want signing.ErrOpen", err)
	}
}

func TestUsageHolderIndexedAndFieldsSealed(t *testing.T) {
	r := newRig(t)
	s := r.store(t)
	entry := func(id, holder string) gateway.UsageEntry {
		return gateway.UsageEntry{
			Record: contracts.UsageRecord{UsageRecordID: id, Caller: "p-a", OperatorID: "clerk-" + citizen,
				Purpose: "核验", HolderIDMasked: "110101********0015", CheckedAt: t0},
			HolderType: "111", HolderID: holder, Library: "p-b", Subject: "sub-" + citizen,
		}
	}
	if err := s.AddUsage(t.Context(), []gateway.UsageEntry{entry("u1", citizen), entry("u2", company)}, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := r.raw.ListUsage(t.Context(), gateway.UsageQuery{Limit: 10})
	if err != nil || len(raw) != 2 {
		t.Fatalf("raw ListUsage: %d %v", len(raw), err)
	}
	for _, u := range raw {
		for _, v := range []string{u.HolderID, u.Record.OperatorID, u.Subject} {
			if strings.Contains(v, citizen) || strings.Contains(v, company) {
				t.Fatalf("usage record %s stores %q in the clear", u.Record.UsageRecordID, v)
			}
		}
		if u.SealKey != "2026-11" {
			t.Fatalf("usage record key %q", u.SealKey)
		}
	}
	got, err := s.ListUsage(t.Context(), gateway.UsageQuery{HolderID: citizen, Limit: 10})
	if err != nil || len(got) != 1 || got[0].Record.UsageRecordID != "u1" {
		t.Fatalf("ListUsage by holder: %+v %v, want u1", got, err)
	}
	if got[0].Record.OperatorID != "clerk-"+citizen || got[0].Subject != "sub-"+citizen || got[0].HolderID != "" {
		t.Fatalf("opened usage record: operator %q subject %q holder %q", got[0].Record.OperatorID, got[0].Subject, got[0].HolderID)
	}
}

// readsOf is a store whose reads return the rows given, as read from the
// store under the sealed one; it remembers nothing else.
type readsOf struct {
	gateway.Store
	x *gateway.Exchange
	d *gateway.Delivery
}

func (r *readsOf) GetExchange(context.Context, string, string) (*gateway.Exchange, error) {
	return r.x, nil
}
func (r *readsOf) ClaimDue(context.Context, time.Time, time.Duration, int) ([]*gateway.Delivery, error) {
	return []*gateway.Delivery{r.d}, nil
}

// TestOpensInTheMemoryReadFromTheStore: an exchange body or a delivery
// payload read from the store is opened in the very memory it was read
// into, so a large one (a case with its materials inline) is not held
// twice, sealed and open.
func TestOpensInTheMemoryReadFromTheStore(t *testing.T) {
	r := newRig(t)
	ch, body, payload := newCase("c1")
	if err := r.store(t).CreateCase(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	rx, err := r.raw.GetExchange(t.Context(), "p-a", "x-c1")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.raw.GetDelivery(t.Context(), "d-c1")
	if err != nil {
		t.Fatal(err)
	}
	sealedBody, sealedPayload := rx.Body, rd.Payload
	sealer, err := r.kf.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	s := sealed.Wrap(&readsOf{x: rx, d: rd}, sealer)
	x, err := s.GetExchange(t.Context(), "p-a", "x-c1")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.ClaimDue(t.Context(), t0, time.Minute, 1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("ClaimDue: %d, %v", len(ds), err)
	}
	for _, tt := range []struct {
		name              string
		opened, read, was []byte
	}{
		{"exchange body", x.Body, sealedBody, body},
		{"delivery payload", ds[0].Payload, sealedPayload, payload},
	} {
		if !bytes.Equal(tt.opened, tt.was) {
			t.Errorf("%s opened as %q, want %q", tt.name, tt.opened, tt.was)
			continue
		}
		// nonce ‖ ciphertext ‖ tag: the plaintext sits where the
		// ciphertext was.
		if &tt.opened[0] != &tt.read[len(tt.read)-len(tt.was)-16] {
			t.Errorf("%s opened into memory of its own, not where it was read", tt.name)
		}
	}
}
