package mappedjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/port"
)

// Name is the name the style is registered under.
const Name = "mapped-json"

// MediaType is the media type of every body of the style.
const MediaType = "application/json"

// maxReasonText bounds partner text quoted in an error's reason.
const maxReasonText = 200

func init() {
	adapters.Register(adapters.Style{
		Name:    Name,
		Summary: "a district's own REST/JSON (pinyin field names, code tables, date formats, result envelope), mapped by configuration alone",
		Capabilities: []adapters.Capability{
			adapters.CapCaseDelivery, adapters.CapStatusDelivery, adapters.CapInbound,
			adapters.CapLicenseLookup, adapters.CapUsageRecords,
		},
		Factory: adapters.FactoryOf(New),
	})
}

// Adapter speaks one partner's own JSON as its mapped-json config
// declares. It is safe for concurrent use.
type Adapter struct {
	partner string
	spec    *spec
	crypto  adapters.Crypto
	caller  *adapters.Caller
	now     func() time.Time
}

// New builds the adapter for the partner p describes, decoding and
// validating p.Config with ParseConfig. Its errors name the offending
// config field.
func New(p adapters.Params) (*Adapter, error) {
	p, err := p.WithDefaults()
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(p.Config)
	if err != nil {
		return nil, err
	}
	c, err := adapters.NewCaller(p, cfg.spec.maxRetries)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &Adapter{partner: p.PartnerID, spec: cfg.spec, crypto: p.Crypto, caller: c, now: time.Now}, nil
}

// Style returns "mapped-json".
func (a *Adapter) Style() string { return Name }

// Endpoint returns the partner's base URL as configured (no trailing
// slash), "" when only inbound calls are configured.
func (a *Adapter) Endpoint() string { return a.spec.endpoint }

// Has reports whether the partner's config enables capability c: each
// outbound capability when its operation is configured, inbound when the
// inbound block is.
func (a *Adapter) Has(c adapters.Capability) bool {
	switch c {
	case adapters.CapCaseDelivery:
		return a.spec.caseOp != nil
	case adapters.CapStatusDelivery:
		return a.spec.statusOp != nil
	case adapters.CapUsageRecords:
		return a.spec.usageOp != nil
	case adapters.CapLicenseLookup:
		return a.spec.lookupOp != nil
	case adapters.CapInbound:
		return a.spec.inbound != nil
	}
	return false
}

// BatchesUsage reports whether the partner's config passes usage records
// in batches (usage_batch_delivery; adapters.UsageBatchSwitch).
func (a *Adapter) BatchesUsage() bool { return a.spec.batchOp != nil }

// DeliversNotices reports whether the partner's config pushes notices
// (notice_delivery; adapters.NoticeSwitch): the adapter's type is a
// port.NoticeDeliverer, whose DeliverNotice fails permanently without
// that operation.
func (a *Adapter) DeliversNotices() bool { return a.spec.noticeOp != nil }

// Close releases idle connections. The adapter stays usable.
func (a *Adapter) Close() error { return a.caller.Close() }

// DeliverCase POSTs d, in the partner's JSON, to {endpoint}{case_delivery.path}
// and returns the partner's verified acknowledgement in contract terms, the
// exact bytes of its answer and its DER signature. A part of a bundle
// whose bundle the mapping does not carry whole fails permanently, sending
// nothing (CheckCase refuses it at submission). Every failure is an
// *adapters.Error (see the package documentation for the classification).
func (a *Adapter) DeliverCase(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no case delivery", nil)
	}
	if op := a.spec.caseOp; op != nil {
		// A part of a bundle the mapping cannot carry whole (CheckCase).
		var fe *contracts.FieldError
		if err := carriesBundle(op.request, d.Bundle); errors.As(err, &fe) {
			return nil, nil, nil, adapters.Permanent("case_delivery mapping does not carry "+fe.Field+" of the part of a bundle", nil)
		}
	}
	return a.deliver(ctx, a.spec.caseOp, d, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, Case: true,
	})
}

