package httpapi

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/time/rate"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// RateLimit is a token bucket: PerSecond requests a second on average,
// up to Burst at once. PerSecond zero (or less) means no limit.
type RateLimit struct {
	PerSecond float64
	Burst     int // at least 1 when PerSecond is set
}

// on reports whether l limits anything.
func (l RateLimit) on() bool { return l.PerSecond > 0 }

// RateLimits bound how fast the gateway serves each caller. A request
// over its limit is answered 429 rate_limited with a Retry-After header
// (whole seconds) and counted in MetricRateLimited; it reaches no
// handler and writes no evidence. The buckets live in this process: with
// several replicas behind a balancer, each replica allows the whole
// limit, so a caller spread over n replicas gets up to n times it. The
// zero value limits nothing.
type RateLimits struct {
	// PerCaller bounds each authenticated caller that has no entry in
	// Partners.
	PerCaller RateLimit
	// Partners bound the callers they name (by caller id) instead of
	// PerCaller.
	Partners map[string]RateLimit
	// Anonymous bounds, per client address, the requests that fail
	// authentication (no token, a bad or expired one, an unknown key or
	// caller). A client address whose bucket is empty is answered 429
	// before its token is even verified, so a flood of bad tokens costs
	// one map lookup each, not an SM2 verification; requests with valid
	// tokens never take from it. The address is the connection's remote
	// IP (X-Forwarded-For is not trusted): behind a reverse proxy, all
	// clients share the proxy's bucket.
	Anonymous RateLimit
	// Now is the buckets' clock; nil means time.Now.
	Now func() time.Time
}

// MetricRateLimited counts the requests answered 429 rate_limited, by
// route, scope (caller: an authenticated caller over its limit;
// anonymous: a client address over its failed-authentication limit) and
// caller (none for anonymous ones). Prometheus shows it as
// tongban_http_rate_limited_total.
const MetricRateLimited = "tongban.http.rate_limited"

// Bounds of the bucket maps: the least recently used bucket is forgotten
// beyond them (and starts full again if its key comes back).
const (
	maxCallerBuckets  = 4096  // callers are configured partners: far fewer
	maxAddressBuckets = 16384 // client addresses failing authentication
)

// Scopes of MetricRateLimited.
const (
	scopeCaller    = "caller"
	scopeAnonymous = "anonymous"
)

// rateLimiter enforces RateLimits.
type rateLimiter struct {
	limits  RateLimits
	now     func() time.Time
	callers buckets
	addrs   buckets
	refused metric.Int64Counter
}

func newRateLimiter(l RateLimits, m metric.Meter) *rateLimiter {
	refused, err := m.Int64Counter(MetricRateLimited, metric.WithUnit("{request}"),
		metric.WithDescription("Requests answered 429 rate_limited, by route, scope (caller or anonymous) and caller."))
	if err != nil {
		panic(err) // a constant, valid name
	}
	r := &rateLimiter{limits: l, now: l.Now, refused: refused}
	if r.now == nil {
		r.now = time.Now
	}
	r.callers.lru, _ = simplelru.NewLRU[string, *rate.Limiter](maxCallerBuckets, nil) // positive size: cannot fail
	r.addrs.lru, _ = simplelru.NewLRU[string, *rate.Limiter](maxAddressBuckets, nil)
	return r
}

// buckets are token buckets by key, at most the LRU's size of them.
type buckets struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, *rate.Limiter]
}

// get returns key's bucket, made with l when new.
func (b *buckets) get(key string, l RateLimit) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	lim, ok := b.lru.Get(key)
	if !ok {
		lim = rate.NewLimiter(rate.Limit(l.PerSecond), max(l.Burst, 1))
		b.lru.Add(key, lim)
	}
	return lim
}

// limitCallers answers 429 to an authenticated caller over its limit; it
// runs right after authenticate.
func (r *rateLimiter) limitCallers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := principal(c).ID()
		l, ok := r.limits.Partners[id]
		if !ok {
			l = r.limits.PerCaller
		}
		if !l.on() {
			return next(c)
		}
		now := r.now()
		lim := r.callers.get(id, l)
		if !lim.AllowN(now, 1) {
			return r.refuse(c, scopeCaller, id, lim, now, "too many requests from caller "+id)
		}
		return next(c)
	}
}

// limitAnonymous answers 429, before authentication, to a client address
// that used up its budget of failed authentications, and charges a
// failed authentication to its address; it runs right before
// authenticate.
func (r *rateLimiter) limitAnonymous(next echo.HandlerFunc) echo.HandlerFunc {
	if !r.limits.Anonymous.on() {
		return next
	}
	return func(c echo.Context) error {
		addr := clientAddr(c.Request())
		now := r.now()
		lim := r.addrs.get(addr, r.limits.Anonymous)
		if lim.TokensAt(now) < 1 {
			return r.refuse(c, scopeAnonymous, callerNone, lim, now, "too many requests without valid credentials from this address")
		}
		err := next(c)
		if _, authenticated := c.Get(principalKey).(gateway.Principal); !authenticated && err != nil {
			lim.AllowN(now, 1) // takes a token if one is left; the next request sees the bucket empty
		}
		return err
	}
}

// refuse counts a refusal and answers 429 rate_limited with Retry-After:
// the whole seconds until lim has a token again (at least 1).
func (r *rateLimiter) refuse(c echo.Context, scope, caller string, lim *rate.Limiter, now time.Time, msg string) error {
	wait := 1.0
	if perSecond := float64(lim.Limit()); perSecond > 0 {
		wait = math.Max(1, math.Ceil((1-lim.TokensAt(now))/perSecond))
	}
	secs := strconv.Itoa(int(math.Min(wait, 3600)))
	c.Response().Header().Set("Retry-After", secs)
	r.refused.Add(c.Request().Context(), 1, metric.WithAttributes(
		attribute.String(attrRoute, routeOf(c)), attribute.String("tongban.scope", scope), attribute.String(attrCaller, caller)))
	return &gateway.Error{Code: contracts.CodeRateLimited, Message: msg + "; retry after " + secs + " s"}
}

// clientAddr is the IP of the request's connection (RemoteAddr without
// its port); headers a client can set are not trusted.
func clientAddr(req *http.Request) string {
	if host, _, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		return host
	}
	return req.RemoteAddr
}
