package contracts

import "time"

// LicenseOutcome is the result of one e-license verification (电子证照核验结果).
type LicenseOutcome string

// The verification outcomes.
const (
	// LicenseOutcomeValid means the license exists, is in force and matches
	// every presented field.
	LicenseOutcomeValid LicenseOutcome = "valid"
	// LicenseOutcomeMismatch means the license exists but a presented field
	// (face or file digest) differs; see LicenseVerifyResult.Mismatches.
	LicenseOutcomeMismatch LicenseOutcome = "mismatch"
	// LicenseOutcomeSuspended means the license is suspended (暂扣).
	LicenseOutcomeSuspended LicenseOutcome = "suspended"
	// LicenseOutcomeRevoked means the license was revoked (撤销/吊销).
	LicenseOutcomeRevoked LicenseOutcome = "revoked"
	// LicenseOutcomeCancelled means the license was cancelled (注销).
	LicenseOutcomeCancelled LicenseOutcome = "cancelled"
	// LicenseOutcomeExpired means the license is no longer in force (失效).
	LicenseOutcomeExpired LicenseOutcome = "expired"
	// LicenseOutcomeNotFound means the issuer's library has no such license.
	LicenseOutcomeNotFound LicenseOutcome = "not_found"
	// LicenseOutcomeSourceUnavailable means the issuer's library did not
	// answer in time and no usable cached answer exists.
	LicenseOutcomeSourceUnavailable LicenseOutcome = "source_unavailable"
)

// Valid reports whether o is a verification outcome.
func (o LicenseOutcome) Valid() bool {
	switch o {
	case LicenseOutcomeValid, LicenseOutcomeMismatch, LicenseOutcomeSuspended,
		LicenseOutcomeRevoked, LicenseOutcomeCancelled, LicenseOutcomeExpired,
		LicenseOutcomeNotFound, LicenseOutcomeSourceUnavailable:
		return true
	}
	return false
}

// LicenseStatus is the status of an e-license in its issuer's library
// (证照状态).
type LicenseStatus string

// The license statuses.
const (
	LicenseStatusValid     LicenseStatus = "valid"     // 有效
	LicenseStatusSuspended LicenseStatus = "suspended" // 暂扣
	LicenseStatusRevoked   LicenseStatus = "revoked"   // 撤销/吊销
	LicenseStatusCancelled LicenseStatus = "cancelled" // 注销
	LicenseStatusExpired   LicenseStatus = "expired"   // 失效
)

// Valid reports whether s is a license status.
func (s LicenseStatus) Valid() bool {
	switch s {
	case LicenseStatusValid, LicenseStatusSuspended, LicenseStatusRevoked,
		LicenseStatusCancelled, LicenseStatusExpired:
		return true
	}
	return false
}

// Holder identifies a license holder (持证主体) by id type and number.
type Holder struct {
	// HolderType is the GB/T 36903 id type: "111" citizen ID, "001"
	// unified social credit code.
	HolderType string `json:"holder_type"`
	// IDNumber is the citizen ID or unified social credit code.
	IDNumber string `json:"id_number"`
}

// LicenseFace is what the applicant's license shows (证面信息), to be
// compared with the issuer's record. Every field is optional; only the
// fields given are compared. Dates are RFC 3339 full dates (YYYY-MM-DD).
type LicenseFace struct {
	// HolderName is the holder's name as printed.
	HolderName string `json:"holder_name,omitempty"`
	// LicenseNumber is the license number as printed (证照编号).
	LicenseNumber string `json:"license_number,omitempty"`
	// ValidFrom is the first day of validity as printed.
	ValidFrom string `json:"valid_from,omitempty"`
	// ValidUntil is the last day of validity as printed.
	ValidUntil string `json:"valid_until,omitempty"`
}

