package contracts

import (
	"encoding/json"
	"time"
)

// CaseState is a state of a remote case's lifecycle (办件状态), as the owning
// district reports it and the gateway enforces it:
//
//	received → forwarded → accepted | rejected | correction_required
//	correction_required → received (the window resubmits)
//	accepted → in_progress → concluded → dispatched → delivered
//
// It is separate from TransportState, the state of one delivery attempt
// sequence.
type CaseState string

// The case lifecycle states.
const (
	// CaseStateReceived means the gateway stored the submission (收件).
	CaseStateReceived CaseState = "received"
	// CaseStateForwarded means the owning district acknowledged the case and
	// returned its own case number.
	CaseStateForwarded CaseState = "forwarded"
	// CaseStateAccepted means the owning district accepted the case (受理).
	CaseStateAccepted CaseState = "accepted"
	// CaseStateRejected means the owning district refused the case (不予受理).
	CaseStateRejected CaseState = "rejected"
	// CaseStateCorrectionRequired means the applicant must correct or supplement
	// materials (补正); the window resubmits the case.
	CaseStateCorrectionRequired CaseState = "correction_required"
	// CaseStateInProgress means the case is being processed (办理).
	CaseStateInProgress CaseState = "in_progress"
	// CaseStateConcluded means a decision was made (办结), see Outcome.
	CaseStateConcluded CaseState = "concluded"
	// CaseStateDispatched means the result was sent by post or electronically (寄递).
	CaseStateDispatched CaseState = "dispatched"
	// CaseStateDelivered means the result reached the applicant (送达).
	CaseStateDelivered CaseState = "delivered"
	// CaseStateWaiting means a part of a bundle waits for the parts it
	// names in after to conclude approved before it is delivered; only
	// the gateway sets it.
	CaseStateWaiting CaseState = "waiting"
	// CaseStateCancelled means a waiting part of a bundle was withdrawn
	// because a part it waited for was denied or rejected (撤销); only
	// the gateway sets it. It is final.
	CaseStateCancelled CaseState = "cancelled"
)

// Valid reports whether s is one of the case lifecycle states.
func (s CaseState) Valid() bool {
	switch s {
	case CaseStateReceived, CaseStateForwarded, CaseStateAccepted, CaseStateRejected,
		CaseStateCorrectionRequired, CaseStateInProgress, CaseStateConcluded,
		CaseStateDispatched, CaseStateDelivered, CaseStateWaiting, CaseStateCancelled:
		return true
	}
	return false
}

// Outcome is the decision of a concluded case (办结结果).
type Outcome string

// The case outcomes.
const (
	OutcomeApproved Outcome = "approved" // 准予许可 / 办结通过
	OutcomeDenied   Outcome = "denied"   // 不予许可
)

// Valid reports whether o is a case outcome.
func (o Outcome) Valid() bool {
	return o == OutcomeApproved || o == OutcomeDenied
}

// TransportState is the state of one delivery: the gateway's reliable,
// retried transfer of one exchange to one partner.
type TransportState string

// The transport states.
const (
	// TransportStatePending means the delivery is queued and not yet attempted.
	TransportStatePending TransportState = "pending"
	// TransportStateInFlight means an attempt is under way.
	TransportStateInFlight TransportState = "in_flight"
	// TransportStateDelivered means the partner returned a signed acknowledgement.
	TransportStateDelivered TransportState = "delivered"
	// TransportStateRetryWait means the last attempt failed; the next one is
	// scheduled at next_attempt_at.
	TransportStateRetryWait TransportState = "retry_wait"
	// TransportStateDead means the retry policy is exhausted (dead letter); an
	// operator may redeliver it.
	TransportStateDead TransportState = "dead"
	// TransportStateCancelled means the delivery was withdrawn and will not be
	// attempted again.
	TransportStateCancelled TransportState = "cancelled"
)

// Valid reports whether s is a transport state.
func (s TransportState) Valid() bool {
	switch s {
	case TransportStatePending, TransportStateInFlight, TransportStateDelivered,
		TransportStateRetryWait, TransportStateDead, TransportStateCancelled:
		return true
	}
	return false
}

// DeliveryKind says what a delivery carries to a partner.
type DeliveryKind string

// The delivery kinds.
const (
	// DeliveryKindCase carries a CaseDelivery to the owning district.
	DeliveryKindCase DeliveryKind = "case"
	// DeliveryKindStatus carries a StatusDelivery to the receiving district.
	DeliveryKindStatus DeliveryKind = "status"
	// DeliveryKindUsageRecord carries a UsageRecordDelivery to the license
	// issuer's library (用证记录回传).
	DeliveryKindUsageRecord DeliveryKind = "usage_record"
	// DeliveryKindNotice carries a NoticeDelivery (deadline warnings and
	// overdue notices, evaluations, follow-up replies, cancelled parts)
	// to a case's districts or to the evaluation system.
	DeliveryKindNotice DeliveryKind = "notice"
)

