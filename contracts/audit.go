package contracts

import (
	"encoding/json"
	"time"
)

// ExchangeKind says what an exchange is, for audit search.
type ExchangeKind string

// The exchange kinds.
const (
	// ExchangeKindCase is a case submission (POST /v1/cases).
	ExchangeKindCase ExchangeKind = "case"
	// ExchangeKindStatus is a status update (POST /v1/cases/{case_id}/status).
	ExchangeKindStatus ExchangeKind = "status"
	// ExchangeKindLicenseVerify is an e-license verification, including
	// the lookup at the issuer's library it caused.
	ExchangeKindLicenseVerify ExchangeKind = "license_verify"
	// ExchangeKindUsageRecord is a usage record passed to the issuer.
	ExchangeKindUsageRecord ExchangeKind = "usage_record"
	// ExchangeKindBundle is a 一件事 bundle (POST /v1/bundles).
	ExchangeKindBundle ExchangeKind = "bundle"
	// ExchangeKindEvaluation is an evaluation (POST /v1/cases/{case_id}/evaluation).
	ExchangeKindEvaluation ExchangeKind = "evaluation"
	// ExchangeKindReply is a follow-up reply (POST /v1/cases/{case_id}/evaluation/reply).
	ExchangeKindReply ExchangeKind = "reply"
	// ExchangeKindNotice is a notice the gateway raised (deadline
	// warnings and overdue notices, overdue follow-ups, cancelled parts).
	ExchangeKindNotice ExchangeKind = "notice"
)

// Valid reports whether k is an exchange kind.
func (k ExchangeKind) Valid() bool {
	switch k {
	case ExchangeKindCase, ExchangeKindStatus, ExchangeKindLicenseVerify, ExchangeKindUsageRecord,
		ExchangeKindBundle, ExchangeKindEvaluation, ExchangeKindReply, ExchangeKindNotice:
		return true
	}
	return false
}

// EvidenceRecord is one entry of the evidence log (存证记录): an append-only,
// hash-chained record of every step of every exchange. Hash links the
// record to PrevHash, so changing or removing any record breaks the chain
// from there on; signed checkpoints fix the head.
type EvidenceRecord struct {
	// Seq is the record's position in the log, from 1, without gaps.
	Seq int64 `json:"seq"`
	// At is when the gateway wrote the record.
	At time.Time `json:"at"`
	// Actor is who caused the step: a caller id, "gateway", or an
	// operator's id.
	Actor string `json:"actor"`
	// Event names the step: case.received, status.applied,
	// delivery.attempt, license.verified, usage.recorded, access.denied,
	// admin.redeliver, gateway.started (see the Event constants).
	Event string `json:"event"`
	// ExchangeID is the exchange the step belongs to.
	ExchangeID string `json:"exchange_id,omitempty"`
	// CaseID is the case the step belongs to.
	CaseID string `json:"case_id,omitempty"`
	// DeliveryID is the delivery the step belongs to.
	DeliveryID string `json:"delivery_id,omitempty"`
	// Partner is the partner involved, if any.
	Partner string `json:"partner,omitempty"`
	// Region is the GB/T 2260 code the step concerns, if any.
	Region string `json:"region,omitempty"`
	// Kind is the kind of exchange.
	Kind ExchangeKind `json:"kind,omitempty"`
	// TraceID is the W3C trace id (32 lowercase hex) of the request.
	TraceID string `json:"trace_id,omitempty"`
	// KeyID is the key that signed the body or token, if any.
	KeyID string `json:"key_id,omitempty"`
	// JTI is the bearer token's jti claim, when a caller acted.
	JTI string `json:"jti,omitempty"`
	// BodySM3 is the lowercase hex SM3 digest of the exact body exchanged.
	BodySM3 string `json:"body_sm3,omitempty"`
	// Detail holds event-specific facts (a JSON object).
	Detail json.RawMessage `json:"detail,omitempty"`
	// CasePrevHash is the Hash of the previous record of the same case,
	// absent for a case's first record and for records of no case: a
	// case's records form a chain of their own inside the log, so an
	// evidence bundle proves them without the records between them.
	CasePrevHash string `json:"case_prev_hash,omitempty"`
	// PrevHash is the previous record's Hash (64 zeros for the first).
	PrevHash string `json:"prev_hash"`
	// Hash is the record's chain hash: the lowercase hex SM3 of
	// ChainHeader(Seq, PrevHash, SM3 of the canonical form), so each record
	// commits to its content and to the whole log before it, and a record
	// can be linked without its content (ChainLink).
	Hash string `json:"hash"`
}

