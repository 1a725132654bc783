package soap

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tongban/tongban/contracts"
)

// inboundOps are the operations a partner calls on the gateway.
var inboundOps = []string{OpSubmitCase, OpReportStatus, OpSubmitEvaluation, OpReplyToEvaluation, OpSubmitBundle}

// inboundKinds names the kind of call each inbound operation carries.
var inboundKinds = map[string]contracts.InboundKind{
	OpSubmitCase:        contracts.InboundCase,
	OpReportStatus:      contracts.InboundStatus,
	OpSubmitEvaluation:  contracts.InboundEvaluation,
	OpReplyToEvaluation: contracts.InboundReply,
	OpSubmitBundle:      contracts.InboundBundle,
}

// DecodeCall reads a partner's SOAP call to POST /v1/inbound/{partner_id}:
// a SubmitCase (a contracts.CaseSubmission), a ReportStatus (a
// contracts.StatusUpdate), a SubmitEvaluation (a
// contracts.EvaluationSubmission), a ReplyToEvaluation (a
// contracts.EvaluationReply) or a SubmitBundle (a
// contracts.BundleSubmission). The operation is the body's element, in the
// configured namespace; a SOAPAction, when present, must name the same
// operation, and so must call.Operation (a path segment after the partner
// id), when not empty. The body is decoded strictly (see the package
// documentation). Failures are *contracts.FieldError values whose Field
// is the element path (for example "applicant.id_number") or the part of
// the call at fault ("Content-Type", "SOAPAction", "Envelope", "Body",
// "Header") and whose Code is unsupported_media_type, bad_request,
// invalid_json (not the XML it should be) or validation_failed (a
// required element is missing); no message quotes a value from the body.
// The content is not validated here: the gateway validates the contract
// values it returns.
func (a *Adapter) DecodeCall(call *contracts.NativeCall) (*contracts.InboundCall, error) {
	return a.proto.decodeCall(call)
}

func (p protocol) decodeCall(call *contracts.NativeCall) (*contracts.InboundCall, error) {
	if call == nil {
		return nil, errors.New("no call")
	}
	op, n, err := p.readCall(call.MediaType, call.Action, call.Body, inboundOps...)
	if err != nil {
		return nil, err
	}
	if call.Operation != "" && call.Operation != op {
		return nil, &contracts.FieldError{Field: "path", Code: contracts.CodeBadRequest,
			Message: "the operation in the path differs from the body's operation " + op}
	}
	in := &contracts.InboundCall{Operation: op, Kind: inboundKinds[op]}
	switch op {
	case OpSubmitCase:
		in.Submission = &contracts.CaseSubmission{}
		err = p.decode(op, n, in.Submission)
	case OpReportStatus:
		in.Update = &contracts.StatusUpdate{}
		err = p.decode(op, n, in.Update)
	case OpSubmitEvaluation:
		in.Evaluation = &contracts.EvaluationSubmission{}
		err = p.decode(op, n, in.Evaluation)
	case OpReplyToEvaluation:
		in.Reply = &contracts.EvaluationReply{}
		err = p.decode(op, n, in.Reply)
	case OpSubmitBundle:
		in.Bundle = &contracts.BundleSubmission{}
		err = p.decode(op, n, in.Bundle)
	}
	if err != nil {
		return nil, err
	}
	return in, nil
}

// inboundOp returns the operation a call was made with: its Operation
// when it is one of the inbound operations, else the one its Kind implies.
func inboundOp(call *contracts.InboundCall) (string, error) {
	if call == nil {
		return "", errors.New("no call")
	}
	if _, ok := inboundKinds[call.Operation]; ok {
		return call.Operation, nil
	}
	for op, k := range inboundKinds {
		if k == call.Kind {
			return op, nil
		}
	}
	return "", fmt.Errorf("call of kind %q is not one the style carries", call.Kind)
}

// EncodeReceipt renders the gateway's receipt of call as the operation's
// response envelope (SubmitCaseResponse, ReportStatusResponse,
// SubmitEvaluationResponse, ReplyToEvaluationResponse or
// SubmitBundleResponse, with the receipt's fields as children: a bundle's
// receipt names each part's case in repeated <parts> elements) and returns it with ContentType. The
// gateway signs the bytes as they are and sends them with HTTP 200 (a
// repeated call gets the byte-identical stored receipt).
func (a *Adapter) EncodeReceipt(call *contracts.InboundCall, r *contracts.Receipt) ([]byte, string, error) {
	op, err := inboundOp(call)
	if err != nil {
		return nil, "", err
	}
	if r == nil {
		return nil, "", errors.New("no receipt")
	}
	b, err := a.proto.marshal(op+ResponseSuffix, r)
	if err != nil {
		return nil, "", err
	}
	return b, ContentType, nil
}

// EncodeError renders a refusal of a call as a SOAP 1.1 Fault and returns
// it with ContentType and HTTP status 500, as SOAP 1.1 prescribes for
// every fault whatever status the refusal has in the standard contract:
// faultcode soap:Server when status is 5xx, 408 or 429 (try again later),
// soap:Client otherwise; faultstring e.Message; and a detail entry
// ExchangeFault (in the configured namespace) carrying e.Code, status,
// e.RequestID and retryable. call may be nil. It never fails.
func (a *Adapter) EncodeError(_ *contracts.InboundCall, e *contracts.Error, status int) ([]byte, string, int) {
	if e == nil {
		e = &contracts.Error{Code: contracts.CodeInternal, Message: "internal error"}
	}
	return a.proto.marshalFault(status, e.Code, e.Message, e.RequestID), ContentType, http.StatusInternalServerError
}
