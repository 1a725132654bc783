package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ZeroHash is the PrevHash of the evidence log's first record.
var ZeroHash = strings.Repeat("0", 64)

// The evidence log's events (EvidenceRecord.Event). The vocabulary is part
// of the contract: auditors' tools select by it.
const (
	// EventCaseReceived: a case submission was accepted and its receipt
	// issued (Kind case; DeliveryID is the delivery to the owner). Detail:
	// state, size, signature (of the body, base64), receipt_sm3,
	// receipt_signature, receipt_key_id, receipt_media_type, payload_sm3
	// (of the delivery's payload), resubmits.
	EventCaseReceived = "case.received"
	// EventStatusApplied: a status update was accepted, applied to the case
	// and its receipt issued (Kind status). Detail as EventCaseReceived,
	// and outcome (the case's outcome, when the update concludes it).
	EventStatusApplied = "status.applied"
	// EventDeliveryAttempt: one attempt to deliver an exchange to a
	// partner, or one offer of it in the partner's mailbox. Detail:
	// attempt, outcome (delivered, offered, retry_wait, dead; interrupted
	// for an attempt cut off by a crash with no outcome recorded, written
	// when another dispatcher takes the delivery over, before its attempt:
	// the partner may have received it twice; ack_refused for a mailbox
	// acknowledgement giving the case number of another case), latency_ms,
	// reason, next_at, and when delivered the acknowledgement: ack_sm3,
	// ack_key_id, ack_signature, partner_case_no, case_state.
	EventDeliveryAttempt = "delivery.attempt"
	// EventLicenseVerified: a license verification (Kind license_verify;
	// ExchangeID is the usage record's id, Partner the issuer's library).
	// Detail: usage_record_id, license_id, license_type_code, outcome,
	// error_code, cached, window_id, requester_region, purpose_sm3,
	// signature (of the request), case_ref (a case id named but not
	// joined: see EvidenceDetail.CaseRef). No holder id.
	EventLicenseVerified = "license.verified"
	// EventUsageRecorded: a usage record was queued for delivery to the
	// issuer's library (Kind usage_record; ExchangeID and DeliveryID are
	// the delivery's). Detail: usage_record_id, payload_sm3,
	// requester_region.
	EventUsageRecorded = "usage.recorded"
	// EventAccessDenied: a request refused before it could act: not
	// authenticated, badly signed, or not allowed; or a case the caller
	// named that exists but is not its business (answered not_found, so
	// the caller learns nothing). Detail: code, method, route, case_ref
	// (the case probed), suppressed_before (the caller's denials not
	// recorded since its last record: at most 50 a second are recorded
	// per authenticated caller, one per code a minute for requests
	// without a valid token). Audit search lists them with
	// event=access.denied.
	EventAccessDenied = "access.denied"
	// EventAdminRedeliver: an operator put dead letters back in the
	// outbox. Detail: deliveries, subject. The record of one delivery's
	// redelivery names its case (CaseID), so the case's trace shows it.
	EventAdminRedeliver = "admin.redeliver"
	// EventGatewayStarted: the gateway started with a configuration.
	// Detail: version, config_sm3 (see config.Config.Source), gateway_id;
	// the record's KeyID is the gateway's signing key.
	EventGatewayStarted = "gateway.started"
	// EventBundleReceived: a 一件事 bundle was accepted and its receipt
	// issued (Kind bundle; CaseID the bundle's). Detail as
	// EventCaseReceived, and parts (each part's case id). Each part has
	// its own case.received record in its own chain.
	EventBundleReceived = "bundle.received"
	// EventClockStarted, EventClockStopped, EventClockResumed: a case's
	// statutory clock started on acceptance, stopped for correction or at
	// the end, resumed on resubmission. Detail: deadline, days_used,
	// days_left, limit.
	EventClockStarted = "clock.started"
	EventClockStopped = "clock.stopped"
	EventClockResumed = "clock.resumed"
	// EventNoticeQueued: the gateway raised a notice and queued it for a
	// partner (Kind notice; DeliveryID the delivery). Detail: notice
	// (its type), payload_sm3, deadline.
	EventNoticeQueued = "notice.queued"
	// EventEvaluationReceived: an evaluation was accepted (Kind
	// evaluation). Detail as EventCaseReceived, and level, score, and
	// deadline (the follow-up's due time, for a negative one).
	EventEvaluationReceived = "evaluation.received"
	// EventReplyReceived: an owner's follow-up reply was accepted (Kind
	// reply). Detail as EventCaseReceived, and late.
	EventReplyReceived = "reply.received"
	// EventPartReleased: a waiting part of a bundle was released to its
	// owner because the parts it waited for concluded approved; EventPartCancelled: it
	// was cancelled because one was denied. Detail: part, reason.
	EventPartReleased  = "part.released"
	EventPartCancelled = "part.cancelled"
	// EventBundleConcluded: every part of a bundle concluded and the
	// gateway queued the bundle's concluding update to its sender (Kind
	// status; DeliveryID the update's delivery). Detail: outcome,
	// payload_sm3.
	EventBundleConcluded = "bundle.concluded"
	// EventCatalogueLoaded: the gateway started with a service catalogue
	// and working-day calendar. Detail: catalogue_sm3, calendar_sm3,
	// items.
	EventCatalogueLoaded = "catalogue.loaded"
	// EventAdminKeyAdded: an operator put a caller's key in force at
	// runtime (POST /v1/admin/keys; Partner is the caller, KeyID and JTI
	// the operator's token, BodySM3 the request's). Detail: subject,
	// target_key_id, fingerprint (SM3 of the key's SPKI DER), key_kind,
	// not_after (of a certificate), signature (of the request).
	EventAdminKeyAdded = "admin.key_added"
	// EventAdminKeyRevoked: an operator took a caller's key out of force
	// (DELETE /v1/admin/keys/{caller}/{key_id}; Partner is the caller).
	// Detail as EventAdminKeyAdded, without signature.
	EventAdminKeyRevoked = "admin.key_revoked"
	// EventAdminReload: the configuration file was read again and its
	// partners and keys put in force (POST /v1/admin/reload, or SIGHUP:
	// Actor "signal"). Detail: config_sm3 (as gateway.started), subject,
	// partner_count, partners_added, partners_removed, partners_updated,
	// keys_added, keys_removed.
	EventAdminReload = "admin.reload"
)

