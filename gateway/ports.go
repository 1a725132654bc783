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
	// ErrStoreUnavailable means the store cannot take or serve the request
	// now, for a cause outside the request that may clear without a
	// restart: its file was moved or replaced, its disk is full or
	// read-only, its server refuses connections or is read-only. A write
	// that fails with it has written nothing, except when a connection to
	// a database server was lost during the commit, whose outcome is then
	// unknown (a retried exchange is answered from the store, so a retry
	// is safe). Callers see 503 unavailable (Internal maps it) and may
	// retry later.
	ErrStoreUnavailable = errors.New("gateway: store unavailable")
)

// The store is split by role: each sub-domain asks only for the role it
// uses, so each role can be implemented and tested alone. Every method of
// every role is safe for concurrent use. A method that returns nil has made
// its writes durable (committed and synced as the implementation's
// durability setting says); implementations may batch concurrent writes
// into one commit (group commit) but keep each write atomic on its own.
// Evidence records handed to any write are appended in that same write:
// the store links them into the chain with its ChainLinker (it computes no
// hash of its own) and updates them in place.

// CaseStore keeps cases, their inbound exchanges and their history.
type CaseStore interface {
	// CreateCase stores a new case with its creating exchange, first history
	// entry and first delivery.
	CreateCase(ctx context.Context, ch Change) error
	// UpdateCase applies a change to an existing case (optimistic: see Change.Case).
	UpdateCase(ctx context.Context, ch Change) error
	// GetExchange returns the exchange the sender sent under exchangeID.
	GetExchange(ctx context.Context, sender, exchangeID string) (*Exchange, error)
	// GetCase returns a case by id.
	GetCase(ctx context.Context, id string) (*Case, error)
	// CaseByOwnerCaseNo returns the case of owner whose OwnerCaseNo is
	// ownerCaseNo (the owner's own case number, 办件编号), ErrNotFound when
	// there is none or ownerCaseNo is "". Should several hold it (stored
	// before the gateway refused such acknowledgements), it returns the
	// one with the lowest id.
	CaseByOwnerCaseNo(ctx context.Context, owner, ownerCaseNo string) (*Case, error)
	// History returns the case's history, oldest first.
	History(ctx context.Context, caseID string) ([]Status, error)
	// Deliveries returns the case's deliveries in Seq order.
	Deliveries(ctx context.Context, caseID string) ([]*Delivery, error)
	// AlarmsDue returns up to limit cases whose AlarmAt is set and not
	// after now, earliest AlarmAt first (lowest ID among equals).
	AlarmsDue(ctx context.Context, now time.Time, limit int) ([]*Case, error)
	// BundleParts returns the parts of bundle bundleID (the cases whose
	// BundleID is bundleID, the bundle itself excluded) in ID order.
	BundleParts(ctx context.Context, bundleID string) ([]*Case, error)
}

