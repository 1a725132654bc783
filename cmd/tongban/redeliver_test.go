package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
)

// redeliverEnv is a running gateway whose owner district (330702) answers
// with bad signatures until told otherwise, so case deliveries go dead.
type redeliverEnv struct {
	rig  *devrig.Rig
	toks *devrig.Tokens
}

func newRedeliverEnv(t *testing.T) *redeliverEnv {
	t.Helper()
	rig, err := devrig.Start(t.Context(), devrig.Options{
		Dir: t.TempDir(), LogLevel: "warn", OwnerFaults: partnersim.Faults{BadSignature: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rig.Stop(); err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
	})
	return &redeliverEnv{rig: rig, toks: rig.Tokens(devrig.Sender, "window-"+devrig.Sender)}
}

// submitCase submits one case as 320404 and returns its case id.
func (e *redeliverEnv) submitCase(t *testing.T) string {
	t.Helper()
	cs, err := e.rig.Cases(1)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.toks.Get()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.rig.Base+"/v1/cases", bytes.NewReader(cs[0].Body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", cs[0].Sig)
	req.Header.Set("Gw-Key-Id", devrig.Sender)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rc contracts.Receipt
	if err := json.NewDecoder(resp.Body).Decode(&rc); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: got %d (%v), want 202 and a receipt", resp.StatusCode, err)
	}
	return rc.CaseID
}

// caseView reads a case as 320404.
func (e *redeliverEnv) caseView(t *testing.T, caseID string) contracts.CaseView {
	t.Helper()
	tok, err := e.toks.Get()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.rig.Base+"/v1/cases/"+caseID, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v contracts.CaseView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("get case %s: got %d (%v)", caseID, resp.StatusCode, err)
	}
	return v
}

// waitDelivery waits until the case's delivery to the owner is in state
// want, and returns it.
func (e *redeliverEnv) waitDelivery(t *testing.T, caseID string, want contracts.TransportState) contracts.DeliveryView {
	t.Helper()
	var last contracts.DeliveryView
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		v := e.caseView(t, caseID)
		if len(v.Deliveries) != 1 {
			t.Fatalf("case %s has %d deliveries, want 1", caseID, len(v.Deliveries))
		}
		if last = v.Deliveries[0]; last.State == want {
			return last
		}
	}
	t.Fatalf("delivery of case %s: got state %s (attempts %d, %q), want %s", caseID, last.State, last.Attempts, last.LastError, want)
	return last
}

// redeliver runs the command through the binary with caller's key.
func (e *redeliverEnv) redeliver(t *testing.T, caller string, args ...string) result {
	t.Helper()
	base := []string{"redeliver", "--gateway", e.rig.Base, "--key", filepath.Join(e.rig.Dir, "keys", caller+".key"),
		"--kid", caller, "--iss", caller, "--aud", devrig.RigGatewayID}
	return runIn(t, t.TempDir(), "", append(base, args...)...)
}

func decodeRedeliverResult(t *testing.T, r result) contracts.RedeliverResult {
	t.Helper()
	var res contracts.RedeliverResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout is not a redelivery result: %q (%v)", r.stdout, err)
	}
	return res
}

