package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/tongban/tongban/contracts"
)

// Store errors. Implementations return them (possibly wrapped) so the core can
// tell what happened.
var (
	// ErrNotFound means no such case, exchange or delivery.
	ErrNotFound = errors.New("gateway: not found")
	// ErrDuplicateExchange means (sender, exchange_id) is already stored;
	// nothing of the change was written.
	ErrDuplicateExchange = errors.New("gateway: exchange already stored")
	// ErrStale means the case changed since it was read (Version mismatch);
	// nothing of the change was written.
	ErrStale = errors.New("gateway: case changed concurrently")
	// ErrNotDead means a redelivery was asked for a delivery that is not dead.
	ErrNotDead = errors.New("gateway: delivery is not dead")
)

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
	// Evidence are evidence records to append with the change, in order;
	// the store assigns each its Seq, PrevHash, CasePrevHash and Hash (see
	// Store.AppendEvidence).
	Evidence []contracts.EvidenceRecord
	// OutOfBand says Delivered was acknowledged outside a dispatcher's
	// attempt (a partner's mailbox acknowledgement): it is written whatever
	// the lease, while the delivery is pending, in_flight, retry_wait or
	// dead; one already delivered or cancelled fails the change with
	// ErrStale.
	OutOfBand bool
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
// mailbox (see Store.ClaimMailbox).
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

