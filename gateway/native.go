package gateway

import (
	"context"
	"errors"

	"github.com/tongban/tongban/contracts"
)

// ReceiveNative takes a partner's call made in its own format (mapped
// JSON, SOAP) at POST /v1/inbound/{partner_id}: it checks that the caller's
// adapter translates calls, verifies the caller's signature over the exact
// native bytes, has the adapter decode the call, and then acts exactly as
// SubmitCase or ReportStatus would on the same content. The exchange keeps
// the native bytes and signature as evidence; idempotency is by the
// decoded exchange_id and the SM3 of the native bytes. The receipt is
// rendered in the partner's format and signed over those bytes.
//
// It also returns the decoded call (nil when decoding failed or was never
// reached), so that a refusal can be rendered in the partner's format with
// the translator's EncodeError.
func (s *Service) ReceiveNative(ctx context.Context, in Inbound, call contracts.NativeCall) (*Signed, *contracts.InboundCall, error) {
	if err := Authorize(in.Caller, ActCallNative, nil, ""); err != nil {
		return nil, nil, err
	}
	if err := s.verify(ctx, in); err != nil {
		return nil, nil, err
	}
	tr := in.Caller.Partner.Translator
	call.Body = in.Body
	ic, err := tr.DecodeCall(&call)
	if err != nil {
		var fe *contracts.FieldError
		if errors.As(err, &fe) {
			return nil, nil, fromField(fe)
		}
		return nil, nil, failf(contracts.CodeInvalidJSON, "the call could not be read: %v", err)
	}
	enc := func(r *contracts.Receipt) ([]byte, string, error) { return tr.EncodeReceipt(ic, r) }
	var ans *Signed
	switch {
	case ic == nil:
		return nil, nil, internal(errors.New("translator decoded no call"))
	case ic.Kind == contracts.InboundCase && ic.Submission != nil:
		ans, err = s.submit(ctx, in, ic.Submission, enc)
	case ic.Kind == contracts.InboundStatus && ic.Update != nil:
		ans, err = s.report(ctx, in, ic.Update, enc)
	default:
		return nil, ic, internal(errors.New("translator decoded a call of kind " + string(ic.Kind) + " without its message"))
	}
	return ans, ic, err
}
