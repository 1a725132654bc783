package soap

import (
	"encoding/json"
	"time"

	"github.com/tongban/tongban/contracts"
)

// Fixtures of a case's administration: notices, evaluations, follow-up
// replies and 一件事 bundles, each with every field its kind carries.

var cst = time.FixedZone("CST", 8*3600)

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
		ExchangeID: "0195a000-0000-7000-8000-000000000001", ImplementationCode: "113715230045120321400015501400001",
		Sender: "320404", Owner: "371523", Level: contracts.LevelDissatisfied, Score: 2,
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

// sampleNotices is one notice delivery of every notice type, each with
// the fields its type carries.
func sampleNotices() map[contracts.NoticeType]*contracts.NoticeDelivery {
	at := time.Date(2026, 4, 9, 8, 0, 0, 0, cst)
	base := func(i int, t contracts.NoticeType) *contracts.NoticeDelivery {
		return &contracts.NoticeDelivery{
			DeliveryID: "dlv-n000" + string(rune('0'+i)), CaseID: "case-01959245f1f97a3c",
			ExchangeID: "0195a100-0000-7000-8000-00000000000" + string(rune('0'+i)), SentAt: at.Add(time.Duration(i) * time.Second),
			Notice: contracts.Notice{Type: t, CaseID: "case-01959245f1f97a3c", OwnerCaseNo: "371523-2026-000001",
				LocalCaseNo: "ZL-KSTB-20260314-0017", ImplementationCode: "113715230045120321400015501400001", At: at},
		}
	}
	out := map[contracts.NoticeType]*contracts.NoticeDelivery{}

	warning := base(1, contracts.NoticeDeadlineWarning)
	warning.Notice.Deadline = sampleDeadline()
	out[warning.Notice.Type] = warning

	overdue := base(2, contracts.NoticeDeadlineOverdue)
	dl := sampleDeadline()
	dl.DaysUsed, dl.DaysLeft, dl.Overdue, dl.OverdueAt = 21, 0, true, time.Date(2026, 4, 15, 0, 0, 1, 0, cst)
	overdue.Notice.Deadline = dl
	out[overdue.Notice.Type] = overdue

	ev := base(3, contracts.NoticeEvaluation)
	ev.ExchangeID = sampleEvaluationView().ExchangeID
	ev.Notice.Evaluation = sampleEvaluationView()
	ev.Notice.FollowUp = &contracts.FollowUp{State: contracts.FollowUpOpen,
		Limit: contracts.TimeLimit{Days: 5, Unit: contracts.LimitWorkingDays}, Due: time.Date(2026, 4, 27, 23, 59, 59, 0, cst)}
	out[ev.Notice.Type] = ev

	reply := base(4, contracts.NoticeFollowUpReply)
	reply.ExchangeID = sampleReply().ExchangeID
	reply.Notice.Evaluation = sampleEvaluationView()
	reply.Notice.FollowUp = &contracts.FollowUp{State: contracts.FollowUpAnswered,
		Limit: contracts.TimeLimit{Days: 5, Unit: contracts.LimitCalendarDays}, Due: time.Date(2026, 4, 25, 23, 59, 59, 0, cst),
		OverdueAt: time.Date(2026, 4, 26, 0, 0, 0, 0, cst), Reply: sampleReply(), Late: true}
	out[reply.Notice.Type] = reply

	late := base(5, contracts.NoticeFollowUpOverdue)
	late.Notice.Evaluation = sampleEvaluationView()
	late.Notice.FollowUp = &contracts.FollowUp{State: contracts.FollowUpOverdue,
		Limit: contracts.TimeLimit{Days: 5, Unit: contracts.LimitWorkingDays}, Due: time.Date(2026, 4, 27, 23, 59, 59, 0, cst),
		OverdueAt: time.Date(2026, 4, 28, 0, 0, 0, 0, cst)}
	out[late.Notice.Type] = late

	cancelled := base(6, contracts.NoticePartCancelled)
	cancelled.Notice.BundleID, cancelled.Notice.OwnerCaseNo = "case-0195a200aaaa7bbb", ""
	cancelled.Notice.Reason = "前置事项 business_license 未予许可"
	out[cancelled.Notice.Type] = cancelled
	return out
}