// Valid reports whether k is a delivery kind.
func (k DeliveryKind) Valid() bool {
	switch k {
	case DeliveryKindCase, DeliveryKindStatus, DeliveryKindUsageRecord, DeliveryKindNotice:
		return true
	}
	return false
}

// ResultDeliveryMethod is how the applicant receives the result (结果送达方式).
type ResultDeliveryMethod string

// The result delivery methods.
const (
	// ResultDeliveryMethodWindowPickup means the applicant collects the result at
	// the receiving window (窗口领取).
	ResultDeliveryMethodWindowPickup ResultDeliveryMethod = "window_pickup"
	// ResultDeliveryMethodPost means the result is sent by post or courier (邮寄).
	ResultDeliveryMethodPost ResultDeliveryMethod = "post"
	// ResultDeliveryMethodElectronic means the result is delivered electronically, for example
	// as an e-license (电子送达).
	ResultDeliveryMethodElectronic ResultDeliveryMethod = "electronic"
)

// Valid reports whether m is a result delivery method.
func (m ResultDeliveryMethod) Valid() bool {
	switch m {
	case ResultDeliveryMethodWindowPickup, ResultDeliveryMethodPost, ResultDeliveryMethodElectronic:
		return true
	}
	return false
}

// CaseSubmission is the body of POST /v1/cases: a case the receiving
// district A collected at its window (异地代收) and addresses to the owning
// district B (远程办理). It is signed by A over its exact bytes.
type CaseSubmission struct {
	// ExchangeID is the sender-unique id of this exchange, an RFC 9562 UUID
	// in canonical text form (UUIDv7 recommended). Resending the same id
	// with the same bytes returns the original receipt.
	ExchangeID string `json:"exchange_id"`
	// FromRegion is the GB/T 2260 code of the receiving district A.
	FromRegion string `json:"from_region"`
	// ToRegion is the GB/T 2260 code of the owning district B; routing
	// falls back district → city → province. With a service catalogue it
	// may be left empty: the gateway then routes to the item's owning
	// region and fills it in before delivering the case.
	ToRegion string `json:"to_region,omitempty"`
	// SubmittedAt is when A's system sent the submission.
	SubmittedAt time.Time `json:"submitted_at"`
	// ResubmitsCaseID names the gateway case this submission resubmits
	// after correction_required (补正后重新提交); empty for a new case.
	ResubmitsCaseID string `json:"resubmits_case_id,omitempty"`
	// ServiceItem is the government service item (政务服务事项) applied for.
	ServiceItem ServiceItem `json:"service_item"`
	// Applicant is the applicant (申请人).
	Applicant Party `json:"applicant"`
	// Agent is the agent acting for the applicant (代理人), if any.
	Agent *Party `json:"agent,omitempty"`
	// Window is the service window that collected the case.
	Window Window `json:"window"`
	// ReceivedAt is when the window collected the application (收件时间).
	ReceivedAt time.Time `json:"received_at"`
	// LocalCaseNo is A's own receipt number (收件编号), if it has one.
	LocalCaseNo string `json:"local_case_no,omitempty"`
	// Form is the application form (申请表), a JSON object whose layout
	// is fixed by the service item, passed through unchanged.
	Form json.RawMessage `json:"form"`
	// Materials are the application materials (申请材料).
	Materials []Material `json:"materials,omitempty"`
	// LicenseIDs are GB/T 36904 e-license identifiers the applicant need
	// not submit as paper because the owner can look them up (免提交).
	LicenseIDs []string `json:"license_ids,omitempty"`
	// ResultDelivery says how the applicant wants the result.
	ResultDelivery ResultDelivery `json:"result_delivery"`
	// Remark is a free-text note from the window (备注).
	Remark string `json:"remark,omitempty"`
}

// ServiceItem identifies a government service item (政务服务事项) in the
// national catalogue.
type ServiceItem struct {
	// BasicCode is the item's basic code (基本编码).
	BasicCode string `json:"basic_code"`
	// ImplementationCode is the item's implementation code (实施编码) at
	// the owning district.
	ImplementationCode string `json:"implementation_code"`
	// Name is the item's name (事项名称).
	Name string `json:"name"`
	// Department is the name of the implementing agency (实施主体), if known.
	Department string `json:"department,omitempty"`
}

