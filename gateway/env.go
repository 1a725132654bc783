package gateway

import (
	"context"
	"crypto/rand"
	"log/slog"
	"time"

	"github.com/tongban/tongban/contracts"
)

// Env is what every sub-domain service is handed besides its store and
// its own settings: the clock, the id source, the log, telemetry, the
// evidence recorder and the outbox's wake-up. gateway/node gives every
// sub-domain the same one.
type Env struct {
	Clock Clock // nil: SystemClock
	// IDs is the id source the sub-domains share, so that every id the
	// gateway makes sorts in the order it was made; nil: a source of its
	// own reading crypto/rand.
	IDs       *contracts.UUIDv7Source
	Log       *slog.Logger // nil: slog.Default()
	Telemetry Telemetry    // zero: no spans, no metrics
	// Recorder builds the evidence records of each step; nil keeps none
	// (only a benchmark measuring what the log costs runs without it).
	Recorder Recorder
	// Wake is called after new deliveries are stored (the outbox's Wake:
	// it wakes the dispatcher and waiting mailbox polls); nil does
	// nothing.
	Wake func()
}

// WithDefaults returns e with its zero fields filled as documented on
// each field.
func (e Env) WithDefaults() Env {
	if e.Clock == nil {
		e.Clock = SystemClock{}
	}
	if e.IDs == nil {
		e.IDs = contracts.NewUUIDv7Source(rand.Reader)
	}
	if e.Log == nil {
		e.Log = slog.Default()
	}
	if e.Recorder == nil {
		e.Recorder = noRecorder{}
	}
	if e.Wake == nil {
		e.Wake = func() {}
	}
	return e
}

// noRecorder keeps no evidence.
type noRecorder struct{}

func (noRecorder) Exchange(context.Context, Inbound, *Exchange, *Case, string, *Delivery, string, func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord {
	return nil
}

func (noRecorder) Attempt(*Delivery, time.Time, string, time.Duration, contracts.CaseState) []contracts.EvidenceRecord {
	return nil
}

func (noRecorder) BatchAttempt(*Delivery, time.Time, string, time.Duration, string, string) []contracts.EvidenceRecord {
	return nil
}

func (noRecorder) Verification(context.Context, Inbound, UsageEntry, *Delivery, string, string) []contracts.EvidenceRecord {
	return nil
}

func (noRecorder) Redelivery(context.Context, Principal, time.Time, string, string) []contracts.EvidenceRecord {
	return nil
}

func (noRecorder) Administration(context.Context, *Case, time.Time, string, *Delivery, func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord {
	return nil
}

func (noRecorder) AdminChange(context.Context, AdminChange) []contracts.EvidenceRecord { return nil }
