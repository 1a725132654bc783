package standard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestCaseDeliveryGolden pins the exact bytes the adapter puts on the wire
// for a fixed case delivery: the signature covers them, so any change in
// encoding is a change of contract. Run with -update to accept a change.
func TestCaseDeliveryGolden(t *testing.T) {
	gw, partner := newPair(t)
	srv := newAckServer(t, partner, nil)
	a := newAdapter(t, gw, srv.URL, "", 0)

	d := sampleCase(time.FixedZone("CST", 8*3600))
	if _, _, _, err := a.DeliverCase(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("partner saw %d requests, want 1", len(reqs))
	}
	got := reqs[0].body

	path := filepath.Join("testdata", "case_delivery.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("wire bytes differ from %s:\n got %s\nwant %s", path, got, want)
	}
	if !json.Valid(want) {
		t.Errorf("%s is not valid JSON", path)
	}
}
