package standard_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

var (
	_ adapters.LicenseSource  = (*standard.Adapter)(nil)
	_ adapters.UsageDeliverer = (*standard.Adapter)(nil)
)

// TestLookupThroughSim looks licenses up in the simulator's demo library
// through the real adapter, by identifier and by holder.
func TestLookupThroughSim(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{})
	a := newAdapter(t, gw, srv.URL, "", 0)
	citizen := demoLicense(t, partnersim.DemoValidCitizen)
	renewed := demoLicense(t, partnersim.DemoRenewed)
	expired := demoLicense(t, partnersim.DemoExpired)

	byHolder := func(rec contracts.LicenseRecord, number string) *contracts.LicenseLookupRequest {
		q := sampleLookup("")
		q.Holder = &contracts.Holder{HolderType: rec.Holder.HolderType, IDNumber: rec.Holder.IDNumber}
		q.LicenseTypeCode, q.LicenseNumber = rec.TypeCode, number
		return q
	}
	unknown, err := contracts.NewLicenseID(citizen.TypeCode, citizen.IssuerCode, "330702999999", "001")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    *contracts.LicenseLookupRequest
		want *contracts.LicenseRecord // nil: not found
	}{
		{"by id", sampleLookup(citizen.LicenseID), &citizen},
		{"by id, unknown", sampleLookup(unknown.String()), nil},
		{"by holder prefers the valid one", byHolder(renewed, ""), &renewed},
		{"by holder and number", byHolder(expired, expired.Number), &expired},
		{"by holder, other number", byHolder(expired, "JY0000000000000"), nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, raw, sig, err := a.LookupLicense(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ExchangeID != tt.q.ExchangeID {
				t.Errorf("exchange id %q, want %q", resp.ExchangeID, tt.q.ExchangeID)
			}
			switch {
			case tt.want == nil && (resp.Found || resp.License != nil):
				t.Errorf("got found %v with %v, want not found", resp.Found, resp.License)
			case tt.want != nil && (!resp.Found || resp.License == nil || !reflect.DeepEqual(*resp.License, *tt.want)):
				t.Errorf("got found %v with %+v, want %+v", resp.Found, resp.License, *tt.want)
			}
			var fromRaw contracts.LicenseLookupResponse
			if err := json.Unmarshal(raw, &fromRaw); err != nil || !reflect.DeepEqual(&fromRaw, resp) {
				t.Errorf("raw %s does not hold the returned answer (%v)", raw, err)
			}
			if err := signing.Verify(partner.Key.Public(), raw, sig); err != nil {
				t.Errorf("returned signature does not verify over raw: %v", err)
			}
			if n := sim.Lookups(); n != i+1 {
				t.Errorf("simulator saw %d lookups, want %d", n, i+1)
			}
		})
	}
	if n := sim.Attempts(); n != 0 {
		t.Errorf("lookups counted as %d delivery attempts", n)
	}
}

