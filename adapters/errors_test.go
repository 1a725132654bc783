package adapters_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func response(code int, header map[string]string, body string) *http.Response {
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader(body))}
}

func TestClassify(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "http://127.0.0.1:9001/cases", Err: err} }
	tests := []struct {
		name      string
		resp      *http.Response
		err       error
		nilErr    bool
		permanent bool
		after     time.Duration
		status    int
		code      contracts.Code
		reason    string
	}{
		{name: "200", resp: response(200, nil, ""), nilErr: true},
		{name: "201", resp: response(201, nil, ""), nilErr: true},
		{name: "204", resp: response(204, nil, ""), nilErr: true},
		{name: "no answer", reason: "no answer"},
		{name: "timeout", err: urlErr(timeoutErr{}), reason: "timeout"},
		{name: "deadline", err: urlErr(context.DeadlineExceeded), reason: "timeout"},
		{name: "cancelled", err: urlErr(context.Canceled), reason: "cancelled"},
		{name: "refused", err: urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), reason: "connection"},
		{name: "reset", err: urlErr(syscall.ECONNRESET), reason: "connection"},
		{name: "eof", err: urlErr(io.EOF), reason: "connection"},
		{name: "unknown authority", err: urlErr(x509.UnknownAuthorityError{}), permanent: true, reason: "certificate"},
		{name: "hostname", err: urlErr(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}), permanent: true, reason: "certificate"},
		{name: "classified already", err: fmt.Errorf("wrapped: %w", adapters.Permanent("keep me", nil)), permanent: true, reason: "keep me"},
		{name: "500", resp: response(500, nil, ""), status: 500},
		{name: "502", resp: response(502, nil, "<html>bad gateway</html>"), status: 502},
		{name: "503 Retry-After", resp: response(503, map[string]string{"Retry-After": "120"}, ""), status: 503, after: 2 * time.Minute},
		{name: "503 bad Retry-After", resp: response(503, map[string]string{"Retry-After": "soon"}, ""), status: 503},
		{name: "429", resp: response(429, nil, ""), status: 429},
		{name: "429 Retry-After", resp: response(429, map[string]string{"Retry-After": "7"}, `{"code":"rate_limited","message":"slow down"}`),
			status: 429, after: 7 * time.Second, code: contracts.CodeRateLimited},
		{name: "429 Retry-After huge", resp: response(429, map[string]string{"Retry-After": "99999999999999999999999"}, ""), status: 429, after: adapters.MaxRetryAfter},
		{name: "408", resp: response(408, nil, ""), status: 408},
		{name: "400", resp: response(400, nil, `{"code":"invalid_json","message":"bad"}`), permanent: true, status: 400, code: contracts.CodeInvalidJSON},
		{name: "401", resp: response(401, nil, `{"code":"bad_signature","message":"no"}`), permanent: true, status: 401, code: contracts.CodeBadSignature},
		{name: "404", resp: response(404, nil, "404 page not found"), permanent: true, status: 404},
		{name: "409", resp: response(409, nil, ""), permanent: true, status: 409},
		{name: "413", resp: response(413, nil, ""), permanent: true, status: 413},
		{name: "422 with Retry-After stays permanent", resp: response(422, map[string]string{"Retry-After": "5"}, ""), permanent: true, status: 422},
		{name: "301", resp: response(301, map[string]string{"Location": "https://x"}, ""), permanent: true, status: 301, reason: "redirect"},
		{name: "nil body", resp: &http.Response{StatusCode: 500, Header: http.Header{}}, status: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := adapters.Classify(tt.resp, tt.err)
			if tt.nilErr {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var e *adapters.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want *adapters.Error", err, err)
			}
			if e.Permanent() != tt.permanent || e.RetryAfter() != tt.after || e.Status != tt.status {
				t.Errorf("got %v: permanent %v, after %s, status %d; want %v, %s, %d",
					e, e.Permanent(), e.RetryAfter(), e.Status, tt.permanent, tt.after, tt.status)
			}
			if tt.reason != "" && !strings.Contains(e.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", e, tt.reason)
			}
			var ce *contracts.Error
			if got := errors.As(err, &ce); got != (tt.code != "") || (got && ce.Code != tt.code) {
				t.Errorf("cause %v, want code %q", e.Err, tt.code)
			}
			if tt.err != nil && !errors.Is(err, tt.err) && !strings.Contains(tt.name, "classified") {
				t.Errorf("%v does not wrap the transport error", err)
			}
		})
	}
}

