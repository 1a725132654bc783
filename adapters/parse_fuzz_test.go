package adapters_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// FuzzParseRetryAfter feeds arbitrary Retry-After values to the parser
// every adapter uses. The delay is never negative nor above MaxRetryAfter,
// is zero when the value is refused, and the value written back (in
// seconds, and as an HTTP date) reads as the same delay.
func FuzzParseRetryAfter(f *testing.F) {
	for _, v := range []string{"", "0", "120", " 7 ", "-1", "1.5", "86401", "99999999999999999999999",
		"Wed, 21 Oct 2026 07:28:00 GMT", "Sunday, 06-Dec-26 14:00:00 GMT", "Sun Dec  6 14:00:00 2026", "soon"} {
		f.Add(v)
	}
	now := time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := adapters.ParseRetryAfter(v, now)
		if d < 0 || d > adapters.MaxRetryAfter || (!ok && d != 0) {
			t.Fatalf("%q read as %s, %v", v, d, ok)
		}
		if !ok {
			return
		}
		secs := d.Truncate(time.Second)
		if back, ok := adapters.ParseRetryAfter(strconv.FormatInt(int64(secs/time.Second), 10), now); !ok || back != secs {
			t.Fatalf("%q read as %s; its seconds read as %s, %v", v, d, back, ok)
		}
		if back, ok := adapters.ParseRetryAfter(now.Add(secs).Format(http.TimeFormat), now); !ok || back != secs {
			t.Fatalf("%q read as %s; its date reads as %s, %v", v, d, back, ok)
		}
	})
}

// FuzzParseEndpoint feeds arbitrary strings to the endpoint check of every
// adapter's config. What passes is an http or https URL with a host and
// without user info, query or fragment, no trailing slash, and passes
// again unchanged. Refusals never repeat a password from the URL (they
// end up in start-up logs).
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:9001/p/330702", "https://partner.example/api/", "http://h", "ftp://h",
		"http://user:secret@h/", "http://user:secret@/x", "ftp://user:secret@h", "http://user:secret@h/%zz",
		"http://h/?q=1", "http://h/#f", "http://h/?", "http:opaque", "/relative", "", "http://[::1]:80/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ep, err := adapters.ParseEndpoint(s)
		if err != nil {
			if u, perr := url.Parse(s); perr == nil && u.User != nil {
				// The refusal may show the URL redacted (the password
				// replaced by xxxxx; its user name, which may equal the
				// password, shown); nothing else may repeat the password.
				rest := strings.ReplaceAll(err.Error(), u.Redacted(), "")
				if pw, set := u.User.Password(); set && len(pw) >= 4 && strings.Contains(rest, pw) {
					t.Fatalf("refusal %q repeats the password", err)
				}
			}
			return
		}
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(ep, "/") {
			t.Fatalf("%q accepted as %q (%v)", s, ep, err)
		}
		if again, err := adapters.ParseEndpoint(ep); err != nil || again != ep {
			t.Fatalf("%q accepted as %q, which reads as %q, %v", s, ep, again, err)
		}
	})
}

// jsonProblem is every message DecodeJSON refuses with: none quotes the
// input.
var jsonProblem = regexp.MustCompile(`^(not valid JSON \(offset \d+\)|not a JSON object of the expected shape|` +
	`field [A-Za-z0-9_.]+ has the wrong type|empty body|truncated JSON|unknown field|malformed field value|` +
	`trailing data after the JSON value)$`)

// FuzzDecodeJSON feeds arbitrary bytes to the strict decoder the adapters
// read partners' JSON answers with, as an acknowledgement. A refusal is
// one of the fixed messages (never a quote of the input, which may hold
// ID numbers); what decodes re-encodes to JSON that decodes to the same.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"exchange_id":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10","partner_case_no":"330702-2026-000001","acknowledged_at":"2026-03-14T09:30:00+08:00","body_sm3":"0a","key_id":"330702"}`,
		`{"partner_case_no":11010519491231002}`, `{"acknowledged_at":"11010519491231002X"}`, `{"11010519491231002X":1}`,
		`{} {}`, `{}x`, ``, `{"exchange_id":"a"`, `[1]`, `{"exchange_id":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ack contracts.Ack
		if err := adapters.DecodeJSON(raw, &ack); err != nil {
			if !jsonProblem.MatchString(err.Error()) {
				t.Fatalf("refusal %q is not one of the fixed messages", err)
			}
			return
		}
		once, err := json.Marshal(ack)
		if err != nil {
			t.Fatal(err)
		}
		var back contracts.Ack
		if err := adapters.DecodeJSON(once, &back); err != nil {
			t.Fatalf("re-encoded %s refused: %v", once, err)
		}
		if twice, _ := json.Marshal(back); !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed %s into %s", once, twice)
		}
	})
}
