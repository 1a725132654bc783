package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/signing"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := e.newCase()
	path := "/v1/cases/" + rc.CaseID
	now := e.Now()

	hs256, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": zhonglou, "aud": gatewayID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": newUUID(t),
	}).SignedString([]byte("a shared secret is not an SM2 key"))
	if err != nil {
		t.Fatalf("HS256 token: %v", err)
	}

	tests := []struct {
		name   string
		auth   string // Authorization header; "" means none
		status int
		code   contracts.Code // "" means the request passes
	}{
		{name: "no header", auth: "", status: 401, code: contracts.CodeUnauthenticated},
		{name: "basic scheme", auth: "Basic x", status: 401, code: contracts.CodeUnauthenticated},
		{name: "bearer without token", auth: "Bearer ", status: 401, code: contracts.CodeUnauthenticated},
		{name: "garbage token", auth: "Bearer not.a.jwt", status: 401, code: contracts.CodeUnauthenticated},
		{name: "alg HS256", auth: "Bearer " + hs256, status: 401, code: contracts.CodeUnauthenticated},
		{
			name:   "another audience",
			auth:   "Bearer " + e.mint(e.keys[zhonglou], signing.TokenRequest{KeyID: zhonglou, Issuer: zhonglou, Audience: "some-other-gateway", TTL: time.Minute, Now: now}),
			status: 401, code: contracts.CodeUnauthenticated,
		},
		{
			name:   "signed with another key under a registered kid",
			auth:   "Bearer " + e.mint(e.keys[chiping], signing.TokenRequest{KeyID: zhonglou, Issuer: zhonglou, Audience: gatewayID, TTL: time.Minute, Now: now}),
			status: 401, code: contracts.CodeUnauthenticated,
		},
		{
			name:   "expired by the keyring clock",
			auth:   "Bearer " + e.mint(e.keys[zhonglou], signing.TokenRequest{KeyID: zhonglou, Issuer: zhonglou, Audience: gatewayID, TTL: 5 * time.Minute, Now: now.Add(-6 * time.Minute)}),
			status: 401, code: contracts.CodeTokenExpired,
		},
		{
			name:   "valid by the wall clock but expired by the keyring clock",
			auth:   "Bearer " + e.mint(e.keys[zhonglou], signing.TokenRequest{KeyID: zhonglou, Issuer: zhonglou, Audience: gatewayID, TTL: 5 * time.Minute, Now: time.Now()}),
			status: 401, code: contracts.CodeTokenExpired,
		},
		{
			name:   "lifetime over the maximum",
			auth:   "Bearer " + e.mint(e.keys[zhonglou], signing.TokenRequest{KeyID: zhonglou, Issuer: zhonglou, Audience: gatewayID, TTL: 11 * time.Minute, Now: now}),
			status: 401, code: contracts.CodeTokenExpired,
		},
		{
			name:   "kid not registered",
			auth:   "Bearer " + e.mint(e.keys[zhonglou], signing.TokenRequest{KeyID: "no-such-key", Issuer: zhonglou, Audience: gatewayID, TTL: time.Minute, Now: now}),
			status: 401, code: contracts.CodeUnknownKey,
		},
		{
			name:   "kid registered for another caller",
			auth:   "Bearer " + e.mint(e.keys[chiping], signing.TokenRequest{KeyID: chiping, Issuer: zhonglou, Audience: gatewayID, TTL: time.Minute, Now: now}),
			status: 401, code: contracts.CodeUnknownKey,
		},
		{name: "key registered, caller not in directory", auth: "Bearer " + e.tokenFor(stranger), status: 401, code: contracts.CodeUnauthenticated},
		{name: "valid token", auth: "Bearer " + e.tokenFor(zhonglou), status: 200},
		{name: "valid token with sub", auth: "Bearer " + e.mint(e.keys[zhonglou], signing.TokenRequest{KeyID: zhonglou, Issuer: zhonglou, Subject: "zl-0231", Audience: gatewayID, TTL: 10 * time.Minute, Now: now}), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodGet, path, nil, map[string]string{"Authorization": tt.auth})
			if tt.code != "" {
				wantError(t, r, tt.status, tt.code)
				return
			}
			if r.status != tt.status {
				t.Fatalf("status: got %d %s, want %d", r.status, r.body, tt.status)
			}
			var v contracts.CaseView
			if err := json.Unmarshal(r.body, &v); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if got, want := v.CaseID, rc.CaseID; got != want {
				t.Errorf("case_id: got %q, want %q", got, want)
			}
		})
	}
}

