package gateway

import (
	"context"
	"time"

	"github.com/tongban/tongban/contracts"
)

// GatewayActor is the actor of evidence records of steps the gateway takes
// on its own (delivery attempts, usage deliveries, its start).
const GatewayActor = "gateway"

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
}
