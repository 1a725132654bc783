package mappedjson_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/contracts"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// fixedSM3 stands in for SM3 in the fixtures, so that golden bytes do not
// depend on anything but the inputs.
func fixedSM3(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 64)
	for i := range out {
		out[i] = hex[(len(b)+i)%16]
	}
	return string(out)
}

// TestGolden pins the exact bytes the example config puts on the wire for
// fixed inputs: what the adapter sends for each outbound operation, the
// receipt it renders for an inbound call, and the calls the district
// makes. The signatures cover these bytes, so any change in encoding is a
// change of what districts see. Run with -update to accept a change.
func TestGolden(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	rec := sampleLicense()
	d.library[rec.LicenseID] = rec
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	ctx := context.Background()

	updates := sampleUpdates("case-01959245f1f97a3c", fixedSM3)
	concluded := updates[6]
	if _, _, _, err := a.DeliverCase(ctx, sampleCase(fixedSM3)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.DeliverStatus(ctx, sampleStatus(6, concluded)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.DeliverUsage(ctx, sampleUsage()); err != nil {
		t.Fatal(err)
	}
	q := sampleLookup()
	q.LicenseID = ""
	q.Holder = &contracts.Holder{HolderType: "111", IDNumber: rec.Holder.IDNumber}
	q.LicenseTypeCode, q.LicenseNumber = rec.TypeCode, rec.Number
	if _, _, _, err := a.LookupLicense(ctx, q); err != nil {
		t.Fatal(err)
	}
	second := *sampleUsage()
	second.DeliveryID, second.ExchangeID = "dlv-0004", "01959251-0000-7000-8000-000000000004"
	second.Record.UsageRecordID, second.Record.Outcome, second.Record.ErrorCode = "ur-01959250aaaa7bbc", "", contracts.CodeInvalidLicenseID
	batch := &contracts.UsageRecordBatch{BatchID: "01959252-0000-7000-8000-000000000001", SentAt: second.SentAt.Add(time.Second),
		Deliveries: []contracts.UsageRecordDelivery{*sampleUsage(), second}}
	if ack, _, _, err := a.DeliverUsageBatch(ctx, batch); err != nil || len(ack.DeliveryIDs) != 2 {
		t.Fatalf("DeliverUsageBatch: %+v, %v", ack, err)
	}
	reqs := d.requests()
	if len(reqs) != 5 {
		t.Fatalf("district saw %d requests, want 5", len(reqs))
	}
	checkGolden(t, "case_delivery", reqs[0].body)
	checkGolden(t, "status_delivery", reqs[1].body)
	checkGolden(t, "usage_delivery", reqs[2].body)
	checkGolden(t, "lookup_request", reqs[3].body)
	checkGolden(t, "usage_batch_delivery", reqs[4].body)
	batchAck, _, err := mustSide(t, d.URL).WriteBatchAck(&adapters.Message{UsageBatch: batch}, &contracts.UsageBatchAck{BatchID: batch.BatchID,
		DeliveryIDs: []string{"dlv-0003"}, AcknowledgedAt: fixedNow, BodySM3: fixedSM3(reqs[4].body), KeyID: partnerID})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "usage_batch_ack", batchAck)

	receipt, _, err := a.EncodeReceipt(&contracts.InboundCall{Kind: contracts.InboundStatus, Update: &concluded},
		&contracts.Receipt{ExchangeID: concluded.ExchangeID, CaseID: concluded.CaseID, ReceivedAt: fixedNow,
			BodySM3: fixedSM3([]byte("call")), State: contracts.CaseStateConcluded, EvidenceSeq: 4711})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "receipt", receipt)
	refusal, _, _ := a.EncodeError(nil, &contracts.Error{Code: contracts.CodeInvalidTransition,
		Message: "status update is not allowed from the case's current state", RequestID: "req-0001"}, 409)
	checkGolden(t, "error", refusal)

	side, err := mappedjson.NewPartnerSide(partnerID, mappedjson.ExampleConfig(d.URL))
	if err != nil {
		t.Fatal(err)
	}
	call, err := side.Call(&contracts.InboundCall{Kind: contracts.InboundStatus, Update: &concluded})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "status_call", call.Body)
	sub := sampleSubmission(fixedSM3)
	call, err = side.Call(&contracts.InboundCall{Kind: contracts.InboundCase, Submission: &sub})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "case_call", call.Body)
}

// TestGoldenAdmin pins the exact bytes of a case's administration with
// the example config: a notice and a part of a bundle as the adapter sends
// them, the district's acknowledgement of the notice, the district's
// evaluation, reply and bundle calls, and the gateway's receipt of a
// bundle.
func TestGoldenAdmin(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	ctx := context.Background()
	notice := sampleNotice(contracts.NoticeFollowUpReply)
	if _, _, _, err := a.DeliverNotice(ctx, notice); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.DeliverCase(ctx, sampleBundleCase(fixedSM3)); err != nil {
		t.Fatal(err)
	}
	reqs := d.requests()
	if len(reqs) != 2 {
		t.Fatalf("district saw %d requests, want 2", len(reqs))
	}
	checkGolden(t, "notice_delivery", reqs[0].body)
	checkGolden(t, "case_delivery_bundle", reqs[1].body)
	side := mustSide(t, d.URL)
	ack, _, err := side.WriteAck(&adapters.Message{Notice: notice}, &contracts.Ack{ExchangeID: notice.ExchangeID,
		DeliveryID: notice.DeliveryID, AcknowledgedAt: fixedNow, BodySM3: fixedSM3(reqs[0].body), KeyID: partnerID})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "notice_ack", ack)
	for name, c := range map[string]*contracts.InboundCall{
		"evaluation_call": {Kind: contracts.InboundEvaluation, Evaluation: sampleEvaluation()},
		"reply_call":      {Kind: contracts.InboundReply, Reply: sampleReply()},
		"bundle_call":     {Kind: contracts.InboundBundle, Bundle: sampleBundle(fixedSM3)},
	} {
		call, err := side.Call(c)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, name, call.Body)
	}
	receipt, _, err := a.EncodeReceipt(&contracts.InboundCall{Kind: contracts.InboundBundle}, sampleBundleReceipt(fixedSM3))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "receipt_bundle", receipt)
}

// mustSide returns the example config's partner side.
func mustSide(t *testing.T, endpoint string) *mappedjson.PartnerSide {
	t.Helper()
	side, err := mappedjson.NewPartnerSide(partnerID, mappedjson.ExampleConfig(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	return side
}

// checkGolden compares got with testdata/<name>.golden.json, rewriting it
// first under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
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