// A token that verified (and so was cached) is refused once the keyring's
// clock passes its exp.
func TestAuthenticationTokenExpiresWithClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint(e.keys[zhonglou], signing.TokenRequest{KeyID: zhonglou, Issuer: zhonglou, Audience: gatewayID, TTL: 2 * time.Minute, Now: e.Now()})
	hdr := map[string]string{"Authorization": "Bearer " + tok}
	path := "/v1/cases/" + newUUID(t)

	r := e.do(http.MethodGet, path, nil, hdr)
	wantError(t, r, http.StatusNotFound, contracts.CodeNotFound) // authenticated: the case just does not exist
	e.advance(time.Minute)
	r = e.do(http.MethodGet, path, nil, hdr)
	wantError(t, r, http.StatusNotFound, contracts.CodeNotFound)
	e.advance(90 * time.Second)
	r = e.do(http.MethodGet, path, nil, hdr)
	wantError(t, r, http.StatusUnauthorized, contracts.CodeTokenExpired)
}

func TestSubmitBodyHandling(t *testing.T) {
	t.Parallel()
	const maxBody = 4 << 10
	e := newEnv(t, func(o *httpapi.Options) { o.MaxBody = maxBody })
	body := submission(t)
	if len(body) > maxBody {
		t.Fatalf("golden submission is %d bytes, over the %d-byte limit of this test", len(body), maxBody)
	}
	// big is valid JSON (a submission padded with spaces), over the limit.
	big := append(bytes.Repeat([]byte(" "), 2*maxBody), body...)

	otherSig := e.sign(chiping, body)
	tests := []struct {
		name        string
		body        []byte
		contentType string
		signature   string // "" means absent
		keyID       string
		chunked     bool // no Content-Length
		status      int
		code        contracts.Code
	}{
		{name: "text/plain", body: body, contentType: "text/plain", signature: e.sign(zhonglou, body), keyID: zhonglou, status: 415, code: contracts.CodeUnsupportedMedia},
		{name: "no content type", body: body, contentType: "", signature: e.sign(zhonglou, body), keyID: zhonglou, status: 415, code: contracts.CodeUnsupportedMedia},
		{name: "json lookalike", body: body, contentType: "application/jsonp", signature: e.sign(zhonglou, body), keyID: zhonglou, status: 415, code: contracts.CodeUnsupportedMedia},
		{name: "over MaxBody with Content-Length", body: big, contentType: "application/json", signature: e.sign(zhonglou, big), keyID: zhonglou, status: 413, code: contracts.CodeBodyTooLarge},
		{name: "over MaxBody chunked", body: big, contentType: "application/json", signature: e.sign(zhonglou, big), keyID: zhonglou, chunked: true, status: 413, code: contracts.CodeBodyTooLarge},
		{name: "one byte over MaxBody chunked", body: append(bytes.Repeat([]byte(" "), maxBody+1-len(body)), body...), contentType: "application/json", signature: "x", keyID: zhonglou, chunked: true, status: 413, code: contracts.CodeBodyTooLarge},
		{name: "signature not base64", body: body, contentType: "application/json", signature: "%%% not base64 %%%", keyID: zhonglou, status: 401, code: contracts.CodeBadSignature},
		{name: "signature missing", body: body, contentType: "application/json", signature: "", keyID: zhonglou, status: 401, code: contracts.CodeBadSignature},
		{name: "key id missing", body: body, contentType: "application/json", signature: e.sign(zhonglou, body), keyID: "", status: 401, code: contracts.CodeBadSignature},
		{name: "signature by another key", body: body, contentType: "application/json", signature: otherSig, keyID: zhonglou, status: 401, code: contracts.CodeBadSignature},
		{name: "another caller's key id", body: body, contentType: "application/json", signature: otherSig, keyID: chiping, status: 401, code: contracts.CodeUnknownKey},
		{name: "signature over other bytes", body: body, contentType: "application/json", signature: e.sign(zhonglou, append([]byte(" "), body...)), keyID: zhonglou, status: 401, code: contracts.CodeBadSignature},
		{name: "signature garbage DER", body: body, contentType: "application/json", signature: base64.StdEncoding.EncodeToString([]byte("not a DER signature")), keyID: zhonglou, status: 401, code: contracts.CodeBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rd io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				rd = struct{ io.Reader }{rd} // hides the length from net/http
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/v1/cases", rd)
			if err != nil {
				t.Fatal(err)
			}
			if tt.chunked {
				req.ContentLength = -1
				req.TransferEncoding = []string{"chunked"}
			}
			req.Header.Set("Authorization", "Bearer "+e.tokenFor(zhonglou))
			for k, v := range map[string]string{"Content-Type": tt.contentType, httpapi.HeaderSignature: tt.signature, httpapi.HeaderKeyID: tt.keyID} {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
			wantError(t, e.send(req), tt.status, tt.code)
		})
	}
}

