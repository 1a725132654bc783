package soap

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// PartnerSide is the district's end of the soap style: the SOAP service at
// the configured endpoint that reads the gateway's DeliverCase,
// DeliverStatus, DeliverNotice, DeliverUsage, DeliverUsageBatch and
// LookupLicense calls and answers them, and the client that calls the
// gateway's SubmitCase, ReportStatus, SubmitEvaluation, ReplyToEvaluation
// and SubmitBundle at POST /v1/inbound/{partner_id}. It decodes exactly what the Adapter encodes and
// encodes exactly what the Adapter decodes. It is safe for concurrent use.
type PartnerSide struct {
	partner string
	cfg     Config
	proto   protocol
}

var _ adapters.PartnerSide = (*PartnerSide)(nil)

// outboundOps are the operations the gateway calls on a partner.
var outboundOps = []string{OpDeliverCase, OpDeliverStatus, OpDeliverNotice, OpDeliverUsage, OpDeliverUsageBatch, OpLookupLicense}

// NewPartnerSide returns the partner's end of the style for partner
// partnerID (the id in its inbound path and the caller id its keys are
// registered under), configured by the same block as the partner's
// Adapter and validated by ParseConfig.
func NewPartnerSide(partnerID string, raw json.RawMessage) (*PartnerSide, error) {
	if partnerID == "" {
		return nil, errors.New("partner id is required")
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return &PartnerSide{partner: partnerID, cfg: cfg, proto: cfg.protocol()}, nil
}

// Config returns the config with every default applied.
func (s *PartnerSide) Config() Config { return s.cfg }

// ReadRequest decodes one of the gateway's calls: a POST to the endpoint
// itself (path "" or "/"), text/xml, whose body element is DeliverCase,
// DeliverStatus, DeliverNotice, DeliverUsage, DeliverUsageBatch or
// LookupLicense in the configured
// namespace, with a SOAPAction, when not empty, that names the same
// operation. The body is decoded strictly. Errors never quote values.
func (s *PartnerSide) ReadRequest(path, mediaType, action string, body []byte) (*adapters.Message, error) {
	if path != "" && path != "/" {
		return nil, &contracts.FieldError{Field: "path", Code: contracts.CodeNotFound,
			Message: "no operation at this path; every operation is a POST to the endpoint itself"}
	}
	op, n, err := s.proto.readCall(mediaType, action, body, outboundOps...)
	if err != nil {
		return nil, err
	}
	m := &adapters.Message{}
	switch op {
	case OpDeliverCase:
		m.Case = &contracts.CaseDelivery{}
		err = s.proto.decode(op, n, m.Case)
	case OpDeliverStatus:
		m.Status = &contracts.StatusDelivery{}
		err = s.proto.decode(op, n, m.Status)
	case OpDeliverNotice:
		m.Notice = &contracts.NoticeDelivery{}
		err = s.proto.decode(op, n, m.Notice)
	case OpDeliverUsage:
		m.Usage = &contracts.UsageRecordDelivery{}
		err = s.proto.decode(op, n, m.Usage)
	case OpDeliverUsageBatch:
		m.UsageBatch = &contracts.UsageRecordBatch{}
		err = s.proto.decode(op, n, m.UsageBatch)
	case OpLookupLicense:
		m.Lookup = &contracts.LicenseLookupRequest{}
		err = s.proto.decode(op, n, m.Lookup)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// outboundOp returns the operation that carries m.
func outboundOp(m *adapters.Message) (string, error) {
	switch m.Kind() {
	case "case":
		return OpDeliverCase, nil
	case "status":
		return OpDeliverStatus, nil
	case string(contracts.DeliveryKindNotice):
		return OpDeliverNotice, nil
	case string(contracts.DeliveryKindUsageRecord):
		return OpDeliverUsage, nil
	case "lookup":
		return OpLookupLicense, nil
	case adapters.KindUsageBatch:
		return OpDeliverUsageBatch, nil
	}
	return "", errors.New("no message")
}

// WriteAck renders ack as the response envelope of m's operation
// (DeliverCaseResponse, DeliverStatusResponse, DeliverNoticeResponse or
// DeliverUsageResponse) and
// returns it with ContentType. The partner signs the bytes and sends them
// with HTTP 200.
func (s *PartnerSide) WriteAck(m *adapters.Message, ack *contracts.Ack) ([]byte, string, error) {
	op, err := outboundOp(m)
	if err != nil {
		return nil, "", err
	}
	if op == OpLookupLicense || op == OpDeliverUsageBatch {
		return nil, "", fmt.Errorf("a %s call is not answered with an acknowledgement of one delivery", op)
	}
	if ack == nil {
		return nil, "", errors.New("no acknowledgement")
	}
	b, err := s.proto.marshal(op+ResponseSuffix, ack)
	if err != nil {
		return nil, "", err
	}
	return b, ContentType, nil
}

// WriteBatchAck renders ack as a DeliverUsageBatchResponse envelope and
// returns it with ContentType. The partner signs the bytes and sends them
// with HTTP 200.
func (s *PartnerSide) WriteBatchAck(m *adapters.Message, ack *contracts.UsageBatchAck) ([]byte, string, error) {
	op, err := outboundOp(m)
	if err != nil {
		return nil, "", err
	}
	if op != OpDeliverUsageBatch {
		return nil, "", fmt.Errorf("a %s call is not answered with a batch acknowledgement", op)
	}
	if ack == nil {
		return nil, "", errors.New("no batch acknowledgement")
	}
	b, err := s.proto.marshal(op+ResponseSuffix, ack)
	if err != nil {
		return nil, "", err
	}
	return b, ContentType, nil
}

// WriteLookupAnswer renders resp as a LookupLicenseResponse envelope and
// returns it with ContentType. The library signs the bytes and sends them
// with HTTP 200.
func (s *PartnerSide) WriteLookupAnswer(m *adapters.Message, resp *contracts.LicenseLookupResponse) ([]byte, string, error) {
	op, err := outboundOp(m)
	if err != nil {
		return nil, "", err
	}
	if op != OpLookupLicense {
		return nil, "", fmt.Errorf("a %s call is answered with an acknowledgement, not a lookup answer", op)
	}
	if resp == nil {
		return nil, "", errors.New("no lookup answer")
	}
	b, err := s.proto.marshal(op+ResponseSuffix, resp)
	if err != nil {
		return nil, "", err
	}
	return b, ContentType, nil
}

// WriteError renders the partner's refusal of a call as a SOAP 1.1 Fault
// and returns it with ContentType and HTTP status 500, as SOAP 1.1
// prescribes: faultcode soap:Server when status is 5xx, 408 or 429 (the
// gateway retries), soap:Client otherwise (the delivery is dead at once);
// faultstring msg; and a detail entry ExchangeFault carrying code, status
// and retryable. m may be nil. It never fails.
func (s *PartnerSide) WriteError(_ *adapters.Message, status int, code contracts.Code, msg string) ([]byte, string, int) {
	return s.proto.marshalFault(status, code, msg, ""), ContentType, http.StatusInternalServerError
}

// Call renders a case submission as a SubmitCase envelope, a status update
// as a ReportStatus envelope, an evaluation as a SubmitEvaluation
// envelope, a follow-up reply as a ReplyToEvaluation envelope and a
// bundle as a SubmitBundle envelope, each POSTed to
// /v1/inbound/{partner_id} as text/xml with the operation's SOAPAction.
func (s *PartnerSide) Call(c *contracts.InboundCall) (*adapters.PartnerCall, error) {
	var (
		op  string
		msg any
	)
	switch {
	case c == nil:
		return nil, errors.New("no call")
	case c.Kind == contracts.InboundCase && c.Submission != nil:
		op, msg = OpSubmitCase, c.Submission
	case c.Kind == contracts.InboundStatus && c.Update != nil:
		op, msg = OpReportStatus, c.Update
	case c.Kind == contracts.InboundEvaluation && c.Evaluation != nil:
		op, msg = OpSubmitEvaluation, c.Evaluation
	case c.Kind == contracts.InboundReply && c.Reply != nil:
		op, msg = OpReplyToEvaluation, c.Reply
	case c.Kind == contracts.InboundBundle && c.Bundle != nil:
		op, msg = OpSubmitBundle, c.Bundle
	default:
		return nil, fmt.Errorf("call of kind %q carries no message of that kind", c.Kind)
	}
	b, err := s.proto.marshal(op, msg)
	if err != nil {
		return nil, err
	}
	return &adapters.PartnerCall{
		Path:      "/v1/inbound/" + url.PathEscape(s.partner),
		MediaType: ContentType,
		Action:    s.proto.action(op),
		Body:      b,
	}, nil
}

// ReadReceipt decodes the gateway's answer to a Call: the response
// envelope of one of the inbound operations (SubmitCaseResponse,
// ReportStatusResponse, SubmitEvaluationResponse,
// ReplyToEvaluationResponse, SubmitBundleResponse), strictly, into a
// receipt. A Fault is an
// error carrying its contract code.
func (s *PartnerSide) ReadReceipt(mediaType string, body []byte) (*contracts.Receipt, error) {
	if err := checkMediaType(mediaType); err != nil {
		return nil, err
	}
	env, err := parseEnvelope(body)
	if err != nil {
		return nil, err
	}
	if env.isFault() {
		f := s.proto.parseFault(env.body)
		e := &contracts.Error{Code: contracts.CodeInternal, Message: adapters.PartnerText(f.text, 200)}
		if f.detail != nil && f.detail.Code != "" {
			e.Code = contracts.Code(adapters.PartnerCode(string(f.detail.Code), 64))
			e.RequestID = adapters.PartnerCode(f.detail.RequestID, 64)
		}
		return nil, fmt.Errorf("gateway answered a SOAP fault: %w", e)
	}
	n := env.body
	var op string
	for _, o := range inboundOps {
		if n.name.Space == s.proto.ns && n.name.Local == o+ResponseSuffix {
			op = o
		}
	}
	if op == "" {
		return nil, invalid("Body", "holds"+quoteName(n.name.Local)+" where the response of an inbound operation (SubmitCaseResponse, ...) is expected")
	}
	var r contracts.Receipt
	if err := s.proto.decode(op+ResponseSuffix, n, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
