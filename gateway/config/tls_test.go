package config

import (
	"strings"
	"testing"
)

const fp1 = "AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"

// tlsConfig is good with the tls section and the first partner's
// additions in place of the markers.
func tlsConfig(gatewayTLS, partnerExtra string) string {
	s := strings.Replace(good, "listen: 127.0.0.1:8080\n", "listen: 127.0.0.1:8080\n"+gatewayTLS, 1)
	return strings.Replace(s, "    retry: {max_attempts: 5, base_delay: 2s}\n", "    retry: {max_attempts: 5, base_delay: 2s}\n"+partnerExtra, 1)
}

func TestTLSConfig(t *testing.T) {
	c, err := Parse([]byte(tlsConfig("tls: {cert: tls/gw.crt, key: tls/gw.key, client_ca: tls/ca.crt, client_auth: require}\n",
		"    client_certs: [\""+fp1+"\"]\n    tls: {ca: tls/d.ca, cert: tls/gw-client.crt, key: tls/gw-client.key, server_name: d.example}\n")), "/etc/tongban", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.ClientAuth != ClientAuthRequire || c.Partners[0].TLS.MinVersion != "1.2" || c.Partners[0].TLS.ServerName != "d.example" {
		t.Errorf("tls read as %+v, partner tls %+v", c.TLS, c.Partners[0].TLS)
	}
	if got := NormalizeFingerprint(c.Partners[0].ClientCerts[0]); got != strings.Repeat("abcdef0123456789", 4) {
		t.Errorf("NormalizeFingerprint: got %s", got)
	}
	if c, err := Parse([]byte(tlsConfig("tls: {cert: a, key: b}\n", "")), "/x", noEnv); err != nil || c.TLS.ClientAuth != ClientAuthNone {
		t.Errorf("tls without client_auth: %v, %+v", err, c)
	}
	if c, err := Parse([]byte(good), "/x", noEnv); err != nil || c.TLS != nil {
		t.Errorf("no tls section: %v, want plain HTTP (nil TLS)", err)
	}

	bad := []struct{ gw, partner, want string }{
		{"tls: {key: b}\n", "", "tls.cert: is required"},
		{"tls: {cert: a}\n", "", "tls.key: is required"},
		{"tls: {cert: a, key: b, client_auth: require}\n", "", "tls.client_ca: is required with client_auth require"},
		{"tls: {cert: a, key: b, client_ca: c}\n", "", "tls.client_ca: set, but client_auth is none"},
		{"tls: {cert: a, key: b, client_ca: c, client_auth: maybe}\n", "", "tls.client_auth: \"maybe\" must be none, optional or require"},
		{"", "    client_certs: [\"" + fp1 + "\"]\n", "partners[0].client_certs: need tls.client_auth optional or require"},
		{"tls: {cert: a, key: b}\n", "    client_certs: [\"" + fp1 + "\"]\n", "partners[0].client_certs: need tls.client_auth"},
		{"tls: {cert: a, key: b, client_ca: c, client_auth: optional}\n", "    client_certs: [\"ab:cd\"]\n", "partners[0]: client_certs[0]: \"ab:cd\" is not a SHA-256 fingerprint"},
		{"tls: {cert: a, key: b, client_ca: c, client_auth: optional}\n", "    client_certs: [\"" + strings.Repeat("zz", 32) + "\"]\n", "is not a SHA-256 fingerprint"},
		{"", "    tls: {cert: a}\n", "partners[0]: tls: cert and key go together"},
		{"", "    tls: {min_version: \"1.1\"}\n", "partners[0]: tls.min_version: \"1.1\" must be 1.2 or 1.3"},
	}
	for _, tt := range bad {
		_, err := Parse([]byte(tlsConfig(tt.gw, tt.partner)), "/x", noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q / %q: got %v, want %q", tt.gw, tt.partner, err, tt.want)
		}
	}
	// One certificate, two callers.
	two := strings.Replace(tlsConfig("tls: {cert: a, key: b, client_ca: c, client_auth: optional}\n", "    client_certs: [\""+fp1+"\"]\n"),
		"    keys: {window-320404: keys/window-320404.pub}\n", "    keys: {window-320404: keys/window-320404.pub}\n    client_certs: [\""+strings.ToLower(strings.ReplaceAll(fp1, ":", ""))+"\"]\n", 1)
	if _, err := Parse([]byte(two), "/x", noEnv); err == nil || !strings.Contains(err.Error(), "partners[1].client_certs[0]: also listed by partner 330702") {
		t.Errorf("shared certificate: got %v", err)
	}
	// A window is never called: no tls for it.
	win := strings.Replace(good, "    keys: {window-320404: keys/window-320404.pub}\n", "    keys: {window-320404: keys/window-320404.pub}\n    tls: {ca: x}\n", 1)
	if _, err := Parse([]byte(win), "/x", noEnv); err == nil || !strings.Contains(err.Error(), "partners[1]: tls: only a partner with an adapter is called") {
		t.Errorf("window with tls: got %v", err)
	}
}
