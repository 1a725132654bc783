package adapters

import (
	"time"

	"github.com/tongban/tongban/gateway/port"
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
	// issued the license (UsageDeliverer).
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

// The capabilities the gateway's core uses are defined once, in
// gateway/port, which the core imports too; these names are the same
// interfaces (type aliases), so an adapter satisfies the core's port by
// satisfying its capability. Errors of the deliverers are *Error values
// (see Classify), which implement port.DeliveryError.

// CaseDeliverer delivers a case to the partner that owns it and returns
// the partner's verified acknowledgement (port.CaseDeliverer).
type CaseDeliverer = port.CaseDeliverer

// StatusDeliverer delivers a status update to the partner that submitted
// the case, the status callback (port.StatusDeliverer).
type StatusDeliverer = port.StatusDeliverer

// LicenseSource looks licenses up in the partner's license library
// (port.LicenseSource). The adapter checks the answer's signature, that it
// echoes q.ExchangeID, and that a found record passes
// contracts.LicenseRecord.Validate and is the license asked for.
type LicenseSource = port.LicenseSource

// UsageDeliverer passes usage records (用证记录回传) to the partner that
// issued the license (port.UsageDeliverer).
type UsageDeliverer = port.UsageDeliverer

// UsageBatchDeliverer passes several usage records to their issuer in one
// signed call (port.UsageBatchDeliverer). It is not a capability of its
// own but an option of CapUsageRecords: see UsageBatchDelivererOf.
type UsageBatchDeliverer = port.UsageBatchDeliverer

// UsageBatchSwitch is implemented by an adapter whose type can pass usage
// records in batches but whose configuration may leave it off (a
// mapped-json partner without a usage_batch_delivery mapping).
// BatchesUsage reports whether it is on.
type UsageBatchSwitch interface {
	BatchesUsage() bool
}

// UsageBatchDelivererOf returns a's batch delivery of usage records: a
// has CapUsageRecords, implements UsageBatchDeliverer and, if it
// implements UsageBatchSwitch, has it on.
func UsageBatchDelivererOf(a Adapter) (UsageBatchDeliverer, bool) {
	if !has(a, CapUsageRecords) {
		return nil, false
	}
	b, ok := a.(UsageBatchDeliverer)
	if !ok {
		return nil, false
	}
	if sw, ok := a.(UsageBatchSwitch); ok && !sw.BatchesUsage() {
		return nil, false
	}
	return b, true
}

// Translator reads a partner's calls made in its own format and shapes
// the gateway's answers to match (port.Translator).
type Translator = port.Translator

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
		_, ok = a.(UsageDeliverer)
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

// UsageDelivererOf returns a's usage record delivery, if it has that
// capability.
func UsageDelivererOf(a Adapter) (UsageDeliverer, bool) {
	return as[UsageDeliverer](a, CapUsageRecords)
}

// PullerOf returns a's mailbox, if its partner pulls.
func PullerOf(a Adapter) (Puller, bool) { return as[Puller](a, CapPull) }

// NoticeDeliverer pushes notices about a case (deadline warnings and
// overdue notices, evaluations, follow-up replies and overdue follow-ups,
// cancelled parts of a bundle) to a partner (port.NoticeDeliverer). It is
// not a capability of its own, so that a style adds it without declaring
// anything: an adapter that implements it pushes notices (see
// NoticeDelivererOf); a pulling partner finds its notices in its mailbox.
type NoticeDeliverer = port.NoticeDeliverer

// NoticeSwitch is implemented by an adapter whose type can push notices
// but whose configuration may leave them off (a mapped-json partner
// without a notice mapping, say). DeliversNotices reports whether it is
// on.
type NoticeSwitch interface {
	DeliversNotices() bool
}

// NoticeDelivererOf returns a's notice delivery: a implements
// NoticeDeliverer, its partner does not pull (a Puller's notices wait in
// its mailbox), and, if it implements NoticeSwitch, it has it on. The
// gateway sets gateway.Partner.Notices to it; without it the partner's
// notices are refused like any delivery its adapter cannot make.
func NoticeDelivererOf(a Adapter) (NoticeDeliverer, bool) {
	if a == nil || has(a, CapPull) {
		return nil, false
	}
	n, ok := a.(NoticeDeliverer)
	if !ok {
		return nil, false
	}
	if sw, ok := a.(NoticeSwitch); ok && !sw.DeliversNotices() {
		return nil, false
	}
	return n, true
}
