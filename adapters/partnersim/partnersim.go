// Package partnersim is a simulated partner district system that speaks the
// standard adapter's contract. It receives signed case and status
// deliveries, answers them with signed acknowledgements carrying its own
// case numbers (办件编号), and then moves every case it owns through the
// lifecycle by posting signed status updates back to the gateway, as a real
// district system would. It also runs the district's license library
// (证照库): it answers signed license lookups from a seeded set of licenses
// (by default DemoLicenses, one license per DemoRole) and takes the usage
// records (用证记录) the gateway passes back. Faults can be switched on and
// off at run time so tests and the demo can show retries, dead letters,
// recovery and an unavailable library.
//
// It is used by tests, by `tongban demo` and by `tongban partnersim`.
package partnersim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tongban/tongban/adapters"
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
	// the simulator gives up on the case.
	ReportAttempts = 8
	// reportBackoffMin and reportBackoffMax bound the pause between tries.
	reportBackoffMin = 50 * time.Millisecond
	reportBackoffMax = 2 * time.Second
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
// they are set (New or SetFaults). FailFirst, Delay, DropFirst and
// BadSignature apply to every request the handler serves, deliveries and
// license lookups alike (FailFirst and DropFirst count both); LookupDelay
// and LookupFail apply to lookups only.
type Faults struct {
	// FailFirst answers 503 to the first N requests.
	FailFirst int
	// Delay holds every request this long before answering (or until the
	// caller gives up).
	Delay time.Duration
	// DropFirst closes the connection without an answer for the first N
	// requests, after reading them (a crash before the acknowledgement).
	// It takes precedence over FailFirst.
	DropFirst int
	// BadSignature sends acknowledgements and lookup answers whose
	// Gw-Signature does not verify. Stored acknowledgements stay correct,
	// so once the fault is cleared a repeated delivery gets a good
	// signature.
	BadSignature bool
	// LookupDelay holds every license lookup this long before answering
	// (or until the caller gives up), after the faults above; deliveries
	// are not held.
	LookupDelay time.Duration
	// LookupFail answers every license lookup 503 (a library outage);
	// deliveries are served as usual.
	LookupFail bool
}

// Config describes one simulated partner.
type Config struct {
	// PartnerID is the partner's id and region, for example "330702"; it
	// prefixes the simulator's case numbers.
	PartnerID string
	// Crypto is the partner's own key: Sign and KeyID for its
	// acknowledgements and status posts; VerifyBody(GatewayCaller, ...) to
	// check the gateway's deliveries; SM3Hex for digests.
	Crypto adapters.Crypto
	// GatewayURL is the gateway's base URL, for example
	// http://127.0.0.1:8080. Empty: the simulator only answers deliveries
	// and reports nothing.
	GatewayURL string
	// Token returns the bearer token for calls to the gateway; nil sends
	// none.
	Token func() (string, error)
	// Progress is the lifecycle reported for each case the simulator owns;
	// empty means DefaultProgress.
	Progress []contracts.CaseState
	// Step is the delay before each report; zero means DefaultStep.
	Step time.Duration
	// Faults are the initial faults.
	Faults Faults
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf receives one line per notable event; nil discards them.
	Logf func(format string, args ...any)
	// Client makes the calls to the gateway; nil means a client with a
	// 10-second timeout.
	Client *http.Client
	// Licenses is the license library lookups are answered from. nil means
	// DemoLicenses(PartnerID, Now()) when PartnerID is a GB/T 2260 region
	// code, and an empty library otherwise; a non-nil slice, even an empty
	// one, is used as given (copied). Every record must pass
	// contracts.LicenseRecord.Validate and license ids must be distinct.
	Licenses []contracts.LicenseRecord
}

