package soap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/port"
)

// Name is the name the style is registered under.
const Name = "soap"

// DefaultNamespace is the namespace of the operation elements when the
// config does not name one.
const DefaultNamespace = "urn:tongban:exchange:v1"

// maxConfigText bounds the namespace and the SOAPAction prefix.
const maxConfigText = 255

// The operations. Each is the local name of the operation element in the
// SOAP Body and, after the configured prefix, the SOAPAction; the answer
// is the element named after the operation with "Response" appended.
const (
	// OpDeliverCase: gateway → partner, a contracts.CaseDelivery, answered
	// with a contracts.Ack (DeliverCaseResponse).
	OpDeliverCase = "DeliverCase"
	// OpDeliverStatus: gateway → partner, a contracts.StatusDelivery (the
	// status callback), answered with a contracts.Ack.
	OpDeliverStatus = "DeliverStatus"
	// OpDeliverUsage: gateway → partner, a contracts.UsageRecordDelivery
	// (用证记录回传), answered with a contracts.Ack.
	OpDeliverUsage = "DeliverUsage"
	// OpDeliverUsageBatch: gateway → partner, a contracts.UsageRecordBatch
	// (several usage records in one call, for a partner whose
	// license_library.usage_batch is above 1), answered with a
	// contracts.UsageBatchAck.
	OpDeliverUsageBatch = "DeliverUsageBatch"
	// OpDeliverNotice: gateway → partner, a contracts.NoticeDelivery (a
	// deadline warning or overdue notice, an evaluation, a follow-up reply
	// or overdue follow-up, a cancelled part of a bundle), answered with a
	// contracts.Ack.
	OpDeliverNotice = "DeliverNotice"
	// OpLookupLicense: gateway → partner, a contracts.LicenseLookupRequest,
	// answered with a contracts.LicenseLookupResponse.
	OpLookupLicense = "LookupLicense"
	// OpSubmitCase: partner → gateway, a contracts.CaseSubmission,
	// answered with a contracts.Receipt (SubmitCaseResponse).
	OpSubmitCase = "SubmitCase"
	// OpReportStatus: partner → gateway, a contracts.StatusUpdate,
	// answered with a contracts.Receipt (ReportStatusResponse).
	OpReportStatus = "ReportStatus"
	// OpSubmitEvaluation: partner → gateway, a
	// contracts.EvaluationSubmission (好差评), answered with a
	// contracts.Receipt (SubmitEvaluationResponse).
	OpSubmitEvaluation = "SubmitEvaluation"
	// OpReplyToEvaluation: partner → gateway, a contracts.EvaluationReply
	// (整改反馈), answered with a contracts.Receipt.
	OpReplyToEvaluation = "ReplyToEvaluation"
	// OpSubmitBundle: partner → gateway, a contracts.BundleSubmission
	// (一件事), answered with a contracts.Receipt naming each part's case
	// in repeated <parts> elements.
	OpSubmitBundle = "SubmitBundle"
)

// ResponseSuffix is appended to an operation's name to name its answer
// element.
const ResponseSuffix = "Response"

func init() {
	adapters.Register(adapters.Style{
		Name:    Name,
		Summary: "SOAP 1.1 web services of older provincial platforms: signed text/xml envelopes for cases, status updates, notices, usage records, license lookups and inbound calls",
		Capabilities: []adapters.Capability{
			adapters.CapCaseDelivery, adapters.CapStatusDelivery, adapters.CapInbound,
			adapters.CapLicenseLookup, adapters.CapUsageRecords,
		},
		Factory: adapters.FactoryOf(New),
	})
}

// Config is the partner's adapter block.
type Config struct {
	// Endpoint is the SOAP service's URL, absolute http or https; every
	// operation is a POST to it.
	Endpoint string `json:"endpoint"`
	// Namespace is the namespace of the operation elements and of the
	// fault detail; "" means DefaultNamespace. It must be an absolute URI
	// and not a namespace of SOAP or XML itself.
	Namespace string `json:"namespace,omitempty"`
	// SOAPActionPrefix is put before an operation's name to make its
	// SOAPAction; nil means Namespace followed by "/", "" means the bare
	// operation name.
	SOAPActionPrefix *string `json:"soap_action_prefix,omitempty"`
	// MaxRetries is the number of quick retries inside one delivery
	// attempt, 0 to adapters.MaxMaxRetries; nil means
	// adapters.DefaultMaxRetries. License lookups are never retried.
	MaxRetries *int `json:"max_retries,omitempty"`
}

