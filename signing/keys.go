package signing

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs8"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// DefaultID is the user id of GM/T 0009 that every Tongban signature uses in
// its Z value. OpenSSL 3 must be told it with -pkeyopt distid:1234567812345678.
const DefaultID = "1234567812345678"

// PEM block types the package reads and writes.
const (
	pemPrivateKey          = "PRIVATE KEY"
	pemEncryptedPrivateKey = "ENCRYPTED PRIVATE KEY"
	pemECPrivateKey        = "EC PRIVATE KEY"
	pemPublicKey           = "PUBLIC KEY"
	pemCertificate         = "CERTIFICATE"
)

// Errors callers may test for with errors.Is.
var (
	// ErrNoPEM means the input holds no PEM block of a type the function reads.
	ErrNoPEM = errors.New("signing: no PEM block of a supported type")
	// ErrNotSM2 means the key or certificate is well formed but not on the SM2 curve.
	ErrNotSM2 = errors.New("signing: not an SM2 key")
	// ErrPasswordRequired means the private key is encrypted and no password was given.
	ErrPasswordRequired = errors.New("signing: private key is encrypted; a password is required")
)

// PublicKey is an SM2 public key. Its Z value for DefaultID is computed once,
// when the key is made, so signing and verifying do not recompute it.
type PublicKey struct {
	ec *ecdsa.PublicKey
	z  [32]byte
}

// PrivateKey is an SM2 private key together with its public key.
type PrivateKey struct {
	sm  *sm2.PrivateKey
	pub *PublicKey
}

func newPublicKey(ec *ecdsa.PublicKey) (*PublicKey, error) {
	if !sm2.IsSM2PublicKey(ec) {
		return nil, ErrNotSM2
	}
	if ec.X == nil || ec.Y == nil || !ec.Curve.IsOnCurve(ec.X, ec.Y) {
		return nil, errors.New("signing: public key is not a point on the SM2 curve")
	}
	z, err := sm2.CalculateZA(ec, []byte(DefaultID))
	if err != nil {
		return nil, fmt.Errorf("signing: z value: %w", err)
	}
	k := &PublicKey{ec: ec}
	copy(k.z[:], z)
	return k, nil
}

func newPrivateKey(sk *sm2.PrivateKey) (*PrivateKey, error) {
	if sk == nil || sk.D == nil || sk.D.Sign() <= 0 {
		return nil, errors.New("signing: private key scalar is missing")
	}
	pub, err := newPublicKey(&sk.PublicKey)
	if err != nil {
		return nil, err
	}
	return &PrivateKey{sm: sk, pub: pub}, nil
}

// GenerateKey returns a new SM2 key drawn from rand (crypto/rand when nil).
func GenerateKey(random io.Reader) (*PrivateKey, error) {
	if random == nil {
		random = rand.Reader
	}
	sk, err := sm2.GenerateKey(random)
	if err != nil {
		return nil, fmt.Errorf("signing: generate key: %w", err)
	}
	return newPrivateKey(sk)
}

// NewPrivateKey returns the key whose secret scalar is d (32 bytes, big endian).
// It exists for test vectors and hardware import; keys normally come from
// GenerateKey or ParsePrivateKeyPEM.
func NewPrivateKey(d []byte) (*PrivateKey, error) {
	c := sm2.P256()
	n := c.Params().N
	k := new(big.Int).SetBytes(d)
	// GB/T 32918.1 requires 1 <= d <= n-2.
	if len(d) != 32 || k.Sign() <= 0 || k.Cmp(new(big.Int).Sub(n, big.NewInt(1))) >= 0 {
		return nil, errors.New("signing: private scalar out of range")
	}
	sk, err := sm2.NewPrivateKey(d)
	if err != nil {
		return nil, fmt.Errorf("signing: private key: %w", err)
	}
	return newPrivateKey(sk)
}

// NewPublicKey returns the public key encoded as an uncompressed point
// (0x04 ‖ x ‖ y, 65 bytes).
func NewPublicKey(uncompressed []byte) (*PublicKey, error) {
	if len(uncompressed) != 65 || uncompressed[0] != 4 {
		return nil, errors.New("signing: public key is not a 65-byte uncompressed point")
	}
	c := sm2.P256()
	ec := &ecdsa.PublicKey{Curve: c, X: new(big.Int).SetBytes(uncompressed[1:33]), Y: new(big.Int).SetBytes(uncompressed[33:])}
	return newPublicKey(ec)
}

// Public returns the key's public half.
func (k *PrivateKey) Public() *PublicKey { return k.pub }

// d returns the secret scalar; only engines use it.
func (k *PrivateKey) d() *big.Int { return k.sm.D }

