package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/gateway/telemetry"
)

// TestStats: GET /v1/admin/stats answers operators and auditors the
// history of the gateway's own metrics (here the requests the test made,
// sampled once), refuses everyone else, and takes no query.
func TestStats(t *testing.T) {
	t.Parallel()
	sampledAt := time.Date(2031, 5, 6, 7, 9, 0, 0, time.UTC)
	tel, err := telemetry.New(t.Context(), telemetry.Config{SamplingRatio: 1},
		telemetry.WithHistory(telemetry.HistoryOptions{Now: func() time.Time { return sampledAt }}))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *httpapi.Options) { o.Telemetry, o.Stats = tel, tel.History() })

	// Before the sample: a case accepted, a request refused, a probe.
	e.newCase()
	wantError(t, e.get(zhonglou, "/v1/admin/stats"), http.StatusForbidden, contracts.CodeForbidden)
	if r := e.do(http.MethodGet, "/healthz", nil, nil); r.status != http.StatusOK {
		t.Fatalf("/healthz: %d", r.status)
	}
	if err := tel.History().Sample(t.Context()); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, caller, query string
		status              int
		code                contracts.Code
	}{
		{"operator", operator, "", http.StatusOK, ""},
		{"auditor", auditor, "", http.StatusOK, ""},
		{"partner", zhonglou, "", http.StatusForbidden, contracts.CodeForbidden},
		{"window", window, "", http.StatusForbidden, contracts.CodeForbidden},
		{"a query", operator, "?points=5", http.StatusBadRequest, contracts.CodeBadRequest},
		{"no token", "", "", http.StatusUnauthorized, contracts.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if tt.caller == "" {
				r = e.do(http.MethodGet, "/v1/admin/stats"+tt.query, nil, nil)
			} else {
				r = e.get(tt.caller, "/v1/admin/stats"+tt.query)
			}
			if tt.status != http.StatusOK {
				wantError(t, r, tt.status, tt.code)
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			dec := json.NewDecoder(bytes.NewReader(r.body))
			dec.DisallowUnknownFields()
			var s contracts.Stats
			if err := dec.Decode(&s); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if s.IntervalSeconds != 60 || len(s.Points) != 1 {
				t.Fatalf("got %s; want interval 60 and one point", r.body)
			}
			if p := s.Points[0]; !p.At.Equal(sampledAt) || p.HTTPRequests != 2 || p.HTTPRefused != 1 || p.HTTPErrors != 0 || p.Partners == nil {
				t.Errorf("point %s; want the case and the refusal (not the probe) at %v", r.body, sampledAt)
			}
		})
	}
}

// withStats gives the gateway a history of its own (never sampled: its
// answer is an empty history).
func withStats(t *testing.T) func(*httpapi.Options) {
	tel, err := telemetry.New(t.Context(), telemetry.Config{SamplingRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	return func(o *httpapi.Options) { o.Stats = tel.History() }
}

// TestStatsNotKept: a gateway without a history answers unavailable, and
// only once the caller may read statistics.
func TestStatsNotKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wantError(t, e.get(operator, "/v1/admin/stats"), http.StatusServiceUnavailable, contracts.CodeUnavailable)
	wantError(t, e.get(window, "/v1/admin/stats"), http.StatusForbidden, contracts.CodeForbidden)
}
