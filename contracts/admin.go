package contracts

import (
	"encoding/json"
	"time"
)

// This file holds the wire types of a case's administration: the service
// catalogue (通办事项清单), the statutory clock (承诺时限), evaluations
// (政务服务"好差评") with their follow-ups (整改), the notices the gateway
// sends about them, and 一件事 bundles.

// LimitUnit is the unit a time limit is counted in.
type LimitUnit string

// The units of a time limit.
const (
	// LimitWorkingDays counts working days (工作日) on the gateway's
	// calendar: weekdays that are not public holidays, and adjusted
	// working days (调休上班).
	LimitWorkingDays LimitUnit = "working_days"
	// LimitCalendarDays counts every day (自然日).
	LimitCalendarDays LimitUnit = "calendar_days"
)

// TimeLimit is a time limit (时限): Days counted in Unit, from the day
// after the clock starts, in China Standard Time.
type TimeLimit struct {
	Days int       `json:"days"`
	Unit LimitUnit `json:"unit"`
}

// CatalogueScope says from how far an item may be accepted for its owner.
type CatalogueScope string

// The scopes of a catalogue item.
const (
	ScopeCity          CatalogueScope = "city"           // 市内通办: same prefecture
	ScopeProvince      CatalogueScope = "province"       // 省内通办: same province
	ScopeCrossProvince CatalogueScope = "cross_province" // 跨省通办: anywhere
)

// Catalogue is the body of GET /v1/catalogue: the service items the
// gateway carries, as loaded from its catalogue file at start.
type Catalogue struct {
	// SM3 is the lowercase hex SM3 of the catalogue file as loaded (also
	// in the evidence log's catalogue.loaded record); "" when the gateway
	// has no catalogue.
	SM3 string `json:"sm3,omitempty"`
	// Calendar names the working-day calendar deadlines are counted on.
	Calendar string `json:"calendar,omitempty"`
	// CalendarYears are the years the calendar covers.
	CalendarYears []int `json:"calendar_years,omitempty"`
	// Items are the service items, in file order; always an array.
	Items []CatalogueItem `json:"items"`
}

// CatalogueItem is one cross-region service item (通办事项).
type CatalogueItem struct {
	// BasicCode is the item's 基本编码: 12 digits.
	BasicCode string `json:"basic_code"`
	// ImplementationCode is the item's 实施编码: the implementing agency's
	// 18-character unified social credit code, then 13 to 15 digits that
	// contain BasicCode. Submissions name it.
	ImplementationCode string `json:"implementation_code"`
	// Name is the item's name (事项名称).
	Name string `json:"name"`
	// Owners are the GB/T 2260 codes of the regions that decide the item.
	Owners []string `json:"owners"`
	// Scope is how far from an owner the item may be accepted.
	Scope CatalogueScope `json:"scope"`
	// AcceptRegions, when not empty, are the only regions (within Scope)
	// that may accept the item.
	AcceptRegions []string `json:"accept_regions,omitempty"`
	// StatutoryLimit is the limit the law sets (法定时限).
	StatutoryLimit TimeLimit `json:"statutory_limit"`
	// PromisedLimit is the limit the owner promised (承诺时限); the
	// case's deadline runs on it.
	PromisedLimit TimeLimit `json:"promised_limit"`
	// Materials are the materials the item requires; always an array.
	Materials []CatalogueMaterial `json:"materials"`
}

// CatalogueMaterial is one material a catalogue item lists.
type CatalogueMaterial struct {
	MaterialID string `json:"material_id"`
	Name       string `json:"name"`
	Required   bool   `json:"required"`
}

// Deadline is a case's statutory clock as GET /v1/cases/{case_id} and the
// deadline notices show it. The clock starts when the owner reports
// accepted (受理), stops on correction_required and resumes, with the
// days left, when the window resubmits.
type Deadline struct {
	// Limit is the item's promised limit.
	Limit TimeLimit `json:"limit"`
	// Running is false while the applicant corrects materials and once
	// the case is concluded, rejected or cancelled.
	Running bool `json:"running"`
	// StartedAt is when the owner accepted the case.
	StartedAt time.Time `json:"started_at"`
	// Deadline is when the limit runs out (the end of its last day,
	// China Standard Time) while the clock runs.
	Deadline time.Time `json:"deadline,omitzero"`
	// DaysUsed and DaysLeft are counted in Limit.Unit as of the answer.
	DaysUsed int `json:"days_used"`
	DaysLeft int `json:"days_left"`
	// Overdue is true once the deadline passed before the case concluded.
	Overdue bool `json:"overdue"`
	// WarnedAt is when the gateway sent the warning notice (预警).
	WarnedAt time.Time `json:"warned_at,omitzero"`
	// OverdueAt is when the gateway sent the overdue notice (超期).
	OverdueAt time.Time `json:"overdue_at,omitzero"`
	// StoppedAt is when the clock stopped (a correction, or the end).
	StoppedAt time.Time `json:"stopped_at,omitzero"`
}

