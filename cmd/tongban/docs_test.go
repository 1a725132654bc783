package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/gateway/config"
)

// TestExampleConfigAdaptersBuild builds every partner's adapter of
// deploy/config.example.yaml through the registry, as serve does, so the
// example's adapter blocks stay valid.
func TestExampleConfigAdaptersBuild(t *testing.T) {
	c, err := config.Load(filepath.Join(moduleRoot(t), "deploy", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	styles := map[string]bool{}
	for _, pc := range c.Partners {
		if pc.Adapter == "" {
			continue
		}
		raw, err := pc.AdapterConfig()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := adapters.New(pc.Adapter, adapters.Params{PartnerID: pc.ID, Config: raw, Crypto: nopCrypto{}}); err != nil {
			t.Errorf("partner %s: %v", pc.ID, err)
		}
		styles[pc.Adapter] = true
	}
	for _, s := range []string{"standard", "soap", "mailbox"} {
		if !styles[s] {
			t.Errorf("the example has no %s partner", s)
		}
	}
}

// TestReadmeMappedJSONExampleBuilds builds the mapped-json example of the
// README through the registry: the documentation shows a block that works.
func TestReadmeMappedJSONExampleBuilds(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for _, part := range strings.Split(string(readme), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		if strings.HasPrefix(body, "adapter: mapped-json\n") {
			block = body
		}
	}
	if block == "" {
		t.Fatal("README has no yaml block starting with \"adapter: mapped-json\"")
	}
	var entry struct {
		Adapter string `yaml:"adapter"`
		Config  any    `yaml:"config"`
	}
	if err := yaml.Unmarshal([]byte(block), &entry); err != nil {
		t.Fatalf("README mapped-json example: %v", err)
	}
	raw, err := json.Marshal(entry.Config)
	if err != nil {
		t.Fatal(err)
	}
	a, err := adapters.New(entry.Adapter, adapters.Params{PartnerID: "330702", Config: raw, Crypto: nopCrypto{}})
	if err != nil {
		t.Fatalf("README mapped-json example does not build: %v", err)
	}
	for _, c := range []adapters.Capability{adapters.CapCaseDelivery, adapters.CapInbound} {
		found := false
		for _, got := range adapters.Capabilities(a) {
			found = found || got == c
		}
		if !found {
			t.Errorf("README example lacks %s: %v", c, adapters.Capabilities(a))
		}
	}
}

// nopCrypto is a Crypto for building adapters that make no call.
type nopCrypto struct{}

func (nopCrypto) Sign([]byte) ([]byte, error)                     { return nil, nil }
func (nopCrypto) KeyID() string                                   { return "gateway" }
func (nopCrypto) VerifyBody(string, string, []byte, []byte) error { return nil }
func (nopCrypto) SM3Hex([]byte) string                            { return "" }
