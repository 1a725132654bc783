package gateway

import (
	"fmt"
	"slices"
	"time"

	"github.com/tongban/tongban/contracts"
)

// RetryPolicy says how long the outbox keeps trying one delivery.
type RetryPolicy struct {
	MaxAttempts int           // attempts before dead letter; default 12
	MaxAge      time.Duration // age before dead letter; default 24h
	BaseDelay   time.Duration // first retry delay; default 1s
	MaxDelay    time.Duration // cap of the exponential delay; default 10m
}

// WithDefaults fills zero fields with the defaults.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 12
	}
	if p.MaxAge <= 0 {
		p.MaxAge = 24 * time.Hour
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 10 * time.Minute
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	return p
}

// Partner is one caller known to the gateway: a district system, a window,
// an auditor or an operator. Only partners with role partner and an Adapter
// receive deliveries.
type Partner struct {
	ID      string
	Roles   []contracts.Role
	Regions []string // GB/T 2260 codes this caller serves
	Adapter Adapter  // nil for callers that receive nothing
	Retry   RetryPolicy
	Timeout time.Duration // per delivery attempt
}

// Has reports whether the partner holds role r.
func (p *Partner) Has(r contracts.Role) bool { return slices.Contains(p.Roles, r) }

// Serves reports whether region is one of the partner's regions or lies
// inside one (a partner serving city 320400 serves district 320404).
func (p *Partner) Serves(region string) bool {
	for _, r := range contracts.RegionFallbacks(region) {
		if slices.Contains(p.Regions, r) {
			return true
		}
	}
	return false
}

// Directory holds the configured partners and routes regions to them.
// It is immutable once built.
type Directory struct {
	byID     map[string]*Partner
	byRegion map[string]*Partner // delivering partners only
}

// NewDirectory checks the partners and builds the routing table: ids are
// unique, regions valid, roles known, and no two delivering partners claim
// the same region.
func NewDirectory(partners []*Partner) (*Directory, error) {
	d := &Directory{byID: map[string]*Partner{}, byRegion: map[string]*Partner{}}
	for i, p := range partners {
		if p.ID == "" {
			return nil, fmt.Errorf("partners[%d]: id is required", i)
		}
		if _, dup := d.byID[p.ID]; dup {
			return nil, fmt.Errorf("partners[%d]: id %q appears twice", i, p.ID)
		}
		if len(p.Roles) == 0 {
			return nil, fmt.Errorf("partner %s: at least one role is required", p.ID)
		}
		for _, r := range p.Roles {
			if !r.Valid() {
				return nil, fmt.Errorf("partner %s: unknown role %q", p.ID, r)
			}
		}
		for _, r := range p.Regions {
			if err := contracts.ValidateRegion(r); err != nil {
				return nil, fmt.Errorf("partner %s: region %q: %v", p.ID, r, err)
			}
		}
		if p.Has(contracts.RolePartner) && p.Adapter == nil {
			return nil, fmt.Errorf("partner %s: role partner needs an adapter", p.ID)
		}
		p.Retry = p.Retry.WithDefaults()
		if p.Timeout <= 0 {
			p.Timeout = 10 * time.Second
		}
		d.byID[p.ID] = p
		if p.Has(contracts.RolePartner) {
			for _, r := range p.Regions {
				if other, dup := d.byRegion[r]; dup {
					return nil, fmt.Errorf("region %s is served by both %s and %s", r, other.ID, p.ID)
				}
				d.byRegion[r] = p
			}
		}
	}
	return d, nil
}

// Get returns the partner with id, or nil.
func (d *Directory) Get(id string) *Partner { return d.byID[id] }

// Route returns the delivering partner for region, trying the district,
// then its city, then its province.
func (d *Directory) Route(region string) (*Partner, error) {
	for _, r := range contracts.RegionFallbacks(region) {
		if p, ok := d.byRegion[r]; ok {
			return p, nil
		}
	}
	return nil, failf(contracts.CodeNoRoute, "no partner serves region %s (district, city or province)", region)
}