// Sim is a running simulated partner. Its methods are safe for concurrent
// use.
type Sim struct {
	cfg  Config
	base string // GatewayURL without trailing slash

	mu        sync.Mutex
	faults    Faults
	failed    int // 503s answered since faults were set
	dropped   int // connections dropped since faults were set
	attempts  int
	lookups   int
	exchanges map[string]*exchange // by kind + "/" + exchange_id
	caseNos   map[string]string    // gateway case id → our case number
	seq       int
	cases     []contracts.CaseDelivery
	statuses  []contracts.StatusDelivery
	reported  []contracts.StatusUpdate
	usages    []contracts.UsageRecordDelivery
	licenses  []contracts.LicenseRecord
	queue     []job

	notify    chan struct{}
	startOnce sync.Once
	done      chan struct{}
}

// exchange is one delivered exchange and the acknowledgements given for it.
type exchange struct {
	caseNo  string
	ackedAt time.Time
	acks    map[string]signedAck // by SM3 of the delivery body
}

type signedAck struct{ raw, sig []byte }

// job is a case whose lifecycle the reporter must report.
type job struct {
	caseID, caseNo string
	delivery       contracts.CaseDelivery
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
	case cfg.Faults.FailFirst < 0 || cfg.Faults.DropFirst < 0 || cfg.Faults.Delay < 0 || cfg.Faults.LookupDelay < 0:
		return nil, errors.New("partnersim: faults must not be negative")
	}
	var base string
	if cfg.GatewayURL != "" {
		var err error
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	library, err := newLibrary(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Licenses = nil // the Sim keeps its own copy
	return &Sim{
		cfg:       cfg,
		base:      base,
		licenses:  library,
		faults:    cfg.Faults,
		exchanges: map[string]*exchange{},
		caseNos:   map[string]string{},
		notify:    make(chan struct{}, 1),
		done:      make(chan struct{}),
	}, nil
}

// SetFaults replaces the faults; the FailFirst and DropFirst counts start
// again from zero. Clearing them (SetFaults(Faults{})) makes the partner
// recover.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.failed, s.dropped = f, 0, 0
}

// Cases returns the distinct case deliveries received (one per
// exchange_id), in order of arrival.
func (s *Sim) Cases() []contracts.CaseDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]contracts.CaseDelivery(nil), s.cases...)
}

// StatusDeliveries returns the distinct status deliveries received (one per
// exchange_id), in order of arrival.
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
// usage records) reached the handler, including failed, dropped and
// repeated ones. Lookups are counted by Lookups.
func (s *Sim) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// CaseNo returns the simulator's case number for a gateway case id.
func (s *Sim) CaseNo(caseID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.caseNos[caseID]
	return n, ok
}

// Handler serves the partner side of the standard contract at the root:
// POST /cases, POST /cases/{case_id}/status, POST /licenses/usage and
// POST /licenses/lookup. Mount it under a prefix with http.StripPrefix.
//
// Answers to deliveries: 200 with a signed Ack (repeats of an exchange_id
// with the same bytes get the very same bytes and signature). Answers to
// lookups: 200 with a signed LicenseLookupResponse that echoes the
// exchange_id and, when the library holds the license, carries its full
// record (see Licenses for how a license is found). For
// every request: 401 bad_signature when the gateway's signature does not
// verify; 400 invalid_json, invalid_exchange_id, validation_failed or the
// code of the identifier at fault; 413 body_too_large; 415
// unsupported_media_type; 503 unavailable while FailFirst lasts (and for
// lookups while LookupFail is set).
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cases", s.handleCase)
	mux.HandleFunc("POST /cases/{case_id}/status", s.handleStatus)
	mux.HandleFunc("POST /licenses/usage", s.handleUsage)
	mux.HandleFunc("POST /licenses/lookup", s.handleLookup)
	return mux
}

