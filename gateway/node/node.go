// Package node assembles the core of one gateway node: the sub-domain
// services (cases, licenses, outbox, evidence) over one store, sharing one
// clock, one id source, one telemetry, one evidence recorder and the
// outbox's wake-up, with the cases package's acknowledgement hook plugged
// into the outbox. It is the only package that knows every sub-domain;
// the sub-domains know only the kernel.
package node

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/cases"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/licenses"
	"github.com/tongban/tongban/gateway/outbox"
)

// Options wire a node's core. Store, Crypto and Directory are required.
type Options struct {
	Store     gateway.Store
	Crypto    gateway.Crypto
	Directory *gateway.Directory
	Clock     gateway.Clock // nil: gateway.SystemClock
	Rand      io.Reader     // ids; nil: crypto/rand
	Log       *slog.Logger  // nil: slog.Default()
	Telemetry gateway.Telemetry
	// GatewayID names the gateway in evidence bundles and its start
	// record.
	GatewayID string
	// LicenseCache, when set, answers repeated lookups of a found
	// license (see licenses.Options.Cache).
	LicenseCache licenses.Cache
	// LicenseZone decides "today" for validity dates; nil: China
	// Standard Time.
	LicenseZone *time.Location
	// LicenseCircuit is the breaker kept per license library (see
	// licenses.Options.Circuit); zero: none.
	LicenseCircuit gateway.CircuitPolicy
	// Dispatcher tunes the outbox's dispatcher.
	Dispatcher outbox.DispatcherOptions
	// Checkpoints tune the evidence log's signed checkpoints.
	Checkpoints evidence.CheckpointOptions
	// NoEvidence turns the evidence log off. It exists to measure what
	// the log costs (BenchmarkCaseSubmit/evidence_off); a gateway in
	// service always keeps it, and its configuration has no such switch.
	NoEvidence bool
	// MaxVerifyRange bounds one chain verification walk (tests lower
	// it); zero: evidence.MaxVerifyRange.
	MaxVerifyRange int64
	// AllowHTTPMaterialURLs lets submissions name materials by http URL
	// (limits.allow_http_material_urls); by default only https.
	AllowHTTPMaterialURLs bool
	// Administration is the catalogue, calendar and evaluation settings
	// of the cases service (see cases.Administration).
	Administration cases.Administration
}

// Core is one node's core: every service an API or a CLI calls.
type Core struct {
	Cases    *cases.Service
	Licenses *licenses.Service
	Outbox   *outbox.Outbox
	Auditor  *evidence.Auditor
}

// New wires a node's core from o.
func New(o Options) (*Core, error) {
	if o.Store == nil || o.Crypto == nil || o.Directory == nil {
		return nil, errors.New("node: a store, crypto and a directory are required")
	}
	if o.Clock == nil {
		o.Clock = gateway.SystemClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	env := gateway.Env{Clock: o.Clock, IDs: contracts.NewUUIDv7Source(o.Rand), Log: o.Log, Telemetry: o.Telemetry,
		Recorder: evidence.Recorder{Crypto: o.Crypto, Off: o.NoEvidence}}
	ob, err := outbox.New(outbox.Options{
		Store: o.Store, Directory: o.Directory, Crypto: o.Crypto, Dispatcher: o.Dispatcher,
		Env: outbox.Env{Env: env, AckEffect: cases.AckEffect},
	})
	if err != nil {
		return nil, err
	}
	env.Wake = ob.Wake
	cs, err := cases.New(cases.Options{Store: o.Store, Crypto: o.Crypto, Directory: o.Directory, Env: env,
		Validation: contracts.ValidationOptions{AllowHTTPMaterialURLs: o.AllowHTTPMaterialURLs}, Administration: o.Administration})
	if err != nil {
		return nil, err
	}
	ls, err := licenses.New(licenses.Options{
		Store: o.Store, Crypto: o.Crypto, Directory: o.Directory, Env: env, Cache: o.LicenseCache, Zone: o.LicenseZone,
		Circuit: o.LicenseCircuit,
	})
	if err != nil {
		return nil, err
	}
	au, err := evidence.NewAuditor(evidence.Options{
		Store: o.Store, Crypto: o.Crypto, Clock: o.Clock, Log: o.Log, GatewayID: o.GatewayID,
		Checkpoints: o.Checkpoints, Off: o.NoEvidence, MaxVerifyRange: o.MaxVerifyRange,
	})
	if err != nil {
		return nil, err
	}
	return &Core{Cases: cs, Licenses: ls, Outbox: ob, Auditor: au}, nil
}