// Party is a natural or legal person taking part in a case: the applicant
// (申请人) or an agent (代理人).
type Party struct {
	// HolderType is the GB/T 36903 id type: "111" citizen ID, "001"
	// unified social credit code.
	HolderType string `json:"holder_type"`
	// IDNumber is the citizen ID (GB 11643) or unified social credit code
	// (GB 32100), depending on HolderType.
	IDNumber string `json:"id_number"`
	// Name is the person's or organisation's name.
	Name string `json:"name"`
	// Phone is a contact telephone number.
	Phone string `json:"phone,omitempty"`
}

// Window identifies the service window (窗口) and the clerk (窗口人员) who
// collected a case or asked for a verification.
type Window struct {
	// WindowID is the window's id as registered with the gateway.
	WindowID string `json:"window_id"`
	// OperatorID is the clerk's id (the JWT sub where a person acts).
	OperatorID string `json:"operator_id"`
	// Region is the GB/T 2260 code of the window's district.
	Region string `json:"region"`
	// Name is the window's display name, for example 钟楼区政务服务中心跨域通办窗口.
	Name string `json:"name,omitempty"`
}

// Material is one application material (申请材料). Its content travels
// inline (Content) or by reference (URL); SM3 always fixes the bytes.
type Material struct {
	// MaterialID is the material's id in the service item's material list.
	MaterialID string `json:"material_id"`
	// Name is the material's name, for example 居民身份证.
	Name string `json:"name"`
	// MediaType is the content's IANA media type, for example application/pdf.
	MediaType string `json:"media_type"`
	// Size is the content's length in bytes.
	Size int64 `json:"size"`
	// SM3 is the lowercase hex SM3 digest of the content.
	SM3 string `json:"sm3"`
	// Content is the material inline (base64 in JSON); large materials go
	// by URL instead.
	Content []byte `json:"content,omitempty"`
	// URL is where the owner fetches the content; the bytes fetched must
	// hash to SM3.
	URL string `json:"url,omitempty"`
}

// ResultDelivery is the applicant's choice of how to receive the result
// (结果送达) and where.
type ResultDelivery struct {
	// Method is how the result is delivered.
	Method ResultDeliveryMethod `json:"method"`
	// Recipient is who receives the result (收件人), for post.
	Recipient string `json:"recipient,omitempty"`
	// Phone is the recipient's telephone number.
	Phone string `json:"phone,omitempty"`
	// Address is the postal address, for post.
	Address string `json:"address,omitempty"`
	// PostalCode is the six-digit postal code, for post.
	PostalCode string `json:"postal_code,omitempty"`
}

// Receipt is the gateway's signed receipt (回执) for a case submission or a
// status update: proof that the gateway stored the exchange durably. The
// gateway signs it over its exact bytes (Gw-Signature, Gw-Key-Id).
type Receipt struct {
	// ExchangeID is the exchange the receipt is for.
	ExchangeID string `json:"exchange_id"`
	// CaseID is the gateway's id of the case.
	CaseID string `json:"case_id"`
	// ReceivedAt is when the gateway stored the exchange.
	ReceivedAt time.Time `json:"received_at"`
	// BodySM3 is the lowercase hex SM3 digest of the exact request body
	// the gateway received.
	BodySM3 string `json:"body_sm3"`
	// State is the case's state once the exchange is applied.
	State CaseState `json:"state"`
	// EvidenceSeq is the sequence number of the evidence record that
	// logged the exchange.
	EvidenceSeq int64 `json:"evidence_seq,omitempty"`
	// Parts are the cases of a bundle's parts, for a bundle's receipt
	// (CaseID is then the bundle's id).
	Parts []ReceiptPart `json:"parts,omitempty"`
}

