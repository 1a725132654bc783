package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/cmd/tongban/internal/demo"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// TestDemoEndToEnd runs the demo in process and carries one case from
// 320404 to 330702 through its whole lifecycle over real HTTP.
func TestDemoEndToEnd(t *testing.T) {
	dir := t.TempDir()
	addr := e2etest.FreeLoopbackAddr(t)
	var out, logs e2etest.LockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Out: &out, Log: &logs, Dir: dir, Addr: addr, Step: 50 * time.Millisecond, Ready: ready})
	}()
	var bound string
	select {
	case bound = <-ready:
	case err := <-done:
		t.Fatalf("demo.Run returned before ready: %v\nlog:\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("demo not ready within 10s\nlog:\n%s", logs.String())
	}
	// stop cancels the demo and waits (bounded) for demo.Run's result.
	var (
		stopOnce sync.Once
		stopErr  error
	)
	stop := func() error {
		stopOnce.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				stopErr = fmt.Errorf("demo.Run did not return within 10s of cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	if bound != addr {
		t.Errorf("bound address: got %s, want %s", bound, addr)
	}
	base := "http://" + bound

	keyPEM, err := os.ReadFile(filepath.Join(dir, "keys", "320404.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParsePrivateKeyPEM(keyPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	zl := e2etest.NewCaller("320404", demo.GatewayID, key)
	body, err := os.ReadFile(filepath.Join(dir, "examples", "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	// One case to a district of each adapter style, all at once: each must
	// reach delivered with every update carried back to 320404.
	var wg sync.WaitGroup
	for _, to := range demo.SampleTargets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run("to "+to, func(t *testing.T) { followDemoCase(ctx, t, zl, dir, base, body, to, &logs) })
		}()
	}
	wg.Wait()

	// The demo's own sample cases complete and say so in the log.
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(logs.String(), "sample case complete") < len(demo.SampleTargets) {
		if time.Now().After(deadline) {
			t.Fatalf("log has %d \"sample case complete\" within 15s, want %d:\n%s",
				strings.Count(logs.String(), "sample case complete"), len(demo.SampleTargets), logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"demo ready", "sample case submitted", "sample case step"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if !strings.Contains(out.String(), bound) {
		t.Errorf("demo help does not name the address %s:\n%s", bound, out.String())
	}

	checkDemoLicenses(ctx, t, dir, base, &logs)
	checkDemoAudit(ctx, t, dir, base)
	checkDemoAdministration(ctx, t, dir, base, &logs)

	if err := stop(); err != nil {
		t.Errorf("demo.Run after cancel: got %v, want nil", err)
	}
}

// followDemoCase submits the example case, readdressed to district to
// with a fresh exchange id, as 320404, and follows it until it is
// delivered with every delivery acknowledged.
func followDemoCase(ctx context.Context, t *testing.T, zl *e2etest.Caller, dir, base string, example []byte, to string, logs *e2etest.LockedBuffer) {
	var sub contracts.CaseSubmission
	if err := json.Unmarshal(example, &sub); err != nil {
		t.Fatal(err)
	}
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sub.ExchangeID, sub.ToRegion = id, to
	if sub.ServiceItem, err = demo.ItemFor(to); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(sub)
	if err != nil {
		t.Fatal(err)
	}
	tok := zl.Token(t)
	ans, err := zl.PostSigned(ctx, tok, base+"/v1/cases", body)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != http.StatusAccepted {
		t.Fatalf("submit: got %d %s, want 202", ans.Status, ans.Body)
	}
	if ans.KeyID != "gateway" {
		t.Errorf("receipt Gw-Key-Id: got %q, want gateway", ans.KeyID)
	}
	e2etest.VerifySignedBy(t, filepath.Join(dir, "keys", "gateway.pub"), ans.Body, ans.Sig)
	var rc contracts.Receipt
	if err := json.Unmarshal(ans.Body, &rc); err != nil {
		t.Fatal(err)
	}
	if rc.ExchangeID != sub.ExchangeID || rc.CaseID == "" || rc.State != contracts.CaseStateReceived {
		t.Fatalf("receipt: got %+v, want exchange %s, a case id, state received", rc, sub.ExchangeID)
	}
	if want := e2etest.SM3Hex(body); rc.BodySM3 != want {
		t.Errorf("receipt body_sm3: got %s, want %s", rc.BodySM3, want)
	}

	// Follow the case until it is delivered and every delivery acknowledged.
	var v contracts.CaseView
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err = zl.GetCase(ctx, tok, base, rc.CaseID)
		if err == nil && v.State == contracts.CaseStateDelivered && len(v.Deliveries) >= 6 && e2etest.AllDelivered(v.Deliveries) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("case not delivered within 20s: err %v, view %+v\nlog:\n%s", err, v, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	wantHistory := []contracts.CaseState{
		contracts.CaseStateReceived, contracts.CaseStateForwarded, contracts.CaseStateAccepted,
		contracts.CaseStateInProgress, contracts.CaseStateConcluded, contracts.CaseStateDispatched,
		contracts.CaseStateDelivered,
	}
	if got := e2etest.HistoryStates(v.History); !slices.Equal(got, wantHistory) {
		t.Errorf("history: got %v, want %v", got, wantHistory)
	}
	if v.OwnerCaseNo == "" {
		t.Error("owner case number is not set")
	}
	if v.Outcome != contracts.OutcomeApproved {
		t.Errorf("outcome: got %q, want approved", v.Outcome)
	}
	if v.Sender != "320404" || v.Owner != to {
		t.Errorf("sender, owner: got %s, %s, want 320404, %s", v.Sender, v.Owner, to)
	}
	for _, h := range v.History[2:] {
		if h.ReportedBy != to {
			t.Errorf("update %s reported by %s, want the owner %s", h.State, h.ReportedBy, to)
		}
	}
	var caseDeliveries, statusDeliveries int
	for _, d := range v.Deliveries {
		if d.Ack == nil {
			t.Errorf("delivery %s (%s to %s): no acknowledgement", d.DeliveryID, d.Kind, d.Partner)
			continue
		}
		if d.Ack.ExchangeID != d.ExchangeID || d.Ack.BodySM3 == "" || d.Ack.KeyID != d.Partner {
			t.Errorf("delivery %s: ack %+v does not acknowledge exchange %s by %s", d.DeliveryID, d.Ack, d.ExchangeID, d.Partner)
		}
		switch d.Kind {
		case contracts.DeliveryKindCase:
			caseDeliveries++
			if d.Partner != to {
				t.Errorf("case delivery to %s, want %s", d.Partner, to)
			}
			if d.ExchangeID != sub.ExchangeID {
				t.Errorf("case delivery exchange: got %s, want %s", d.ExchangeID, sub.ExchangeID)
			}
			// The owner saw the case: its acknowledgement carries its case number.
			if d.Ack.PartnerCaseNo == "" || d.Ack.PartnerCaseNo != v.OwnerCaseNo {
				t.Errorf("case delivery ack partner_case_no: got %q, want owner case no %q", d.Ack.PartnerCaseNo, v.OwnerCaseNo)
			}
		case contracts.DeliveryKindStatus:
			statusDeliveries++
			if d.Partner != "320404" {
				t.Errorf("status delivery to %s, want 320404", d.Partner)
			}
		default:
			t.Errorf("unexpected delivery kind %s", d.Kind)
		}
	}
	if caseDeliveries != 1 || statusDeliveries != 5 {
		t.Errorf("deliveries: got %d case and %d status, want 1 and 5", caseDeliveries, statusDeliveries)
	}
	// Every update after forwarded was carried back to 320404 exactly once.
	updates := map[string]bool{}
	for _, h := range v.History[2:] {
		updates[h.ExchangeID] = true
	}
	for _, d := range v.Deliveries {
		if d.Kind == contracts.DeliveryKindStatus && !updates[d.ExchangeID] {
			t.Errorf("status delivery %s carries exchange %s, which is no reported update", d.DeliveryID, d.ExchangeID)
		}
		delete(updates, d.ExchangeID)
	}
	if len(updates) != 0 {
		t.Errorf("updates never carried back to 320404: %v", updates)
	}
}

// TestServeRejectsBadConfig runs the binary on invalid configurations.
func TestServeRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := `gateway_id: tongban-test
listen: 127.0.0.1:0
signing_key: {path: gateway.key}
partners:
  - id: "330702"
    roles: [partner]
    regions: ["33070"]
    keys: {"330702": 330702.pub}
    adapter: standard
    config: {endpoint: "http://127.0.0.1:1/p"}
`
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"bad region", []string{"serve", "--config", "bad.yaml"}, "partners[0]: regions[0]"},
		{"no config", []string{"serve"}, "--config"},
		{"missing file", []string{"serve", "--config", "nope.yaml"}, "nope.yaml"},
	}
	for _, tt := range tests {
		r := runIn(t, dir, "", tt.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("%s: got exit %d stderr %q, want non-zero and %q", tt.name, r.code, r.stderr, tt.msg)
		}
	}
}

// checkDemoAudit audits a demo case as the README says: the auditor finds
// a delivered case, fetches its evidence bundle with tongban audit export,
// checks it offline with the gateway's public key, and walks the live
// store's log with tongban audit verify --config.
func checkDemoAudit(ctx context.Context, t *testing.T, dir, base string) {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join(dir, "keys", "auditor.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParsePrivateKeyPEM(keyPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	aud := e2etest.NewCaller("auditor", demo.GatewayID, key)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/audit/exchanges?kind=case&state=delivered&limit=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+aud.Token(t))
	resp, err := aud.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page contracts.ExchangePage
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(page.Items) != 1 {
		t.Fatalf("audit search: %d %v %+v", resp.StatusCode, err, page)
	}
	caseID := page.Items[0].CaseID
	work := t.TempDir()
	r := must(t, runIn(t, work, "", "audit", "export", "--gateway", base, "--key", filepath.Join(dir, "keys", "auditor.key"),
		"--kid", "auditor", "--iss", "auditor", "--aud", demo.GatewayID, "--case", caseID))
	zipPath := strings.TrimSpace(r.stdout)
	// An operator may not export: the refusal names the code.
	if r := runIn(t, work, "", "audit", "export", "--gateway", base, "--key", filepath.Join(dir, "keys", "operator.key"),
		"--kid", "operator", "--iss", "operator", "--aud", demo.GatewayID, "--case", caseID, "--out", "op.zip"); r.code != 1 ||
		!strings.Contains(r.stderr, "export refused: forbidden") {
		t.Errorf("export as the operator: exit %d, stderr %q; want 1, forbidden", r.code, r.stderr)
	}
	r = must(t, runIn(t, work, "", "audit", "verify-bundle", zipPath, "--gateway-pub", filepath.Join(dir, "keys", "gateway.pub")))
	if !strings.Contains(r.stdout, "OK: the bundle verifies") || !strings.Contains(r.stdout, "case \""+caseID+"\"") {
		t.Errorf("verify-bundle of case %s:\n%s", caseID, r.stdout)
	}
	r = must(t, runIn(t, work, "", "audit", "verify", "--config", filepath.Join(dir, "config.yaml")))
	if !strings.Contains(r.stdout, "OK: every record and checkpoint verifies") {
		t.Errorf("audit verify of the demo store:\n%s", r.stdout)
	}
}

// checkDemoAdministration waits for the demo's administration to play
// out (its 一件事 bundle concluded across the mapped-json and SOAP
// districts, its deadline case warned and overdue in demo time, its
// negative evaluation followed up by the mapped-json owner on its own),
// then checks over HTTP what a window and an auditor see of it, and that
// the bundle's evidence verifies offline.
func checkDemoAdministration(ctx context.Context, t *testing.T, dir, base string, logs *e2etest.LockedBuffer) {
	t.Helper()
	want := map[string]int{
		"bundle concluded": 1, "notice delivered to 320404 and " + demo.DeadlineOwner: 2,
		"negative evaluation followed up": 1, "evaluation submitted": 2,
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := ""
		for line, n := range want {
			if strings.Count(logs.String(), line) < n {
				missing = line
			}
		}
		if missing == "" {
			break
		}
		if strings.Contains(logs.String(), "administration demo step failed") || time.Now().After(deadline) {
			t.Fatalf("the demo's administration: log lacks %q:\n%s", missing, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	get := func(caller, path string, out any) {
		t.Helper()
		keyPEM, err := os.ReadFile(filepath.Join(dir, "keys", caller+".key"))
		if err != nil {
			t.Fatal(err)
		}
		key, err := signing.ParsePrivateKeyPEM(keyPEM, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := e2etest.NewCaller(caller, demo.GatewayID, key)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+c.Token(t))
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s as %s: %d", path, caller, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	var cat contracts.Catalogue
	get("window-320404", "/v1/catalogue", &cat)
	if len(cat.Items) < 5 || cat.SM3 == "" || cat.Calendar == "" {
		t.Errorf("catalogue for the window: %d items, sm3 %q, calendar %q", len(cat.Items), cat.SM3, cat.Calendar)
	}
	var overdue contracts.ExchangePage
	get("auditor", "/v1/audit/exchanges?overdue=true", &overdue)
	if len(overdue.Items) == 0 {
		t.Error("audit search overdue=true lists nothing after the demo's deadline passed")
	}
	var bundles contracts.ExchangePage
	get("auditor", "/v1/audit/exchanges?kind=bundle&limit=1", &bundles)
	if len(bundles.Items) != 1 {
		t.Fatalf("audit search kind=bundle: %+v", bundles)
	}
	var v contracts.CaseView
	get("auditor", "/v1/cases/"+bundles.Items[0].CaseID, &v)
	if v.Bundle == nil || v.Bundle.State != contracts.BundleConcluded || len(v.Bundle.Parts) != 2 || v.Outcome != contracts.OutcomeApproved {
		t.Errorf("the demo's bundle: %+v", v.Bundle)
	}
	work := t.TempDir()
	for _, id := range []string{v.CaseID, v.Bundle.Parts[1].CaseID} {
		r := must(t, runIn(t, work, "", "audit", "export", "--gateway", base, "--key", filepath.Join(dir, "keys", "auditor.key"),
			"--kid", "auditor", "--iss", "auditor", "--aud", demo.GatewayID, "--case", id))
		r = must(t, runIn(t, work, "", "audit", "verify-bundle", strings.TrimSpace(r.stdout), "--gateway-pub", filepath.Join(dir, "keys", "gateway.pub")))
		if !strings.Contains(r.stdout, "OK: the bundle verifies") {
			t.Errorf("verify-bundle of %s:\n%s", id, r.stdout)
		}
	}
}
