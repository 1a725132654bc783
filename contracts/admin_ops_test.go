package contracts

import (
	"strings"
	"testing"
)

// TestKeyAddRequestValidate: ids well formed, a PEM text present and
// within MaxKeyPEM; each refusal names its field.
func TestKeyAddRequestValidate(t *testing.T) {
	const pem = "-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n"
	tests := []struct {
		name  string
		req   KeyAddRequest
		field string // "" = valid
	}{
		{"valid", KeyAddRequest{Caller: "330702", KeyID: "330702-2027", PublicKeyPEM: pem}, ""},
		{"key id with separators", KeyAddRequest{Caller: "ops", KeyID: "ops:k.1_a-b", PublicKeyPEM: pem}, ""},
		{"no caller", KeyAddRequest{KeyID: "k", PublicKeyPEM: pem}, "caller"},
		{"caller with a slash", KeyAddRequest{Caller: "a/b", KeyID: "k", PublicKeyPEM: pem}, "caller"},
		{"no key id", KeyAddRequest{Caller: "330702", PublicKeyPEM: pem}, "key_id"},
		{"key id starting with a dot", KeyAddRequest{Caller: "330702", KeyID: ".k", PublicKeyPEM: pem}, "key_id"},
		{"key id too long", KeyAddRequest{Caller: "330702", KeyID: strings.Repeat("k", MaxOpaqueIDLen+1), PublicKeyPEM: pem}, "key_id"},
		{"no pem", KeyAddRequest{Caller: "330702", KeyID: "k", PublicKeyPEM: " \n"}, "public_key_pem"},
		{"not pem", KeyAddRequest{Caller: "330702", KeyID: "k", PublicKeyPEM: "MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE"}, "public_key_pem"},
		{"pem too large", KeyAddRequest{Caller: "330702", KeyID: "k", PublicKeyPEM: pem + strings.Repeat("x", MaxKeyPEM)}, "public_key_pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := CodeValidationFailed
			if tt.field == "" {
				code = ""
			}
			wantRefusal(t, tt.req.Validate(), code, tt.field)
		})
	}
}

// TestOperationEnums: the enumerations of the operator views accept
// exactly their constants.
func TestOperationEnums(t *testing.T) {
	for _, tt := range []struct {
		valid func(string) bool
		good  []string
		bad   []string
	}{
		{func(s string) bool { return DeliveryMode(s).Valid() }, []string{"push", "pull", "none"}, []string{"", "Push", "mailbox"}},
		{func(s string) bool { return CircuitState(s).Valid() }, []string{"closed", "open", "half_open"}, []string{"", "half-open"}},
		{func(s string) bool { return KeyKind(s).Valid() }, []string{"public_key", "certificate"}, []string{"", "cert"}},
		{func(s string) bool { return KeySource(s).Valid() }, []string{"config", "runtime"}, []string{"", "file"}},
	} {
		for _, s := range tt.good {
			if !tt.valid(s) {
				t.Errorf("%q: not valid", s)
			}
		}
		for _, s := range tt.bad {
			if tt.valid(s) {
				t.Errorf("%q: valid", s)
			}
		}
	}
}
