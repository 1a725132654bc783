package app_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/signing"
)

// TestServeObservability runs a gateway wired as serve wires it: a case
// submitted with a caller's traceparent reaches the owner district in the
// caller's trace; /healthz, /readyz (store, keys, evidence, partners) and
// /metrics (HTTP requests, outbox depth, deliveries, evidence head) answer
// without a token.
func TestServeObservability(t *testing.T) {
	ctx := t.Context()
	// An exporter makes the rig install its telemetry, as serve does.
	dir := t.TempDir()
	rig, err := devrig.Start(ctx, devrig.Options{Dir: dir, Log: io.Discard, SpanExporter: tracetest.NewInMemoryExporter()})
	if err != nil {
		t.Fatal(err)
	}
	defer rig.Stop()

	// The start is the log's first record, naming the configuration.
	cfgBytes, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var start contracts.EvidenceRecord
	if err := rig.Gateway.Store().ScanEvidence(ctx, 1, 1, func(r gateway.EvidenceRow) error { return json.Unmarshal(r.Record, &start) }); err != nil {
		t.Fatal(err)
	}
	var detail contracts.EvidenceDetail
	if err := json.Unmarshal(start.Detail, &detail); err != nil || start.Event != contracts.EventGatewayStarted ||
		detail.ConfigSM3 != e2etest.SM3Hex(cfgBytes) || detail.GatewayID != devrig.RigGatewayID {
		t.Errorf("first record: %+v %s; want gateway.started with the config file's SM3", start, start.Detail)
	}
	cases, err := rig.Cases(1)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rig.Tokens(devrig.Sender, "").Get()
	if err != nil {
		t.Fatal(err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rig.Base+"/v1/cases", bytes.NewReader(cases[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", cases[0].Sig)
	req.Header.Set("Gw-Key-Id", devrig.Sender)
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
	for deadline := time.Now().Add(20 * time.Second); rig.Owner.TraceID(rc.CaseID) == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := rig.Owner.TraceID(rc.CaseID); got != traceID {
		t.Errorf("the owner received case %s in trace %q, want the caller's %s", rc.CaseID, got, traceID)
	}

	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(rig.Base + path)
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
	for _, name := range []string{"store", "keys", "evidence", "partner:" + devrig.Owner, "partner:" + devrig.Sender} {
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
		`tongban_evidence_head `,
		`tongban_delivery_attempts_total{kind="case",outcome="delivered",partner="330702"`,
		`tongban_delivery_duration_seconds_bucket{outcome="delivered",partner="330702",`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// postTraced posts body signed by caller's key with a traceparent.
func postTraced(t *testing.T, rig *devrig.Rig, caller, path string, body []byte, traceparent string) *http.Response {
	t.Helper()
	tok, err := rig.Tokens(caller, "").Get()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signing.Sign(signing.NewSigner(rig.Keys[caller], rig.Engine), rig.Engine, body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rig.Base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("Gw-Key-Id", caller)
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestTraceIDEndToEnd follows one trace id: the caller (320404) submits a
// case with its traceparent; the gateway's spans (an in-memory exporter)
// carry it from the inbound request through signature verification, the
// store write and the delivery attempt to the partner call; the owner
// district (330702) receives the case in it; the owner's status update,
// sent in the same trace, is delivered back to the caller's district in
// it; and the evidence log records it for every step.
func TestTraceIDEndToEnd(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	rig, err := devrig.Start(t.Context(), devrig.Options{Dir: t.TempDir(), Log: io.Discard, SpanExporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	defer rig.Stop()
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	cases, err := rig.Cases(1)
	if err != nil {
		t.Fatal(err)
	}
	resp := postTraced(t, rig, devrig.Sender, "/v1/cases", cases[0].Body, "00-"+traceID+"-b7ad6b7169203331-01")
	var rc contracts.Receipt
	err = json.NewDecoder(resp.Body).Decode(&rc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d (%v)", resp.StatusCode, err)
	}
	waitFor(t, "the owner to receive the case", func() bool { return rig.Owner.TraceID(rc.CaseID) != "" })
	if got := rig.Owner.TraceID(rc.CaseID); got != traceID {
		t.Errorf("partner 330702 received the case in trace %s, want the caller's %s", got, traceID)
	}

	// The owner accepts, continuing the trace; the update goes back.
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	upd, err := json.Marshal(contracts.StatusUpdate{ExchangeID: id, CaseID: rc.CaseID, State: contracts.CaseStateAccepted,
		ReportedAt: time.Now().UTC(), OwnerCaseNo: "330702-2026-000001"})
	if err != nil {
		t.Fatal(err)
	}
	resp = postTraced(t, rig, devrig.Owner, "/v1/cases/"+rc.CaseID+"/status", upd, "00-"+traceID+"-00f067aa0ba902b7-01")
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status update: %d", resp.StatusCode)
	}
	waitFor(t, "the caller's district to receive the update", func() bool { return rig.Sender.TraceID(rc.CaseID) != "" })
	if got := rig.Sender.TraceID(rc.CaseID); got != traceID {
		t.Errorf("caller 320404 received the update in trace %s, want %s", got, traceID)
	}

	// The gateway's spans.
	waitFor(t, "the status delivery's span", func() bool { return spanNamed(exp, traceID, "deliver status") })
	for _, name := range []string{"POST /v1/cases", "verify signature", "store write", "deliver case", "POST " + devrig.Owner,
		"POST /v1/cases/:case_id/status", "deliver status", "POST " + devrig.Sender} {
		if !spanNamed(exp, traceID, name) {
			t.Errorf("no gateway span %q in trace %s; spans: %v", name, traceID, spanNames(exp))
		}
	}

	// The evidence log.
	rows, err := rig.Gateway.Store().CaseEvidence(t.Context(), rc.CaseID)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]bool{}
	for _, row := range rows {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(row.Record, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.TraceID != traceID {
			t.Errorf("evidence record %d (%s): trace %q, want %s", rec.Seq, rec.Event, rec.TraceID, traceID)
		}
		events[rec.Event] = true
	}
	for _, want := range []string{contracts.EventCaseReceived, contracts.EventDeliveryAttempt, contracts.EventStatusApplied} {
		if !events[want] {
			t.Errorf("evidence of case %s lacks %s: %v", rc.CaseID, want, events)
		}
	}
}

// waitFor polls cond every 10 ms for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// spanNamed reports whether exp holds a span called name in trace id.
func spanNamed(exp *tracetest.InMemoryExporter, id, name string) bool {
	for _, s := range exp.GetSpans() {
		if s.Name == name && s.SpanContext.TraceID().String() == id {
			return true
		}
	}
	return false
}

func spanNames(exp *tracetest.InMemoryExporter) []string {
	var out []string
	for _, s := range exp.GetSpans() {
		out = append(out, s.Name+"@"+s.SpanContext.TraceID().String()[:8])
	}
	return out
}