// ParseConfig decodes a config block strictly (unknown fields, trailing
// data and an empty block are errors) and validates it: the endpoint must
// be an absolute http(s) URL without query or fragment, the namespace an
// absolute URI of at most 255 printable ASCII characters other than the
// SOAP and XML namespaces, the SOAPAction prefix at most 255 printable
// ASCII characters without quotes, backslashes or spaces, and max_retries
// in range. Every error names the field. The result has every default
// applied: Namespace, SOAPActionPrefix and MaxRetries are set.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if err := adapters.DecodeConfig(raw, &c); err != nil {
		return Config{}, err
	}
	ep, err := adapters.ParseEndpoint(c.Endpoint)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c.Endpoint = ep
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if err := checkNamespace(c.Namespace); err != nil {
		return Config{}, fmt.Errorf("config: namespace: %w", err)
	}
	if c.SOAPActionPrefix == nil {
		p := c.Namespace + "/"
		c.SOAPActionPrefix = &p
	}
	if err := checkPrefix(*c.SOAPActionPrefix); err != nil {
		return Config{}, fmt.Errorf("config: soap_action_prefix: %w", err)
	}
	if c.MaxRetries == nil {
		n := adapters.DefaultMaxRetries
		c.MaxRetries = &n
	} else if *c.MaxRetries < 0 || *c.MaxRetries > adapters.MaxMaxRetries {
		return Config{}, fmt.Errorf("config: max_retries %d is out of range 0..%d", *c.MaxRetries, adapters.MaxMaxRetries)
	}
	return c, nil
}

// printableASCII reports whether s holds only printable ASCII other than
// space, '"' and '\\'.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func checkNamespace(ns string) error {
	switch {
	case len(ns) > maxConfigText:
		return fmt.Errorf("longer than %d bytes", maxConfigText)
	case !printableASCII(ns) || strings.ContainsAny(ns, "<>&'"):
		return errors.New("must be printable ASCII without spaces, quotes, backslashes, <, > or &")
	case ns == EnvelopeNamespace || ns == soap12Namespace ||
		ns == "http://www.w3.org/XML/1998/namespace" || ns == "http://www.w3.org/2000/xmlns/":
		return errors.New("must not be a namespace of SOAP or XML itself")
	}
	u, err := url.Parse(ns)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("%q is not an absolute URI (e.g. %s)", ns, DefaultNamespace)
	}
	return nil
}

func checkPrefix(p string) error {
	switch {
	case len(p) > maxConfigText:
		return fmt.Errorf("longer than %d bytes", maxConfigText)
	case !printableASCII(p):
		return errors.New("must be printable ASCII without spaces, quotes or backslashes")
	}
	return nil
}

// Action returns the SOAPAction of operation op (without quotes): the
// configured prefix followed by op.
func (c Config) Action(op string) string { return c.protocol().action(op) }

// protocol returns what both ends share; defaults apply when c was not
// parsed.
func (c Config) protocol() protocol {
	p := protocol{ns: c.Namespace}
	if p.ns == "" {
		p.ns = DefaultNamespace
	}
	if c.SOAPActionPrefix != nil {
		p.prefix = *c.SOAPActionPrefix
	} else {
		p.prefix = p.ns + "/"
	}
	return p
}

// ExampleConfig returns the config block of the demo district 371523
// 茌平区 (Liaocheng, Shandong), whose SOAP service listens at endpoint: the
// default namespace and SOAPAction prefix spelled out, and two quick
// retries. ParseConfig accepts it for any absolute http(s) endpoint.
func ExampleConfig(endpoint string) json.RawMessage {
	prefix := DefaultNamespace + "/"
	retries := adapters.DefaultMaxRetries
	b, err := json.Marshal(Config{
		Endpoint: endpoint, Namespace: DefaultNamespace, SOAPActionPrefix: &prefix, MaxRetries: &retries,
	})
	if err != nil { // cannot happen: every field marshals
		panic(err)
	}
	return b
}

// Adapter speaks SOAP 1.1 to one partner: it delivers cases, status
// updates, notices and usage records, looks licenses up, and translates
// the partner's own calls. It is safe for concurrent use.
type Adapter struct {
	cfg    Config
	proto  protocol
	crypto adapters.Crypto
	caller *adapters.Caller
	now    func() time.Time // for Retry-After dates
}

