package signing

import (
	"fmt"
	"io"
)

// Signer is a signing key the gateway can use without seeing its secret:
// a software key today, a hardware security module later. It signs a
// finished digest e = SM3(Z ‖ M) computed for its public key and returns the
// DER SEQUENCE{r, s}.
type Signer interface {
	Public() *PublicKey
	SignDigest(digest []byte) ([]byte, error)
}

// KeySigner is a Signer backed by a private key in memory.
type KeySigner struct {
	key    *PrivateKey
	engine *Engine
}

// NewSigner returns a Signer for key using engine (Default when nil).
func NewSigner(key *PrivateKey, engine *Engine) *KeySigner {
	if engine == nil {
		engine = Default
	}
	return &KeySigner{key: key, engine: engine}
}

// Public returns the signer's public key.
func (s *KeySigner) Public() *PublicKey { return s.key.pub }

// SignDigest signs a finished digest.
func (s *KeySigner) SignDigest(digest []byte) ([]byte, error) {
	if len(digest) != 32 {
		return nil, fmt.Errorf("signing: digest is %d bytes, want 32", len(digest))
	}
	return s.engine.signDigest(s.key, digest)
}

// Sign signs msg with any Signer, hashing with e (Default when nil).
func Sign(s Signer, e *Engine, msg []byte) ([]byte, error) {
	if e == nil {
		e = Default
	}
	return s.SignDigest(e.DigestBytes(s.Public(), msg))
}

// SignReader signs the message read from r with any Signer, hashing it as a
// stream with e (Default when nil).
func SignReader(s Signer, e *Engine, r io.Reader) ([]byte, error) {
	if e == nil {
		e = Default
	}
	d, err := e.Digest(s.Public(), r)
	if err != nil {
		return nil, err
	}
	return s.SignDigest(d)
}

// Verify checks a DER signature of msg under pub with the Default engine.
func Verify(pub *PublicKey, msg, sig []byte) error { return Default.Verify(pub, msg, sig) }

var _ Signer = (*KeySigner)(nil)