// DeliverStatus POSTs d, in the partner's JSON, to
// {endpoint}{status_delivery.path} and returns the partner's verified
// acknowledgement, its exact bytes and its DER signature, with the rules of
// DeliverCase.
func (a *Adapter) DeliverStatus(ctx context.Context, d *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no status delivery", nil)
	}
	return a.deliver(ctx, a.spec.statusOp, d, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID,
	})
}

// DeliverNotice POSTs d, in the partner's JSON, to
// {endpoint}{notice_delivery.path} (port.NoticeDeliverer) and returns the
// partner's verified acknowledgement, its exact bytes and its DER
// signature, with the rules of DeliverStatus: the same exchange (and
// delivery, when named), the SM3 of the body sent, the key that signed.
func (a *Adapter) DeliverNotice(ctx context.Context, d *contracts.NoticeDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no notice delivery", nil)
	}
	return a.deliver(ctx, a.spec.noticeOp, d, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID,
	})
}

// DeliverUsage POSTs d, in the partner's JSON, to
// {endpoint}{usage_delivery.path} (用证记录回传) and returns the partner's
// verified acknowledgement, its exact bytes and its DER signature, with the
// rules of DeliverCase.
func (a *Adapter) DeliverUsage(ctx context.Context, d *contracts.UsageRecordDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no usage record delivery", nil)
	}
	return a.deliver(ctx, a.spec.usageOp, d, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID,
	})
}

// DeliverUsageBatch POSTs b, in the partner's JSON, to
// {endpoint}{usage_batch_delivery.path} and returns the partner's verified
// batch acknowledgement in contract terms, the exact bytes of its answer
// and its DER signature: its envelope (a code other than success is a
// refusal, retryable when listed), then strictly the acknowledgement its
// data maps to, completed with body_sm3 (when the partner's format has
// none) and the key id that signed it, checked with
// adapters.CheckBatchAck. Every failure is an *adapters.Error.
func (a *Adapter) DeliverUsageBatch(ctx context.Context, b *contracts.UsageRecordBatch) (*contracts.UsageBatchAck, []byte, []byte, error) {
	op := a.spec.batchOp
	if op == nil {
		return nil, nil, nil, adapters.Permanent("the partner's mapped-json config has no usage_batch_delivery", nil)
	}
	if err := adapters.CheckBatch(b); err != nil {
		return nil, nil, nil, err
	}
	body, err := op.request.encodeBytes(b)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode "+op.name+" request: "+err.Error(), nil)
	}
	ans, err := a.caller.Do(ctx, adapters.Request{URL: a.spec.endpoint + op.path, Body: body, What: "batch acknowledgement", Fault: op.fault})
	if err != nil {
		return nil, nil, nil, err
	}
	want := adapters.BatchExpectation(b)
	want.BodySM3, want.KeyID = a.crypto.SM3Hex(body), ans.KeyID
	data, err := a.openAnswer(op, ans.Body, ans.Header, "batch acknowledgement")
	if err != nil {
		return nil, nil, nil, withStatus(err, ans.Status)
	}
	var ack contracts.UsageBatchAck
	if err := op.answer.decodeInto(data, op.env.dataPath(), &ack); err != nil {
		return nil, nil, nil, withStatus(malformed("batch acknowledgement", err), ans.Status)
	}
	if !op.mapsBodySM3 {
		ack.BodySM3 = want.BodySM3
	}
	ack.KeyID = want.KeyID
	if ack.BodySM3 != want.BodySM3 {
		// Reported without quoting what the partner wrote.
		return nil, nil, nil, withStatus(adapters.Permanent("batch acknowledgement body_sm3 is not the SM3 of the body sent ("+want.BodySM3+")", adapters.ErrAckMismatch), ans.Status)
	}
	if err := adapters.CheckBatchAck(&ack, want); err != nil {
		return nil, nil, nil, withStatus(err, ans.Status)
	}
	return &ack, ans.Body, ans.Sig, nil
}