// Store is the gateway's durable state. Every method is safe for concurrent
// use. A method that returns nil has made its writes durable (it has been
// committed and synced as the implementation's durability setting says);
// implementations may batch concurrent writes into one commit (group
// commit) but must keep each Change atomic on its own.
type Store interface {
	// CreateCase stores a new case with its creating exchange, first history
	// entry and first delivery.
	CreateCase(ctx context.Context, ch Change) error
	// UpdateCase applies a change to an existing case (optimistic: see Change.Case).
	UpdateCase(ctx context.Context, ch Change) error

	// GetExchange returns the exchange the sender sent under exchangeID.
	GetExchange(ctx context.Context, sender, exchangeID string) (*Exchange, error)
	// GetCase returns a case by id.
	GetCase(ctx context.Context, id string) (*Case, error)
	// History returns the case's history, oldest first.
	History(ctx context.Context, caseID string) ([]Status, error)
	// Deliveries returns the case's deliveries in Seq order.
	Deliveries(ctx context.Context, caseID string) ([]*Delivery, error)
	// GetDelivery returns a delivery by id.
	GetDelivery(ctx context.Context, id string) (*Delivery, error)

	// ClaimDue atomically takes up to limit deliveries that are due at now
	// and marks them in_flight with LeaseUntil = now+lease, returning them in
	// Seq order. Due means: pending or retry_wait with NextAt <= now, or
	// in_flight with LeaseUntil <= now (a crashed dispatcher's). A delivery
	// is never claimed while an earlier delivery (lower Seq) of the same case
	// to the same partner is not yet delivered or cancelled: this keeps
	// per-case order.
	ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*Delivery, error)
	// NextDue returns the earliest time a delivery becomes due (NextAt of a
	// pending or retry_wait one, LeaseUntil of an in_flight one), ok=false
	// when there is none. It ignores the per-case order rule, so the time may
	// be in the past while nothing is claimable: a dispatcher must not sleep
	// less than its poll floor because of it.
	NextDue(ctx context.Context) (t time.Time, ok bool, err error)
	// SaveAttempt writes a failed attempt's outcome: State (retry_wait or
	// dead), Attempts, NextAt and LastError, and clears the lease, with the
	// evidence records ev in the same write. It is fenced: the stored
	// delivery must still be in_flight with the LeaseUntil of d (the
	// caller's claim); if the lease expired and another dispatcher claimed
	// it since, nothing is written and ErrStale returned, so a slow attempt
	// can never overwrite a newer outcome.
	SaveAttempt(ctx context.Context, d *Delivery, ev ...contracts.EvidenceRecord) error
	// Redeliver moves one dead delivery back to pending, due at now, with
	// Attempts reset to 0, appending ev in the same write. It fails with
	// ErrNotFound or ErrNotDead.
	Redeliver(ctx context.Context, id string, now time.Time, ev ...contracts.EvidenceRecord) error
	// RedeliverDead moves every dead delivery to partner back to pending and
	// returns their ids. When ev is not nil it is appended in the same
	// write with {"deliveries": [ids]} as its Detail.
	RedeliverDead(ctx context.Context, partner string, now time.Time, ev *contracts.EvidenceRecord) ([]string, error)
	// SetPullPartners names the partners that pull their deliveries from
	// their mailbox. Their deliveries, stored and to come, are never
	// claimed by ClaimDue nor counted by NextDue; ClaimMailbox hands them
	// out. A partner left out has its waiting deliveries pushed again. The
	// gateway calls it at start, before it serves.
	SetPullPartners(ctx context.Context, partners []string) error
	// ClaimMailbox atomically takes up to q.Limit visible messages of
	// q.Partner's mailbox and hides them for q.Visibility: state in_flight,
	// LeaseUntil = Now+Visibility, Attempts incremented (each offer is an
	// attempt; LastError becomes q.Reoffer for one offered before). Visible
	// means pending or retry_wait with NextAt <= Now, or in_flight with an
	// expired lease; the per-case order rule of ClaimDue holds. Messages
	// with a Seq above q.After come first in Seq order, then the others in
	// Seq order.
	ClaimMailbox(ctx context.Context, q MailboxClaim) ([]*Delivery, error)
	// CountByState returns how many deliveries are in each transport state.
	CountByState(ctx context.Context) (map[contracts.TransportState]int, error)

	// AddUsage stores usage records, the deliveries that pass them to
	// their issuers and the evidence records ev in one atomic write. The
	// deliveries belong to no case (CaseID ""), so the per-case order rule
	// of ClaimDue does not hold them back; the store assigns each its Seq
	// and State pending.
	AddUsage(ctx context.Context, entries []UsageEntry, enqueue []*Delivery, ev ...contracts.EvidenceRecord) error
	// ListUsage returns the usage records q selects, newest first (by
	// UsageRecordID, descending), at most q.Limit of them.
	ListUsage(ctx context.Context, q UsageQuery) ([]UsageEntry, error)
	// MarkDelivered records the acknowledgement of a delivery that belongs
	// to no case (State, Attempts, DeliveredAt, Ack, AckBody, AckSig) with
	// the evidence records ev. It is fenced like SaveAttempt: ErrStale when
	// the delivery is no longer in_flight under d.LeaseUntil, ErrNotFound
	// when there is no such delivery or it belongs to a case (use
	// UpdateCase for those).
	MarkDelivered(ctx context.Context, d *Delivery, ev ...contracts.EvidenceRecord) error

	// AppendEvidence appends records to the evidence log, in order, in one
	// write. The store assigns each its Seq (the next number, without
	// gaps, in commit order), PrevHash (the Hash of the record before),
	// CasePrevHash (the Hash of the case's previous record, when CaseID is
	// set) and Hash (its chain hash, see contracts.ChainHeader); every other field is
	// the caller's, and At must be set. Records appended by any write are
	// totally ordered: writes batched into one commit keep the order they
	// were applied in.
	AppendEvidence(ctx context.Context, recs ...contracts.EvidenceRecord) error
	// EvidenceHead returns the last record's Seq and Hash; (0, ZeroHash)
	// for an empty log.
	EvidenceHead(ctx context.Context) (seq int64, hash string, err error)
	// ScanEvidence calls fn with the records from seq from to seq to
	// (inclusive; to 0 means the head), in seq order, as stored. It stops
	// at fn's first error and returns it.
	ScanEvidence(ctx context.Context, from, to int64, fn func(EvidenceRow) error) error
	// CaseEvidence returns the records of a case, in seq order.
	CaseEvidence(ctx context.Context, caseID string) ([]EvidenceRow, error)
	// SearchExchanges returns the exchanges q selects, newest first, at
	// most q.Limit, with next, the cursor of the page after (0 when this
	// page is the last).
	SearchExchanges(ctx context.Context, q ExchangeQuery) (found []contracts.ExchangeSummary, next int64, err error)
	// SaveCheckpoint stores a signed checkpoint; one for the same Seq is
	// kept, not replaced.
	SaveCheckpoint(ctx context.Context, cp contracts.Checkpoint) error
	// Checkpoints returns the checkpoints whose Seq lies from from to to
	// (inclusive; to 0 means no bound), in seq order.
	Checkpoints(ctx context.Context, from, to int64) ([]contracts.Checkpoint, error)

	// Close releases the store; pending writes complete first.
	Close() error
}

