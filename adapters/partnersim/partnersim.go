// Package partnersim is a simulated partner district system of any adapter
// style. It receives the gateway's signed deliveries (pushed to its HTTP
// handler, or pulled from its mailbox), answers them with signed
// acknowledgements carrying its own case numbers (办件编号), and then moves
// every case it owns through the lifecycle by reporting signed status
// updates back to the gateway, as a real district system would, in its
// style's own format. It also runs the district's license library
// (证照库): it answers signed license lookups from a seeded set of licenses
// (by default DemoLicenses, one license per DemoRole, of its own region, or
// of Config.LicenseRegions for a library holding several regions', such as
// the simulated national library of NationalRegions) and takes the usage
// records (用证记录) the gateway passes back. It takes the notices the
// gateway sends about its cases (deadline warnings, evaluations and their
// follow-ups, cancelled parts) and, as a case's owner, answers a negative
// evaluation with a signed follow-up reply, on demand
// (ReplyToEvaluation) or by itself (Config.AutoReply).
//
// A style is spoken through its adapters.PartnerSide: the partner's end of
// the same protocol the gateway's adapter speaks (see StyleSide). Faults
// can be switched on and off at run time so tests, the demo and
// `tongban partnersim` can show retries, dead letters, recovery, duplicate
// callbacks and an unavailable library.
package partnersim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mailbox"
	"github.com/tongban/tongban/contracts"
)

// GatewayCaller is the caller id under which the simulator's Crypto must
// know the gateway's keys: deliveries are verified with
// VerifyBody(GatewayCaller, Gw-Key-Id, body, Gw-Signature).
const GatewayCaller = "gateway"

// Defaults and bounds.
const (
	// DefaultStep is the delay between two status reports of one case.
	DefaultStep = 200 * time.Millisecond
	// MaxBodySize bounds a delivery body the simulator reads.
	MaxBodySize = 32 << 20
	// ReportAttempts bounds how often one status report is tried before
	// the simulator gives up on the case: with the backoff (50 ms doubling
	// to 2 s) about 20 s, enough to ride out a replica's restart on a
	// loaded machine.
	ReportAttempts = 16
	// reportBackoffMin and reportBackoffMax bound the pause between tries.
	reportBackoffMin = 50 * time.Millisecond
	reportBackoffMax = 2 * time.Second
	// pollWait is how long a mailbox poll waits for a message.
	pollWait = 10 * time.Second
)

// DefaultProgress is the lifecycle the simulator reports for each case it
// owns when Config.Progress is empty.
var DefaultProgress = []contracts.CaseState{
	contracts.CaseStateAccepted,
	contracts.CaseStateInProgress,
	contracts.CaseStateConcluded,
	contracts.CaseStateDispatched,
	contracts.CaseStateDelivered,
}

// Faults are misbehaviours the simulator shows, counted from the moment
// they are set (New or SetFaults). FailFirst, ErrorRate, Delay, Hang,
// DropFirst, DropRate, BadSignature and Malformed apply to every request
// the handler serves, deliveries and license lookups alike; LookupDelay and
// LookupFail apply to lookups only. A pulling (mailbox) partner applies
// them to the messages it pulls: a failed or dropped message is left
// unacknowledged (the gateway offers it again after the visibility
// timeout), Delay holds each batch, and BadSignature and Malformed spoil
// its acknowledgements. DuplicateReports applies to the status updates
// the partner reports, whatever its style.
type Faults struct {
	// FailFirst answers the first N requests with a retryable refusal
	// (503 in the style's format).
	FailFirst int `json:"fail_first" yaml:"fail_first"`
	// ErrorRate answers this share of requests (0 to 1), at random, with
	// a retryable refusal.
	ErrorRate float64 `json:"error_rate" yaml:"error_rate"`
	// Delay holds every request this long before answering (or until the
	// caller gives up): latency.
	Delay time.Duration `json:"delay" yaml:"delay"`
	// Hang holds every request until the caller gives up: a timeout.
	Hang bool `json:"hang" yaml:"hang"`
	// DropFirst closes the connection without an answer for the first N
	// requests, after reading them (a crash before the acknowledgement).
	// It takes precedence over FailFirst.
	DropFirst int `json:"drop_first" yaml:"drop_first"`
	// DropRate drops this share of requests (0 to 1), at random.
	DropRate float64 `json:"drop_rate" yaml:"drop_rate"`
	// BadSignature sends acknowledgements and lookup answers whose
	// Gw-Signature does not verify. Stored acknowledgements stay correct,
	// so once the fault is cleared a repeated delivery gets a good
	// signature.
	BadSignature bool `json:"bad_signature" yaml:"bad_signature"`
	// Malformed sends answers that are not the message the gateway
	// expects (a correctly signed body of garbage; for a mailbox, an
	// acknowledgement of other bytes).
	Malformed bool `json:"malformed" yaml:"malformed"`
	// DuplicateReports sends every status update twice, the very same
	// bytes (a duplicate callback); the gateway must answer the second
	// with the original receipt.
	DuplicateReports bool `json:"duplicate_reports" yaml:"duplicate_reports"`
	// LookupDelay holds every license lookup this long before answering
	// (or until the caller gives up), after the faults above; deliveries
	// are not held.
	LookupDelay time.Duration `json:"lookup_delay" yaml:"lookup_delay"`
	// LookupFail answers every license lookup 503 (a library outage);
	// deliveries are served as usual.
	LookupFail bool `json:"lookup_fail" yaml:"lookup_fail"`
	// LeaveOutFirst leaves the first N usage records the partner is sent
	// in batches out of its batch acknowledgements, storing nothing of
	// them (a partial acknowledgement: the gateway retries them).
	LeaveOutFirst int `json:"leave_out_first" yaml:"leave_out_first"`
}

