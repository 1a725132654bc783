package standard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// PartnerSide is the partner's end of the standard contract: a district
// system receives POSTs of the gateway's JSON messages under its endpoint
// and answers them with its JSON acknowledgements and lookup answers; it
// calls the gateway at POST /v1/cases, /v1/cases/{case_id}/status,
// /v1/cases/{case_id}/evaluation, /v1/cases/{case_id}/evaluation/reply
// and /v1/bundles.
// The zero value is ready to use.
type PartnerSide struct{}

var _ adapters.PartnerSide = PartnerSide{}

const mediaJSON = "application/json"

// ReadRequest decodes one of the gateway's calls strictly (no unknown
// fields, no trailing data) by its path: /cases, /cases/{case_id}/status
// (the case_id must match the body's), /notices, /licenses/usage,
// /licenses/usage/batch or /licenses/lookup. A wrong media type, an
// unknown path and a path that
// names another case are *contracts.FieldError values with the code to
// answer (unsupported_media_type, not_found, validation_failed); a body
// that does not decode is a plain error (invalid_json).
func (PartnerSide) ReadRequest(path, mediaType, _ string, body []byte) (*adapters.Message, error) {
	if mediaType != mediaJSON {
		return nil, &contracts.FieldError{Code: contracts.CodeUnsupportedMedia, Message: "body must be application/json"}
	}
	m := &adapters.Message{}
	var v any
	switch {
	case path == "/cases":
		m.Case = &contracts.CaseDelivery{}
		v = m.Case
	case strings.HasPrefix(path, "/cases/") && strings.HasSuffix(path, "/status"):
		m.Status = &contracts.StatusDelivery{}
		v = m.Status
	case path == "/notices":
		m.Notice = &contracts.NoticeDelivery{}
		v = m.Notice
	case path == "/licenses/usage":
		m.Usage = &contracts.UsageRecordDelivery{}
		v = m.Usage
	case path == "/licenses/usage/batch":
		m.UsageBatch = &contracts.UsageRecordBatch{}
		v = m.UsageBatch
	case path == "/licenses/lookup":
		m.Lookup = &contracts.LicenseLookupRequest{}
		v = m.Lookup
	default:
		return nil, &contracts.FieldError{Code: contracts.CodeNotFound, Message: "no operation at " + adapters.Clip(path, 100)}
	}
	if err := adapters.DecodeJSON(body, v); err != nil {
		return nil, err
	}
	if m.Status != nil {
		id, err := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(path, "/cases/"), "/status"))
		if err != nil || id != m.Status.CaseID {
			return nil, &contracts.FieldError{Field: "case_id", Code: contracts.CodeValidationFailed, Message: "differs from the path"}
		}
	}
	return m, nil
}

// WriteAck renders ack as JSON.
func (PartnerSide) WriteAck(_ *adapters.Message, ack *contracts.Ack) ([]byte, string, error) {
	b, err := json.Marshal(ack)
	return b, mediaJSON, err
}

// WriteBatchAck renders ack, the acknowledgement of a batch of usage
// records, as JSON (delivery_ids always an array).
func (PartnerSide) WriteBatchAck(_ *adapters.Message, ack *contracts.UsageBatchAck) ([]byte, string, error) {
	if ack == nil {
		return nil, "", errors.New("no batch acknowledgement")
	}
	a := *ack
	if a.DeliveryIDs == nil {
		a.DeliveryIDs = []string{}
	}
	b, err := json.Marshal(&a)
	return b, mediaJSON, err
}

// WriteLookupAnswer renders resp as JSON.
func (PartnerSide) WriteLookupAnswer(_ *adapters.Message, resp *contracts.LicenseLookupResponse) ([]byte, string, error) {
	b, err := json.Marshal(resp)
	return b, mediaJSON, err
}

// WriteError renders {"code", "message"} with the status as given.
func (PartnerSide) WriteError(_ *adapters.Message, status int, code contracts.Code, msg string) ([]byte, string, int) {
	b, err := json.Marshal(contracts.Error{Code: code, Message: msg})
	if err != nil {
		return []byte(`{"code":"internal","message":"could not encode the error"}`), mediaJSON, http.StatusInternalServerError
	}
	return b, mediaJSON, status
}

// Call renders each inbound call as the gateway's own JSON, POSTed to
// its path:
//
//	case        POST /v1/cases                               CaseSubmission
//	status      POST /v1/cases/{case_id}/status              StatusUpdate
//	evaluation  POST /v1/cases/{case_id}/evaluation          EvaluationSubmission
//	reply       POST /v1/cases/{case_id}/evaluation/reply    EvaluationReply
//	bundle      POST /v1/bundles                             BundleSubmission
//
// A call whose kind carries no message of that kind, or names no case
// where its path needs one, fails.
func (PartnerSide) Call(c *contracts.InboundCall) (*adapters.PartnerCall, error) {
	path, msg, err := callPath(c)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return &adapters.PartnerCall{Path: path, MediaType: mediaJSON, Body: b}, nil
}

// callPath returns the gateway's path of an inbound call in the standard
// contract (see PartnerSide.Call) and the message it carries.
func callPath(c *contracts.InboundCall) (string, any, error) {
	if c == nil {
		return "", nil, errors.New("no call")
	}
	caseID := ""
	var (
		path string
		msg  any
	)
	switch {
	case c.Kind == contracts.InboundCase && c.Submission != nil:
		return "/v1/cases", c.Submission, nil
	case c.Kind == contracts.InboundBundle && c.Bundle != nil:
		return "/v1/bundles", c.Bundle, nil
	case c.Kind == contracts.InboundStatus && c.Update != nil:
		caseID, path, msg = c.Update.CaseID, "/status", c.Update
	case c.Kind == contracts.InboundEvaluation && c.Evaluation != nil:
		caseID, path, msg = c.Evaluation.CaseID, "/evaluation", c.Evaluation
	case c.Kind == contracts.InboundReply && c.Reply != nil:
		caseID, path, msg = c.Reply.CaseID, "/evaluation/reply", c.Reply
	default:
		return "", nil, fmt.Errorf("call of kind %q carries no message of that kind", c.Kind)
	}
	if caseID == "" {
		return "", nil, fmt.Errorf("%s call names no case_id", c.Kind)
	}
	return "/v1/cases/" + url.PathEscape(caseID) + path, msg, nil
}

// ReadReceipt decodes the gateway's JSON receipt strictly.
func (PartnerSide) ReadReceipt(mediaType string, body []byte) (*contracts.Receipt, error) {
	if mediaType != mediaJSON {
		return nil, errors.New("receipt is not application/json")
	}
	var r contracts.Receipt
	if err := adapters.DecodeJSON(body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
