package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestConfigMarshalsAndReadsBack builds a configuration in Go, writes it
// with yaml.Marshal and reads it back: every setting survives, the
// adapter block comes back as the same JSON (strings that look like
// numbers or booleans stay strings, nested objects and arrays keep their
// shape), and the file holds no zero setting.
func TestConfigMarshalsAndReadsBack(t *testing.T) {
	block := json.RawMessage(`{"endpoint":"http://127.0.0.1:9/p/330702","envelope":{"code":"0","ok":true,"ratio":1.5},` +
		`"fields":[{"from":"sqrbh","to":"exchange_id"},{"from":"320404","to":"true"}],"empty":{},"none":[],"note":"line one\nline two","zone":"婺城区"}`)
	half := 0.5
	want := Config{
		GatewayID: "tongban-test", Listen: "127.0.0.1:0", Engine: "tjfoc",
		SigningKey: SigningKey{Path: "keys/gateway.key", KeyID: "gateway", Previous: map[string]string{"gateway-2025": "keys/old.pub"}},
		Store:      Store{Path: "store/tongban.db", Synchronous: "normal"},
		Delivery:   Delivery{Poll: 200 * time.Millisecond, Workers: 4},
		Log:        Log{Level: "warn"},
		Licenses:   Licenses{CacheTTL: time.Minute},
		Telemetry:  Telemetry{Exporter: ExporterStdout, SamplingRatio: &half},
		Partners: []Partner{
			{ID: "330702", Roles: []string{"partner"}, Regions: []string{"330702"}, Keys: map[string]string{"330702": "keys/330702.pub"},
				Adapter: "mapped-json", Retry: Retry{MaxAttempts: 8, BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second},
				Timeout: 5 * time.Second, Library: &LicenseLibrary{Regions: []string{"330702"}, Timeout: 2 * time.Second}},
			{ID: "operator", Roles: []string{"operator"}, Keys: map[string]string{"operator": "keys/operator.pub"}},
		},
	}
	if err := want.Partners[0].SetAdapterConfig(block); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	for _, zero := range []string{": 0\n", ": \"\"\n", "null", "password_file", "limits", "config: {}"} {
		if bytes.Contains(out, []byte(zero)) {
			t.Errorf("the file holds %q:\n%s", zero, out)
		}
	}
	if !strings.Contains(string(out), "    config:\n") || strings.Contains(string(out), "config: {") {
		t.Errorf("the adapter block is not in block style:\n%s", out)
	}
	got, err := Parse(out, "/etc/tongban", noEnv)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	raw, err := got.Partners[0].AdapterConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, raw, block) {
		t.Errorf("adapter block: got %s, want %s", raw, block)
	}
	if raw, _ := got.Partners[1].AdapterConfig(); string(raw) != "{}" {
		t.Errorf("absent adapter block: got %s, want {}", raw)
	}
	// Everything else reads back as set, defaults added.
	for i := range want.Partners {
		want.Partners[i].Config, got.Partners[i].Config = yaml.Node{}, yaml.Node{}
	}
	got.dir, got.source = "", nil
	want.defaults()
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("read back:\n%+v\nwant\n%+v\nfile:\n%s", got, &want, out)
	}
}

// TestSetAdapterConfigRefusesWhatIsNoObject: the block is a JSON object.
func TestSetAdapterConfigRefusesWhatIsNoObject(t *testing.T) {
	var p Partner
	for _, raw := range []string{`[1]`, `"x"`, `{`, `{"a":}`} {
		if err := p.SetAdapterConfig(json.RawMessage(raw)); err == nil {
			t.Errorf("SetAdapterConfig(%s): no error", raw)
		}
	}
	if err := p.SetAdapterConfig(nil); err != nil || p.Config.Kind != 0 {
		t.Errorf("SetAdapterConfig(nil): %v, node kind %d", err, p.Config.Kind)
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