func TestLookupRequestHeaders(t *testing.T) {
	gw, partner := newPair(t)
	rec := demoLicense(t, partnersim.DemoValidCompany)
	srv := newLibraryServer(t, partner, found(rec))
	a := newAdapter(t, tokenCrypto{gw}, srv.URL+"/partner/", "", 0)

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	q := sampleLookup(rec.LicenseID)
	if _, _, _, err := a.LookupLicense(withTraceparent(tp), q); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("library saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/partner/licenses/lookup" {
		t.Errorf("request %s %s, want POST /partner/licenses/lookup", r.method, r.path)
	}
	if want, _ := json.Marshal(q); string(r.body) != string(want) {
		t.Errorf("body %s, want %s", r.body, want)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Gw-Key-Id": gw.KeyID(), "Traceparent": tp} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
	sig, err := base64.StdEncoding.DecodeString(r.header.Get("Gw-Signature"))
	if err != nil {
		t.Fatal(err)
	}
	if err := partner.VerifyBody(partnersim.GatewayCaller, gw.KeyID(), r.body, sig); err != nil {
		t.Errorf("gateway signature does not verify over the body: %v", err)
	}
	tok, ok := strings.CutPrefix(r.header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatal("no bearer token")
	}
	if _, err := signing.ParseToken(tok, func(string, string) (*signing.PublicKey, error) {
		return gw.Key.Public(), nil
	}, signing.TokenPolicy{Audience: partnerID}); err != nil {
		t.Errorf("token does not verify for audience %s: %v", partnerID, err)
	}
}

// idRun finds a run of characters that could be a citizen id or credit
// code: error reasons must not carry one.
var idRun = regexp.MustCompile(`[0-9A-Z]{15,}`)

func TestLookupAnswerChecks(t *testing.T) {
	gw, partner := newPair(t)
	rec := demoLicense(t, partnersim.DemoValidCitizen)
	q := sampleLookup(rec.LicenseID)
	answer := func(mutate func(r *contracts.LicenseLookupResponse) []byte) func(contracts.LicenseLookupRequest) (int, []byte, bool) {
		return func(got contracts.LicenseLookupRequest) (int, []byte, bool) {
			c := rec
			r := contracts.LicenseLookupResponse{ExchangeID: got.ExchangeID, Found: true, License: &c}
			b := mutate(&r)
			if b == nil {
				b, _ = json.Marshal(r)
			}
			return http.StatusOK, b, true
		}
	}
	tests := []struct {
		name   string
		answer func(contracts.LicenseLookupRequest) (int, []byte, bool)
		is     error
	}{
		{"other exchange", answer(func(r *contracts.LicenseLookupResponse) []byte {
			r.ExchangeID = "01959250-aaaa-7bbb-8ccc-00000000ffff"
			return nil
		}), adapters.ErrAckMismatch},
		{"bad license_id check character", answer(func(r *contracts.LicenseLookupResponse) []byte {
			id := r.License.LicenseID
			last := byte('0')
			if id[len(id)-1] == '0' {
				last = '1'
			}
			r.License.LicenseID = id[:len(id)-1] + string(last)
			return nil
		}), adapters.ErrMalformedAck},
		{"bad holder citizen id", answer(func(r *contracts.LicenseLookupResponse) []byte {
			r.License.Holder.IDNumber = r.License.Holder.IDNumber[:17] + "0"
			if r.License.Holder.IDNumber == rec.Holder.IDNumber {
				r.License.Holder.IDNumber = r.License.Holder.IDNumber[:17] + "1"
			}
			return nil
		}), adapters.ErrMalformedAck},
		{"unknown status", answer(func(r *contracts.LicenseLookupResponse) []byte {
			r.License.Status = "lost"
			return nil
		}), adapters.ErrMalformedAck},
		{"another license", answer(func(r *contracts.LicenseLookupResponse) []byte {
			other := demoLicense(t, partnersim.DemoValidCompany)
			r.License = &other
			return nil
		}), adapters.ErrAckMismatch},
		{"found without license", answer(func(r *contracts.LicenseLookupResponse) []byte {
			r.License = nil
			return nil
		}), adapters.ErrMalformedAck},
		{"not found with license", answer(func(r *contracts.LicenseLookupResponse) []byte {
			r.Found = false
			return nil
		}), adapters.ErrMalformedAck},
		{"found missing", answer(func(r *contracts.LicenseLookupResponse) []byte {
			return []byte(`{"exchange_id":"` + r.ExchangeID + `"}`)
		}), adapters.ErrMalformedAck},
		{"unknown field", answer(func(r *contracts.LicenseLookupResponse) []byte {
			b, _ := json.Marshal(r)
			return append(b[:len(b)-1], `,"330702198506121277":1}`...)
		}), adapters.ErrMalformedAck},
		{"id number of the wrong type", answer(func(r *contracts.LicenseLookupResponse) []byte {
			b, _ := json.Marshal(r)
			return []byte(strings.Replace(string(b), `"`+rec.Holder.IDNumber+`"`, rec.Holder.IDNumber[:17], 1))
		}), adapters.ErrMalformedAck},
		{"trailing data", answer(func(r *contracts.LicenseLookupResponse) []byte {
			b, _ := json.Marshal(r)
			return append(b, ` {}`...)
		}), adapters.ErrMalformedAck},
		{"not JSON", answer(func(*contracts.LicenseLookupResponse) []byte { return []byte(`<html>ok</html>`) }), adapters.ErrMalformedAck},
		{"too large", answer(func(r *contracts.LicenseLookupResponse) []byte {
			r.License.StatusReason = strings.Repeat("x", standard.MaxLookupAnswerSize)
			return nil
		}), adapters.ErrMalformedAck},
		{"unsigned", func(got contracts.LicenseLookupRequest) (int, []byte, bool) {
			s, b, _ := found(rec)(got)
			return s, b, false
		}, adapters.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newLibraryServer(t, partner, tt.answer)
			a := newAdapter(t, gw, srv.URL, "", 0)
			resp, raw, sig, err := a.LookupLicense(context.Background(), q)
			e := asError(t, err)
			if !e.Permanent() || !errors.Is(err, tt.is) || e.Status != http.StatusOK {
				t.Errorf("got %v (permanent %v, status %d), want a permanent %v", err, e.Permanent(), e.Status, tt.is)
			}
			if resp != nil || raw != nil || sig != nil {
				t.Error("a failed lookup returned an answer")
			}
			if m := idRun.FindString(e.Error()); m != "" {
				t.Errorf("error %q quotes %q, which may be personal data", e.Error(), m)
			}
		})
	}

	t.Run("signed by a key not registered for the partner", func(t *testing.T) {
		srv := newLibraryServer(t, newTestCrypto(t, partnerID), found(rec))
		a := newAdapter(t, gw, srv.URL, "", 0)
		_, _, _, err := a.LookupLicense(context.Background(), q)
		if e := asError(t, err); !e.Permanent() || !errors.Is(err, adapters.ErrBadSignature) {
			t.Errorf("got %v, want a permanent ErrBadSignature", err)
		}
	})
}

func TestLookupBadSignatureFromSim(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{BadSignature: true})
	a := newAdapter(t, gw, srv.URL, "", 0)
	q := sampleLookup(demoLicense(t, partnersim.DemoRevoked).LicenseID)

	_, _, _, err := a.LookupLicense(context.Background(), q)
	if e := asError(t, err); !e.Permanent() || !errors.Is(err, adapters.ErrBadSignature) || !strings.Contains(e.Reason, "lookup answer signature does not verify") {
		t.Fatalf("got %v, want a permanent ErrBadSignature about the lookup answer", err)
	}
	sim.SetFaults(partnersim.Faults{})
	resp, _, _, err := a.LookupLicense(context.Background(), q)
	if err != nil || !resp.Found || resp.License.Status != contracts.LicenseStatusRevoked {
		t.Fatalf("after the library recovered: %+v, %v", resp, err)
	}
}

