package signing

import (
	"hash"
	"io"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
)

// emmansunEngine uses github.com/emmansun/gmsm: constant-time field
// arithmetic with assembly, and hedged nonces (derived from
// HMAC-SM3(d ‖ digest ‖ random), so a weak random source does not leak
// the key).
type emmansunEngine struct{}

func (emmansunEngine) newSM3() hash.Hash { return sm3.New() }

// signDigest signs a finished digest. SignASN1 with nil options signs the
// digest as given, which is what we want here: the Z value is already in it.
// (Code that hands emmansun the message itself must pass
// sm2.DefaultSM2SignerOpts instead, or the signature leaves Z out and no
// GM/T 0009 verifier accepts it.)
func (emmansunEngine) signDigest(random io.Reader, key *PrivateKey, digest []byte) ([]byte, error) {
	return sm2.SignASN1(random, key.sm, digest, nil)
}

func (emmansunEngine) verifyDigest(key *PublicKey, digest, der []byte) bool {
	return sm2.VerifyASN1(key.ec, digest, der)
}

var _ primitives = emmansunEngine{}
