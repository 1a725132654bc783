package standard_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/adapters/standard"
)

// TestContract runs the suite every adapter style passes against its
// simulator.
func TestContract(t *testing.T) {
	gw, partner := newPair(t)
	adaptertest.Run(t, adaptertest.Setup{
		Style: standard.Name,
		Config: func(endpoint string) json.RawMessage {
			return json.RawMessage(fmt.Sprintf(`{"endpoint": %q}`, endpoint))
		},
		Gateway: gw, Partner: partner, Rogue: newTestCrypto(t, gw.KeyID()),
	})
}