// Adapter pushes outbox messages to one partner in that partner's
// protocol, and returns its acknowledgement. raw and sig are the exact bytes
// and signature of the acknowledgement as the partner sent it, kept as
// evidence.
//
// An error may implement Permanent() bool (true: retrying cannot help, the
// delivery goes to dead letter at once) and RetryAfter() time.Duration (the
// partner asked for a pause). Any other error is retryable.
type Adapter interface {
	DeliverCase(ctx context.Context, d *contracts.CaseDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
	DeliverStatus(ctx context.Context, d *contracts.StatusDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// Translator is an optional partner capability: the partner calls the
// gateway (case submissions, status updates) in its own format. The
// gateway checks the caller's token and its signature over the exact
// native bytes first; DecodeCall then says what the call carries, and the
// gateway acts on it exactly as on a call in the standard contract.
type Translator interface {
	// DecodeCall returns what a native call carries. A *contracts.FieldError
	// names the failing field and code; any other error means the body
	// could not be read (invalid_json).
	DecodeCall(call *contracts.NativeCall) (*contracts.InboundCall, error)
	// EncodeReceipt renders the gateway's receipt in the partner's format;
	// the gateway signs the bytes as they are.
	EncodeReceipt(call *contracts.InboundCall, r *contracts.Receipt) (body []byte, mediaType string, err error)
	// EncodeError renders a refusal in the partner's format; call is nil
	// when the call was not decoded.
	EncodeError(call *contracts.InboundCall, e *contracts.Error, status int) (body []byte, mediaType string, httpStatus int)
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
	From   time.Time                // evidence time >= From, when not zero
	To     time.Time                // evidence time < To, when not zero
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

// LicenseSource is an optional adapter capability: looking licenses up in
// the partner's license library (证照库). raw and sig are the library's
// answer as it sent it. It must honour ctx's deadline. An error means the
// library did not give a usable answer (timeout, transport failure, bad
// signature, malformed answer); a library that has no such license answers
// with Found false.
type LicenseSource interface {
	LookupLicense(ctx context.Context, q *contracts.LicenseLookupRequest) (resp *contracts.LicenseLookupResponse, raw, sig []byte, err error)
}

// UsageReceiver is an optional adapter capability: passing usage records
// to the partner that issued the license (用证记录回传), acknowledged like
// any delivery. Errors follow the Adapter rules.
type UsageReceiver interface {
	DeliverUsage(ctx context.Context, d *contracts.UsageRecordDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// Crypto errors: implementations of Crypto wrap these so that the HTTP
// layer can answer with the right code without knowing the implementation.
var (
	// ErrUnknownKey: the key id is not registered for the caller.
	ErrUnknownKey = errors.New("gateway: unknown key")
	// ErrBadSignature: a body signature is malformed or does not verify.
	ErrBadSignature = errors.New("gateway: bad signature")
	// ErrTokenExpired: the token is past exp or lives longer than allowed.
	ErrTokenExpired = errors.New("gateway: token expired")
	// ErrTokenInvalid: anything else wrong with a token.
	ErrTokenInvalid = errors.New("gateway: token invalid")
)

// TokenInfo is what a verified caller token says.
type TokenInfo struct {
	KeyID   string
	Issuer  string // caller id
	Subject string // window or operator acting, may be empty
	ID      string // jti
	Expires time.Time
}

// Crypto is the core's port to SM2/SM3 (implemented with package signing by
// gateway/keyring).
type Crypto interface {
	// SM3Hex returns the lowercase hex SM3 digest of body.
	SM3Hex(body []byte) string
	// Sign returns the gateway's DER SM2 signature of body.
	Sign(body []byte) ([]byte, error)
	// KeyID is the id of the gateway's signing key (sent as Gw-Key-Id).
	KeyID() string
	// VerifyBody checks a DER signature of body made with the key keyID that
	// is registered for caller. It fails if keyID belongs to someone else.
	VerifyBody(caller, keyID string, body, sig []byte) error
	// VerifyToken checks a caller token (alg SM2, registered kid, audience,
	// expiry, maximum lifetime) and returns what it says.
	VerifyToken(token string) (TokenInfo, error)
}

// Clock is the core's source of time, injectable so that retry schedules and
// expiry are tested without sleeping.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