func (s *Sim) handleCase(w http.ResponseWriter, r *http.Request) {
	body, ok := s.receive(w, r, &s.attempts)
	if !ok {
		return
	}
	var d contracts.CaseDelivery
	if !decodeStrict(w, body, &d) {
		return
	}
	if !validDelivery(w, d.ExchangeID, d.DeliveryID, d.CaseID) {
		return
	}
	digest := s.cfg.Crypto.SM3Hex(body)

	s.mu.Lock()
	ex, seen := s.exchanges["case/"+d.ExchangeID]
	if !seen {
		caseNo, known := s.caseNos[d.CaseID]
		if !known {
			s.seq++
			caseNo = fmt.Sprintf("%s-%04d-%06d", s.cfg.PartnerID, s.cfg.Now().Year(), s.seq)
			s.caseNos[d.CaseID] = caseNo
		}
		ex = &exchange{caseNo: caseNo, ackedAt: s.cfg.Now(), acks: map[string]signedAck{}}
		s.exchanges["case/"+d.ExchangeID] = ex
		s.cases = append(s.cases, d)
		s.queue = append(s.queue, job{caseID: d.CaseID, caseNo: caseNo, delivery: d})
		s.cfg.Logf("partnersim %s: case %s received as %s (exchange %s)", s.cfg.PartnerID, d.CaseID, caseNo, d.ExchangeID)
	}
	sa, err := s.ackLocked(ex, contracts.Ack{
		ExchangeID:    d.ExchangeID,
		DeliveryID:    d.DeliveryID,
		PartnerCaseNo: ex.caseNo,
		BodySM3:       digest,
	})
	s.mu.Unlock()
	if !seen {
		s.wake()
	}
	s.writeSigned(w, sa, err)
}

func (s *Sim) handleStatus(w http.ResponseWriter, r *http.Request) {
	body, ok := s.receive(w, r, &s.attempts)
	if !ok {
		return
	}
	var d contracts.StatusDelivery
	if !decodeStrict(w, body, &d) {
		return
	}
	if !validDelivery(w, d.ExchangeID, d.DeliveryID, d.CaseID) {
		return
	}
	if d.CaseID != r.PathValue("case_id") {
		writeError(w, http.StatusBadRequest, contracts.CodeValidationFailed, "case_id differs from the path")
		return
	}
	digest := s.cfg.Crypto.SM3Hex(body)

	s.mu.Lock()
	ex, seen := s.exchanges["status/"+d.ExchangeID]
	if !seen {
		ex = &exchange{ackedAt: s.cfg.Now(), acks: map[string]signedAck{}}
		s.exchanges["status/"+d.ExchangeID] = ex
		s.statuses = append(s.statuses, d)
		s.cfg.Logf("partnersim %s: case %s is now %s (exchange %s)", s.cfg.PartnerID, d.CaseID, d.Update.State, d.ExchangeID)
	}
	sa, err := s.ackLocked(ex, contracts.Ack{
		ExchangeID: d.ExchangeID,
		DeliveryID: d.DeliveryID,
		BodySM3:    digest,
	})
	s.mu.Unlock()
	s.writeSigned(w, sa, err)
}

// receive counts the request in *count (a field of s guarded by s.mu),
// reads the body, applies the faults and checks the gateway's signature. It
// answers the request itself when it returns false.
func (s *Sim) receive(w http.ResponseWriter, r *http.Request, count *int) ([]byte, bool) {
	s.mu.Lock()
	*count++
	f := s.faults
	drop := s.dropped < f.DropFirst
	fail := false
	if drop {
		s.dropped++
	} else if fail = s.failed < f.FailFirst; fail {
		s.failed++
	}
	s.mu.Unlock()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, contracts.CodeBodyTooLarge, "body exceeds the limit")
		} else {
			writeError(w, http.StatusBadRequest, contracts.CodeBadRequest, "could not read the body")
		}
		return nil, false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, false
		}
	}
	if drop {
		s.cfg.Logf("partnersim %s: fault: dropping connection of %s", s.cfg.PartnerID, r.URL.Path)
		hijack(w)
		return nil, false
	}
	if fail {
		s.cfg.Logf("partnersim %s: fault: answering 503 to %s", s.cfg.PartnerID, r.URL.Path)
		writeError(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "simulated outage")
		return nil, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, contracts.CodeUnsupportedMedia, "body must be application/json")
		return nil, false
	}
	keyID := r.Header.Get("Gw-Key-Id")
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("Gw-Signature"))
	if keyID == "" || len(sig) == 0 || err != nil {
		writeError(w, http.StatusUnauthorized, contracts.CodeBadSignature, "Gw-Signature or Gw-Key-Id is missing or malformed")
		return nil, false
	}
	if err := s.cfg.Crypto.VerifyBody(GatewayCaller, keyID, body, sig); err != nil {
		s.cfg.Logf("partnersim %s: rejecting %s: gateway signature does not verify: %v", s.cfg.PartnerID, r.URL.Path, err)
		writeError(w, http.StatusUnauthorized, contracts.CodeBadSignature, "Gw-Signature does not verify over the body with the key named by Gw-Key-Id")
		return nil, false
	}
	return body, true
}

