package contracts

import (
	"strings"
	"time"
)

// This file holds the wire types of the operator views: every partner's
// state (GET /v1/admin/partners), the keys in force (GET, POST
// /v1/admin/keys, DELETE /v1/admin/keys/{caller}/{key_id}) and the
// reload of the configuration (POST /v1/admin/reload).

// MaxKeyPEM bounds KeyAddRequest.PublicKeyPEM: a public key or a
// certificate with its chain, in PEM.
const MaxKeyPEM = 16 << 10

// DeliveryMode says how a partner gets its deliveries.
type DeliveryMode string

// The delivery modes.
const (
	// DeliveryPush: the gateway calls the partner (its adapter delivers
	// cases, status updates, notices or usage records).
	DeliveryPush DeliveryMode = "push"
	// DeliveryPull: the partner pulls its deliveries from its mailbox.
	DeliveryPull DeliveryMode = "pull"
	// DeliveryNone: the caller receives no deliveries (a window, an
	// auditor, an operator).
	DeliveryNone DeliveryMode = "none"
)

// Valid reports whether m is a delivery mode.
func (m DeliveryMode) Valid() bool {
	switch m {
	case DeliveryPush, DeliveryPull, DeliveryNone:
		return true
	}
	return false
}

// CircuitState is the state of the circuit breaker the gateway keeps for
// a partner it pushes to.
type CircuitState string

// The circuit states.
const (
	// CircuitClosed: attempts are made.
	CircuitClosed CircuitState = "closed"
	// CircuitOpen: after too many failures in a row, deliveries wait
	// without attempts until PartnerStatus.CircuitUntil.
	CircuitOpen CircuitState = "open"
	// CircuitHalfOpen: one trial attempt is let through; its success
	// closes the circuit, its failure opens it again.
	CircuitHalfOpen CircuitState = "half_open"
)

// Valid reports whether s is a circuit state.
func (s CircuitState) Valid() bool {
	switch s {
	case CircuitClosed, CircuitOpen, CircuitHalfOpen:
		return true
	}
	return false
}

// QueueDepth counts unfinished deliveries by transport state.
type QueueDepth struct {
	Pending   int `json:"pending"`
	InFlight  int `json:"in_flight"`
	RetryWait int `json:"retry_wait"`
	Dead      int `json:"dead"`
}

// PartnerList is the body of GET /v1/admin/partners: every configured
// caller's state, as this gateway process sees it.
type PartnerList struct {
	// GeneratedAt is when the view was taken.
	GeneratedAt time.Time `json:"generated_at"`
	// Partners are the configured callers, sorted by id; always an array.
	Partners []PartnerStatus `json:"partners"`
	// Totals counts every unfinished delivery in the store, exactly,
	// including those to partners no longer configured.
	Totals QueueDepth `json:"totals"`
	// CountCap is the most deliveries counted per partner and state
	// (PartnerStatus.QueueCapped).
	CountCap int `json:"count_cap"`
}

