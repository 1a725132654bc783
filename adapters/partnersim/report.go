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
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// reportCase reports the configured lifecycle of one case, in order. Each
// report continues the trace of the case's delivery (j.trace) with a span
// id of its own, so the whole round trip of a case shares one trace id.
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
		if !s.post(childSpan(ctx, j.trace), u) {
			return
		}
		s.mu.Lock()
		s.reported = append(s.reported, u)
		s.mu.Unlock()
	}
}

// childSpan returns ctx carrying a new span context in the trace of
// parent, with a fresh span id and parent's flags: the district's report,
// caused by the delivery parent names. ctx is returned unchanged when
// parent is invalid.
func childSpan(ctx context.Context, parent trace.SpanContext) context.Context {
	if !parent.IsValid() {
		return ctx
	}
	var sid trace.SpanID
	for !sid.IsValid() {
		if _, err := rand.Read(sid[:]); err != nil {
			return ctx
		}
	}
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: parent.TraceID(), SpanID: sid, TraceFlags: parent.TraceFlags(), TraceState: parent.TraceState(),
	}))
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

// post sends one status update until the gateway takes it, in the style's
// format; with the DuplicateReports fault it sends the same bytes once
// more. It reports whether the case may go on.
func (s *Sim) post(ctx context.Context, u contracts.StatusUpdate) bool {
	call, err := s.side.Call(&contracts.InboundCall{Kind: contracts.InboundStatus, Update: &u})
	if err != nil {
		s.cfg.Logf("partnersim %s: case %s: encode update: %v", s.cfg.PartnerID, u.CaseID, err)
		return false
	}
	sig, err := s.cfg.Crypto.Sign(call.Body)
	if err != nil {
		s.cfg.Logf("partnersim %s: case %s: sign update: %v", s.cfg.PartnerID, u.CaseID, err)
		return false
	}
	if !s.postOnce(ctx, u, call, sig) {
		return false
	}
	s.mu.Lock()
	dup := s.faults.DuplicateReports
	s.mu.Unlock()
	if dup {
		s.cfg.Logf("partnersim %s: fault: reporting %s of case %s a second time", s.cfg.PartnerID, u.State, u.CaseID)
		s.postOnce(ctx, u, call, sig)
	}
	return true
}

// postOnce sends one call with backoff until the gateway answers 2xx,
// ReportAttempts times at most (a refusal other than 409 is tried again
// too: the gateway may not know the case yet); it reports whether the
// gateway took it.
func (s *Sim) postOnce(ctx context.Context, u contracts.StatusUpdate, call *adapters.PartnerCall, sig []byte) bool {
	what := fmt.Sprintf("case %s: report %s", u.CaseID, u.State)
	ans, err := s.callGateway(ctx, what, call, sig, func(status int) bool { return status != http.StatusConflict })
	switch {
	case err != nil:
		return false
	case ans.taken():
		if ans.bad != nil {
			s.cfg.Logf("partnersim %s: %v", s.cfg.PartnerID, ans.bad)
		}
		s.cfg.Logf("partnersim %s: case %s: reported %s (%d)", s.cfg.PartnerID, u.CaseID, u.State, ans.status)
		return true
	default: // 409
		s.cfg.Logf("partnersim %s: case %s: gateway refused %s with 409 (%s); stopping this case", s.cfg.PartnerID, u.CaseID, u.State, ans.detail())
		return false
	}
}

// gatewayAnswer is the gateway's answer to one call.
type gatewayAnswer struct {
	status int
	// receipt is the receipt of a 2xx answer, when it was signed, its
	// signature verified and it read as the style's receipt; bad says why
	// not otherwise.
	receipt *contracts.Receipt
	bad     error
	// refusal is a non-2xx answer's error, as the gateway sent it.
	refusal *GatewayRefusal
}

// taken reports whether the gateway took the call (2xx).
func (a *gatewayAnswer) taken() bool { return a.status >= 200 && a.status <= 299 }

func (a *gatewayAnswer) detail() string {
	if a.refusal == nil {
		return ""
	}
	return a.refusal.detail()
}

