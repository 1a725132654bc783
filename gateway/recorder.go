package gateway

import (
	"context"
	"time"

	"github.com/tongban/tongban/contracts"
)

// GatewayActor is the actor of evidence records of steps the gateway takes
// on its own (delivery attempts, usage deliveries, its start).
const GatewayActor = "gateway"

// SignalActor is the actor of an AdminChange made on a signal to the
// process (SIGHUP reloads the configuration), not by an authenticated
// operator.
const SignalActor = "signal"

// AdminChange is a change to what the gateway holds in force, made by an
// operator or on a signal: a caller key added or revoked, the
// configuration reloaded.
type AdminChange struct {
	// By is the operator who asked; a Principal without a Partner means
	// a signal to the process (actor SignalActor).
	By Principal
	// At is when the change took effect.
	At time.Time
	// Event is contracts.EventAdminKeyAdded, EventAdminKeyRevoked or
	// EventAdminReload.
	Event string
	// Partner is the caller the change concerns (whose key it is); ""
	// for none.
	Partner string
	// Body is the request's exact bytes, kept by their SM3 (nil for a
	// request without a body).
	Body []byte
	// Detail is the record's detail; the recorder adds the operator's
	// subject.
	Detail contracts.EvidenceDetail
}

// Recorder builds the evidence records of the steps the sub-domains take;
// they hand the records to the store in the same write as the step. The
// evidence package implements it (evidence.Recorder). A recorder that
// keeps no evidence (a gateway measured without its log) returns none.
type Recorder interface {
	// Exchange is the record of an accepted exchange ex (a case
	// submission or a status update) by in's caller, the receipt issued
	// for it and the delivery del that carries it on; region is the
	// caller's side. extra, when set, adds to the detail.
	Exchange(ctx context.Context, in Inbound, ex *Exchange, c *Case, event string, del *Delivery, region string, extra func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord
	// Attempt is the record of one delivery attempt (or mailbox offer)
	// with its outcome; del carries the outcome (State, Attempts, NextAt,
	// LastError and, when delivered, the acknowledgement). caseState is
	// the state the acknowledgement moved the case to, if any.
	Attempt(del *Delivery, at time.Time, outcome string, latency time.Duration, caseState contracts.CaseState) []contracts.EvidenceRecord
	// BatchAttempt is Attempt for one delivery sent with others in one
	// signed call (usage records to their issuer, a
	// contracts.UsageRecordBatch): the same record, whose detail also
	// names the batch, batchID, and batchSM3, the SM3 of the exact batch
	// body the gateway signed and sent.
	BatchAttempt(del *Delivery, at time.Time, outcome string, latency time.Duration, batchID, batchSM3 string) []contracts.EvidenceRecord
	// Verification is the record of one license verification made for
	// in (license.verified), and of the usage delivery del passing it to
	// the issuing library (usage.recorded) when del is not nil. caseID is
	// the case the verification joins the chain of ("" for none) and
	// caseRef the case id it only names.
	Verification(ctx context.Context, in Inbound, e UsageEntry, del *Delivery, caseID, caseRef string) []contracts.EvidenceRecord
	// Redelivery is the record of an operator's redelivery of delivery
	// deliveryID, or of every dead letter of partner when deliveryID is "".
	Redelivery(ctx context.Context, p Principal, at time.Time, deliveryID, partner string) []contracts.EvidenceRecord
	// Administration is the record of a step the gateway takes on a case
	// on its own (its clock started, stopped or resumed; a notice queued;
	// a waiting part released or cancelled): event at at, about case c,
	// with the delivery del it queued (nil for none); detail, when set,
	// fills the record's detail.
	Administration(ctx context.Context, c *Case, at time.Time, event string, del *Delivery, detail func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord
	// AdminChange is the record of a change an operator (or a signal)
	// made to what is in force: who (actor, subject, the token's jti and
	// key id), what (event, partner, detail) and the request's body SM3.
	AdminChange(ctx context.Context, c AdminChange) []contracts.EvidenceRecord
}
