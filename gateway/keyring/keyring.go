// Package keyring implements the gateway's Crypto port with package signing:
// it holds the gateway's own signing key and the public keys registered for
// callers and partners, signs bodies, verifies body signatures and caller
// tokens, and mints the tokens the gateway presents to partners.
//
// One *Keyring serves both the core (gateway.Crypto) and the adapters
// (adapters.Crypto and the optional adapters.TokenIssuer), so a key
// registered or removed once is seen by every path.
//
// Verified caller tokens are cached until they expire, because callers reuse
// a token for many requests and an SM2 verification costs far more than a
// map lookup. The cache never outlives a token's exp and never outlives a
// removed key.
package keyring

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/signing"
)

// Errors of verification, independent of the core; test for them with
// errors.Is.
var (
	// ErrUnknownKey means the key id is not registered, or is registered for
	// a different caller.
	// It wraps gateway.ErrUnknownKey.
	ErrUnknownKey = fmt.Errorf("keyring: %w", gateway.ErrUnknownKey)
	// ErrBadSignature means a body signature is malformed or does not verify
	// with the caller's key.
	// It wraps gateway.ErrBadSignature.
	ErrBadSignature = fmt.Errorf("keyring: %w", gateway.ErrBadSignature)
	// ErrKeyConflict means AddKey was asked to register a key id that is
	// already registered for another caller, or with another key.
	ErrKeyConflict = errors.New("keyring: key id already registered")
)

// Defaults of Options.
const (
	// DefaultMaxTokenLifetime bounds exp − iat of caller tokens when
	// Options.MaxTokenLifetime is zero.
	DefaultMaxTokenLifetime = 10 * time.Minute
	// DefaultTokenCacheSize is the number of verified tokens kept when
	// Options.TokenCacheSize is zero.
	DefaultTokenCacheSize = 10000
	// IssuedTokenTTL is the lifetime of the tokens IssueToken mints.
	IssuedTokenTTL = 5 * time.Minute
)

// Options configure a Keyring.
type Options struct {
	// GatewayID is the gateway's id: the aud caller tokens must name, and
	// the iss of the tokens the gateway mints. Required.
	GatewayID string
	// Signer is the gateway's signing key. Required.
	Signer signing.Signer
	// SignerKeyID is the id of Signer's key as partners registered it (sent
	// as Gw-Key-Id and as the kid of minted tokens). Required.
	SignerKeyID string
	// Engine hashes, signs and verifies bodies; nil means signing.Default.
	Engine *signing.Engine
	// MaxTokenLifetime bounds exp − iat of caller tokens; zero means
	// DefaultMaxTokenLifetime.
	MaxTokenLifetime time.Duration
	// Leeway tolerates clock skew on exp, iat and nbf of caller tokens.
	Leeway time.Duration
	// Clock is the source of time; nil means time.Now.
	Clock func() time.Time
	// TokenCacheSize bounds the number of verified tokens cached; zero means
	// DefaultTokenCacheSize, negative disables the cache.
	TokenCacheSize int
	// Previous are the gateway's earlier signing keys by key id: what it
	// signed with them (evidence checkpoints, receipts) stays verifiable
	// (VerifyGateway, PublicKeyPEM).
	Previous map[string]*signing.PublicKey
}

// registered is one caller key and what the listing shows of it.
type registered struct {
	caller string
	pub    *signing.PublicKey
	cert   *signing.Certificate // the certificate it came from; nil for a bare key
	source contracts.KeySource
	added  time.Time
	fp     string // SM3 hex of the SPKI DER
}

// Keyring is the gateway's key material and the registered caller keys.
// It is safe for concurrent use; keys may be added and removed while
// requests are verified.
type Keyring struct {
	gatewayID   string
	signer      signing.Signer
	signerKeyID string
	previous    map[string]*signing.PublicKey
	engine      *signing.Engine
	clock       func() time.Time
	policy      signing.TokenPolicy

	mu   sync.RWMutex
	keys map[string]registered // by key id; a key id has exactly one caller

	cache *tokenCache // nil when disabled

	issuedMu sync.Mutex
	issued   map[string]issuedToken // by audience
}

// issuedToken is a token IssueToken minted, reused while fresh.
type issuedToken struct {
	token   string
	renewAt time.Time
}

