package gateway_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/bundle"
	"github.com/tongban/tongban/gateway/cases"
	"github.com/tongban/tongban/gateway/catalogue"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/workdays"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The catalogue of the administration tests: an item of Wucheng open
// everywhere (3 working days promised), one of Chiping open everywhere
// (5 working days) and one of Chiping open only inside Shandong.
const testCatalogue = `
items:
  - basic_code: "000155014000"
    implementation_code: "113307020025937411400015501400001"
    name: 个体工商户设立登记
    owners: ["330702"]
    scope: cross_province
    statutory_limit: {days: 15, unit: working_days}
    promised_limit: {days: 3, unit: working_days}
  - basic_code: "000139001000"
    implementation_code: "11371523004123456C400013900100001"
    name: 食品经营许可
    owners: ["371523"]
    scope: cross_province
    statutory_limit: {days: 20, unit: working_days}
    promised_limit: {days: 5, unit: working_days}
  - basic_code: "000131008000"
    implementation_code: "11371523004123456C400013100800001"
    name: 道路货物运输驾驶员从业资格证补发
    owners: ["371523"]
    scope: province
    statutory_limit: {days: 20, unit: working_days}
    promised_limit: {days: 5, unit: working_days}
`

var (
	itemWucheng  = contracts.ServiceItem{BasicCode: "000155014000", ImplementationCode: "113307020025937411400015501400001", Name: "个体工商户设立登记"}
	itemChiping  = contracts.ServiceItem{BasicCode: "000139001000", ImplementationCode: "11371523004123456C400013900100001", Name: "食品经营许可"}
	itemShandong = contracts.ServiceItem{BasicCode: "000131008000", ImplementationCode: "11371523004123456C400013100800001", Name: "道路货物运输驾驶员从业资格证补发"}
)

// newAdminEnv is the harness with a catalogue, the example 2026 calendar,
// warnings 2 working days ahead, Jinshan (a mailbox) as the evaluation
// system and follow-ups due in 2 working days.
func newAdminEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, gateway.RetryPolicy{})
	e.core = e.withCore(t, node.Options{Administration: testAdministration(t)})
	e.disp = e.core.Outbox.Dispatcher()
	return e
}

// testAdministration is the administration of newAdminEnv.
func testAdministration(t *testing.T) cases.Administration {
	t.Helper()
	cat, err := catalogue.Parse([]byte(testCatalogue))
	if err != nil {
		t.Fatal(err)
	}
	cal, err := workdays.Parse(workdays.Example2026)
	if err != nil {
		t.Fatal(err)
	}
	return cases.Administration{Catalogue: cat, CatalogueSM3: "x", Calendar: cal,
		WarnBefore: 2, EvaluationPartner: jinshan, ReplyLimit: workdays.Limit{Days: 2, Unit: workdays.WorkingDays}}
}

// at moves the harness clock to t (never back).
func (e *env) at(t time.Time) { e.clock.AdvanceTo(t) }

// alarms makes one alarm pass and returns how many cases it changed.
func (e *env) alarms() int {
	e.t.Helper()
	n, err := e.core.Cases.Alarms(e.ctx)
	if err != nil {
		e.t.Fatalf("Alarms: %v", err)
	}
	return n
}

// ownerUpdate is e.update reported by owner.
func (e *env) ownerUpdate(owner, caseID string, st contracts.CaseState) contracts.StatusUpdate {
	u := e.update(caseID, st)
	if owner != wucheng {
		u.OwnerCaseNo = owner + "-R-" + caseID
	}
	return u
}

// reportAs reports u as caller and fails the test on an error.
func (e *env) reportAs(caller string, u contracts.StatusUpdate) {
	e.t.Helper()
	if _, err := e.report(caller, u); err != nil {
		e.t.Fatalf("%s reports %s on %s: %v", caller, u.State, u.CaseID, err)
	}
}

// noticesOf returns the notices of type typ about caseID that district
// id's simulator received.
func (e *env) noticesOf(id, caseID string, typ contracts.NoticeType) []contracts.NoticeDelivery {
	var out []contracts.NoticeDelivery
	for _, n := range e.districts[id].sim.Notices() {
		if n.CaseID == caseID && n.Notice.Type == typ {
			out = append(out, n)
		}
	}
	return out
}