func TestClassifyClipsLongMessages(t *testing.T) {
	msg := strings.Repeat("长", 500)
	err := adapters.Classify(response(400, nil, `{"code":"validation_failed","message":"`+msg+`"}`), nil)
	var ce *contracts.Error
	if !errors.As(err, &ce) || len(ce.Message) > 210 || !strings.HasSuffix(ce.Message, "…") {
		t.Errorf("message not clipped: %d bytes", len(ce.Message))
	}
	if !strings.HasPrefix(ce.Message, "长") || strings.ContainsRune(ce.Message, '\uFFFD') {
		t.Errorf("message cut inside a rune")
	}
}

func TestErrorMethods(t *testing.T) {
	cause := errors.New("boom")
	e := &adapters.Error{Reason: "partner answered 503", Status: 503, After: time.Second, Err: cause}
	if e.Error() != "adapters: partner answered 503: boom" || e.Unwrap() != cause || e.Permanent() || e.RetryAfter() != time.Second {
		t.Errorf("got %q %v %v %v", e.Error(), e.Unwrap(), e.Permanent(), e.RetryAfter())
	}
	if got := adapters.Permanent("x", nil); !got.Permanent() || got.Error() != "adapters: x" {
		t.Errorf("Permanent = %+v", got)
	}
	if got := adapters.Retryable("y", cause); got.Permanent() || !errors.Is(got, cause) {
		t.Errorf("Retryable = %+v", got)
	}
	// The gateway port finds these methods by interface assertion.
	var err error = e
	if _, ok := err.(interface{ Permanent() bool }); !ok {
		t.Error("*Error lacks Permanent() bool")
	}
	if _, ok := err.(interface{ RetryAfter() time.Duration }); !ok {
		t.Error("*Error lacks RetryAfter() time.Duration")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 14, 1, 30, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"86400", 24 * time.Hour, true},
		{"86401", adapters.MaxRetryAfter, true},
		{"99999999999999999999999", adapters.MaxRetryAfter, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"7s", 0, false},
		{"soon", 0, false},
		{"Sat, 14 Mar 2026 01:30:45 GMT", 45 * time.Second, true}, // IMF-fixdate
		{"Saturday, 14-Mar-26 01:31:00 GMT", time.Minute, true},   // RFC 850
		{"Sat Mar 14 01:32:00 2026", 2 * time.Minute, true},       // asctime
		{"Sat, 14 Mar 2026 01:00:00 GMT", 0, true},                // in the past
		{"Mon, 14 Mar 2033 01:00:00 GMT", adapters.MaxRetryAfter, true},
	}
	for _, tt := range tests {
		got, ok := adapters.ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClassifyRetryAfterDate(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	err := adapters.Classify(response(429, map[string]string{"Retry-After": at}, ""), nil)
	d := err.(*adapters.Error).RetryAfter()
	if d < 80*time.Second || d > 90*time.Second {
		t.Errorf("RetryAfter() = %s, want about 90s", d)
	}
}

func TestReasonTextHidesDetails(t *testing.T) {
	e := &adapters.Error{Reason: "partner unavailable", Status: 503, Err: errors.New("dial tcp 10.0.0.1:443: refused")}
	if got, want := e.ReasonText(), "partner unavailable (HTTP 503)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := (&adapters.Error{Reason: "timeout"}).ReasonText(); got != "timeout" {
		t.Fatalf("got %q, want timeout", got)
	}
}