func (a *Adapter) deliver(ctx context.Context, op *outOp, msg any, want adapters.AckExpectation) (*contracts.Ack, []byte, []byte, error) {
	if op == nil {
		return nil, nil, nil, adapters.Permanent("the partner's mapped-json config has no such delivery operation", nil)
	}
	body, err := op.request.encodeBytes(msg)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode "+op.name+" request: "+err.Error(), nil)
	}
	ans, err := a.caller.Do(ctx, adapters.Request{URL: a.spec.endpoint + op.path, Body: body, What: "acknowledgement", Fault: op.fault})
	if err != nil {
		return nil, nil, nil, err
	}
	want.BodySM3 = a.crypto.SM3Hex(body)
	want.KeyID = ans.KeyID
	ack, err := a.acceptAck(op, ans.Body, ans.Header, want)
	if err != nil {
		return nil, nil, nil, withStatus(err, ans.Status)
	}
	return ack, ans.Body, ans.Sig, nil
}

// acceptAck reads a partner's signed answer to a delivery: its envelope
// (a code other than success is a refusal, retryable when listed), then
// strictly the acknowledgement its data maps to, completed with body_sm3
// (when the partner's format has none) and the key id that signed it, and
// checks it with adapters.CheckAck. Every failure is an *adapters.Error.
func (a *Adapter) acceptAck(op *outOp, raw []byte, h http.Header, want adapters.AckExpectation) (*contracts.Ack, error) {
	data, err := a.openAnswer(op, raw, h, "acknowledgement")
	if err != nil {
		return nil, err
	}
	var ack contracts.Ack
	if err := op.answer.decodeInto(data, op.env.dataPath(), &ack); err != nil {
		return nil, malformed("acknowledgement", err)
	}
	if !op.mapsBodySM3 {
		ack.BodySM3 = want.BodySM3
	}
	ack.KeyID = want.KeyID
	// Mismatches of fields the partner writes, reported without quoting
	// them (CheckAck would quote them, and they are the partner's text).
	switch {
	case ack.DeliveryID != "" && ack.DeliveryID != want.DeliveryID:
		return nil, adapters.Permanent("acknowledgement names another delivery than "+want.DeliveryID, adapters.ErrAckMismatch)
	case op.mapsBodySM3 && ack.BodySM3 != "" && ack.BodySM3 != want.BodySM3:
		return nil, adapters.Permanent("acknowledgement body_sm3 is not the SM3 of the body sent ("+want.BodySM3+")", adapters.ErrAckMismatch)
	}
	if err := adapters.CheckAck(&ack, want); err != nil {
		return nil, err
	}
	return &ack, nil
}

// openAnswer reads an answer's envelope and returns what its mapping
// reads, or the classified refusal.
func (a *Adapter) openAnswer(op *outOp, raw []byte, h http.Header, what string) (any, error) {
	ans, err := op.env.read(raw)
	if err != nil {
		return nil, malformed(what, err)
	}
	if !op.env.isSuccess(ans.code) {
		return nil, a.refusal(op.env, ans, h)
	}
	data, err := op.env.payload(ans)
	if err != nil {
		return nil, malformed(what, err)
	}
	return data, nil
}

// refusal classifies an answer whose result code is not a success code:
// retryable when the envelope lists it (honouring Retry-After), else
// permanent, with the partner's code and message in the reason.
func (a *Adapter) refusal(env *envelope, ans *answer, h http.Header) *adapters.Error {
	reason := "partner answered result code " + adapters.PartnerCode(ans.code, maxCodeLen)
	msg := adapters.PartnerText(ans.message, maxReasonText)
	if env.isRetryable(ans.code) {
		e := adapters.Retryable(reason, nil)
		e.PartnerMessage = msg
		if h != nil {
			if d, ok := adapters.ParseRetryAfter(h.Get("Retry-After"), a.now()); ok {
				e.After = d
			}
		}
		return e
	}
	e := adapters.Permanent(reason, nil)
	e.PartnerMessage = msg
	return e
}

// fault classifies a non-2xx answer with the shared rules (5xx, 408 and
// 429 retryable, honouring Retry-After; everything else permanent) and,
// when the body is the partner's envelope, adds its result code and
// message to the reason.
func (op *outOp) fault(status int, h http.Header, body []byte) *adapters.Error {
	ans, err := op.env.read(body)
	if err != nil {
		return nil // not the envelope: the shared rules, as they are
	}
	var e *adapters.Error
	if !errors.As(adapters.ClassifyAnswer(status, h, nil), &e) {
		return nil
	}
	e.Reason += ", result code " + adapters.PartnerCode(ans.code, maxCodeLen)
	e.PartnerMessage = adapters.PartnerText(ans.message, maxReasonText)
	return e
}

