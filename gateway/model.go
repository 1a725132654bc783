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
}

// ExchangeKind says what an inbound exchange carried.
type ExchangeKind string

// Exchange kinds.
const (
	ExchangeCase   ExchangeKind = "case"
	ExchangeStatus ExchangeKind = "status"
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
}

// Delivery is one message in the outbox addressed to one partner.
type Delivery struct {
	ID         string
	CaseID     string
	Seq        int64 // assigned by the store; increases in insertion order
	Kind       contracts.DeliveryKind
	Partner    string // destination partner id
	ExchangeID string // the partner's dedup key
	Payload    []byte // JSON of contracts.CaseDelivery or contracts.StatusDelivery
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
	Ack         *contracts.Ack
	AckBody     []byte // exact bytes of the partner's acknowledgement
	AckSig      []byte // the partner's DER signature of AckBody
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