// EvaluationLevel is a 好差评 grade, from 非常满意 to 非常不满意.
type EvaluationLevel string

// The five evaluation levels.
const (
	LevelVerySatisfied    EvaluationLevel = "very_satisfied"      // 非常满意 (5)
	LevelSatisfied        EvaluationLevel = "satisfied"           // 满意 (4)
	LevelBasic            EvaluationLevel = "basically_satisfied" // 基本满意 (3)
	LevelDissatisfied     EvaluationLevel = "dissatisfied"        // 不满意 (2)
	LevelVeryDissatisfied EvaluationLevel = "very_dissatisfied"   // 非常不满意 (1)
)

// Score returns the level's score, 5 (非常满意) to 1 (非常不满意); 0 for a
// level that is not one of the five.
func (l EvaluationLevel) Score() int {
	switch l {
	case LevelVerySatisfied:
		return 5
	case LevelSatisfied:
		return 4
	case LevelBasic:
		return 3
	case LevelDissatisfied:
		return 2
	case LevelVeryDissatisfied:
		return 1
	}
	return 0
}

// Valid reports whether l is one of the five levels.
func (l EvaluationLevel) Valid() bool { return l.Score() > 0 }

// Negative reports whether l is a bad review (差评: 不满意 or worse), which
// opens a follow-up the owner must answer.
func (l EvaluationLevel) Negative() bool { s := l.Score(); return s > 0 && s <= 2 }

// EvaluationChannel is where the applicant evaluated (评价渠道).
type EvaluationChannel string

// The evaluation channels.
const (
	ChannelWindow      EvaluationChannel = "window"       // 窗口评价器
	ChannelPC          EvaluationChannel = "pc"           // 网上办事大厅
	ChannelApp         EvaluationChannel = "app"          // 移动端
	ChannelMiniProgram EvaluationChannel = "mini_program" // 小程序
	ChannelHotline     EvaluationChannel = "hotline"      // 12345 热线
	ChannelSMS         EvaluationChannel = "sms"          // 短信
)

// Valid reports whether c is an evaluation channel.
func (c EvaluationChannel) Valid() bool {
	switch c {
	case ChannelWindow, ChannelPC, ChannelApp, ChannelMiniProgram, ChannelHotline, ChannelSMS:
		return true
	}
	return false
}

// MaxEvaluationText bounds an evaluation's text and a reply's fields, in
// characters.
const MaxEvaluationText = 500

// EvaluationSubmission is the body of POST /v1/cases/{case_id}/evaluation:
// the applicant's evaluation of a concluded case, sent by the district
// that accepted it (the case's sender) on the applicant's behalf, signed
// over its exact bytes. A case (or a part of a bundle, by the part's case
// id) takes one evaluation.
type EvaluationSubmission struct {
	// ExchangeID is the sender-unique id of this exchange (RFC 9562 UUID).
	ExchangeID string `json:"exchange_id"`
	// CaseID is the case evaluated; it must match the path.
	CaseID string `json:"case_id"`
	// Level is the grade.
	Level EvaluationLevel `json:"level"`
	// Text is the applicant's comment, optional.
	Text string `json:"text,omitempty"`
	// Channel is where the applicant evaluated.
	Channel EvaluationChannel `json:"channel"`
	// EvaluatedAt is when the applicant evaluated.
	EvaluatedAt time.Time `json:"evaluated_at"`
	// Applicant is who evaluated: the case's applicant. The gateway keeps
	// and passes on only its masked form (Evaluation.ApplicantMasked).
	Applicant EvaluationApplicant `json:"applicant"`
}

// EvaluationApplicant identifies the applicant who evaluated.
type EvaluationApplicant struct {
	// HolderType is the GB/T 36903 id type: 111 citizen ID, 001 credit code.
	HolderType string `json:"holder_type"`
	// IDNumber is the id number, checked like the applicant's.
	IDNumber string `json:"id_number"`
}

