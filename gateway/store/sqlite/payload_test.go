package sqlite

import (
	"bytes"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestScannedPayloadsAreTheirOwn: the payloads of the deliveries read in
// one query keep their own bytes (the driver gives each row's BLOB a
// slice of its own, which driverBytes keeps), and reading a payload costs
// one copy of it, not two.
func TestScannedPayloadsAreTheirOwn(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "tongban.db"), Options{})
	defer s.Close()
	const size = 4 << 20
	now := time.Now().UTC()
	c := &gateway.Case{ID: "c1", ExchangeID: "x1", Sender: "a", Owner: "b", FromRegion: "320404", ToRegion: "330702",
		State: contracts.CaseStateReceived, CreatedAt: now, UpdatedAt: now}
	payloads := [][]byte{bytes.Repeat([]byte("1"), size), bytes.Repeat([]byte("2"), size), nil}
	var ds []*gateway.Delivery
	for i, p := range payloads {
		ds = append(ds, &gateway.Delivery{ID: "d" + string(rune('1'+i)), CaseID: "c1", Kind: contracts.DeliveryKindCase, Partner: "b",
			ExchangeID: "x1", Payload: p, State: contracts.TransportStatePending, NextAt: now, CreatedAt: now})
	}
	if err := s.CreateCase(t.Context(), gateway.Change{Case: c, Enqueue: ds}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Deliveries(t.Context(), "c1")
	if err != nil || len(got) != len(payloads) {
		t.Fatalf("Deliveries: %d, %v", len(got), err)
	}
	for i, d := range got {
		if !bytes.Equal(d.Payload, payloads[i]) || (d.Payload == nil) != (payloads[i] == nil) {
			t.Errorf("delivery %s: payload of %d bytes, want %d bytes of %q", d.ID, len(d.Payload), len(payloads[i]), payloads[i][:min(1, len(payloads[i]))])
		}
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d, err := s.GetDelivery(t.Context(), "d1")
	runtime.ReadMemStats(&after)
	if err != nil || !bytes.Equal(d.Payload, payloads[0]) {
		t.Fatalf("GetDelivery: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size+size/2 {
		t.Errorf("reading a payload of %d bytes allocated %d bytes, want at most %d (one copy)", size, alloc, size+size/2)
	}
}
