package app_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/gateway/tlsconf"
	"github.com/tongban/tongban/gateway/tlsconf/tlstest"
	"github.com/tongban/tongban/signing"
)

const tlsWindow = "window-320404"

// tlsRig is a gateway configuration with TLS: its CA, the window's and
// the district's client certificates, both bound to their callers.
type tlsRig struct {
	dir            string
	cfg            *config.Config
	ca             *tlstest.CA
	window, distr  *tlstest.Cert
	windowKey      *signing.PrivateKey
	keys           map[string]*signing.PrivateKey
	serverCertFile string
}

func newTLSRig(t *testing.T, clientAuth string) *tlsRig {
	t.Helper()
	r := &tlsRig{dir: t.TempDir(), ca: tlstest.NewCA(t, "Tongban test CA")}
	base := testConfig(t, r.dir, "127.0.0.1:0")
	keys, err := devrig.Keys(r.dir, tlsWindow, "330702")
	if err != nil {
		t.Fatal(err)
	}
	r.keys, r.windowKey = keys, keys[tlsWindow]
	r.window = r.ca.Client(t, tlsWindow, time.Time{}, time.Time{})
	r.distr = r.ca.Client(t, "330702", time.Time{}, time.Time{})
	r.serverCertFile, _ = r.ca.Server(t, "gateway", time.Time{}, time.Time{}).Write(t, r.dir, "server")
	tlstest.WriteFile(t, filepath.Join(r.dir, "client-ca.crt"), r.ca.PEM())
	cfg := *base
	cfg.TLS = &config.TLS{Cert: "server.crt", Key: "server.key", ClientCA: "client-ca.crt", ClientAuth: clientAuth}
	win := devrig.Caller(tlsWindow, contracts.RoleWindow, "320404")
	win.ClientCerts = []string{tlsconf.Fingerprint(r.window.Leaf.Raw)}
	cfg.Partners = append(cfg.Partners, win)
	cfg.Partners[0].ClientCerts = []string{tlsconf.Fingerprint(r.distr.Leaf.Raw)}
	loaded, err := devrig.WriteConfig(filepath.Join(r.dir, "config.yaml"), &cfg, 0o600, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.cfg = loaded
	return r
}

// serve opens and serves the gateway until the test ends and returns its
// address.
func serve(t *testing.T, cfg *config.Config) string {
	t.Helper()
	g, err := app.Open(t.Context(), cfg, app.NewLogger(io.Discard, "info"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- g.Serve(ctx, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready within 10s")
	}
	return ""
}

// client returns an https client trusting the rig's CA, presenting cert
// (none when nil).
func (r *tlsRig) client(t *testing.T, cert *tlstest.Cert) *http.Client {
	c := &tls.Config{RootCAs: r.ca.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{cert.TLS(t)}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
}

// TestServeTLS serves the gateway over TLS 1.3 with client certificates
// bound to callers: probes answer over https, plain HTTP is refused, and
// a token is honoured only over its caller's certificate.
func TestServeTLS(t *testing.T) {
	r := newTLSRig(t, config.ClientAuthOptional)
	addr := serve(t, r.cfg)
	base := "https://" + addr

	resp, err := r.client(t, nil).Get(base + "/healthz")
	if err != nil {
		t.Fatalf("https /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Fatalf("https /healthz: %d over %+v, want 200 over TLS 1.3", resp.StatusCode, resp.TLS)
	}
	resp, err = r.client(t, nil).Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"certificates"`) {
		t.Errorf("/readyz has no certificates check: %s", body)
	}

	// Plain HTTP to the TLS listener: refused before any handler runs.
	resp, err = (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS") {
			t.Errorf("plain http: %d %s, want 400 from the TLS listener", resp.StatusCode, b)
		}
	}

	caller := e2etest.NewCaller(tlsWindow, r.cfg.GatewayID, r.windowKey)
	tok := caller.Token(t)
	caseURL := base + "/v1/cases/case-" + strings.ReplaceAll(e2etest.MustUUID(t), "-", "")
	tests := []struct {
		name     string
		cert     *tlstest.Cert
		status   int
		wantCode contracts.Code
	}{
		{"window over its certificate", r.window, http.StatusNotFound, contracts.CodeNotFound},
		{"window over the district's certificate", r.distr, http.StatusForbidden, contracts.CodeCertificateMismatch},
		{"window without a certificate", nil, http.StatusForbidden, contracts.CodeCertificateMismatch},
	}
	for _, tt := range tests {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, caseURL, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := r.client(t, tt.cert).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var e contracts.Error
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tt.status || e.Code != tt.wantCode {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, e.Code, tt.status, tt.wantCode)
		}
	}
	// Both refusals are in the evidence log, with the token's caller.
	r2, err := sqlite.OpenReader(t.Context(), r.cfg.Resolve(r.cfg.Store.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	denials := 0
	err = r2.ScanEvidence(t.Context(), 1, 0, func(row gateway.EvidenceRow) error {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(row.Record, &rec); err != nil {
			return err
		}
		if rec.Event == contracts.EventAccessDenied && rec.Actor == tlsWindow && strings.Contains(string(rec.Detail), string(contracts.CodeCertificateMismatch)) {
			denials++
		}
		return nil
	})
	if err != nil || denials != 2 {
		t.Errorf("evidence: %d certificate_mismatch denials of %s (%v), want 2", denials, tlsWindow, err)
	}
}

// TestServeTLSRequiresClientCertificate: with client_auth require a
// connection without a certificate is refused in the handshake.
func TestServeTLSRequiresClientCertificate(t *testing.T) {
	r := newTLSRig(t, config.ClientAuthRequire)
	base := "https://" + serve(t, r.cfg)
	if resp, err := r.client(t, nil).Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("no client certificate: %d, want the handshake refused", resp.StatusCode)
	}
	resp, err := r.client(t, r.window).Get(base + "/healthz")
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	resp.Body.Close()
}

// TestOpenRefusesBadCertificates: Open refuses, naming the field and the
// partner, an expired listener certificate, an expired partner key
// certificate and one that does not chain to key_ca.
func TestOpenRefusesBadCertificates(t *testing.T) {
	r := newTLSRig(t, config.ClientAuthOptional)
	now := time.Now()
	sm2Cert := func(t *testing.T, key *signing.PrivateKey, nb, na time.Time, issuer *signing.Certificate, issuerKey *signing.PrivateKey) []byte {
		der, err := signing.CreateCertificate(signing.CertificateRequest{CommonName: "330702", NotBefore: nb, NotAfter: na}, key.Public(), issuer, issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		return signing.MarshalCertificatePEM(der)
	}
	caKey, otherKey := r.keys[tlsWindow], r.keys["330702"] // any SM2 keys will do as CA keys
	caDER, err := signing.CreateCertificate(signing.CertificateRequest{CommonName: "SM2 CA", IsCA: true}, caKey.Public(), nil, caKey)
	if err != nil {
		t.Fatal(err)
	}
	smCA, _ := signing.ParseCertificate(caDER)
	tlstest.WriteFile(t, filepath.Join(r.dir, "key-ca.crt"), signing.MarshalCertificatePEM(caDER))
	distrKey := r.keys["330702"]
	tests := []struct {
		name  string
		apply func(t *testing.T, c *config.Config)
		want  string
	}{
		{"expired listener certificate", func(t *testing.T, c *config.Config) {
			cf, kf := r.ca.Server(t, "gateway", now.Add(-48*time.Hour), now.Add(-time.Hour)).Write(t, t.TempDir(), "old")
			c.TLS.Cert, c.TLS.Key = cf, kf
		}, "tls.cert: "},
		{"expired partner key certificate", func(t *testing.T, c *config.Config) {
			f := filepath.Join(t.TempDir(), "330702.crt")
			tlstest.WriteFile(t, f, sm2Cert(t, distrKey, now.Add(-48*time.Hour), now.Add(-time.Hour), nil, distrKey))
			c.Partners[0].Keys = map[string]string{"330702": f}
		}, "partners[0] (330702).keys.330702: keyring: " + "%DIR%" + "expired at"},
		{"partner key certificate of another CA", func(t *testing.T, c *config.Config) {
			f := filepath.Join(t.TempDir(), "330702.crt")
			tlstest.WriteFile(t, f, sm2Cert(t, distrKey, time.Time{}, time.Time{}, nil, otherKey))
			c.Partners[0].Keys = map[string]string{"330702": f}
			c.KeyCA = "key-ca.crt"
		}, "partners[0] (330702).keys.330702: keyring: " + "%DIR%" + "does not chain to a configured CA"},
		{"partner key certificate of key_ca", func(t *testing.T, c *config.Config) {
			f := filepath.Join(t.TempDir(), "330702.crt")
			tlstest.WriteFile(t, f, sm2Cert(t, distrKey, time.Time{}, time.Time{}, smCA, caKey))
			c.Partners[0].Keys = map[string]string{"330702": f}
			c.KeyCA = "key-ca.crt"
		}, ""},
		{"expired partner client certificate", func(t *testing.T, c *config.Config) {
			cf, kf := r.ca.Client(t, "gw", now.Add(-48*time.Hour), now.Add(-time.Hour)).Write(t, t.TempDir(), "gw")
			c.Partners[0].TLS = &config.PartnerTLS{Cert: cf, Key: kf, MinVersion: "1.2"}
		}, "partners[0] (330702).tls.cert: "},
		{"tls for a mailbox partner", func(t *testing.T, c *config.Config) {
			c.Partners[0].Adapter = "mailbox"
			if err := c.Partners[0].SetAdapterConfig([]byte(`{"visibility_timeout": "30s"}`)); err != nil {
				t.Fatal(err)
			}
			c.Partners[0].Library = nil
			c.Partners[0].TLS = &config.PartnerTLS{CA: "client-ca.crt", MinVersion: "1.2"}
		}, `partners[0] (330702).tls: adapter "mailbox" makes no calls`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *r.cfg
			tlsCopy := *r.cfg.TLS
			c.TLS = &tlsCopy
			c.Partners = append([]config.Partner(nil), r.cfg.Partners...)
			tt.apply(t, &c)
			g, err := app.Open(t.Context(), &c, app.NewLogger(io.Discard, "info"))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				g.Close()
				return
			}
			if err == nil {
				g.Close()
				t.Fatalf("Open accepted it, want %q", tt.want)
			}
			pre, post, _ := strings.Cut(tt.want, "%DIR%")
			if !strings.HasPrefix(err.Error(), pre) || !strings.Contains(err.Error(), post) {
				t.Errorf("Open: got %v, want %q", err, tt.want)
			}
		})
	}
}