// EvidenceDetail is an EvidenceRecord's Detail: the facts of its event,
// each event setting the members that concern it (see the events above).
// Signatures are standard base64 of DER; digests lowercase hex SM3.
type EvidenceDetail struct {
	// State is the case state a submission or status update left.
	State CaseState `json:"state,omitempty"`
	// Size is the length of the exchanged body in bytes.
	Size int `json:"size,omitempty"`
	// Signature is the signature of the exchanged body (or request).
	Signature string `json:"signature,omitempty"`
	// ReceiptSM3, ReceiptSignature, ReceiptKeyID and ReceiptMediaType
	// describe the gateway's receipt of an exchange.
	ReceiptSM3       string `json:"receipt_sm3,omitempty"`
	ReceiptSignature string `json:"receipt_signature,omitempty"`
	ReceiptKeyID     string `json:"receipt_key_id,omitempty"`
	ReceiptMediaType string `json:"receipt_media_type,omitempty"`
	// PayloadSM3 is the digest of the payload of the exchange's delivery.
	PayloadSM3 string `json:"payload_sm3,omitempty"`
	// Resubmits is the case a resubmission after correction reopens.
	Resubmits string `json:"resubmits,omitempty"`
	// Attempt is the delivery attempt's number, from 1.
	Attempt int `json:"attempt,omitempty"`
	// Outcome is the step's result: of a delivery attempt (delivered,
	// offered, retry_wait, dead, interrupted, ack_refused), of a status update (the case's
	// outcome), of a license verification (its LicenseOutcome).
	Outcome string `json:"outcome,omitempty"`
	// Reason says why an attempt failed.
	Reason string `json:"reason,omitempty"`
	// CaseState is the state an acknowledgement moved the case to.
	CaseState CaseState `json:"case_state,omitempty"`
	// LatencyMS is how long the attempt took.
	LatencyMS int64 `json:"latency_ms,omitempty"`
	// NextAt is when a failed delivery is tried again.
	NextAt string `json:"next_at,omitempty"`
	// AckKeyID, AckSM3, AckSignature, AckAcknowledgedAt and PartnerCaseNo
	// describe a partner's acknowledgement.
	AckKeyID          string `json:"ack_key_id,omitempty"`
	AckSM3            string `json:"ack_sm3,omitempty"`
	AckSignature      string `json:"ack_signature,omitempty"`
	AckAcknowledgedAt string `json:"ack_acknowledged_at,omitempty"`
	PartnerCaseNo     string `json:"partner_case_no,omitempty"`
	// BatchID and BatchSM3 name the batch an attempt was made in, when
	// several usage records went to their issuer in one signed call (a
	// UsageRecordBatch): its batch_id and the SM3 of the exact batch body
	// the gateway signed. Every delivery of the batch has its own record
	// carrying them; when the batch was acknowledged, AckSM3 and
	// AckSignature are those of the one UsageBatchAck.
	BatchID  string `json:"batch_id,omitempty"`
	BatchSM3 string `json:"batch_sm3,omitempty"`
	// UsageRecordID, LicenseID, LicenseTypeCode, ErrorCode, Cached,
	// WindowID, PurposeSM3 and RequesterRegion describe a license
	// verification (no holder id: the usage record keeps it).
	UsageRecordID   string `json:"usage_record_id,omitempty"`
	LicenseID       string `json:"license_id,omitempty"`
	LicenseTypeCode string `json:"license_type_code,omitempty"`
	ErrorCode       Code   `json:"error_code,omitempty"`
	Cached          *bool  `json:"cached,omitempty"`
	WindowID        string `json:"window_id,omitempty"`
	PurposeSM3      string `json:"purpose_sm3,omitempty"`
	RequesterRegion string `json:"requester_region,omitempty"`
	// CaseRef is the case id a verification named when the record is not
	// in that case's chain: the verification was refused, or the caller
	// may not read that case (or it does not exist).
	CaseRef string `json:"case_ref,omitempty"`
	// Code, Method, Route and SuppressedBefore describe a denied request
	// (SuppressedBefore: denials not recorded since the last record).
	Code             Code   `json:"code,omitempty"`
	Method           string `json:"method,omitempty"`
	Route            string `json:"route,omitempty"`
	SuppressedBefore int    `json:"suppressed_before,omitempty"`
	// Deliveries and Subject describe an operator's redelivery.
	Deliveries []string `json:"deliveries,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	// Version, ConfigSM3 and GatewayID describe a start.
	Version   string `json:"version,omitempty"`
	ConfigSM3 string `json:"config_sm3,omitempty"`
	GatewayID string `json:"gateway_id,omitempty"`
	// Parts, Part, Notice, Deadline, DaysUsed, DaysLeft, Limit, Level,
	// Score, Late, CatalogueSM3, CalendarSM3 and Items describe the
	// administration of a case: bundles, the statutory clock, notices,
	// evaluations and the catalogue in force.
	Parts        []string `json:"parts,omitempty"`
	Part         string   `json:"part,omitempty"`
	Notice       string   `json:"notice,omitempty"`
	Deadline     string   `json:"deadline,omitempty"`
	DaysUsed     *int     `json:"days_used,omitempty"`
	DaysLeft     *int     `json:"days_left,omitempty"`
	Limit        string   `json:"limit,omitempty"`
	Level        string   `json:"level,omitempty"`
	Score        int      `json:"score,omitempty"`
	Late         bool     `json:"late,omitempty"`
	CatalogueSM3 string   `json:"catalogue_sm3,omitempty"`
	CalendarSM3  string   `json:"calendar_sm3,omitempty"`
	Items        int      `json:"items,omitempty"`
	// TargetKeyID, Fingerprint, KeyKind and NotAfter describe the caller
	// key an operator added or revoked (the record's Partner is its
	// caller, its KeyID the operator's).
	TargetKeyID string  `json:"target_key_id,omitempty"`
	Fingerprint string  `json:"fingerprint,omitempty"`
	KeyKind     KeyKind `json:"key_kind,omitempty"`
	NotAfter    string  `json:"not_after,omitempty"`
	// PartnerCount, PartnersAdded, PartnersRemoved, PartnersUpdated,
	// KeysAdded and KeysRemoved describe a reload, with ConfigSM3.
	PartnerCount    int      `json:"partner_count,omitempty"`
	PartnersAdded   []string `json:"partners_added,omitempty"`
	PartnersRemoved []string `json:"partners_removed,omitempty"`
	PartnersUpdated []string `json:"partners_updated,omitempty"`
	KeysAdded       []KeyRef `json:"keys_added,omitempty"`
	KeysRemoved     []KeyRef `json:"keys_removed,omitempty"`
}

// JSON returns d as a record's Detail: nil when every member is empty.
func (d *EvidenceDetail) JSON() json.RawMessage {
	b, err := json.Marshal(d)
	if err != nil || string(b) == "{}" { // only strings, numbers and booleans: cannot fail
		return nil
	}
	return b
}

// ChainHeader returns the bytes a record's chain hash is the SM3 of: a
// small text anyone can rebuild,
//
//	tongban-evidence/v1
//	seq=<Seq>
//	prev_hash=<PrevHash>
//	content_sm3=<SM3 of the record's canonical form>
//
// each line ending in a newline.
func ChainHeader(seq int64, prevHash, contentSM3 string) []byte {
	b := make([]byte, 0, 20+24+11+64+13+64+4)
	b = append(b, "tongban-evidence/v1\nseq="...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, "\nprev_hash="...)
	b = append(b, prevHash...)
	b = append(b, "\ncontent_sm3="...)
	b = append(b, contentSM3...)
	return append(b, '\n')
}

// Canonical returns the record's content as hashed: the record as
// encoding/json writes it (fields in declared order, compact, times in
// RFC 3339 with nanoseconds) with Hash empty, so that the canonical form
// ends in `"hash":""}`; its SM3 goes into ChainHeader. EvidenceLine turns
// it into the record's JSON with its hash.
func (r EvidenceRecord) Canonical() ([]byte, error) {
	r.Hash = ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("evidence record %d: %w", r.Seq, err)
	}
	return b, nil
}

// emptyHash is how a canonical form ends.
var emptyHash = []byte(`"hash":""}`)

// EvidenceLine returns the record's JSON with its hash: canonical with the
// 64 hex digits of hash put between the final quotes. It is how records
// are served and exported (one per line in an evidence bundle).
func EvidenceLine(canonical []byte, hash string) ([]byte, error) {
	if !bytes.HasSuffix(canonical, emptyHash) || ValidateSM3Hex("hash", hash) != nil {
		return nil, errors.New("not a canonical evidence record and a hash")
	}
	out := make([]byte, 0, len(canonical)+64)
	out = append(out, canonical[:len(canonical)-2]...)
	out = append(out, hash...)
	return append(out, '"', '}'), nil
}

// chainHead and chainTail frame a canonical form: it begins with the seq
// and ends with prev_hash and the empty hash.
var (
	chainHead = []byte(`{"seq":`)
	chainTail = []byte(`","hash":""}`)
	prevKey   = []byte(`,"prev_hash":"`)
)

