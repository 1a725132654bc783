package mappedjson_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tongban/tongban/contracts"
)

// Fixtures of a case's administration: notices, evaluations, follow-up
// replies and 一件事 bundles, each with every field its kind carries.

// sampleDeadline is a running statutory clock of 20 working days, warned.
func sampleDeadline() *contracts.Deadline {
	start := time.Date(2026, 3, 16, 10, 0, 0, 0, cst)
	return &contracts.Deadline{
		Limit:   contracts.TimeLimit{Days: 20, Unit: contracts.LimitWorkingDays},
		Running: true, StartedAt: start, Deadline: time.Date(2026, 4, 14, 23, 59, 59, 999999999, cst),
		DaysUsed: 17, DaysLeft: 3, WarnedAt: time.Date(2026, 4, 9, 8, 0, 0, 125e6, cst),
	}
}

// sampleEvaluationView is a negative evaluation as the gateway keeps it.
func sampleEvaluationView() *contracts.Evaluation {
	return &contracts.Evaluation{
		EvaluationID: "ev-0195a000aaaa7bbb", CaseID: "case-01959245f1f97a3c",
		ExchangeID: "0195a000-0000-7000-8000-000000000001", ImplementationCode: "113307020025937411400015501400001",
		Sender: "320404", Owner: "330702", Level: contracts.LevelDissatisfied, Score: 2,
		Text: "办理时间过长 <超时> & 窗口态度一般", Channel: contracts.ChannelApp,
		EvaluatedAt: time.Date(2026, 4, 20, 19, 5, 0, 0, cst), HolderType: "111",
		ApplicantMasked: contracts.MaskID("11010519491231002X"), ReceivedAt: time.Date(2026, 4, 20, 19, 5, 1, 5e8, cst),
	}
}

// sampleReply is an owner's answer to a negative evaluation.
func sampleReply() *contracts.EvaluationReply {
	return &contracts.EvaluationReply{
		ExchangeID: "0195a001-0000-7000-8000-000000000002", CaseID: "case-01959245f1f97a3c",
		RepliedAt: time.Date(2026, 4, 23, 16, 30, 0, 0, cst),
		Measures:  "已约谈窗口人员，优化审批流程 <三日内办结>", Result: "申请人表示认可", ContactedApplicant: true,
	}
}

// noticeTypes lists the notice types in a fixed order.
var noticeTypes = []contracts.NoticeType{
	contracts.NoticeDeadlineWarning, contracts.NoticeDeadlineOverdue, contracts.NoticeEvaluation,
	contracts.NoticeFollowUpReply, contracts.NoticeFollowUpOverdue, contracts.NoticePartCancelled,
}

// sampleNotice is a notice delivery of type typ with the fields its type
// carries.
func sampleNotice(typ contracts.NoticeType) *contracts.NoticeDelivery {
	at := time.Date(2026, 4, 9, 8, 0, 0, 0, cst)
	i := 0
	for j, t := range noticeTypes {
		if t == typ {
			i = j + 1
		}
	}
	d := &contracts.NoticeDelivery{
		DeliveryID: fmt.Sprintf("dlv-n%04d", i), CaseID: "case-01959245f1f97a3c",
		ExchangeID: fmt.Sprintf("0195a100-0000-7000-8000-%012d", i), SentAt: at.Add(time.Duration(i) * time.Second),
		Notice: contracts.Notice{Type: typ, CaseID: "case-01959245f1f97a3c", OwnerCaseNo: "WC-2026-000042",
			LocalCaseNo: "ZL-KSTB-20260314-0017", ImplementationCode: "113307020025937411400015501400001", At: at},
	}
	n := &d.Notice
	switch typ {
	case contracts.NoticeDeadlineWarning:
		n.Deadline = sampleDeadline()
	case contracts.NoticeDeadlineOverdue:
		dl := sampleDeadline()
		dl.DaysUsed, dl.DaysLeft, dl.Overdue, dl.OverdueAt = 21, 0, true, time.Date(2026, 4, 15, 0, 0, 1, 0, cst)
		n.Deadline = dl
	case contracts.NoticeEvaluation:
		d.ExchangeID = sampleEvaluationView().ExchangeID
		n.Evaluation = sampleEvaluationView()
		n.FollowUp = &contracts.FollowUp{State: contracts.FollowUpOpen,
			Limit: contracts.TimeLimit{Days: 5, Unit: contracts.LimitWorkingDays}, Due: time.Date(2026, 4, 27, 23, 59, 59, 0, cst)}
	case contracts.NoticeFollowUpReply:
		d.ExchangeID = sampleReply().ExchangeID
		n.Evaluation = sampleEvaluationView()
		n.FollowUp = &contracts.FollowUp{State: contracts.FollowUpAnswered,
			Limit: contracts.TimeLimit{Days: 5, Unit: contracts.LimitCalendarDays}, Due: time.Date(2026, 4, 25, 23, 59, 59, 0, cst),
			OverdueAt: time.Date(2026, 4, 26, 0, 0, 0, 0, cst), Reply: sampleReply(), Late: true}
	case contracts.NoticeFollowUpOverdue:
		n.Evaluation = sampleEvaluationView()
		n.FollowUp = &contracts.FollowUp{State: contracts.FollowUpOverdue,
			Limit: contracts.TimeLimit{Days: 5, Unit: contracts.LimitWorkingDays}, Due: time.Date(2026, 4, 27, 23, 59, 59, 0, cst),
			OverdueAt: time.Date(2026, 4, 28, 0, 0, 0, 0, cst)}
	case contracts.NoticePartCancelled:
		n.BundleID, n.OwnerCaseNo = "case-0195a200aaaa7bbb", ""
		n.Reason = "前置事项 business_license 未予许可"
	}
	return d
}

