package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/telemetry"
)

// TestServeStats runs a gateway wired as serve wires it: its history
// reads the gateway's real instruments (the outbox's attempts and
// durations, the API's requests, the store's gauges), so a case
// delivered to the owner shows in GET /v1/admin/stats once the history
// samples; and every family /metrics shows is one MetricFamilies lists.
func TestServeStats(t *testing.T) {
	ctx := t.Context()
	rig, err := devrig.Start(ctx, devrig.Options{Dir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer rig.Stop()
	cases, err := rig.Cases(1)
	if err != nil {
		t.Fatal(err)
	}
	resp := postTraced(t, rig, devrig.Sender, "/v1/cases", cases[0].Body, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	// Each sample takes what happened since the previous one: sample
	// until the owner's acknowledged delivery has been counted.
	h := rig.Gateway.Telemetry().History()
	delivered := func(s contracts.Stats) bool {
		for _, p := range s.Points {
			for _, ps := range p.Partners {
				if ps.Partner == devrig.Owner && ps.Delivered == 1 && ps.P50Ms != nil && ps.P95Ms != nil {
					return true
				}
			}
		}
		return false
	}
	waitFor(t, "the delivery in the stats history", func() bool {
		if err := h.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		return delivered(h.Stats())
	})

	tok, err := rig.Tokens(devrig.Operator, "").Get()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rig.Base+"/v1/admin/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	body, status := fetch(t, req)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/admin/stats: %d %s", status, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var s contracts.Stats
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if s.IntervalSeconds != 60 || !delivered(s) {
		t.Errorf("stats %s; want interval 60 and the owner's delivery", body)
	}
	first, last := s.Points[0], s.Points[len(s.Points)-1]
	if first.HTTPRequests < 1 {
		t.Errorf("first point %+v: want the submission counted", first)
	}
	if last.DeliveriesByState[contracts.TransportStateDelivered] < 1 || last.EvidenceHead == nil || *last.EvidenceHead < 2 {
		t.Errorf("last point %+v: want the delivered delivery and the evidence head", last)
	}

	page, status := fetch(t, mustRequest(t, rig.Base+"/metrics"))
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	fams, err := rig.Gateway.Telemetry().MetricFamilies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(page))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			n++
			if !slices.Contains(fams, telemetry.MetricFamily{Name: f[2], Type: f[3]}) {
				t.Errorf("/metrics shows %s %s, which MetricFamilies does not list", f[3], f[2])
			}
		}
	}
	for _, want := range []string{"tongban_delivery_attempts_total", "tongban_outbox_deliveries", "tongban_license_verifications_total",
		"tongban_case_notices_total", "tongban_http_rate_limited_total"} {
		if !slices.ContainsFunc(fams, func(f telemetry.MetricFamily) bool { return f.Name == want }) {
			t.Errorf("MetricFamilies lacks %s (an instrument the gateway makes at start)", want)
		}
	}
	if n < 10 {
		t.Errorf("/metrics shows %d families; the check above proves little", n)
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// fetch sends req and reads the whole answer.
func fetch(t *testing.T, req *http.Request) ([]byte, int) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, resp.StatusCode
}

// TestServeSamplesStats: Serve runs the history's loop on the gateway's
// ticker, a sample per tick, and stops it when it stops.
func TestServeSamplesStats(t *testing.T) {
	ticks, stopped := make(chan time.Time), make(chan struct{})
	var interval time.Duration
	ticker := func(d time.Duration) (<-chan time.Time, func()) {
		interval = d
		return ticks, func() { close(stopped) }
	}
	cfg := testConfig(t, t.TempDir(), "127.0.0.1:0")
	g, err := app.Open(t.Context(), cfg, app.NewLogger(io.Discard, "info"), app.WithStatsHistory(telemetry.HistoryOptions{Ticker: ticker}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- g.Serve(ctx, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	// Unbuffered: the second tick is taken once the first sample is kept.
	tick := func() {
		select {
		case ticks <- time.Now():
		case <-time.After(20 * time.Second):
			t.Fatal("nothing takes the ticks: Serve does not run the stats history")
		}
	}
	tick()
	tick()
	if ps := g.Telemetry().History().Stats().Points; len(ps) < 1 || ps[0].EvidenceHead == nil || ps[0].DeliveriesByState == nil {
		t.Errorf("points after two ticks: %+v; want a first one with the store's gauges", ps)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-stopped
	if interval != telemetry.DefaultStatsInterval {
		t.Errorf("ticker interval %v, want the default %v", interval, telemetry.DefaultStatsInterval)
	}
}
