package keyring

import (
	"cmp"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// ErrLastKey means Revoke was asked to remove a caller's last key.
var ErrLastKey = errors.New("keyring: the caller's last key")

// Key is a caller key to register, with what the listing shows of it.
type Key struct {
	Caller string
	KeyID  string
	Public *signing.PublicKey
	// Certificate is the caller's certificate the key was read from
	// (its NotAfter is listed); nil for a bare public key.
	Certificate *signing.Certificate
	// Source says where the key comes from; "" means the configuration.
	Source contracts.KeySource
}

// Register registers key as AddKey does, with its certificate and source,
// but refuses a key id that is registered at all (for whichever caller,
// with whichever key) with ErrKeyConflict, and a key id of the gateway's
// own keys: a new key needs a new id.
func (k *Keyring) Register(key Key) error { return k.register(key, true) }

// register adds key; strict refuses a key id registered already even for
// the same caller and key (AddKey's repeat is a no-op).
func (k *Keyring) register(key Key, strict bool) error {
	switch {
	case key.Caller == "":
		return errors.New("keyring: add key: caller is required")
	case key.KeyID == "":
		return errors.New("keyring: add key: key id is required")
	case key.Public == nil:
		return errors.New("keyring: add key: public key is required")
	case strict && k.IsGatewayKey(key.KeyID):
		return fmt.Errorf("%w: key id %q is one of the gateway's own keys", ErrKeyConflict, key.KeyID)
	}
	if key.Source == "" {
		key.Source = contracts.KeyFromConfig
	}
	fp, err := k.Fingerprint(key.Public)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.keys[key.KeyID]; ok {
		switch {
		case r.caller != key.Caller:
			return fmt.Errorf("%w: key id %q belongs to another caller", ErrKeyConflict, key.KeyID)
		case !r.pub.Equal(key.Public):
			return fmt.Errorf("%w: key id %q of caller %q has another key", ErrKeyConflict, key.KeyID, key.Caller)
		case strict:
			return fmt.Errorf("%w: key id %q of caller %q is registered already", ErrKeyConflict, key.KeyID, key.Caller)
		}
		return nil
	}
	k.keys[key.KeyID] = registered{caller: key.Caller, pub: key.Public, cert: key.Certificate, source: key.Source,
		added: k.clock().UTC(), fp: fp}
	return nil
}

// Fingerprint returns the lowercase hex SM3 of pub's SubjectPublicKeyInfo
// (DER): what the key listing and the evidence log name a key by, and
// what `openssl pkey -pubin -outform DER | openssl dgst -sm3` prints.
func (k *Keyring) Fingerprint(pub *signing.PublicKey) (string, error) {
	p, err := signing.MarshalPublicKeyPEM(pub)
	if err != nil {
		return "", fmt.Errorf("keyring: fingerprint: %w", err)
	}
	b, _ := pem.Decode(p)
	if b == nil {
		return "", errors.New("keyring: fingerprint: no PEM block")
	}
	return hex.EncodeToString(k.engine.SM3(b.Bytes)), nil
}

// info is r under keyID as the listing shows it.
func (r registered) info(keyID string) contracts.KeyInfo {
	ki := contracts.KeyInfo{Caller: r.caller, KeyID: keyID, Kind: contracts.KeyPublicKey, Fingerprint: r.fp,
		Source: r.source, AddedAt: r.added}
	if r.cert != nil {
		ki.Kind, ki.NotAfter = contracts.KeyCertificate, r.cert.NotAfter.UTC()
	}
	return ki
}

// Keys returns the caller keys in force, sorted by caller, then key id.
func (k *Keyring) Keys() []contracts.KeyInfo {
	k.mu.RLock()
	out := make([]contracts.KeyInfo, 0, len(k.keys))
	for id, r := range k.keys {
		out = append(out, r.info(id))
	}
	k.mu.RUnlock()
	slices.SortFunc(out, func(a, b contracts.KeyInfo) int {
		return cmp.Or(cmp.Compare(a.Caller, b.Caller), cmp.Compare(a.KeyID, b.KeyID))
	})
	return out
}

// Key returns the caller key keyID of caller as listed; ok is false when
// keyID is not registered for caller.
func (k *Keyring) Key(caller, keyID string) (contracts.KeyInfo, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	r, ok := k.keys[keyID]
	if !ok || r.caller != caller {
		return contracts.KeyInfo{}, false
	}
	return r.info(keyID), true
}

// GatewayKeys returns the gateway's own keys: the signing key first, then
// the previous keys by key id.
func (k *Keyring) GatewayKeys() ([]contracts.GatewayKeyInfo, error) {
	fp, err := k.Fingerprint(k.signer.Public())
	if err != nil {
		return nil, err
	}
	out := []contracts.GatewayKeyInfo{{KeyID: k.signerKeyID, Fingerprint: fp, Current: true}}
	ids := make([]string, 0, len(k.previous))
	for id := range k.previous {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fp, err := k.Fingerprint(k.previous[id])
		if err != nil {
			return nil, err
		}
		out = append(out, contracts.GatewayKeyInfo{KeyID: id, Fingerprint: fp})
	}
	return out, nil
}

// Revoke unregisters keyID of caller, as RemoveKey does, and returns it as
// it was listed; it refuses, with ErrLastKey and changing nothing, when
// it is the caller's only key. It fails with ErrUnknownKey when keyID is
// not registered for caller.
func (k *Keyring) Revoke(caller, keyID string) (contracts.KeyInfo, error) {
	k.mu.Lock()
	r, ok := k.keys[keyID]
	if !ok || r.caller != caller {
		k.mu.Unlock()
		return contracts.KeyInfo{}, unknownKey(caller, keyID)
	}
	n := 0
	for _, o := range k.keys {
		if o.caller == caller {
			n++
		}
	}
	if n == 1 {
		k.mu.Unlock()
		return contracts.KeyInfo{}, fmt.Errorf("%w: key id %q is caller %q's only key", ErrLastKey, keyID, caller)
	}
	delete(k.keys, keyID)
	k.mu.Unlock()
	if k.cache != nil {
		k.cache.forget(keyID)
	}
	return r.info(keyID), nil
}

// Sync puts exactly the keys of want in force, at once, as a reloaded
// configuration names them: a key whose id, caller and public key are
// registered already stays (its certificate and source are updated: a
// runtime key the file now names becomes a configuration key); every
// other key is removed (tokens verified with it are forgotten), runtime
// keys the file does not name included; the keys of want not yet
// registered are added. want must not give one key id twice with another
// caller or key, nor name a gateway key id (ErrKeyConflict; nothing
// changes then). It returns the keys added and removed (a key id whose key
// changed is in both), sorted by caller and key id: what Plan said it
// would do, when nothing changed the keys in between.
func (k *Keyring) Sync(want []Key) (added, removed []contracts.KeyRef, err error) {
	next, err := k.wanted(want)
	if err != nil {
		return nil, nil, err
	}
	k.mu.Lock()
	added, removed = k.diff(next)
	k.keys = next
	k.mu.Unlock()
	if k.cache != nil {
		for _, r := range removed {
			k.cache.forget(r.KeyID)
		}
	}
	return added, removed, nil
}

// Plan returns what Sync(want) would add and remove now, or its error,
// and changes nothing.
func (k *Keyring) Plan(want []Key) (added, removed []contracts.KeyRef, err error) {
	next, err := k.wanted(want)
	if err != nil {
		return nil, nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	added, removed = k.diff(next)
	return added, removed, nil
}

// wanted checks want and returns it as the keys Sync puts in force
// (before diff keeps what stays).
func (k *Keyring) wanted(want []Key) (map[string]registered, error) {
	next := make(map[string]registered, len(want))
	now := k.clock().UTC()
	for _, key := range want {
		switch {
		case key.Caller == "" || key.KeyID == "" || key.Public == nil:
			return nil, errors.New("keyring: sync: every key needs a caller, a key id and a public key")
		case k.IsGatewayKey(key.KeyID):
			return nil, fmt.Errorf("%w: key id %q of caller %q is one of the gateway's own keys", ErrKeyConflict, key.KeyID, key.Caller)
		}
		if o, dup := next[key.KeyID]; dup && (o.caller != key.Caller || !o.pub.Equal(key.Public)) {
			return nil, fmt.Errorf("%w: key id %q is given for callers %q and %q, or with two keys", ErrKeyConflict, key.KeyID, o.caller, key.Caller)
		}
		fp, err := k.Fingerprint(key.Public)
		if err != nil {
			return nil, err
		}
		next[key.KeyID] = registered{caller: key.Caller, pub: key.Public, cert: key.Certificate, source: contracts.KeyFromConfig, added: now, fp: fp}
	}
	return next, nil
}

// diff compares the keys in force with next: the keys added and removed,
// sorted; a key that stays keeps in next when it was added. k.mu is held.
func (k *Keyring) diff(next map[string]registered) (added, removed []contracts.KeyRef) {
	added, removed = []contracts.KeyRef{}, []contracts.KeyRef{}
	for id, r := range k.keys {
		if n, ok := next[id]; ok && n.caller == r.caller && n.pub.Equal(r.pub) {
			n.added = r.added
			next[id] = n
			continue
		}
		removed = append(removed, contracts.KeyRef{Caller: r.caller, KeyID: id})
	}
	for id, n := range next {
		if r, ok := k.keys[id]; !ok || r.caller != n.caller || !r.pub.Equal(n.pub) {
			added = append(added, contracts.KeyRef{Caller: n.caller, KeyID: id})
		}
	}
	sortRefs(added)
	sortRefs(removed)
	return added, removed
}

func sortRefs(refs []contracts.KeyRef) {
	slices.SortFunc(refs, func(a, b contracts.KeyRef) int {
		return cmp.Or(cmp.Compare(a.Caller, b.Caller), cmp.Compare(a.KeyID, b.KeyID))
	})
}