// Evaluation is an evaluation as the gateway keeps, shows and delivers it:
// the applicant's identity masked.
type Evaluation struct {
	// EvaluationID is the gateway's id of the evaluation.
	EvaluationID string `json:"evaluation_id"`
	// CaseID is the case evaluated.
	CaseID string `json:"case_id"`
	// ExchangeID is the evaluation's exchange.
	ExchangeID string `json:"exchange_id"`
	// ImplementationCode is the service item's 实施编码.
	ImplementationCode string `json:"implementation_code"`
	// Sender and Owner are the case's districts (partner ids).
	Sender string          `json:"sender"`
	Owner  string          `json:"owner"`
	Level  EvaluationLevel `json:"level"`
	// Score is Level's score, 5 to 1.
	Score       int               `json:"score"`
	Text        string            `json:"text,omitempty"`
	Channel     EvaluationChannel `json:"channel"`
	EvaluatedAt time.Time         `json:"evaluated_at"`
	// HolderType and ApplicantMasked are the applicant's id type and
	// masked id (all but its first and last four characters hidden).
	HolderType      string `json:"holder_type"`
	ApplicantMasked string `json:"applicant_masked"`
	// ReceivedAt is when the gateway stored it.
	ReceivedAt time.Time `json:"received_at"`
}

// FollowUpState is where the follow-up (整改) of a negative evaluation
// stands.
type FollowUpState string

// The follow-up states.
const (
	FollowUpOpen     FollowUpState = "open"     // waiting for the owner's reply
	FollowUpAnswered FollowUpState = "answered" // the owner replied
	FollowUpOverdue  FollowUpState = "overdue"  // its due time passed without a reply
)

// FollowUp is the follow-up a negative evaluation opens: the owner must
// reply, signed, before Due. One that turned overdue stays answerable;
// a late reply makes it answered, with Late set.
type FollowUp struct {
	State FollowUpState `json:"state"`
	// Limit is the configured reply limit.
	Limit TimeLimit `json:"limit"`
	// Due is when the reply is due.
	Due time.Time `json:"due"`
	// OverdueAt is when the gateway sent the follow-up's overdue notice.
	OverdueAt time.Time `json:"overdue_at,omitzero"`
	// Reply is the owner's reply, once answered.
	Reply *EvaluationReply `json:"reply,omitempty"`
	// Late is true when the reply came after Due.
	Late bool `json:"late,omitempty"`
}

// EvaluationReply is the body of POST /v1/cases/{case_id}/evaluation/reply:
// the owner's answer to a negative evaluation's follow-up (整改反馈),
// signed over its exact bytes.
type EvaluationReply struct {
	// ExchangeID is the owner-unique id of this exchange (RFC 9562 UUID).
	ExchangeID string `json:"exchange_id"`
	// CaseID is the evaluated case; it must match the path.
	CaseID string `json:"case_id"`
	// RepliedAt is when the owner answered.
	RepliedAt time.Time `json:"replied_at"`
	// Measures is what the owner did about it (整改措施); required.
	Measures string `json:"measures"`
	// Result is the outcome of the follow-up (整改结果), optional.
	Result string `json:"result,omitempty"`
	// ContactedApplicant says the owner spoke with the applicant (回访).
	ContactedApplicant bool `json:"contacted_applicant"`
}

// EvaluationView is a case's evaluation and its follow-up, in a CaseView.
type EvaluationView struct {
	Evaluation Evaluation `json:"evaluation"`
	FollowUp   *FollowUp  `json:"follow_up,omitempty"`
}

// NoticeType says what a notice is about.
type NoticeType string

// The notice types.
const (
	// NoticeDeadlineWarning: the case's deadline is near (预警).
	NoticeDeadlineWarning NoticeType = "deadline_warning"
	// NoticeDeadlineOverdue: the deadline passed before the case
	// concluded (超期).
	NoticeDeadlineOverdue NoticeType = "deadline_overdue"
	// NoticeEvaluation: the applicant evaluated the case (好差评); for a
	// negative one, FollowUp says when the owner's reply is due.
	NoticeEvaluation NoticeType = "evaluation"
	// NoticeFollowUpReply: the owner answered a negative evaluation.
	NoticeFollowUpReply NoticeType = "follow_up_reply"
	// NoticeFollowUpOverdue: the owner did not answer a negative
	// evaluation in time.
	NoticeFollowUpOverdue NoticeType = "follow_up_overdue"
	// NoticePartCancelled: a part of a bundle was cancelled because a
	// part it waited on was denied.
	NoticePartCancelled NoticeType = "part_cancelled"
)

