package adapters_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tongban/tongban/adapters"
)

func TestDecodeConfig(t *testing.T) {
	type cfg struct {
		Endpoint string `json:"endpoint"`
	}
	tests := []struct{ in, wantErr string }{
		{`{"endpoint":"http://x"}`, ""},
		{`  {"endpoint":"http://x"}  `, ""},
		{``, "empty"},
		{`   `, "empty"},
		{`{"endpoint":"http://x","extra":1}`, "unknown field"},
		{`{"endpoint":"http://x"}{}`, "trailing"},
		{`{"endpoint":`, "unexpected EOF"},
	}
	for _, tt := range tests {
		var c cfg
		err := adapters.DecodeConfig(json.RawMessage(tt.in), &c)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("DecodeConfig(%q) = %v, want error containing %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{"http://127.0.0.1:9001/partner", "http://127.0.0.1:9001/partner", ""},
		{"https://jh.example.gov.cn/tongban/", "https://jh.example.gov.cn/tongban", ""},
		{"http://[::1]:9001", "http://[::1]:9001", ""},
		{"", "", "required"},
		{"127.0.0.1:9001", "", ""},
		{"/partner", "", "absolute"},
		{"ftp://x/y", "", "absolute"},
		{"http:x", "", "no host"},
		{"http://x/y?q=1", "", "query"},
		{"http://x/y?", "", "query"},
		{"http://x/y#f", "", "fragment"},
		{"http://user:pw@x/y", "", "user info"},
		{"http://x/%zz", "", "not a URL"},
		// Every refusal hides the password, not only the user-info one.
		{"ftp://user:pw@x/y", "", "absolute"},
		{"http://user:pw@/y", "", "no host"},
		{"http://user:pw@x/y?q", "", "user info"},
		{"http://user:pw@x/%zz", "", "not a URL"},
	}
	for _, tt := range tests {
		got, err := adapters.ParseEndpoint(tt.in)
		switch {
		case tt.want != "":
			if err != nil || got != tt.want {
				t.Errorf("ParseEndpoint(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		case err == nil:
			t.Errorf("ParseEndpoint(%q) = %q, want an error", tt.in, got)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("ParseEndpoint(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error %q leaks the password", err)
		}
	}
}
