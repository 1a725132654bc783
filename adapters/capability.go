package adapters

import (
	"context"
	"time"

	"github.com/tongban/tongban/contracts"
)

// Adapter is one partner's adapter, built by its style's Factory. By
// itself it only names its style; what it can do are its capabilities,
// small interfaces found by type assertion (Capabilities and the ...Of
// functions do that, honouring CapabilitySet).
type Adapter interface {
	// Style returns the name the adapter's style is registered under.
	Style() string
}

// Capability names one thing an adapter can do.
type Capability string

// The capabilities. Each is an interface of this package.
const (
	// CapCaseDelivery: the adapter pushes cases addressed to the partner
	// (CaseDeliverer).
	CapCaseDelivery Capability = "case_delivery"
	// CapStatusDelivery: the adapter pushes status updates of cases the
	// partner submitted, the status callbacks (StatusDeliverer).
	CapStatusDelivery Capability = "status_delivery"
	// CapInbound: the partner calls the gateway (case submissions, status
	// updates) in its own format, which the adapter translates (Translator).
	CapInbound Capability = "inbound"
	// CapLicenseLookup: the adapter looks licenses up in the partner's
	// license library (LicenseSource).
	CapLicenseLookup Capability = "license_lookup"
	// CapUsageRecords: the adapter passes usage records to the partner that
	// issued the license (UsageReceiver).
	CapUsageRecords Capability = "usage_records"
	// CapPull: the partner cannot take inbound calls; it pulls its
	// deliveries from its mailbox at the gateway (Puller).
	CapPull Capability = "pull"
)

// AllCapabilities lists every capability, in the order documentation shows
// them.
var AllCapabilities = []Capability{
	CapCaseDelivery, CapStatusDelivery, CapInbound, CapLicenseLookup, CapUsageRecords, CapPull,
}

// Valid reports whether c is one of the capabilities.
func (c Capability) Valid() bool {
	for _, k := range AllCapabilities {
		if c == k {
			return true
		}
	}
	return false
}

// CaseDeliverer delivers a case to the partner that owns it and returns the
// partner's verified acknowledgement: raw and sig are its exact bytes and
// DER SM2 signature as the partner sent them, kept as evidence; the Ack is
// what they say in contract terms. Errors are *Error values (see Classify):
// Permanent() true sends the delivery to dead letter at once, RetryAfter()
// is the pause the partner asked for. The method set matches the gateway's
// CaseDeliverer port.
type CaseDeliverer interface {
	DeliverCase(ctx context.Context, d *contracts.CaseDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// StatusDeliverer delivers a status update to the partner that submitted
// the case (the status callback), with the rules of CaseDeliverer.
type StatusDeliverer interface {
	DeliverStatus(ctx context.Context, d *contracts.StatusDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// LicenseSource looks licenses up in the partner's license library
// (证照库). It has the method set of the gateway's LicenseSource port. The
// call is synchronous and must honour ctx's deadline; it is not retried (a
// window is waiting). raw and sig are the library's answer and its DER SM2
// signature as sent. The adapter checks the answer's signature, that it
// echoes q.ExchangeID, and that a found record passes
// contracts.LicenseRecord.Validate and is the license asked for; any
// failure is an error. A library without the license answers with Found
// false.
type LicenseSource interface {
	LookupLicense(ctx context.Context, q *contracts.LicenseLookupRequest) (resp *contracts.LicenseLookupResponse, raw, sig []byte, err error)
}

// UsageReceiver passes usage records (用证记录回传) to the partner that
// issued the license. It has the method set of the gateway's UsageReceiver
// port and follows the CaseDeliverer rules for acknowledgements and errors.
type UsageReceiver interface {
	DeliverUsage(ctx context.Context, d *contracts.UsageRecordDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// Translator reads a partner's calls made in its own format and shapes the
// gateway's answers to match. The gateway has already checked the
// partner's bearer token and its signature over call.Body when DecodeCall
// runs. The method set matches the gateway's Translator port.
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

// Puller marks an adapter whose partner pulls its deliveries from its
// mailbox at the gateway (GET /v1/mailbox, POST /v1/mailbox/ack) instead of
// receiving pushes.
type Puller interface {
	// Mailbox returns how the partner's mailbox behaves.
	Mailbox() MailboxOptions
}

// MailboxOptions configure a partner's mailbox.
type MailboxOptions struct {
	// VisibilityTimeout is how long a message stays hidden from later
	// polls after it was handed out; unacknowledged, it is offered again
	// after that.
	VisibilityTimeout time.Duration
}

// CapabilitySet is implemented by an adapter whose type has a capability
// that its configuration may leave off (a mapped-json partner without a
// license lookup mapping, say). Has reports whether the capability is on.
// An adapter that does not implement it has every capability its type
// implements.
type CapabilitySet interface {
	Has(Capability) bool
}

// Capabilities returns what a can do, in AllCapabilities order.
func Capabilities(a Adapter) []Capability {
	var out []Capability
	for _, c := range AllCapabilities {
		if has(a, c) {
			out = append(out, c)
		}
	}
	return out
}

// has reports whether a implements c's interface and does not decline it.
func has(a Adapter, c Capability) bool {
	if a == nil {
		return false
	}
	var ok bool
	switch c {
	case CapCaseDelivery:
		_, ok = a.(CaseDeliverer)
	case CapStatusDelivery:
		_, ok = a.(StatusDeliverer)
	case CapInbound:
		_, ok = a.(Translator)
	case CapLicenseLookup:
		_, ok = a.(LicenseSource)
	case CapUsageRecords:
		_, ok = a.(UsageReceiver)
	case CapPull:
		_, ok = a.(Puller)
	}
	if !ok {
		return false
	}
	if cs, declines := a.(CapabilitySet); declines {
		return cs.Has(c)
	}
	return true
}

// as returns a as a T when it has capability c.
func as[T any](a Adapter, c Capability) (T, bool) {
	var zero T
	if !has(a, c) {
		return zero, false
	}
	t, ok := a.(T)
	return t, ok
}

// CaseDelivererOf returns a's case delivery, if it has that capability.
func CaseDelivererOf(a Adapter) (CaseDeliverer, bool) {
	return as[CaseDeliverer](a, CapCaseDelivery)
}

// StatusDelivererOf returns a's status delivery, if it has that capability.
func StatusDelivererOf(a Adapter) (StatusDeliverer, bool) {
	return as[StatusDeliverer](a, CapStatusDelivery)
}

// TranslatorOf returns a's inbound translation, if it has that capability.
func TranslatorOf(a Adapter) (Translator, bool) { return as[Translator](a, CapInbound) }

// LicenseSourceOf returns a's license lookup, if it has that capability.
func LicenseSourceOf(a Adapter) (LicenseSource, bool) {
	return as[LicenseSource](a, CapLicenseLookup)
}

// UsageReceiverOf returns a's usage record delivery, if it has that
// capability.
func UsageReceiverOf(a Adapter) (UsageReceiver, bool) {
	return as[UsageReceiver](a, CapUsageRecords)
}

// PullerOf returns a's mailbox, if its partner pulls.
func PullerOf(a Adapter) (Puller, bool) { return as[Puller](a, CapPull) }