// PartnerStatus is one caller in a PartnerList: who it is, how it gets
// its deliveries, how they fare, and what waits for it.
type PartnerStatus struct {
	// ID is the caller id.
	ID string `json:"id"`
	// Roles are its roles; always an array.
	Roles []Role `json:"roles"`
	// Regions are the GB/T 2260 codes it serves; always an array.
	Regions []string `json:"regions"`
	// Style is its adapter style (standard, mapped-json, soap, mailbox);
	// absent for a caller without an adapter.
	Style string `json:"style,omitempty"`
	// Delivery says whether the gateway pushes to it, it pulls, or it
	// receives nothing.
	Delivery DeliveryMode `json:"delivery"`
	// Degraded is true when the partner is down: its last
	// ConsecutiveFailures (3 or more) attempts failed, or its circuit is
	// open. Its deliveries wait in the outbox meanwhile.
	Degraded bool `json:"degraded"`
	// ConsecutiveFailures counts the failed attempts since its last
	// success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// Circuit is the state of its circuit breaker; absent when the
	// gateway keeps none for it (it is not pushed to, or
	// delivery.circuit is off).
	Circuit CircuitState `json:"circuit,omitempty"`
	// CircuitUntil is when an open circuit lets a trial attempt through.
	CircuitUntil time.Time `json:"circuit_until,omitzero"`
	// Queue counts its unfinished deliveries by state (each at most
	// PartnerList.CountCap).
	Queue QueueDepth `json:"queue"`
	// QueueCapped is true when a count of Queue reached
	// PartnerList.CountCap: there are at least that many.
	QueueCapped bool `json:"queue_capped,omitempty"`
	// OldestWaitingAt is when its oldest pending or retry_wait delivery
	// was queued; OldestWaitingSeconds is that delivery's age at
	// GeneratedAt. Absent when none waits.
	OldestWaitingAt      time.Time `json:"oldest_waiting_at,omitzero"`
	OldestWaitingSeconds int64     `json:"oldest_waiting_seconds,omitempty"`
	// LastSuccess and LastFailure are the times of its last acknowledged
	// and last failed attempts since this process started; LastError
	// says why the last attempt failed (cleared by a success).
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// KeyKind says how a caller's key was given.
type KeyKind string

// The kinds of keys.
const (
	// KeyPublicKey: a bare SM2 public key (SPKI PEM).
	KeyPublicKey KeyKind = "public_key"
	// KeyCertificate: an SM2 certificate (X.509 PEM), whose validity
	// period (and chain, with key_ca configured) was checked when it was
	// registered.
	KeyCertificate KeyKind = "certificate"
)

// Valid reports whether k is a kind of key.
func (k KeyKind) Valid() bool { return k == KeyPublicKey || k == KeyCertificate }

// KeySource says where a caller's key in force comes from.
type KeySource string

// The sources of keys.
const (
	// KeyFromConfig: the configuration file (partners[].keys), loaded at
	// start or by the last reload.
	KeyFromConfig KeySource = "config"
	// KeyFromRuntime: added by an operator while the gateway runs (POST
	// /v1/admin/keys). It lasts until the next reload or restart unless
	// the configuration file names it too.
	KeyFromRuntime KeySource = "runtime"
)

// Valid reports whether s is a source of keys.
func (s KeySource) Valid() bool { return s == KeyFromConfig || s == KeyFromRuntime }

// KeyInfo is one caller key in force.
type KeyInfo struct {
	// Caller is the caller the key is registered for.
	Caller string `json:"caller"`
	// KeyID is the key id (a token's kid, Gw-Key-Id).
	KeyID string `json:"key_id"`
	// Kind says whether it was given as a public key or a certificate.
	Kind KeyKind `json:"kind"`
	// Fingerprint is the lowercase hex SM3 of the key's
	// SubjectPublicKeyInfo (DER).
	Fingerprint string `json:"fingerprint"`
	// NotAfter is when the certificate expires (kind certificate).
	NotAfter time.Time `json:"not_after,omitzero"`
	// Source says whether the configuration file or an operator put it
	// in force.
	Source KeySource `json:"source"`
	// AddedAt is when this process put it in force.
	AddedAt time.Time `json:"added_at"`
}

// GatewayKeyInfo is one of the gateway's own signing keys.
type GatewayKeyInfo struct {
	// KeyID is the key id (Gw-Key-Id of what the gateway signs).
	KeyID string `json:"key_id"`
	// Fingerprint is the lowercase hex SM3 of the public key's
	// SubjectPublicKeyInfo (DER).
	Fingerprint string `json:"fingerprint"`
	// Current is true for the key the gateway signs with now; the others
	// are earlier keys (signing_key.previous) whose signatures still
	// verify.
	Current bool `json:"current"`
}

// KeyList is the body of GET /v1/admin/keys.
type KeyList struct {
	// Gateway are the gateway's keys, the current one first; always an
	// array.
	Gateway []GatewayKeyInfo `json:"gateway"`
	// Callers are the caller keys in force, by caller then key id; always
	// an array.
	Callers []KeyInfo `json:"callers"`
}

// KeyAddRequest is the body of POST /v1/admin/keys: a key to put in force
// for a configured caller at once, without a restart.
type KeyAddRequest struct {
	// Caller is the configured caller the key is for.
	Caller string `json:"caller"`
	// KeyID is the new key's id, not yet registered (letters, digits,
	// '.', '_', ':', '-').
	KeyID string `json:"key_id"`
	// PublicKeyPEM is the SM2 public key (SPKI PEM) or certificate (X.509
	// PEM, the caller's first, then its chain), at most MaxKeyPEM bytes.
	PublicKeyPEM string `json:"public_key_pem"`
}

// Validate checks a KeyAddRequest on its own: ids well formed, a PEM text
// within bounds. Whether the caller exists, the key parses and its id is
// free is the gateway's decision. The error is a *FieldError.
func (r *KeyAddRequest) Validate() error {
	if err := ValidateOpaqueID("caller", r.Caller); err != nil {
		return err
	}
	if err := ValidateOpaqueID("key_id", r.KeyID); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(r.PublicKeyPEM) == "":
		return invalid("public_key_pem", "is required")
	case len(r.PublicKeyPEM) > MaxKeyPEM:
		return invalid("public_key_pem", "must be at most 16384 bytes")
	case !strings.Contains(r.PublicKeyPEM, "-----BEGIN "):
		return invalid("public_key_pem", "must be PEM (-----BEGIN PUBLIC KEY----- or -----BEGIN CERTIFICATE-----)")
	}
	return nil
}

// KeyRef names one caller key.
type KeyRef struct {
	Caller string `json:"caller"`
	KeyID  string `json:"key_id"`
}

// ReloadChanges lists the partner ids a reload added, removed and
// changed (an entry, or the keys its files hold); always arrays.
type ReloadChanges struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Updated []string `json:"updated"`
}

// ReloadKeyChanges lists the caller keys a reload put in force and took
// out of force, runtime keys the file does not name included; always
// arrays.
type ReloadKeyChanges struct {
	Added   []KeyRef `json:"added"`
	Removed []KeyRef `json:"removed"`
}

// ReloadResult is the body answering POST /v1/admin/reload: the
// configuration now in force.
type ReloadResult struct {
	// ConfigSM3 is the lowercase hex SM3 of the configuration read (the
	// file and the environment overrides, as gateway.started records).
	ConfigSM3 string `json:"config_sm3"`
	// Partners is how many callers are configured now.
	Partners int `json:"partners"`
	// Changed lists the partners added, removed and updated.
	Changed ReloadChanges `json:"changed"`
	// Keys lists the caller keys added and removed.
	Keys ReloadKeyChanges `json:"keys"`
}