// view is GET /v1/cases/{id} as the auditor.
func (e *env) view(id string) *contracts.CaseView {
	e.t.Helper()
	v, err := e.core.Cases.GetCase(e.ctx, e.principal(auditor), id)
	if err != nil {
		e.t.Fatalf("GetCase %s: %v", id, err)
	}
	return v
}

// adminCase submits a case of Wucheng's catalogue item and delivers it.
func (e *env) adminCase() string {
	e.t.Helper()
	sub := e.submission()
	sub.ServiceItem = itemWucheng
	id := e.submitOK(sub).CaseID
	e.drain()
	return id
}

func TestCatalogueChecksEverySubmission(t *testing.T) {
	e := newAdminEnv(t)
	for _, tc := range []struct {
		name string
		item contracts.ServiceItem
		to   string
		code contracts.Code
	}{
		{"not in the catalogue", contracts.ServiceItem{BasicCode: "000155014000", ImplementationCode: "1133", Name: "x"}, wucheng, contracts.CodeNotInCatalogue},
		{"open only inside its province", itemShandong, chiping, contracts.CodeServiceNotOpen},
		{"to_region is not an owner", itemWucheng, chiping, contracts.CodeServiceNotOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := e.submission()
			sub.ServiceItem, sub.ToRegion = tc.item, tc.to
			_, err := e.submit(sub)
			wantCode(t, err, tc.code)
		})
	}
	// No to_region: the catalogue routes to the item's owner, and the
	// owner receives the region filled in.
	sub := e.submission()
	sub.ServiceItem, sub.ToRegion = itemChiping, ""
	id := e.submitOK(sub).CaseID
	if c := e.getCase(id); c.Owner != chiping || c.ToRegion != chiping {
		t.Fatalf("routed to %s (%s), want %s", c.Owner, c.ToRegion, chiping)
	}
	e.drain()
	got := e.districts[chiping].sim.Cases()
	if len(got) != 1 || got[0].Submission.ToRegion != chiping {
		t.Fatalf("Chiping received %d cases, want one with to_region %s", len(got), chiping)
	}

	cat, err := e.core.Cases.Catalogue(e.ctx, e.principal(window))
	if err != nil || len(cat.Items) != 3 || cat.Items[0].PromisedLimit != (contracts.TimeLimit{Days: 3, Unit: contracts.LimitWorkingDays}) || cat.Calendar == "" {
		t.Fatalf("catalogue for a window: %+v, %v", cat, err)
	}
	_, err = e.core.Cases.Catalogue(e.ctx, e.principal(auditor))
	wantCode(t, err, contracts.CodeForbidden)
}

