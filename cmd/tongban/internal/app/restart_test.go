package app

import (
	"slices"
	"testing"
	"time"

	"github.com/tongban/tongban/gateway/config"
)

// TestRestartOnly: a reload may change the partners and key_ca; every
// other setting that differs is named by its path in the file.
func TestRestartOnly(t *testing.T) {
	half, one := 0.5, 1.0
	base := func() *config.Config {
		return &config.Config{GatewayID: "gw", Listen: "127.0.0.1:8080", SigningKey: config.SigningKey{Path: "keys/gw.key", KeyID: "gateway"},
			Store: config.Store{Driver: config.DriverSQLite, Path: "tongban.db"}, Telemetry: config.Telemetry{SamplingRatio: &one},
			Partners: []config.Partner{{ID: "330702"}}}
	}
	tests := []struct {
		name   string
		change func(*config.Config)
		want   []string
	}{
		{"nothing", func(*config.Config) {}, nil},
		{"partners and key_ca", func(c *config.Config) {
			c.Partners = append(c.Partners, config.Partner{ID: "320404"})
			c.Partners[0].Regions = []string{"330702"}
			c.KeyCA = "keys/ca.pem"
		}, nil},
		{"listen and gateway id", func(c *config.Config) { c.Listen, c.GatewayID = "0.0.0.0:8080", "gw2" }, []string{"gateway_id", "listen"}},
		{"store path", func(c *config.Config) { c.Store.Path = "other.db" }, []string{"store.path"}},
		{"signing key and a previous key", func(c *config.Config) {
			c.SigningKey.KeyID = "gateway-2027"
			c.SigningKey.Previous = map[string]string{"gateway": "keys/gw.pub"}
		}, []string{"signing_key.key_id", "signing_key.previous"}},
		{"tls turned on", func(c *config.Config) { c.TLS = &config.TLS{Cert: "c.pem", Key: "k.pem"} }, []string{"tls"}},
		{"data keys", func(c *config.Config) { c.DataKeys.Disabled = true }, []string{"data_keys.disabled"}},
		{"sampling ratio behind a pointer", func(c *config.Config) { c.Telemetry.SamplingRatio = &half }, []string{"telemetry.sampling_ratio"}},
		{"delivery and limits", func(c *config.Config) {
			c.Delivery.Workers = 64
			c.Limits.TokenLeeway = time.Minute
		}, []string{"limits.token_leeway", "delivery.workers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base()
			tt.change(next)
			if got := restartOnly(base(), next); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