// Compile-time guards: the port, and the capabilities.
var (
	_ adapters.Adapter             = (*Adapter)(nil)
	_ adapters.CaseDeliverer       = (*Adapter)(nil)
	_ adapters.StatusDeliverer     = (*Adapter)(nil)
	_ adapters.Translator          = (*Adapter)(nil)
	_ adapters.LicenseSource       = (*Adapter)(nil)
	_ adapters.UsageDeliverer      = (*Adapter)(nil)
	_ adapters.UsageBatchDeliverer = (*Adapter)(nil)
	_ port.NoticeDeliverer         = (*Adapter)(nil)
	_ io.Closer                    = (*Adapter)(nil)
)

// New builds the adapter for the partner p describes, decoding p.Config
// with ParseConfig. Errors name the offending field.
func New(p adapters.Params) (*Adapter, error) {
	p, err := p.WithDefaults()
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(p.Config)
	if err != nil {
		return nil, err
	}
	c, err := adapters.NewCaller(p, *cfg.MaxRetries)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &Adapter{cfg: cfg, proto: cfg.protocol(), crypto: p.Crypto, caller: c, now: time.Now}, nil
}

// Style returns "soap".
func (a *Adapter) Style() string { return Name }

// Config returns the adapter's config with every default applied.
func (a *Adapter) Config() Config { return a.cfg }

// Close releases idle connections. The adapter stays usable.
func (a *Adapter) Close() error { return a.caller.Close() }

// DeliverCase sends d as DeliverCase and returns the partner's verified
// acknowledgement (DeliverCaseResponse), its exact envelope bytes and its
// DER signature. The acknowledgement must carry partner_case_no.
func (a *Adapter) DeliverCase(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no case delivery", nil)
	}
	return a.deliver(ctx, OpDeliverCase, d, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, Case: true,
	})
}

// DeliverStatus sends d as DeliverStatus (the status callback) and returns
// the partner's verified acknowledgement, its exact envelope bytes and its
// DER signature.
func (a *Adapter) DeliverStatus(ctx context.Context, d *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no status delivery", nil)
	}
	return a.deliver(ctx, OpDeliverStatus, d, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID,
	})
}

// DeliverNotice sends d as DeliverNotice (port.NoticeDeliverer) and
// returns the partner's verified acknowledgement (DeliverNoticeResponse),
// its exact envelope bytes and its DER signature, checked as a status
// delivery's is: the same exchange_id (and delivery_id, when named), the
// SM3 of the exact envelope sent, the answer's Gw-Key-Id.
func (a *Adapter) DeliverNotice(ctx context.Context, d *contracts.NoticeDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no notice delivery", nil)
	}
	return a.deliver(ctx, OpDeliverNotice, d, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID,
	})
}

// DeliverUsage sends d as DeliverUsage (用证记录回传) and returns the
// partner's verified acknowledgement, its exact envelope bytes and its DER
// signature.
func (a *Adapter) DeliverUsage(ctx context.Context, d *contracts.UsageRecordDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no usage record delivery", nil)
	}
	return a.deliver(ctx, OpDeliverUsage, d, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID,
	})
}

// DeliverUsageBatch sends b as DeliverUsageBatch and returns the
// partner's verified batch acknowledgement (DeliverUsageBatchResponse),
// its exact envelope bytes and its DER signature. The acknowledgement must
// name b's batch_id, the SM3 of the exact envelope sent, the answer's
// Gw-Key-Id and only deliveries of b, each once
// (adapters.CheckBatchAck); a Fault is classified like a delivery's.
func (a *Adapter) DeliverUsageBatch(ctx context.Context, b *contracts.UsageRecordBatch) (*contracts.UsageBatchAck, []byte, []byte, error) {
	if err := adapters.CheckBatch(b); err != nil {
		return nil, nil, nil, err
	}
	body, err := a.proto.marshal(OpDeliverUsageBatch, b)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode "+OpDeliverUsageBatch+" envelope", err)
	}
	ans, err := a.caller.Do(ctx, a.request(OpDeliverUsageBatch, body, "batch acknowledgement"))
	if err != nil {
		return nil, nil, nil, err
	}
	want := adapters.BatchExpectation(b)
	want.BodySM3, want.KeyID = a.crypto.SM3Hex(body), ans.KeyID
	ack, err := a.proto.acceptBatchAck(ans.Body, ans.Status, ans.Header, a.now(), want)
	if err != nil {
		var e *adapters.Error
		if errors.As(err, &e) && e.Status == 0 {
			e.Status = ans.Status
		}
		return nil, nil, nil, err
	}
	return ack, ans.Body, ans.Sig, nil
}

