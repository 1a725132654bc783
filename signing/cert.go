package signing

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// Certificate is a parsed X.509 certificate whose subject key is SM2.
type Certificate struct {
	// Raw is the DER encoding.
	Raw []byte
	// PublicKey is the subject's SM2 key.
	PublicKey *PublicKey
	// Subject, Issuer, NotBefore, NotAfter, IsCA and SerialNumber are copied
	// from the certificate for convenience.
	Subject, Issuer     pkix.Name
	NotBefore, NotAfter time.Time
	IsCA                bool
	SerialNumber        *big.Int

	sm *smx509.Certificate
}

// CertificateRequest names what a new certificate says about its subject.
type CertificateRequest struct {
	CommonName   string
	Organization string
	// DNSNames and IPAddresses are optional subject alternative names.
	DNSNames []string
	// NotBefore defaults to one minute ago; NotAfter to NotBefore + Validity.
	NotBefore, NotAfter time.Time
	// Validity is used when NotAfter is zero; it defaults to one year.
	Validity time.Duration
	// IsCA makes a certificate that may sign other certificates.
	IsCA bool
}

// CreateCertificate issues a certificate for subject signed with SM2-with-SM3
// by issuerKey. With a nil issuer the certificate is self-signed (issuerKey
// must then be subject's private key). It returns the DER encoding, which
// `openssl x509` reads and `openssl verify` accepts.
func CreateCertificate(req CertificateRequest, subject *PublicKey, issuer *Certificate, issuerKey *PrivateKey) ([]byte, error) {
	if subject == nil || issuerKey == nil {
		return nil, errors.New("signing: certificate needs a subject key and an issuer key")
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("signing: serial: %w", err)
	}
	nb := req.NotBefore
	if nb.IsZero() {
		nb = time.Now().Add(-time.Minute)
	}
	na := req.NotAfter
	if na.IsZero() {
		v := req.Validity
		if v <= 0 {
			v = 365 * 24 * time.Hour
		}
		na = nb.Add(v)
	}
	tmpl := &smx509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName},
		NotBefore:             nb,
		NotAfter:              na,
		DNSNames:              req.DNSNames,
		BasicConstraintsValid: true,
		IsCA:                  req.IsCA,
		KeyUsage:              smx509.KeyUsageDigitalSignature,
	}
	if req.Organization != "" {
		tmpl.Subject.Organization = []string{req.Organization}
	}
	if req.IsCA {
		tmpl.KeyUsage |= smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign
	}
	parent := tmpl
	if issuer != nil {
		parent = issuer.sm
	}
	// smx509 picks SM2-with-SM3 for an SM2 issuer key and signs the TBS
	// bytes as a message (Z computed with the default ID).
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, parent, subject.ec, issuerKey.sm)
	if err != nil {
		return nil, fmt.Errorf("signing: create certificate: %w", err)
	}
	return der, nil
}

// ParseCertificate reads a DER certificate whose subject key is SM2.
func ParseCertificate(der []byte) (*Certificate, error) {
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("signing: parse certificate: %w", err)
	}
	ec, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, ErrNotSM2
	}
	pub, err := newPublicKey(ec)
	if err != nil {
		return nil, err
	}
	return &Certificate{
		Raw: c.Raw, PublicKey: pub,
		Subject: c.Subject, Issuer: c.Issuer,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		IsCA: c.IsCA, SerialNumber: c.SerialNumber,
		sm: c,
	}, nil
}

// ParseCertificatePEM reads the first CERTIFICATE block in data.
func ParseCertificatePEM(data []byte) (*Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, ErrNoPEM
		}
		if b.Type == pemCertificate {
			return ParseCertificate(b.Bytes)
		}
	}
}

// MarshalCertificatePEM encodes a DER certificate as PEM.
func MarshalCertificatePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

// CheckSignatureFrom reports whether parent signed c (SM2 with SM3, default
// ID) and may sign certificates. It does not check validity periods.
func (c *Certificate) CheckSignatureFrom(parent *Certificate) error {
	if err := c.sm.CheckSignatureFrom(parent.sm); err != nil {
		return fmt.Errorf("signing: certificate signature: %w", err)
	}
	return nil
}

// ParseCertificatesPEM reads every CERTIFICATE block in data, in order
// (a CA bundle, or a leaf followed by its intermediates). Blocks of other
// types are skipped; no certificate at all is ErrNoPEM.
func ParseCertificatesPEM(data []byte) ([]*Certificate, error) {
	var out []*Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != pemCertificate {
			continue
		}
		c, err := ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrNoPEM
	}
	return out, nil
}

// ValidAt reports whether at lies inside c's validity period; the error
// says which bound it misses and when.
func (c *Certificate) ValidAt(at time.Time) error {
	switch {
	case at.Before(c.NotBefore):
		return fmt.Errorf("signing: certificate %q is not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
	case at.After(c.NotAfter):
		return fmt.Errorf("signing: certificate %q expired at %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// VerifyChain checks that c chains to one of roots through intermediates
// (SM2 with SM3 signatures, CA basic constraints), every certificate of
// the chain valid at at. Extended key usages are not restricted: these are
// signing keys, not TLS certificates. No roots is an error.
func (c *Certificate) VerifyChain(intermediates, roots []*Certificate, at time.Time) error {
	if len(roots) == 0 {
		return errors.New("signing: verify chain: no CA certificates")
	}
	rp, ip := smx509.NewCertPool(), smx509.NewCertPool()
	for _, r := range roots {
		rp.AddCert(r.sm)
	}
	for _, i := range intermediates {
		ip.AddCert(i.sm)
	}
	if _, err := c.sm.Verify(smx509.VerifyOptions{
		Roots: rp, Intermediates: ip, CurrentTime: at, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny},
	}); err != nil {
		return fmt.Errorf("signing: certificate %q does not chain to a configured CA: %w", c.Subject.CommonName, err)
	}
	return nil
}