// hijack closes the connection without an answer.
func hijack(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream
}

// ackLocked returns the signed acknowledgement of body digest a.BodySM3 in
// exchange ex, making and remembering it the first time. A repeat with the
// same bytes gets the same bytes and signature; a repeat with other bytes
// (a later attempt with a new sent_at) gets an acknowledgement of those
// bytes with the same case number and time. s.mu must be held.
func (s *Sim) ackLocked(ex *exchange, a contracts.Ack) (signedAck, error) {
	if sa, ok := ex.acks[a.BodySM3]; ok {
		return sa, nil
	}
	a.AcknowledgedAt = ex.ackedAt
	a.KeyID = s.cfg.Crypto.KeyID()
	raw, err := json.Marshal(a)
	if err != nil {
		return signedAck{}, err
	}
	sig, err := s.cfg.Crypto.Sign(raw)
	if err != nil {
		return signedAck{}, err
	}
	sa := signedAck{raw: raw, sig: sig}
	ex.acks[a.BodySM3] = sa
	return sa, nil
}

// writeSigned answers 200 with sa's bytes and signature (an
// acknowledgement or a lookup answer), or with a spoiled signature while
// the BadSignature fault is set; err is a failure to make sa.
func (s *Sim) writeSigned(w http.ResponseWriter, sa signedAck, err error) {
	if err != nil {
		s.cfg.Logf("partnersim %s: signing answer: %v", s.cfg.PartnerID, err)
		writeError(w, http.StatusInternalServerError, contracts.CodeInternal, "could not sign the answer")
		return
	}
	sig := sa.sig
	s.mu.Lock()
	bad := s.faults.BadSignature
	s.mu.Unlock()
	if bad {
		// A well-formed signature over other bytes.
		if wrong, err := s.cfg.Crypto.Sign(append(append([]byte(nil), sa.raw...), ' ')); err == nil {
			sig = wrong
		}
		s.cfg.Logf("partnersim %s: fault: answering with a bad signature", s.cfg.PartnerID)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
	h.Set("Gw-Key-Id", s.cfg.Crypto.KeyID())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(sa.raw)
}

func decodeStrict(w http.ResponseWriter, body []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data")
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, contracts.CodeInvalidJSON, "body is not the expected JSON object")
		return false
	}
	return true
}

func validDelivery(w http.ResponseWriter, exchangeID, deliveryID, caseID string) bool {
	if contracts.ValidateUUID(exchangeID) != nil {
		writeError(w, http.StatusBadRequest, contracts.CodeInvalidExchangeID, "exchange_id is not a canonical UUID")
		return false
	}
	if deliveryID == "" || caseID == "" {
		writeError(w, http.StatusBadRequest, contracts.CodeValidationFailed, "delivery_id and case_id are required")
		return false
	}
	return true
}