// TestLookupIsTriedOnce checks that failures that deliveries retry inside
// an attempt are returned at once for a lookup, classified alike.
func TestLookupIsTriedOnce(t *testing.T) {
	gw, partner := newPair(t)
	tests := []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		permanent bool
		after     time.Duration
		code      contracts.Code
	}{
		{name: "503", status: 503, body: `{"code":"unavailable","message":"down"}`, code: contracts.CodeUnavailable},
		{name: "500", status: 500},
		{name: "408", status: 408},
		{name: "429 Retry-After", status: 429, header: map[string]string{"Retry-After": "7"}, after: 7 * time.Second,
			body: `{"code":"rate_limited","message":"slow down"}`, code: contracts.CodeRateLimited},
		{name: "400", status: 400, body: `{"code":"validation_failed","message":"purpose: is required"}`, permanent: true, code: contracts.CodeValidationFailed},
		{name: "404", status: 404, permanent: true},
		{name: "201 is not 200", status: 201, permanent: true},
		{name: "302 not followed", status: 302, header: map[string]string{"Location": "http://127.0.0.1:1/x"}, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newLibraryServerWithHeader(t, partner, tt.header, func(contracts.LicenseLookupRequest) (int, []byte, bool) {
				return tt.status, []byte(tt.body), false
			})
			a := newAdapter(t, gw, srv.URL, `, "max_retries": 3`, 0)
			_, _, _, err := a.LookupLicense(context.Background(), sampleLookup(demoLicense(t, partnersim.DemoValidCitizen).LicenseID))
			e := asError(t, err)
			if e.Permanent() != tt.permanent || e.RetryAfter() != tt.after || e.Status != tt.status {
				t.Errorf("got %v: permanent %v, after %s, status %d; want %v, %s, %d",
					e, e.Permanent(), e.RetryAfter(), e.Status, tt.permanent, tt.after, tt.status)
			}
			if n := len(srv.requests()); n != 1 {
				t.Errorf("library saw %d tries, want 1", n)
			}
			if tt.code != "" {
				var ce *contracts.Error
				if !errors.As(err, &ce) || ce.Code != tt.code {
					t.Errorf("cause %v, want code %s", e.Err, tt.code)
				}
			}
		})
	}

	t.Run("simulated library outage", func(t *testing.T) {
		sim, srv := newSim(t, partner, partnersim.Faults{LookupFail: true})
		a := newAdapter(t, gw, srv.URL, `, "max_retries": 3`, 0)
		_, _, _, err := a.LookupLicense(context.Background(), sampleLookup(demoLicense(t, partnersim.DemoValidCitizen).LicenseID))
		if e := asError(t, err); e.Permanent() || e.Status != http.StatusServiceUnavailable {
			t.Errorf("got %v, want a retryable 503", err)
		}
		if n := sim.Lookups(); n != 1 {
			t.Errorf("simulator saw %d lookups, want 1", n)
		}
	})
}

