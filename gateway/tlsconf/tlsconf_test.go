package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/tlsconf"
	"github.com/tongban/tongban/gateway/tlsconf/tlstest"
)

// handshake runs one TLS handshake over loopback between a server with
// srv and a client with cli, then a one-byte exchange (under TLS 1.3 a
// refused client certificate shows on the client's first read). It
// returns the client's and the server's errors and, when both succeeded,
// the state the server saw.
func handshake(t *testing.T, srv, cli *tls.Config) (clientErr, serverErr error, state *tls.ConnectionState) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		err   error
		state tls.ConnectionState
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		if _, err := tc.Write([]byte{1}); err != nil {
			done <- result{err: err}
			return
		}
		done <- result{state: tc.ConnectionState()}
	}()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), cli)
	if err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	r := <-done
	if err == nil && r.err == nil {
		return nil, nil, &r.state
	}
	return err, r.err, nil
}

// fixture is a CA, a second CA, and files of their certificates.
type fixture struct {
	dir      string
	ca, ca2  *tlstest.CA
	caFile   string
	ca2File  string
	resolve  func(string) string
	srvCert  string
	srvKey   string
	cliCert  *tlstest.Cert
	cli2Cert *tlstest.Cert
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{dir: t.TempDir(), ca: tlstest.NewCA(t, "Tongban test CA"), ca2: tlstest.NewCA(t, "Another CA")}
	f.caFile, f.ca2File = filepath.Join(f.dir, "ca.crt"), filepath.Join(f.dir, "ca2.crt")
	tlstest.WriteFile(t, f.caFile, f.ca.PEM())
	tlstest.WriteFile(t, f.ca2File, f.ca2.PEM())
	f.resolve = func(p string) string { return p }
	f.srvCert, f.srvKey = f.ca.Server(t, "gateway", time.Time{}, time.Time{}).Write(t, f.dir, "server")
	f.cliCert = f.ca.Client(t, "330702", time.Time{}, time.Time{})
	f.cli2Cert = f.ca2.Client(t, "330702", time.Time{}, time.Time{})
	return f
}