// GatewayRefusal is the gateway's refusal of a call the simulator made:
// the HTTP status and the contract error the answer carried (Code is ""
// when the answer was no contracts.Error, Message then its first bytes).
type GatewayRefusal struct {
	Status  int
	Code    contracts.Code
	Message string
}

func (e *GatewayRefusal) Error() string {
	return fmt.Sprintf("gateway answered %d (%s)", e.Status, e.detail())
}

func (e *GatewayRefusal) detail() string {
	if e.Code == "" {
		return e.Message
	}
	return string(e.Code) + ": " + e.Message
}

// callGateway sends one signed call to the gateway with backoff until it
// answers 2xx or a status retry says not to try again, ReportAttempts
// times at most; a transport error is always tried again. what names the
// call in the log. It returns the last answer, or an error when ctx ended
// or no try got an answer that ends the call.
func (s *Sim) callGateway(ctx context.Context, what string, call *adapters.PartnerCall, sig []byte, retry func(status int) bool) (*gatewayAnswer, error) {
	target := s.base + call.Path
	wait := reportBackoffMin
	for attempt := 1; attempt <= ReportAttempts; attempt++ {
		if attempt > 1 {
			if !sleep(ctx, wait) {
				return nil, ctx.Err()
			}
			wait = min(2*wait, reportBackoffMax)
		}
		ans, err := s.send(ctx, target, call, sig)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			s.cfg.Logf("partnersim %s: %s, try %d: %v", s.cfg.PartnerID, what, attempt, err)
		case ans.taken() || !retry(ans.status):
			return ans, nil
		default:
			s.cfg.Logf("partnersim %s: %s, try %d: gateway answered %d (%s)", s.cfg.PartnerID, what, attempt, ans.status, ans.detail())
		}
	}
	s.cfg.Logf("partnersim %s: %s: giving up after %d tries", s.cfg.PartnerID, what, ReportAttempts)
	return nil, fmt.Errorf("partnersim: %s: giving up after %d tries", what, ReportAttempts)
}

// send makes one call to the gateway and returns its answer: for a 2xx
// one, its receipt checked (signature and the style's format); for
// another, the error it carried.
func (s *Sim) send(ctx context.Context, target string, call *adapters.PartnerCall, sig []byte) (*gatewayAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(call.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", call.MediaType)
	if call.Action != "" {
		req.Header.Set("SOAPAction", `"`+call.Action+`"`)
	}
	req.Header.Set(adapters.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	req.Header.Set(adapters.HeaderKeyID, s.cfg.Crypto.KeyID())
	adapters.InjectTrace(ctx, req.Header)
	if s.cfg.Token != nil {
		tok, err := s.cfg.Token()
		if err != nil {
			return nil, fmt.Errorf("bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	ans := &gatewayAnswer{status: resp.StatusCode}
	if ans.taken() {
		ans.receipt, ans.bad = s.checkReceipt(resp, raw)
		return ans, nil
	}
	ref := &GatewayRefusal{Status: resp.StatusCode}
	var ce contracts.Error
	if json.Unmarshal(raw, &ce) == nil && ce.Code != "" {
		ref.Code, ref.Message = ce.Code, ce.Message
	} else {
		ref.Message = strings.TrimSpace(string(raw))
	}
	ref.Message = adapters.Clip(ref.Message, 200)
	ans.refusal = ref
	return ans, nil
}

// checkReceipt returns the receipt of a 2xx answer, or why it is not one:
// unsigned, badly signed or not a receipt of the style.
func (s *Sim) checkReceipt(resp *http.Response, raw []byte) (*contracts.Receipt, error) {
	kid, sigB64 := resp.Header.Get(adapters.HeaderKeyID), resp.Header.Get(adapters.HeaderSignature)
	rs, err := base64.StdEncoding.DecodeString(sigB64)
	if kid == "" || sigB64 == "" || err != nil {
		return nil, errors.New("gateway receipt is not signed")
	}
	if err := s.cfg.Crypto.VerifyBody(GatewayCaller, kid, raw, rs); err != nil {
		return nil, fmt.Errorf("gateway receipt signature does not verify: %w", err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	r, err := s.side.ReadReceipt(mt, raw)
	if err != nil {
		return nil, fmt.Errorf("gateway receipt does not read: %w", err)
	}
	return r, nil
}
