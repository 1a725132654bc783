package soap

import (
	"net/http"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// The hot paths of the style, without HTTP and SM2: what the dispatcher
// pays per case delivery on top of the call itself, what it pays to read
// the partner's acknowledgement, and what the gateway pays to read a
// partner's inbound ReportStatus.

// BenchmarkEncodeCaseDelivery encodes a full case delivery (every
// optional field set, a 256-byte inline material, a nested form) as a
// DeliverCase envelope.
func BenchmarkEncodeCaseDelivery(b *testing.B) {
	p := benchSide(b).proto
	d := sampleCase(time.FixedZone("CST", 8*3600))
	raw, err := p.marshal(OpDeliverCase, d)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.marshal(OpDeliverCase, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAck reads a partner's DeliverCaseResponse and checks it
// acknowledges the delivery sent (the adapter's path after the signature
// verified).
func BenchmarkDecodeAck(b *testing.B) {
	side := benchSide(b)
	p := side.proto
	want := adapters.AckExpectation{
		ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", DeliveryID: "dlv-0001",
		BodySM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", KeyID: partnerID, Case: true,
	}
	raw, _, err := side.WriteAck(&adapters.Message{Case: sampleCase(time.UTC)}, &contracts.Ack{
		ExchangeID: want.ExchangeID, DeliveryID: want.DeliveryID, PartnerCaseNo: "371523-2026-000042",
		AcknowledgedAt: time.Date(2026, 3, 14, 9, 31, 1, 0, time.FixedZone("CST", 8*3600)), BodySM3: want.BodySM3, KeyID: partnerID,
	})
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.acceptAck(OpDeliverCase, raw, http.StatusOK, h, fixedNow, want); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeReportStatus reads a partner's inbound ReportStatus call
// (a concluded case with one inline result document), as DecodeCall does.
func BenchmarkDecodeReportStatus(b *testing.B) {
	side := benchSide(b)
	u := sampleStatus().Update
	pc, err := side.Call(&contracts.InboundCall{Kind: contracts.InboundStatus, Update: &u})
	if err != nil {
		b.Fatal(err)
	}
	call := &contracts.NativeCall{MediaType: MediaType, Action: pc.Action, Body: pc.Body}
	b.SetBytes(int64(len(pc.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := side.proto.decodeCall(call); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSide is the partner side of the default config.
func benchSide(b *testing.B) *PartnerSide {
	b.Helper()
	s, err := NewPartnerSide(partnerID, ExampleConfig("http://127.0.0.1:1/svc"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}