// OutboxStore keeps deliveries and hands them to dispatchers.
type OutboxStore interface {
	// GetDelivery returns a delivery by id.
	GetDelivery(ctx context.Context, id string) (*Delivery, error)
	// ClaimDue atomically takes up to limit pushed deliveries (Pull false)
	// that are due at now and marks them in_flight with LeaseUntil =
	// now+lease, returning them in Seq order. Due means: pending or
	// retry_wait with NextAt <= now, or in_flight with LeaseUntil <= now (a
	// crashed dispatcher's); a delivery claimed from in_flight comes back
	// with TakenOver set, the others with it false. A delivery is never claimed while an earlier
	// delivery (lower Seq) of the same case to the same partner is not yet
	// delivered or cancelled: this keeps per-case order.
	ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*Delivery, error)
	// NextDue returns the earliest time a pushed delivery becomes due
	// (NextAt of a pending or retry_wait one, LeaseUntil of an in_flight
	// one), ok=false when there is none. It ignores the per-case order
	// rule, so the time may be in the past while nothing is claimable: a
	// dispatcher must not sleep less than its poll floor because of it.
	NextDue(ctx context.Context) (t time.Time, ok bool, err error)
	// SaveAttempt writes a failed attempt's outcome: State (retry_wait or
	// dead), Attempts, NextAt and LastError, and clears the lease, with the
	// evidence records ev in the same write. It is fenced: the stored
	// delivery must still be in_flight with the LeaseUntil of d (the
	// caller's claim); if the lease expired and another dispatcher claimed
	// it since, nothing is written and ErrStale returned, so a slow attempt
	// can never overwrite a newer outcome.
	SaveAttempt(ctx context.Context, d *Delivery, ev ...contracts.EvidenceRecord) error
	// MarkDelivered records the acknowledgement of a delivery that belongs
	// to no case (State, Attempts, DeliveredAt, Ack, AckBody, AckSig) with
	// the evidence records ev and, when next is not nil, claims the next
	// due deliveries in the same write (see NextClaim). It is fenced like
	// SaveAttempt: ErrStale when the delivery is no longer in_flight under
	// d.LeaseUntil, ErrNotFound when there is no such delivery or it
	// belongs to a case (use CaseStore.UpdateCase for those); then nothing
	// is written or claimed.
	MarkDelivered(ctx context.Context, d *Delivery, next *NextClaim, ev ...contracts.EvidenceRecord) error
	// MarkDeliveredAll records the acknowledgements of several deliveries
	// of no case in one write (one commit): each mark's Delivery as
	// MarkDelivered takes it, with its Evidence. Each mark is fenced on its
	// own, as MarkDelivered is (or, with outOfBand, as an out-of-band
	// acknowledgement is: written unless the delivery is already delivered
	// or cancelled): a mark that fails its fence writes nothing, its
	// evidence included, and gets ErrStale in errs; one of no stored
	// delivery, or of a case's delivery, gets ErrNotFound. The others are
	// written, their evidence appended in marks' order and updated in
	// place. errs has one entry per mark, nil for those written; err is a
	// failure of the write as a whole, when nothing is written (errs is
	// then nil).
	MarkDeliveredAll(ctx context.Context, marks []DeliveredMark, outOfBand bool) (errs []error, err error)
	// Redeliver moves one dead delivery back to pending, due at now, with
	// Attempts reset to 0, appending ev in the same write. It fails with
	// ErrNotFound or ErrNotDead.
	Redeliver(ctx context.Context, id string, now time.Time, ev ...contracts.EvidenceRecord) error
	// RedeliverDead moves every dead delivery to partner back to pending and
	// returns their ids. When ev is not nil it is appended in the same
	// write with {"deliveries": [ids]} as its Detail.
	RedeliverDead(ctx context.Context, partner string, now time.Time, ev *contracts.EvidenceRecord) ([]string, error)
	// CountByState returns how many deliveries are in each transport state.
	CountByState(ctx context.Context) (map[contracts.TransportState]int, error)
	// ListDeliveries returns the unfinished deliveries q selects: in one
	// of q.States, to q.Partner when set, with a Seq above q.After; oldest
	// first (Seq order), at most q.Limit. They come without Payload,
	// PayloadKey, Ack, AckBody and AckSig (a listing shows where each delivery stands;
	// GetDelivery returns a whole one). It fails when q.Limit is not
	// positive, or q.States is empty or names a finished state
	// (delivered, cancelled).
	ListDeliveries(ctx context.Context, q DeliveryQuery) ([]*Delivery, error)
}

// DeliveredMark is one acknowledgement OutboxStore.MarkDeliveredAll
// records: the delivery, as MarkDelivered takes it (State, Attempts,
// DeliveredAt, Ack, AckBody, AckSig; LeaseUntil its claim), and the
// evidence records of its acknowledged attempt.
type DeliveredMark struct {
	Delivery *Delivery
	Evidence []contracts.EvidenceRecord
}

// MailboxStore hands pulling partners' deliveries (Pull true) out of
// their mailboxes.
type MailboxStore interface {
	// SetPullPartners brings the Pull flag of every delivery not yet
	// delivered or cancelled in step with partners, the partners that pull
	// now: a partner that pulled before and pushes now has its waiting
	// deliveries pushed, and the other way round. The gateway calls it at
	// start, before it serves; new deliveries carry their own Pull.
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
}

// UsageStore keeps usage records (用证记录).
type UsageStore interface {
	// AddUsage stores usage records, the deliveries that pass them to
	// their issuers and the evidence records ev in one atomic write. The
	// deliveries belong to no case (CaseID ""), so the per-case order rule
	// of ClaimDue does not hold them back; the store assigns each its Seq
	// and State pending.
	AddUsage(ctx context.Context, entries []UsageEntry, enqueue []*Delivery, ev ...contracts.EvidenceRecord) error
	// ListUsage returns the usage records q selects, newest first (by
	// UsageRecordID, descending), at most q.Limit of them.
	ListUsage(ctx context.Context, q UsageQuery) ([]UsageEntry, error)
}

// EvidenceSource is what chain verification reads: a store, or an
// offline copy of one.
type EvidenceSource interface {
	// EvidenceHead returns the last record's Seq and Hash; (0, ZeroHash)
	// for an empty log.
	EvidenceHead(ctx context.Context) (seq int64, hash string, err error)
	// ScanEvidence calls fn with the records from seq from to seq to
	// (inclusive; to 0 means the head), in seq order, as stored. It stops
	// at fn's first error and returns it.
	ScanEvidence(ctx context.Context, from, to int64, fn func(EvidenceRow) error) error
	// Checkpoints returns the checkpoints whose Seq lies from from to to
	// (inclusive; to 0 means no bound), in seq order.
	Checkpoints(ctx context.Context, from, to int64) ([]contracts.Checkpoint, error)
}

