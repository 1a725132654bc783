package contracts

import "time"

// DeliveryPage is the body of GET /v1/admin/deliveries: the unfinished
// deliveries an operator asked for, oldest first.
type DeliveryPage struct {
	// Items are the deliveries, oldest first; always an array.
	Items []DeliverySummary `json:"items"`
	// NextCursor fetches the next page (query parameter cursor); absent
	// on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// DeliverySummary is one delivery of a DeliveryPage: where it stands and
// why, without its content.
type DeliverySummary struct {
	// DeliveryID is the gateway's id of the delivery (what an operator
	// redelivers).
	DeliveryID string `json:"delivery_id"`
	// Kind is what the delivery carries.
	Kind DeliveryKind `json:"kind"`
	// CaseID is the case the delivery belongs to; absent for a delivery of
	// no case (a usage record's).
	CaseID string `json:"case_id,omitempty"`
	// Partner is the partner id the delivery goes to.
	Partner string `json:"partner"`
	// ExchangeID is the exchange being delivered (the partner's dedup key).
	ExchangeID string `json:"exchange_id"`
	// State is the delivery's transport state.
	State TransportState `json:"state"`
	// Attempts is how many attempts were made in the current series (a
	// redelivery starts a new one).
	Attempts int `json:"attempts"`
	// LastError describes the last failed attempt, without internal
	// details.
	LastError string `json:"last_error,omitempty"`
	// NextAttemptAt is when the next attempt is due, in pending or
	// retry_wait.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	// CreatedAt is when the delivery was queued.
	CreatedAt time.Time `json:"created_at"`
}
