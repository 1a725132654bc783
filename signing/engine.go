package signing

import (
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"sort"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/cryptobyte"
	cryptobyte_asn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Errors returned by verification; test for them with errors.Is.
var (
	// ErrMalformedSignature means the signature is not a DER SEQUENCE{r, s}
	// (or, for JWTs, not 64 bytes r ‖ s) with 0 < r, s < n.
	ErrMalformedSignature = errors.New("signing: malformed signature")
	// ErrVerification means the signature is well formed but does not verify
	// over the message with the key.
	ErrVerification = errors.New("signing: signature does not verify")
)

// primitives is what one SM library provides: SM3, and SM2 signing and
// verification of a finished digest e = SM3(Z ‖ M).
type primitives interface {
	newSM3() hash.Hash
	signDigest(random io.Reader, key *PrivateKey, digest []byte) ([]byte, error)
	verifyDigest(key *PublicKey, digest, der []byte) bool
}

// Engine signs and verifies with one SM library. The zero value is not
// usable; use Default or EngineByName. An Engine is safe for concurrent use.
type Engine struct {
	name string
	impl primitives
	// Rand is the source of signing nonces; nil means crypto/rand.
	Rand io.Reader

	signs, verifies atomic.Uint64 // SM2 operations done, for Ops
}

// Ops counts the SM2 operations an engine has done in this process.
type Ops struct {
	// Signs counts signatures made (of bodies, digests and tokens).
	Signs uint64
	// Verifies counts signature checks of well-formed signatures, whether
	// they verified or not (a malformed one is refused before any curve
	// arithmetic and is not counted).
	Verifies uint64
}

// Sub returns o minus earlier, the operations done between the two reads.
func (o Ops) Sub(earlier Ops) Ops {
	return Ops{Signs: o.Signs - earlier.Signs, Verifies: o.Verifies - earlier.Verifies}
}

// Ops returns how many SM2 signatures and verifications e has done since
// the process started, by every caller that signs or verifies through it
// (a Signer that is not a KeySigner of e is not counted). Reading it costs
// two atomic loads; counting costs an atomic add per operation.
func (e *Engine) Ops() Ops { return Ops{Signs: e.signs.Load(), Verifies: e.verifies.Load()} }

// signDigest signs digest with key, counting the operation.
func (e *Engine) signDigest(key *PrivateKey, digest []byte) ([]byte, error) {
	e.signs.Add(1)
	return e.impl.signDigest(e.rand(), key, digest)
}

var engines = map[string]*Engine{}

func registerEngine(name string, p primitives) *Engine {
	if _, dup := engines[name]; dup {
		panic("signing: engine registered twice: " + name)
	}
	e := &Engine{name: name, impl: p}
	engines[name] = e
	return e
}

// The two engines. Default is the one the benchmarks show faster
// (see README, "Signing performance").
var (
	Emmansun = registerEngine("emmansun", emmansunEngine{})
	Tjfoc    = registerEngine("tjfoc", tjfocEngine{})
	Default  = Emmansun
)

// EngineNames lists the registered engines, sorted.
func EngineNames() []string {
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Engines returns every registered engine, sorted by name.
func Engines() []*Engine {
	var out []*Engine
	for _, n := range EngineNames() {
		out = append(out, engines[n])
	}
	return out
}

// EngineByName returns the engine registered under name, or an error that
// lists the known names.
func EngineByName(name string) (*Engine, error) {
	if e, ok := engines[name]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("signing: unknown engine %q (known: %s)", name, strings.Join(EngineNames(), ", "))
}

// Name returns the name the engine is registered under.
func (e *Engine) Name() string { return e.name }

func (e *Engine) rand() io.Reader {
	if e.Rand != nil {
		return e.Rand
	}
	return rand.Reader
}

// NewSM3 returns a new SM3 hash.
func (e *Engine) NewSM3() hash.Hash { return e.impl.newSM3() }

// SM3 returns the SM3 digest of msg.
func (e *Engine) SM3(msg []byte) []byte {
	h := e.impl.newSM3()
	h.Write(msg)
	return h.Sum(nil)
}

// digestBufSize is the read size of Digest: large enough that hashing is not
// dominated by reads, small enough to be cheap per call.
const digestBufSize = 64 << 10

// Digest returns e = SM3(Z ‖ M) for the message read from r, where Z is
// pub's Z value for DefaultID. It reads r to the end in fixed-size chunks,
// so the message is never held in memory.
func (e *Engine) Digest(pub *PublicKey, r io.Reader) ([]byte, error) {
	h := e.impl.newSM3()
	h.Write(pub.z[:])
	if _, err := io.CopyBuffer(h, onlyReader{r}, make([]byte, digestBufSize)); err != nil {
		return nil, fmt.Errorf("signing: read message: %w", err)
	}
	return h.Sum(nil), nil
}

// onlyReader hides WriterTo so that CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }

// DigestBytes returns SM3(Z ‖ msg).
func (e *Engine) DigestBytes(pub *PublicKey, msg []byte) []byte {
	h := e.impl.newSM3()
	h.Write(pub.z[:])
	h.Write(msg)
	return h.Sum(nil)
}

// Sign returns the DER SM2 signature of msg under key (GM/T 0009, default ID).
func (e *Engine) Sign(key *PrivateKey, msg []byte) ([]byte, error) {
	return e.signDigest(key, e.DigestBytes(key.pub, msg))
}

// SignReader signs the message read from r without holding it in memory.
func (e *Engine) SignReader(key *PrivateKey, r io.Reader) ([]byte, error) {
	d, err := e.Digest(key.pub, r)
	if err != nil {
		return nil, err
	}
	return e.signDigest(key, d)
}

// Verify checks a DER SM2 signature of msg under pub. It returns nil,
// ErrMalformedSignature or ErrVerification.
func (e *Engine) Verify(pub *PublicKey, msg, sig []byte) error {
	return e.verifyDigest(pub, e.DigestBytes(pub, msg), sig)
}

// VerifyReader checks a DER signature of the message read from r.
func (e *Engine) VerifyReader(pub *PublicKey, r io.Reader, sig []byte) error {
	if _, err := ParseSignature(sig); err != nil {
		return err // fail before reading a large body
	}
	d, err := e.Digest(pub, r)
	if err != nil {
		return err
	}
	return e.verifyDigest(pub, d, sig)
}

// VerifyDigest checks a DER signature of a finished digest SM3(Z ‖ M).
func (e *Engine) VerifyDigest(pub *PublicKey, digest, sig []byte) error {
	return e.verifyDigest(pub, digest, sig)
}

func (e *Engine) verifyDigest(pub *PublicKey, digest, sig []byte) error {
	if _, err := ParseSignature(sig); err != nil {
		return err
	}
	e.verifies.Add(1)
	if !e.impl.verifyDigest(pub, digest, sig) {
		return ErrVerification
	}
	return nil
}

// Signature is an SM2 signature (r, s).
type Signature struct{ R, S *big.Int }

// curveN is the order of the SM2 base point.
var curveN, _ = new(big.Int).SetString("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)

func (s Signature) valid() bool {
	return s.R != nil && s.S != nil && s.R.Sign() > 0 && s.S.Sign() > 0 &&
		s.R.Cmp(curveN) < 0 && s.S.Cmp(curveN) < 0
}

// ParseSignature reads a strict DER SEQUENCE{r, s} with 0 < r, s < n:
// minimal lengths and integers, nothing inside the SEQUENCE after s, and
// nothing after it (encoding/asn1 would ignore bytes left inside the
// SEQUENCE, so one signature could be written several ways).
func ParseSignature(der []byte) (Signature, error) {
	s := Signature{R: new(big.Int), S: new(big.Int)}
	input, inner := cryptobyte.String(der), cryptobyte.String(nil)
	if !input.ReadASN1(&inner, cryptobyte_asn1.SEQUENCE) || !input.Empty() ||
		!inner.ReadASN1Integer(s.R) || !inner.ReadASN1Integer(s.S) || !inner.Empty() || !s.valid() {
		return Signature{}, ErrMalformedSignature
	}
	return s, nil
}

// ParseRawSignature reads the 64-byte r ‖ s form used in JWTs.
func ParseRawSignature(raw []byte) (Signature, error) {
	if len(raw) != 64 {
		return Signature{}, ErrMalformedSignature
	}
	s := Signature{R: new(big.Int).SetBytes(raw[:32]), S: new(big.Int).SetBytes(raw[32:])}
	if !s.valid() {
		return Signature{}, ErrMalformedSignature
	}
	return s, nil
}

// DER returns the DER SEQUENCE{r, s} encoding.
func (s Signature) DER() []byte {
	b, err := asn1.Marshal(s)
	if err != nil {
		panic("signing: marshal signature: " + err.Error()) // only for nil r or s
	}
	return b
}

// Raw returns the 64-byte r ‖ s encoding.
func (s Signature) Raw() []byte {
	b := make([]byte, 64)
	s.R.FillBytes(b[:32])
	s.S.FillBytes(b[32:])
	return b
}

// EvidenceHash returns the hash of an evidence record's canonical form
// (contracts.EvidenceRecord.Canonical): its SM3, in lowercase hex, with
// the engine's SM3.
func (e *Engine) EvidenceHash(canonical []byte) string { return hex.EncodeToString(e.SM3(canonical)) }

// EvidenceHash is Default.EvidenceHash.
func EvidenceHash(canonical []byte) string { return Default.EvidenceHash(canonical) }
