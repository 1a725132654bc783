// Package licensecache is the gateway's optional short-lived cache of
// license records (licenses.Cache), an expiring LRU from
// hashicorp/golang-lru. It is off unless configured: a cached answer can
// hide a revocation made at the issuer's library for up to the TTL, which
// the README weighs.
package licensecache

import (
	"errors"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/tongban/tongban/gateway/licenses"
)

// Bounds of the configuration.
const (
	// MaxTTL is the longest TTL accepted: a revocation must reach windows
	// within minutes, not hours.
	MaxTTL = 10 * time.Minute
	// DefaultSize is the number of records kept when Size is zero.
	DefaultSize = 10000
)

// Cache keeps at most Size records, each for at most TTL after it was
// added. It is safe for concurrent use.
type Cache struct {
	lru *expirable.LRU[string, licenses.CachedLicense]
}

var _ licenses.Cache = (*Cache)(nil)

// New returns a cache keeping up to size records (0: DefaultSize) for ttl
// each. ttl must be positive and at most MaxTTL.
func New(size int, ttl time.Duration) (*Cache, error) {
	switch {
	case ttl <= 0:
		return nil, errors.New("licensecache: ttl must be positive")
	case ttl > MaxTTL:
		return nil, errors.New("licensecache: ttl must be at most " + MaxTTL.String())
	case size < 0:
		return nil, errors.New("licensecache: size must not be negative")
	}
	if size == 0 {
		size = DefaultSize
	}
	return &Cache{lru: expirable.NewLRU[string, licenses.CachedLicense](size, nil, ttl)}, nil
}

// Get returns the record cached under key, if it has not expired.
func (c *Cache) Get(key string) (licenses.CachedLicense, bool) { return c.lru.Get(key) }

// Add caches v under key for the TTL, evicting the least recently used
// record when the cache is full.
func (c *Cache) Add(key string, v licenses.CachedLicense) { c.lru.Add(key, v) }

// Len returns the number of records held (expired ones may linger until
// the next clean-up).
func (c *Cache) Len() int { return c.lru.Len() }
