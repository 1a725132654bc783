package partnersim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
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
// ReportAttempts times at most; it reports whether the gateway took it.
func (s *Sim) postOnce(ctx context.Context, u contracts.StatusUpdate, call *adapters.PartnerCall, sig []byte) bool {
	target := s.base + call.Path
	wait := reportBackoffMin
	for attempt := 1; attempt <= ReportAttempts; attempt++ {
		if attempt > 1 {
			if !sleep(ctx, wait) {
				return false
			}
			wait = min(2*wait, reportBackoffMax)
		}
		status, detail, err := s.send(ctx, target, call, sig)
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

// send makes one call to the gateway and returns its status and, for an
// error answer, a short description. A receipt that does not read as the
// style's receipt, or whose signature does not verify, is logged.
func (s *Sim) send(ctx context.Context, target string, call *adapters.PartnerCall, sig []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(call.Body))
	if err != nil {
		return 0, "", err
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
		s.checkReceipt(resp, raw)
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

// checkReceipt logs a receipt that is unsigned, badly signed or not a
// receipt of the style.
func (s *Sim) checkReceipt(resp *http.Response, raw []byte) {
	kid, sigB64 := resp.Header.Get(adapters.HeaderKeyID), resp.Header.Get(adapters.HeaderSignature)
	rs, err := base64.StdEncoding.DecodeString(sigB64)
	if kid == "" || sigB64 == "" || err != nil {
		s.cfg.Logf("partnersim %s: gateway receipt is not signed", s.cfg.PartnerID)
		return
	}
	if err := s.cfg.Crypto.VerifyBody(GatewayCaller, kid, raw, rs); err != nil {
		s.cfg.Logf("partnersim %s: gateway receipt signature does not verify: %v", s.cfg.PartnerID, err)
		return
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if _, err := s.side.ReadReceipt(mt, raw); err != nil {
		s.cfg.Logf("partnersim %s: gateway receipt does not read: %v", s.cfg.PartnerID, err)
	}
}