// acceptBatchAck reads the batch acknowledgement in an answer envelope
// (a Fault is classified like a non-2xx fault; anything but a
// DeliverUsageBatchResponse is a permanent ErrMalformedAck) and checks it
// with adapters.CheckBatchAck.
func (p protocol) acceptBatchAck(raw []byte, status int, h http.Header, now time.Time, want adapters.BatchAckExpectation) (*contracts.UsageBatchAck, error) {
	op := OpDeliverUsageBatch + ResponseSuffix
	n, f, err := p.readAnswer(raw, op)
	if err != nil {
		return nil, adapters.Permanent("partner's batch acknowledgement is malformed", fmt.Errorf("%w: %w", adapters.ErrMalformedAck, err))
	}
	if f != nil {
		return nil, f.asError(status, h, now)
	}
	var ack contracts.UsageBatchAck
	if err := p.decode(op, n, &ack); err != nil {
		return nil, adapters.Permanent("partner's batch acknowledgement is malformed", fmt.Errorf("%w: %w", adapters.ErrMalformedAck, err))
	}
	if err := adapters.CheckBatchAck(&ack, want); err != nil {
		return nil, err
	}
	return &ack, nil
}

// request returns the signed call of operation op with envelope body.
func (a *Adapter) request(op string, body []byte, what string) adapters.Request {
	return adapters.Request{
		URL:       a.cfg.Endpoint,
		Body:      body,
		MediaType: ContentType,
		Header:    http.Header{"SOAPAction": {`"` + a.proto.action(op) + `"`}},
		What:      what,
		Statuses:  []int{http.StatusOK},
		Fault:     a.faultHook,
	}
}

// faultHook classifies a 4xx or 5xx answer that holds a SOAP Fault; any
// other answer (redirects included) is left to the shared rules.
func (a *Adapter) faultHook(status int, h http.Header, body []byte) *adapters.Error {
	if status < 400 {
		return nil
	}
	env, err := parseEnvelope(body)
	if err != nil || !env.isFault() {
		return nil
	}
	return a.proto.parseFault(env.body).asError(status, h, a.now())
}

func (a *Adapter) deliver(ctx context.Context, op string, msg any, want adapters.AckExpectation) (*contracts.Ack, []byte, []byte, error) {
	body, err := a.proto.marshal(op, msg)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode "+op+" envelope", err)
	}
	ans, err := a.caller.Do(ctx, a.request(op, body, "acknowledgement"))
	if err != nil {
		return nil, nil, nil, err
	}
	want.BodySM3 = a.crypto.SM3Hex(body)
	want.KeyID = ans.KeyID
	ack, err := a.acceptAck(op, ans, want)
	if err != nil {
		return nil, nil, nil, err
	}
	return ack, ans.Body, ans.Sig, nil
}

// acceptAck reads a signed answer to op and sets the answer's status on
// its error.
func (a *Adapter) acceptAck(op string, ans *adapters.Answer, want adapters.AckExpectation) (*contracts.Ack, error) {
	ack, err := a.proto.acceptAck(op, ans.Body, ans.Status, ans.Header, a.now(), want)
	if err != nil {
		var e *adapters.Error
		if errors.As(err, &e) && e.Status == 0 {
			e.Status = ans.Status
		}
		return nil, err
	}
	return ack, nil
}

// acceptAck reads the signed answer raw to op: a Fault is classified like
// a non-2xx fault, anything but op's response element is a permanent
// ErrMalformedAck, and the acknowledgement decoded from the response must
// pass adapters.CheckAck. Every failure is an *adapters.Error whose reason
// quotes nothing from the answer but a redacted faultstring.
func (p protocol) acceptAck(op string, raw []byte, status int, h http.Header, now time.Time, want adapters.AckExpectation) (*contracts.Ack, error) {
	ack, err := p.parseAck(op, raw, status, h, now)
	if err != nil {
		return nil, err
	}
	if err := checkAck(ack, want); err != nil {
		return nil, err
	}
	return ack, nil
}

