package devrig

import (
	"sync/atomic"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/signing"
)

// simOps counts the SM2 operations of the simulated districts, so that a
// bench can tell them from the gateway's (all share one engine).
type simOps struct{ signs, verifies atomic.Uint64 }

func (o *simOps) read() signing.Ops {
	return signing.Ops{Signs: o.signs.Load(), Verifies: o.verifies.Load()}
}

// count returns c with its signatures and verifications counted in o. The
// result is also a TokenIssuer when c is one.
func (o *simOps) count(c adapters.Crypto) adapters.Crypto {
	cc := countedCrypto{Crypto: c, ops: o}
	if ti, ok := c.(adapters.TokenIssuer); ok {
		return countedIssuer{cc, ti}
	}
	return cc
}

type countedCrypto struct {
	adapters.Crypto
	ops *simOps
}

func (c countedCrypto) Sign(body []byte) ([]byte, error) {
	c.ops.signs.Add(1)
	return c.Crypto.Sign(body)
}

func (c countedCrypto) VerifyBody(caller, keyID string, body, sig []byte) error {
	c.ops.verifies.Add(1)
	return c.Crypto.VerifyBody(caller, keyID, body, sig)
}

type countedIssuer struct {
	countedCrypto
	ti adapters.TokenIssuer
}

func (c countedIssuer) IssueToken(audience string) (string, error) {
	// A cached token costs nothing; the keyring's renewals are rare and
	// counted by the engine, not here.
	return c.ti.IssueToken(audience)
}