// Valid reports whether t is a notice type.
func (t NoticeType) Valid() bool {
	switch t {
	case NoticeDeadlineWarning, NoticeDeadlineOverdue, NoticeEvaluation, NoticeFollowUpReply,
		NoticeFollowUpOverdue, NoticePartCancelled:
		return true
	}
	return false
}

// Notice is an administrative message the gateway sends about a case:
// deadline warnings and overdue notices, evaluations, follow-up replies
// and overdue follow-ups, cancelled parts. Exactly the fields its Type
// needs are set.
type Notice struct {
	Type NoticeType `json:"type"`
	// CaseID is the case the notice is about.
	CaseID string `json:"case_id"`
	// BundleID is the bundle the case is a part of, if any.
	BundleID string `json:"bundle_id,omitempty"`
	// OwnerCaseNo and LocalCaseNo are the districts' own numbers.
	OwnerCaseNo string `json:"owner_case_no,omitempty"`
	LocalCaseNo string `json:"local_case_no,omitempty"`
	// ImplementationCode is the case's service item.
	ImplementationCode string `json:"implementation_code"`
	// At is when the gateway raised the notice.
	At time.Time `json:"at"`
	// Deadline is the clock, for deadline_warning and deadline_overdue.
	Deadline *Deadline `json:"deadline,omitempty"`
	// Evaluation is the evaluation, for evaluation, follow_up_reply and
	// follow_up_overdue.
	Evaluation *Evaluation `json:"evaluation,omitempty"`
	// FollowUp is the follow-up, for a negative evaluation and its reply
	// or overdue notice.
	FollowUp *FollowUp `json:"follow_up,omitempty"`
	// Reason says why, for part_cancelled.
	Reason string `json:"reason,omitempty"`
}

// NoticeDelivery is what the gateway POSTs to a partner's
// {endpoint}/notices (or queues in its mailbox): one notice, signed over
// its exact bytes and acknowledged like any delivery.
type NoticeDelivery struct {
	// DeliveryID is the gateway's id of this delivery; partners dedup on it.
	DeliveryID string `json:"delivery_id"`
	// CaseID is the case the notice is about.
	CaseID string `json:"case_id"`
	// ExchangeID is the notice's exchange: the gateway's for a notice it
	// raised, the partner's for an evaluation or reply it passes on.
	ExchangeID string `json:"exchange_id"`
	// SentAt is when the gateway made this attempt.
	SentAt time.Time `json:"sent_at"`
	Notice Notice    `json:"notice"`
}

// MaxBundleParts bounds the parts of one bundle.
const MaxBundleParts = 20

// BundleSubmission is the body of POST /v1/bundles: one application for
// 一件事 (one thing, done once) that several departments, possibly in
// several districts, decide, each part in parallel unless it waits for
// another. The window submits it once, signed over its exact bytes; the
// gateway answers with one receipt naming the bundle and each part's case.
type BundleSubmission struct {
	// ExchangeID is the sender-unique id of this exchange (RFC 9562 UUID).
	ExchangeID string `json:"exchange_id"`
	// FromRegion is the GB/T 2260 code of the accepting district.
	FromRegion string `json:"from_region"`
	// SubmittedAt is when the sender's system sent the bundle.
	SubmittedAt time.Time `json:"submitted_at"`
	// Name is the one thing applied for, for example 开办餐饮店.
	Name string `json:"name"`
	// Applicant, Agent, Window, ReceivedAt, LocalCaseNo, ResultDelivery
	// and Remark are common to every part, as in a CaseSubmission.
	Applicant      Party          `json:"applicant"`
	Agent          *Party         `json:"agent,omitempty"`
	Window         Window         `json:"window"`
	ReceivedAt     time.Time      `json:"received_at"`
	LocalCaseNo    string         `json:"local_case_no,omitempty"`
	ResultDelivery ResultDelivery `json:"result_delivery"`
	Remark         string         `json:"remark,omitempty"`
	// Parts are the service items decided, 2 to MaxBundleParts.
	Parts []BundlePart `json:"parts"`
}

