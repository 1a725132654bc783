package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/gateway/config"
)

// TestRateLimitsFromConfig: the gateway enforces limits.rate as
// configured (here: two failed authentications per client address, then
// 429 with Retry-After), and limits.rate.off turns them off.
func TestRateLimitsFromConfig(t *testing.T) {
	tests := []struct {
		name string
		off  bool
		want []int
	}{
		{"on", false, []int{401, 401, 429, 429}},
		{"off", true, []int{401, 401, 401, 401}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir(), "127.0.0.1:0")
			// 0.01/s: no token comes back while the test runs.
			cfg.Limits.Rate.Anonymous = config.Rate{Rate: 0.01, Burst: 2}
			cfg.Limits.Rate.Off = tt.off
			g, err := app.Open(t.Context(), cfg, app.NewLogger(io.Discard, "info"))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			srv := httptest.NewServer(g.Handler())
			defer srv.Close()
			for i, want := range tt.want {
				res, err := srv.Client().Get(srv.URL + "/v1/cases/x")
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != want {
					t.Errorf("request %d: %d, want %d", i+1, res.StatusCode, want)
				}
				if ra := res.Header.Get("Retry-After"); (want == http.StatusTooManyRequests) != (ra != "") {
					t.Errorf("request %d: Retry-After %q with status %d", i+1, ra, res.StatusCode)
				}
			}
		})
	}
}