// New returns a Keyring with no caller keys registered, or an error naming
// the first missing or invalid option.
func New(opts Options) (*Keyring, error) {
	switch {
	case opts.GatewayID == "":
		return nil, errors.New("keyring: gateway id is required")
	case opts.Signer == nil:
		return nil, errors.New("keyring: signer is required")
	case opts.Signer.Public() == nil:
		return nil, errors.New("keyring: signer has no public key")
	case opts.SignerKeyID == "":
		return nil, errors.New("keyring: signer key id is required")
	case opts.Previous[opts.SignerKeyID] != nil:
		return nil, fmt.Errorf("keyring: previous key %q has the signer's key id", opts.SignerKeyID)
	case opts.MaxTokenLifetime < 0:
		return nil, fmt.Errorf("keyring: max token lifetime %s is negative", opts.MaxTokenLifetime)
	case opts.Leeway < 0:
		return nil, fmt.Errorf("keyring: leeway %s is negative", opts.Leeway)
	}
	if opts.Engine == nil {
		opts.Engine = signing.Default
	}
	if opts.MaxTokenLifetime == 0 {
		opts.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	k := &Keyring{
		gatewayID:   opts.GatewayID,
		signer:      opts.Signer,
		signerKeyID: opts.SignerKeyID,
		previous:    opts.Previous,
		engine:      opts.Engine,
		clock:       opts.Clock,
		policy: signing.TokenPolicy{
			Audience:    opts.GatewayID,
			MaxLifetime: opts.MaxTokenLifetime,
			Leeway:      opts.Leeway,
			Now:         opts.Clock,
		},
		keys: map[string]registered{},
	}
	switch size := opts.TokenCacheSize; {
	case size == 0:
		k.cache = newTokenCache(DefaultTokenCacheSize)
	case size > 0:
		k.cache = newTokenCache(size)
	}
	return k, nil
}

// LoadPublicKeyFile reads an SM2 public key from a PEM file holding an SPKI
// public key or an X.509 certificate (the certificate's validity is not
// checked).
func LoadPublicKeyFile(path string) (*signing.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	pub, err := signing.ParsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("keyring: load public key %s: %w", path, err)
	}
	return pub, nil
}

// LoadKeyFile reads a caller's SM2 public key from a PEM file, like
// LoadPublicKeyFile, and checks a key given as a certificate as
// ParseKeyPEM does. The certificate is returned (nil for a bare key) so
// that its expiry can be watched.
func LoadKeyFile(path string, cas []*signing.Certificate, now time.Time) (*signing.PublicKey, *signing.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: %w", err)
	}
	pub, cert, err := ParseKeyPEM(data, cas, now)
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: %s: %w", path, err)
	}
	return pub, cert, nil
}

// ParseKeyPEM reads a caller's SM2 public key from PEM: a public key
// (SPKI), or a certificate whose first CERTIFICATE block is the caller's,
// valid at now and, when cas is not empty, chaining to one of them
// through the further certificates as intermediates. A bare public key
// has no period nor issuer to check and is returned as it is. The
// certificate is returned (nil for a bare key).
func ParseKeyPEM(data []byte, cas []*signing.Certificate, now time.Time) (*signing.PublicKey, *signing.Certificate, error) {
	certs, err := signing.ParseCertificatesPEM(data)
	if errors.Is(err, signing.ErrNoPEM) {
		pub, err := signing.ParsePublicKeyPEM(data)
		if err != nil {
			return nil, nil, fmt.Errorf("load public key: %w", err)
		}
		return pub, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load certificate: %w", err)
	}
	leaf := certs[0]
	if err := leaf.ValidAt(now); err != nil {
		return nil, nil, err
	}
	if len(cas) > 0 {
		if err := leaf.VerifyChain(certs[1:], cas, now); err != nil {
			return nil, nil, err
		}
	}
	return leaf.PublicKey, leaf, nil
}

// LoadCAFile reads a PEM bundle of SM2 CA certificates, each valid at
// now.
func LoadCAFile(path string, now time.Time) ([]*signing.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	cas, err := signing.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("keyring: %s: %w", path, err)
	}
	for _, ca := range cas {
		if err := ca.ValidAt(now); err != nil {
			return nil, fmt.Errorf("keyring: %s: %w", path, err)
		}
	}
	return cas, nil
}

// AddKey registers pub under keyID for caller. A key id belongs to exactly
// one caller and one key: registering it again for another caller, or with
// another key, fails with ErrKeyConflict and changes nothing; registering
// the same caller, id and key again succeeds and changes nothing. To replace
// a key, remove it first (or register the new one under a new id). The key
// is listed as a bare public key from the configuration (see Register).
func (k *Keyring) AddKey(caller, keyID string, pub *signing.PublicKey) error {
	return k.register(Key{Caller: caller, KeyID: keyID, Public: pub}, false)
}

