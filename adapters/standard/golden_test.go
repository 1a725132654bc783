package standard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
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
	checkGolden(t, filepath.Join("testdata", "case_delivery.golden.json"), reqs[0].body)
}

// TestUsageDeliveryGolden pins the exact bytes of a usage record delivery.
func TestUsageDeliveryGolden(t *testing.T) {
	gw, partner := newPair(t)
	srv := newAckServer(t, partner, nil)
	a := newAdapter(t, gw, srv.URL, "", 0)
	if _, _, _, err := a.DeliverUsage(context.Background(), sampleUsage()); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("partner saw %d requests, want 1", len(reqs))
	}
	checkGolden(t, filepath.Join("testdata", "usage_delivery.golden.json"), reqs[0].body)
}

// TestUsageBatchGolden pins the exact bytes of a batch of usage records:
// each record exactly as the single-record webhook would carry it.
func TestUsageBatchGolden(t *testing.T) {
	gw, partner := newPair(t)
	srv := newAckServer(t, partner, nil)
	a := newAdapter(t, gw, srv.URL, "", 0)
	second := *sampleUsage()
	second.DeliveryID, second.ExchangeID = "dlv-0004", "01959251-0000-7000-8000-000000000004"
	second.Record.UsageRecordID, second.Record.Outcome, second.Record.ErrorCode = "ur-01959250aaaa7bbc", "", contracts.CodeInvalidLicenseID
	b := &contracts.UsageRecordBatch{BatchID: "01959252-0000-7000-8000-000000000001", SentAt: second.SentAt.Add(time.Second),
		Deliveries: []contracts.UsageRecordDelivery{*sampleUsage(), second}}
	ack, _, _, err := a.DeliverUsageBatch(context.Background(), b)
	if err != nil || len(ack.DeliveryIDs) != 2 {
		t.Fatalf("DeliverUsageBatch: %+v, %v", ack, err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 || reqs[0].path != "/licenses/usage/batch" {
		t.Fatalf("partner saw %d requests, want 1 to /licenses/usage/batch", len(reqs))
	}
	single, err := json.Marshal(sampleUsage())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(reqs[0].body, single) {
		t.Errorf("the batch does not carry the record as the single-record webhook would:\n%s\nlacks\n%s", reqs[0].body, single)
	}
	checkGolden(t, filepath.Join("testdata", "usage_batch.golden.json"), reqs[0].body)
}

// TestLicenseLookupGolden pins the exact bytes of a lookup by holder.
func TestLicenseLookupGolden(t *testing.T) {
	gw, partner := newPair(t)
	srv := newLibraryServer(t, partner, func(q contracts.LicenseLookupRequest) (int, []byte, bool) {
		b, _ := json.Marshal(contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID})
		return http.StatusOK, b, true
	})
	a := newAdapter(t, gw, srv.URL, "", 0)
	q := sampleLookup("")
	q.Holder = &contracts.Holder{HolderType: contracts.HolderTypeCreditCode, IDNumber: "91330702MA6GFR18X7"}
	q.LicenseTypeCode = "11100000MB0143531D017"
	q.LicenseNumber = "JY13307021599123"
	if _, _, _, err := a.LookupLicense(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("library saw %d requests, want 1", len(reqs))
	}
	checkGolden(t, filepath.Join("testdata", "license_lookup.golden.json"), reqs[0].body)
}

// checkGolden compares got with the golden file at path, rewriting it
// first under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
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
