package gateway

import (
	"time"

	"github.com/tongban/tongban/contracts"
)

// Case is the gateway's durable record of one remote case.
type Case struct {
	ID          string
	ExchangeID  string // exchange_id of the submission that created the case
	Sender      string // partner id of the receiving district A
	Owner       string // partner id of the owning district B
	FromRegion  string
	ToRegion    string
	State       contracts.CaseState
	Outcome     contracts.Outcome
	OwnerCaseNo string // 办件编号 from B's acknowledgement
	LocalCaseNo string // A's 收件编号
	ServiceItem contracts.ServiceItem
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Version increases with every change; UpdateCase uses it to refuse
	// a change based on a stale read.
	Version int64
	// BundleID is the 一件事 bundle the case belongs to: the case's own ID
	// for a bundle, the bundle's for one of its parts, "" for a case on
	// its own. Stores index it (CaseStore.BundleParts).
	BundleID string
	// Deadline is when the case's running statutory clock runs out, zero
	// while none runs. Stores index it (ExchangeQuery.DueBefore).
	Deadline time.Time
	// AlarmAt is when the case next needs the gateway's attention with no
	// request to prompt it (a deadline warning, a deadline, a follow-up
	// falling due), zero for never. Stores index it (CaseStore.AlarmsDue).
	AlarmAt time.Time
	// Overdue is set once a deadline or a follow-up passed unanswered, and
	// stays set. Stores index it (ExchangeQuery.Overdue).
	Overdue bool
	// Admin is the case's administration: its clock, evaluation,
	// follow-up, bundle or part. Stores keep it as JSON and never
	// interpret it; nil when there is none. It holds no personal data.
	Admin *CaseAdmin
}

// ExchangeKind says what an inbound exchange carried.
type ExchangeKind string

// Exchange kinds.
const (
	ExchangeCase       ExchangeKind = "case"
	ExchangeStatus     ExchangeKind = "status"
	ExchangeBundle     ExchangeKind = "bundle"
	ExchangeEvaluation ExchangeKind = "evaluation"
	ExchangeReply      ExchangeKind = "reply"
)

// Exchange is one inbound signed body, kept verbatim with the signed receipt
// the gateway answered, so that a replay gets the identical answer.
type Exchange struct {
	Sender     string // partner id that sent it
	ExchangeID string
	Kind       ExchangeKind
	CaseID     string
	Body       []byte // exact bytes received
	BodySM3    string // lowercase hex SM3 of Body
	Signature  []byte // DER signature as received (Gw-Signature)
	KeyID      string // Gw-Key-Id as received
	TraceID    string
	ReceivedAt time.Time
	Receipt    []byte // exact bytes of the receipt answered
	ReceiptSig []byte // the gateway's DER signature of Receipt
	// ReceiptType is the receipt's media type when it is not
	// application/json (a receipt in a partner's own format).
	ReceiptType string
	// BodyKey is the id of the data key Body is sealed under at rest, ""
	// when Body is stored as received. Stores keep it beside Body and
	// never interpret either (see Sealer).
	BodyKey string
	// Shredded is set on a read when Body is gone for good: it was sealed
	// under a data key the retention policy has since destroyed. Body is
	// then nil; BodySM3, the receipt and the evidence records remain.
	Shredded bool
}