// BundlePart is one service item of a bundle.
type BundlePart struct {
	// Part names the part within the bundle: 1 to 32 of a-z, 0-9, _ and -.
	Part string `json:"part"`
	// ToRegion is the owning region; empty lets the catalogue route it.
	ToRegion string `json:"to_region,omitempty"`
	// ServiceItem is the item applied for, named by its 实施编码.
	ServiceItem ServiceItem `json:"service_item"`
	// After names parts this one waits for: it is delivered only once
	// each of them concluded approved, with their result documents, and
	// cancelled when one is denied or rejected.
	After []string `json:"after,omitempty"`
	// Form, Materials and LicenseIDs are the part's own, as in a
	// CaseSubmission.
	Form       json.RawMessage `json:"form"`
	Materials  []Material      `json:"materials,omitempty"`
	LicenseIDs []string        `json:"license_ids,omitempty"`
}

// BundleRef tells the owner of a part which bundle it belongs to, in a
// CaseDelivery.
type BundleRef struct {
	// BundleID is the gateway's id of the bundle (the bundle's case id).
	BundleID string `json:"bundle_id"`
	// Name is the one thing applied for.
	Name string `json:"name"`
	// Part is this part's name; Parts how many the bundle has.
	Part  string `json:"part"`
	Parts int    `json:"parts"`
	// After are the parts this one waited for; Prerequisites their
	// results.
	After         []string             `json:"after,omitempty"`
	Prerequisites []PrerequisiteResult `json:"prerequisites,omitempty"`
}

// PrerequisiteResult is the approved conclusion of a part another part
// waited for.
type PrerequisiteResult struct {
	Part        string    `json:"part"`
	CaseID      string    `json:"case_id"`
	Outcome     Outcome   `json:"outcome"`
	ConcludedAt time.Time `json:"concluded_at"`
	// Documents are the part's result documents (结果文书).
	Documents []Document `json:"documents,omitempty"`
}

// BundleState is a bundle's aggregate state.
type BundleState string

// The bundle states.
const (
	// BundleInProgress: parts are still being decided.
	BundleInProgress BundleState = "in_progress"
	// BundleCorrectionRequired: a part waits for corrected materials.
	BundleCorrectionRequired BundleState = "correction_required"
	// BundleSomeDenied: a part was denied, rejected or cancelled; others
	// are still being decided.
	BundleSomeDenied BundleState = "some_denied"
	// BundleConcluded: every part concluded (or was rejected or
	// cancelled); the bundle's concluding update went back to its sender.
	BundleConcluded BundleState = "concluded"
)

// BundleView is a bundle in a CaseView: its aggregate state and parts.
type BundleView struct {
	BundleID string      `json:"bundle_id"`
	Name     string      `json:"name"`
	State    BundleState `json:"state"`
	Parts    []PartView  `json:"parts"`
}

// PartView is one part of a bundle in a BundleView.
type PartView struct {
	Part        string      `json:"part"`
	CaseID      string      `json:"case_id"`
	Owner       string      `json:"owner"`
	ToRegion    string      `json:"to_region"`
	ServiceItem ServiceItem `json:"service_item"`
	State       CaseState   `json:"state"`
	Outcome     Outcome     `json:"outcome,omitempty"`
	After       []string    `json:"after,omitempty"`
	Deadline    *Deadline   `json:"deadline,omitempty"`
}

// PartOf says, in a part's CaseView, which bundle it belongs to.
type PartOf struct {
	BundleID string `json:"bundle_id"`
	Part     string `json:"part"`
}

// ReceiptPart names one part's case in a bundle's receipt.
type ReceiptPart struct {
	Part   string    `json:"part"`
	CaseID string    `json:"case_id"`
	State  CaseState `json:"state"`
}

// PartSubmission returns part i of b as the case submission its owner
// receives: the bundle's common fields with the part's region, item,
// form, materials and license ids, under the bundle's exchange id.
func (b *BundleSubmission) PartSubmission(i int) CaseSubmission {
	p := &b.Parts[i]
	return CaseSubmission{
		ExchangeID: b.ExchangeID, FromRegion: b.FromRegion, ToRegion: p.ToRegion, SubmittedAt: b.SubmittedAt,
		ServiceItem: p.ServiceItem, Applicant: b.Applicant, Agent: b.Agent, Window: b.Window,
		ReceivedAt: b.ReceivedAt, LocalCaseNo: b.LocalCaseNo, Form: p.Form, Materials: p.Materials,
		LicenseIDs: p.LicenseIDs, ResultDelivery: b.ResultDelivery, Remark: b.Remark,
	}
}