// LicenseVerifyRequest is the body of POST /v1/licenses/verify and one item
// of a batch: verify an e-license presented at a window (电子证照核验). The
// license is named by LicenseID, or by Holder plus LicenseTypeCode (and
// LicenseNumber where the holder has several).
//
// Purpose is required for a single verification; in a batch an item
// without Purpose uses the batch's.
type LicenseVerifyRequest struct {
	// LicenseID is the GB/T 36904 e-license identifier (证照标识).
	LicenseID string `json:"license_id,omitempty"`
	// Holder is the license holder, when the license is named by holder.
	Holder *Holder `json:"holder,omitempty"`
	// LicenseTypeCode is the 21-character license type code (证照类型代码).
	LicenseTypeCode string `json:"license_type_code,omitempty"`
	// LicenseNumber is the license number (证照编号).
	LicenseNumber string `json:"license_number,omitempty"`
	// Face is what the presented license shows, to compare.
	Face *LicenseFace `json:"face,omitempty"`
	// FileSM3 is the lowercase hex SM3 digest of the presented license
	// file, to compare with the issuer's.
	FileSM3 string `json:"file_sm3,omitempty"`
	// Purpose is the reason for using the license (用证事由), at most 200
	// characters; recorded in the usage record.
	Purpose string `json:"purpose,omitempty"`
	// CaseID is the gateway case the verification serves, if any.
	CaseID string `json:"case_id,omitempty"`
	// IssuerRegion is a GB/T 2260 routing hint when the issuer cannot be
	// derived from LicenseID.
	IssuerRegion string `json:"issuer_region,omitempty"`
	// WindowID is the window asking, when a district system asks on a
	// window's behalf.
	WindowID string `json:"window_id,omitempty"`
	// OperatorID is the clerk asking (窗口人员), when not the token's sub.
	OperatorID string `json:"operator_id,omitempty"`
}

// LicenseVerifyResult is the signed result of one verification.
type LicenseVerifyResult struct {
	// Outcome is the verification result.
	Outcome LicenseOutcome `json:"outcome"`
	// License is what the issuer's library holds, with the holder's id
	// masked; absent for not_found and source_unavailable.
	License *LicenseMetadata `json:"license,omitempty"`
	// Mismatches names the presented fields that differ from the record:
	// holder (id type or number), holder_name, license_number, valid_from,
	// valid_until, file_sm3. Present only for mismatch.
	Mismatches []string `json:"mismatches,omitempty"`
	// SourceRegion is the GB/T 2260 code of the library that answered.
	SourceRegion string `json:"source_region,omitempty"`
	// CheckedAt is when the gateway (or its cache) checked the license.
	CheckedAt time.Time `json:"checked_at"`
	// UsageRecordID is the id of the usage record (用证记录) this
	// verification created.
	UsageRecordID string `json:"usage_record_id"`
	// Cached reports whether the answer came from the gateway's cache
	// rather than from the issuer's library just now.
	Cached bool `json:"cached"`
}

// LicenseMetadata describes an e-license as returned to windows: the
// issuer's record with the holder's id number masked.
type LicenseMetadata struct {
	// LicenseID is the GB/T 36904 e-license identifier.
	LicenseID string `json:"license_id"`
	// TypeCode is the license type code (证照类型代码).
	TypeCode string `json:"type_code"`
	// TypeName is the license type's name (证照类型名称).
	TypeName string `json:"type_name,omitempty"`
	// Name is the license's name (证照名称), for example 营业执照.
	Name string `json:"name"`
	// Number is the license number (证照编号).
	Number string `json:"number"`
	// Holder is the holder, with the id masked.
	Holder LicenseHolder `json:"holder"`
	// IssuerName is the issuing authority (发证机构).
	IssuerName string `json:"issuer_name"`
	// IssuerCode is the issuing authority's unified social credit code.
	IssuerCode string `json:"issuer_code"`
	// IssuedOn is the issue date (颁证日期), YYYY-MM-DD.
	IssuedOn string `json:"issued_on,omitempty"`
	// ValidFrom is the first day of validity (有效期起始), YYYY-MM-DD.
	ValidFrom string `json:"valid_from"`
	// ValidUntil is the last day of validity (有效期截止), YYYY-MM-DD;
	// absent for a license without end (长期).
	ValidUntil string `json:"valid_until,omitempty"`
	// Status is the license's status in the issuer's library.
	Status LicenseStatus `json:"status"`
}

// LicenseHolder is a license holder as shown to windows and auditors: the
// id number is masked (for example 110105********002X).
type LicenseHolder struct {
	// HolderType is the GB/T 36903 id type ("111" or "001").
	HolderType string `json:"holder_type"`
	// IDMasked is the masked id number.
	IDMasked string `json:"id_masked"`
	// Name is the holder's name.
	Name string `json:"name"`
}

// BatchVerifyRequest is the body of POST /v1/licenses/verify/batch: up to
// 100 verifications for one purpose, for example every license a case
// relies on.
type BatchVerifyRequest struct {
	// Purpose is the reason for using the licenses (用证事由), at most 200
	// characters; items without their own purpose use it.
	Purpose string `json:"purpose"`
	// CaseID is the gateway case the verifications serve, if any; items
	// without their own case id use it.
	CaseID string `json:"case_id,omitempty"`
	// Items are the verifications, 1 to 100.
	Items []LicenseVerifyRequest `json:"items"`
}

