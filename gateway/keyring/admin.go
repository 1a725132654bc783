package keyring

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/signing"
)

// EvidenceAppender appends records to the evidence log
// (gateway.EvidenceLog.AppendEvidence).
type EvidenceAppender interface {
	AppendEvidence(ctx context.Context, recs ...contracts.EvidenceRecord) error
}

// AdminOptions wire an Admin. Keys, Directory and Evidence are required.
type AdminOptions struct {
	Keys *Keyring
	// Directory holds the callers keys may be added for.
	Directory *gateway.Directory
	// Evidence takes the admin.key_added and admin.key_revoked records.
	Evidence EvidenceAppender
	// Env gives the clock (certificate validity, record times), the log,
	// telemetry and the recorder; its zero fields take the defaults of
	// gateway.Env (a nil Recorder records nothing).
	Env gateway.Env
	// KeyCAs returns the CA certificates a key given as a certificate
	// must chain to (key_ca, which a reload may change); nil, or none
	// returned, checks only the certificate's validity period.
	KeyCAs func() []*signing.Certificate
	// Lock is held for each change; the gateway's configuration reload
	// holds the same lock, so that a key change and a reload never
	// interleave. nil: a lock of the Admin's own.
	Lock sync.Locker
}

// Admin is what operators see and change of the keys in force: it lists
// them (the gateway's own and every caller's), and adds and revokes a
// caller's key at runtime, each change recorded in the evidence log
// before it takes effect. A key added at runtime lasts until the
// configuration is reloaded or the gateway restarts, unless the
// configuration file names it too (Keyring.Sync); a key revoked at runtime
// that the file names is in force again after the next reload or restart.
type Admin struct {
	keys   *Keyring
	dir    *gateway.Directory
	ev     EvidenceAppender
	env    gateway.Env
	keyCAs func() []*signing.Certificate
	lock   sync.Locker
}

// NewAdmin returns the Admin wired from o, or an error naming what is
// missing.
func NewAdmin(o AdminOptions) (*Admin, error) {
	if o.Keys == nil || o.Directory == nil || o.Evidence == nil {
		return nil, errors.New("keyring: admin needs the keyring, the directory and the evidence log")
	}
	if o.KeyCAs == nil {
		o.KeyCAs = func() []*signing.Certificate { return nil }
	}
	if o.Lock == nil {
		o.Lock = &sync.Mutex{}
	}
	return &Admin{keys: o.Keys, dir: o.Directory, ev: o.Evidence, env: o.Env.WithDefaults(), keyCAs: o.KeyCAs, lock: o.Lock}, nil
}

// ListKeys returns the keys in force: the gateway's own (its signing key
// first) and every caller's, by caller then key id. Operators and
// auditors may (forbidden otherwise).
func (a *Admin) ListKeys(ctx context.Context, p gateway.Principal) (*contracts.KeyList, error) {
	if err := gateway.Authorize(p, gateway.ActReadKeys, nil, ""); err != nil {
		return nil, err
	}
	gw, err := a.keys.GatewayKeys()
	if err != nil {
		return nil, gateway.Internal(err)
	}
	return &contracts.KeyList{Gateway: gw, Callers: a.keys.Keys()}, nil
}

// AddKey serves POST /v1/admin/keys: in is the operator's signed request
// (a contracts.KeyAddRequest, signed with a key registered for the
// operator, as every body the gateway takes). It checks the signature and
// decodes strictly, then adds the key as Add does, recording the
// request's SM3 and signature.
func (a *Admin) AddKey(ctx context.Context, in gateway.Inbound) (*contracts.KeyInfo, error) {
	if err := gateway.Authorize(in.Caller, gateway.ActManageKeys, nil, ""); err != nil {
		return nil, err
	}
	if err := gateway.VerifyInbound(ctx, a.env.Telemetry, a.keys, in); err != nil {
		return nil, err
	}
	var req contracts.KeyAddRequest
	if err := gateway.DecodeStrict(in.Body, &req); err != nil {
		return nil, err
	}
	return a.add(ctx, in.Caller, req, in.Body, in.Signature)
}

// Add puts req's key in force for req.Caller at once, for operator p
// (forbidden for anyone else): the caller must be configured, the key id
// well formed and not registered (for any caller, nor one of the
// gateway's ids), the PEM an SM2 public key or a certificate valid now
// (chaining to key_ca when configured). Refusals are validation_failed
// naming the field. The admin.key_added record (operator, subject, jti,
// key id, fingerprint) is appended before the key takes effect; a key
// added this way is listed with source runtime. The console calls it for
// an operator it authenticated itself (no request body to keep).
func (a *Admin) Add(ctx context.Context, p gateway.Principal, req contracts.KeyAddRequest) (*contracts.KeyInfo, error) {
	if err := gateway.Authorize(p, gateway.ActManageKeys, nil, ""); err != nil {
		return nil, err
	}
	return a.add(ctx, p, req, nil, nil)
}