// ChainFields reads the seq and prev_hash of a record's canonical form
// (Canonical) without decoding the rest: the form begins {"seq":N, and
// ends ,"prev_hash":"<64 hex digits>","hash":""}. ok is false for bytes
// of another shape. Chain verification reads nothing else.
func ChainFields(canonical []byte) (seq int64, prevHash string, ok bool) {
	b := canonical
	if !bytes.HasPrefix(b, chainHead) || !bytes.HasSuffix(b, chainTail) {
		return 0, "", false
	}
	end := len(b) - len(chainTail)
	start := end - 64
	if start-len(prevKey) < len(chainHead) || !bytes.Equal(b[start-len(prevKey):start], prevKey) {
		return 0, "", false
	}
	prevHash = string(b[start:end])
	if ValidateSM3Hex("prev_hash", prevHash) != nil {
		return 0, "", false
	}
	i := len(chainHead)
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
	}
	if i == len(chainHead) || i-len(chainHead) > 18 || i >= len(b) || b[i] != ',' || (b[len(chainHead)] == '0' && i-len(chainHead) > 1) {
		return 0, "", false
	}
	seq, err := strconv.ParseInt(string(b[len(chainHead):i]), 10, 64)
	if err != nil {
		return 0, "", false
	}
	return seq, prevHash, true
}

