package keyring

// CacheLen returns the number of tokens the cache remembers (0 when disabled).
func (k *Keyring) CacheLen() int {
	if k.cache == nil {
		return 0
	}
	return k.cache.len()
}

// CacheHits returns how many verifications were answered from the cache.
func (k *Keyring) CacheHits() uint64 {
	if k.cache == nil {
		return 0
	}
	return k.cache.hits.Load()
}