// malformed is the permanent error of an answer that does not read; the
// problem (which never quotes the answer) is in the reason operators see.
func malformed(what string, err error) *adapters.Error {
	return adapters.Permanent("partner's "+what+" is malformed: "+err.Error(), adapters.ErrMalformedAck)
}

// LookupLicense POSTs q, in the partner's JSON, to
// {endpoint}{license_lookup.path}, once, and returns the library's verified
// answer in contract terms, its exact bytes and its DER signature. The call
// is bounded by Params.Timeout and by ctx and never retried. A found
// license has passed contracts.LicenseRecord.Validate and is the license q
// names (adapters.CheckLookupAnswer). Every failure is an *adapters.Error
// whose reason quotes no personal data.
func (a *Adapter) LookupLicense(ctx context.Context, q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, []byte, []byte, error) {
	op := a.spec.lookupOp
	switch {
	case q == nil:
		return nil, nil, nil, adapters.Permanent("no license lookup", nil)
	case op == nil:
		return nil, nil, nil, adapters.Permanent("the partner's mapped-json config has no license_lookup", nil)
	case q.ExchangeID == "":
		return nil, nil, nil, adapters.Permanent("license lookup has no exchange_id", nil)
	}
	body, err := op.request.encodeBytes(q)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode license_lookup request: "+err.Error(), nil)
	}
	ans, err := a.caller.Do(ctx, adapters.Request{
		URL: a.spec.endpoint + op.path, Body: body, Once: true, What: "lookup answer",
		Statuses: []int{http.StatusOK}, Fault: op.fault,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	resp, err := a.acceptLookup(op, ans.Body, ans.Header, q)
	if err != nil {
		return nil, nil, nil, withStatus(err, ans.Status)
	}
	return resp, ans.Body, ans.Sig, nil
}

// acceptLookup reads a library's signed answer: its envelope, then
// strictly the LicenseLookupResponse its data maps to (found, when the
// partner's format has no such flag, is whether a license is present), and
// checks it with adapters.CheckLookupAnswer.
func (a *Adapter) acceptLookup(op *outOp, raw []byte, h http.Header, q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, error) {
	data, err := a.openAnswer(op, raw, h, "lookup answer")
	if err != nil {
		return nil, err
	}
	var resp contracts.LicenseLookupResponse
	if err := op.answer.decodeInto(data, op.env.dataPath(), &resp); err != nil {
		return nil, malformed("lookup answer", err)
	}
	if !op.mapsFound {
		resp.Found = resp.License != nil
	}
	if err := adapters.CheckLookupAnswer(q, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// withStatus sets the partner's HTTP status on an *adapters.Error.
func withStatus(err error, status int) error {
	var e *adapters.Error
	if errors.As(err, &e) && e.Status == 0 {
		e.Status = status
	}
	return err
}

// ---- inbound ----

// DecodeCall reads a partner's call to POST /v1/inbound/{partner_id}/{operation}:
// the operation names a configured case submission, status update,
// evaluation, follow-up reply or bundle, the body must be application/json
// and is read strictly with the operation's mapping. A call it cannot read fails with a *contracts.FieldError whose
// Field is the partner's field path (unsupported_media_type, not_found for
// an unknown operation, invalid_json, validation_failed); messages never
// quote values.
func (a *Adapter) DecodeCall(call *contracts.NativeCall) (*contracts.InboundCall, error) {
	ib := a.spec.inbound
	switch {
	case call == nil:
		return nil, &contracts.FieldError{Code: contracts.CodeBadRequest, Message: "no call"}
	case ib == nil:
		return nil, &contracts.FieldError{Code: contracts.CodeNotFound, Message: "the partner's mapped-json config takes no inbound calls"}
	case call.MediaType != MediaType:
		return nil, &contracts.FieldError{Code: contracts.CodeUnsupportedMedia, Message: "body must be application/json"}
	}
	var op *inOp
	for _, o := range ib.ops() {
		if o.name == call.Operation {
			op = o
		}
	}
	if op == nil {
		return nil, &contracts.FieldError{Code: contracts.CodeNotFound, Message: "no inbound operation of that name is configured"}
	}
	pv, err := parseJSON(call.Body, MaxDepth)
	if err != nil {
		return nil, &contracts.FieldError{Code: contracts.CodeInvalidJSON, Message: err.Error()}
	}
	out := &contracts.InboundCall{Kind: op.kind, Operation: op.name}
	var dst any
	switch op.kind {
	case contracts.InboundCase:
		out.Submission = &contracts.CaseSubmission{}
		dst = out.Submission
	case contracts.InboundStatus:
		out.Update = &contracts.StatusUpdate{}
		dst = out.Update
	case contracts.InboundEvaluation:
		out.Evaluation = &contracts.EvaluationSubmission{}
		dst = out.Evaluation
	case contracts.InboundReply:
		out.Reply = &contracts.EvaluationReply{}
		dst = out.Reply
	case contracts.InboundBundle:
		out.Bundle = &contracts.BundleSubmission{}
		dst = out.Bundle
	}
	if err := op.request.decodeInto(pv, "", dst); err != nil {
		return nil, err
	}
	return out, nil
}

// EncodeReceipt renders r in the partner's envelope: the first success
// code, the success message, and the receipt mapping as data (for a
// bundle, with its parts' cases as the mapping's parts). The media
// type is application/json.
func (a *Adapter) EncodeReceipt(call *contracts.InboundCall, r *contracts.Receipt) ([]byte, string, error) {
	ib := a.spec.inbound
	if ib == nil {
		return nil, "", errors.New("mapped-json: the partner's config takes no inbound calls")
	}
	if r == nil {
		return nil, "", errors.New("mapped-json: no receipt")
	}
	data, err := ib.receipt.encode(r)
	if err != nil {
		return nil, "", fmt.Errorf("mapped-json: encode receipt: %w", err)
	}
	b, err := ib.env.render(ib.env.success[0], ib.env.successMessage, "", data)
	if err != nil {
		return nil, "", fmt.Errorf("mapped-json: encode receipt: %w", err)
	}
	return b, MediaType, nil
}

// EncodeError renders a refusal in the partner's envelope: the partner's
// code for e.Code (the error_codes table, its "*" default, or the contract
// code itself), e's message and request id, and no data. The HTTP status is
// status unchanged; the media type is application/json.
func (a *Adapter) EncodeError(call *contracts.InboundCall, e *contracts.Error, status int) ([]byte, string, int) {
	env := a.spec.env
	if a.spec.inbound != nil {
		env = a.spec.inbound.env
	}
	if e == nil {
		e = &contracts.Error{Code: contracts.CodeInternal, Message: "internal error"}
	}
	b, err := env.render(env.errorCode(e.Code), e.Message, e.RequestID, nil)
	if err != nil {
		// The envelope's own fields cannot collide; keep a body anyway.
		b, _ = json.Marshal(map[string]string{"code": string(e.Code), "message": e.Message})
	}
	return b, MediaType, status
}

// Compile-time guards: the port, and the optional capabilities.
var (
	_ adapters.Adapter             = (*Adapter)(nil)
	_ adapters.CaseDeliverer       = (*Adapter)(nil)
	_ adapters.StatusDeliverer     = (*Adapter)(nil)
	_ adapters.Translator          = (*Adapter)(nil)
	_ adapters.LicenseSource       = (*Adapter)(nil)
	_ adapters.UsageDeliverer      = (*Adapter)(nil)
	_ adapters.UsageBatchDeliverer = (*Adapter)(nil)
	_ adapters.UsageBatchSwitch    = (*Adapter)(nil)
	_ port.NoticeDeliverer         = (*Adapter)(nil)
	_ adapters.CapabilitySet       = (*Adapter)(nil)
	_ io.Closer                    = (*Adapter)(nil)
)
