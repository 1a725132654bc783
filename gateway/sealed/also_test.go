package sealed_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestAlsoSealsAtRest: the deliveries a change's Also changes enqueue (a
// bundle's parts, created in the bundle's write; a part released with
// its successor) are sealed at rest like the main change's; the caller's
// keep their plaintext and get what the store assigned. The cases of
// such a write read back through the sealed store as stored (AlarmsDue,
// BundleParts): they hold nothing sealed.
func TestAlsoSealsAtRest(t *testing.T) {
	r := newRig(t)
	s := r.store(t)
	bundle, _, _ := newCase("b1")
	bundle.Case.BundleID = "b1"
	alarm := t0.Add(time.Hour)
	bundle.Case.AlarmAt = alarm
	partPayload := []byte(`{"case_id":"b1-p1","applicant":{"id_number":"` + citizen + `"}}`)
	part := &gateway.Case{ID: "b1-p1", ExchangeID: "x-b1", Sender: "p-a", Owner: "p-c", FromRegion: "320404",
		ToRegion: "330702", State: contracts.CaseStateReceived, CreatedAt: t0, UpdatedAt: t0, BundleID: "b1",
		Admin: &gateway.CaseAdmin{Part: &gateway.PartAdmin{Part: "p1", Name: "营业执照", Parts: 1}}}
	held := &gateway.Delivery{ID: "d-b1-p1", Kind: contracts.DeliveryKindCase, Partner: "p-c", ExchangeID: "dx-b1-p1",
		Payload: bytes.Clone(partPayload), NextAt: gateway.HeldUntil, CreatedAt: t0}
	bundle.Also = []gateway.Change{{Case: part, Create: true, Enqueue: []*gateway.Delivery{held}}}
	if err := s.CreateCase(t.Context(), bundle); err != nil {
		t.Fatal(err)
	}
	if held.Seq == 0 || held.State != contracts.TransportStatePending || held.CaseID != "b1-p1" ||
		!bytes.Equal(held.Payload, partPayload) || part.Version != 1 {
		t.Fatalf("caller's Also delivery after the write: Seq %d State %q CaseID %q Payload %q, case version %d; want the store's Seq, state and case, the plaintext, version 1",
			held.Seq, held.State, held.CaseID, held.Payload, part.Version)
	}
	rd, err := r.raw.GetDelivery(t.Context(), "d-b1-p1")
	if err != nil {
		t.Fatal(err)
	}
	if rd.PayloadKey != "2026-11" || bytes.Contains(rd.Payload, []byte(citizen)) {
		t.Fatalf("Also delivery at rest: key %q, payload %q; want sealed under 2026-11", rd.PayloadKey, rd.Payload)
	}
	d, err := s.GetDelivery(t.Context(), "d-b1-p1")
	if err != nil || !bytes.Equal(d.Payload, partPayload) || !d.NextAt.Equal(gateway.HeldUntil) {
		t.Fatalf("Also delivery read back: %q, NextAt %s, %v", d.Payload, d.NextAt, err)
	}

	// An update's Also changes too: the part released (its held delivery
	// cancelled) with a successor.
	next := &gateway.Delivery{ID: "d-b1-p1-2", Kind: contracts.DeliveryKindCase, Partner: "p-c", ExchangeID: "dx-b1-p1-2",
		Payload: bytes.Clone(partPayload), NextAt: t0, CreatedAt: t0}
	b := bundle.Case
	b.UpdatedAt = t0.Add(time.Minute)
	err = s.UpdateCase(t.Context(), gateway.Change{Case: b, Also: []gateway.Change{{Case: part, Cancel: []string{"d-b1-p1"},
		Enqueue: []*gateway.Delivery{next}}}})
	if err != nil {
		t.Fatal(err)
	}
	rn, err := r.raw.GetDelivery(t.Context(), "d-b1-p1-2")
	if err != nil || rn.PayloadKey != "2026-11" || bytes.Contains(rn.Payload, []byte(citizen)) {
		t.Fatalf("updated Also delivery at rest: key %q payload %q %v; want sealed", rn.PayloadKey, rn.Payload, err)
	}
	if !bytes.Equal(next.Payload, partPayload) || next.Seq <= held.Seq || part.Version != 2 {
		t.Fatalf("caller's updated Also delivery: Payload %q Seq %d, case version %d", next.Payload, next.Seq, part.Version)
	}
	if rd, _ := r.raw.GetDelivery(t.Context(), "d-b1-p1"); rd.State != contracts.TransportStateCancelled {
		t.Fatalf("held delivery after the release: %s, want cancelled", rd.State)
	}

	parts, err := s.BundleParts(t.Context(), "b1")
	if err != nil || len(parts) != 1 || parts[0].ID != "b1-p1" || parts[0].Admin == nil || parts[0].Admin.Part.Name != "营业执照" {
		t.Fatalf("BundleParts: %+v, %v; want b1-p1 with its administration", parts, err)
	}
	due, err := s.AlarmsDue(t.Context(), alarm, 10)
	if err != nil || len(due) != 1 || due[0].ID != "b1" {
		t.Fatalf("AlarmsDue: %+v, %v; want b1", due, err)
	}
}
