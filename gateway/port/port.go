// Package port defines, once, what the gateway asks of a partner's
// adapter: one small interface per capability (deliver a case, a status
// update, a usage record; look a license up; read calls made in the
// partner's own format; optionally several usage records in one call) and
// the one interface a delivery error implements
// to say whether and when to retry. The kernel (package gateway) and the
// adapters (package adapters and its styles) both import it; neither
// defines these interfaces again.
package port

import (
	"context"
	"time"

	"github.com/tongban/tongban/contracts"
)

// CaseDeliverer delivers a case to the partner that owns it and returns
// the partner's verified acknowledgement: raw and sig are its exact bytes
// and DER SM2 signature as the partner sent them, kept as evidence; the
// Ack is what they say in contract terms. A failure may implement
// DeliveryError; any other error is retried.
type CaseDeliverer interface {
	DeliverCase(ctx context.Context, d *contracts.CaseDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// CaseChecker is an optional capability of a CaseDeliverer, found by type
// assertion on it: whether the adapter can carry a case to its partner at
// all, asked before the gateway accepts the case, so that a case no
// attempt could ever deliver (a character the partner's format cannot
// hold, a form nested deeper than it reads) is refused at submission
// instead of answered 202 and dead at its first attempt.
type CaseChecker interface {
	// CheckCase returns nil when the adapter can carry d. Otherwise it
	// returns a *contracts.FieldError with code validation_failed whose
	// Field is the path of the field at fault in d's JSON
	// ("submission.remark", "submission.form"; "" when no one field is)
	// and whose Message says what the partner's format cannot carry,
	// never quoting the value. It sends nothing and keeps nothing of d;
	// it must be safe for concurrent use.
	CheckCase(d *contracts.CaseDelivery) error
}

// StatusChecker is CaseChecker for status updates, an optional capability
// of a StatusDeliverer: whether the adapter can carry an owner's update
// back to the district that submitted the case, asked before the update
// is accepted. CheckStatus answers as CheckCase does, with Field the path
// in d's JSON ("update.note").
type StatusChecker interface {
	CheckStatus(d *contracts.StatusDelivery) error
}

// StatusDeliverer delivers a status update to the partner that submitted
// the case (the status callback), with the rules of CaseDeliverer.
type StatusDeliverer interface {
	DeliverStatus(ctx context.Context, d *contracts.StatusDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// NoticeDeliverer delivers a notice about a case (a deadline warning or
// overdue notice, an evaluation, a follow-up reply or overdue follow-up,
// a cancelled part of a bundle) to a case's district or to an evaluation
// system, with the rules of CaseDeliverer.
type NoticeDeliverer interface {
	DeliverNotice(ctx context.Context, d *contracts.NoticeDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// UsageDeliverer passes a usage record (用证记录回传) to the partner that
// issued the license, with the rules of CaseDeliverer.
type UsageDeliverer interface {
	DeliverUsage(ctx context.Context, d *contracts.UsageRecordDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// UsageBatchDeliverer passes several usage records to the partner that
// issued their licenses in one signed call (a contracts.UsageRecordBatch),
// an optional capability of a UsageDeliverer found by type assertion. It
// returns the partner's verified acknowledgement: raw and sig are its
// exact bytes and DER SM2 signature as the partner sent them, kept as the
// evidence of every delivery it names; the UsageBatchAck is what they
// say. The adapter has checked that the acknowledgement names b's
// batch_id, the SM3 of the exact bytes sent and the key that signed it,
// and only deliveries b carries, each once. A failure fails the whole
// batch, and may implement DeliveryError; any other error is retried.
type UsageBatchDeliverer interface {
	DeliverUsageBatch(ctx context.Context, b *contracts.UsageRecordBatch) (ack *contracts.UsageBatchAck, raw, sig []byte, err error)
}

// LicenseSource looks licenses up in the partner's license library
// (证照库). The call is synchronous and must honour ctx's deadline; it is
// not retried (a window is waiting). raw and sig are the library's answer
// and its DER SM2 signature as sent. An error means the library gave no
// usable answer (timeout, transport failure, bad signature, malformed
// answer, another license than the one asked); a library that has no such
// license answers with Found false.
type LicenseSource interface {
	LookupLicense(ctx context.Context, q *contracts.LicenseLookupRequest) (resp *contracts.LicenseLookupResponse, raw, sig []byte, err error)
}

// Translator reads a partner's calls made in its own format and shapes the
// gateway's answers to match. The gateway has already checked the
// partner's bearer token and its signature over call.Body when DecodeCall
// runs.
type Translator interface {
	// DecodeCall returns what a native call carries. A call the adapter
	// cannot read fails with a *contracts.FieldError naming the partner's
	// field (its Code says which error code the caller gets) or another
	// error (answered as invalid_json). Errors never quote field values.
	DecodeCall(call *contracts.NativeCall) (*contracts.InboundCall, error)
	// EncodeReceipt renders the gateway's receipt of a call in the
	// partner's format and returns the body and its media type; the
	// gateway signs the body as it is.
	EncodeReceipt(call *contracts.InboundCall, r *contracts.Receipt) (body []byte, mediaType string, err error)
	// EncodeError renders a refusal of a call (e, sent with HTTP status
	// status in the standard contract) in the partner's format and returns
	// the body, its media type and the HTTP status to send. call is nil
	// when the call could not be decoded.
	EncodeError(call *contracts.InboundCall, e *contracts.Error, status int) (body []byte, mediaType string, httpStatus int)
}

// DeliveryError is what a failed delivery attempt may say about itself.
// The outbox finds it with errors.As; an error that does not implement it
// is retried on the partner's schedule and described by its Error text.
type DeliveryError interface {
	error
	// Permanent reports that retrying cannot help: the delivery becomes a
	// dead letter at once.
	Permanent() bool
	// RetryAfter is the pause the partner asked for (Retry-After); zero
	// when it asked for none.
	RetryAfter() time.Duration
	// ReasonText says what failed for operators (the delivery's last
	// error), without URLs or dial details; it may quote the partner.
	ReasonText() string
	// PublicReason is ReasonText without the partner's own free text,
	// which may name people: what the evidence log, traces and logs keep.
	PublicReason() string
}

// DefaultTimeout bounds one call to a partner (a delivery attempt) when
// its configuration sets none.
const DefaultTimeout = 10 * time.Second
