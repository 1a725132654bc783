package cases_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// inboundBodies are the request bodies the gateway decodes with
// gateway.DecodeStrict and then validates, by the kind byte
// FuzzDecodeStrict takes. The target lives here, beside the case service
// that decodes submissions and status updates, because this package's test
// binary is small: in the gateway package's (which links the embedded
// store) the fuzzer managed tens of executions a second, here thousands.
var inboundBodies = []func() any{
	func() any { return new(contracts.CaseSubmission) },
	func() any { return new(contracts.StatusUpdate) },
	func() any { return new(contracts.LicenseVerifyRequest) },
	func() any { return new(contracts.BatchVerifyRequest) },
	func() any { return new(contracts.MailboxAck) },
}

// FuzzDecodeStrict feeds arbitrary bodies to the strict decoder of every
// signed request body, then to the body's validation, as the services do.
// A refusal by the decoder is an invalid_json *gateway.Error; a refusal by
// validation is a *contracts.FieldError whose code is documented with a 4xx
// status, naming the field, and never quoting the applicant's id number.
// A body that decodes re-encodes to JSON that decodes strictly to the same
// value (the same bytes once more), and a valid body stays valid.
func FuzzDecodeStrict(f *testing.F) {
	sub, err := os.ReadFile("../../contracts/testdata/case_submission.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), sub)
	f.Add(uint8(0), bytes.Replace(sub, []byte(`"exchange_id"`), []byte(`"exchange_ID"`), 1))
	f.Add(uint8(0), append(append([]byte{}, sub...), []byte(" {}")...))
	f.Add(uint8(0), []byte(`{"exchange_id":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10","extra":1}`))
	f.Add(uint8(1), []byte(`{"exchange_id":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e11","case_id":"c-1","state":"accepted","reported_at":"2026-03-14T09:30:00+08:00","owner_case_no":"330702-2026-000001"}`))
	f.Add(uint8(1), []byte(`{"exchange_id":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e11","case_id":"c-1","state":"concluded","reported_at":"2026-03-14T09:30:00Z","outcome":"approved","delivered_at":"0001-01-01T00:00:00Z"}`))
	f.Add(uint8(2), []byte(`{"holder":{"holder_type":"111","id_number":"11010519491231002X"},"license_type_code":"11100000000013127D001","issuer_region":"330702","purpose":"x"}`))
	f.Add(uint8(3), []byte(`{"purpose":"p","items":[{"license_id":"x","purpose":"p"}]}`))
	f.Add(uint8(4), []byte(`{"acks":[]}`))
	f.Add(uint8(0), []byte("\"\xff\""))
	f.Add(uint8(0), []byte(`null`))
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		newValue := inboundBodies[int(kind)%len(inboundBodies)]
		v := newValue()
		if err := gateway.DecodeStrict(body, v); err != nil {
			var e *gateway.Error
			if !errors.As(err, &e) || e.Code != contracts.CodeInvalidJSON {
				t.Fatalf("decoder refusal %v is not invalid_json", err)
			}
			return
		}
		once, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		again := newValue()
		if err := gateway.DecodeStrict(once, again); err != nil {
			t.Fatalf("re-encoded body %s does not decode: %v", once, err)
		}
		twice, err := json.Marshal(again)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed the value:\n%s\n%s (%v)", once, twice, err)
		}
		val, ok := v.(interface{ Validate() error })
		if !ok {
			return
		}
		verr := val.Validate()
		if verr == nil {
			if err := again.(interface{ Validate() error }).Validate(); err != nil {
				t.Fatalf("valid body %s is invalid once re-encoded: %v", body, err)
			}
			return
		}
		var fe *contracts.FieldError
		if !errors.As(verr, &fe) {
			t.Fatalf("validation refusal %v is not a *contracts.FieldError", verr)
		}
		if s := contracts.StatusOf(fe.Code); s != http.StatusBadRequest {
			t.Fatalf("validation refusal %v has code %q (status %d)", verr, fe.Code, s)
		}
		if fe.Field == "" {
			t.Fatalf("validation refusal %v names no field", verr)
		}
		if g := gateway.FromField(verr); g.Code != fe.Code {
			t.Fatalf("FromField(%v) = %s, want %s", verr, g.Code, fe.Code)
		}
		if s, ok := v.(*contracts.CaseSubmission); ok && len(s.Applicant.IDNumber) == 18 &&
			strings.Contains(verr.Error(), s.Applicant.IDNumber) {
			t.Fatalf("validation refusal %q quotes the applicant's id number", verr)
		}
	})
}