func TestSubmitCase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := submission(t)
	var sub contracts.CaseSubmission
	if err := json.Unmarshal(body, &sub); err != nil {
		t.Fatal(err)
	}

	first := e.post(zhonglou, "/v1/cases", body)
	if got, want := first.status, http.StatusAccepted; got != want {
		t.Fatalf("first submission: got %d %s, want %d", got, first.body, want)
	}
	if ct := first.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	rc := e.verifyReceipt(first)
	if got, want := rc.State, contracts.CaseStateReceived; got != want {
		t.Errorf("receipt state: got %q, want %q", got, want)
	}
	if got, want := rc.ExchangeID, sub.ExchangeID; got != want {
		t.Errorf("receipt exchange_id: got %q, want %q", got, want)
	}
	if err := contracts.ValidateUUID(rc.CaseID); err != nil {
		t.Errorf("receipt case_id %q: %v", rc.CaseID, err)
	}
	if got, want := rc.BodySM3, hexSM3(body); got != want {
		t.Errorf("receipt body_sm3: got %s, want %s", got, want)
	}
	if rc.ReceivedAt.IsZero() {
		t.Errorf("receipt received_at: got zero, want the time")
	}

	t.Run("same request again", func(t *testing.T) {
		again := e.post(zhonglou, "/v1/cases", body)
		if got, want := again.status, http.StatusOK; got != want {
			t.Fatalf("replay: got %d %s, want %d", got, again.body, want)
		}
		if !bytes.Equal(again.body, first.body) {
			t.Errorf("replay body: got %s, want byte-identical %s", again.body, first.body)
		}
		e.verifyReceipt(again)
	})
	t.Run("same exchange_id, one byte changed", func(t *testing.T) {
		changed := bytes.Replace(body, []byte(`"employees": 2`), []byte(`"employees": 3`), 1)
		if bytes.Equal(changed, body) || len(changed) != len(body) {
			t.Fatal("could not change one byte of the submission")
		}
		wantError(t, e.post(zhonglou, "/v1/cases", changed), http.StatusConflict, contracts.CodeExchangeConflict)
	})
	t.Run("same exchange_id from another sender is its own exchange", func(t *testing.T) {
		// chiping does not serve from_region 320404: forbidden, not a replay of zhonglou's receipt.
		wantError(t, e.post(chiping, "/v1/cases", body), http.StatusForbidden, contracts.CodeForbidden)
	})
	t.Run("invalid JSON", func(t *testing.T) {
		wantError(t, e.post(zhonglou, "/v1/cases", []byte(`{"exchange_id":`)), http.StatusBadRequest, contracts.CodeInvalidJSON)
	})
	t.Run("a window may not submit", func(t *testing.T) {
		wantError(t, e.post(window, "/v1/cases", submission(t)), http.StatusForbidden, contracts.CodeForbidden)
	})
}