// Delivery is one message in the outbox addressed to one partner.
type Delivery struct {
	ID         string // the gateway's delivery id: unique across all senders, kept by retries and redeliveries; the partner's dedup key
	CaseID     string
	Seq        int64 // assigned by the store; increases in insertion order
	Kind       contracts.DeliveryKind
	Partner    string // destination partner id
	ExchangeID string // the exchange it carries (unique per sender only; partners dedup on ID)
	Payload    []byte // JSON of contracts.CaseDelivery, StatusDelivery or UsageRecordDelivery
	// Pull is true when Partner pulls its deliveries from its mailbox
	// (Directory.Pulls): only a mailbox poll hands the delivery out, never
	// a dispatcher. The core sets it when it makes the delivery.
	Pull       bool
	State      contracts.TransportState
	Attempts   int
	NextAt     time.Time // when the next attempt is due (pending, retry_wait)
	LeaseUntil time.Time // in_flight: when another dispatcher may take it over
	LastError  string
	CreatedAt  time.Time
	// Since is when the current series of attempts began: CreatedAt, or
	// the last redelivery. The retry policy's MaxAge counts from it. The
	// store sets it; callers never write it.
	Since       time.Time
	DeliveredAt time.Time
	// TraceParent is the W3C trace context of the request that created
	// the delivery: its attempts continue that trace. "" when none.
	TraceParent string
	// TakenOver is set by OutboxStore.ClaimDue on a delivery it claimed
	// from in_flight under an expired lease: the attempt of the dispatcher
	// that held it was cut off (a crash) with no outcome recorded, and the
	// partner may have received it. Other reads leave it false.
	TakenOver bool
	// Case is set by OutboxStore.ClaimDue and NextClaim on a delivery of a
	// case: the case as it stood when the delivery was claimed, so that
	// the dispatcher can record the acknowledgement without reading it
	// again (an UpdateCase based on it fails with ErrStale if the case
	// has changed since). Other reads leave it nil.
	Case    *Case
	Ack     *contracts.Ack
	AckBody []byte // exact bytes of the partner's acknowledgement
	AckSig  []byte // the partner's DER signature of AckBody
	// PayloadKey is the id of the data key Payload is sealed under at
	// rest, "" when Payload is stored as made. Stores keep it beside
	// Payload and never interpret either (see Sealer).
	PayloadKey string
	// Shredded is set on a read when Payload is gone for good: it was
	// sealed under a data key the retention policy has since destroyed.
	// Payload is then nil; its SM3 in the evidence log remains.
	Shredded bool
}

// Status is one entry of a case's lifecycle history.
type Status struct {
	CaseID     string
	State      contracts.CaseState
	Outcome    contracts.Outcome
	At         time.Time
	ExchangeID string
	ReportedBy string // partner id, or "gateway" for transitions it makes itself
	Reason     string
	Note       string
}

// Change is one atomic write to the store: everything in it is durable
// together, or none of it is.
type Change struct {
	// Case is the case row to write (required). For CreateCase it is new and
	// stored with Version 1. For UpdateCase it is written only if the stored
	// Version equals Case.Version; the stored Version then becomes
	// Case.Version+1 (and Case.Version is updated to match).
	Case *Case
	// Exchange is an inbound exchange to store, optional. If one with the
	// same (Sender, ExchangeID) exists the whole change fails with
	// ErrDuplicateExchange.
	Exchange *Exchange
	// Status is a history entry to append, optional.
	Status *Status
	// Enqueue are new outbox deliveries (state pending); the store assigns
	// each its Seq.
	Enqueue []*Delivery
	// Delivered, optional, marks this delivery delivered: State, Attempts,
	// DeliveredAt, Ack, AckBody and AckSig are written from it. It is fenced
	// like SaveAttempt: the stored delivery must still be in_flight under the
	// lease the caller claimed (same LeaseUntil), else the whole change fails
	// with ErrStale.
	Delivered *Delivery
	// Evidence are evidence records to append with the change, in order
	// (see EvidenceLog.AppendEvidence).
	Evidence []contracts.EvidenceRecord
	// OutOfBand says Delivered was acknowledged outside a dispatcher's
	// attempt (a partner's mailbox acknowledgement): it is written whatever
	// the lease, while the delivery is pending, in_flight, retry_wait or
	// dead; one already delivered or cancelled fails the change with
	// ErrStale.
	OutOfBand bool
	// FreeOwnerCaseNo, when set, is an owner's case number the change
	// gives Case: the change is refused with an *OwnerCaseNoTaken, and
	// nothing of it written, when another case of Case.Owner holds it
	// already (the check of CaseByOwnerCaseNo, made inside the write, so
	// that an acknowledgement needs no read of its own for it).
	FreeOwnerCaseNo string
	// Claim, optional, claims the next due deliveries in the same write,
	// after everything above is applied (see NextClaim). It is meant for
	// the write that marks Delivered, but any change may carry it.
	Claim *NextClaim
	// Cancel, optional, are deliveries of Case to mark cancelled, each
	// only while pending, retry_wait or dead (a held delivery, say); one
	// in another state, or of another case, is left as it is.
	Cancel []string
	// Also are changes to further cases made in the same write, applied
	// after this one in order, all or nothing with it (a bundle and its
	// parts). Each is a Change of its own with Case, Status, Enqueue,
	// Cancel and Evidence (Exchange, Delivered, FreeOwnerCaseNo, Claim and
	// Also are not allowed there): a new case when Create is set, else
	// written only at its Version, as UpdateCase does.
	Also []Change
	// Create marks a change in Also that creates its case.
	Create bool
}