// SplitEvidenceLine undoes EvidenceLine: it returns the canonical bytes a
// served or exported record was hashed over, and the hash it claims.
// Anyone can check a record with any SM3 tool: blank the 64 hex digits of
// the final "hash" member and hash what is left.
func SplitEvidenceLine(line []byte) (canonical []byte, hash string, err error) {
	line = bytes.TrimRight(line, "\r\n")
	const tail = len(`"}`) + 64
	if len(line) < tail+len(`"hash":"`) || !bytes.HasSuffix(line, []byte(`"}`)) ||
		!bytes.HasSuffix(line[:len(line)-tail], []byte(`"hash":"`)) {
		return nil, "", errors.New(`not an evidence record (it must end with "hash":"<64 hex digits>"})`)
	}
	hash = string(line[len(line)-tail : len(line)-2])
	if ValidateSM3Hex("hash", hash) != nil {
		return nil, "", errors.New("the record's hash is not 64 lowercase hex digits")
	}
	canonical = make([]byte, 0, len(line)-64)
	canonical = append(append(canonical, line[:len(line)-tail]...), `"}`...)
	return canonical, hash, nil
}

// Canonical returns the bytes a checkpoint's Signature is over: a small
// text anyone can rebuild from the checkpoint's fields,
//
//	tongban-evidence-checkpoint/v1
//	seq=<Seq>
//	head_hash=<HeadHash>
//	at=<At, RFC 3339 with nanoseconds, UTC>
//	key_id=<KeyID>
//
// each line ending in a newline.
func (c Checkpoint) Canonical() []byte {
	var b bytes.Buffer
	b.WriteString("tongban-evidence-checkpoint/v1\n")
	b.WriteString("seq=" + strconv.FormatInt(c.Seq, 10) + "\n")
	b.WriteString("head_hash=" + c.HeadHash + "\n")
	b.WriteString("at=" + c.At.UTC().Format(time.RFC3339Nano) + "\n")
	b.WriteString("key_id=" + c.KeyID + "\n")
	return b.Bytes()
}
