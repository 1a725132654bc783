package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

func TestAdaptersListsEveryStyle(t *testing.T) {
	r := must(t, runIn(t, t.TempDir(), "", "adapters", "--json"))
	var got []struct {
		Name         string   `json:"name"`
		Summary      string   `json:"summary"`
		Capabilities []string `json:"capabilities"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("adapters --json: %v\n%s", err, r.stdout)
	}
	want := map[string][]string{
		"mailbox":     {"pull"},
		"mapped-json": {"case_delivery", "inbound", "license_lookup", "status_delivery", "usage_records"},
		"soap":        {"case_delivery", "inbound", "license_lookup", "status_delivery", "usage_records"},
		"standard":    {"case_delivery", "license_lookup", "status_delivery", "usage_records"},
	}
	if len(got) != len(want) {
		t.Fatalf("adapters lists %d styles, want %d: %+v", len(got), len(want), got)
	}
	for _, s := range got {
		if w, ok := want[s.Name]; !ok || !slices.Equal(s.Capabilities, w) || s.Summary == "" {
			t.Errorf("style %s: capabilities %v, summary %q; want %v and a summary", s.Name, s.Capabilities, s.Summary, w)
		}
	}
	table := must(t, runIn(t, t.TempDir(), "", "adapters")).stdout
	for name := range want {
		if !strings.Contains(table, name) {
			t.Errorf("adapters table lacks %s:\n%s", name, table)
		}
	}
}

func TestPartnersimConfigErrors(t *testing.T) {
	dir := t.TempDir()
	e2etest.Keys(t, dir, "gateway", "371523")
	tests := []struct{ name, yaml, want string }{
		{"no partner id", "key: 371523.key\ngateway: {keys: {gateway: gateway.pub}}\n", "partner_id is required"},
		{"no key", "partner_id: \"371523\"\ngateway: {keys: {gateway: gateway.pub}}\n", "key is required"},
		{"no gateway keys", "partner_id: \"371523\"\nkey: 371523.key\n", "gateway.keys is required"},
		{"url without id", "partner_id: \"371523\"\nkey: 371523.key\ngateway: {url: \"http://127.0.0.1:1\", keys: {gateway: gateway.pub}}\n", "gateway.id is required"},
		{"unknown field", "partner_id: \"371523\"\nkey: 371523.key\nkye: x\n", "kye"},
		{"unknown style", "partner_id: \"371523\"\nkey: 371523.key\nstyle: fax\ngateway: {keys: {gateway: gateway.pub}}\n", "unknown style"},
		{"bad fault", "partner_id: \"371523\"\nkey: 371523.key\ngateway: {keys: {gateway: gateway.pub}}\nfaults: {error_rate: 2}\n", "rates must be from 0 to 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "sim.yaml"), []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runIn(t, dir, "", "partnersim", "--config", "sim.yaml")
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("got exit %d, stderr %q; want failure naming %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

// TestPartnersimCommandServesItsStyle runs `tongban partnersim` as a SOAP
// district with a fault and delivers a case to it through the soap
// adapter: the first attempt meets the fault, the next is acknowledged.
func TestPartnersimCommandServesItsStyle(t *testing.T) {
	dir := t.TempDir()
	keys := e2etest.Keys(t, dir, "gateway", "371523")
	addr := e2etest.FreeLoopbackAddr(t)
	endpoint := "http://" + addr + "/ws"
	cfg := fmt.Sprintf(`partner_id: "371523"
key: 371523.key
gateway: {keys: {gateway: gateway.pub}}
adapter_config: %s
faults: {fail_first: 1}
`, soap.ExampleConfig(endpoint))
	if err := os.WriteFile(filepath.Join(dir, "sim.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "partnersim", "--config", "sim.yaml", "--style", "soap", "--listen", addr)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr e2etest.LockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "371523 (soap) listening on http://"+addr) {
		t.Fatalf("first line %q, %v; stderr:\n%s", line, err, stderr.String())
	}

	gw, err := keyring.New(keyring.Options{GatewayID: "tongban-test", Signer: signing.NewSigner(keys["gateway"], nil), SignerKeyID: "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.AddKey("371523", "371523", keys["371523"].Public()); err != nil {
		t.Fatal(err)
	}
	a, err := adapters.New(soap.Name, adapters.Params{PartnerID: "371523", Config: soap.ExampleConfig(endpoint), Crypto: gw})
	if err != nil {
		t.Fatal(err)
	}
	d := adaptertest.FullCase(1, gw.SM3Hex)
	cd, _ := adapters.CaseDelivererOf(a)
	ack, _, _, err := cd.DeliverCase(ctx, d)
	if err != nil {
		t.Fatalf("DeliverCase to the simulated district: %v\nstderr:\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(ack.PartnerCaseNo, "371523-") {
		t.Errorf("ack %+v", ack)
	}
	if !strings.Contains(stderr.String(), "fault: refusing") {
		t.Errorf("the fail_first fault did not show in the log:\n%s", stderr.String())
	}
}