// RemoveKey unregisters keyID of caller. When it returns, no body or token
// signed with that key verifies any more, cached tokens included. It fails
// with ErrUnknownKey if keyID is not registered for caller.
func (k *Keyring) RemoveKey(caller, keyID string) error {
	k.mu.Lock()
	r, ok := k.keys[keyID]
	if ok && r.caller == caller {
		delete(k.keys, keyID)
	}
	k.mu.Unlock()
	if !ok || r.caller != caller {
		return unknownKey(caller, keyID)
	}
	if k.cache != nil {
		// After the key is gone from k.keys: a verification that looked it
		// up before is refused by the generation check in put.
		k.cache.forget(keyID)
	}
	return nil
}

// lookup returns the key registered under keyID for caller, or an error
// wrapping ErrUnknownKey.
func (k *Keyring) lookup(caller, keyID string) (*signing.PublicKey, error) {
	k.mu.RLock()
	r, ok := k.keys[keyID]
	k.mu.RUnlock()
	if !ok || r.caller != caller {
		return nil, unknownKey(caller, keyID)
	}
	return r.pub, nil
}

// unknownKey says the same whether keyID is unregistered or someone else's.
func unknownKey(caller, keyID string) error {
	return fmt.Errorf("%w: key id %q is not registered for caller %q", ErrUnknownKey, keyID, caller)
}

// SM3Hex returns the lowercase hex SM3 digest of body.
func (k *Keyring) SM3Hex(body []byte) string { return hex.EncodeToString(k.engine.SM3(body)) }

// Sign returns the gateway's DER SM2 signature of body (GM/T 0009, default
// ID), verifiable with the gateway's public key.
func (k *Keyring) Sign(body []byte) ([]byte, error) {
	sig, err := signing.Sign(k.signer, k.engine, body)
	if err != nil {
		return nil, fmt.Errorf("keyring: sign: %w", err)
	}
	return sig, nil
}

// KeyID returns the id of the gateway's signing key.
func (k *Keyring) KeyID() string { return k.signerKeyID }

