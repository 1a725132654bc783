package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
)

// TestServeDeliveryCircuit runs a gateway wired as serve wires it, with
// delivery.circuit {failures: 2, cooldown: 1h} and an owner district that
// refuses everything: after the first failed attempts its circuit opens,
// /readyz reports the partner degraded with its circuit open, and the
// retries that fall due are put back without reaching the district,
// counted in tongban_delivery_postponed_total.
func TestServeDeliveryCircuit(t *testing.T) {
	ctx := t.Context()
	rig, err := devrig.Start(ctx, devrig.Options{Dir: t.TempDir(), Log: io.Discard,
		OwnerFaults:     partnersim.Faults{FailFirst: 1 << 20},
		DeliveryCircuit: config.Circuit{Failures: 2, Cooldown: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer rig.Stop()
	cases, err := rig.Cases(3)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rig.Tokens(devrig.Sender, "").Get()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, rig.Base+"/v1/cases", bytes.NewReader(c.Body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Gw-Signature", c.Sig)
		req.Header.Set("Gw-Key-Id", devrig.Sender)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
	}
	get := func(path string) string {
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
		return string(b)
	}
	const postponed = `tongban_delivery_postponed_total{partner="330702",reason="circuit_open"`
	var metrics string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if metrics = get("/metrics"); strings.Contains(metrics, postponed) {
			break
		}
	}
	if !strings.Contains(metrics, postponed) {
		t.Fatalf("/metrics never counted a delivery put back behind the open circuit (%s)", postponed)
	}
	var h contracts.Health
	if err := json.Unmarshal([]byte(get("/readyz")), &h); err != nil {
		t.Fatal(err)
	}
	if c := h.Checks["partner:"+devrig.Owner]; c.Status != contracts.HealthStatusDegraded || !strings.Contains(c.Detail, "circuit open") {
		t.Errorf("/readyz partner:%s: %+v, want degraded naming the open circuit", devrig.Owner, c)
	}
	// Nothing more reaches the district while the circuit is open.
	reached := rig.Owner.Attempts()
	time.Sleep(1500 * time.Millisecond) // three times the retry base delay: retries fall due
	if got := rig.Owner.Attempts(); got != reached {
		t.Errorf("the district got %d more requests behind an open circuit", got-reached)
	}
}
