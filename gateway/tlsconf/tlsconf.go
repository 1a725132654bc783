// Package tlsconf turns the configuration's TLS sections into crypto/tls
// configurations and binds client certificates to callers.
//
// The listener (Server) speaks TLS 1.3 only. Client certificates, when
// asked for (tls.client_auth optional or require), must chain to
// tls.client_ca; they never authenticate a caller alone: the bearer JWT
// stays required on every call, and the certificate binds the connection
// to one caller (Binder). Calls to partners (Client) use TLS 1.2 or later
// (1.3 whenever the partner offers it), the partner's CA bundle and the
// client certificate configured for it.
//
// Certificates are checked when the gateway opens: a certificate of the
// gateway's own (listener, client) that is expired or not yet valid, or a
// CA bundle with no certificate, is refused naming the field. At use the
// handshakes check validity on both sides, so a certificate that expires
// while the gateway runs fails those handshakes (and Expiry lets /readyz
// report it).
//
// TLS here is crypto/tls with ECDSA or RSA certificates: GB/T 38636
// (TLCP, the SM2/SM4 suites) has no maintained Go implementation this
// project could use. Bodies and tokens stay SM2/SM3-signed over TLS.
package tlsconf

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
)

// Expiry is one configured certificate and when it stops being valid.
type Expiry struct {
	Field    string // the configuration field, e.g. "tls.cert"
	NotAfter time.Time
}

// Server returns the listener's TLS configuration for t (paths resolved
// with resolve): TLS 1.3 minimum, the certificate chain of t.Cert with the
// key t.Key, and client certificates asked for and verified against
// t.ClientCA as t.ClientAuth says. It refuses, naming the field, a
// certificate that does not match its key or is not valid at now, and a
// client CA file with no certificate or with a CA not valid at now.
func Server(t *config.TLS, resolve func(string) string, now time.Time) (*tls.Config, []Expiry, error) {
	cert, leaf, err := keyPair(resolve(t.Cert), resolve(t.Key), now)
	if err != nil {
		return nil, nil, fmt.Errorf("tls.cert: %w", err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	exp := []Expiry{{"tls.cert", leaf.NotAfter}}
	switch t.ClientAuth {
	case config.ClientAuthNone, "":
		c.ClientAuth = tls.NoClientCert
	case config.ClientAuthOptional:
		c.ClientAuth = tls.VerifyClientCertIfGiven
	case config.ClientAuthRequire:
		c.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, nil, fmt.Errorf("tls.client_auth: %q must be none, optional or require", t.ClientAuth)
	}
	if c.ClientAuth != tls.NoClientCert {
		pool, cas, err := caPool(resolve(t.ClientCA), now)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.client_ca: %w", err)
		}
		c.ClientCAs = pool
		for _, ca := range cas {
			exp = append(exp, Expiry{"tls.client_ca", ca.NotAfter})
		}
	}
	return c, exp, nil
}

// Client returns the TLS configuration of calls to a partner: TLS
// p.MinVersion (1.2 or 1.3) minimum, the server certificate verified
// against p.CA (the system roots when empty) for p.ServerName (the
// endpoint's host when empty), and the client certificate p.Cert with
// p.Key presented when the partner asks. A nil p gives the defaults (TLS
// 1.2 minimum, system roots, no client certificate). It refuses, naming
// the field below "tls.", a client certificate not valid at now or not
// matching its key, and a CA file with no certificate or a CA not valid at
// now.
func Client(p *config.PartnerTLS, resolve func(string) string, now time.Time) (*tls.Config, []Expiry, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if p == nil {
		return c, nil, nil
	}
	if p.MinVersion == "1.3" {
		c.MinVersion = tls.VersionTLS13
	}
	c.ServerName = p.ServerName
	var exp []Expiry
	if p.CA != "" {
		pool, cas, err := caPool(resolve(p.CA), now)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.ca: %w", err)
		}
		c.RootCAs = pool
		for _, ca := range cas {
			exp = append(exp, Expiry{"tls.ca", ca.NotAfter})
		}
	}
	if p.Cert != "" {
		cert, leaf, err := keyPair(resolve(p.Cert), resolve(p.Key), now)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.cert: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
		exp = append(exp, Expiry{"tls.cert", leaf.NotAfter})
	}
	return c, exp, nil
}

