package standard_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// The adapter satisfies the gateway's port structurally; this checks the
// method set against adapters.Adapter, which mirrors it.
var _ adapters.Adapter = (*standard.Adapter)(nil)

func TestRegistered(t *testing.T) {
	if !slices.Contains(adapters.Names(), standard.Name) {
		t.Fatalf("Names() = %v, want it to contain %q", adapters.Names(), standard.Name)
	}
}

func TestDeliverCaseRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{})
	a := newAdapter(t, gw, srv.URL, "", 0)
	d := sampleCase(time.UTC)

	ack, raw, sig, err := a.DeliverCase(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	cases := sim.Cases()
	if len(cases) != 1 {
		t.Fatalf("partner holds %d cases, want 1", len(cases))
	}
	if !reflect.DeepEqual(cases[0], *d) {
		t.Errorf("case did not survive the trip:\n got %+v\nwant %+v", cases[0], *d)
	}
	body, _ := json.Marshal(d)
	want := contracts.Ack{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, PartnerCaseNo: "330702-2026-000001",
		AcknowledgedAt: fixedNow, BodySM3: gw.SM3Hex(body), KeyID: partnerID,
	}
	if !reflect.DeepEqual(*ack, want) {
		t.Errorf("ack = %+v, want %+v", *ack, want)
	}
	var fromRaw contracts.Ack
	if err := json.Unmarshal(raw, &fromRaw); err != nil || !reflect.DeepEqual(fromRaw, *ack) {
		t.Errorf("raw %s does not hold the returned ack (%v)", raw, err)
	}
	if err := signing.Verify(partner.Key.Public(), raw, sig); err != nil {
		t.Errorf("returned signature does not verify over raw with the partner's key: %v", err)
	}
}

func TestDeliverStatusRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{})
	a := newAdapter(t, gw, srv.URL+"/", "", 0) // a trailing slash is tolerated
	d := sampleStatus()

	ack, raw, sig, err := a.DeliverStatus(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	got := sim.StatusDeliveries()
	if len(got) != 1 || !reflect.DeepEqual(got[0], *d) {
		t.Fatalf("partner holds %+v, want [%+v]", got, *d)
	}
	if ack.ExchangeID != d.ExchangeID || ack.PartnerCaseNo != "" || ack.DeliveryID != d.DeliveryID {
		t.Errorf("ack = %+v", ack)
	}
	if err := signing.Verify(partner.Key.Public(), raw, sig); err != nil {
		t.Errorf("returned signature does not verify: %v", err)
	}
}

func TestRequestHeadersAndPaths(t *testing.T) {
	gw, partner := newPair(t)
	srv := newAckServer(t, partner, nil)
	a := newAdapter(t, tokenCrypto{gw}, srv.URL+"/partner", "", 0)

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := withTraceparent(tp)
	if _, _, _, err := a.DeliverCase(ctx, sampleCase(time.UTC)); err != nil {
		t.Fatal(err)
	}
	st := sampleStatus()
	st.CaseID = "case 7/甲"
	if _, _, _, err := a.DeliverStatus(context.Background(), st); err != nil {
		t.Fatal(err)
	}

	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("partner saw %d requests, want 2", len(reqs))
	}
	wantPaths := []string{"/partner/cases", "/partner/cases/case%207%2F%E7%94%B2/status"}
	for i, r := range reqs {
		if r.method != http.MethodPost || r.path != wantPaths[i] {
			t.Errorf("request %d: %s %s, want POST %s", i, r.method, r.path, wantPaths[i])
		}
		if got := r.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("request %d: Content-Type %q", i, got)
		}
		if got := r.header.Get("Gw-Key-Id"); got != gw.KeyID() {
			t.Errorf("request %d: Gw-Key-Id %q, want %q", i, got, gw.KeyID())
		}
		sig, err := base64.StdEncoding.DecodeString(r.header.Get("Gw-Signature"))
		if err != nil {
			t.Fatalf("request %d: Gw-Signature is not standard base64: %v", i, err)
		}
		if err := partner.VerifyBody(partnersim.GatewayCaller, gw.KeyID(), r.body, sig); err != nil {
			t.Errorf("request %d: gateway signature does not verify over the body: %v", i, err)
		}
		tok, ok := strings.CutPrefix(r.header.Get("Authorization"), "Bearer ")
		if !ok {
			t.Fatalf("request %d: no bearer token", i)
		}
		vt, err := signing.ParseToken(tok, func(kid, iss string) (*signing.PublicKey, error) {
			return gw.Key.Public(), nil
		}, signing.TokenPolicy{Audience: partnerID})
		if err != nil || vt.KeyID != gw.KeyID() {
			t.Errorf("request %d: token does not verify for audience %s: %v", i, partnerID, err)
		}
	}
	if got := reqs[0].header.Get("Traceparent"); got != tp {
		t.Errorf("traceparent %q, want %q", got, tp)
	}
	if got := reqs[1].header.Get("Traceparent"); got != "" {
		t.Errorf("traceparent %q sent without one in the context", got)
	}
}

