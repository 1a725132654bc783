package mappedjson

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// Benchmarks of the hot paths with ExampleConfig: what every delivery,
// acknowledgement and inbound call goes through. Run with
//
//	go test ./adapters/mappedjson -run '^$' -bench . -benchmem

var benchNow = time.Date(2026, 3, 14, 9, 30, 0, 123456789, time.FixedZone("CST", 8*3600))

func benchAdapter(b *testing.B) (*Adapter, *PartnerSide) {
	b.Helper()
	a, err := New(adapters.Params{PartnerID: "330702", Config: ExampleConfig("https://jh.example"), Crypto: nopCrypto{}})
	if err != nil {
		b.Fatal(err)
	}
	side, err := NewPartnerSide("330702", ExampleConfig("https://jh.example"))
	if err != nil {
		b.Fatal(err)
	}
	return a, side
}

// benchCase is a case delivery with every field set and two materials, one
// of them 16 KiB inline: a typical case.
func benchCase() *contracts.CaseDelivery {
	sm3 := strings.Repeat("0a", 32)
	pdf := []byte(strings.Repeat("%PDF-1.4 经营场所使用证明 ", 16<<10/32))
	return &contracts.CaseDelivery{
		DeliveryID: "dlv-0001", CaseID: "case-01959245f1f97a3c", ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		SenderRegion: "320404", SentAt: benchNow,
		Submission: contracts.CaseSubmission{
			ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", FromRegion: "320404", ToRegion: "330702",
			SubmittedAt: benchNow.Add(-30 * time.Second), ResubmitsCaseID: "case-01959240aaaa0001",
			ServiceItem: contracts.ServiceItem{BasicCode: "000155014000", ImplementationCode: "113307020025937411400015501400001",
				Name: "个体工商户设立登记", Department: "金华市婺城区市场监督管理局"},
			Applicant: contracts.Party{HolderType: "111", IDNumber: "11010519491231002X", Name: "王秀英", Phone: "13961234567"},
			Agent:     &contracts.Party{HolderType: "001", IDNumber: "91330702MA6GFR18X7", Name: "金华秀英代办有限公司", Phone: "057982345678"},
			Window: contracts.Window{WindowID: "window-320404", OperatorID: "zl-0231", Region: "320404",
				Name: "钟楼区政务服务中心跨省通办窗口"},
			ReceivedAt: benchNow.Add(-17 * time.Minute), LocalCaseNo: "ZL-KSTB-20260314-0017",
			Form: json.RawMessage(`{"business_name":"婺城区秀英百货店","capital_cny":50000,"area_m2":35.5,` +
				`"operator_is_applicant":true,"premises":{"address":"八一南街123号","floors":[1,2]},"note":null}`),
			Materials: []contracts.Material{
				{MaterialID: "M01", Name: "经营场所使用证明", MediaType: "application/pdf", Size: int64(len(pdf)), SM3: sm3, Content: pdf},
				{MaterialID: "M02", Name: "经营者近期免冠照片", MediaType: "image/jpeg", Size: 48213, SM3: sm3,
					URL: "https://zwfw.zhonglou.example.gov.cn/materials/M02.jpg?v=1&sig=ab"},
			},
			LicenseIDs: []string{"1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9"},
			ResultDelivery: contracts.ResultDelivery{Method: contracts.ResultDeliveryMethodPost, Recipient: "王秀英",
				Phone: "13961234567", Address: "江苏省常州市钟楼区延陵西路88号3幢201室", PostalCode: "213000"},
			Remark: "营业执照请邮寄至常州住址。",
		},
	}
}

// BenchmarkEncodeCaseDelivery: the request body of a full case delivery.
func BenchmarkEncodeCaseDelivery(b *testing.B) {
	a, _ := benchAdapter(b)
	d := benchCase()
	body, err := a.spec.caseOp.request.encodeBytes(d)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.spec.caseOp.request.encodeBytes(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcceptAck: reading and checking a district's acknowledgement
// of a case once its signature verified.
func BenchmarkAcceptAck(b *testing.B) {
	a, side := benchAdapter(b)
	d := benchCase()
	want := adapters.AckExpectation{ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID,
		BodySM3: strings.Repeat("0a", 32), KeyID: "330702", Case: true}
	raw, _, err := side.WriteAck(&adapters.Message{Case: d}, &contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID,
		PartnerCaseNo: "WC-2026-000042", AcknowledgedAt: benchNow.Truncate(time.Second), BodySM3: want.BodySM3})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.acceptAck(a.spec.caseOp, raw, nil, want); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStatusCall: reading a district's status update call
// (concluded, with a result document and a dispatch).
func BenchmarkDecodeStatusCall(b *testing.B) {
	a, side := benchAdapter(b)
	u := contracts.StatusUpdate{ExchangeID: "01959246-0000-7000-8000-000000000006", CaseID: "case-01959245f1f97a3c",
		State: contracts.CaseStateConcluded, ReportedAt: benchNow, OwnerCaseNo: "WC-2026-000042", Note: "准予许可",
		Outcome: contracts.OutcomeApproved,
		Documents: []contracts.Document{{Name: "准予行政许可决定书", MediaType: "application/pdf", Size: 2048,
			SM3: strings.Repeat("0a", 32), URL: "https://zwfw.wucheng.example.gov.cn/docs/1.pdf",
			LicenseID: "1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9"}},
		Dispatch: &contracts.Dispatch{Method: contracts.ResultDeliveryMethodPost, Carrier: "EMS",
			TrackingNumber: "1151234567890", DispatchedAt: benchNow},
	}
	pc, err := side.Call(&contracts.InboundCall{Kind: contracts.InboundStatus, Update: &u})
	if err != nil {
		b.Fatal(err)
	}
	call := &contracts.NativeCall{Operation: "ztbg", MediaType: MediaType, Body: pc.Body}
	b.SetBytes(int64(len(pc.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.DecodeCall(call); err != nil {
			b.Fatal(err)
		}
	}
}
