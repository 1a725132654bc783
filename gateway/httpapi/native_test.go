package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/signing"
)

// tb1 is a hand-written partner format for these tests: a call is
// "TB1 " + base64(JSON of the contract message), text/plain, at operation
// "case" or "status"; a receipt is "RECEIPT " + JSON; a refusal is
// "ERROR <code> <message>". It is unlike the standard contract on purpose.
type tb1 struct{}

func (tb1) DecodeCall(call *contracts.NativeCall) (*contracts.InboundCall, error) {
	if call.MediaType != "text/plain" {
		return nil, &contracts.FieldError{Code: contracts.CodeUnsupportedMedia, Message: "tb1 calls are text/plain"}
	}
	raw, ok := bytes.CutPrefix(call.Body, []byte("TB1 "))
	if !ok {
		return nil, errors.New("not a TB1 call")
	}
	js, err := base64.StdEncoding.DecodeString(string(raw))
	if err != nil {
		return nil, errors.New("TB1 payload is not base64")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	switch call.Operation {
	case "case":
		var sub contracts.CaseSubmission
		if err := dec.Decode(&sub); err != nil {
			return nil, errors.New("TB1 case is not a submission")
		}
		return &contracts.InboundCall{Kind: contracts.InboundCase, Operation: "case", Submission: &sub}, nil
	case "status":
		var u contracts.StatusUpdate
		if err := dec.Decode(&u); err != nil {
			return nil, errors.New("TB1 status is not an update")
		}
		return &contracts.InboundCall{Kind: contracts.InboundStatus, Operation: "status", Update: &u}, nil
	}
	return nil, &contracts.FieldError{Field: "operation", Code: contracts.CodeNotFound, Message: "no such TB1 operation"}
}

func (tb1) EncodeReceipt(_ *contracts.InboundCall, r *contracts.Receipt) ([]byte, string, error) {
	b, err := json.Marshal(r)
	return append([]byte("RECEIPT "), b...), "text/plain", err
}

func (tb1) EncodeError(_ *contracts.InboundCall, e *contracts.Error, status int) ([]byte, string, int) {
	return []byte("ERROR " + string(e.Code) + " " + e.Message), "text/plain", status
}

// tb1Call wraps a contract message as a TB1 call body.
func tb1Call(v []byte) []byte {
	return []byte("TB1 " + base64.StdEncoding.EncodeToString(v))
}

// postNative sends body, signed by signer, with caller's token, to path.
func (e *env) postNative(caller, signer, path string, body []byte) response {
	e.t.Helper()
	return e.do(http.MethodPost, path, bytes.NewReader(body), map[string]string{
		"Authorization":         "Bearer " + e.tokenFor(caller),
		"Content-Type":          "text/plain; charset=utf-8",
		httpapi.HeaderSignature: e.sign(signer, body),
		httpapi.HeaderKeyID:     signer,
	})
}

// nativeReceipt checks a signed TB1 receipt and decodes it.
func (e *env) nativeReceipt(r response) contracts.Receipt {
	e.t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "text/plain" {
		e.t.Errorf("receipt Content-Type %q, want the partner's text/plain", ct)
	}
	sig, err := base64.StdEncoding.DecodeString(r.header.Get(httpapi.HeaderSignature))
	if err != nil {
		e.t.Fatalf("Gw-Signature: %v", err)
	}
	if err := signing.Verify(e.gwKey.Public(), r.body, sig); err != nil {
		e.t.Errorf("the native receipt's signature does not verify over its bytes: %v", err)
	}
	js, ok := bytes.CutPrefix(r.body, []byte("RECEIPT "))
	if !ok {
		e.t.Fatalf("receipt %q is not a TB1 receipt", r.body)
	}
	var rc contracts.Receipt
	if err := json.Unmarshal(js, &rc); err != nil {
		e.t.Fatal(err)
	}
	return rc
}

// wantNativeError checks a refusal rendered in the TB1 format.
func wantNativeError(t *testing.T, r response, status int, code contracts.Code) {
	t.Helper()
	if r.status != status || !strings.HasPrefix(string(r.body), "ERROR "+string(code)+" ") {
		t.Errorf("got %d %q, want %d and a TB1 refusal with code %s", r.status, r.body, status, code)
	}
}

// chipingSubmission is the golden submission sent from 371523 to 330702.
func chipingSubmission(t *testing.T) []byte {
	b := submission(t)
	b = bytes.Replace(b, []byte(`"from_region": "320404"`), []byte(`"from_region": "371523"`), 1)
	return b
}

func TestNativeCaseSubmission(t *testing.T) {
	e := newEnv(t)
	js := chipingSubmission(t)
	body := tb1Call(js)
	r := e.postNative(chiping, chiping, "/v1/inbound/371523/case", body)
	if r.status != http.StatusOK {
		t.Fatalf("native submission: %d %s", r.status, r.body)
	}
	rc := e.nativeReceipt(r)
	if rc.State != contracts.CaseStateReceived || rc.BodySM3 != sm3Hex(body) {
		t.Errorf("receipt %+v: want received, body_sm3 of the exact native bytes", rc)
	}
	var v contracts.CaseView
	if g := e.get(chiping, "/v1/cases/"+rc.CaseID); g.status != http.StatusOK || json.Unmarshal(g.body, &v) != nil || v.FromRegion != "371523" || v.Owner != wucheng {
		t.Fatalf("the case as its sender reads it: %d %s", g.status, g.body)
	}

	again := e.postNative(chiping, chiping, "/v1/inbound/371523/case", body)
	if again.status != http.StatusOK || !bytes.Equal(again.body, r.body) || again.header.Get("Content-Type") != "text/plain" ||
		again.header.Get(httpapi.HeaderSignature) != r.header.Get(httpapi.HeaderSignature) {
		t.Errorf("replay: %d %q, want 200 with the byte-identical native receipt", again.status, again.body)
	}
	other := tb1Call(append(bytes.TrimRight(js, "\n}"), []byte("\n}  ")...))
	if bytes.Equal(other, body) {
		t.Fatal("fixture: the other body is the same")
	}
	wantNativeError(t, e.postNative(chiping, chiping, "/v1/inbound/371523/case", other), http.StatusConflict, contracts.CodeExchangeConflict)
}

func TestNativeStatusUpdate(t *testing.T) {
	e := newEnv(t)
	sub := bytes.Replace(submission(t), []byte(`"to_region": "330702"`), []byte(`"to_region": "371523"`), 1)
	r := e.post(zhonglou, "/v1/cases", sub)
	if r.status != http.StatusAccepted {
		t.Fatalf("submit to 371523: %d %s", r.status, r.body)
	}
	caseID := e.verifyReceipt(r).CaseID
	body := tb1Call(statusUpdate(t, caseID, contracts.CaseStateAccepted))
	ans := e.postNative(chiping, chiping, "/v1/inbound/371523/status", body)
	if ans.status != http.StatusOK {
		t.Fatalf("native status update: %d %s", ans.status, ans.body)
	}
	if rc := e.nativeReceipt(ans); rc.State != contracts.CaseStateAccepted || rc.CaseID != caseID {
		t.Errorf("receipt %+v", rc)
	}
	var v contracts.CaseView
	if g := e.get(zhonglou, "/v1/cases/"+caseID); json.Unmarshal(g.body, &v) != nil || v.State != contracts.CaseStateAccepted {
		t.Errorf("case after the native update: %s", g.body)
	}
	// The lifecycle is enforced whatever the format.
	wantNativeError(t, e.postNative(chiping, chiping, "/v1/inbound/371523/status",
		tb1Call(statusUpdate(t, caseID, contracts.CaseStateDelivered))), http.StatusConflict, contracts.CodeInvalidTransition)
}

func TestNativeRefusals(t *testing.T) {
	e := newEnv(t)
	body := tb1Call(chipingSubmission(t))
	tests := []struct {
		name   string
		send   func() response
		status int
		code   contracts.Code
		native bool
	}{
		{"signed with another caller's key", func() response {
			return e.postNative(chiping, zhonglou, "/v1/inbound/371523/case", body)
		}, http.StatusUnauthorized, contracts.CodeUnknownKey, true},
		{"signature over other bytes", func() response {
			r := e.do(http.MethodPost, "/v1/inbound/371523/case", bytes.NewReader(body), map[string]string{
				"Authorization": "Bearer " + e.tokenFor(chiping), "Content-Type": "text/plain",
				httpapi.HeaderSignature: e.sign(chiping, append(bytes.Clone(body), ' ')), httpapi.HeaderKeyID: chiping,
			})
			return r
		}, http.StatusUnauthorized, contracts.CodeBadSignature, true},
		{"no token", func() response {
			return e.do(http.MethodPost, "/v1/inbound/371523/case", bytes.NewReader(body), map[string]string{"Content-Type": "text/plain"})
		}, http.StatusUnauthorized, contracts.CodeUnauthenticated, true},
		{"another partner's route", func() response {
			return e.postNative(zhonglou, zhonglou, "/v1/inbound/371523/case", body)
		}, http.StatusForbidden, contracts.CodeForbidden, true},
		{"unknown operation", func() response {
			return e.postNative(chiping, chiping, "/v1/inbound/371523/nope", body)
		}, http.StatusNotFound, contracts.CodeNotFound, true},
		{"not the partner's format", func() response {
			return e.postNative(chiping, chiping, "/v1/inbound/371523/case", chipingSubmission(t))
		}, http.StatusBadRequest, contracts.CodeInvalidJSON, true},
		{"partner in the standard contract", func() response {
			return e.postNative(zhonglou, zhonglou, "/v1/inbound/320404/case", body)
		}, http.StatusForbidden, contracts.CodeForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.send()
			if tt.native {
				wantNativeError(t, r, tt.status, tt.code)
			} else {
				wantError(t, r, tt.status, tt.code)
			}
		})
	}
}

// sm3Hex is the lowercase hex SM3 of b.
func sm3Hex(b []byte) string { return hex.EncodeToString(signing.Default.SM3(b)) }