// CaseView is the body of GET /v1/cases/{case_id}: a case's current state,
// its lifecycle history and its deliveries.
type CaseView struct {
	// CaseID is the gateway's id of the case.
	CaseID string `json:"case_id"`
	// ExchangeID is the exchange that submitted the case.
	ExchangeID string `json:"exchange_id"`
	// FromRegion is the receiving district A.
	FromRegion string `json:"from_region"`
	// ToRegion is the addressed owning district B; empty for a bundle
	// (its parts have theirs).
	ToRegion string `json:"to_region,omitempty"`
	// Sender is the partner id of the receiving district's system.
	Sender string `json:"sender"`
	// Owner is the partner id the case was routed to; empty for a bundle
	// (its parts have theirs).
	Owner string `json:"owner,omitempty"`
	// State is the case's current lifecycle state.
	State CaseState `json:"state"`
	// Outcome is the decision, once concluded.
	Outcome Outcome `json:"outcome,omitempty"`
	// OwnerCaseNo is the owning district's case number (办件编号).
	OwnerCaseNo string `json:"owner_case_no,omitempty"`
	// LocalCaseNo is the receiving district's receipt number (收件编号).
	LocalCaseNo string `json:"local_case_no,omitempty"`
	// ServiceItem is the service item applied for.
	ServiceItem ServiceItem `json:"service_item"`
	// CreatedAt is when the gateway first received the case.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the case last changed.
	UpdatedAt time.Time `json:"updated_at"`
	// History lists every lifecycle change, oldest first; always an array.
	History []StatusEntry `json:"history"`
	// Deliveries lists the case's deliveries, oldest first; always an array.
	Deliveries []DeliveryView `json:"deliveries"`
	// Deadline is the statutory clock, once the owner accepted the case.
	Deadline *Deadline `json:"deadline,omitempty"`
	// Evaluation is the applicant's evaluation and its follow-up, once
	// evaluated.
	Evaluation *EvaluationView `json:"evaluation,omitempty"`
	// Bundle is set on a bundle: its aggregate state and its parts.
	Bundle *BundleView `json:"bundle,omitempty"`
	// PartOf is set on a part of a bundle.
	PartOf *PartOf `json:"part_of,omitempty"`
}

// StatusEntry is one lifecycle change in a CaseView's history.
type StatusEntry struct {
	// State is the state entered.
	State CaseState `json:"state"`
	// Outcome is the decision, for concluded.
	Outcome Outcome `json:"outcome,omitempty"`
	// At is when the reporter says the change happened.
	At time.Time `json:"at"`
	// ExchangeID is the exchange that reported the change.
	ExchangeID string `json:"exchange_id"`
	// ReportedBy is the caller id that reported the change.
	ReportedBy string `json:"reported_by"`
	// Reason is why the case was rejected or needs correction.
	Reason string `json:"reason,omitempty"`
	// Note is a free-text note.
	Note string `json:"note,omitempty"`
}

// DeliveryView is the transport status of one delivery, as shown to callers
// and operators.
type DeliveryView struct {
	// DeliveryID is the gateway's id of the delivery.
	DeliveryID string `json:"delivery_id"`
	// Kind is what the delivery carries.
	Kind DeliveryKind `json:"kind"`
	// ExchangeID is the exchange being delivered.
	ExchangeID string `json:"exchange_id"`
	// Partner is the partner id the delivery goes to.
	Partner string `json:"partner"`
	// State is the delivery's transport state.
	State TransportState `json:"state"`
	// Attempts is how many attempts were made so far.
	Attempts int `json:"attempts"`
	// NextAttemptAt is when the next attempt is due, in retry_wait or pending.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	// LastError describes the last failed attempt, without internal details.
	LastError string `json:"last_error,omitempty"`
	// CreatedAt is when the delivery was queued.
	CreatedAt time.Time `json:"created_at"`
	// DeliveredAt is when the partner acknowledged the delivery.
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	// Ack is the partner's signed acknowledgement, once delivered.
	Ack *Ack `json:"ack,omitempty"`
}

// StatusUpdate is the body of POST /v1/cases/{case_id}/status: the owning
// district reports a lifecycle change (受理、不予受理、补正、办理、办结、寄递、
// 送达). It is signed by the owner over its exact bytes.
type StatusUpdate struct {
	// ExchangeID is the sender-unique id of this exchange (RFC 9562 UUID).
	ExchangeID string `json:"exchange_id"`
	// CaseID is the gateway's id of the case; it must match the path.
	CaseID string `json:"case_id"`
	// State is the state the case enters.
	State CaseState `json:"state"`
	// ReportedAt is when the change happened at the owner.
	ReportedAt time.Time `json:"reported_at"`
	// OwnerCaseNo is the owner's case number (办件编号).
	OwnerCaseNo string `json:"owner_case_no,omitempty"`
	// Note is a free-text note for the applicant or the window.
	Note string `json:"note,omitempty"`
	// Reason is why the case was rejected (不予受理理由) or needs
	// correction (补正原因); required for rejected and correction_required.
	Reason string `json:"reason,omitempty"`
	// CorrectionItems lists what the applicant must correct or supply
	// (补正材料清单), for correction_required.
	CorrectionItems []string `json:"correction_items,omitempty"`
	// Outcome is the decision; required for concluded.
	Outcome Outcome `json:"outcome,omitempty"`
	// Documents are result documents (结果文书, licences, decisions), for
	// concluded and dispatched.
	Documents []Document `json:"documents,omitempty"`
	// Dispatch describes how the result was sent; required for dispatched.
	Dispatch *Dispatch `json:"dispatch,omitempty"`
	// DeliveredAt is when the result reached the applicant; required for
	// delivered.
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
}