func (f *fixture) server(t *testing.T, auth string) *tls.Config {
	t.Helper()
	c := &config.TLS{Cert: f.srvCert, Key: f.srvKey, ClientAuth: auth}
	if auth != config.ClientAuthNone {
		c.ClientCA = f.caFile
	}
	s, _, err := tlsconf.Server(c, f.resolve, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHandshakes runs real handshakes between the listener's and the
// partners' configurations as the loaders build them.
func TestHandshakes(t *testing.T) {
	f := newFixture(t)
	client := func(ca string, cert *tlstest.Cert, minV string) *tls.Config {
		p := &config.PartnerTLS{CA: ca, MinVersion: minV}
		if cert != nil {
			p.Cert, p.Key = cert.Write(t, t.TempDir(), "client")
		}
		c, _, err := tlsconf.Client(p, f.resolve, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c.ServerName = "localhost"
		return c
	}
	tests := []struct {
		name       string
		srv        *tls.Config
		cli        *tls.Config
		wantErr    string // in the client's or the server's error; "" = handshake succeeds
		wantClient bool   // the server saw a client certificate
	}{
		{"good, no client certificate", f.server(t, "none"), client(f.caFile, nil, "1.2"), "", false},
		{"good, client certificate required", f.server(t, "require"), client(f.caFile, f.cliCert, "1.2"), "", true},
		{"good, client certificate optional and sent", f.server(t, "optional"), client(f.caFile, f.cliCert, "1.3"), "", true},
		{"good, client certificate optional and absent", f.server(t, "optional"), client(f.caFile, nil, "1.2"), "", false},
		{"server certificate of another CA", f.server(t, "none"), client(f.ca2File, nil, "1.2"), "certificate signed by unknown authority", false},
		{"no client certificate when required", f.server(t, "require"), client(f.caFile, nil, "1.2"), "certificate", false},
		// Go's client sends no certificate the server's CA list does not
		// name; a client that sends it anyway is refused.
		{"client certificate of another CA", f.server(t, "optional"), func() *tls.Config {
			c := client(f.caFile, nil, "1.2")
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				tc := f.cli2Cert.TLS(t)
				return &tc, nil
			}
			return c
		}(), "certificate signed by unknown authority", false},
		{"client capped at TLS 1.2", f.server(t, "none"), func() *tls.Config {
			c := client(f.caFile, nil, "1.2")
			c.MaxVersion = tls.VersionTLS12
			return c
		}(), "protocol version", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr, serr, st := handshake(t, tt.srv, tt.cli)
			if tt.wantErr == "" {
				if cerr != nil || serr != nil {
					t.Fatalf("handshake failed: client %v, server %v", cerr, serr)
				}
				if st.Version != tls.VersionTLS13 {
					t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
				}
				if got := len(st.PeerCertificates) > 0; got != tt.wantClient {
					t.Errorf("server saw a client certificate: %v, want %v", got, tt.wantClient)
				}
				return
			}
			if cerr == nil && serr == nil {
				t.Fatal("handshake succeeded, want it refused")
			}
			if !strings.Contains(errString(cerr)+" | "+errString(serr), tt.wantErr) {
				t.Errorf("client %v, server %v; want %q", cerr, serr, tt.wantErr)
			}
		})
	}
}

// TestExpiredServerCertificate: the loader refuses the gateway's own
// expired or not yet valid certificate, and a client refuses a server
// that serves one anyway.
func TestExpiredServerCertificate(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	expired := f.ca.Server(t, "gateway", now.Add(-48*time.Hour), now.Add(-time.Hour))
	future := f.ca.Server(t, "gateway", now.Add(time.Hour), now.Add(48*time.Hour))
	for _, tt := range []struct {
		c    *tlstest.Cert
		want string
	}{{expired, "expired at"}, {future, "is not valid before"}} {
		cf, kf := tt.c.Write(t, t.TempDir(), "server")
		_, _, err := tlsconf.Server(&config.TLS{Cert: cf, Key: kf, ClientAuth: "none"}, f.resolve, now)
		if err == nil || !strings.Contains(err.Error(), "tls.cert: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Server: got %v, want tls.cert: ... %s", err, tt.want)
		}
		// Partner client certificates are checked alike.
		_, _, err = tlsconf.Client(&config.PartnerTLS{Cert: cf, Key: kf}, f.resolve, now)
		if err == nil || !strings.Contains(err.Error(), "tls.cert: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Client: got %v, want tls.cert: ... %s", err, tt.want)
		}
	}
	srv := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{expired.TLS(t)}}
	cli, _, err := tlsconf.Client(&config.PartnerTLS{CA: f.caFile}, f.resolve, now)
	if err != nil {
		t.Fatal(err)
	}
	cli.ServerName = "localhost"
	cerr, _, _ := handshake(t, srv, cli)
	if cerr == nil || !strings.Contains(cerr.Error(), "expired") {
		t.Errorf("client to a server with an expired certificate: got %v, want refused as expired", cerr)
	}
}

