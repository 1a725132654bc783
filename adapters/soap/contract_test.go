package soap_test

import (
	"encoding/json"
	"testing"

	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/signing/signingtest"
)

// TestContract runs the suite every adapter style passes against its
// simulator, with real SM2 keys.
func TestContract(t *testing.T) {
	gw, partner := signingtest.New(t, "gateway"), signingtest.New(t, adaptertest.PartnerID)
	gw.Trust(adaptertest.PartnerID, partner)
	partner.Trust(partnersim.GatewayCaller, gw)
	adaptertest.Run(t, adaptertest.Setup{
		Style:   soap.Name,
		Config:  func(endpoint string) json.RawMessage { return soap.ExampleConfig(endpoint) },
		Gateway: gw, Partner: partner, Rogue: signingtest.New(t, gw.KeyID()),
	})
}
