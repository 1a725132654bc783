package contracts

// NativeCall is a partner's call to the gateway in the partner's own format
// (mapped JSON, SOAP), as received at POST /v1/inbound/{partner_id} or
// POST /v1/inbound/{partner_id}/{operation}. The partner signs Body, its
// exact bytes, like every exchange (Gw-Signature, Gw-Key-Id); the gateway
// checks that signature before the partner's adapter decodes the call.
type NativeCall struct {
	// Operation is the path segment after the partner id, "" when none.
	Operation string
	// MediaType is the media type of the Content-Type header, lower-case,
	// without parameters.
	MediaType string
	// Action is the SOAPAction header without its quotes, "" when none.
	Action string
	// Body is the exact request body.
	Body []byte
}

// InboundKind says what an inbound call carries.
type InboundKind string

// The inbound call kinds.
const (
	// InboundCase is a case submission (the body of POST /v1/cases).
	InboundCase InboundKind = "case"
	// InboundStatus is a status update (the body of
	// POST /v1/cases/{case_id}/status).
	InboundStatus InboundKind = "status"
	// InboundEvaluation is an evaluation (the body of
	// POST /v1/cases/{case_id}/evaluation).
	InboundEvaluation InboundKind = "evaluation"
	// InboundReply is a follow-up reply (the body of
	// POST /v1/cases/{case_id}/evaluation/reply).
	InboundReply InboundKind = "reply"
	// InboundBundle is a 一件事 bundle (the body of POST /v1/bundles).
	InboundBundle InboundKind = "bundle"
)

// InboundCall is what a partner's native call carries, in contract terms:
// exactly one of Submission (Kind case), Update (Kind status), Evaluation
// (Kind evaluation), Reply (Kind reply) and Bundle (Kind bundle).
type InboundCall struct {
	Kind InboundKind
	// Operation is the partner's own name for the call (a SOAP operation,
	// a mapped path), kept so that the answer can be shaped to match.
	Operation  string
	Submission *CaseSubmission
	Update     *StatusUpdate
	Evaluation *EvaluationSubmission
	Reply      *EvaluationReply
	Bundle     *BundleSubmission
}
