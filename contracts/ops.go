package contracts

import (
	"encoding/json"
	"time"
)

// Role is what a caller may do at the gateway; every registered caller has
// one. Each operation in the OpenAPI description lists the roles it allows
// (x-roles).
type Role string

// The caller roles.
const (
	// RolePartner is a district or department system: it submits cases,
	// reports status, receives deliveries and verifies licenses.
	RolePartner Role = "partner"
	// RoleWindow is a service window's client (窗口): it verifies licenses
	// and looks up cases of its region.
	RoleWindow Role = "window"
	// RoleAuditor traces exchanges, verifies the evidence log and exports
	// evidence bundles.
	RoleAuditor Role = "auditor"
	// RoleOperator watches health and redelivers dead letters.
	RoleOperator Role = "operator"
)

// Valid reports whether r is a caller role.
func (r Role) Valid() bool {
	switch r {
	case RolePartner, RoleWindow, RoleAuditor, RoleOperator:
		return true
	}
	return false
}

// RedeliverResult is the body answering an operator's redelivery request:
// which dead deliveries were queued again.
type RedeliverResult struct {
	// Redelivered lists the delivery ids queued again; always an array.
	Redelivered []string `json:"redelivered"`
	// Count is len(Redelivered).
	Count int `json:"count"`
}

// MailboxBatch is the body of GET /v1/mailbox: deliveries waiting for the
// calling partner, for partners that pull instead of receiving pushes
// (mailbox adapter).
type MailboxBatch struct {
	// Messages are the waiting deliveries, oldest first; always an array.
	Messages []MailboxMessage `json:"messages"`
	// NextCursor is the after value for the next poll; when no message
	// was returned it equals the cursor polled with.
	NextCursor string `json:"next_cursor"`
}

// MailboxMessage is one delivery in a MailboxBatch.
type MailboxMessage struct {
	// Cursor is the message's position in the mailbox.
	Cursor string `json:"cursor"`
	// DeliveryID is the delivery; acknowledge it by this id.
	DeliveryID string `json:"delivery_id"`
	// ExchangeID is the exchange delivered.
	ExchangeID string `json:"exchange_id"`
	// Kind says which body this is: CaseDelivery, StatusDelivery or
	// UsageRecordDelivery.
	Kind DeliveryKind `json:"kind"`
	// SentAt is when the gateway placed the message.
	SentAt time.Time `json:"sent_at"`
	// Body is the delivery body, exactly the bytes Signature covers. The
	// gateway stores it compact and HTML-escaped, the form encoding/json
	// reproduces when it writes a RawMessage, so the bytes survive being
	// embedded here; a receiver verifies Signature over Body as received.
	Body json.RawMessage `json:"body"`
	// Signature is the gateway's DER SM2 signature over Body (base64 in
	// JSON, as in the Gw-Signature header).
	Signature []byte `json:"signature"`
	// KeyID is the gateway key that made Signature.
	KeyID string `json:"key_id"`
}

// MailboxAck is the body of POST /v1/mailbox/ack: the partner's signed
// acknowledgements of mailbox deliveries. Each Ack names its delivery_id.
type MailboxAck struct {
	// Acks are the acknowledgements, 1 to 100.
	Acks []Ack `json:"acks"`
}

// MailboxAckResult answers a MailboxAck: how many acknowledgements were
// taken, and which named deliveries the gateway does not know for this
// partner.
type MailboxAckResult struct {
	// Acknowledged is how many deliveries are now delivered, counting
	// ones that were already.
	Acknowledged int `json:"acknowledged"`
	// Unknown lists delivery ids that are not this partner's.
	Unknown []string `json:"unknown,omitempty"`
}

// HealthStatus is the state of the gateway or of one of its checks.
type HealthStatus string

// The health states.
const (
	// HealthStatusOK means working normally.
	HealthStatusOK HealthStatus = "ok"
	// HealthStatusDegraded means working, with a problem that needs
	// attention (for example a partner whose deliveries are dead).
	HealthStatusDegraded HealthStatus = "degraded"
	// HealthStatusFail means not working; /readyz answers 503.
	HealthStatusFail HealthStatus = "fail"
)

// Valid reports whether s is a health state.
func (s HealthStatus) Valid() bool {
	switch s {
	case HealthStatusOK, HealthStatusDegraded, HealthStatusFail:
		return true
	}
	return false
}

// Health is the body of GET /healthz and GET /readyz.
type Health struct {
	// Status is the worst status of any check.
	Status HealthStatus `json:"status"`
	// Version is the gateway's build version.
	Version string `json:"version,omitempty"`
	// Checks are the individual checks by name (store, outbox, keys,
	// partner:<id>, …); /healthz may send none.
	Checks map[string]HealthCheck `json:"checks,omitempty"`
}

// HealthCheck is the result of one health check.
type HealthCheck struct {
	// Status is the check's result.
	Status HealthStatus `json:"status"`
	// Detail says what is wrong, without internal details.
	Detail string `json:"detail,omitempty"`
	// CheckedAt is when the check last ran.
	CheckedAt time.Time `json:"checked_at"`
	// DurationMS is how long the check took, in milliseconds.
	DurationMS int64 `json:"duration_ms"`
}
