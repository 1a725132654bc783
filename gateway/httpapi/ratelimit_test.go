package httpapi_test

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/httpapi"
)

// limitClock is the rate limiters' injected clock.
type limitClock struct{ ns atomic.Int64 }

func newLimitClock() *limitClock {
	c := &limitClock{}
	c.ns.Store(clockBase.UnixNano())
	return c
}

func (c *limitClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *limitClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func withRateLimits(l httpapi.RateLimits) func(*httpapi.Options) {
	return func(o *httpapi.Options) { o.RateLimits = l }
}

// wantRateLimited checks a 429 rate_limited answer with its Retry-After.
func wantRateLimited(t *testing.T, r response, retryAfter string) {
	t.Helper()
	wantError(t, r, http.StatusTooManyRequests, contracts.CodeRateLimited)
	if got := r.header.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After: got %q, want %q", got, retryAfter)
	}
}

// wantMetric checks that /metrics has line.
func (e *env) wantMetric(line string) {
	e.t.Helper()
	r := e.do(http.MethodGet, "/metrics", nil, nil)
	if !bytes.Contains(r.body, []byte(line)) {
		e.t.Errorf("/metrics lacks\n  %s\nin:\n%s", line, metricLines(r.body, "tongban_http_rate_limited"))
	}
}

// TestRateLimitPerCaller: a caller over its limit gets 429 rate_limited
// with Retry-After, counted in the metrics, while another caller is
// served; a partner with its own limit gets that one; the bucket refills
// with the (injected) clock.
func TestRateLimitPerCaller(t *testing.T) {
	t.Parallel()
	clock := newLimitClock()
	e := newEnv(t, withRateLimits(httpapi.RateLimits{
		PerCaller: httpapi.RateLimit{PerSecond: 0.5, Burst: 2},
		Partners:  map[string]httpapi.RateLimit{wucheng: {PerSecond: 10, Burst: 4}},
		Now:       clock.Now,
	}))
	const path = "/v1/cases/no-such-case" // served: 404, whoever asks
	for range 2 {
		wantError(t, e.get(zhonglou, path), http.StatusNotFound, contracts.CodeNotFound)
	}
	wantRateLimited(t, e.get(zhonglou, path), "2") // one token takes 2 s at 0.5/s
	wantRateLimited(t, e.get(zhonglou, path), "2")
	// Another caller has its own bucket; a partner its own limit.
	wantError(t, e.get(chiping, path), http.StatusNotFound, contracts.CodeNotFound)
	for range 4 {
		wantError(t, e.get(wucheng, path), http.StatusNotFound, contracts.CodeNotFound)
	}
	wantRateLimited(t, e.get(wucheng, path), "1")
	e.wantMetric(`tongban_http_rate_limited_total{http_route="/v1/cases/:case_id",tongban_caller="320404",tongban_scope="caller"} 2`)
	e.wantMetric(`tongban_http_rate_limited_total{http_route="/v1/cases/:case_id",tongban_caller="330702",tongban_scope="caller"} 1`)

	// Two seconds later one token is back: one request, then 429 again.
	clock.advance(2 * time.Second)
	wantError(t, e.get(zhonglou, path), http.StatusNotFound, contracts.CodeNotFound)
	wantRateLimited(t, e.get(zhonglou, path), "2")
}

// TestRateLimitAnonymous: failed authentications are limited per client
// address, before the token is verified; requests with valid tokens do
// not take from that budget; it refills with the clock.
func TestRateLimitAnonymous(t *testing.T) {
	t.Parallel()
	clock := newLimitClock()
	e := newEnv(t, withRateLimits(httpapi.RateLimits{Anonymous: httpapi.RateLimit{PerSecond: 1, Burst: 2}, Now: clock.Now}))
	const path = "/v1/cases/no-such-case"
	for range 5 { // valid tokens: not charged
		wantError(t, e.get(zhonglou, path), http.StatusNotFound, contracts.CodeNotFound)
	}
	bad := map[string]string{"Authorization": "Bearer not-a-token"}
	for range 2 {
		wantError(t, e.do(http.MethodGet, path, nil, bad), http.StatusUnauthorized, contracts.CodeUnauthenticated)
	}
	wantRateLimited(t, e.do(http.MethodGet, path, nil, bad), "1")
	wantRateLimited(t, e.do(http.MethodGet, path, nil, nil), "1")
	e.wantMetric(`tongban_http_rate_limited_total{http_route="/v1/cases/:case_id",tongban_caller="none",tongban_scope="anonymous"} 2`)

	clock.advance(time.Second)
	wantError(t, e.do(http.MethodGet, path, nil, nil), http.StatusUnauthorized, contracts.CodeUnauthenticated)
	wantRateLimited(t, e.do(http.MethodGet, path, nil, bad), "1")
}

// TestRateLimitsOffByDefault: Options without RateLimits limit nothing.
func TestRateLimitsOffByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := map[string]string{"Authorization": "Bearer not-a-token"}
	for range 50 {
		wantError(t, e.do(http.MethodGet, "/v1/cases/x", nil, bad), http.StatusUnauthorized, contracts.CodeUnauthenticated)
		wantError(t, e.get(zhonglou, "/v1/cases/x"), http.StatusNotFound, contracts.CodeNotFound)
	}
}
