package adapters

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tongban/tongban/gateway/port"
)

// Crypto is what an adapter needs of SM2 and SM3: the gateway's own signing
// key, and the keys registered for partners. The gateway implements it with
// package signing; adapters never import an SM library.
type Crypto interface {
	// Sign returns the gateway's DER SM2 signature of body.
	Sign(body []byte) ([]byte, error)
	// KeyID is the id of the gateway's signing key, sent as Gw-Key-Id.
	KeyID() string
	// VerifyBody checks a DER SM2 signature of body made with the key keyID
	// registered for caller (a partner id). It fails if keyID belongs to
	// someone else.
	VerifyBody(caller, keyID string, body, sig []byte) error
	// SM3Hex returns the lowercase hex SM3 digest of body.
	SM3Hex(body []byte) string
}

// TokenIssuer is an optional capability of a Crypto: one that can mint a
// short-lived bearer token for calls to a partner (JWT alg SM2, iss the
// gateway id, aud the partner id). HTTP adapters that find it send
// Authorization: Bearer <token> with every delivery.
type TokenIssuer interface {
	IssueToken(audience string) (string, error)
}

// DefaultTimeout bounds one delivery attempt when Params.Timeout is zero:
// the partner timeout the core defaults to (port.DefaultTimeout).
const DefaultTimeout = port.DefaultTimeout

// Params is what a Factory gets to build an adapter for one partner.
type Params struct {
	// PartnerID is the partner's id, the caller id its keys are registered
	// under; acknowledgements are verified against it.
	PartnerID string
	// Config is the partner's adapter block, JSON, decoded only by the
	// adapter's factory.
	Config json.RawMessage
	// Crypto signs deliveries with the gateway's key and verifies the
	// partner's acknowledgements.
	Crypto Crypto
	// Timeout bounds one attempt (one HTTP request); zero means
	// DefaultTimeout.
	Timeout time.Duration
	// TLS, when set, is the TLS configuration of calls to the partner (its
	// CA bundle, the gateway's client certificate, the server name, the
	// minimum version), and the partner's endpoint must then be https.
	// Nil: https endpoints are verified with the system roots, TLS 1.2 or
	// later.
	TLS *tls.Config
}

// WithDefaults returns p with defaults applied (Timeout), or an error when
// a required field is missing. New calls it before the factory, so a factory
// always receives complete Params; factories called directly may call it
// again, it is idempotent.
func (p Params) WithDefaults() (Params, error) {
	switch {
	case p.PartnerID == "":
		return p, errors.New("adapters: params: partner id is required")
	case p.Crypto == nil:
		return p, errors.New("adapters: params: crypto is required")
	case p.Timeout < 0:
		return p, fmt.Errorf("adapters: params: timeout %s is negative", p.Timeout)
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	return p, nil
}

// Factory builds an adapter for one partner. It decodes and validates
// p.Config and fails with an error naming the offending field.
type Factory func(Params) (Adapter, error)

// FactoryOf makes a Factory of a style's constructor, which returns its
// concrete adapter type; a failed constructor's nil pointer does not become
// a non-nil Adapter.
func FactoryOf[T Adapter](newAdapter func(Params) (T, error)) Factory {
	return func(p Params) (Adapter, error) {
		a, err := newAdapter(p)
		if err != nil {
			return nil, err
		}
		return a, nil
	}
}

// Style is an adapter style as registered: its name (what a partner
// entry's adapter field says), a one-line summary, the capabilities its
// adapters can have, and the factory that builds one for a partner.
type Style struct {
	Name    string
	Summary string
	// Capabilities are what adapters of this style can do. A partner's
	// configuration may enable fewer (see CapabilitySet), never more: New
	// refuses an adapter with a capability its style does not declare.
	Capabilities []Capability
	Factory      Factory
}

var (
	registryMu sync.RWMutex
	styles     = map[string]Style{}
)

// Register makes an adapter style available under s.Name. It is meant to
// be called from an init function and panics if the name is empty, the
// factory nil, a capability unknown, or the name already registered.
func Register(s Style) {
	if s.Name == "" {
		panic("adapters: Register with an empty name")
	}
	if s.Factory == nil {
		panic("adapters: Register with a nil factory for " + s.Name)
	}
	for _, c := range s.Capabilities {
		if !c.Valid() {
			panic(fmt.Sprintf("adapters: Register %s: unknown capability %q", s.Name, c))
		}
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := styles[s.Name]; dup {
		panic("adapters: Register called twice for " + s.Name)
	}
	s.Capabilities = slices.Clone(s.Capabilities)
	slices.Sort(s.Capabilities)
	styles[s.Name] = s
}

// Styles returns the registered styles, sorted by name.
func Styles() []Style {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]Style, 0, len(styles))
	for _, s := range styles {
		s.Capabilities = slices.Clone(s.Capabilities)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Style) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Names returns the registered style names, sorted.
func Names() []string {
	var names []string
	for _, s := range Styles() {
		names = append(names, s.Name)
	}
	return names
}

// New builds an adapter of the style registered under name for the partner
// p describes. An unknown name fails with an error that lists the known
// names; a factory's error is wrapped with the name and partner id. The
// adapter must report name as its Style and have no capability its style
// does not declare.
func New(name string, p Params) (Adapter, error) {
	registryMu.RLock()
	s, ok := styles[name]
	registryMu.RUnlock()
	if !ok {
		known := strings.Join(Names(), ", ")
		if known == "" {
			known = "none"
		}
		return nil, fmt.Errorf("adapters: unknown adapter %q (known: %s)", name, known)
	}
	p, err := p.WithDefaults()
	if err != nil {
		return nil, err
	}
	a, err := s.Factory(p)
	if err != nil {
		return nil, fmt.Errorf("adapters: %s adapter for partner %s: %w", name, p.PartnerID, err)
	}
	if a == nil {
		return nil, fmt.Errorf("adapters: %s adapter for partner %s: factory returned no adapter", name, p.PartnerID)
	}
	if a.Style() != name {
		return nil, fmt.Errorf("adapters: %s adapter for partner %s: factory built a %q adapter", name, p.PartnerID, a.Style())
	}
	for _, c := range Capabilities(a) {
		if !slices.Contains(s.Capabilities, c) {
			return nil, fmt.Errorf("adapters: %s adapter for partner %s has capability %s, which the style does not declare", name, p.PartnerID, c)
		}
	}
	return a, nil
}