// BatchVerifyResult is the signed result of a batch verification: one
// entry per item, in item order.
type BatchVerifyResult struct {
	// Results has one entry per request item; always an array.
	Results []BatchItemResult `json:"results"`
}

// BatchItemResult is the result of one batch item: a verification result,
// or the error that kept the item from being verified.
type BatchItemResult struct {
	// Index is the item's zero-based position in the request.
	Index int `json:"index"`
	// Result is the verification result, when the item was verified.
	Result *LicenseVerifyResult `json:"result,omitempty"`
	// Error is why the item was not verified (for example
	// invalid_license_id).
	Error *Error `json:"error,omitempty"`
}

// UsageRecord is a usage record (用证记录): who used which license, at which
// window, for what purpose and case, with what result. The gateway keeps
// one for every verification and passes it to the issuer.
type UsageRecord struct {
	// UsageRecordID is the gateway's id of the record.
	UsageRecordID string `json:"usage_record_id"`
	// Caller is the caller id that asked (the JWT iss).
	Caller string `json:"caller"`
	// WindowID is the window that asked.
	WindowID string `json:"window_id,omitempty"`
	// OperatorID is the clerk who asked.
	OperatorID string `json:"operator_id,omitempty"`
	// Purpose is the reason for using the license (用证事由).
	Purpose string `json:"purpose"`
	// CaseID is the case the verification served.
	CaseID string `json:"case_id,omitempty"`
	// LicenseID is the license verified, when known.
	LicenseID string `json:"license_id,omitempty"`
	// LicenseTypeCode is the license type verified.
	LicenseTypeCode string `json:"license_type_code,omitempty"`
	// HolderIDMasked is the holder's masked id number.
	HolderIDMasked string `json:"holder_id_masked,omitempty"`
	// Outcome is the verification result; absent when the verification
	// was refused (see ErrorCode).
	Outcome LicenseOutcome `json:"outcome,omitempty"`
	// ErrorCode is why the verification was refused before any lookup
	// (for example invalid_license_id, forbidden, no_route); absent when
	// it has an Outcome.
	ErrorCode Code `json:"error_code,omitempty"`
	// SourceRegion is the GB/T 2260 code of the library that answered.
	SourceRegion string `json:"source_region,omitempty"`
	// CheckedAt is when the verification was made.
	CheckedAt time.Time `json:"checked_at"`
	// Cached reports whether the answer came from the gateway's cache.
	Cached bool `json:"cached"`
}

