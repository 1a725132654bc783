package adaptertest

import (
	"encoding/json"
	"time"

	"github.com/tongban/tongban/contracts"
)

// The fixtures of a case's administration: notices of every type, a case
// delivered as a part of a 一件事 bundle, an evaluation, a follow-up reply
// and a bundle, each with every field its kind carries and text that needs
// escaping in JSON and XML.

// Clock returns a running statutory clock as a deadline notice carries it.
func Clock(overdue bool) *contracts.Deadline {
	d := &contracts.Deadline{
		Limit: contracts.TimeLimit{Days: 5, Unit: contracts.LimitWorkingDays}, Running: true,
		StartedAt: t0.Add(-6 * 24 * time.Hour), Deadline: t0.Add(24 * time.Hour),
		DaysUsed: 4, DaysLeft: 1, WarnedAt: t0,
	}
	if overdue {
		d.Deadline, d.DaysUsed, d.DaysLeft, d.Overdue, d.OverdueAt = t0.Add(-time.Hour), 5, 0, true, t0
	}
	return d
}

// NegativeEvaluation returns a 非常不满意 evaluation of case caseID as the
// gateway passes it on (the applicant masked).
func NegativeEvaluation(caseID string) *contracts.Evaluation {
	return &contracts.Evaluation{
		EvaluationID: uuid(9500), CaseID: caseID, ExchangeID: uuid(9501),
		ImplementationCode: "113307020025937411400015501400001", Sender: "320404", Owner: PartnerID,
		Level: contracts.LevelVeryDissatisfied, Score: 1, Text: "窗口人员态度差，\"材料\"被退回三次 <&>",
		Channel: contracts.ChannelApp, EvaluatedAt: t0.Add(-2 * time.Hour),
		HolderType: contracts.HolderTypeCitizenID, ApplicantMasked: "1101**********002X", ReceivedAt: t0.Add(-time.Hour),
	}
}

// OpenFollowUp returns the follow-up a negative evaluation opens.
func OpenFollowUp() *contracts.FollowUp {
	return &contracts.FollowUp{State: contracts.FollowUpOpen,
		Limit: contracts.TimeLimit{Days: 3, Unit: contracts.LimitWorkingDays}, Due: t0.Add(72 * time.Hour)}
}

// FullReply returns the owner's follow-up reply to the evaluation of case
// caseID, every field set.
func FullReply(caseID string) *contracts.EvaluationReply {
	return &contracts.EvaluationReply{ExchangeID: uuid(9600), CaseID: caseID, RepliedAt: t0.Add(3 * time.Hour),
		Measures: "约谈窗口负责人，一次性告知材料清单 <&>", Result: "申请人表示认可", ContactedApplicant: true}
}

// Notices returns one notice delivery of case caseID for every notice
// type, numbered from n, each with exactly the fields its type needs.
func Notices(n int, caseID string) []*contracts.NoticeDelivery {
	base := func(i int, typ contracts.NoticeType) *contracts.NoticeDelivery {
		return &contracts.NoticeDelivery{
			DeliveryID: uuid(9700 + 10*n + i), CaseID: caseID, ExchangeID: uuid(9800 + 10*n + i),
			SentAt: t0.Add(time.Duration(i) * time.Minute),
			Notice: contracts.Notice{Type: typ, CaseID: caseID, OwnerCaseNo: "330702-2026-000042",
				LocalCaseNo: "ZL-KSTB-20260314-0001", ImplementationCode: "113307020025937411400015501400001",
				At: t0.Add(time.Duration(i) * time.Minute)},
		}
	}
	warning := base(0, contracts.NoticeDeadlineWarning)
	warning.Notice.Deadline = Clock(false)
	overdue := base(1, contracts.NoticeDeadlineOverdue)
	overdue.Notice.Deadline = Clock(true)
	evaluation := base(2, contracts.NoticeEvaluation)
	evaluation.ExchangeID = NegativeEvaluation(caseID).ExchangeID // the partner's exchange, passed on
	evaluation.Notice.Evaluation, evaluation.Notice.FollowUp = NegativeEvaluation(caseID), OpenFollowUp()
	reply := base(3, contracts.NoticeFollowUpReply)
	answered := OpenFollowUp()
	answered.State, answered.Reply, answered.Late = contracts.FollowUpAnswered, FullReply(caseID), true
	reply.Notice.Evaluation, reply.Notice.FollowUp = NegativeEvaluation(caseID), answered
	late := base(4, contracts.NoticeFollowUpOverdue)
	due := OpenFollowUp()
	due.State, due.OverdueAt = contracts.FollowUpOverdue, t0
	late.Notice.Evaluation, late.Notice.FollowUp = NegativeEvaluation(caseID), due
	cancelled := base(5, contracts.NoticePartCancelled)
	cancelled.Notice.BundleID, cancelled.Notice.OwnerCaseNo = uuid(9900), ""
	cancelled.Notice.Reason = "前置事项「食品经营许可」未予许可，本事项撤销"
	return []*contracts.NoticeDelivery{warning, overdue, evaluation, reply, late, cancelled}
}

