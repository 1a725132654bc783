package standard

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
)

// FuzzReadRequest feeds arbitrary calls to the standard partner side (what
// a district's system, or its simulator, reads from the gateway). A refusal
// is a *contracts.FieldError with a documented code, or a plain decoding
// error (answered invalid_json); an accepted call carries exactly the
// message its path names, for a status update the case its path names, and
// its message written back as JSON reads back the same.
func FuzzReadRequest(f *testing.F) {
	for _, g := range []struct{ path, file string }{
		{"/cases", "testdata/case_delivery.golden.json"},
		{"/licenses/usage", "testdata/usage_delivery.golden.json"},
		{"/licenses/lookup", "testdata/license_lookup.golden.json"},
		{"/notices", "testdata/notice_delivery.golden.json"},
	} {
		b, err := os.ReadFile(g.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(g.path, b)
	}
	f.Add("/cases/c%2F1/status", []byte(`{"delivery_id":"d","case_id":"c/1","update":{"exchange_id":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10","case_id":"c/1","state":"accepted","reported_at":"2026-03-14T09:30:00Z"}}`))
	f.Add("/cases/c-1/status", []byte(`{"case_id":"c-2"}`))
	f.Add("/cases/%zz/status", []byte(`{"case_id":"%zz"}`))
	f.Add("/cases", []byte(`{"unknown":1}`))
	f.Add("/nope", []byte(`{}`))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		m, err := PartnerSide{}.ReadRequest(path, mediaJSON, "", body)
		if err != nil {
			var fe *contracts.FieldError
			if errors.As(err, &fe) && contracts.StatusOf(fe.Code) == http.StatusInternalServerError {
				t.Fatalf("refusal %v has undocumented code %q", err, fe.Code)
			}
			return
		}
		var v any
		switch {
		case path == "/cases" && m.Case != nil:
			v = m.Case
		case strings.HasPrefix(path, "/cases/") && m.Status != nil:
			v = m.Status
		case path == "/licenses/usage" && m.Usage != nil:
			v = m.Usage
		case path == "/licenses/lookup" && m.Lookup != nil:
			v = m.Lookup
		case path == "/notices" && m.Notice != nil:
			v = m.Notice
		default:
			t.Fatalf("path %q read as a %q message", path, m.Kind())
		}
		once, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		back, err := PartnerSide{}.ReadRequest(path, mediaJSON, "", once)
		if err != nil {
			t.Fatalf("%s at %s written back as %s is refused: %v", body, path, once, err)
		}
		if back.Kind() != m.Kind() {
			t.Fatalf("%s at %s reads back as a %q message", once, path, back.Kind())
		}
	})
}

// FuzzReadReceipt feeds arbitrary receipts to the standard partner side:
// only application/json decodes, and a receipt that decodes re-encodes to
// one that decodes the same.
func FuzzReadReceipt(f *testing.F) {
	f.Add(mediaJSON, []byte(`{"exchange_id":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10","case_id":"c-1","received_at":"2026-03-14T09:30:00+08:00","body_sm3":"0a0a","key_id":"gateway","state":"submitted"}`))
	f.Add(mediaJSON, []byte(`{"case_id":1}`))
	f.Add(mediaJSON, []byte(`{"exchange_id":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10","case_id":"b-1","received_at":"2026-03-14T09:30:00+08:00","body_sm3":"0a0a","state":"received","parts":[{"part":"licence","case_id":"c-1","state":"received"},{"part":"permit","case_id":"c-2","state":"waiting"}]}`))
	f.Add("text/xml", []byte(`{}`))
	f.Add(mediaJSON, []byte(`{}{}`))
	f.Fuzz(func(t *testing.T, mediaType string, body []byte) {
		r, err := PartnerSide{}.ReadReceipt(mediaType, body)
		if err != nil {
			return
		}
		if mediaType != mediaJSON {
			t.Fatalf("a receipt of type %q decoded", mediaType)
		}
		once, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := PartnerSide{}.ReadReceipt(mediaJSON, once)
		if err != nil {
			t.Fatalf("receipt %s refused once re-encoded: %v", once, err)
		}
		if twice, _ := json.Marshal(back); !bytes.Equal(once, twice) {
			t.Fatalf("receipt %s came back as %s", once, twice)
		}
	})
}

// FuzzParseConfig feeds arbitrary config blocks to the standard style. A
// refusal says it is the config's; an accepted block has its endpoint
// normalised and max_retries set in range, and written back as JSON parses
// to the same config.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{`{"endpoint":"http://127.0.0.1:9001/p/330702","max_retries":1}`, `{"endpoint":"https://h/"}`,
		`{"endpoint":"http://h","max_retries":-1}`, `{"endpoint":"http://h","max_retries":1e9}`, `{"endpoint":"ftp://h"}`,
		`{"endpoint":"http://h","extra":1}`, `{}`, ``, `{"endpoint":"http://h"} x`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("refusal %q does not say it is the config's", err)
			}
			return
		}
		if c.MaxRetries == nil || *c.MaxRetries < 0 || *c.MaxRetries > MaxMaxRetries || strings.HasSuffix(c.Endpoint, "/") {
			t.Fatalf("%s accepted as %+v", raw, c)
		}
		once, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConfig(once)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("%s accepted as %s, which parses as %+v (%v)", raw, once, back, err)
		}
	})
}