func writeError(w http.ResponseWriter, status int, code contracts.Code, msg string) {
	b, _ := json.Marshal(contracts.Error{Code: code, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// wake tells the reporter that a case was queued.
func (s *Sim) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Start starts the background reporter and returns at once. For every new
// case the simulator receives (before or after Start), the reporter posts
// one signed status update per Progress state, Step apart, to
// {GatewayURL}/v1/cases/{case_id}/status. Cases are reported concurrently,
// each in order. A report is retried with backoff up to ReportAttempts
// times until the gateway answers 202 (or 200, a replay); on 409 the
// simulator logs and stops reporting that case. When ctx is cancelled the
// reporter stops and Done is closed. Calling Start again does nothing.
func (s *Sim) Start(ctx context.Context) {
	s.startOnce.Do(func() { go s.run(ctx) })
}

// Done is closed once the reporter started by Start has stopped after its
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
	for {
		s.mu.Lock()
		jobs := s.queue
		s.queue = nil
		s.mu.Unlock()
		if s.base != "" {
			for _, j := range jobs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.reportCase(ctx, j)
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

// reportCase reports the configured lifecycle of one case, in order.
func (s *Sim) reportCase(ctx context.Context, j job) {
	for i, st := range s.cfg.Progress {
		if !sleep(ctx, s.cfg.Step) {
			return
		}
		u, err := s.update(j, st, i)
		if err != nil {
			s.cfg.Logf("partnersim %s: case %s: %v", s.cfg.PartnerID, j.caseID, err)
			return
		}
		if !s.post(ctx, u) {
			return
		}
		s.mu.Lock()
		s.reported = append(s.reported, u)
		s.mu.Unlock()
	}
}

// resultPDF is the simulated result document of a concluded case.
func resultPDF(caseNo string) []byte {
	return []byte("%PDF-1.4\n% Tongban partnersim: 准予行政许可决定书 " + caseNo + "\n%%EOF\n")
}

// update builds the status update reporting state st for case j.
func (s *Sim) update(j job, st contracts.CaseState, step int) (contracts.StatusUpdate, error) {
	now := s.cfg.Now()
	id, err := contracts.NewUUIDv7(now, rand.Reader)
	if err != nil {
		return contracts.StatusUpdate{}, err
	}
	u := contracts.StatusUpdate{
		ExchangeID:  id,
		CaseID:      j.caseID,
		State:       st,
		ReportedAt:  now,
		OwnerCaseNo: j.caseNo,
	}
	switch st {
	case contracts.CaseStateAccepted:
		u.Note = "已受理"
	case contracts.CaseStateRejected:
		u.Reason = "申请事项不属于本机关职权范围（模拟）"
	case contracts.CaseStateCorrectionRequired:
		u.Reason = "申请材料不齐全（模拟）"
		u.CorrectionItems = []string{"经营场所使用证明"}
	case contracts.CaseStateInProgress:
		u.Note = "审查中"
	case contracts.CaseStateConcluded:
		content := resultPDF(j.caseNo)
		u.Outcome = contracts.OutcomeApproved
		u.Note = "准予许可"
		u.Documents = []contracts.Document{{
			Name:      "准予行政许可决定书",
			MediaType: "application/pdf",
			Size:      int64(len(content)),
			SM3:       s.cfg.Crypto.SM3Hex(content),
			Content:   content,
		}}
	case contracts.CaseStateDispatched:
		u.Note = "结果已寄出"
		u.Dispatch = &contracts.Dispatch{
			Method:         contracts.ResultDeliveryMethodPost,
			Carrier:        "EMS",
			TrackingNumber: trackingNumber(j.caseNo, step),
			DispatchedAt:   now,
		}
	case contracts.CaseStateDelivered:
		u.Note = "已签收"
		u.DeliveredAt = now
	}
	return u, nil
}

// trackingNumber makes a UPU S10 style EMS number (EA + 8 digits + check
// digit + CN) from the case number, stable for a case.
func trackingNumber(caseNo string, step int) string {
	var serial uint32 = 2166136261
	for i := 0; i < len(caseNo); i++ { // FNV-1a
		serial = (serial ^ uint32(caseNo[i])) * 16777619
	}
	serial = (serial + uint32(step)) % 100_000_000
	digits := fmt.Sprintf("%08d", serial)
	return fmt.Sprintf("EA%s%dCN", digits, s10Check(digits))
}

// s10Check returns the UPU S10 check digit of an 8-digit serial number.
func s10Check(digits string) int {
	weights := [8]int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i := range 8 {
		sum += int(digits[i]-'0') * weights[i]
	}
	switch check := 11 - sum%11; check {
	case 10:
		return 0
	case 11:
		return 5
	default:
		return check
	}
}

// post sends one status update until the gateway takes it; it reports
// whether the case may go on.
func (s *Sim) post(ctx context.Context, u contracts.StatusUpdate) bool {
	body, err := json.Marshal(u)
	if err != nil {
		s.cfg.Logf("partnersim %s: case %s: encode update: %v", s.cfg.PartnerID, u.CaseID, err)
		return false
	}
	sig, err := s.cfg.Crypto.Sign(body)
	if err != nil {
		s.cfg.Logf("partnersim %s: case %s: sign update: %v", s.cfg.PartnerID, u.CaseID, err)
		return false
	}
	target := s.base + "/v1/cases/" + url.PathEscape(u.CaseID) + "/status"
	wait := reportBackoffMin
	for attempt := 1; attempt <= ReportAttempts; attempt++ {
		if attempt > 1 {
			if !sleep(ctx, wait) {
				return false
			}
			wait = min(2*wait, reportBackoffMax)
		}
		status, detail, err := s.send(ctx, target, body, sig)
		switch {
		case ctx.Err() != nil:
			return false
		case err != nil:
			s.cfg.Logf("partnersim %s: case %s: report %s, try %d: %v", s.cfg.PartnerID, u.CaseID, u.State, attempt, err)
		case status == http.StatusAccepted || status == http.StatusOK:
			s.cfg.Logf("partnersim %s: case %s: reported %s (%d)", s.cfg.PartnerID, u.CaseID, u.State, status)
			return true
		case status == http.StatusConflict:
			s.cfg.Logf("partnersim %s: case %s: gateway refused %s with 409 (%s); stopping this case", s.cfg.PartnerID, u.CaseID, u.State, detail)
			return false
		default:
			s.cfg.Logf("partnersim %s: case %s: report %s, try %d: gateway answered %d (%s)", s.cfg.PartnerID, u.CaseID, u.State, attempt, status, detail)
		}
	}
	s.cfg.Logf("partnersim %s: case %s: giving up on %s after %d tries", s.cfg.PartnerID, u.CaseID, u.State, ReportAttempts)
	return false
}

// send makes one POST to the gateway and returns its status and, for an
// error answer, its code and message. A signed receipt whose signature does
// not verify is logged.
func (s *Sim) send(ctx context.Context, target string, body, sig []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("Gw-Key-Id", s.cfg.Crypto.KeyID())
	if s.cfg.Token != nil {
		tok, err := s.cfg.Token()
		if err != nil {
			return 0, "", fmt.Errorf("bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		if kid, sigB64 := resp.Header.Get("Gw-Key-Id"), resp.Header.Get("Gw-Signature"); kid != "" && sigB64 != "" {
			rs, err := base64.StdEncoding.DecodeString(sigB64)
			if err == nil {
				err = s.cfg.Crypto.VerifyBody(GatewayCaller, kid, raw, rs)
			}
			if err != nil {
				s.cfg.Logf("partnersim %s: gateway receipt signature does not verify: %v", s.cfg.PartnerID, err)
			}
		}
		return resp.StatusCode, "", nil
	}
	var ce contracts.Error
	detail := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &ce) == nil && ce.Code != "" {
		detail = string(ce.Code) + ": " + ce.Message
	}
	if len(detail) > 200 {
		detail = detail[:200]
	}
	return resp.StatusCode, detail, nil
}