func (a *Admin) add(ctx context.Context, p gateway.Principal, req contracts.KeyAddRequest, body, sig []byte) (*contracts.KeyInfo, error) {
	if err := req.Validate(); err != nil {
		return nil, gateway.FromField(err)
	}
	now := a.env.Clock.Now()
	pub, cert, err := ParseKeyPEM([]byte(req.PublicKeyPEM), a.keyCAs(), now)
	if err != nil {
		return nil, &gateway.Error{Code: contracts.CodeValidationFailed,
			Message: "public_key_pem: not an SM2 public key, or a certificate valid now (and chaining to key_ca)", Err: err}
	}
	fp, err := a.keys.Fingerprint(pub)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	a.lock.Lock()
	defer a.lock.Unlock()
	// Under the lock a reload holds too: the caller is in the directory
	// the key joins.
	if a.dir.Get(req.Caller) == nil {
		return nil, gateway.Failf(contracts.CodeValidationFailed, "caller: %s is not a configured caller", req.Caller)
	}
	if err := a.free(req.KeyID); err != nil {
		return nil, err
	}
	d := contracts.EvidenceDetail{TargetKeyID: req.KeyID, Fingerprint: fp, KeyKind: contracts.KeyPublicKey, Signature: gateway.B64(sig)}
	if cert != nil {
		d.KeyKind, d.NotAfter = contracts.KeyCertificate, cert.NotAfter.UTC().Format(time.RFC3339)
	}
	if err := a.record(ctx, gateway.AdminChange{By: p, At: now.UTC(), Event: contracts.EventAdminKeyAdded, Partner: req.Caller,
		Body: body, Detail: d}); err != nil {
		return nil, err
	}
	if err := a.keys.Register(Key{Caller: req.Caller, KeyID: req.KeyID, Public: pub, Certificate: cert, Source: contracts.KeyFromRuntime}); err != nil {
		// Only a change made around the Admin (not under its lock) gets
		// here: the record says the operator asked; say it failed.
		a.env.Log.ErrorContext(ctx, "a key recorded as added could not be registered", "caller", req.Caller, "key_id", req.KeyID, "err", err)
		return nil, gateway.Internal(err)
	}
	a.env.Log.InfoContext(ctx, "key added", "caller", req.Caller, "key_id", req.KeyID, "fingerprint", fp, "operator", p.ID(), "subject", p.Subject)
	info, _ := a.keys.Key(req.Caller, req.KeyID)
	return &info, nil
}

// free refuses a key id that is registered already, for any caller, or
// is one of the gateway's own.
func (a *Admin) free(keyID string) error {
	if a.keys.IsGatewayKey(keyID) {
		return gateway.Failf(contracts.CodeValidationFailed, "key_id: %s is one of the gateway's own key ids", keyID)
	}
	for _, k := range a.keys.Keys() {
		if k.KeyID == keyID {
			return gateway.Failf(contracts.CodeValidationFailed, "key_id: %s is registered already (caller %s); a new key needs a new id", keyID, k.Caller)
		}
	}
	return nil
}

// RevokeKey takes keyID of caller out of force at once, for operator p
// (forbidden for anyone else), and returns it as it was listed: from then
// no token or body signed with it is accepted. It refuses a key that is
// not the caller's (not_found) and the caller's last key
// (validation_failed: add the new key first, or remove the caller from
// the configuration and reload). The admin.key_revoked record is appended
// before the key goes.
func (a *Admin) RevokeKey(ctx context.Context, p gateway.Principal, caller, keyID string) (*contracts.KeyInfo, error) {
	if err := gateway.Authorize(p, gateway.ActManageKeys, nil, ""); err != nil {
		return nil, err
	}
	if contracts.ValidateOpaqueID("caller", caller) != nil || contracts.ValidateOpaqueID("key_id", keyID) != nil {
		return nil, gateway.Failf(contracts.CodeNotFound, "no such key")
	}
	a.lock.Lock()
	defer a.lock.Unlock()
	info, ok := a.keys.Key(caller, keyID)
	if !ok {
		return nil, gateway.Failf(contracts.CodeNotFound, "no key %s is registered for caller %s", keyID, caller)
	}
	n := 0
	for _, k := range a.keys.Keys() {
		if k.Caller == caller {
			n++
		}
	}
	if n == 1 {
		return nil, gateway.Failf(contracts.CodeValidationFailed,
			"key_id: %s is caller %s's only key; add its new key first, or remove the caller from the configuration and reload", keyID, caller)
	}
	d := contracts.EvidenceDetail{TargetKeyID: keyID, Fingerprint: info.Fingerprint, KeyKind: info.Kind}
	if !info.NotAfter.IsZero() {
		d.NotAfter = info.NotAfter.Format(time.RFC3339)
	}
	if err := a.record(ctx, gateway.AdminChange{By: p, At: a.env.Clock.Now().UTC(), Event: contracts.EventAdminKeyRevoked, Partner: caller, Detail: d}); err != nil {
		return nil, err
	}
	if _, err := a.keys.Revoke(caller, keyID); err != nil {
		a.env.Log.ErrorContext(ctx, "a key recorded as revoked could not be revoked", "caller", caller, "key_id", keyID, "err", err)
		return nil, gateway.Internal(err)
	}
	a.env.Log.InfoContext(ctx, "key revoked", "caller", caller, "key_id", keyID, "fingerprint", info.Fingerprint, "operator", p.ID(), "subject", p.Subject)
	return &info, nil
}

// record appends the evidence record of c.
func (a *Admin) record(ctx context.Context, c gateway.AdminChange) error {
	recs := a.env.Recorder.AdminChange(ctx, c)
	if len(recs) == 0 {
		return nil
	}
	if err := a.ev.AppendEvidence(ctx, recs...); err != nil {
		return gateway.Internal(fmt.Errorf("record %s: %w", c.Event, err))
	}
	return nil
}