// TestLoadErrors names the field of each bad file.
func TestLoadErrors(t *testing.T) {
	f := newFixture(t)
	empty := filepath.Join(f.dir, "empty.pem")
	tlstest.WriteFile(t, empty, []byte("not a certificate\n"))
	otherKey := f.ca.Client(t, "x", time.Time{}, time.Time{})
	_, wrongKey := otherKey.Write(t, t.TempDir(), "other")
	expiredCA := filepath.Join(f.dir, "expired-ca.crt")
	tlstest.WriteFile(t, expiredCA, f.ca.PEM())
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"client CA file without certificates", func() error {
			_, _, err := tlsconf.Server(&config.TLS{Cert: f.srvCert, Key: f.srvKey, ClientCA: empty, ClientAuth: "require"}, f.resolve, time.Now())
			return err
		}, "tls.client_ca: " + empty + ": no PEM certificate"},
		{"key of another certificate", func() error {
			_, _, err := tlsconf.Server(&config.TLS{Cert: f.srvCert, Key: wrongKey, ClientAuth: "none"}, f.resolve, time.Now())
			return err
		}, "tls.cert: tls: private key does not match public key"},
		{"partner CA expired", func() error {
			_, _, err := tlsconf.Client(&config.PartnerTLS{CA: expiredCA}, f.resolve, time.Now().AddDate(2, 0, 0))
			return err
		}, "tls.ca: " + expiredCA + ": certificate \"Tongban test CA\" expired at"},
		{"partner CA missing", func() error {
			_, _, err := tlsconf.Client(&config.PartnerTLS{CA: filepath.Join(f.dir, "nope")}, f.resolve, time.Now())
			return err
		}, "tls.ca: open "},
	}
	for _, tt := range tests {
		if err := tt.err(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	// Expiry lists what was loaded.
	_, exp, err := tlsconf.Server(&config.TLS{Cert: f.srvCert, Key: f.srvKey, ClientCA: f.caFile, ClientAuth: "optional"}, f.resolve, time.Now())
	if err != nil || len(exp) != 2 || exp[0].Field != "tls.cert" || exp[1].Field != "tls.client_ca" {
		t.Errorf("expiry: %v, %+v", err, exp)
	}
}

// TestBinder checks the binding of client certificates to callers.
func TestBinder(t *testing.T) {
	f := newFixture(t)
	a, b := f.cliCert, f.ca.Client(t, "330703", time.Time{}, time.Time{})
	unbound := f.ca.Client(t, "someone", time.Time{}, time.Time{})
	binder, err := tlsconf.NewBinder([]config.Partner{
		{ID: "330702", ClientCerts: []string{strings.ToUpper(tlsconf.Fingerprint(a.Leaf.Raw))}},
		{ID: "330703", ClientCerts: []string{tlsconf.Fingerprint(b.Leaf.Raw)}},
		{ID: "window-320404"},
	})
	if err != nil {
		t.Fatal(err)
	}
	over := func(c *tlstest.Cert) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.Leaf}}
	}
	tests := []struct {
		name   string
		caller string
		state  *tls.ConnectionState
		ok     bool
	}{
		{"own certificate", "330702", over(a), true},
		{"token of A over B's certificate", "330702", over(b), false},
		{"bound caller without a certificate", "330702", &tls.ConnectionState{}, false},
		{"bound caller over plain HTTP", "330702", nil, false},
		{"bound caller with an unbound certificate", "330702", over(unbound), false},
		{"unbound caller over B's certificate", "window-320404", over(b), false},
		{"unbound caller with an unbound certificate", "window-320404", over(unbound), true},
		{"unbound caller without a certificate", "window-320404", &tls.ConnectionState{}, true},
		{"unbound caller over plain HTTP", "window-320404", nil, true},
	}
	for _, tt := range tests {
		err := binder.Check(tt.caller, tt.state)
		if tt.ok {
			if err != nil {
				t.Errorf("%s: refused: %v", tt.name, err)
			}
			continue
		}
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Code != contracts.CodeCertificateMismatch || !errors.Is(err, tlsconf.ErrCertificateMismatch) {
			t.Errorf("%s: got %v, want certificate_mismatch", tt.name, err)
		}
	}
	if _, err := tlsconf.NewBinder([]config.Partner{{ID: "a", ClientCerts: []string{"AA"}}, {ID: "b", ClientCerts: []string{"aa"}}}); err == nil {
		t.Error("one certificate bound to two callers: accepted")
	}
	var none *tlsconf.Binder
	if err := none.Check("330702", nil); err != nil {
		t.Errorf("nil Binder refused: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
