// Package signingtest gives tests real SM2 parties. A Party signs with a
// freshly generated key of its own and verifies bodies with the public keys
// of the parties it trusts, under a caller id and key id each: the method
// set of adapters.Crypto, which the adapters, the partner simulators and
// the contract suite take.
package signingtest

import (
	"encoding/hex"
	"fmt"
	"sync"
	"testing"

	"github.com/tongban/tongban/signing"
)

// Party is one signer in a test: the gateway, a district, a rogue. It is
// safe for concurrent use.
type Party struct {
	// Key is the party's private key.
	Key *signing.PrivateKey
	id  string

	mu    sync.RWMutex
	table map[string]map[string]*signing.PublicKey // caller → key id → key
}

// New returns a party with a new key, known as keyID.
func New(t testing.TB, keyID string) *Party {
	t.Helper()
	k, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Party{Key: k, id: keyID, table: map[string]map[string]*signing.PublicKey{}}
}

// Sign returns the party's DER SM2 signature of body (default id, SM3 with
// Z).
func (p *Party) Sign(body []byte) ([]byte, error) { return signing.Default.Sign(p.Key, body) }

// KeyID returns the party's key id.
func (p *Party) KeyID() string { return p.id }

// SM3Hex returns the lowercase hex SM3 of body.
func (p *Party) SM3Hex(body []byte) string { return hex.EncodeToString(signing.Default.SM3(body)) }

// VerifyBody checks sig over body with the key keyID that the party trusts
// for caller; an unknown caller or key id is an error.
func (p *Party) VerifyBody(caller, keyID string, body, sig []byte) error {
	p.mu.RLock()
	pub := p.table[caller][keyID]
	p.mu.RUnlock()
	if pub == nil {
		return fmt.Errorf("key %q is not registered for %q", keyID, caller)
	}
	return signing.Verify(pub, body, sig)
}

// Trust makes the party know other's key, under other's key id, as a key
// of caller.
func (p *Party) Trust(caller string, other *Party) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.table[caller] == nil {
		p.table[caller] = map[string]*signing.PublicKey{}
	}
	p.table[caller][other.id] = other.Key.Public()
}

// Pair returns a gateway party (key id gatewayKeyID) and a partner party
// (key id partnerID), each trusting the other: the gateway knows the
// partner's key as partnerID's, the partner knows the gateway's as
// gatewayCaller's.
func Pair(t testing.TB, gatewayKeyID, gatewayCaller, partnerID string) (gw, partner *Party) {
	t.Helper()
	gw, partner = New(t, gatewayKeyID), New(t, partnerID)
	gw.Trust(partnerID, partner)
	partner.Trust(gatewayCaller, gw)
	return gw, partner
}
