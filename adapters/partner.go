package adapters

import "github.com/tongban/tongban/contracts"

// Message is one call the gateway makes to a partner, in contract terms:
// exactly one field is set.
type Message struct {
	Case   *contracts.CaseDelivery
	Status *contracts.StatusDelivery
	Usage  *contracts.UsageRecordDelivery
	Lookup *contracts.LicenseLookupRequest
	// UsageBatch is several usage records in one call (answered with a
	// UsageBatchAck, PartnerSide.WriteBatchAck).
	UsageBatch *contracts.UsageRecordBatch
	Notice     *contracts.NoticeDelivery
}

// KindLookup is the Kind of a license lookup, the one message that is not
// a delivery.
const KindLookup = "lookup"

// KindUsageBatch is the Kind of a batch of usage records: a message
// carrying several deliveries, each with its own exchange id.
const KindUsageBatch = "usage_batch"

// Kind names the message's kind: the delivery kind it carries
// (contracts.DeliveryKindCase, DeliveryKindStatus, DeliveryKindUsageRecord,
// as strings), KindLookup, KindUsageBatch, or "" when no field is set.
func (m *Message) Kind() string {
	switch {
	case m == nil:
		return ""
	case m.Case != nil:
		return "case"
	case m.Status != nil:
		return "status"
	case m.Usage != nil:
		return string(contracts.DeliveryKindUsageRecord)
	case m.Lookup != nil:
		return "lookup"
	case m.UsageBatch != nil:
		return KindUsageBatch
	case m.Notice != nil:
		return string(contracts.DeliveryKindNotice)
	}
	return ""
}

// ExchangeID returns the exchange id of the message, "" when none is set
// (and for a batch, whose deliveries each have their own).
func (m *Message) ExchangeID() string {
	switch m.Kind() {
	case "case":
		return m.Case.ExchangeID
	case "status":
		return m.Status.ExchangeID
	case string(contracts.DeliveryKindUsageRecord):
		return m.Usage.ExchangeID
	case "lookup":
		return m.Lookup.ExchangeID
	}
	return ""
}

// PartnerCall is an HTTP call a partner system makes to the gateway: POST
// to Path under the gateway's base URL (for example
// "/v1/inbound/330702/status"), with Body of media type MediaType and,
// when not empty, a SOAPAction header Action. The partner signs Body.
type PartnerCall struct {
	Path      string
	MediaType string
	Action    string
	Body      []byte
}

// PartnerSide is the partner's end of an adapter style: how a district
// system of that style reads the gateway's calls and answers them, and how
// it calls the gateway. Partner simulators (package partnersim) and the
// shared contract tests (package adaptertest) speak each style through it;
// for a district onboarding a style it is the reference of what its system
// must do. Signatures are not its business: the caller signs what it
// writes and checks what it reads.
type PartnerSide interface {
	// ReadRequest decodes a call the gateway made to the partner: POST to
	// path (relative to the partner's endpoint, starting with "/"), the
	// Content-Type's media type, the SOAPAction without quotes ("" when
	// none) and the exact body. An unknown path or operation, or a body
	// that is not the message it should be, is an error.
	ReadRequest(path, mediaType, action string, body []byte) (*Message, error)
	// WriteAck renders the partner's acknowledgement of m (a case, status
	// or usage delivery) and returns the body and its media type.
	WriteAck(m *Message, ack *contracts.Ack) (body []byte, mediaType string, err error)
	// WriteBatchAck renders the partner's acknowledgement of m, a batch of
	// usage records, and returns the body and its media type. A style
	// configured without batches fails.
	WriteBatchAck(m *Message, ack *contracts.UsageBatchAck) (body []byte, mediaType string, err error)
	// WriteLookupAnswer renders the library's answer to m (a lookup).
	WriteLookupAnswer(m *Message, resp *contracts.LicenseLookupResponse) (body []byte, mediaType string, err error)
	// WriteError renders the partner's refusal of a call (m is nil when it
	// could not be read): status is what the failure means in HTTP terms
	// (4xx: the call is wrong, 5xx or 429: try again later). It returns the
	// body, its media type and the HTTP status the style sends.
	WriteError(m *Message, status int, code contracts.Code, msg string) (body []byte, mediaType string, httpStatus int)
	// Call renders a call the partner makes to the gateway: the case
	// submission or status update c carries.
	Call(c *contracts.InboundCall) (*PartnerCall, error)
	// ReadReceipt decodes the gateway's answer to a Call with a 2xx
	// status: its signed receipt.
	ReadReceipt(mediaType string, body []byte) (*contracts.Receipt, error)
}
