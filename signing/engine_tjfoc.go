package signing

import (
	"errors"
	"hash"
	"io"
	"math/big"

	tjsm2 "github.com/tjfoc/gmsm/sm2"
	tjsm3 "github.com/tjfoc/gmsm/sm3"
)

// tjfocEngine uses github.com/tjfoc/gmsm v1.4.1 (math/big, not constant time).
type tjfocEngine struct{}

var tjCurve = tjsm2.P256Sm2()

func (tjfocEngine) newSM3() hash.Hash { return tjsm3.New() }

var bigOne = big.NewInt(1)

// signDigest signs a finished digest e with the steps of GB/T 32918.2 §6.1
// (A3–A7) on tjfoc's curve. tjfoc only exports Sm2Sign, which hashes the
// whole message itself, so a streamed message could not be signed with it.
// The nonce is drawn as tjfoc draws it: 40 random bytes reduced into [1, n-1].
func (tjfocEngine) signDigest(random io.Reader, key *PrivateKey, digest []byte) ([]byte, error) {
	n := tjCurve.Params().N
	e := new(big.Int).SetBytes(digest)
	d := key.d()
	dPlus1Inv := new(big.Int).ModInverse(new(big.Int).Add(d, bigOne), n)
	if dPlus1Inv == nil {
		return nil, errors.New("signing: private key d+1 has no inverse")
	}
	nMinus1 := new(big.Int).Sub(n, bigOne)
	buf := make([]byte, 40)
	for range 64 { // each round fails with probability ~2^-255
		if _, err := io.ReadFull(random, buf); err != nil {
			return nil, err
		}
		k := new(big.Int).SetBytes(buf)
		k.Mod(k, nMinus1).Add(k, bigOne)
		x1, _ := tjCurve.ScalarBaseMult(k.Bytes())
		r := new(big.Int).Add(e, x1)
		r.Mod(r, n)
		if r.Sign() == 0 || new(big.Int).Add(r, k).Cmp(n) == 0 {
			continue
		}
		s := new(big.Int).Mul(r, d)
		s.Sub(k, s).Mul(s, dPlus1Inv).Mod(s, n)
		if s.Sign() == 0 {
			continue
		}
		return Signature{R: r, S: s}.DER(), nil
	}
	return nil, errors.New("signing: no usable nonce after 64 tries")
}

func (tjfocEngine) verifyDigest(key *PublicKey, digest, der []byte) bool {
	sig, err := ParseSignature(der)
	if err != nil {
		return false
	}
	pub := &tjsm2.PublicKey{Curve: tjCurve, X: key.ec.X, Y: key.ec.Y}
	return tjsm2.Verify(pub, digest, sig.R, sig.S)
}

var _ primitives = tjfocEngine{}
