package outbox

import (
	"context"
	"log/slog"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// The outbox's defaults, in one place. A zero field of Env or
// DispatcherOptions means:
//
//   - Env.Clock: gateway.SystemClock;
//   - Env.Log: slog.Default();
//   - Env.Telemetry: no spans, no metrics;
//   - Env.Recorder: no evidence records;
//   - Env.AckEffect: an acknowledgement leaves its case as it is (only
//     UpdatedAt moves);
//   - DispatcherOptions.Batch: DefaultBatch deliveries claimed per round;
//   - DispatcherOptions.Workers: DefaultWorkers concurrent attempts;
//   - DispatcherOptions.Lease: DefaultLease per claim;
//   - DispatcherOptions.Poll: DefaultPoll, the longest idle sleep;
//   - DispatcherOptions.Floor: DefaultFloor, the shortest idle sleep;
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
)

// Env is what every part of the outbox is handed from the kernel: its
// clock, log, telemetry, evidence recorder and the effect of an
// acknowledgement on its case.
type Env struct {
	Clock     gateway.Clock
	Log       *slog.Logger
	Telemetry gateway.Telemetry
	// Recorder builds the evidence records of attempts, offers and
	// redeliveries, written with each step.
	Recorder gateway.Recorder
	// AckEffect changes a case when one of its deliveries is
	// acknowledged (the cases package's).
	AckEffect gateway.AckEffect
}

// withDefaults returns e with its zero fields filled (see the defaults
// above).
func (e Env) withDefaults() Env {
	if e.Clock == nil {
		e.Clock = gateway.SystemClock{}
	}
	if e.Log == nil {
		e.Log = slog.Default()
	}
	if e.Recorder == nil {
		e.Recorder = noEvidence{}
	}
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
	return o
}

// noEvidence is the recorder of an outbox given none: it keeps no
// evidence.
type noEvidence struct{}

// Exchange returns no record.
func (noEvidence) Exchange(context.Context, gateway.Inbound, *gateway.Exchange, *gateway.Case, string, *gateway.Delivery, string, func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord {
	return nil
}

// Attempt returns no record.
func (noEvidence) Attempt(*gateway.Delivery, time.Time, string, time.Duration, contracts.CaseState) []contracts.EvidenceRecord {
	return nil
}

// Verification returns no record.
func (noEvidence) Verification(context.Context, gateway.Inbound, gateway.UsageEntry, *gateway.Delivery, string, string) []contracts.EvidenceRecord {
	return nil
}

// Redelivery returns no record.
func (noEvidence) Redelivery(context.Context, gateway.Principal, time.Time, string, string) []contracts.EvidenceRecord {
	return nil
}