// UsageRecordPage is the body of GET /v1/licenses/usage: usage records,
// newest first.
type UsageRecordPage struct {
	// Records are the matching records; always an array.
	Records []UsageRecord `json:"records"`
	// NextCursor fetches the next page; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// UsageRecordDelivery is what the gateway POSTs to the issuer partner's
// {endpoint}/licenses/usage (or queues in its mailbox, or carries in a
// UsageRecordBatch): a usage record of a license it issued (用证记录回传).
// The gateway signs it (or the batch that carries it).
type UsageRecordDelivery struct {
	// DeliveryID is the gateway's id of this delivery.
	DeliveryID string `json:"delivery_id"`
	// ExchangeID is the gateway's exchange id for the record.
	ExchangeID string `json:"exchange_id"`
	// SentAt is when the gateway made this attempt.
	SentAt time.Time `json:"sent_at"`
	// Record is the usage record.
	Record UsageRecord `json:"record"`
}

// MaxUsageBatch is the most usage records one UsageRecordBatch carries.
const MaxUsageBatch = 100

// UsageRecordBatch is what the gateway POSTs to the issuer partner's
// {endpoint}/licenses/usage/batch when the partner takes usage records in
// batches (license_library.usage_batch above 1): several usage record
// deliveries to that partner in one call, signed once by the gateway over
// the exact bytes of the whole body (Gw-Signature).
//
// Each delivery in it is the very UsageRecordDelivery the single-record
// webhook would carry, with its own delivery_id, exchange_id and sent_at:
// the batch is only the envelope. A delivery the issuer does not
// acknowledge is retried on its own schedule and may come again in a
// later batch, alone or with others, with the same delivery_id; the
// issuer recognises such a repeat by delivery_id, as for the single-record
// webhook, and acknowledges it again without storing it twice.
type UsageRecordBatch struct {
	// BatchID is the gateway's id of this call (a UUID): new for every
	// batch, never reused by a retry. The acknowledgement names it.
	BatchID string `json:"batch_id"`
	// SentAt is when the gateway made this call.
	SentAt time.Time `json:"sent_at"`
	// Deliveries are the usage record deliveries, 1 to MaxUsageBatch,
	// each delivery_id once.
	Deliveries []UsageRecordDelivery `json:"deliveries"`
}

// UsageBatchAck is the issuer's signed answer to a UsageRecordBatch (200,
// Gw-Signature over its exact bytes): which of the batch's deliveries it
// stored. One signature covers every delivery it names; each such
// delivery counts as delivered, with this acknowledgement (its exact bytes
// and signature) as its evidence. A delivery of the batch it does not name
// was not taken (the issuer refused or could not store it): the gateway
// retries it on its own under the partner's retry policy, until it
// becomes a dead letter. Naming a delivery the batch did not carry, or
// one twice, makes the whole acknowledgement invalid: then no delivery of
// the batch counts as delivered and each is retried.
type UsageBatchAck struct {
	// BatchID echoes the batch's id.
	BatchID string `json:"batch_id"`
	// DeliveryIDs are the delivery_ids of the batch the issuer stored now
	// or had stored before (a repeat); always an array, possibly empty.
	DeliveryIDs []string `json:"delivery_ids"`
	// AcknowledgedAt is when the issuer stored them.
	AcknowledgedAt time.Time `json:"acknowledged_at"`
	// BodySM3 is the lowercase hex SM3 digest of the exact batch body the
	// issuer received.
	BodySM3 string `json:"body_sm3"`
	// KeyID is the issuer's key id that signed this acknowledgement.
	KeyID string `json:"key_id"`
}

// LicenseLookupRequest is what the gateway POSTs to an issuer partner's
// {endpoint}/licenses/lookup to fetch a license record from its library
// (证照库). Used only between the gateway and the library; the gateway
// signs it.
type LicenseLookupRequest struct {
	// ExchangeID is the gateway's exchange id for the lookup.
	ExchangeID string `json:"exchange_id"`
	// LicenseID is the GB/T 36904 identifier, when known.
	LicenseID string `json:"license_id,omitempty"`
	// Holder is the holder, when the license is named by holder.
	Holder *Holder `json:"holder,omitempty"`
	// LicenseTypeCode is the license type code.
	LicenseTypeCode string `json:"license_type_code,omitempty"`
	// LicenseNumber is the license number.
	LicenseNumber string `json:"license_number,omitempty"`
	// RequesterRegion is the GB/T 2260 code of the district asking.
	RequesterRegion string `json:"requester_region"`
	// Purpose is the reason for using the license (用证事由).
	Purpose string `json:"purpose"`
	// CaseID is the case the lookup serves, if any.
	CaseID string `json:"case_id,omitempty"`
}

// LicenseLookupResponse is a library's signed answer to a
// LicenseLookupRequest.
type LicenseLookupResponse struct {
	// ExchangeID echoes the lookup's exchange id.
	ExchangeID string `json:"exchange_id"`
	// Found reports whether the library holds the license.
	Found bool `json:"found"`
	// License is the library's record, when found.
	License *LicenseRecord `json:"license,omitempty"`
}

// LicenseRecord is a license as the issuer's library holds it, with the
// holder's full id number. It travels only between the gateway and the
// library; callers see LicenseMetadata.
type LicenseRecord struct {
	// LicenseID is the GB/T 36904 e-license identifier.
	LicenseID string `json:"license_id"`
	// TypeCode is the license type code (证照类型代码).
	TypeCode string `json:"type_code"`
	// TypeName is the license type's name.
	TypeName string `json:"type_name,omitempty"`
	// Name is the license's name (证照名称).
	Name string `json:"name"`
	// Number is the license number (证照编号).
	Number string `json:"number"`
	// Holder is the holder with the full id number.
	Holder Party `json:"holder"`
	// IssuerName is the issuing authority (发证机构).
	IssuerName string `json:"issuer_name"`
	// IssuerCode is the issuing authority's unified social credit code.
	IssuerCode string `json:"issuer_code"`
	// IssuedOn is the issue date, YYYY-MM-DD.
	IssuedOn string `json:"issued_on,omitempty"`
	// ValidFrom is the first day of validity, YYYY-MM-DD.
	ValidFrom string `json:"valid_from"`
	// ValidUntil is the last day of validity, YYYY-MM-DD; absent for 长期.
	ValidUntil string `json:"valid_until,omitempty"`
	// Status is the license's status.
	Status LicenseStatus `json:"status"`
	// StatusReason explains a status other than valid.
	StatusReason string `json:"status_reason,omitempty"`
	// FileSM3 is the lowercase hex SM3 digest of the license file, compared
	// with a presented file's digest.
	FileSM3 string `json:"file_sm3,omitempty"`
	// UpdatedAt is when the library last changed the record.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}