// Document is a result document (结果文书) attached to a status update.
type Document struct {
	// Name is the document's name, for example 准予行政许可决定书.
	Name string `json:"name"`
	// MediaType is the content's IANA media type.
	MediaType string `json:"media_type"`
	// Size is the content's length in bytes.
	Size int64 `json:"size"`
	// SM3 is the lowercase hex SM3 digest of the content.
	SM3 string `json:"sm3"`
	// Content is the document inline (base64 in JSON).
	Content []byte `json:"content,omitempty"`
	// URL is where the content can be fetched, when not inline.
	URL string `json:"url,omitempty"`
	// LicenseID is the GB/T 36904 identifier when the result was issued as
	// an e-license.
	LicenseID string `json:"license_id,omitempty"`
}

// Dispatch describes how a result was sent to the applicant (寄递信息).
type Dispatch struct {
	// Method is post or electronic; window_pickup is not a dispatch.
	Method ResultDeliveryMethod `json:"method"`
	// Carrier is the postal or courier company, for post (for example EMS).
	Carrier string `json:"carrier,omitempty"`
	// TrackingNumber is the carrier's tracking number (运单号), for post.
	TrackingNumber string `json:"tracking_number,omitempty"`
	// URL is where the applicant retrieves the result, for electronic.
	URL string `json:"url,omitempty"`
	// DispatchedAt is when the result was sent.
	DispatchedAt time.Time `json:"dispatched_at"`
}

// Ack is a partner's signed acknowledgement (签收回执) of a delivery, sent as
// the response body of a delivery call or in a MailboxAck. The partner
// signs its exact bytes (Gw-Signature, Gw-Key-Id).
type Ack struct {
	// ExchangeID is the exchange acknowledged.
	ExchangeID string `json:"exchange_id"`
	// DeliveryID is the delivery acknowledged; required in a MailboxAck.
	DeliveryID string `json:"delivery_id,omitempty"`
	// PartnerCaseNo is the partner's own case number (办件编号); required
	// when acknowledging a case delivery.
	PartnerCaseNo string `json:"partner_case_no,omitempty"`
	// AcknowledgedAt is when the partner stored the delivery.
	AcknowledgedAt time.Time `json:"acknowledged_at"`
	// BodySM3 is the lowercase hex SM3 digest of the exact delivery body
	// the partner received.
	BodySM3 string `json:"body_sm3"`
	// KeyID is the partner's key id that signed this acknowledgement.
	KeyID string `json:"key_id"`
}

// CaseDelivery is what the gateway POSTs to the owning partner's
// {endpoint}/cases (or queues in its mailbox): a case addressed to it.
// The gateway signs it over its exact bytes.
type CaseDelivery struct {
	// DeliveryID is the gateway's id of this delivery; partners use it to
	// discard repeated attempts.
	DeliveryID string `json:"delivery_id"`
	// CaseID is the gateway's id of the case; status updates name it.
	CaseID string `json:"case_id"`
	// ExchangeID is the submitting exchange.
	ExchangeID string `json:"exchange_id"`
	// SenderRegion is the GB/T 2260 code of the receiving district A.
	SenderRegion string `json:"sender_region"`
	// SentAt is when the gateway made this attempt.
	SentAt time.Time `json:"sent_at"`
	// Submission is the case as the receiving district submitted it
	// (for a part of a bundle: the bundle's common fields with the part's
	// item, form and materials).
	Submission CaseSubmission `json:"submission"`
	// Bundle is set when the case is a part of a 一件事 bundle.
	Bundle *BundleRef `json:"bundle,omitempty"`
}

// StatusDelivery is what the gateway POSTs to the receiving partner's
// {endpoint}/cases/{case_id}/status (or queues in its mailbox): a lifecycle
// change of a case it submitted. The gateway signs it over its exact bytes.
type StatusDelivery struct {
	// DeliveryID is the gateway's id of this delivery.
	DeliveryID string `json:"delivery_id"`
	// CaseID is the gateway's id of the case.
	CaseID string `json:"case_id"`
	// ExchangeID is the status update's exchange.
	ExchangeID string `json:"exchange_id"`
	// LocalCaseNo is the receiving district's own receipt number (收件编号)
	// from the submission, so it can file the update without a lookup.
	LocalCaseNo string `json:"local_case_no,omitempty"`
	// SentAt is when the gateway made this attempt.
	SentAt time.Time `json:"sent_at"`
	// Update is the status update as the owner reported it.
	Update StatusUpdate `json:"update"`
}