// HeldUntil is the NextAt of a held delivery: stored with its case but
// never due, until the core releases it by cancelling it and enqueueing
// its successor (a part of a bundle waiting for another part).
var HeldUntil = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// NextClaim asks a write that records an acknowledgement (UpdateCase with
// Change.Claim, MarkDelivered) to claim, in that same write and after the
// acknowledgement is applied, up to Limit due deliveries exactly as
// OutboxStore.ClaimDue(Now, Lease, Limit) would: the same due rule, the
// same per-case order (the delivery just marked delivered no longer holds
// back the next one of its case), never a pulling partner's, LeaseUntil =
// Now+Lease, TakenOver set on those taken from an expired lease. A busy
// dispatcher thus claims its next deliveries without a write of its own.
//
// The store sets Claimed when the write succeeds: the deliveries claimed,
// in Seq order, none when nothing was due. When the write fails nothing
// is claimed and Claimed is nil. A Limit of 0 or less claims nothing.
type NextClaim struct {
	Now   time.Time
	Lease time.Duration
	Limit int
	// Claimed is set by the store (see above).
	Claimed []*Delivery
}

// EvidenceRow is one stored evidence record: its Seq, its canonical form
// exactly as hashed (contracts.EvidenceRecord.Canonical) and the Hash
// stored with it. Verification reads nothing else.
type EvidenceRow struct {
	Seq    int64
	Hash   string
	Record []byte
}

// MailboxClaim asks for the next messages of one pulling partner's
// mailbox (see MailboxStore.ClaimMailbox).
type MailboxClaim struct {
	Partner    string
	Now        time.Time
	Visibility time.Duration // how long claimed messages stay hidden
	// After is the seq of the last message the partner saw (its cursor);
	// messages after it come first, then earlier ones that are visible
	// again. Zero: oldest first.
	After int64
	Limit int
	// Reoffer is written as LastError of a message offered again because
	// it was not acknowledged in time.
	Reoffer string
	// Offer, when set, is called for each claimed message, in order,
	// inside the claiming write; the evidence records it returns are
	// appended in that same write, so a claim is never stored without
	// the record of its offer.
	Offer func(d *Delivery) []contracts.EvidenceRecord
}

// DeliveryQuery selects unfinished deliveries for operators (see
// OutboxStore.ListDeliveries).
type DeliveryQuery struct {
	// States are the states listed: one or more of pending, in_flight,
	// retry_wait and dead.
	States []contracts.TransportState
	// Partner, when set, keeps only the deliveries to that partner.
	Partner string
	// After, when positive, keeps only deliveries with a higher Seq (the
	// cursor of the next page).
	After int64
	// Limit is the most deliveries returned; it must be positive.
	Limit int
}

// Unfinished reports whether a delivery in state s is not yet delivered
// or cancelled: pending, in_flight, retry_wait or dead, the states
// DeliveryQuery.States may name.
func Unfinished(s contracts.TransportState) bool {
	switch s {
	case contracts.TransportStatePending, contracts.TransportStateInFlight,
		contracts.TransportStateRetryWait, contracts.TransportStateDead:
		return true
	}
	return false
}