func hexSM3(b []byte) string {
	const hexdigits = "0123456789abcdef"
	d := signing.Default.SM3(b)
	out := make([]byte, 0, 2*len(d))
	for _, c := range d {
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(out)
}

func TestGetCase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := e.newCase()

	tests := []struct {
		name   string
		caller string
		id     string
		status int
		code   contracts.Code
	}{
		{name: "sender", caller: zhonglou, id: rc.CaseID, status: 200},
		{name: "owner", caller: wucheng, id: rc.CaseID, status: 200},
		{name: "window serving from_region", caller: window, id: rc.CaseID, status: 200},
		{name: "operator", caller: operator, id: rc.CaseID, status: 200},
		{name: "foreign partner", caller: chiping, id: rc.CaseID, status: 404, code: contracts.CodeNotFound},
		{name: "unknown id", caller: zhonglou, id: newUUID(t), status: 404, code: contracts.CodeNotFound},
		{name: "unknown id, not a uuid", caller: zhonglou, id: "no-such-case", status: 404, code: contracts.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(tt.caller, "/v1/cases/"+tt.id)
			if tt.code != "" {
				wantError(t, r, tt.status, tt.code)
				return
			}
			if r.status != tt.status {
				t.Fatalf("status: got %d %s, want %d", r.status, r.body, tt.status)
			}
			var v contracts.CaseView
			if err := json.Unmarshal(r.body, &v); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			for _, c := range []struct{ field, got, want string }{
				{"case_id", v.CaseID, rc.CaseID},
				{"exchange_id", v.ExchangeID, rc.ExchangeID},
				{"sender", v.Sender, zhonglou},
				{"owner", v.Owner, wucheng},
				{"from_region", v.FromRegion, "320404"},
				{"to_region", v.ToRegion, "330702"},
				{"state", string(v.State), string(contracts.CaseStateReceived)},
				{"local_case_no", v.LocalCaseNo, "ZL-KSTB-20250314-0017"},
			} {
				if c.got != c.want {
					t.Errorf("%s: got %q, want %q", c.field, c.got, c.want)
				}
			}
			if got, want := len(v.History), 1; got != want {
				t.Errorf("history entries: got %d, want %d", got, want)
			}
			if got, want := len(v.Deliveries), 1; got != want {
				t.Errorf("deliveries: got %d, want %d", got, want)
			} else if got, want := v.Deliveries[0].Partner, wucheng; got != want {
				t.Errorf("delivery partner: got %q, want %q", got, want)
			}
		})
	}
}

func TestReportStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("owner reports accepted", func(t *testing.T) {
		rc := e.newCase()
		body := statusUpdate(t, rc.CaseID, contracts.CaseStateAccepted)
		r := e.post(wucheng, "/v1/cases/"+rc.CaseID+"/status", body)
		if got, want := r.status, http.StatusAccepted; got != want {
			t.Fatalf("status: got %d %s, want %d", got, r.body, want)
		}
		got := e.verifyReceipt(r)
		if got.State != contracts.CaseStateAccepted || got.CaseID != rc.CaseID {
			t.Errorf("receipt: got state %q case %q, want accepted %q", got.State, got.CaseID, rc.CaseID)
		}
		again := e.post(wucheng, "/v1/cases/"+rc.CaseID+"/status", body)
		if again.status != http.StatusOK || !bytes.Equal(again.body, r.body) {
			t.Errorf("replay: got %d %s, want 200 with the original receipt", again.status, again.body)
		}
		v := e.get(zhonglou, "/v1/cases/"+rc.CaseID)
		var cv contracts.CaseView
		if err := json.Unmarshal(v.body, &cv); err != nil {
			t.Fatal(err)
		}
		if cv.State != contracts.CaseStateAccepted || cv.OwnerCaseNo != "WC-2025-000123" {
			t.Errorf("case after update: got state %q owner_case_no %q, want accepted WC-2025-000123", cv.State, cv.OwnerCaseNo)
		}
	})

	rc := e.newCase()
	tests := []struct {
		name   string
		caller string
		caseID string
		state  contracts.CaseState
		status int
		code   contracts.Code
	}{
		{name: "by the sender", caller: zhonglou, caseID: rc.CaseID, state: contracts.CaseStateAccepted, status: 403, code: contracts.CodeForbidden},
		{name: "by a foreign partner", caller: chiping, caseID: rc.CaseID, state: contracts.CaseStateAccepted, status: 404, code: contracts.CodeNotFound},
		{name: "out of order: delivered from received", caller: wucheng, caseID: rc.CaseID, state: contracts.CaseStateDelivered, status: 409, code: contracts.CodeInvalidTransition},
		{name: "out of order: in_progress from received", caller: wucheng, caseID: rc.CaseID, state: contracts.CaseStateInProgress, status: 409, code: contracts.CodeInvalidTransition},
		{name: "unknown case", caller: wucheng, caseID: newUUID(t), state: contracts.CaseStateAccepted, status: 404, code: contracts.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := statusUpdate(t, tt.caseID, tt.state)
			wantError(t, e.post(tt.caller, "/v1/cases/"+tt.caseID+"/status", body), tt.status, tt.code)
		})
	}
	t.Run("case_id of the body differs from the path", func(t *testing.T) {
		other := e.newCase()
		body := statusUpdate(t, other.CaseID, contracts.CaseStateAccepted)
		wantError(t, e.post(wucheng, "/v1/cases/"+rc.CaseID+"/status", body), http.StatusBadRequest, contracts.CodeValidationFailed)
	})
}