func TestSimRejectsBadGatewaySignature(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{})
	rogue := newTestCrypto(t, gw.KeyID()) // another key under the gateway's key id
	rogue.Trust(partnerID, partner)
	a := newAdapter(t, rogue, srv.URL, "", 0)

	_, _, _, err := a.DeliverCase(context.Background(), sampleCase(time.UTC))
	e := asError(t, err)
	if !e.Permanent() || e.Status != http.StatusUnauthorized {
		t.Errorf("got %v (permanent %v, status %d), want a permanent 401", e, e.Permanent(), e.Status)
	}
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Code != contracts.CodeBadSignature {
		t.Errorf("cause %v, want the partner's bad_signature error", e.Err)
	}
	if n := len(sim.Cases()); n != 0 {
		t.Errorf("partner stored %d cases signed with the wrong key", n)
	}
}

func TestBadAckSignatureIsPermanent(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{BadSignature: true})
	a := newAdapter(t, gw, srv.URL, "", 0)
	d := sampleCase(time.UTC)

	_, _, _, err := a.DeliverCase(context.Background(), d)
	e := asError(t, err)
	if !e.Permanent() || !errors.Is(err, adapters.ErrBadSignature) {
		t.Fatalf("got %v, want a permanent ErrBadSignature", err)
	}
	if !strings.Contains(e.Error(), "signature does not verify") {
		t.Errorf("reason %q does not say what failed", e.Error())
	}

	sim.SetFaults(partnersim.Faults{})
	ack, _, _, err := a.DeliverCase(context.Background(), d)
	if err != nil {
		t.Fatalf("after the partner recovered: %v", err)
	}
	if ack.PartnerCaseNo != "330702-2026-000001" {
		t.Errorf("case number %q, want the one given the first time", ack.PartnerCaseNo)
	}
}

func TestFailFirstThenRecover(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{FailFirst: 5})
	a := newAdapter(t, gw, srv.URL, `, "max_retries": 2`, 0)
	d := sampleCase(time.UTC)

	_, _, _, err := a.DeliverCase(context.Background(), d)
	e := asError(t, err)
	if e.Permanent() || e.Status != http.StatusServiceUnavailable || e.RetryAfter() != 0 {
		t.Errorf("got %v (permanent %v, status %d), want a retryable 503", e, e.Permanent(), e.Status)
	}
	if n := sim.Attempts(); n != 3 {
		t.Errorf("partner saw %d tries, want 1 + max_retries = 3", n)
	}

	sim.SetFaults(partnersim.Faults{})
	if _, _, _, err := a.DeliverCase(context.Background(), d); err != nil {
		t.Fatalf("after the partner recovered: %v", err)
	}
	if n := sim.Attempts(); n != 4 {
		t.Errorf("partner saw %d tries in all, want 4", n)
	}
}

func TestInAttemptRetryRidesOutShortOutage(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{FailFirst: 2})
	a := newAdapter(t, gw, srv.URL, `, "max_retries": 2`, 0)
	if _, _, _, err := a.DeliverCase(context.Background(), sampleCase(time.UTC)); err != nil {
		t.Fatal(err)
	}
	if n := sim.Attempts(); n != 3 {
		t.Errorf("partner saw %d tries, want 3", n)
	}
}

