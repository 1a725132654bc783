package soap_test

import (
	"encoding/json"
	"testing"

	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

// TestContract runs the suite every adapter style passes against its
// simulator, with real SM2 keys in keyrings.
func TestContract(t *testing.T) {
	gw, partner, rogue := contractKeys(t)
	adaptertest.Run(t, adaptertest.Setup{
		Style:   soap.Name,
		Config:  func(endpoint string) json.RawMessage { return soap.ExampleConfig(endpoint) },
		Gateway: gw, Partner: partner, Rogue: rogue,
	})
}

// contractKeys returns the gateway's keyring (which knows the partner's
// key), the partner's (which knows the gateway's) and a rogue one signing
// with another key under the gateway's key id.
func contractKeys(t *testing.T) (gw, partner, rogue *keyring.Keyring) {
	t.Helper()
	ring := func(id, kid string, k *signing.PrivateKey) *keyring.Keyring {
		kr, err := keyring.New(keyring.Options{GatewayID: id, Signer: signing.NewSigner(k, nil), SignerKeyID: kid})
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	key := func() *signing.PrivateKey {
		k, err := signing.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	gk, pk := key(), key()
	gw, partner, rogue = ring("tongban-test", "gateway", gk), ring(adaptertest.PartnerID, adaptertest.PartnerID, pk), ring("tongban-test", "gateway", key())
	if err := gw.AddKey(adaptertest.PartnerID, adaptertest.PartnerID, pk.Public()); err != nil {
		t.Fatal(err)
	}
	if err := partner.AddKey(partnersim.GatewayCaller, "gateway", gk.Public()); err != nil {
		t.Fatal(err)
	}
	return gw, partner, rogue
}
