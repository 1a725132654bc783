package adaptertest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tongban/tongban/contracts"
)

// t0 is the fixtures' reference time: whole seconds, so that partner
// formats without sub-second precision carry every time exactly.
var t0 = time.Date(2026, 3, 14, 9, 30, 12, 0, time.FixedZone("CST", 8*3600))

// uuid returns a canonical UUIDv7-shaped id numbered n.
func uuid(n int) string {
	return fmt.Sprintf("0195f3a0-%04x-7%03x-8%03x-%012x", n&0xffff, n&0xfff, n&0xfff, n)
}

// FullCase returns a case delivery with every field of the contract set,
// numbered n: agent, materials inline and by reference, license ids, a
// nested form, a postal result delivery, a remark, text with characters
// that need escaping in JSON and XML.
func FullCase(n int, sm3 func([]byte) string) *contracts.CaseDelivery {
	pdf := []byte("%PDF-1.4\n% Tongban contract test: 经营场所使用证明 <&>\"'\n%%EOF\n")
	jpeg := []byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00}
	sub := contracts.CaseSubmission{
		ExchangeID: uuid(n), FromRegion: "320404", ToRegion: "330702", SubmittedAt: t0,
		ServiceItem: contracts.ServiceItem{
			BasicCode: "000155014000", ImplementationCode: "113307020025937411400015501400001",
			Name: "个体工商户设立登记", Department: "金华市婺城区市场监督管理局",
		},
		Applicant: contracts.Party{HolderType: contracts.HolderTypeCitizenID, IDNumber: "11010519491231002X", Name: "王秀英", Phone: "13961234567"},
		Agent:     &contracts.Party{HolderType: contracts.HolderTypeCitizenID, IDNumber: "320404198506123015", Name: "李明", Phone: "13861230088"},
		Window: contracts.Window{WindowID: "window-320404", OperatorID: "zl-0231", Region: "320404",
			Name: "钟楼区政务服务中心跨省通办窗口"},
		ReceivedAt:  t0.Add(-17 * time.Minute),
		LocalCaseNo: fmt.Sprintf("ZL-KSTB-20260314-%04d", n),
		Form: json.RawMessage(`{"business_name":"婺城区秀英百货店 <A&B>","business_scope":"日用百货零售",` +
			`"capital_cny":50000,"employees":2,"operator_is_applicant":true,"premises":{"address":"八一南街123号","area_m2":35.5}}`),
		Materials: []contracts.Material{
			{MaterialID: "M01", Name: "经营场所使用证明", MediaType: "application/pdf", Size: int64(len(pdf)), SM3: sm3(pdf), Content: pdf},
			{MaterialID: "M02", Name: "经营者近期免冠照片", MediaType: "image/jpeg", Size: 48213, SM3: sm3(jpeg),
				URL: "https://zwfw.zhonglou.example.gov.cn/materials/M02.jpg?v=1&sig=ab"},
		},
		LicenseIDs: []string{"1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B"},
		ResultDelivery: contracts.ResultDelivery{Method: contracts.ResultDeliveryMethodPost, Recipient: "王秀英",
			Phone: "13961234567", Address: "江苏省常州市钟楼区延陵西路88号3幢201室", PostalCode: "213000"},
		Remark: "申请人现居常州，营业执照请邮寄至常州住址。",
	}
	return &contracts.CaseDelivery{
		DeliveryID: uuid(1000 + n), CaseID: uuid(2000 + n), ExchangeID: sub.ExchangeID,
		SenderRegion: sub.FromRegion, SentAt: t0.Add(time.Second), Submission: sub,
	}
}

// Updates returns one status update of case caseID for every state an
// owner reports, each with the fields its state carries.
func Updates(caseID string, sm3 func([]byte) string) []contracts.StatusUpdate {
	doc := []byte("%PDF-1.4\n% 准予行政许可决定书\n")
	base := func(i int, st contracts.CaseState) contracts.StatusUpdate {
		return contracts.StatusUpdate{ExchangeID: uuid(3000 + i), CaseID: caseID, State: st,
			ReportedAt: t0.Add(time.Duration(i) * time.Hour), OwnerCaseNo: "330702-2026-000042"}
	}
	accepted := base(0, contracts.CaseStateAccepted)
	accepted.Note = "已受理"
	rejected := base(1, contracts.CaseStateRejected)
	rejected.Reason = "申请事项不属于本机关职权范围"
	correction := base(2, contracts.CaseStateCorrectionRequired)
	correction.Reason, correction.CorrectionItems = "申请材料不齐全", []string{"经营场所使用证明", "身份证复印件"}
	progress := base(3, contracts.CaseStateInProgress)
	progress.Note = "审查中"
	concluded := base(4, contracts.CaseStateConcluded)
	concluded.Outcome, concluded.Note = contracts.OutcomeApproved, "准予许可"
	concluded.Documents = []contracts.Document{
		{Name: "准予行政许可决定书", MediaType: "application/pdf", Size: int64(len(doc)), SM3: sm3(doc), Content: doc},
		{Name: "营业执照", MediaType: "application/ofd", Size: 1024, SM3: sm3([]byte("ofd")), URL: "https://zw.example.gov.cn/r/1.ofd",
			LicenseID: "1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B"},
	}
	dispatched := base(5, contracts.CaseStateDispatched)
	dispatched.Dispatch = &contracts.Dispatch{Method: contracts.ResultDeliveryMethodPost, Carrier: "EMS",
		TrackingNumber: "EA123456785CN", DispatchedAt: t0.Add(5 * time.Hour)}
	electronic := base(6, contracts.CaseStateDispatched)
	electronic.Dispatch = &contracts.Dispatch{Method: contracts.ResultDeliveryMethodElectronic,
		URL: "https://zw.example.gov.cn/r/1", DispatchedAt: t0.Add(6 * time.Hour)}
	delivered := base(7, contracts.CaseStateDelivered)
	delivered.DeliveredAt, delivered.Note = t0.Add(7*time.Hour), "已签收"
	return []contracts.StatusUpdate{accepted, rejected, correction, progress, concluded, dispatched, electronic, delivered}
}

// StatusDelivery wraps u as the gateway delivers it to the sending
// district.
func StatusDelivery(i int, u contracts.StatusUpdate) *contracts.StatusDelivery {
	return &contracts.StatusDelivery{DeliveryID: uuid(4000 + i), CaseID: u.CaseID, ExchangeID: u.ExchangeID,
		LocalCaseNo: "ZL-KSTB-20260314-0001", SentAt: t0.Add(time.Duration(i) * time.Minute), Update: u}
}

// FullUsage returns a usage record delivery with every field set.
func FullUsage(n int) *contracts.UsageRecordDelivery {
	return &contracts.UsageRecordDelivery{
		DeliveryID: uuid(5000 + n), ExchangeID: uuid(6000 + n), SentAt: t0,
		Record: contracts.UsageRecord{
			UsageRecordID: uuid(7000 + n), Caller: "320404", WindowID: "window-320404", OperatorID: "zl-0231",
			Purpose: "个体工商户设立登记（核验身份）", CaseID: uuid(2001),
			LicenseID:       "1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B",
			LicenseTypeCode: "111000000000000000000", HolderIDMasked: "1101**********002X",
			Outcome: contracts.LicenseOutcomeValid, SourceRegion: "330702", CheckedAt: t0, Cached: true,
		},
	}
}

// sm3Hex adapts a Crypto's SM3Hex for the fixtures.
func sm3Hex(f func([]byte) string) func([]byte) string {
	return func(b []byte) string {
		if f == nil {
			return hex.EncodeToString(b)
		}
		return f(b)
	}
}