func TestDroppedConnection(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{DropFirst: 1})

	a0 := newAdapter(t, gw, srv.URL, `, "max_retries": 0`, 0)
	_, _, _, err := a0.DeliverCase(context.Background(), sampleCase(time.UTC))
	e := asError(t, err)
	if e.Permanent() || e.Status != 0 {
		t.Errorf("got %v (permanent %v, status %d), want a retryable connection error", e, e.Permanent(), e.Status)
	}
	if n := len(sim.Cases()); n != 0 {
		t.Errorf("partner stored %d cases from a dropped connection", n)
	}

	sim.SetFaults(partnersim.Faults{DropFirst: 1})
	a2 := newAdapter(t, gw, srv.URL, `, "max_retries": 2`, 0)
	if _, _, _, err := a2.DeliverCase(context.Background(), sampleCase(time.UTC)); err != nil {
		t.Fatalf("in-attempt retry after a dropped connection: %v", err)
	}
}

func TestRedeliveryIsIdempotent(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{})
	a := newAdapter(t, gw, srv.URL, "", 0)
	d := sampleCase(time.UTC)

	ack1, raw1, sig1, err := a.DeliverCase(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	_, raw2, sig2, err := a.DeliverCase(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw1) != string(raw2) || string(sig1) != string(sig2) {
		t.Errorf("repeat got another acknowledgement:\n%s\n%s", raw1, raw2)
	}

	// A later attempt carries a new sent_at: other bytes, the same case.
	later := *d
	later.SentAt = d.SentAt.Add(time.Minute)
	ack3, _, _, err := a.DeliverCase(context.Background(), &later)
	if err != nil {
		t.Fatal(err)
	}
	if ack3.PartnerCaseNo != ack1.PartnerCaseNo || ack3.BodySM3 == ack1.BodySM3 {
		t.Errorf("later attempt: case no %q (want %q), body_sm3 %s (want a new one)", ack3.PartnerCaseNo, ack1.PartnerCaseNo, ack3.BodySM3)
	}
	if n := len(sim.Cases()); n != 1 {
		t.Errorf("partner holds %d cases, want 1", n)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	gw, partner := newPair(t)
	_, srv := newSim(t, partner, partnersim.Faults{Delay: 5 * time.Second})
	a := newAdapter(t, gw, srv.URL, `, "max_retries": 0`, 100*time.Millisecond)

	start := time.Now()
	_, _, _, err := a.DeliverCase(context.Background(), sampleCase(time.UTC))
	e := asError(t, err)
	if e.Permanent() || !strings.Contains(e.Reason, "timeout") {
		t.Errorf("got %v, want a retryable timeout", e)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("attempt took %s; the per-attempt timeout is 100ms", d)
	}
}

func TestCancelledContextIsRetryable(t *testing.T) {
	gw, partner := newPair(t)
	_, srv := newSim(t, partner, partnersim.Faults{})
	a := newAdapter(t, gw, srv.URL, "", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, _, err := a.DeliverCase(ctx, sampleCase(time.UTC))
	if e := asError(t, err); e.Permanent() || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want a retryable error wrapping context.Canceled", err)
	}
}

func TestPartnerAnswers(t *testing.T) {
	gw, partner := newPair(t)
	tests := []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		signed    bool
		permanent bool
		after     time.Duration
		tries     int64
		code      contracts.Code
		is        error
	}{
		{name: "400 with error body", status: 400, body: `{"code":"validation_failed","message":"submission.applicant: required"}`,
			permanent: true, tries: 1, code: contracts.CodeValidationFailed},
		{name: "403", status: 403, permanent: true, tries: 1},
		{name: "404", status: 404, body: "not json", permanent: true, tries: 1},
		{name: "409", status: 409, permanent: true, tries: 1},
		{name: "429 Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "7"},
			after: 7 * time.Second, tries: 1, code: contracts.CodeRateLimited,
			body: `{"code":"rate_limited","message":"slow down"}`},
		{name: "429 without Retry-After", status: 429, tries: 1},
		{name: "503 Retry-After", status: 503, header: map[string]string{"Retry-After": "3"}, after: 3 * time.Second, tries: 1},
		{name: "500 retried in attempt", status: 500, tries: 3},
		{name: "502 retried in attempt", status: 502, tries: 3},
		{name: "408 retried in attempt", status: 408, tries: 3},
		{name: "302 redirect not followed", status: 302, header: map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}, permanent: true, tries: 1},
		{name: "204 without ack", status: 204, permanent: true, tries: 1, is: adapters.ErrMalformedAck},
		{name: "200 unsigned", status: 200, body: `{}`, permanent: true, tries: 1, is: adapters.ErrBadSignature},
		{name: "200 signed but not JSON", status: 200, body: `<html>ok</html>`, signed: true, permanent: true, tries: 1, is: adapters.ErrMalformedAck},
		{name: "200 bad base64 signature", status: 200, body: `{}`, header: map[string]string{"Gw-Signature": "***", "Gw-Key-Id": partnerID},
			permanent: true, tries: 1, is: adapters.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tries atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tries.Add(1)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				if tt.signed {
					sig, _ := partner.Sign([]byte(tt.body))
					w.Header().Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
					w.Header().Set("Gw-Key-Id", partner.KeyID())
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			a := newAdapter(t, gw, srv.URL, `, "max_retries": 2`, 0)

			_, _, _, err := a.DeliverCase(context.Background(), sampleCase(time.UTC))
			e := asError(t, err)
			if e.Permanent() != tt.permanent || e.RetryAfter() != tt.after || e.Status != tt.status {
				t.Errorf("got %v: permanent %v, after %s, status %d; want %v, %s, %d",
					e, e.Permanent(), e.RetryAfter(), e.Status, tt.permanent, tt.after, tt.status)
			}
			if n := tries.Load(); n != tt.tries {
				t.Errorf("partner saw %d tries, want %d", n, tt.tries)
			}
			if tt.code != "" {
				var ce *contracts.Error
				if !errors.As(err, &ce) || ce.Code != tt.code {
					t.Errorf("cause %v, want code %s", e.Err, tt.code)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want it to wrap %v", err, tt.is)
			}
		})
	}
}