func TestRedeliver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		caller string
		path   string
		status int
		code   contracts.Code
	}{
		{name: "delivery by a partner", caller: zhonglou, path: "/v1/admin/deliveries/" + newUUID(t) + "/redeliver", status: 403, code: contracts.CodeForbidden},
		{name: "delivery by a window", caller: window, path: "/v1/admin/deliveries/" + newUUID(t) + "/redeliver", status: 403, code: contracts.CodeForbidden},
		{name: "unknown delivery by the operator", caller: operator, path: "/v1/admin/deliveries/" + newUUID(t) + "/redeliver", status: 404, code: contracts.CodeNotFound},
		{name: "partner by a partner", caller: zhonglou, path: "/v1/admin/partners/" + wucheng + "/redeliver", status: 403, code: contracts.CodeForbidden},
		{name: "unknown partner by the operator", caller: operator, path: "/v1/admin/partners/nobody/redeliver", status: 404, code: contracts.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPost, tt.path, nil, map[string]string{"Authorization": "Bearer " + e.tokenFor(tt.caller)})
			wantError(t, r, tt.status, tt.code)
		})
	}
	t.Run("partner with no dead letters by the operator", func(t *testing.T) {
		r := e.do(http.MethodPost, "/v1/admin/partners/"+wucheng+"/redeliver", nil, map[string]string{"Authorization": "Bearer " + e.tokenFor(operator)})
		if r.status != http.StatusOK {
			t.Fatalf("status: got %d %s, want 200", r.status, r.body)
		}
		var got contracts.RedeliverResult
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Count != 0 || got.Redelivered == nil || len(got.Redelivered) != 0 {
			t.Errorf("result: got %+v, want count 0 and an empty list", got)
		}
	})
}

func TestRoutesAndProbes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *httpapi.Options) {
		o.Checks = []httpapi.Check{{Name: "store", Run: func(context.Context) error {
			return errors.New("store not writable: /var/lib/tongban secret detail")
		}}}
	})
	auth := map[string]string{"Authorization": "Bearer " + e.tokenFor(zhonglou)}

	t.Run("unknown route", func(t *testing.T) {
		wantError(t, e.do(http.MethodGet, "/no/such/route", nil, nil), http.StatusNotFound, contracts.CodeNotFound)
	})
	t.Run("unknown v1 route, authenticated", func(t *testing.T) {
		wantError(t, e.do(http.MethodGet, "/v1/no-such-route", nil, auth), http.StatusNotFound, contracts.CodeNotFound)
	})
	t.Run("openapi", func(t *testing.T) {
		r := e.do(http.MethodGet, "/v1/openapi.yaml", nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status: got %d, want 200", r.status)
		}
		if len(contracts.OpenAPI) == 0 || !bytes.Equal(r.body, contracts.OpenAPI) {
			t.Errorf("body: got %d bytes, want the %d embedded spec bytes", len(r.body), len(contracts.OpenAPI))
		}
	})
	t.Run("healthz", func(t *testing.T) {
		r := e.do(http.MethodGet, "/healthz", nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status: got %d %s, want 200", r.status, r.body)
		}
		var h contracts.Health
		if err := json.Unmarshal(r.body, &h); err != nil || h.Status != contracts.HealthStatusOK {
			t.Errorf("body: got %s (%v), want status ok", r.body, err)
		}
	})
	t.Run("readyz not ready", func(t *testing.T) {
		r := e.do(http.MethodGet, "/readyz", nil, nil)
		if got, want := r.status, http.StatusServiceUnavailable; got != want {
			t.Fatalf("status: got %d %s, want %d", got, r.body, want)
		}
		var h contracts.Health
		if err := json.Unmarshal(r.body, &h); err != nil || h.Status != contracts.HealthStatusFail {
			t.Errorf("body: got %s (%v), want status fail", r.body, err)
		}
		if bytes.Contains(r.body, []byte("secret detail")) {
			t.Errorf("body %s leaks the internal error", r.body)
		}
	})
	t.Run("readyz ready", func(t *testing.T) {
		ok := newEnv(t, func(o *httpapi.Options) {
			o.Checks = []httpapi.Check{{Name: "store", Run: func(context.Context) error { return nil }}}
		})
		if r := ok.do(http.MethodGet, "/readyz", nil, nil); r.status != http.StatusOK {
			t.Errorf("status: got %d %s, want 200", r.status, r.body)
		}
	})
}