// check reports a fault setting out of range.
func (f Faults) check() error {
	switch {
	case f.FailFirst < 0 || f.DropFirst < 0 || f.Delay < 0 || f.LookupDelay < 0 || f.LeaveOutFirst < 0:
		return errors.New("partnersim: faults must not be negative")
	case f.ErrorRate < 0 || f.ErrorRate > 1 || f.DropRate < 0 || f.DropRate > 1:
		return errors.New("partnersim: fault rates must be from 0 to 1")
	}
	return nil
}

// Config describes one simulated partner.
type Config struct {
	// PartnerID is the partner's id and region, for example "330702"; it
	// prefixes the simulator's case numbers.
	PartnerID string
	// Style is the adapter style the partner speaks: standard (the
	// default), mapped-json, soap or mailbox (see StyleSide).
	Style string
	// StyleConfig is the style's block, the same one the gateway's
	// partner entry carries for this partner (its endpoint is not used
	// here). Standard and mailbox partners need none.
	StyleConfig json.RawMessage
	// Crypto is the partner's own key: Sign and KeyID for its
	// acknowledgements and status posts; VerifyBody(GatewayCaller, ...) to
	// check the gateway's deliveries; SM3Hex for digests.
	Crypto adapters.Crypto
	// GatewayURL is the gateway's base URL, for example
	// http://127.0.0.1:8080. Empty: the simulator only answers deliveries
	// and reports nothing (a mailbox partner then pulls nothing either).
	GatewayURL string
	// Token returns the bearer token for calls to the gateway; nil sends
	// none. A mailbox partner needs one.
	Token func() (string, error)
	// Progress is the lifecycle reported for each case the simulator owns;
	// empty means DefaultProgress.
	Progress []contracts.CaseState
	// Step is the delay before each report; zero means DefaultStep.
	Step time.Duration
	// Faults are the initial faults.
	Faults Faults
	// Seed seeds the random faults (ErrorRate, DropRate); 0 picks one.
	Seed uint64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf receives one line per notable event; nil discards them.
	Logf func(format string, args ...any)
	// NoReports turns the reporter off: the partner acknowledges what it
	// receives (a mailbox partner still pulls) and reports no status.
	NoReports bool
	// OnAck, when set, is told the kind and exchange id of every delivery
	// the partner acknowledged, once the acknowledgement is sent (the HTTP
	// answer written, or a mailbox batch acknowledged). Benchmarks use it.
	OnAck func(kind, exchangeID string)
	// Client makes the calls to the gateway; nil means a client with a
	// timeout longer than a mailbox poll's wait.
	Client *http.Client
	// Licenses is the license library lookups are answered from. nil means
	// the demo library: DemoLicenses of each of LicenseRegions, or, when
	// LicenseRegions is empty, DemoLicenses(PartnerID, Now()) when
	// PartnerID is a GB/T 2260 region code and an empty library otherwise.
	// A non-nil slice, even an empty one, is used as given (copied). Every
	// record must pass contracts.LicenseRecord.Validate and license ids
	// must be distinct.
	Licenses []contracts.LicenseRecord
	// AutoReply makes the simulator, as a case's owner, answer each
	// negative evaluation of a case it owns (an evaluation or overdue
	// follow-up notice whose follow-up is not answered) with a signed
	// follow-up reply, ReplyDelay after the notice came, once per case
	// (see ReplyToEvaluation). It needs GatewayURL and Start. Off by
	// default: tests and the demo reply on demand.
	AutoReply bool
	// ReplyDelay is the pause before an automatic reply; zero means Step.
	ReplyDelay time.Duration
	// ReplyMeasures is what an automatic reply says was done (整改措施);
	// "" means DefaultMeasures.
	ReplyMeasures string
	// LicenseRegions, when Licenses is nil, are the regions (GB/T 2260
	// codes, each listed once) whose demo licenses the library holds:
	// DemoLicenses of each, in the order listed. It makes a library that
	// is not one district's own, such as the simulated national library
	// (LicenseRegions: NationalRegions), whose partner id is no region.
	// A lookup of a license of any other region is answered not found.
	LicenseRegions []string
}

