package mappedjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// PartnerSide is the district's end of a mapped-json config: how a district
// system whose JSON the config describes reads the gateway's calls and
// answers them, and how it calls the gateway. It is built from the same
// config block as the partner's Adapter, so each decodes exactly what the
// other encodes. It is safe for concurrent use.
type PartnerSide struct {
	partnerID string
	spec      *spec
}

var _ adapters.PartnerSide = (*PartnerSide)(nil)

// NewPartnerSide builds the partner side of the config raw for the partner
// partnerID (the id its calls carry in /v1/inbound/{partner_id}/...). raw
// is validated as ParseConfig does.
func NewPartnerSide(partnerID string, raw json.RawMessage) (*PartnerSide, error) {
	if partnerID == "" {
		return nil, errors.New("mapped-json partner side: partner id is required")
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return &PartnerSide{partnerID: partnerID, spec: cfg.spec}, nil
}

// ReadRequest decodes one of the gateway's calls by its path (the path of a
// configured outbound operation) strictly with that operation's request
// mapping. The media type must be application/json; the action is ignored.
// An unknown path, or a body that is not the operation's message, is an
// error (a *contracts.FieldError naming the partner's field where there is
// one) that quotes no value.
func (p *PartnerSide) ReadRequest(path, mediaType, _ string, body []byte) (*adapters.Message, error) {
	if mediaType != MediaType {
		return nil, &contracts.FieldError{Code: contracts.CodeUnsupportedMedia, Message: "body must be application/json"}
	}
	op, ok := p.spec.byPath[path]
	if !ok {
		return nil, &contracts.FieldError{Code: contracts.CodeNotFound, Message: "no operation is configured at that path"}
	}
	pv, err := parseJSON(body, MaxDepth)
	if err != nil {
		return nil, &contracts.FieldError{Code: contracts.CodeInvalidJSON, Message: err.Error()}
	}
	m := &adapters.Message{}
	var dst any
	switch op.kind {
	case "case":
		m.Case = &contracts.CaseDelivery{}
		dst = m.Case
	case "status":
		m.Status = &contracts.StatusDelivery{}
		dst = m.Status
	case "notice":
		m.Notice = &contracts.NoticeDelivery{}
		dst = m.Notice
	case "usage":
		m.Usage = &contracts.UsageRecordDelivery{}
		dst = m.Usage
	case "usage_batch":
		m.UsageBatch = &contracts.UsageRecordBatch{}
		dst = m.UsageBatch
	default:
		m.Lookup = &contracts.LicenseLookupRequest{}
		dst = m.Lookup
	}
	if err := op.request.decodeInto(pv, "", dst); err != nil {
		return nil, err
	}
	return m, nil
}

// opFor returns the operation that carries m.
func (p *PartnerSide) opFor(m *adapters.Message) *outOp {
	switch m.Kind() {
	case "case":
		return p.spec.caseOp
	case "status":
		return p.spec.statusOp
	case string(contracts.DeliveryKindNotice):
		return p.spec.noticeOp
	case string(contracts.DeliveryKindUsageRecord):
		return p.spec.usageOp
	case "lookup":
		return p.spec.lookupOp
	case adapters.KindUsageBatch:
		return p.spec.batchOp
	}
	return nil
}

// WriteAck renders ack in the operation's envelope with its first success
// code and the ack mapping as data. key_id is never written (the adapter
// takes it from Gw-Key-Id), nor body_sm3 when the mapping leaves it out.
func (p *PartnerSide) WriteAck(m *adapters.Message, ack *contracts.Ack) ([]byte, string, error) {
	op := p.opFor(m)
	if op == nil || op.kind == "lookup" || op.kind == "usage_batch" {
		return nil, "", errors.New("mapped-json partner side: acknowledgements answer configured case, status, notice and usage deliveries")
	}
	if ack == nil {
		return nil, "", errors.New("mapped-json partner side: no acknowledgement")
	}
	return p.writeAnswer(op, ack)
}

// WriteBatchAck renders ack, the acknowledgement of a batch of usage
// records, in the usage_batch_delivery envelope with its first success
// code and the ack mapping as data. key_id is never written, nor body_sm3
// when the mapping leaves it out.
func (p *PartnerSide) WriteBatchAck(m *adapters.Message, ack *contracts.UsageBatchAck) ([]byte, string, error) {
	op := p.opFor(m)
	if op == nil || op.kind != "usage_batch" {
		return nil, "", errors.New("mapped-json partner side: batch acknowledgements answer a configured usage_batch_delivery")
	}
	if ack == nil {
		return nil, "", errors.New("mapped-json partner side: no batch acknowledgement")
	}
	return p.writeAnswer(op, ack)
}

// WriteLookupAnswer renders resp in the lookup's envelope with its first
// success code and the answer mapping as data.
func (p *PartnerSide) WriteLookupAnswer(m *adapters.Message, resp *contracts.LicenseLookupResponse) ([]byte, string, error) {
	op := p.opFor(m)
	if op == nil || op.kind != "lookup" {
		return nil, "", errors.New("mapped-json partner side: lookup answers answer a configured license lookup")
	}
	if resp == nil {
		return nil, "", errors.New("mapped-json partner side: no lookup answer")
	}
	return p.writeAnswer(op, resp)
}

func (p *PartnerSide) writeAnswer(op *outOp, v any) ([]byte, string, error) {
	data, err := op.answer.encode(v)
	if err != nil {
		return nil, "", fmt.Errorf("mapped-json partner side: encode %s answer: %w", op.name, err)
	}
	b, err := op.env.render(op.env.success[0], op.env.successMessage, "", data)
	if err != nil {
		return nil, "", fmt.Errorf("mapped-json partner side: encode %s answer: %w", op.name, err)
	}
	return b, MediaType, nil
}

// WriteError renders a refusal in the envelope of m's operation (the
// config's envelope when m is nil) with the HTTP status as given: for
// status 429 or 5xx a code the adapter classifies retryable (the partner's
// code for the contract code when it is a retryable one, else the first
// retryable code), otherwise one it classifies permanent.
func (p *PartnerSide) WriteError(m *adapters.Message, status int, code contracts.Code, msg string) ([]byte, string, int) {
	env := p.spec.env
	if op := p.opFor(m); op != nil {
		env = op.env
	}
	pc := env.errorCode(code)
	if status >= 500 || status == http.StatusTooManyRequests {
		if !env.isRetryable(pc) && len(env.retryable) > 0 {
			pc = env.retryable[0]
		}
	} else if env.isRetryable(pc) || env.isSuccess(pc) {
		pc = env.permanentCode
	}
	b, err := env.render(pc, msg, "", nil)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"code": pc, "message": msg})
	}
	return b, MediaType, status
}