// EvidenceLog is the append-only evidence log and its signed checkpoints.
// Stored records and checkpoints are never updated or deleted.
type EvidenceLog interface {
	EvidenceSource
	// AppendEvidence appends records to the evidence log, in order, in one
	// write, linked by the store's ChainLinker (which assigns Seq,
	// PrevHash, CasePrevHash and Hash; every other field is the caller's,
	// and At must be set). Records appended by any write are totally
	// ordered: writes batched into one commit keep the order they were
	// applied in.
	AppendEvidence(ctx context.Context, recs ...contracts.EvidenceRecord) error
	// SaveCheckpoint stores a signed checkpoint; one for the same Seq is
	// kept, not replaced.
	SaveCheckpoint(ctx context.Context, cp contracts.Checkpoint) error
}

// AuditReader answers the auditors' questions about the log.
type AuditReader interface {
	// CaseEvidence returns the records of a case, in seq order.
	CaseEvidence(ctx context.Context, caseID string) ([]EvidenceRow, error)
	// SearchExchanges returns the exchanges q selects, newest first, at
	// most q.Limit, with next, the cursor of the page after (0 when this
	// page is the last).
	SearchExchanges(ctx context.Context, q ExchangeQuery) (found []contracts.ExchangeSummary, next int64, err error)
}

// Store is the gateway's whole durable state: every role above, and Close.
// A store implementation holds no domain rule: what to write is decided
// by the sub-domains, how records are linked by the evidence package.
type Store interface {
	CaseStore
	OutboxStore
	MailboxStore
	UsageStore
	EvidenceLog
	AuditReader
	// Close releases the store; pending writes complete first.
	Close() error
}

// DeliveryWatcher is an optional store capability, found by type
// assertion: a store several gateway processes share tells each of them
// when any of them stored deliveries, so every dispatcher and waiting
// mailbox poll wakes at once, not only those of the process that wrote
// (PostgreSQL's LISTEN/NOTIFY). A store only one process opens (the
// embedded one) does not need it: that process wakes itself.
type DeliveryWatcher interface {
	// WatchDeliveries calls wake soon after any process commits new or
	// redelivered deliveries, until ctx ends; it then returns nil. It
	// returns an error only when it cannot watch at all; a lost
	// connection is re-established, and wake is called once after it, since
	// notifications may have been missed meanwhile.
	WatchDeliveries(ctx context.Context, wake func()) error
}

// CheckpointLock is an optional EvidenceLog capability, found by type
// assertion: a store several gateway processes share lets one of them at
// a time sign a checkpoint, so replicas do not sign the same head twice
// (PostgreSQL: an advisory lock). LockCheckpoints waits for the lock
// until ctx ends and returns the function that releases it.
type CheckpointLock interface {
	LockCheckpoints(ctx context.Context) (unlock func(), err error)
}

// ChainHead is the last record of the evidence log: its Seq and Hash
// ((0, contracts.ZeroHash) for an empty log).
type ChainHead struct {
	Seq  int64
	Hash string
}

// ChainLinker links evidence records into the chain. A store calls it
// inside the write that appends r, with the head as that write sees it
// and casePrev, the Hash of the case's last record ("" when r names no
// case or the case has none); it never hashes anything itself. The
// evidence package implements it.
type ChainLinker interface {
	// Link sets r's Seq (head.Seq+1), PrevHash, CasePrevHash and Hash,
	// normalises At to UTC, checks the fields every record needs, and
	// returns r's canonical form (what Hash covers and the store keeps).
	Link(r *contracts.EvidenceRecord, head ChainHead, casePrev string) (canonical []byte, err error)
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

// KeyDirectory is an optional Crypto capability the auditor tools need:
// the public keys behind key ids, to put in evidence bundles, and the
// verification of the gateway's own signatures (checkpoints, receipts).
// gateway/keyring implements it.
type KeyDirectory interface {
	// PublicKeyPEM returns the PEM (SPKI) public key registered under
	// keyID, the gateway's own included, and the id of its owner.
	PublicKeyPEM(keyID string) (owner string, pem []byte, err error)
	// VerifyGateway checks a DER SM2 signature of body by the gateway's
	// key keyID, current or previous.
	VerifyGateway(keyID string, body, sig []byte) error
	// IsGatewayKey reports whether keyID is one of the gateway's keys,
	// current or previous.
	IsGatewayKey(keyID string) bool
}

// Clock is the core's source of time, injectable so that retry schedules and
// expiry are tested without sleeping.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AckEffect is the hook through which an acknowledged delivery changes
// its case. The outbox calls it, inside its retry loop against concurrent
// case changes, with the case as just read, the delivery marked delivered
// and the partner's acknowledgement (nil for none); it changes c in place
// and returns the history entry to append (nil for none) and the state the
// case entered (""when it stays). The cases package provides it
// (cases.AckEffect); the outbox knows nothing of the case lifecycle.
type AckEffect func(c *Case, del *Delivery, ack *contracts.Ack, now time.Time) (st *Status, entered contracts.CaseState)