// sampleBundleCase is a case delivery of a part of a bundle that waited
// for another part, with that part's result documents.
func sampleBundleCase() *contracts.CaseDelivery {
	d := sampleCase(cst)
	d.Bundle = &contracts.BundleRef{
		BundleID: "case-0195a200aaaa7bbb", Name: "开办餐饮店 <一件事>", Part: "food_license", Parts: 3,
		After: []string{"business_license", "fire_safety"},
		Prerequisites: []contracts.PrerequisiteResult{
			{Part: "business_license", CaseID: "case-0195a201aaaa7bbb", Outcome: contracts.OutcomeApproved,
				ConcludedAt: time.Date(2026, 3, 18, 11, 0, 0, 5e8, cst),
				Documents: []contracts.Document{
					{Name: "营业执照", MediaType: "application/ofd", Size: 4,
						SM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", Content: []byte{0, 0xff, '<', '&'},
						LicenseID: "1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9"},
					{Name: "准予设立登记通知书", MediaType: "application/pdf", Size: 48213,
						SM3: "20636d46c9863ffeff312d5f7662134d61f19913b90ea9191f13958ece822d50", URL: "https://cp.example.gov.cn/d/1.pdf?a=1&b=2"},
				}},
			{Part: "fire_safety", CaseID: "case-0195a202aaaa7bbb", Outcome: contracts.OutcomeApproved,
				ConcludedAt: time.Date(2026, 3, 19, 9, 0, 0, 0, cst)},
		},
	}
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
func sampleBundle() *contracts.BundleSubmission {
	s := sampleCase(cst).Submission
	return &contracts.BundleSubmission{
		ExchangeID: "0195a200-0000-7000-8000-000000000001", FromRegion: s.FromRegion,
		SubmittedAt: s.SubmittedAt, Name: "开办餐饮店 <一件事>", Applicant: s.Applicant, Agent: s.Agent, Window: s.Window,
		ReceivedAt: s.ReceivedAt, LocalCaseNo: s.LocalCaseNo, ResultDelivery: s.ResultDelivery, Remark: s.Remark,
		Parts: []contracts.BundlePart{
			{Part: "business_license", ToRegion: "371523", ServiceItem: s.ServiceItem, Form: s.Form,
				Materials: s.Materials, LicenseIDs: s.LicenseIDs},
			{Part: "fire_safety", ServiceItem: contracts.ServiceItem{ImplementationCode: "113715230045120321400015501400002",
				Name: "公众聚集场所投入使用、营业前消防安全检查"}, Form: json.RawMessage(`{"area_m2":120.5}`)},
			{Part: "food_license", ToRegion: "371523", ServiceItem: contracts.ServiceItem{BasicCode: "000155015000",
				ImplementationCode: "113715230045120321400015501500001", Name: "食品经营许可", Department: "聊城市茌平区行政审批服务局"},
				After: []string{"business_license", "fire_safety"}, Form: json.RawMessage(`{"category":"热食类"}`)},
		},
	}
}

// sampleBundleReceipt is the gateway's receipt of sampleBundle.
func sampleBundleReceipt() *contracts.Receipt {
	return &contracts.Receipt{
		ExchangeID: "0195a200-0000-7000-8000-000000000001", CaseID: "case-0195a200aaaa7bbb",
		ReceivedAt: time.Date(2026, 3, 14, 9, 30, 13, 5, time.UTC), BodySM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
		State: contracts.CaseStateReceived, EvidenceSeq: 1208,
		Parts: []contracts.ReceiptPart{
			{Part: "business_license", CaseID: "case-0195a201aaaa7bbb", State: contracts.CaseStateReceived},
			{Part: "fire_safety", CaseID: "case-0195a202aaaa7bbb", State: contracts.CaseStateReceived},
			{Part: "food_license", CaseID: "case-0195a203aaaa7bbb", State: contracts.CaseStateWaiting},
		},
	}
}