// VerifyBody checks that sig is a DER SM2 signature of body by the key
// registered under keyID for caller. It returns nil, an error wrapping
// ErrUnknownKey (keyID unregistered or another caller's), or one wrapping
// ErrBadSignature together with signing.ErrMalformedSignature or
// signing.ErrVerification.
func (k *Keyring) VerifyBody(caller, keyID string, body, sig []byte) error {
	pub, err := k.lookup(caller, keyID)
	if err != nil {
		return err
	}
	if err := k.engine.Verify(pub, body, sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// PublicKeyPEM returns the PEM (SPKI) public key of keyID and its owner:
// the gateway's own signing key (owner the gateway id) or a registered
// caller key. An unknown id is an error wrapping ErrUnknownKey.
func (k *Keyring) PublicKeyPEM(keyID string) (string, []byte, error) {
	owner, pub := k.gatewayID, k.gatewayKey(keyID)
	if pub == nil {
		k.mu.RLock()
		r, ok := k.keys[keyID]
		k.mu.RUnlock()
		if !ok {
			return "", nil, fmt.Errorf("%w: key id %q is not registered", ErrUnknownKey, keyID)
		}
		owner, pub = r.caller, r.pub
	}
	pem, err := signing.MarshalPublicKeyPEM(pub)
	if err != nil {
		return "", nil, fmt.Errorf("keyring: key %q: %w", keyID, err)
	}
	return owner, pem, nil
}

// gatewayKey returns the gateway's key keyID (current or previous), or
// nil.
func (k *Keyring) gatewayKey(keyID string) *signing.PublicKey {
	if keyID == k.signerKeyID {
		return k.signer.Public()
	}
	return k.previous[keyID]
}

// IsGatewayKey reports whether keyID is the gateway's signing key or one
// of its previous keys.
func (k *Keyring) IsGatewayKey(keyID string) bool { return k.gatewayKey(keyID) != nil }

// VerifyGateway checks that sig is a DER SM2 signature of body by the
// gateway's key keyID, current or previous (its checkpoints, receipts and
// manifests). Another keyID wraps ErrUnknownKey.
func (k *Keyring) VerifyGateway(keyID string, body, sig []byte) error {
	pub := k.gatewayKey(keyID)
	if pub == nil {
		return fmt.Errorf("%w: key id %q is not one of the gateway's keys", ErrUnknownKey, keyID)
	}
	if err := k.engine.Verify(pub, body, sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// VerifyToken checks a caller token: alg SM2, a kid registered for the
// token's iss, a valid signature, aud naming the gateway, not expired (with
// the configured leeway), lifetime within the maximum, iat and jti present.
// It returns what the token says (Expires in UTC), or an error wrapping
// ErrUnknownKey (kid unregistered or another caller's; signing.ErrTokenInvalid
// is wrapped too), signing.ErrTokenExpired, or signing.ErrTokenInvalid; each
// also wraps the matching gateway sentinel (ErrUnknownKey, ErrTokenExpired,
// ErrTokenInvalid) so the HTTP layer can map it without importing signing.
//
// A token that verified is remembered until its exp and answered from
// memory; an expired token or one whose key was removed is never accepted
// from memory.
func (k *Keyring) VerifyToken(token string) (gateway.TokenInfo, error) {
	var (
		id  [sha256.Size]byte
		gen uint64
	)
	if k.cache != nil {
		id = tokenID(token)
		var (
			info gateway.TokenInfo
			hit  bool
		)
		info, hit, gen = k.cache.get(id, k.clock())
		if hit {
			return info, nil
		}
	}
	var lookupErr error
	vt, err := signing.ParseToken(token, func(kid, iss string) (*signing.PublicKey, error) {
		pub, err := k.lookup(iss, kid)
		lookupErr = err
		return pub, err
	}, k.policy)
	if err != nil {
		if lookupErr != nil {
			return gateway.TokenInfo{}, fmt.Errorf("keyring: verify token: %w: %w (%w)", signing.ErrTokenInvalid, lookupErr, gateway.ErrTokenInvalid)
		}
		core := gateway.ErrTokenInvalid
		if errors.Is(err, signing.ErrTokenExpired) {
			core = gateway.ErrTokenExpired
		}
		return gateway.TokenInfo{}, fmt.Errorf("keyring: verify token: %w (%w)", err, core)
	}
	info := gateway.TokenInfo{
		KeyID:   vt.KeyID,
		Issuer:  vt.Claims.Issuer,
		Subject: vt.Claims.Subject,
		ID:      vt.Claims.ID,
		Expires: vt.Claims.ExpiresAt.Time.UTC(),
	}
	if k.cache != nil {
		k.cache.put(id, info, gen, k.clock())
	}
	return info, nil
}

// tokenID returns the SHA-256 of token, the key of the token cache.
func tokenID(token string) [sha256.Size]byte {
	var buf [2048]byte // tokens fit; hashing a copy on the stack does not allocate
	if len(token) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], token)])
	}
	return sha256.Sum256([]byte(token))
}

// IssueToken mints a token for calling the partner audience: alg SM2 signed
// with the gateway's key, kid the gateway's key id, iss the gateway id, a
// lifetime of IssuedTokenTTL from now, and a fresh UUIDv7 as jti.
//
// Like any caller, the gateway reuses its token: one minted for an audience
// is returned again until half its lifetime has passed (tokens are reusable
// until they expire; requests stay idempotent through exchange_id).
func (k *Keyring) IssueToken(audience string) (string, error) {
	now := k.clock()
	k.issuedMu.Lock()
	defer k.issuedMu.Unlock()
	if it, ok := k.issued[audience]; ok && now.Before(it.renewAt) {
		return it.token, nil
	}
	jti, err := contracts.NewUUIDv7(now, rand.Reader)
	if err != nil {
		return "", fmt.Errorf("keyring: issue token: %w", err)
	}
	tok, err := signing.IssueToken(k.signer, signing.TokenRequest{
		KeyID:    k.signerKeyID,
		Issuer:   k.gatewayID,
		Audience: audience,
		TTL:      IssuedTokenTTL,
		ID:       jti,
		Now:      now,
	})
	if err != nil {
		return "", fmt.Errorf("keyring: issue token: %w", err)
	}
	if k.issued == nil {
		k.issued = map[string]issuedToken{}
	}
	k.issued[audience] = issuedToken{token: tok, renewAt: now.Add(IssuedTokenTTL / 2)}
	return tok, nil
}

var (
	_ gateway.Crypto       = (*Keyring)(nil)
	_ gateway.KeyDirectory = (*Keyring)(nil)
)
