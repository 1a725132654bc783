package gateway

import (
	"time"

	"github.com/tongban/tongban/gateway/port"
)

// The domain's defaults, in one place: what a zero setting of a partner,
// its retry policy, its mailbox or its license library means. The
// configuration file leaves these settings zero unless an operator sets
// them; NewDirectory fills them from here.
const (
	// DefaultPartnerTimeout bounds one delivery attempt.
	DefaultPartnerTimeout = port.DefaultTimeout
	// DefaultVisibility is how long a mailbox message handed out stays
	// hidden from later polls.
	DefaultVisibility = 30 * time.Second
	// DefaultLookupTimeout bounds one license lookup: a window waits at
	// most this long for an answer.
	DefaultLookupTimeout = 2 * time.Second
	// DefaultMaxAttempts, DefaultMaxAge, DefaultBaseDelay and
	// DefaultMaxDelay are the retry policy's defaults. The attempts are
	// sized so that the age is what ends retrying: the backoff (1 s
	// doubling to 10 min) spends 160 attempts in about 25 hours, so a
	// district down for up to a day gets everything once it is back,
	// with no operator. A delivery a partner refuses permanently is a
	// dead letter at once, whatever the count.
	DefaultMaxAttempts = 160
	DefaultMaxAge      = 24 * time.Hour
	DefaultBaseDelay   = time.Second
	DefaultMaxDelay    = 10 * time.Minute
)

// AttemptBound is the longest one delivery attempt to a partner with
// timeout may take: three times the timeout (an adapter may retry inside
// an attempt), and never less than three seconds. A delivery's lease must
// outlast it, or a second dispatcher could take a delivery still being
// attempted.
func AttemptBound(timeout time.Duration) time.Duration { return max(timeout, time.Second) * 3 }

// RetryPolicy says how long the outbox keeps trying one delivery.
type RetryPolicy struct {
	MaxAttempts int           // attempts before dead letter; default DefaultMaxAttempts
	MaxAge      time.Duration // age before dead letter; default DefaultMaxAge
	BaseDelay   time.Duration // first retry delay; default DefaultBaseDelay
	MaxDelay    time.Duration // cap of the exponential delay; default DefaultMaxDelay
}

// WithDefaults fills zero fields with the defaults.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MaxAge <= 0 {
		p.MaxAge = DefaultMaxAge
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	return p
}