func TestAckMustMatchDelivery(t *testing.T) {
	gw, partner := newPair(t)
	tests := []struct {
		name   string
		mutate func(a *contracts.Ack) []byte
		is     error
	}{
		{"other exchange", func(a *contracts.Ack) []byte { a.ExchangeID = "01959245-f1f9-7a3c-8d2e-000000000000"; return nil }, adapters.ErrAckMismatch},
		{"other delivery", func(a *contracts.Ack) []byte { a.DeliveryID = "dlv-9999"; return nil }, adapters.ErrAckMismatch},
		{"other body digest", func(a *contracts.Ack) []byte { a.BodySM3 = strings.Repeat("ab", 32); return nil }, adapters.ErrAckMismatch},
		{"other key id in body", func(a *contracts.Ack) []byte { a.KeyID = "330702-old"; return nil }, adapters.ErrAckMismatch},
		{"no partner case no", func(a *contracts.Ack) []byte { a.PartnerCaseNo = ""; return nil }, adapters.ErrMalformedAck},
		{"no acknowledged_at", func(a *contracts.Ack) []byte { a.AcknowledgedAt = time.Time{}; return nil }, adapters.ErrMalformedAck},
		{"unknown field", func(a *contracts.Ack) []byte {
			b, _ := json.Marshal(a)
			return append(b[:len(b)-1], `,"extra":1}`...)
		}, adapters.ErrMalformedAck},
		{"trailing data", func(a *contracts.Ack) []byte {
			b, _ := json.Marshal(a)
			return append(b, ` {}`...)
		}, adapters.ErrMalformedAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAckServer(t, partner, tt.mutate)
			a := newAdapter(t, gw, srv.URL, "", 0)
			_, _, _, err := a.DeliverCase(context.Background(), sampleCase(time.UTC))
			if e := asError(t, err); !e.Permanent() || !errors.Is(err, tt.is) || e.Status != 200 {
				t.Errorf("got %v (permanent %v, status %d), want a permanent %v", err, e.Permanent(), e.Status, tt.is)
			}
		})
	}

	t.Run("signed by a key not registered for the partner", func(t *testing.T) {
		rogue := newTestCrypto(t, partnerID)
		srv := newAckServer(t, rogue, nil)
		a := newAdapter(t, gw, srv.URL, "", 0)
		_, _, _, err := a.DeliverCase(context.Background(), sampleCase(time.UTC))
		if e := asError(t, err); !e.Permanent() || !errors.Is(err, adapters.ErrBadSignature) {
			t.Errorf("got %v, want a permanent ErrBadSignature", err)
		}
	})
}