func TestSubmitBodyEdges(t *testing.T) {
	t.Parallel()
	const maxBody = 4 << 10
	e := newEnv(t, func(o *httpapi.Options) { o.MaxBody = maxBody })
	tests := []struct {
		name        string
		pad         int // spaces before the submission; -1 pads it to exactly maxBody
		contentType string
		chunked     bool
	}{
		{name: "charset parameter", contentType: "application/json; charset=utf-8"},
		{name: "upper-case media type", contentType: "Application/JSON"},
		{name: "exactly MaxBody with Content-Length", pad: -1, contentType: "application/json"},
		{name: "exactly MaxBody chunked", pad: -1, contentType: "application/json", chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := submission(t)
			pad := tt.pad
			if pad < 0 {
				pad = maxBody - len(body)
			}
			body = append(bytes.Repeat([]byte(" "), pad), body...)
			var rd io.Reader = bytes.NewReader(body)
			if tt.chunked {
				rd = struct{ io.Reader }{rd}
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/v1/cases", rd)
			if err != nil {
				t.Fatal(err)
			}
			if tt.chunked {
				req.ContentLength = -1
				req.TransferEncoding = []string{"chunked"}
			}
			req.Header.Set("Authorization", "Bearer "+e.tokenFor(zhonglou))
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set(httpapi.HeaderSignature, e.sign(zhonglou, body))
			req.Header.Set(httpapi.HeaderKeyID, zhonglou)
			r := e.send(req)
			if got, want := r.status, http.StatusAccepted; got != want {
				t.Fatalf("status: got %d %s, want %d", got, r.body, want)
			}
			if got, want := e.verifyReceipt(r).BodySM3, hexSM3(body); got != want {
				t.Errorf("body_sm3: got %s, want %s (the exact bytes sent)", got, want)
			}
		})
	}
}

// Concurrent identical submissions make one case: one 202, every other
// answer 200 with the byte-identical receipt.
func TestSubmitConcurrentReplays(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := submission(t)
	const n = 8
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answers := make(chan answer, n)
	tok, sig := e.tokenFor(zhonglou), e.sign(zhonglou, body)
	for range n {
		go func() {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/v1/cases", bytes.NewReader(body))
			if err != nil {
				answers <- answer{err: err}
				return
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(httpapi.HeaderSignature, sig)
			req.Header.Set(httpapi.HeaderKeyID, zhonglou)
			res, err := e.srv.Client().Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			answers <- answer{status: res.StatusCode, body: b, err: err}
		}()
	}
	var created int
	var first []byte
	for range n {
		a := <-answers
		if a.err != nil {
			t.Fatalf("request: %v", a.err)
		}
		switch a.status {
		case http.StatusAccepted:
			created++
		case http.StatusOK:
		default:
			t.Fatalf("status: got %d %s, want 202 or 200", a.status, a.body)
		}
		if first == nil {
			first = a.body
		} else if !bytes.Equal(a.body, first) {
			t.Errorf("receipts differ: got %s, want %s", a.body, first)
		}
	}
	if created != 1 {
		t.Errorf("202 answers: got %d, want exactly 1", created)
	}
}

func TestRedeliverNotDead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := e.newCase()
	var cv contracts.CaseView
	if err := json.Unmarshal(e.get(operator, "/v1/cases/"+rc.CaseID).body, &cv); err != nil {
		t.Fatal(err)
	}
	if len(cv.Deliveries) != 1 {
		t.Fatalf("deliveries: got %d, want 1", len(cv.Deliveries))
	}
	r := e.do(http.MethodPost, "/v1/admin/deliveries/"+cv.Deliveries[0].DeliveryID+"/redeliver", nil,
		map[string]string{"Authorization": "Bearer " + e.tokenFor(operator)})
	wantError(t, r, http.StatusConflict, contracts.CodeInvalidTransition)
}

// TestSubmitTimeOutOfRange: a time RFC 3339 reading accepts but cannot
// write back (offset +24:00) is the caller's error, not an internal one.
func TestSubmitTimeOutOfRange(t *testing.T) {
	e := newEnv(t)
	body := submission(t)
	body = bytes.Replace(body, []byte(`"submitted_at": "2025-03-14T09:30:12.345+08:00"`), []byte(`"submitted_at": "2025-03-14T09:30:12.345+24:00"`), 1)
	if !bytes.Contains(body, []byte("+24:00")) {
		t.Fatal("fixture: the golden submission's submitted_at changed")
	}
	wantError(t, e.post(zhonglou, "/v1/cases", body), http.StatusBadRequest, contracts.CodeValidationFailed)
}
