package soap

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// The golden tests pin the exact envelopes the style puts on the wire for
// fixed inputs: signatures cover these bytes, so any change in encoding is
// a change of contract. Run go test -run Golden -update to accept one.

// goldenCall delivers with deliver and pins the envelope the partner saw.
func goldenCall(t *testing.T, file string, lib *contracts.LicenseRecord, deliver func(a *Adapter) error) {
	t.Helper()
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	if lib != nil {
		srv.library[lib.LicenseID] = *lib
	}
	a := newAdapter(t, gw, srv.endpoint(), "")
	if err := deliver(a); err != nil {
		t.Fatal(err)
	}
	calls := srv.seen()
	if len(calls) != 1 {
		t.Fatalf("partner saw %d calls, want 1", len(calls))
	}
	checkGolden(t, file, calls[0].body)
}

func TestDeliverCaseGolden(t *testing.T) {
	goldenCall(t, "deliver_case.golden.xml", nil, func(a *Adapter) error {
		_, _, _, err := a.DeliverCase(context.Background(), sampleCase(time.FixedZone("CST", 8*3600)))
		return err
	})
}

func TestDeliverStatusGolden(t *testing.T) {
	goldenCall(t, "deliver_status.golden.xml", nil, func(a *Adapter) error {
		_, _, _, err := a.DeliverStatus(context.Background(), statusCases()[contracts.CaseStateDispatched])
		return err
	})
}

func TestDeliverUsageGolden(t *testing.T) {
	goldenCall(t, "deliver_usage.golden.xml", nil, func(a *Adapter) error {
		_, _, _, err := a.DeliverUsage(context.Background(), sampleUsage())
		return err
	})
}

func TestDeliverUsageBatchGolden(t *testing.T) {
	goldenCall(t, "deliver_usage_batch.golden.xml", nil, func(a *Adapter) error {
		second := *sampleUsage()
		second.DeliveryID, second.ExchangeID = "dlv-0004", "01959251-0000-7000-8000-000000000004"
		second.Record.UsageRecordID, second.Record.Outcome, second.Record.ErrorCode = "ur-01959250aaaa7bbc", "", contracts.CodeInvalidLicenseID
		b := &contracts.UsageRecordBatch{BatchID: "01959252-0000-7000-8000-000000000001", SentAt: second.SentAt.Add(time.Second),
			Deliveries: []contracts.UsageRecordDelivery{*sampleUsage(), second}}
		ack, _, _, err := a.DeliverUsageBatch(context.Background(), b)
		if err == nil && len(ack.DeliveryIDs) != 2 {
			t.Errorf("acknowledged %v, want both", ack.DeliveryIDs)
		}
		return err
	})
}

func TestDeliverNoticeGolden(t *testing.T) {
	goldenCall(t, "deliver_notice.golden.xml", nil, func(a *Adapter) error {
		_, _, _, err := a.DeliverNotice(context.Background(), sampleNotices()[contracts.NoticeFollowUpReply])
		return err
	})
}

func TestDeliverCaseBundleGolden(t *testing.T) {
	goldenCall(t, "deliver_case_bundle.golden.xml", nil, func(a *Adapter) error {
		_, _, _, err := a.DeliverCase(context.Background(), sampleBundleCase())
		return err
	})
}

// TestAdminCallsGolden pins the partner's SubmitEvaluation,
// ReplyToEvaluation and SubmitBundle envelopes, and the gateway's receipt
// of a bundle.
func TestAdminCallsGolden(t *testing.T) {
	side := newSide(t, "https://zwfw.chiping.example.gov.cn/services/TongbanExchange", "")
	for _, c := range []struct {
		file string
		call *contracts.InboundCall
	}{
		{"submit_evaluation.golden.xml", &contracts.InboundCall{Kind: contracts.InboundEvaluation, Evaluation: sampleEvaluation()}},
		{"reply_to_evaluation.golden.xml", &contracts.InboundCall{Kind: contracts.InboundReply, Reply: sampleReply()}},
		{"submit_bundle.golden.xml", &contracts.InboundCall{Kind: contracts.InboundBundle, Bundle: sampleBundle()}},
	} {
		pc, err := side.Call(c.call)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, c.file, pc.Body)
	}
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	body, _, err := a.EncodeReceipt(&contracts.InboundCall{Kind: contracts.InboundBundle, Operation: OpSubmitBundle}, sampleBundleReceipt())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "receipt_bundle.golden.xml", body)
}

func TestLookupLicenseGolden(t *testing.T) {
	rec := sampleLicense(t)
	goldenCall(t, "lookup_license.golden.xml", &rec, func(a *Adapter) error {
		_, _, _, err := a.LookupLicense(context.Background(), sampleLookup(rec.LicenseID))
		return err
	})
}

func TestReceiptGolden(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	r := &contracts.Receipt{
		ExchangeID: "01959246-0000-7000-8000-000000000001", CaseID: "case-01959245f1f97a3c",
		ReceivedAt: time.Date(2026, 3, 16, 15, 4, 6, 250e6, time.UTC),
		BodySM3:    "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
		State:      contracts.CaseStateConcluded, EvidenceSeq: 1207,
	}
	body, _, err := a.EncodeReceipt(&contracts.InboundCall{Kind: contracts.InboundStatus, Operation: OpReportStatus}, r)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "receipt.golden.xml", body)
}

func TestFaultGolden(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	body, _, _ := a.EncodeError(nil, &contracts.Error{
		Code: contracts.CodeInvalidTransition, Message: "case case-01959245f1f97a3c cannot go from accepted to delivered",
		RequestID: "req-7f3a",
	}, 409)
	checkGolden(t, "fault.golden.xml", body)
}

func TestReportStatusCallGolden(t *testing.T) {
	side := newSide(t, "https://zwfw.chiping.example.gov.cn/services/TongbanExchange", "")
	u := statusCases()[contracts.CaseStateCorrectionRequired].Update
	pc, err := side.Call(&contracts.InboundCall{Kind: contracts.InboundStatus, Update: &u})
	if err != nil {
		t.Fatal(err)
	}
	want := adapters.PartnerCall{Path: "/v1/inbound/371523", MediaType: ContentType, Action: "urn:tongban:exchange:v1/ReportStatus"}
	if pc.Path != want.Path || pc.MediaType != want.MediaType || pc.Action != want.Action {
		t.Errorf("call: got %+v", pc)
	}
	checkGolden(t, "report_status.golden.xml", pc.Body)
}

// checkGolden compares got with the golden file testdata/name, rewriting
// it first under -update, and checks that it is a SOAP 1.1 envelope.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
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
	if _, err := parseEnvelope(want); err != nil {
		t.Errorf("%s is not a SOAP 1.1 envelope: %v", path, err)
	}
}
