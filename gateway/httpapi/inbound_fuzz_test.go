package httpapi

import (
	"bytes"
	"encoding/base64"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// traceHex is the form of a trace id the gateway records.
var traceHex = regexp.MustCompile(`^[0-9a-f]{32}$`)

// FuzzInboundHeaders feeds arbitrary headers and bodies to the reader of
// every signed request (Content-Type, Gw-Signature, Gw-Key-Id,
// traceparent, the body under its size bound). A refusal has one of the
// codes a malformed request gets; an accepted request carries the body
// exactly (within the bound), a signature whose standard base64 is the
// header's (line breaks aside), the key id as sent and a trace id that is
// empty or 32 lowercase hex digits.
func FuzzInboundHeaders(f *testing.F) {
	f.Add("application/json", "MEQCIA==", "330702", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", []byte(`{"a":1}`))
	f.Add("application/json; charset=utf-8", "", "", "", []byte(``))
	f.Add("application/JSON", "QQ==\r\n", "k", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", []byte(`{}`))
	f.Add("text/plain", "QQ==", "k", "", []byte(`{}`))
	f.Add("application/json", "QQ", "k", "", []byte(`{}`))
	f.Add("application/json", "QQ==", "k", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", bytes.Repeat([]byte("x"), 65))
	f.Add("application/json;", "QQ==", "k", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", []byte(`{}`))
	const limit = 64
	f.Fuzz(func(t *testing.T, contentType, sig, keyID, traceparent string, body []byte) {
		r := httptest.NewRequest("POST", "/v1/cases", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.Header.Set(HeaderSignature, sig)
		r.Header.Set(HeaderKeyID, keyID)
		r.Header.Set("traceparent", traceparent)
		c := echo.New().NewContext(r, httptest.NewRecorder())
		c.Set(principalKey, gateway.Principal{})
		a := &api{Options: Options{MaxBody: limit}}
		in, err := a.inbound(c)
		if err != nil {
			switch code := codeOf(t, err); code {
			case contracts.CodeUnsupportedMedia, contracts.CodeBodyTooLarge, contracts.CodeBadSignature:
			default:
				t.Fatalf("refusal %v with code %s", err, code)
			}
			return
		}
		if len(body) > limit || !bytes.Equal(in.Body, body) {
			t.Fatalf("body of %d bytes read as %d bytes", len(body), len(in.Body))
		}
		sent := strings.NewReplacer("\r", "", "\n", "").Replace(r.Header.Get(HeaderSignature))
		if got := base64.StdEncoding.EncodeToString(in.Signature); got != sent {
			t.Fatalf("Gw-Signature %q read as %q", sent, got)
		}
		if in.KeyID != r.Header.Get(HeaderKeyID) || (in.TraceID != "" && !traceHex.MatchString(in.TraceID)) {
			t.Fatalf("key id %q, trace id %q", in.KeyID, in.TraceID)
		}
	})
}