func TestStatutoryClockWarnsStopsResumesAndGoesOverdue(t *testing.T) {
	e := newAdminEnv(t)
	id := e.adminCase()
	// Accepted on Saturday 14 March (CST): 3 working days run Mon 16,
	// Tue 17 and Wed 18; the deadline is the end of Wed 18 (CST).
	e.reportAs(wucheng, e.ownerUpdate(wucheng, id, contracts.CaseStateAccepted))
	deadline := time.Date(2026, 3, 18, 16, 0, 0, 0, time.UTC)
	v := e.view(id)
	if v.Deadline == nil || !v.Deadline.Deadline.Equal(deadline) || !v.Deadline.Running || v.Deadline.DaysLeft != 3 || v.Deadline.DaysUsed != 0 {
		t.Fatalf("deadline after acceptance: %+v, want %s with 3 days left", v.Deadline, deadline)
	}
	if c := e.getCase(id); !c.Deadline.Equal(deadline) {
		t.Fatalf("stored deadline %s, want %s", c.Deadline, deadline)
	}
	if n := e.alarms(); n != 0 {
		t.Fatalf("an alarm pass before the warning changed %d cases", n)
	}
	// The warning falls at the start of Tue 17 (CST).
	e.at(time.Date(2026, 3, 16, 15, 59, 0, 0, time.UTC))
	if n := e.alarms(); n != 0 {
		t.Fatalf("a minute before the warning, an alarm pass changed %d cases", n)
	}
	e.at(time.Date(2026, 3, 16, 16, 0, 0, 0, time.UTC))
	if n := e.alarms(); n != 1 {
		t.Fatalf("at the warning, an alarm pass changed %d cases, want 1", n)
	}
	if n := e.alarms(); n != 0 {
		t.Fatalf("the warning was raised again (%d)", n)
	}
	e.drain()
	for _, d := range []string{wucheng, zhonglou} {
		ns := e.noticesOf(d, id, contracts.NoticeDeadlineWarning)
		if len(ns) != 1 || ns[0].Notice.Deadline == nil || !ns[0].Notice.Deadline.Deadline.Equal(deadline) {
			t.Fatalf("%s received %d warnings (%+v), want one naming the deadline", d, len(ns), ns)
		}
	}
	// Correction on Tue 17: two days used, the clock stops.
	e.at(time.Date(2026, 3, 17, 2, 0, 0, 0, time.UTC))
	e.reportAs(wucheng, e.ownerUpdate(wucheng, id, contracts.CaseStateCorrectionRequired))
	v = e.view(id)
	if v.Deadline.Running || v.Deadline.DaysUsed != 2 || v.Deadline.DaysLeft != 1 || !e.getCase(id).Deadline.IsZero() {
		t.Fatalf("after correction_required: %+v, want stopped with 2 used, 1 left", v.Deadline)
	}
	e.at(time.Date(2026, 3, 19, 0, 0, 0, 0, time.UTC)) // past the old deadline: a stopped clock is not overdue
	if n := e.alarms(); n != 0 {
		t.Fatalf("a stopped clock raised %d alarms", n)
	}
	// Resubmitted on Fri 20 (CST): the day left runs on Mon 23.
	e.at(time.Date(2026, 3, 20, 1, 0, 0, 0, time.UTC))
	sub := e.submission()
	sub.ServiceItem, sub.ResubmitsCaseID = itemWucheng, id
	e.submitOK(sub)
	resumed := time.Date(2026, 3, 23, 16, 0, 0, 0, time.UTC)
	if v = e.view(id); !v.Deadline.Running || !v.Deadline.Deadline.Equal(resumed) {
		t.Fatalf("after resubmission: %+v, want running to %s", v.Deadline, resumed)
	}
	// Past the resumed deadline: overdue, notified once, searchable.
	e.at(resumed.Add(time.Minute))
	e.alarms()
	e.drain()
	if c := e.getCase(id); !c.Overdue {
		t.Fatal("the case is not marked overdue after its deadline")
	}
	for _, d := range []string{wucheng, zhonglou} {
		if ns := e.noticesOf(d, id, contracts.NoticeDeadlineOverdue); len(ns) != 1 {
			t.Fatalf("%s received %d overdue notices, want 1", d, len(ns))
		}
	}
	other := e.adminCase() // no clock: never overdue, never due
	page, err := e.core.Auditor.SearchExchanges(e.ctx, e.principal(auditor), evidence.ExchangeFilter{Overdue: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range page.Items {
		if x.CaseID != id {
			t.Errorf("overdue search lists case %s", x.CaseID)
		}
	}
	if len(page.Items) == 0 {
		t.Fatal("overdue search lists nothing")
	}
	_ = other
	// Concluded late: the clock stops, the case stays overdue.
	e.reportAs(wucheng, e.ownerUpdate(wucheng, id, contracts.CaseStateAccepted))
	e.reportAs(wucheng, e.ownerUpdate(wucheng, id, contracts.CaseStateConcluded))
	if v = e.view(id); v.Deadline.Running || !v.Deadline.Overdue {
		t.Fatalf("concluded late: %+v, want stopped and overdue", v.Deadline)
	}
	if n := e.alarms(); n != 0 {
		t.Fatalf("a concluded case raised %d alarms", n)
	}
}

func TestDueBeforeSearch(t *testing.T) {
	e := newAdminEnv(t)
	id := e.adminCase()
	e.reportAs(wucheng, e.ownerUpdate(wucheng, id, contracts.CaseStateAccepted))
	e.adminCase() // received, no deadline
	for _, tc := range []struct {
		before time.Time
		want   bool
	}{
		{time.Date(2026, 3, 18, 16, 0, 1, 0, time.UTC), true},
		{time.Date(2026, 3, 18, 16, 0, 0, 0, time.UTC), false},
	} {
		page, err := e.core.Auditor.SearchExchanges(e.ctx, e.principal(auditor), evidence.ExchangeFilter{DueBefore: tc.before})
		if err != nil {
			t.Fatal(err)
		}
		found := slices.ContainsFunc(page.Items, func(x contracts.ExchangeSummary) bool { return x.CaseID == id })
		if found != tc.want || (tc.want && slices.ContainsFunc(page.Items, func(x contracts.ExchangeSummary) bool { return x.CaseID != id })) {
			t.Errorf("due_before %s: %d exchanges, case found %v, want %v", tc.before, len(page.Items), found, tc.want)
		}
	}
}

// evaluation returns an evaluation of caseID at level.
func (e *env) evaluation(caseID string, level contracts.EvaluationLevel) contracts.EvaluationSubmission {
	return contracts.EvaluationSubmission{ExchangeID: e.newExchangeID(), CaseID: caseID, Level: level, Text: "窗口服务热情",
		Channel: contracts.ChannelWindow, EvaluatedAt: e.clock.Now(), Applicant: contracts.EvaluationApplicant{HolderType: "111", IDNumber: "11010519491231002X"}}
}

func (e *env) evaluate(caller string, ev contracts.EvaluationSubmission) (*gateway.Signed, error) {
	return e.core.Cases.Evaluate(e.ctx, ev.CaseID, e.signed(caller, mustJSON(e.t, ev)))
}

func (e *env) replyAs(caller, caseID string) (*gateway.Signed, error) {
	r := contracts.EvaluationReply{ExchangeID: e.newExchangeID(), CaseID: caseID, RepliedAt: e.clock.Now(), Measures: "约谈窗口人员并回访申请人", ContactedApplicant: true}
	return e.core.Cases.ReplyFollowUp(e.ctx, caseID, e.signed(caller, mustJSON(e.t, r)))
}

// concludedCase is a case of Wucheng's item, accepted and concluded.
func (e *env) concludedCase() string {
	id := e.adminCase()
	e.reportAs(wucheng, e.ownerUpdate(wucheng, id, contracts.CaseStateAccepted))
	e.reportAs(wucheng, e.ownerUpdate(wucheng, id, contracts.CaseStateConcluded))
	return id
}

func TestEvaluationsAndFollowUps(t *testing.T) {
	e := newAdminEnv(t)
	open := e.adminCase()
	_, err := e.evaluate(zhonglou, e.evaluation(open, contracts.LevelSatisfied))
	wantCode(t, err, contracts.CodeInvalidTransition) // not concluded yet

	id := e.concludedCase()
	for _, tc := range []struct {
		caller string
		code   contracts.Code
	}{{wucheng, contracts.CodeForbidden}, {chiping, contracts.CodeNotFound}} {
		_, err := e.evaluate(tc.caller, e.evaluation(id, contracts.LevelSatisfied))
		wantCode(t, err, tc.code)
	}
	ev := e.evaluation(id, contracts.LevelSatisfied)
	ans, err := e.evaluate(zhonglou, ev)
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if r := e.receipt(ans); r.CaseID != id || r.ExchangeID != ev.ExchangeID {
		t.Fatalf("receipt %+v", r)
	}
	again, err := e.evaluate(zhonglou, ev)
	if err != nil || !again.Replay {
		t.Fatalf("the same evaluation again: %v (replay %v), want its receipt", err, again != nil && again.Replay)
	}
	_, err = e.evaluate(zhonglou, e.evaluation(id, contracts.LevelVerySatisfied))
	wantCode(t, err, contracts.CodeAlreadyEvaluated)
	e.drain()
	got := e.noticesOf(wucheng, id, contracts.NoticeEvaluation)
	if len(got) != 1 || got[0].Notice.Evaluation.Score != 4 || got[0].Notice.Evaluation.ApplicantMasked != "1101**********002X" || got[0].Notice.FollowUp != nil {
		t.Fatalf("the owner received %+v, want one satisfied evaluation, applicant masked, no follow-up", got)
	}
	if b := e.pollAs(""); len(b.Messages) != 1 || b.Messages[0].Kind != contracts.DeliveryKindNotice {
		t.Fatalf("the evaluation system's mailbox holds %d messages, want the evaluation notice", len(b.Messages))
	}
	if v := e.view(id); v.Evaluation == nil || v.Evaluation.Evaluation.Level != contracts.LevelSatisfied || v.Evaluation.FollowUp != nil {
		t.Fatalf("case view evaluation: %+v", v.Evaluation)
	}
	_, err = e.replyAs(wucheng, id)
	wantCode(t, err, contracts.CodeInvalidTransition) // nothing to reply to

	// A negative evaluation, answered in time.
	bad := e.concludedCase()
	if _, err := e.evaluate(zhonglou, e.evaluation(bad, contracts.LevelDissatisfied)); err != nil {
		t.Fatal(err)
	}
	f := e.view(bad).Evaluation.FollowUp
	// Evaluated on Saturday 14 March (CST): 2 working days, due at the end of Tue 17.
	if f == nil || f.State != contracts.FollowUpOpen || !f.Due.Equal(time.Date(2026, 3, 17, 16, 0, 0, 0, time.UTC)) {
		t.Fatalf("follow-up %+v, want open and due at the end of 17 March (CST)", f)
	}
	_, err = e.replyAs(zhonglou, bad)
	wantCode(t, err, contracts.CodeForbidden) // only the owner replies
	if _, err := e.replyAs(wucheng, bad); err != nil {
		t.Fatalf("owner reply: %v", err)
	}
	_, err = e.replyAs(wucheng, bad)
	wantCode(t, err, contracts.CodeInvalidTransition)
	e.drain()
	if ns := e.noticesOf(zhonglou, bad, contracts.NoticeFollowUpReply); len(ns) != 1 || ns[0].Notice.FollowUp.Reply == nil || ns[0].Notice.FollowUp.Late {
		t.Fatalf("the sender received %+v, want the reply in time", ns)
	}

	// The evaluation, its notices and the reply are in the case's trace,
	// and its evidence bundle verifies offline.
	tr, err := e.core.Auditor.TraceCase(e.ctx, e.principal(auditor), bad)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{contracts.EventEvaluationReceived, contracts.EventReplyReceived, contracts.EventNoticeQueued} {
		if !slices.ContainsFunc(tr.Timeline, func(x contracts.TraceEntry) bool { return x.Event == want }) {
			t.Errorf("the evaluated case's trace lacks %s", want)
		}
	}
	if rep := verifyBundle(t, e.exportCase(bad), bundle.Options{GatewayKey: e.gwPub}); !rep.OK() {
		t.Fatalf("the evaluated case's evidence bundle: %v", rep.Problems)
	}

	// A negative evaluation left unanswered turns overdue.
	late := e.concludedCase()
	if _, err := e.evaluate(zhonglou, e.evaluation(late, contracts.LevelVeryDissatisfied)); err != nil {
		t.Fatal(err)
	}
	e.at(time.Date(2026, 3, 17, 16, 0, 0, 0, time.UTC))
	if n := e.alarms(); n != 1 {
		t.Fatalf("at the follow-up's due time an alarm pass changed %d cases, want 1", n)
	}
	e.drain()
	if v := e.view(late); v.Evaluation.FollowUp.State != contracts.FollowUpOverdue || !e.getCase(late).Overdue {
		t.Fatalf("unanswered follow-up: %+v", v.Evaluation.FollowUp)
	}
	for _, d := range []string{wucheng, zhonglou} {
		if ns := e.noticesOf(d, late, contracts.NoticeFollowUpOverdue); len(ns) != 1 {
			t.Fatalf("%s received %d overdue follow-up notices, want 1", d, len(ns))
		}
	}
	if e.getCase(bad).Overdue {
		t.Fatal("the follow-up answered in time is marked overdue")
	}
	// A late reply still answers it.
	if _, err := e.replyAs(wucheng, late); err != nil {
		t.Fatal(err)
	}
	if f := e.view(late).Evaluation.FollowUp; f.State != contracts.FollowUpAnswered || !f.Late {
		t.Fatalf("late reply: %+v", f)
	}
}

// bundleSubmission is a 一件事 of two parts: Wucheng's item, then
// Chiping's waiting for it.
func (e *env) bundleSubmission() contracts.BundleSubmission {
	s := e.submission()
	part := func(name string, item contracts.ServiceItem, after ...string) contracts.BundlePart {
		return contracts.BundlePart{Part: name, ServiceItem: item, After: after, Form: json.RawMessage(`{"shop_name":"王记小吃"}`), Materials: s.Materials}
	}
	return contracts.BundleSubmission{ExchangeID: e.newExchangeID(), FromRegion: zhonglou, SubmittedAt: s.SubmittedAt, Name: "开办餐饮店",
		Applicant: s.Applicant, Window: s.Window, ReceivedAt: s.ReceivedAt, LocalCaseNo: "ZL-1J-0001", ResultDelivery: s.ResultDelivery,
		Parts: []contracts.BundlePart{part("license", itemWucheng), part("food", itemChiping, "license")}}
}

func (e *env) submitBundle(b contracts.BundleSubmission) contracts.Receipt {
	e.t.Helper()
	ans, err := e.core.Cases.SubmitBundle(e.ctx, e.signed(zhonglou, mustJSON(e.t, b)))
	if err != nil {
		e.t.Fatalf("SubmitBundle: %v", err)
	}
	return e.receipt(ans)
}

func TestBundleWithAPrerequisite(t *testing.T) {
	e := newAdminEnv(t)
	r := e.submitBundle(e.bundleSubmission())
	if len(r.Parts) != 2 || r.Parts[0].State != contracts.CaseStateReceived || r.Parts[1].State != contracts.CaseStateWaiting {
		t.Fatalf("receipt parts %+v", r.Parts)
	}
	first, second := r.Parts[0].CaseID, r.Parts[1].CaseID
	e.drain()
	if got := e.districts[wucheng].sim.Cases(); len(got) != 1 || got[0].Bundle == nil || got[0].Bundle.BundleID != r.CaseID || got[0].Bundle.Part != "license" {
		t.Fatalf("Wucheng received %+v, want the first part with its bundle", got)
	}
	if got := e.districts[chiping].sim.Cases(); len(got) != 0 {
		t.Fatalf("the waiting part was delivered early: %d", len(got))
	}
	if v := e.view(r.CaseID); v.Bundle == nil || v.Bundle.State != contracts.BundleInProgress || len(v.Bundle.Parts) != 2 || v.Bundle.Name != "开办餐饮店" {
		t.Fatalf("bundle view: %+v", v.Bundle)
	}
	// The first part concludes approved: the second is released with its result.
	e.reportAs(wucheng, e.ownerUpdate(wucheng, first, contracts.CaseStateAccepted))
	e.reportAs(wucheng, e.ownerUpdate(wucheng, first, contracts.CaseStateConcluded))
	e.drain()
	got := e.districts[chiping].sim.Cases()
	if len(got) != 1 || got[0].CaseID != second || len(got[0].Bundle.Prerequisites) != 1 || len(got[0].Bundle.Prerequisites[0].Documents) != 1 {
		t.Fatalf("Chiping received %+v, want the second part with the first's result", got)
	}
	// A correction on the second part, once accepted, stops its clock
	// and shows on the bundle.
	e.reportAs(chiping, e.ownerUpdate(chiping, second, contracts.CaseStateAccepted))
	e.reportAs(chiping, e.ownerUpdate(chiping, second, contracts.CaseStateCorrectionRequired))
	if v := e.view(r.CaseID); v.Bundle.State != contracts.BundleCorrectionRequired || v.State == contracts.CaseStateConcluded {
		t.Fatalf("bundle during a part's correction: %s (%s)", v.Bundle.State, v.State)
	}
	sub := e.submission()
	sub.ServiceItem, sub.ToRegion, sub.ResubmitsCaseID = itemChiping, chiping, second
	e.submitOK(sub)
	e.reportAs(chiping, e.ownerUpdate(chiping, second, contracts.CaseStateAccepted))
	e.reportAs(chiping, e.ownerUpdate(chiping, second, contracts.CaseStateConcluded))
	e.drain()
	v := e.view(r.CaseID)
	if v.State != contracts.CaseStateConcluded || v.Outcome != contracts.OutcomeApproved || v.Bundle.State != contracts.BundleConcluded {
		t.Fatalf("bundle after every part concluded: %s %s %s", v.State, v.Outcome, v.Bundle.State)
	}
	var concluding []contracts.StatusDelivery
	for _, sd := range e.districts[zhonglou].sim.StatusDeliveries() {
		if sd.CaseID == r.CaseID {
			concluding = append(concluding, sd)
		}
	}
	if len(concluding) != 1 || concluding[0].Update.State != contracts.CaseStateConcluded || len(concluding[0].Update.Documents) != 2 {
		t.Fatalf("the sender received %d updates of the bundle (%+v), want one concluding with both results", len(concluding), concluding)
	}
	// The bundle's trace and a part's export carry the new events and verify.
	tr, err := e.core.Auditor.TraceCase(e.ctx, e.principal(auditor), second)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, x := range tr.Timeline {
		events = append(events, x.Event)
	}
	for _, want := range []string{contracts.EventCaseReceived, contracts.EventPartReleased, contracts.EventClockStarted, contracts.EventClockStopped, contracts.EventClockResumed} {
		if !slices.Contains(events, want) {
			t.Errorf("the part's trace lacks %s: %v", want, events)
		}
	}
	rep := verifyBundle(t, e.exportCase(second), bundle.Options{GatewayKey: e.gwPub})
	if !rep.OK() {
		t.Fatalf("the part's evidence bundle: %v", rep.Problems)
	}
	rep = verifyBundle(t, e.exportCase(r.CaseID), bundle.Options{GatewayKey: e.gwPub})
	if !rep.OK() {
		t.Fatalf("the bundle's evidence bundle: %v", rep.Problems)
	}
}

func TestBundleDeniedPrerequisiteCancelsWhatWaits(t *testing.T) {
	e := newAdminEnv(t)
	r := e.submitBundle(e.bundleSubmission())
	first, second := r.Parts[0].CaseID, r.Parts[1].CaseID
	e.drain()
	e.reportAs(wucheng, e.ownerUpdate(wucheng, first, contracts.CaseStateAccepted))
	u := e.ownerUpdate(wucheng, first, contracts.CaseStateConcluded)
	u.Outcome, u.Documents = contracts.OutcomeDenied, nil
	e.reportAs(wucheng, u)
	e.drain()
	if c := e.getCase(second); c.State != contracts.CaseStateCancelled {
		t.Fatalf("the waiting part is %s, want cancelled", c.State)
	}
	for _, d := range e.deliveries(second) {
		if d.Kind == contracts.DeliveryKindCase && d.State != contracts.TransportStateCancelled {
			t.Errorf("the cancelled part's delivery %s is %s", d.ID, d.State)
		}
	}
	if ns := e.noticesOf(zhonglou, second, contracts.NoticePartCancelled); len(ns) != 1 || ns[0].Notice.BundleID != r.CaseID {
		t.Fatalf("the sender received %+v, want one part_cancelled notice", ns)
	}
	if got := e.districts[chiping].sim.Cases(); len(got) != 0 {
		t.Fatalf("the cancelled part reached its owner: %d", len(got))
	}
	v := e.view(r.CaseID)
	if v.State != contracts.CaseStateConcluded || v.Outcome != contracts.OutcomeDenied {
		t.Fatalf("bundle %s %s, want concluded denied", v.State, v.Outcome)
	}
	// A cancelled part takes no report and no evaluation.
	_, err := e.report(chiping, e.ownerUpdate(chiping, second, contracts.CaseStateAccepted))
	wantCode(t, err, contracts.CodeInvalidTransition)
	_, err = e.evaluate(zhonglou, e.evaluation(second, contracts.LevelBasic))
	wantCode(t, err, contracts.CodeInvalidTransition)
}

func TestNoticeMetricsCountCasesByOwner(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	e := newAdminEnv(t)
	e.core = e.withCore(t, node.Options{Telemetry: gateway.Telemetry{Metrics: mp}, Administration: testAdministration(t)})
	e.disp = e.core.Outbox.Dispatcher()
	for range 2 {
		id := e.adminCase()
		e.reportAs(wucheng, e.ownerUpdate(wucheng, id, contracts.CaseStateAccepted))
	}
	e.at(time.Date(2026, 3, 16, 16, 0, 0, 0, time.UTC)) // the warning
	e.alarms()
	e.at(time.Date(2026, 3, 18, 16, 0, 0, 0, time.UTC)) // the deadline
	e.alarms()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	owner := attribute.String("owner", wucheng)
	for notice, want := range map[contracts.NoticeType]int64{contracts.NoticeDeadlineWarning: 2, contracts.NoticeDeadlineOverdue: 2} {
		if got := sumOf(rm, "tongban.case.notices", owner, attribute.String("notice", string(notice))); got != want {
			t.Errorf("tongban.case.notices{owner=%s, notice=%s} = %d, want %d", wucheng, notice, got, want)
		}
	}
}