func TestLookupHonoursContextDeadline(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{LookupDelay: 10 * time.Second})
	a := newAdapter(t, gw, srv.URL, `, "max_retries": 3`, 0) // Params.Timeout is the default 10s

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, _, err := a.LookupLicense(ctx, sampleLookup(demoLicense(t, partnersim.DemoValidCitizen).LicenseID))
	e := asError(t, err)
	if e.Permanent() || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(e.Reason, "timeout") {
		t.Errorf("got %v, want a retryable timeout wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("lookup took %s; the context allowed 100ms", d)
	}
	if n := sim.Lookups(); n != 1 {
		t.Errorf("simulator saw %d lookups, want 1", n)
	}
}

func TestLookupParamsTimeout(t *testing.T) {
	gw, partner := newPair(t)
	_, srv := newSim(t, partner, partnersim.Faults{LookupDelay: 10 * time.Second})
	a := newAdapter(t, gw, srv.URL, "", 100*time.Millisecond)
	start := time.Now()
	_, _, _, err := a.LookupLicense(context.Background(), sampleLookup(demoLicense(t, partnersim.DemoValidCitizen).LicenseID))
	if e := asError(t, err); e.Permanent() || !strings.Contains(e.Reason, "timeout") {
		t.Errorf("got %v, want a retryable timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("lookup took %s; the per-attempt timeout is 100ms", d)
	}
}

func TestDeliverUsageThroughSim(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{FailFirst: 2})
	a := newAdapter(t, gw, srv.URL, `, "max_retries": 2`, 0)
	d := sampleUsage()

	ack, raw, sig, err := a.DeliverUsage(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if n := sim.Attempts(); n != 3 {
		t.Errorf("partner saw %d tries, want 3 (two 503s ridden out in the attempt)", n)
	}
	body, _ := json.Marshal(d)
	want := contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, AcknowledgedAt: fixedNow, BodySM3: gw.SM3Hex(body), KeyID: partnerID}
	if !reflect.DeepEqual(*ack, want) {
		t.Errorf("ack = %+v, want %+v", *ack, want)
	}
	if err := signing.Verify(partner.Key.Public(), raw, sig); err != nil {
		t.Errorf("returned signature does not verify: %v", err)
	}
	// A repeat is the same exchange: the same answer, one record kept.
	_, raw2, _, err := a.DeliverUsage(context.Background(), d)
	if err != nil || string(raw2) != string(raw) {
		t.Errorf("repeat answered %s, %v; want %s", raw2, err, raw)
	}
	if got := sim.UsageRecords(); len(got) != 1 || !reflect.DeepEqual(got[0], *d) {
		t.Errorf("UsageRecords() = %+v, want [%+v]", got, *d)
	}
}