func TestRedeliverOneDelivery(t *testing.T) {
	e := newRedeliverEnv(t)
	caseID := e.submitCase(t)
	dead := e.waitDelivery(t, caseID, contracts.TransportStateDead)
	if !strings.Contains(dead.LastError, "signature") {
		t.Errorf("dead letter's last error: got %q, want the bad signature named", dead.LastError)
	}

	// Only operators redeliver.
	r := e.redeliver(t, devrig.Sender, "--delivery", dead.DeliveryID)
	if r.code != 1 || !strings.Contains(r.stderr, "forbidden") || r.stdout != "" {
		t.Fatalf("non-operator: got exit %d stdout %q stderr %q; want 1 and forbidden", r.code, r.stdout, r.stderr)
	}
	if d := e.waitDelivery(t, caseID, contracts.TransportStateDead); d.Attempts != dead.Attempts {
		t.Fatalf("a refused redelivery changed the delivery: attempts %d, want %d", d.Attempts, dead.Attempts)
	}

	// The partner is fixed; the operator redelivers.
	e.rig.Owner.SetFaults(partnersim.Faults{})
	r = must(t, e.redeliver(t, "operator", "--delivery", dead.DeliveryID))
	if got := decodeRedeliverResult(t, r); got.Count != 1 || !slices.Equal(got.Redelivered, []string{dead.DeliveryID}) {
		t.Fatalf("got %+v, want [%s] and count 1", got, dead.DeliveryID)
	}
	d := e.waitDelivery(t, caseID, contracts.TransportStateDelivered)
	if d.Attempts != 1 || d.Ack == nil || d.Ack.PartnerCaseNo == "" {
		t.Errorf("redelivered: got attempts %d ack %+v; want a fresh first attempt (back to pending) that was acknowledged", d.Attempts, d.Ack)
	}
	if v := e.caseView(t, caseID); v.State != contracts.CaseStateForwarded {
		t.Errorf("case state after redelivery: got %s, want forwarded", v.State)
	}

	// Refusals carry the gateway's code and exit 1.
	for _, tt := range []struct {
		name, id, code string
	}{
		{"not dead any more", dead.DeliveryID, "invalid_transition"},
		{"unknown delivery", "0193a5b0-0000-7000-8000-000000000000", "not_found"},
	} {
		r := e.redeliver(t, "operator", "--delivery", tt.id)
		if r.code != 1 || !strings.Contains(r.stderr, tt.code) || !strings.Contains(r.stderr, "request_id") {
			t.Errorf("%s: got exit %d stderr %q, want 1 with %s and the request id", tt.name, r.code, r.stderr, tt.code)
		}
	}
}

func TestRedeliverPartner(t *testing.T) {
	e := newRedeliverEnv(t)
	var ids []string
	cases := []string{e.submitCase(t), e.submitCase(t)}
	for _, c := range cases {
		ids = append(ids, e.waitDelivery(t, c, contracts.TransportStateDead).DeliveryID)
	}
	e.rig.Owner.SetFaults(partnersim.Faults{})
	got := decodeRedeliverResult(t, must(t, e.redeliver(t, "operator", "--partner", devrig.Owner)))
	slices.Sort(got.Redelivered)
	slices.Sort(ids)
	if got.Count != 2 || !slices.Equal(got.Redelivered, ids) {
		t.Fatalf("got %+v, want %v and count 2", got, ids)
	}
	for _, c := range cases {
		if d := e.waitDelivery(t, c, contracts.TransportStateDelivered); d.Attempts != 1 {
			t.Errorf("case %s: redelivered with %d attempts, want 1 (attempts reset when it went back to pending)", c, d.Attempts)
		}
	}
	// Nothing dead left: an empty result, still success.
	r := must(t, e.redeliver(t, "operator", "--partner", devrig.Owner))
	if got := decodeRedeliverResult(t, r); got.Count != 0 || got.Redelivered == nil {
		t.Errorf("second run: got %+v, want an empty list and count 0", got)
	}
	if !strings.Contains(r.stdout, `"redelivered": []`) {
		t.Errorf("second run: stdout %q, want an empty array printed", r.stdout)
	}
	if r := e.redeliver(t, "operator", "--partner", "999999"); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Errorf("unknown partner: got exit %d stderr %q, want 1 and not_found", r.code, r.stderr)
	}
}

func TestRedeliverCannotRun(t *testing.T) {
	dir := t.TempDir()
	must(t, runIn(t, dir, "", "keygen", "--out", "operator"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	common := []string{"redeliver", "--key", "operator.key", "--kid", "operator", "--iss", "operator", "--aud", "tongban-demo"}
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no target", []string{"--gateway", closed}, "exactly one of --delivery"},
		{"two targets", []string{"--gateway", closed, "--delivery", "d", "--partner", "p"}, "exactly one of --delivery"},
		{"no gateway", []string{"--partner", "330702"}, "required"},
		{"bad gateway url", []string{"--gateway", "127.0.0.1:8080", "--partner", "330702"}, "http or https"},
		{"unreachable", []string{"--gateway", closed, "--partner", "330702"}, "calling the gateway"},
		{"missing key", []string{"--gateway", closed, "--partner", "330702", "--key", "none.key"}, "none.key"},
	}
	for _, tt := range tests {
		r := runIn(t, dir, "", append(slices.Clone(common), tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("%s: got exit %d stderr %q, want 2 containing %q", tt.name, r.code, r.stderr, tt.msg)
		}
	}
	h := must(t, runIn(t, dir, "", "redeliver", "--help"))
	if !strings.Contains(h.stdout, "--key demo/keys/operator.key") || !strings.Contains(h.stdout, "--aud tongban-demo") {
		t.Errorf("--help has no example against the demo:\n%s", h.stdout)
	}
}