// Bytes returns the uncompressed point 0x04 ‖ x ‖ y (65 bytes).
func (k *PublicKey) Bytes() []byte {
	b := make([]byte, 65)
	b[0] = 4
	k.ec.X.FillBytes(b[1:33])
	k.ec.Y.FillBytes(b[33:])
	return b
}

// Z returns the GM/T 0009 Z value of the key for DefaultID.
func (k *PublicKey) Z() []byte { return append([]byte(nil), k.z[:]...) }

// Equal reports whether k and o are the same point.
func (k *PublicKey) Equal(o *PublicKey) bool {
	if k == nil || o == nil {
		return k == o
	}
	return subtle.ConstantTimeCompare(k.Bytes(), o.Bytes()) == 1
}

// pkcs8Opts encrypt private keys as OpenSSL 3 does by default (PBES2 with
// PBKDF2-HMAC-SHA256 and AES-256-CBC), with a larger iteration count.
// (pkcs8.Opts is an alias of pkcs.PBES2Opts, whose OID fields are
// unexported; the constructors name PBES2 and PBKDF2 explicitly.)
var pkcs8Opts = pkcs.NewPBESEncrypter(pkcs.AES256CBC, pkcs.NewPBKDF2Opts(pkcs.SHA256, 16, 100_000))

// MarshalPrivateKeyPEM encodes k as PKCS#8 PEM ("PRIVATE KEY"), or, when
// password is not empty, as encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY",
// PBES2/PBKDF2-SHA256/AES-256-CBC). Both forms load in `openssl pkey`.
func MarshalPrivateKeyPEM(k *PrivateKey, password []byte) ([]byte, error) {
	der, err := pkcs8.MarshalPrivateKey(k.sm, password, pkcs8Opts)
	if err != nil {
		return nil, fmt.Errorf("signing: marshal private key: %w", err)
	}
	typ := pemPrivateKey
	if len(password) > 0 {
		typ = pemEncryptedPrivateKey
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), nil
}

// ParsePrivateKeyPEM reads the first private key block in data: PKCS#8
// ("PRIVATE KEY", as `openssl genpkey -algorithm SM2` writes it), encrypted
// PKCS#8 ("ENCRYPTED PRIVATE KEY", which needs password) or SEC 1
// ("EC PRIVATE KEY", as `openssl ecparam -genkey -name SM2` writes it).
// Other blocks, such as EC PARAMETERS, are skipped. A key on another curve
// fails with ErrNotSM2.
func ParsePrivateKeyPEM(data, password []byte) (*PrivateKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, ErrNoPEM
		}
		var (
			key any
			err error
		)
		switch b.Type {
		case pemPrivateKey:
			key, err = smx509.ParsePKCS8PrivateKey(b.Bytes)
		case pemEncryptedPrivateKey:
			if len(password) == 0 {
				return nil, ErrPasswordRequired
			}
			key, _, err = pkcs8.ParsePrivateKey(b.Bytes, password)
		case pemECPrivateKey:
			key, err = smx509.ParseSM2PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("signing: parse %s: %w", b.Type, err)
		}
		switch sk := key.(type) {
		case *sm2.PrivateKey:
			return newPrivateKey(sk)
		case *ecdsa.PrivateKey:
			if !sm2.IsSM2PublicKey(&sk.PublicKey) {
				return nil, ErrNotSM2
			}
			s, err := new(sm2.PrivateKey).FromECPrivateKey(sk)
			if err != nil {
				return nil, fmt.Errorf("signing: %w", err)
			}
			return newPrivateKey(s)
		default:
			return nil, ErrNotSM2
		}
	}
}

// MarshalPublicKeyPEM encodes k as SPKI PEM ("PUBLIC KEY"), which
// `openssl pkey -pubin` reads.
func MarshalPublicKeyPEM(k *PublicKey) ([]byte, error) {
	der, err := smx509.MarshalPKIXPublicKey(k.ec)
	if err != nil {
		return nil, fmt.Errorf("signing: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), nil
}

// ParsePublicKeyPEM reads the first SPKI public key ("PUBLIC KEY") or X.509
// certificate ("CERTIFICATE") in data and returns its SM2 public key. For a
// certificate it does not check validity or the chain; use ParseCertificatePEM
// and Certificate.CheckSignatureFrom for that.
func ParsePublicKeyPEM(data []byte) (*PublicKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, ErrNoPEM
		}
		switch b.Type {
		case pemPublicKey:
			return ParsePublicKeyDER(b.Bytes)
		case pemCertificate:
			c, err := ParseCertificate(b.Bytes)
			if err != nil {
				return nil, err
			}
			return c.PublicKey, nil
		}
	}
}

// ParsePublicKeyDER reads an SPKI public key in DER.
func ParsePublicKeyDER(der []byte) (*PublicKey, error) {
	key, err := smx509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing: parse public key: %w", err)
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return nil, ErrNotSM2
	}
	return newPublicKey(ec)
}