func TestDeliverUsageAckChecks(t *testing.T) {
	gw, partner := newPair(t)
	tests := []struct {
		name   string
		mutate func(a *contracts.Ack) []byte
		is     error
	}{
		{"other exchange", func(a *contracts.Ack) []byte { a.ExchangeID = "01959245-f1f9-7a3c-8d2e-000000000000"; return nil }, adapters.ErrAckMismatch},
		{"other delivery", func(a *contracts.Ack) []byte { a.DeliveryID = "dlv-9999"; return nil }, adapters.ErrAckMismatch},
		{"other body digest", func(a *contracts.Ack) []byte { a.BodySM3 = strings.Repeat("ab", 32); return nil }, adapters.ErrAckMismatch},
		{"no acknowledged_at", func(a *contracts.Ack) []byte { a.AcknowledgedAt = time.Time{}; return nil }, adapters.ErrMalformedAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAckServer(t, partner, tt.mutate)
			a := newAdapter(t, gw, srv.URL, "", 0)
			_, _, _, err := a.DeliverUsage(context.Background(), sampleUsage())
			if e := asError(t, err); !e.Permanent() || !errors.Is(err, tt.is) {
				t.Errorf("got %v, want a permanent %v", err, tt.is)
			}
			if reqs := srv.requests(); len(reqs) != 1 || reqs[0].path != "/licenses/usage" {
				t.Errorf("partner saw %+v, want one POST /licenses/usage", reqs)
			}
		})
	}
	t.Run("a usage ack need not carry a case number", func(t *testing.T) {
		srv := newAckServer(t, partner, func(a *contracts.Ack) []byte { a.PartnerCaseNo = ""; return nil })
		a := newAdapter(t, gw, srv.URL, "", 0)
		if _, _, _, err := a.DeliverUsage(context.Background(), sampleUsage()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNilLicenseCalls(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1", "", 0)
	ctx := context.Background()
	_, _, _, err1 := a.LookupLicense(ctx, nil)
	_, _, _, err2 := a.LookupLicense(ctx, &contracts.LicenseLookupRequest{LicenseID: "x"})
	_, _, _, err3 := a.DeliverUsage(ctx, nil)
	for i, err := range []error{err1, err2, err3} {
		if e := asError(t, err); !e.Permanent() {
			t.Errorf("%d: got %v, want permanent", i, err)
		}
	}
}

func TestLookupConnectionRefused(t *testing.T) {
	gw, _ := newPair(t)
	srv := newLibraryServer(t, nil, nil)
	url := srv.URL
	srv.Close()
	a := newAdapter(t, gw, url, "", 0)
	_, _, _, err := a.LookupLicense(context.Background(), sampleLookup(demoLicense(t, partnersim.DemoValidCitizen).LicenseID))
	if e := asError(t, err); e.Permanent() || e.Status != 0 {
		t.Errorf("got %v, want a retryable connection error", err)
	}
}