// ChainLink is one record of an evidence bundle's chain.jsonl: a record
// of the log as its chain sees it, without its content, so that a bundle
// links a case's records to a checkpoint without showing the records of
// other cases between them.
type ChainLink struct {
	// Seq is the record's sequence number.
	Seq int64 `json:"seq"`
	// PrevHash is the Hash of record Seq−1.
	PrevHash string `json:"prev_hash"`
	// ContentSM3 is the lowercase hex SM3 of the record's canonical form.
	ContentSM3 string `json:"content_sm3"`
	// Hash is the record's chain hash: the SM3 of ChainHeader(Seq,
	// PrevHash, ContentSM3).
	Hash string `json:"hash"`
}

// ExchangeSummary is one exchange found by an audit search, or with the
// search's event=access.denied one refused request (then ExchangeID and
// Kind are absent, Sender is the caller refused, Denial says how).
type ExchangeSummary struct {
	// ExchangeID is the exchange's id; absent for a refused request.
	ExchangeID string `json:"exchange_id,omitempty"`
	// Kind is what the exchange is; absent for a refused request.
	Kind ExchangeKind `json:"kind,omitempty"`
	// Event is the evidence record found: case.received, status.applied,
	// license.verified or usage.recorded (the record that started the
	// exchange), or access.denied.
	Event string `json:"event"`
	// Denial describes a refused request (event access.denied).
	Denial *DeniedRequest `json:"denial,omitempty"`
	// At is when the gateway received or created the exchange.
	At time.Time `json:"at"`
	// Sender is the caller id that sent the exchange ("gateway" for
	// exchanges the gateway originates).
	Sender string `json:"sender"`
	// Partner is the partner the exchange is delivered to or looked up at.
	Partner string `json:"partner,omitempty"`
	// FromRegion is the GB/T 2260 code of the sending side.
	FromRegion string `json:"from_region,omitempty"`
	// ToRegion is the GB/T 2260 code of the receiving side.
	ToRegion string `json:"to_region,omitempty"`
	// CaseID is the case the exchange belongs to.
	CaseID string `json:"case_id,omitempty"`
	// DeliveryID is the exchange's delivery, when it is delivered.
	DeliveryID string `json:"delivery_id,omitempty"`
	// State is the transport state of the exchange's delivery.
	State TransportState `json:"state,omitempty"`
	// Attempts is how many delivery attempts were made.
	Attempts int `json:"attempts,omitempty"`
	// CaseState is the case state a case or status exchange carried.
	CaseState CaseState `json:"case_state,omitempty"`
	// LicenseOutcome is the result of a license_verify exchange.
	LicenseOutcome LicenseOutcome `json:"license_outcome,omitempty"`
	// BodySM3 is the lowercase hex SM3 digest of the exchange's body.
	BodySM3 string `json:"body_sm3,omitempty"`
	// TraceID is the W3C trace id of the request.
	TraceID string `json:"trace_id,omitempty"`
	// UpdatedAt is when the exchange last changed.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// DeniedRequest is a refused request as an audit search shows it (from
// an access.denied record; see EventAccessDenied).
type DeniedRequest struct {
	// Code is the error code the request was answered with.
	Code Code `json:"code"`
	// Method is the request's HTTP method.
	Method string `json:"method,omitempty"`
	// Route is the route pattern (never the raw path).
	Route string `json:"route,omitempty"`
	// CaseRef is the case the caller named that is not its business
	// (answered not_found).
	CaseRef string `json:"case_ref,omitempty"`
	// SuppressedBefore counts the same caller's denials (for anonymous
	// requests: of the same code) not recorded since its last record.
	SuppressedBefore int `json:"suppressed_before,omitempty"`
}

// ExchangePage is the body of GET /v1/audit/exchanges: exchanges, newest
// first.
type ExchangePage struct {
	// Items are the matching exchanges; always an array.
	Items []ExchangeSummary `json:"items"`
	// NextCursor fetches the next page; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// CaseTrace is the body of GET /v1/audit/cases/{case_id}/trace: every
// evidence-log step of a case, end to end, oldest first.
type CaseTrace struct {
	// CaseID is the case traced.
	CaseID string `json:"case_id"`
	// State is the case's current lifecycle state.
	State CaseState `json:"state,omitempty"`
	// Timeline lists the steps; always an array.
	Timeline []TraceEntry `json:"timeline"`
}

// TraceEntry is one step of a CaseTrace, taken from an evidence record.
type TraceEntry struct {
	// Seq is the evidence record's sequence number.
	Seq int64 `json:"seq"`
	// At is when the step happened.
	At time.Time `json:"at"`
	// Event names the step (see EvidenceRecord.Event).
	Event string `json:"event"`
	// Actor is who caused the step.
	Actor string `json:"actor"`
	// ExchangeID is the exchange the step belongs to.
	ExchangeID string `json:"exchange_id,omitempty"`
	// DeliveryID is the delivery the step belongs to.
	DeliveryID string `json:"delivery_id,omitempty"`
	// Attempt is the delivery attempt number, from 1.
	Attempt int `json:"attempt,omitempty"`
	// Outcome is the step's result in a word: for a submission or status
	// update the state it left the case in (received, accepted, ...);
	// for a delivery attempt delivered, offered, retry_wait or dead; for
	// a license verification its outcome.
	Outcome string `json:"outcome,omitempty"`
	// LatencyMS is how long the step took, in milliseconds.
	LatencyMS int64 `json:"latency_ms,omitempty"`
	// KeyID is the key that signed the step's body.
	KeyID string `json:"key_id,omitempty"`
	// SignatureValid reports whether the step's signed body (a submission
	// or status update as received, or a partner's acknowledgement) still
	// has the SM3 the evidence log recorded and its signature verifies
	// now with the signer's registered key; absent when the step has no
	// signed body, or when the body was deleted under the retention
	// policy (its data key shredded; the record's body_sm3 remains).
	SignatureValid *bool `json:"signature_valid,omitempty"`
	// TraceID is the W3C trace id.
	TraceID string `json:"trace_id,omitempty"`
	// Detail holds event-specific facts (a JSON object).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// ChainVerifyResult is the body of GET /v1/audit/verify: whether the
// evidence log between two sequence numbers is intact.
type ChainVerifyResult struct {
	// From is the first sequence number checked.
	From int64 `json:"from"`
	// To is the last sequence number checked.
	To int64 `json:"to"`
	// Checked is how many records were checked.
	Checked int64 `json:"checked"`
	// OK reports whether every record and checkpoint verified.
	OK bool `json:"ok"`
	// FirstBadSeq is the first record that failed; null when OK.
	FirstBadSeq *int64 `json:"first_bad_seq"`
	// Reason says why FirstBadSeq failed, for example "hash mismatch".
	Reason string `json:"reason,omitempty"`
	// HeadSeq is the log's last sequence number.
	HeadSeq int64 `json:"head_seq"`
	// HeadHash is the log's last chain hash.
	HeadHash string `json:"head_hash"`
	// CheckpointsVerified is how many signed checkpoints in the range
	// verified.
	CheckpointsVerified int `json:"checkpoints_verified"`
}

// Checkpoint is a gateway-signed statement of the evidence log's head at a
// moment: anyone holding the gateway's public key can prove later that
// records up to Seq existed then with this hash.
type Checkpoint struct {
	// Seq is the last record covered.
	Seq int64 `json:"seq"`
	// HeadHash is the chain hash of record Seq.
	HeadHash string `json:"head_hash"`
	// At is when the checkpoint was made.
	At time.Time `json:"at"`
	// KeyID is the gateway key that signed it.
	KeyID string `json:"key_id"`
	// Signature is the DER SM2 signature (base64 in JSON) over the
	// checkpoint's canonical form (see package signing).
	Signature []byte `json:"signature"`
}

// ExportManifest is manifest.json inside an evidence bundle (GET
// /v1/audit/cases/{case_id}/export): what the bundle holds, with digests.
// manifest.sig beside it is the gateway's DER SM2 signature over the
// manifest's exact bytes.
type ExportManifest struct {
	// CaseID is the case exported.
	CaseID string `json:"case_id"`
	// GatewayID is the id of the gateway that made the bundle.
	GatewayID string `json:"gateway_id"`
	// GeneratedAt is when the bundle was made.
	GeneratedAt time.Time `json:"generated_at"`
	// KeyID is the gateway key that signed manifest.sig.
	KeyID string `json:"key_id"`
	// GatewayKeys are the ids of the gateway's keys in keys/: KeyID and
	// the earlier keys that signed the bundle's checkpoint or receipts.
	GatewayKeys []string `json:"gateway_keys"`
	// FromSeq is the first evidence record in the bundle.
	FromSeq int64 `json:"from_seq"`
	// ToSeq is the last evidence record in the bundle.
	ToSeq int64 `json:"to_seq"`
	// HeadHash is the chain hash of record ToSeq.
	HeadHash string `json:"head_hash"`
	// Files lists every other file in the bundle.
	Files []ExportFile `json:"files"`
}

// ExportFile is one file of an evidence bundle.
type ExportFile struct {
	// Name is the file's path inside the zip.
	Name string `json:"name"`
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// SM3 is the lowercase hex SM3 digest of the file.
	SM3 string `json:"sm3"`
}
