package mailbox_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mailbox"
)

type nopCrypto struct{}

func (nopCrypto) Sign([]byte) ([]byte, error)                     { return nil, nil }
func (nopCrypto) KeyID() string                                   { return "gateway" }
func (nopCrypto) VerifyBody(string, string, []byte, []byte) error { return nil }
func (nopCrypto) SM3Hex([]byte) string                            { return "" }

func TestConfig(t *testing.T) {
	tests := []struct {
		config string
		want   time.Duration
		err    string
	}{
		{``, mailbox.DefaultVisibility, ""},
		{`{}`, mailbox.DefaultVisibility, ""},
		{`{"visibility_timeout": "2m"}`, 2 * time.Minute, ""},
		{`{"visibility_timeout": "1s"}`, time.Second, ""},
		{`{"visibility_timeout": "500ms"}`, 0, "out of range"},
		{`{"visibility_timeout": "2h"}`, 0, "out of range"},
		{`{"visibility_timeout": "soon"}`, 0, "not a duration"},
		{`{"visibility": "30s"}`, 0, "unknown field"},
	}
	for _, tt := range tests {
		a, err := adapters.New(mailbox.Name, adapters.Params{PartnerID: "610102", Config: json.RawMessage(tt.config), Crypto: nopCrypto{}})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got %v, want an error containing %q", tt.config, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.config, err)
			continue
		}
		p, ok := adapters.PullerOf(a)
		if !ok || p.Mailbox().VisibilityTimeout != tt.want {
			t.Errorf("%s: visibility %v, want %s", tt.config, p, tt.want)
		}
		if caps := adapters.Capabilities(a); len(caps) != 1 || caps[0] != adapters.CapPull {
			t.Errorf("%s: capabilities %v, want only pull", tt.config, caps)
		}
	}
}