// Call renders the partner's call that carries c: a case submission, a
// status update, an evaluation, a follow-up reply or a bundle, encoded
// with the configured inbound mapping of its kind, to POST
// /v1/inbound/{partner_id}/{operation} as application/json.
func (p *PartnerSide) Call(c *contracts.InboundCall) (*adapters.PartnerCall, error) {
	ib := p.spec.inbound
	if ib == nil {
		return nil, errors.New("mapped-json partner side: the config has no inbound operations")
	}
	if c == nil {
		return nil, errors.New("mapped-json partner side: no call")
	}
	var msg any
	switch {
	case c.Kind == contracts.InboundCase && c.Submission != nil:
		msg = c.Submission
	case c.Kind == contracts.InboundStatus && c.Update != nil:
		msg = c.Update
	case c.Kind == contracts.InboundEvaluation && c.Evaluation != nil:
		msg = c.Evaluation
	case c.Kind == contracts.InboundReply && c.Reply != nil:
		msg = c.Reply
	case c.Kind == contracts.InboundBundle && c.Bundle != nil:
		msg = c.Bundle
	default:
		return nil, fmt.Errorf("mapped-json partner side: call of kind %q carries no message of that kind", c.Kind)
	}
	op := ib.opOf(c.Kind)
	if op == nil {
		return nil, fmt.Errorf("mapped-json partner side: the config has no inbound operation for %s calls", c.Kind)
	}
	body, err := op.request.encodeBytes(msg)
	if err != nil {
		return nil, fmt.Errorf("mapped-json partner side: encode %s call: %w", c.Kind, err)
	}
	return &adapters.PartnerCall{
		Path:      "/v1/inbound/" + url.PathEscape(p.partnerID) + "/" + op.name,
		MediaType: MediaType,
		Body:      body,
	}, nil
}

// ReadReceipt decodes the gateway's receipt: application/json, a success
// code in the envelope, and the receipt mapping's data read strictly.
func (p *PartnerSide) ReadReceipt(mediaType string, body []byte) (*contracts.Receipt, error) {
	ib := p.spec.inbound
	if ib == nil {
		return nil, errors.New("mapped-json partner side: the config has no inbound operations")
	}
	if mediaType != MediaType {
		return nil, errors.New("mapped-json partner side: receipt is not application/json")
	}
	ans, err := ib.env.read(body)
	if err != nil {
		return nil, fmt.Errorf("mapped-json partner side: receipt: %w", err)
	}
	if !ib.env.isSuccess(ans.code) {
		return nil, fmt.Errorf("mapped-json partner side: receipt has result code %s, not a success code", adapters.PartnerCode(ans.code, maxCodeLen))
	}
	data, err := ib.env.payload(ans)
	if err != nil {
		return nil, fmt.Errorf("mapped-json partner side: receipt: %w", err)
	}
	var r contracts.Receipt
	if err := ib.receipt.decodeInto(data, ib.env.dataPath(), &r); err != nil {
		return nil, fmt.Errorf("mapped-json partner side: receipt: %w", err)
	}
	return &r, nil
}
