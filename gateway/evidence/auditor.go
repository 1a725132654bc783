package evidence

import (
	"context"
	"errors"
	"log/slog"

	"github.com/tongban/tongban/gateway"
)

// AuditStore is what the Auditor reads and writes: the log and its
// checkpoints, the audit reads, and the exchanges, cases and deliveries
// the records name.
type AuditStore interface {
	gateway.EvidenceLog
	gateway.AuditReader
	GetExchange(ctx context.Context, sender, exchangeID string) (*gateway.Exchange, error)
	GetCase(ctx context.Context, id string) (*gateway.Case, error)
	GetDelivery(ctx context.Context, id string) (*gateway.Delivery, error)
}

// Auditor answers auditors (search, case trace, chain verification,
// evidence bundles), signs checkpoints of the log's head, and records the
// steps no sub-domain takes: access denials and the gateway's start. It
// is safe for concurrent use.
type Auditor struct {
	store       AuditStore
	crypto      gateway.Crypto
	clock       gateway.Clock
	log         *slog.Logger
	gatewayID   string
	off         bool
	denials     denialGate
	checkpoints *Checkpointer
	verifyRange int64
}

// Options wire an Auditor.
type Options struct {
	Store  AuditStore
	Crypto gateway.Crypto
	Clock  gateway.Clock // nil: gateway.SystemClock
	Log    *slog.Logger  // nil: slog.Default()
	// GatewayID names the gateway in evidence bundles and its start
	// records.
	GatewayID string
	// Checkpoints tune the signed checkpoints.
	Checkpoints CheckpointOptions
	// Off writes no denial or start records (see Recorder.Off).
	Off bool
	// MaxVerifyRange bounds one VerifyEvidence walk; zero means
	// MaxVerifyRange. Tests lower it.
	MaxVerifyRange int64
}

// NewAuditor returns an Auditor.
func NewAuditor(o Options) (*Auditor, error) {
	if o.Store == nil || o.Crypto == nil {
		return nil, errors.New("evidence: the auditor needs a store and crypto")
	}
	a := &Auditor{store: o.Store, crypto: o.Crypto, clock: o.Clock, log: o.Log, gatewayID: o.GatewayID, off: o.Off, verifyRange: o.MaxVerifyRange}
	if a.clock == nil {
		a.clock = gateway.SystemClock{}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.verifyRange <= 0 {
		a.verifyRange = MaxVerifyRange
	}
	a.checkpoints = NewCheckpointer(o.Store, o.Crypto, a.clock, a.log, o.Checkpoints)
	return a, nil
}

// Checkpointer returns the auditor's checkpointer; run it
// (Checkpointer.Run) for as long as the gateway serves.
func (s *Auditor) Checkpointer() *Checkpointer { return s.checkpoints }