// UsageEntry is one usage record (用证记录) as the store keeps it: the
// record as callers see it (holder id masked) plus what only the store
// holds.
type UsageEntry struct {
	Record contracts.UsageRecord
	// HolderType and HolderID are the holder's full id, when known (from
	// the request or the library's record); "" otherwise. They are never
	// returned to callers, only matched by UsageQuery.HolderID.
	HolderType string
	HolderID   string
	// Library is the partner id of the library consulted (the issuing
	// region's), "" when the verification was refused before routing.
	Library string
	// Subject is the token's sub of the caller (the person acting), kept
	// as evidence.
	Subject string
	// SealKey is the id of the data key the entry's personal fields are
	// sealed under at rest, "" when they are stored as given. When it is
	// set, the stored Record.OperatorID and Subject are sealed text and
	// HolderID is the holder id's blind index (Sealer.Index), which
	// UsageQuery.HolderID is then matched against. Stores keep it and
	// never interpret it.
	SealKey string
}

// UsageQuery selects usage records. Empty fields do not filter.
type UsageQuery struct {
	HolderID  string    // the holder's full id number, matched exactly
	LicenseID string    // matched exactly
	Caller    string    // the caller that verified
	From      time.Time // Record.CheckedAt >= From, when not zero
	To        time.Time // Record.CheckedAt < To, when not zero
	// VisibleTo, when set, keeps only records where it is the Caller, the
	// Record.WindowID or the Library: what a partner or window may see.
	VisibleTo string
	// Before, when set, keeps only records whose UsageRecordID sorts
	// before it (the next page after a record with that id).
	Before string
	// Limit is the most records returned; it must be positive.
	Limit int
}

// ExchangeQuery selects exchanges for audit search: the evidence records
// that start an exchange (events case.received, status.applied,
// license.verified and usage.recorded) with the state of the delivery
// that carries each on. Zero fields match everything; set fields combine
// with AND.
type ExchangeQuery struct {
	CaseID     string
	ExchangeID string
	// Partner matches the exchange's sender or its receiving partner.
	Partner string
	// Region matches the sending or receiving side; a city or province
	// code matches every district in it.
	Region string
	Kind   contracts.ExchangeKind
	State  contracts.TransportState // of the exchange's delivery
	// Event, when set, lists the records of that event only: one of the
	// events above, or contracts.EventAccessDenied (refused requests;
	// Partner then matches the caller refused).
	Event string
	// Overdue, when set, keeps only exchanges of cases whose Overdue is
	// set; DueBefore, when not zero, only those of cases whose Deadline
	// is set and before it.
	Overdue   bool
	DueBefore time.Time
	From      time.Time // evidence time >= From, when not zero
	To        time.Time // evidence time < To, when not zero
	// Before, when positive, keeps only exchanges recorded before the
	// evidence record with that seq (the cursor of the next page).
	Before int64
	// Limit is the most exchanges returned; it must be positive.
	Limit int
}

// RegionPattern returns the prefix every code inside region starts with:
// two digits for a province (XX0000), four for a city (XXYY00), all six
// for a district.
func RegionPattern(region string) string {
	switch contracts.RegionLevelOf(region) {
	case contracts.Province:
		return region[:2]
	case contracts.City:
		return region[:4]
	}
	return region
}

// Inbound is one signed request body as it arrived.
type Inbound struct {
	Caller    Principal
	Body      []byte // exact bytes
	Signature []byte // DER, decoded from Gw-Signature
	KeyID     string // Gw-Key-Id
	TraceID   string
}

// Signed is a signed response: Body is sent verbatim with Gw-Signature
// (Signature) and Gw-Key-Id (KeyID).
type Signed struct {
	Body      []byte
	Signature []byte
	KeyID     string
	// MediaType is Body's media type; "" means application/json.
	MediaType string
	// Replay is true when Body is the stored answer to an earlier identical request.
	Replay bool
}