// keyPair loads a certificate chain and its key and checks the leaf's
// validity at now.
func keyPair(certFile, keyFile string, now time.Time) (tls.Certificate, *x509.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, nil, err
		}
	}
	if err := validAt(leaf, now); err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%s: %w", certFile, err)
	}
	return cert, leaf, nil
}

// caPool reads a PEM bundle of CA certificates, each valid at now.
func caPool(file string, now time.Time) (*x509.CertPool, []*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	var cas []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		if err := validAt(c, now); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		pool.AddCert(c)
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, cas, nil
}

// validAt says whether now lies in c's validity period.
func validAt(c *x509.Certificate, now time.Time) error {
	switch {
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate %q is not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
	case now.After(c.NotAfter):
		return fmt.Errorf("certificate %q expired at %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Fingerprint returns the SHA-256 of a DER certificate as lower-case hex,
// the form partners[].client_certs are compared in.
func Fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// Binder binds client certificates to callers: partners[].client_certs
// by fingerprint. The zero Binder binds nothing.
type Binder struct {
	owner map[string]string          // fingerprint → caller
	bound map[string]map[string]bool // caller → its fingerprints
}

// NewBinder returns the Binder of the partners' client_certs. A
// fingerprint listed by two callers is an error naming both.
func NewBinder(partners []config.Partner) (*Binder, error) {
	b := &Binder{owner: map[string]string{}, bound: map[string]map[string]bool{}}
	for i, p := range partners {
		for j, fp := range p.ClientCerts {
			fp = config.NormalizeFingerprint(fp)
			if o, dup := b.owner[fp]; dup && o != p.ID {
				return nil, fmt.Errorf("partners[%d].client_certs[%d]: also listed by partner %s", i, j, o)
			}
			b.owner[fp] = p.ID
			if b.bound[p.ID] == nil {
				b.bound[p.ID] = map[string]bool{}
			}
			b.bound[p.ID][fp] = true
		}
	}
	return b, nil
}

// ErrCertificateMismatch is what Check's errors wrap.
var ErrCertificateMismatch = errors.New("client certificate does not belong to the caller")

// Check decides whether caller, authenticated by its token, may call over
// a connection in state (nil: plain HTTP). It refuses, with
// contracts.CodeCertificateMismatch (403):
//   - a connection whose client certificate is bound to another caller;
//   - a caller with client_certs whose connection carries none of them
//     (no certificate, an unbound one, or plain HTTP).
//
// A caller without client_certs may call with no certificate or with one
// no caller lists (it chained to tls.client_ca in the handshake).
func (b *Binder) Check(caller string, state *tls.ConnectionState) error {
	if b == nil || len(b.owner) == 0 {
		return nil
	}
	fp := ""
	if state != nil && len(state.PeerCertificates) > 0 {
		fp = Fingerprint(state.PeerCertificates[0].Raw)
	}
	if owner, ok := b.owner[fp]; ok && owner != caller {
		return &gateway.Error{Code: contracts.CodeCertificateMismatch,
			Message: "the connection's client certificate belongs to another caller than the token's",
			Err:     fmt.Errorf("%w: it is %s's, the token is %s's", ErrCertificateMismatch, owner, caller)}
	}
	if want := b.bound[caller]; len(want) > 0 && !want[fp] {
		return &gateway.Error{Code: contracts.CodeCertificateMismatch,
			Message: "caller " + caller + " must call over TLS with its configured client certificate",
			Err:     ErrCertificateMismatch}
	}
	return nil
}