// parseAck reads the acknowledgement in an answer envelope to op. Every
// failure is an *adapters.Error: a Fault classified by fault.asError,
// anything else permanent and wrapping ErrMalformedAck.
func (p protocol) parseAck(op string, raw []byte, status int, h http.Header, now time.Time) (*contracts.Ack, error) {
	n, f, err := p.readAnswer(raw, op+ResponseSuffix)
	if err != nil {
		return nil, adapters.Permanent("partner's acknowledgement is malformed", fmt.Errorf("%w: %w", adapters.ErrMalformedAck, err))
	}
	if f != nil {
		return nil, f.asError(status, h, now)
	}
	var ack contracts.Ack
	if err := p.decode(op+ResponseSuffix, n, &ack); err != nil {
		return nil, adapters.Permanent("partner's acknowledgement is malformed", fmt.Errorf("%w: %w", adapters.ErrMalformedAck, err))
	}
	return &ack, nil
}

// checkAck is adapters.CheckAck with reasons that quote nothing from the
// acknowledgement (the shared check quotes the values that differ, which
// may be anything a partner wrote).
func checkAck(ack *contracts.Ack, want adapters.AckExpectation) error {
	err := adapters.CheckAck(ack, want)
	var e *adapters.Error
	if err == nil || !errors.Is(err, adapters.ErrAckMismatch) || !errors.As(err, &e) {
		return err
	}
	switch {
	case ack.ExchangeID != want.ExchangeID:
		e.Reason = "acknowledgement names another exchange than " + want.ExchangeID
	case ack.DeliveryID != "" && ack.DeliveryID != want.DeliveryID:
		e.Reason = "acknowledgement names another delivery than " + want.DeliveryID
	case ack.BodySM3 != want.BodySM3:
		e.Reason = "acknowledgement body_sm3 is not the SM3 of the body sent (" + want.BodySM3 + ")"
	case ack.KeyID != want.KeyID:
		e.Reason = "acknowledgement key_id differs from its Gw-Key-Id"
	default:
		e.Reason = "acknowledgement does not acknowledge the delivery sent"
	}
	return e
}

// LookupLicense sends q as LookupLicense, exactly once, and returns the
// library's verified answer (LookupLicenseResponse), its exact envelope
// bytes and its DER signature. The call is bounded by Params.Timeout and
// by ctx. A Fault is classified like a delivery's; an answer that is not a
// LookupLicenseResponse, lacks found, or does not pass
// adapters.CheckLookupAnswer is a permanent error. Reasons never quote
// personal data from the answer.
func (a *Adapter) LookupLicense(ctx context.Context, q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, []byte, []byte, error) {
	if q == nil {
		return nil, nil, nil, adapters.Permanent("no license lookup", nil)
	}
	if q.ExchangeID == "" {
		return nil, nil, nil, adapters.Permanent("license lookup has no exchange_id", nil)
	}
	body, err := a.proto.marshal(OpLookupLicense, q)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode "+OpLookupLicense+" envelope", err)
	}
	r := a.request(OpLookupLicense, body, "lookup answer")
	r.Once = true
	ans, err := a.caller.Do(ctx, r)
	if err != nil {
		return nil, nil, nil, err
	}
	resp, err := a.proto.acceptLookup(q, ans.Body, ans.Status, ans.Header, a.now())
	if err != nil {
		var e *adapters.Error
		if errors.As(err, &e) && e.Status == 0 {
			e.Status = ans.Status
		}
		return nil, nil, nil, err
	}
	return resp, ans.Body, ans.Sig, nil
}

// acceptLookup reads the lookup answer in an answer envelope and checks
// it answers q (adapters.CheckLookupAnswer). Every failure is an
// *adapters.Error.
func (p protocol) acceptLookup(q *contracts.LicenseLookupRequest, raw []byte, status int, h http.Header, now time.Time) (*contracts.LicenseLookupResponse, error) {
	want := OpLookupLicense + ResponseSuffix
	n, f, err := p.readAnswer(raw, want)
	if err != nil {
		return nil, adapters.Permanent("partner's lookup answer is malformed", fmt.Errorf("%w: %w", adapters.ErrMalformedAck, err))
	}
	if f != nil {
		return nil, f.asError(status, h, now)
	}
	var resp contracts.LicenseLookupResponse
	if err := p.decode(want, n, &resp); err != nil {
		return nil, adapters.Permanent("partner's lookup answer is malformed", fmt.Errorf("%w: %w", adapters.ErrMalformedAck, err))
	}
	if err := adapters.CheckLookupAnswer(q, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
