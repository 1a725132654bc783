package mappedjson_test

import (
	"testing"

	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/adapters/mappedjson"
)

// TestContract runs the suite every pushing style passes against its
// simulator, with the example config.
func TestContract(t *testing.T) {
	gw, partner := newPair(t)
	adaptertest.Run(t, adaptertest.Setup{
		Style: mappedjson.Name, Config: mappedjson.ExampleConfig,
		Gateway: gw, Partner: partner, Rogue: newTestCrypto(t, gw.KeyID()),
	})
}
