package outbox

import (
	"time"

	"github.com/tongban/tongban/gateway"
)

// The outbox's defaults, in one place. A zero field of Env or
// DispatcherOptions means:
//
//   - Env.Env: the kernel's defaults (gateway.Env.WithDefaults: system
//     clock, slog.Default, no spans or metrics, no evidence records);
//   - Env.AckEffect: an acknowledgement leaves its case as it is (only
//     UpdatedAt moves);
//   - DispatcherOptions.Batch: DefaultBatch deliveries claimed per round;
//   - DispatcherOptions.Workers: DefaultWorkers concurrent attempts;
//   - DispatcherOptions.Lease: DefaultLease per claim;
//   - DispatcherOptions.Poll: DefaultPoll, the longest idle sleep;
//   - DispatcherOptions.Floor: DefaultFloor, the shortest idle sleep;
//   - DispatcherOptions.PerPartner: Workers (no limit below the pool's);
//   - DispatcherOptions.Circuit: no circuit breaker (Failures 0);
//   - DispatcherOptions.UsageLinger: DefaultUsageLinger (negative: none);
//   - DispatcherOptions.Seed: a random jitter seed.
//
// The retry policy's and the mailbox's defaults are the kernel's
// (gateway.DefaultMaxAttempts, gateway.DefaultVisibility, ...), filled in
// by gateway.NewDirectory.
const (
	DefaultBatch   = 64
	DefaultWorkers = 32
	DefaultLease   = 2 * time.Minute
	DefaultPoll    = time.Second
	DefaultFloor   = 20 * time.Millisecond
	// DefaultUsageLinger is how long a batch of usage records that is not
	// full waits for more records to the same issuer before it is sent:
	// usage records are not urgent, and under a steady trickle of
	// verifications it makes batches of many records instead of many
	// batches of one.
	DefaultUsageLinger = 100 * time.Millisecond
)

// Env is what every part of the outbox is handed from the kernel: the
// sub-domains' common environment (clock, log, telemetry, evidence
// recorder) and the effect of an acknowledgement on its case.
type Env struct {
	gateway.Env
	// AckEffect changes a case when one of its deliveries is
	// acknowledged (the cases package's).
	AckEffect gateway.AckEffect
}

// withDefaults returns e with its zero fields filled (see the defaults
// above).
func (e Env) withDefaults() Env {
	e.Env = e.Env.WithDefaults()
	return e
}

// DispatcherOptions tune the dispatcher; zero values take the defaults.
type DispatcherOptions struct {
	Batch   int           // deliveries claimed per round
	Workers int           // concurrent attempts
	Lease   time.Duration // claim lease; must exceed one attempt
	Poll    time.Duration // longest idle sleep
	Floor   time.Duration // shortest idle sleep
	Seed    uint64        // jitter seed; 0 = random
	// PerPartner bounds the attempts to one partner in flight at once
	// (at most Workers): a partner that hangs holds at most this many
	// workers, and the others keep delivering.
	PerPartner int
	// Circuit is the breaker kept per pushing partner: while a partner's
	// circuit is open its deliveries are put back without an attempt.
	// Failures counts attempts in a row that got no answer (a permanent
	// refusal is an answer).
	Circuit gateway.CircuitPolicy
	// UsageLinger is how long a batch of usage records to an issuer that
	// takes batches (gateway.Library.Batching) waits, once admitted, for
	// more due records to the same issuer to join it before it is sent,
	// unless it fills up first; negative: it is sent at once with the
	// records claimed with it. It holds its partner's attempt slot while it
	// waits, and must stay far below Lease.
	UsageLinger time.Duration
}

// withDefaults returns o with its zero fields filled (see the defaults
// above), Seed excepted.
func (o DispatcherOptions) withDefaults() DispatcherOptions {
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Floor <= 0 {
		o.Floor = DefaultFloor
	}
	if o.PerPartner <= 0 || o.PerPartner > o.Workers {
		o.PerPartner = o.Workers
	}
	if o.UsageLinger == 0 {
		o.UsageLinger = DefaultUsageLinger
	}
	return o
}
