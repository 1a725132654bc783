package httpapi

import (
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
)

// BenchmarkRateLimitBucket is the limiter's cost per request: find the
// caller's bucket (among 1,000 callers) and take a token.
func BenchmarkRateLimitBucket(b *testing.B) {
	l := RateLimit{PerSecond: 1e9, Burst: 1 << 30}
	r := newRateLimiter(RateLimits{PerCaller: l}, noop.NewMeterProvider().Meter("bench"))
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = strconv.Itoa(320000 + i)
	}
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !r.callers.get(ids[i%len(ids)], l).AllowN(now, 1) {
			b.Fatal("refused under a limit it cannot reach")
		}
		i++
	}
}