// Sim is a running simulated partner. Its methods are safe for concurrent
// use.
type Sim struct {
	cfg  Config
	base string // GatewayURL without trailing slash
	side adapters.PartnerSide
	pull *mailbox.Client // a mailbox partner's client; nil for the others

	mu        sync.Mutex
	faults    Faults
	rnd       *rand.Rand
	failed    int // refusals answered since faults were set
	dropped   int // connections dropped since faults were set
	leftOut   int // batched usage records left unacknowledged since faults were set
	batches   int // batches of usage records acknowledged
	attempts  int
	lookups   int
	exchanges map[string]*exchange // by kind + "/" + delivery_id
	caseNos   map[string]string    // gateway case id → our case number
	seq       int
	cases     []contracts.CaseDelivery
	statuses  []contracts.StatusDelivery
	reported  []contracts.StatusUpdate
	usages    []contracts.UsageRecordDelivery
	notices   []contracts.NoticeDelivery
	replies   []contracts.EvaluationReply // follow-up replies the gateway took
	licenses  []contracts.LicenseRecord
	queue     []job
	toReply   []string                     // case ids whose negative evaluation the replier must answer
	replying  map[string]bool              // case ids queued or answered by the replier
	traceIDs  []string                     // of the deliveries received, in order of arrival
	caseTrace map[string]trace.SpanContext // gateway case id → trace of its first delivery

	notify    chan struct{}
	startOnce sync.Once
	done      chan struct{}
}

// exchange is one delivered exchange and the acknowledgements given for it.
type exchange struct {
	caseNo  string
	ackedAt time.Time
	acks    map[string]signedAnswer // by SM3 of the delivery body
}

// signedAnswer is an answer as sent: its bytes, media type and signature.
type signedAnswer struct {
	raw, sig  []byte
	mediaType string
}

// job is a case whose lifecycle the reporter must report.
type job struct {
	caseID, caseNo string
	delivery       contracts.CaseDelivery
	// trace is the span context of the case's delivery (its traceparent);
	// the reports continue it. Invalid when the delivery carried none.
	trace trace.SpanContext
}

// New validates cfg, applies defaults and returns a simulator that is not
// yet reporting (see Start).
func New(cfg Config) (*Sim, error) {
	switch {
	case cfg.PartnerID == "":
		return nil, errors.New("partnersim: partner id is required")
	case cfg.Crypto == nil:
		return nil, errors.New("partnersim: crypto is required")
	case cfg.Step < 0:
		return nil, fmt.Errorf("partnersim: step %s is negative", cfg.Step)
	case cfg.ReplyDelay < 0:
		return nil, fmt.Errorf("partnersim: reply delay %s is negative", cfg.ReplyDelay)
	case len([]rune(cfg.ReplyMeasures)) > contracts.MaxEvaluationText:
		return nil, fmt.Errorf("partnersim: reply measures are longer than %d characters", contracts.MaxEvaluationText)
	}
	if err := cfg.Faults.check(); err != nil {
		return nil, err
	}
	if cfg.Style == "" {
		cfg.Style = "standard"
	}
	side, err := StyleSide(cfg.Style, cfg.PartnerID, cfg.StyleConfig)
	if err != nil {
		return nil, err
	}
	var base string
	if cfg.GatewayURL != "" {
		if base, err = adapters.ParseEndpoint(cfg.GatewayURL); err != nil {
			return nil, fmt.Errorf("partnersim: gateway url: %w", err)
		}
	}
	if len(cfg.Progress) == 0 {
		cfg.Progress = DefaultProgress
	}
	cfg.Progress = append([]contracts.CaseState(nil), cfg.Progress...)
	for _, st := range cfg.Progress {
		if !st.Valid() || st == contracts.CaseStateReceived || st == contracts.CaseStateForwarded {
			return nil, fmt.Errorf("partnersim: progress state %q is not one an owner reports", st)
		}
	}
	if cfg.Step == 0 {
		cfg.Step = DefaultStep
	}
	if cfg.ReplyDelay == 0 {
		cfg.ReplyDelay = cfg.Step
	}
	if cfg.ReplyMeasures == "" {
		cfg.ReplyMeasures = DefaultMeasures
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: pollWait + 20*time.Second}
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	library, err := newLibrary(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Licenses = nil // the Sim keeps its own copy
	s := &Sim{
		cfg:       cfg,
		base:      base,
		side:      side,
		licenses:  library,
		faults:    cfg.Faults,
		rnd:       rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)),
		exchanges: map[string]*exchange{},
		caseNos:   map[string]string{},
		caseTrace: map[string]trace.SpanContext{},
		replying:  map[string]bool{},
		notify:    make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if cfg.Style == mailbox.Name && base != "" {
		if cfg.Token == nil {
			return nil, errors.New("partnersim: a mailbox partner needs a token to poll the gateway")
		}
		s.pull, err = mailbox.NewClient(mailbox.ClientConfig{
			GatewayURL: base, Crypto: spoilable{s}, GatewayCaller: GatewayCaller, Token: cfg.Token, HTTP: cfg.Client,
		})
		if err != nil {
			return nil, fmt.Errorf("partnersim: %w", err)
		}
	}
	return s, nil
}

