package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/contracts"
)

// What every sub-domain does with a signed exchange on its way in and out:
// check the caller's signature over the exact bytes, decode strictly, sign
// the answer, and name the trace.

// VerifyInbound checks in's signature over its exact bytes with a key
// registered for its caller, inside a span: bad_signature when the headers
// are missing or the signature does not verify, unknown_key when the key
// id is not the caller's.
func VerifyInbound(ctx context.Context, tel Telemetry, crypto Crypto, in Inbound) (err error) {
	_, span := tel.StartSpan(ctx, "verify signature")
	defer func() { EndSpan(span, err) }()
	if len(in.Signature) == 0 || in.KeyID == "" {
		return Failf(contracts.CodeBadSignature, "Gw-Signature and Gw-Key-Id are required")
	}
	if err := crypto.VerifyBody(in.Caller.ID(), in.KeyID, in.Body, in.Signature); err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return &Error{Code: contracts.CodeUnknownKey, Message: "Gw-Key-Id " + in.KeyID + " is not registered for caller " + in.Caller.ID(), Err: err}
		}
		return &Error{Code: contracts.CodeBadSignature, Message: "Gw-Signature does not verify over the body with key " + in.KeyID + " of caller " + in.Caller.ID(), Err: err}
	}
	return nil
}

// SignJSON marshals v and signs the bytes with the gateway key.
func SignJSON(crypto Crypto, v any) (*Signed, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, Internal(err)
	}
	sig, err := crypto.Sign(body)
	if err != nil {
		return nil, Internal(fmt.Errorf("sign answer: %w", err))
	}
	return &Signed{Body: body, Signature: sig, KeyID: crypto.KeyID()}, nil
}

// TraceOf returns the trace id and W3C traceparent of the span ctx
// carries; fallback is the trace id the caller sent, used when there is
// no span.
func TraceOf(ctx context.Context, fallback string) (traceID, traceparent string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return fallback, ""
	}
	return sc.TraceID().String(), fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// B64 is the standard base64 of b, "" for none: how signatures are kept
// in evidence details.
func B64(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}
