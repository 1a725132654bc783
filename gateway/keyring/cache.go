package keyring

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tongban/tongban/gateway"
)

// evictSample is how many entries a full cache looks at to make room: it
// drops the expired ones among them, or else the one expiring first.
const evictSample = 8

// tokenCache remembers verified tokens, keyed by the SHA-256 of the token
// string, until their exp. It holds at most max entries.
//
// gen counts key removals. A verification reads gen before it looks up the
// key and may store its result only if gen is unchanged, so a result
// computed with a key that was removed meanwhile is never stored.
type tokenCache struct {
	max  int
	hits atomic.Uint64 // answered from memory; read by tests

	mu  sync.RWMutex
	gen uint64
	m   map[[sha256.Size]byte]gateway.TokenInfo
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[[sha256.Size]byte]gateway.TokenInfo)}
}

// get returns the remembered info of token id if it has not expired at now,
// and the generation a verification started now must pass to put.
func (c *tokenCache) get(id [sha256.Size]byte, now time.Time) (info gateway.TokenInfo, hit bool, gen uint64) {
	c.mu.RLock()
	info, ok := c.m[id]
	gen = c.gen
	c.mu.RUnlock()
	if !ok {
		return gateway.TokenInfo{}, false, gen
	}
	if now.Before(info.Expires) {
		c.hits.Add(1)
		return info, true, gen
	}
	c.mu.Lock()
	if cur, ok := c.m[id]; ok && !now.Before(cur.Expires) {
		delete(c.m, id)
	}
	gen = c.gen
	c.mu.Unlock()
	return gateway.TokenInfo{}, false, gen
}

// put remembers info for token id unless a key was removed since gen was
// read or the token has already expired at now. A full cache makes room
// first.
func (c *tokenCache) put(id [sha256.Size]byte, info gateway.TokenInfo, gen uint64, now time.Time) {
	if !now.Before(info.Expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= c.max {
		c.evict(now)
	}
	c.m[id] = info
}

// evict drops at least one entry: the expired ones among a sample of
// entries (map order is randomized), or else the sampled one that expires
// first. The caller holds c.mu.
func (c *tokenCache) evict(now time.Time) {
	var (
		victim    [sha256.Size]byte
		victimExp time.Time
		seen      int
		freed     bool
	)
	for id, info := range c.m {
		switch {
		case !now.Before(info.Expires):
			delete(c.m, id)
			freed = true
		case seen == 0 || info.Expires.Before(victimExp):
			victim, victimExp = id, info.Expires
		}
		seen++
		if seen == evictSample {
			break
		}
	}
	if !freed && seen > 0 {
		delete(c.m, victim)
	}
}

// forget drops every token verified with keyID and refuses results of
// verifications still in progress.
func (c *tokenCache) forget(keyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for id, info := range c.m {
		if info.KeyID == keyID {
			delete(c.m, id)
		}
	}
}

// len returns the number of remembered tokens.
func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
