// Package licenses is the license sub-domain of the gateway: windows and
// partner systems verify electronic licenses (电子证照) issued anywhere,
// the gateway asks the issuing region's license library (证照库), and
// every verification, refused ones included, leaves a usage record
// (用证记录) passed on to the issuing library.
package licenses

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Store is what the license sub-domain reads and writes: usage records
// with their deliveries and evidence, and the cases a verification may
// name (to decide whether it joins the case's evidence chain).
type Store interface {
	gateway.UsageStore
	// GetCase returns a case by id (see gateway.CaseStore).
	GetCase(ctx context.Context, id string) (*gateway.Case, error)
}

// Cache is an optional short-lived cache of license records the libraries
// returned, keyed by library and by what the lookup asked. Only found
// records are cached: not_found and source_unavailable never are.
// Implementations bound its size and expire entries after their TTL, and
// are safe for concurrent use.
type Cache interface {
	Get(key string) (CachedLicense, bool)
	Add(key string, v CachedLicense)
}

// CachedLicense is a library's answer kept in a Cache.
type CachedLicense struct {
	Record contracts.LicenseRecord
}

// Options wire a Service: Store, Crypto and Directory are required; Env
// takes its defaults (gateway.Env.WithDefaults).
type Options struct {
	Store     Store
	Crypto    gateway.Crypto
	Directory *gateway.Directory
	gateway.Env
	// Cache, when set, answers repeated lookups of a found license
	// without asking its library again (see README: revocation
	// trade-off). Nil means every verification asks the library.
	Cache Cache
	// Zone is where "today" is decided for validity dates; nil means
	// China Standard Time (UTC+8), the zone licenses' dates are written
	// in.
	Zone *time.Location
	// Circuit is the breaker kept per license library: after
	// Circuit.Failures lookups in a row that got no usable answer, the
	// library is not asked again for Circuit.Cooldown, and verifications
	// routed to it answer source_unavailable at once instead of after the
	// library's timeout. Zero Failures: no breaker.
	Circuit gateway.CircuitPolicy
}

// Service verifies licenses and lists usage records. It is safe for
// concurrent use.
type Service struct {
	store  Store
	crypto gateway.Crypto
	dir    *gateway.Directory
	env    gateway.Env
	cache  Cache
	zone   *time.Location
	// circuits are the libraries' breakers (see Options.Circuit).
	circuits *gateway.Circuits

	verifications metric.Int64Counter
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Crypto == nil || o.Directory == nil {
		return nil, errors.New("licenses: service needs a store, crypto and a directory")
	}
	s := &Service{store: o.Store, crypto: o.Crypto, dir: o.Directory, env: o.Env.WithDefaults(), cache: o.Cache, zone: o.Zone,
		circuits: gateway.NewCircuits(o.Circuit)}
	if s.zone == nil {
		s.zone = time.FixedZone("CST", 8*60*60) // UTC+8 without daylight saving
	}
	// An instrument the provider refuses is a no-op (the API's
	// guarantee), so metrics never fail a verification.
	s.verifications, _ = s.env.Telemetry.Meter().Int64Counter("tongban.license.verifications", metric.WithUnit("{verification}"),
		metric.WithDescription("License verifications by outcome (valid, expired, revoked, mismatch, not_found, ...) and whether the answer was cached."))
	if s.verifications == nil {
		s.verifications, _ = metricnoop.NewMeterProvider().Meter("tongban/gateway").Int64Counter("tongban.license.verifications")
	}
	return s, nil
}

// newID returns a fresh UUIDv7 from the shared source.
func (s *Service) newID() (string, error) { return s.env.IDs.Next(s.env.Clock.Now()) }
