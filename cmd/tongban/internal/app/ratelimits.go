package app

import (
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/httpapi"
)

// rateLimits turns the configuration's limits.rate into the HTTP layer's
// (none when off). The limits hold per gateway process: each replica
// keeps its own buckets.
func rateLimits(c config.RateLimits) httpapi.RateLimits {
	if c.Off {
		return httpapi.RateLimits{}
	}
	conv := func(r config.Rate) httpapi.RateLimit {
		return httpapi.RateLimit{PerSecond: float64(r.Rate), Burst: r.Burst}
	}
	out := httpapi.RateLimits{PerCaller: conv(c.PerCaller), Anonymous: conv(c.Anonymous)}
	if len(c.Partners) > 0 {
		out.Partners = make(map[string]httpapi.RateLimit, len(c.Partners))
		for id, r := range c.Partners {
			out.Partners[id] = conv(r)
		}
	}
	return out
}
