package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tongban/tongban/contracts"
)

// Adapter delivers outbox messages to one partner in that partner's
// protocol and returns its signed acknowledgement. raw and sig are the exact
// bytes of the acknowledgement and its DER SM2 signature as the partner sent
// them, kept as evidence.
//
// It has the method set of the gateway's Adapter port, so every Adapter
// satisfies that port without this package importing the gateway. Errors are
// *Error values (see Classify).
type Adapter interface {
	DeliverCase(ctx context.Context, d *contracts.CaseDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
	DeliverStatus(ctx context.Context, d *contracts.StatusDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

// LicenseSource is an optional capability of an Adapter: looking licenses
// up in the partner's license library (证照库). It has the method set of the
// gateway's LicenseSource port. The call is synchronous and must honour
// ctx's deadline; it is not retried (a window is waiting). raw and sig are
// the library's answer and its DER SM2 signature as sent. The adapter
// checks the answer's signature, that it echoes q.ExchangeID, and that a
// found record passes contracts.LicenseRecord.Validate; any failure is an
// error. A library without the license answers with Found false.
type LicenseSource interface {
	LookupLicense(ctx context.Context, q *contracts.LicenseLookupRequest) (resp *contracts.LicenseLookupResponse, raw, sig []byte, err error)
}

// UsageReceiver is an optional capability of an Adapter: passing usage
// records (用证记录回传) to the partner that issued the license. It has the
// method set of the gateway's UsageReceiver port and follows the Adapter
// rules for acknowledgements and errors.
type UsageReceiver interface {
	DeliverUsage(ctx context.Context, d *contracts.UsageRecordDelivery) (ack *contracts.Ack, raw, sig []byte, err error)
}

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

// DefaultTimeout bounds one delivery attempt when Params.Timeout is zero.
const DefaultTimeout = 10 * time.Second

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

var (
	registryMu sync.RWMutex
	factories  = map[string]Factory{}
)

// Register makes an adapter style available under name. It is meant to be
// called from an init function and panics if name is empty, f is nil, or
// name is already registered.
func Register(name string, f Factory) {
	if name == "" {
		panic("adapters: Register with an empty name")
	}
	if f == nil {
		panic("adapters: Register with a nil factory for " + name)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := factories[name]; dup {
		panic("adapters: Register called twice for " + name)
	}
	factories[name] = f
}

// Names returns the registered adapter names, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds an adapter of the style registered under name for the partner
// p describes. An unknown name fails with an error that lists the known
// names; a factory's error is wrapped with the name and partner id.
func New(name string, p Params) (Adapter, error) {
	registryMu.RLock()
	f, ok := factories[name]
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
	a, err := f(p)
	if err != nil {
		return nil, fmt.Errorf("adapters: %s adapter for partner %s: %w", name, p.PartnerID, err)
	}
	if a == nil {
		return nil, fmt.Errorf("adapters: %s adapter for partner %s: factory returned no adapter", name, p.PartnerID)
	}
	return a, nil
}
