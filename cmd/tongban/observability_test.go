package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

// TestServeObservability runs a gateway wired as serve wires it: a case
// submitted with a caller's traceparent reaches the owner district in the
// caller's trace; /healthz, /readyz (store and keys) and /metrics (HTTP
// requests, outbox depth) answer without a token.
func TestServeObservability(t *testing.T) {
	ctx := t.Context()
	rig, err := startBenchRig(ctx, benchRigOptions{Dir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer rig.stop()
	cases, err := rig.prepareCases(1)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rig.tokens(benchSender, "").get()
	if err != nil {
		t.Fatal(err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rig.base+"/v1/cases", bytes.NewReader(cases[0].body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", cases[0].sig)
	req.Header.Set("Gw-Key-Id", benchSender)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rc contracts.Receipt
	err = json.NewDecoder(resp.Body).Decode(&rc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d (%v)", resp.StatusCode, err)
	}
	for deadline := time.Now().Add(20 * time.Second); rig.owner.TraceID(rc.CaseID) == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := rig.owner.TraceID(rc.CaseID); got != traceID {
		t.Errorf("the owner received case %s in trace %q, want the caller's %s", rc.CaseID, got, traceID)
	}

	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(rig.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	status, body := get("/healthz")
	var h contracts.Health
	if err := json.Unmarshal(body, &h); err != nil || status != http.StatusOK || h.Status != contracts.HealthStatusOK || h.Version == "" {
		t.Errorf("/healthz: %d %s, want 200 ok with a version", status, body)
	}
	status, body = get("/readyz")
	h = contracts.Health{}
	if err := json.Unmarshal(body, &h); err != nil || status != http.StatusOK || h.Status != contracts.HealthStatusOK {
		t.Errorf("/readyz: %d %s, want 200 ok", status, body)
	}
	for _, name := range []string{"store", "keys"} {
		if c, ok := h.Checks[name]; !ok || c.Status != contracts.HealthStatusOK || c.CheckedAt.IsZero() {
			t.Errorf("/readyz check %s: %+v (present %v), want ok", name, c, ok)
		}
	}
	status, body = get("/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{
		`tongban_outbox_deliveries{transport_state="dead"} 0`,
		`tongban_outbox_deliveries{transport_state="pending"}`,
		`tongban_http_requests_total{http_request_method="POST",http_response_status_code="202",http_route="/v1/cases",tongban_caller="320404"} 1`,
		`target_info{`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