// BundlePart returns FullCase(n) delivered as part "permit" of a bundle of
// three, waiting for part "licence", whose approved result it carries.
func BundlePart(n int, sm3 func([]byte) string) *contracts.CaseDelivery {
	d := FullCase(n, sm3)
	doc := []byte("%PDF-1.4\n% 营业执照（前置事项结果）<&>\n")
	d.Bundle = &contracts.BundleRef{BundleID: uuid(9900), Name: "开办餐饮店", Part: "permit", Parts: 3,
		After: []string{"licence"},
		Prerequisites: []contracts.PrerequisiteResult{{
			Part: "licence", CaseID: uuid(9901), Outcome: contracts.OutcomeApproved, ConcludedAt: t0.Add(-24 * time.Hour),
			Documents: []contracts.Document{
				{Name: "营业执照", MediaType: "application/pdf", Size: int64(len(doc)), SM3: sm3(doc), Content: doc},
				{Name: "营业执照（电子证照）", MediaType: "application/ofd", Size: 2048, SM3: sm3([]byte("ofd")),
					URL: "https://zw.example.gov.cn/r/2.ofd", LicenseID: "1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B"},
			},
		}},
	}
	return d
}

// FullEvaluation returns an evaluation of case caseID, every field set.
func FullEvaluation(caseID string) *contracts.EvaluationSubmission {
	return &contracts.EvaluationSubmission{ExchangeID: uuid(9501), CaseID: caseID, Level: contracts.LevelDissatisfied,
		Text: "办理时间过长 <&>\"'", Channel: contracts.ChannelWindow, EvaluatedAt: t0.Add(-2 * time.Hour),
		Applicant: contracts.EvaluationApplicant{HolderType: contracts.HolderTypeCitizenID, IDNumber: "11010519491231002X"}}
}

// FullBundle returns a bundle of two parts, the second waiting for the
// first, every field set.
func FullBundle(sm3 func([]byte) string) *contracts.BundleSubmission {
	c := FullCase(1, sm3).Submission
	return &contracts.BundleSubmission{
		ExchangeID: uuid(9950), FromRegion: c.FromRegion, SubmittedAt: c.SubmittedAt, Name: "开办餐饮店 <&>",
		Applicant: c.Applicant, Agent: c.Agent, Window: c.Window, ReceivedAt: c.ReceivedAt, LocalCaseNo: c.LocalCaseNo,
		ResultDelivery: c.ResultDelivery, Remark: c.Remark,
		Parts: []contracts.BundlePart{
			{Part: "licence", ToRegion: "330702", ServiceItem: c.ServiceItem, Form: c.Form, Materials: c.Materials, LicenseIDs: c.LicenseIDs},
			{Part: "permit", ServiceItem: contracts.ServiceItem{BasicCode: "000155015000",
				ImplementationCode: "113307020025937411400015501500001", Name: "食品经营许可", Department: "金华市婺城区市场监督管理局"},
				After: []string{"licence"}, Form: json.RawMessage(`{"seats":40,"kitchen_m2":12.5}`)},
		},
	}
}