// sampleBundleRef is what a part of a bundle that waited for two other
// parts carries about its bundle, with the prerequisites' documents.
func sampleBundleRef(sm3 func([]byte) string) *contracts.BundleRef {
	doc := []byte("%PDF-1.4\n营业执照\n")
	return &contracts.BundleRef{
		BundleID: "case-0195a200aaaa7bbb", Name: "开办餐饮店 <一件事>", Part: "food_license", Parts: 3,
		After: []string{"business_license", "fire_safety"},
		Prerequisites: []contracts.PrerequisiteResult{
			{Part: "business_license", CaseID: "case-0195a201aaaa7bbb", Outcome: contracts.OutcomeApproved,
				ConcludedAt: time.Date(2026, 3, 18, 11, 0, 0, 5e8, cst),
				Documents: []contracts.Document{
					{Name: "营业执照", MediaType: "application/pdf", Size: int64(len(doc)), SM3: sm3(doc), Content: doc, LicenseID: licenseID},
					{Name: "准予设立登记通知书", MediaType: "application/pdf", Size: 48213, SM3: sm3([]byte("tzs")),
						URL: "https://zw.example.gov.cn/d/1.pdf?a=1&b=2"},
				}},
			{Part: "fire_safety", CaseID: "case-0195a202aaaa7bbb", Outcome: contracts.OutcomeApproved,
				ConcludedAt: time.Date(2026, 3, 19, 9, 0, 0, 0, cst)},
		},
	}
}

// sampleBundleCase is a case delivery of a part of a bundle.
func sampleBundleCase(sm3 func([]byte) string) *contracts.CaseDelivery {
	d := sampleCase(sm3)
	d.Bundle = sampleBundleRef(sm3)
	return d
}

// sampleEvaluation is an applicant's evaluation as the window sends it.
func sampleEvaluation() *contracts.EvaluationSubmission {
	return &contracts.EvaluationSubmission{
		ExchangeID: "0195a000-0000-7000-8000-000000000001", CaseID: "case-01959245f1f97a3c",
		Level: contracts.LevelVeryDissatisfied, Text: "办理时间过长 <超时> & \"窗口\"态度一般\n第二行", Channel: contracts.ChannelWindow,
		EvaluatedAt: time.Date(2026, 4, 20, 19, 5, 0, 250e6, cst),
		Applicant:   contracts.EvaluationApplicant{HolderType: "111", IDNumber: "11010519491231002X"},
	}
}

// sampleBundle is a bundle of three parts, one of which waits for the
// other two, with every field set.
func sampleBundle(sm3 func([]byte) string) *contracts.BundleSubmission {
	s := sampleSubmission(sm3)
	return &contracts.BundleSubmission{
		ExchangeID: "0195a200-0000-7000-8000-000000000001", FromRegion: s.FromRegion,
		SubmittedAt: s.SubmittedAt, Name: "开办餐饮店 <一件事>", Applicant: s.Applicant, Agent: s.Agent, Window: s.Window,
		ReceivedAt: s.ReceivedAt, LocalCaseNo: s.LocalCaseNo, ResultDelivery: s.ResultDelivery, Remark: s.Remark,
		Parts: []contracts.BundlePart{
			{Part: "business_license", ToRegion: "330702", ServiceItem: s.ServiceItem, Form: s.Form,
				Materials: s.Materials, LicenseIDs: s.LicenseIDs},
			{Part: "fire_safety", ServiceItem: contracts.ServiceItem{ImplementationCode: "113307020025937411400015501400002",
				Name: "公众聚集场所投入使用、营业前消防安全检查"}, Form: json.RawMessage(`{"area_m2":120.5}`)},
			{Part: "food_license", ToRegion: "330702", ServiceItem: contracts.ServiceItem{BasicCode: "000155015000",
				ImplementationCode: "113307020025937411400015501500001", Name: "食品经营许可", Department: "金华市婺城区市场监督管理局"},
				After: []string{"business_license", "fire_safety"}, Form: json.RawMessage(`{"category":"热食类"}`)},
		},
	}
}

// sampleBundleReceipt is the gateway's receipt of sampleBundle.
func sampleBundleReceipt(sm3 func([]byte) string) *contracts.Receipt {
	return &contracts.Receipt{
		ExchangeID: "0195a200-0000-7000-8000-000000000001", CaseID: "case-0195a200aaaa7bbb",
		ReceivedAt: fixedNow, BodySM3: sm3([]byte("bundle")), State: contracts.CaseStateReceived, EvidenceSeq: 4712,
		Parts: []contracts.ReceiptPart{
			{Part: "business_license", CaseID: "case-0195a201aaaa7bbb", State: contracts.CaseStateReceived},
			{Part: "fire_safety", CaseID: "case-0195a202aaaa7bbb", State: contracts.CaseStateReceived},
			{Part: "food_license", CaseID: "case-0195a203aaaa7bbb", State: contracts.CaseStateWaiting},
		},
	}
}