// Style returns the adapter style the simulator speaks.
func (s *Sim) Style() string { return s.cfg.Style }

// SetFaults replaces the faults; the FailFirst and DropFirst counts start
// again from zero. Clearing them (SetFaults(Faults{})) makes the partner
// recover. Faults out of range are ignored and reported as an error.
func (s *Sim) SetFaults(f Faults) error {
	if err := f.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.failed, s.dropped, s.leftOut = f, 0, 0, 0
	return nil
}

// Cases returns the distinct case deliveries received (one per
// delivery_id), in order of arrival.
func (s *Sim) Cases() []contracts.CaseDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]contracts.CaseDelivery(nil), s.cases...)
}

// StatusDeliveries returns the distinct status deliveries received (one per
// delivery_id), in order of arrival.
func (s *Sim) StatusDeliveries() []contracts.StatusDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]contracts.StatusDelivery(nil), s.statuses...)
}

// Reports returns the status updates the gateway accepted from the
// reporter, in the order they were accepted.
func (s *Sim) Reports() []contracts.StatusUpdate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]contracts.StatusUpdate(nil), s.reported...)
}

// Attempts returns how many delivery requests (cases, status updates,
// usage records) reached the handler, or were pulled, including failed,
// dropped and repeated ones. Lookups are counted by Lookups.
func (s *Sim) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// TraceIDs returns the W3C trace ids (32 lowercase hex) of the distinct
// deliveries received (one per delivery_id, cases, status updates and
// usage records alike) whose request carried a valid traceparent, in order
// of arrival. Pulled (mailbox) deliveries carry none.
func (s *Sim) TraceIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.traceIDs...)
}

// TraceID returns the trace id of the first delivery of case caseID (the
// case itself, or for the sending district a status update of it) that
// carried a traceparent, or "" when none did. The simulator's status
// reports for a case it owns continue this trace: each carries a
// traceparent with this trace id and a span id of its own.
func (s *Sim) TraceID(caseID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.caseTrace[caseID]; ok {
		return sc.TraceID().String()
	}
	return ""
}

// CaseNo returns the simulator's case number for a gateway case id.
func (s *Sim) CaseNo(caseID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.caseNos[caseID]
	return n, ok
}

// wake tells the reporter that a case (or a reply) was queued.
func (s *Sim) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Start starts the background work and returns at once: the reporter and,
// for a mailbox partner, the puller. For every new case the simulator
// receives (before or after Start), the reporter reports one signed status
// update per Progress state, Step apart, to the gateway in the style's
// format (PartnerSide.Call). Cases are reported concurrently, each in
// order. A report is retried with backoff up to ReportAttempts times until
// the gateway answers 2xx; on 409 the simulator logs and stops reporting
// that case. With AutoReply, the replier answers each negative evaluation
// of a case the simulator owns, ReplyDelay after its notice came. When
// ctx is cancelled everything stops and Done is closed. Calling Start
// again does nothing.
func (s *Sim) Start(ctx context.Context) {
	s.startOnce.Do(func() { go s.run(ctx) })
}

// Done is closed once the work started by Start has stopped after its
// context was cancelled and every report in progress has returned. It is
// never closed if Start was not called.
func (s *Sim) Done() <-chan struct{} { return s.done }

func (s *Sim) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		close(s.done)
	}()
	if s.base == "" {
		s.cfg.Logf("partnersim %s: no gateway url: status reports are off", s.cfg.PartnerID)
	}
	if s.pull != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.pullLoop(ctx)
		}()
	}
	for {
		s.mu.Lock()
		jobs, replies := s.queue, s.toReply
		s.queue, s.toReply = nil, nil
		s.mu.Unlock()
		if s.base != "" && !s.cfg.NoReports {
			for _, j := range jobs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.reportCase(ctx, j)
				}()
			}
		}
		if s.base != "" {
			for _, caseID := range replies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.autoReply(ctx, caseID)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.notify:
		}
	}
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// chance reports true with probability p, from the simulator's seeded
// source. s.mu must be held.
func (s *Sim) chanceLocked(p float64) bool { return p > 0 && s.rnd.Float64() < p }