func TestNilAndInvalidDeliveries(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1", "", 0)
	ctx := context.Background()
	_, _, _, err1 := a.DeliverCase(ctx, nil)
	_, _, _, err2 := a.DeliverStatus(ctx, nil)
	st := sampleStatus()
	st.CaseID = ""
	_, _, _, err3 := a.DeliverStatus(ctx, st)
	bad := sampleCase(time.UTC)
	bad.Submission.Form = json.RawMessage(`{not json`)
	_, _, _, err4 := a.DeliverCase(ctx, bad)
	for i, err := range []error{err1, err2, err3, err4} {
		if e := asError(t, err); !e.Permanent() {
			t.Errorf("%d: got %v, want permanent", i, err)
		}
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	gw, _ := newPair(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	a := newAdapter(t, gw, url, `, "max_retries": 1`, 0)
	_, _, _, err := a.DeliverCase(context.Background(), sampleCase(time.UTC))
	if e := asError(t, err); e.Permanent() || e.Status != 0 {
		t.Errorf("got %v, want a retryable connection error", err)
	}
}

func TestConfig(t *testing.T) {
	gw, _ := newPair(t)
	tests := []struct {
		name, config string
		wantErr      string // substring; empty means valid
		retries      int
	}{
		{name: "minimal", config: `{"endpoint": "http://127.0.0.1:9001/partner"}`, retries: standard.DefaultMaxRetries},
		{name: "https with retries", config: `{"endpoint": "https://jh.example.gov.cn/tongban/", "max_retries": 0}`},
		{name: "empty", config: ``, wantErr: "empty"},
		{name: "no endpoint", config: `{}`, wantErr: "endpoint is required"},
		{name: "relative endpoint", config: `{"endpoint": "partner/cases"}`, wantErr: "absolute"},
		{name: "other scheme", config: `{"endpoint": "ftp://127.0.0.1/x"}`, wantErr: "absolute http"},
		{name: "no host", config: `{"endpoint": "http:///x"}`, wantErr: "no host"},
		{name: "query", config: `{"endpoint": "http://127.0.0.1/x?a=1"}`, wantErr: "query"},
		{name: "user info", config: `{"endpoint": "http://u:secret@127.0.0.1/x"}`, wantErr: "user info"},
		{name: "unknown field", config: `{"endpoint": "http://127.0.0.1/x", "retries": 3}`, wantErr: "unknown field"},
		{name: "negative retries", config: `{"endpoint": "http://127.0.0.1/x", "max_retries": -1}`, wantErr: "out of range"},
		{name: "too many retries", config: `{"endpoint": "http://127.0.0.1/x", "max_retries": 11}`, wantErr: "out of range"},
		{name: "wrong type", config: `{"endpoint": 5}`, wantErr: "cannot unmarshal"},
		{name: "trailing data", config: `{"endpoint": "http://127.0.0.1/x"} {}`, wantErr: "trailing"},
		{name: "not json", config: `endpoint: x`, wantErr: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.New(standard.Name, adapters.Params{PartnerID: partnerID, Config: json.RawMessage(tt.config), Crypto: gw})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				c, err := standard.ParseConfig(json.RawMessage(tt.config))
				if err != nil || *c.MaxRetries != tt.retries || strings.HasSuffix(c.Endpoint, "/") {
					t.Errorf("ParseConfig = %+v, %v", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "standard adapter for partner "+partnerID) {
				t.Errorf("error %q does not name the adapter and partner", err)
			}
		})
	}
}

func TestNewNeedsParams(t *testing.T) {
	gw, _ := newPair(t)
	cfg := json.RawMessage(`{"endpoint": "http://127.0.0.1:9001"}`)
	for _, p := range []adapters.Params{
		{Config: cfg, Crypto: gw},
		{PartnerID: partnerID, Config: cfg},
		{PartnerID: partnerID, Config: cfg, Crypto: gw, Timeout: -time.Second},
	} {
		if _, err := standard.New(p); err == nil {
			t.Errorf("New(%+v) succeeded", p)
		}
	}
}
