package partnersim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

	"github.com/tongban/tongban/contracts"
)

// DefaultMeasures is what an automatic follow-up reply says the owner did
// (整改措施).
const DefaultMeasures = "已约谈窗口工作人员，一次性告知所需材料并优化办理流程（模拟）"

// simulatedResult is the follow-up result (整改结果) the simulator's
// replies give.
const simulatedResult = "已回访申请人，申请人表示认可（模拟）"

// Notices returns the distinct notice deliveries received (one per
// delivery_id), in order of arrival, pushed or pulled.
func (s *Sim) Notices() []contracts.NoticeDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]contracts.NoticeDelivery(nil), s.notices...)
}

// Replies returns the follow-up replies the gateway took from the
// simulator (answered 2xx), automatic and on demand, in that order.
func (s *Sim) Replies() []contracts.EvaluationReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]contracts.EvaluationReply(nil), s.replies...)
}

// awaitsReplyLocked reports whether notice d asks the simulator, as the case's
// owner, for a follow-up reply: an evaluation or overdue follow-up notice
// of a negative evaluation of a case it owns (the evaluation names it as
// the owner, or it received the case) whose follow-up is not answered.
// s.mu must be held.
func (s *Sim) awaitsReplyLocked(d *contracts.NoticeDelivery) bool {
	n := &d.Notice
	if n.Type != contracts.NoticeEvaluation && n.Type != contracts.NoticeFollowUpOverdue {
		return false
	}
	if n.Evaluation == nil || !n.Evaluation.Level.Negative() || n.FollowUp == nil || n.FollowUp.State == contracts.FollowUpAnswered {
		return false
	}
	_, owns := s.caseNos[d.CaseID]
	return owns || n.Evaluation.Owner == s.cfg.PartnerID
}

// queueReplyLocked queues case d.CaseID for the replier when AutoReply is
// on and d awaits a reply the replier has not queued or given yet. s.mu
// must be held.
func (s *Sim) queueReplyLocked(d *contracts.NoticeDelivery) {
	if !s.cfg.AutoReply || !s.awaitsReplyLocked(d) || s.replying[d.CaseID] {
		return
	}
	s.replying[d.CaseID] = true
	s.toReply = append(s.toReply, d.CaseID)
	s.cfg.Logf("partnersim %s: case %s: negative evaluation; replying in %s", s.cfg.PartnerID, d.CaseID, s.cfg.ReplyDelay)
	// The caller holds s.mu; wake only signals a channel.
	s.wake()
}

// autoReply answers the negative evaluation of case caseID after
// ReplyDelay. A reply that got no answer leaves the case to the next
// notice that asks for one (an overdue follow-up notice, say); a refused
// one is not tried again.
func (s *Sim) autoReply(ctx context.Context, caseID string) {
	if !sleep(ctx, s.cfg.ReplyDelay) {
		return
	}
	_, err := s.ReplyToEvaluation(ctx, caseID, s.cfg.ReplyMeasures)
	var refused *GatewayRefusal
	if err != nil && !errors.As(err, &refused) {
		s.mu.Lock()
		delete(s.replying, caseID)
		s.mu.Unlock()
	}
}

// ReplyToEvaluation answers, as the case's owner, the negative evaluation
// of case caseID (整改反馈): it sends the gateway a follow-up reply
// (POST /v1/cases/{case_id}/evaluation/reply in the standard contract, or
// its style's own call) saying measures were taken ("" means the
// configured ReplyMeasures), with a simulated result, the applicant
// contacted and a fresh exchange id, signed over its exact bytes (see
// Call). It returns the gateway's receipt; a refusal is a
// *GatewayRefusal (409 already answered or not negative, 404 unknown
// case, say). The reply is logged and, once taken, listed by Replies. It
// needs GatewayURL, but not Start.
func (s *Sim) ReplyToEvaluation(ctx context.Context, caseID, measures string) (*contracts.Receipt, error) {
	if measures == "" {
		measures = s.cfg.ReplyMeasures
	}
	now := s.cfg.Now()
	id, err := contracts.NewUUIDv7(now, rand.Reader)
	if err != nil {
		return nil, err
	}
	r := contracts.EvaluationReply{ExchangeID: id, CaseID: caseID, RepliedAt: now, Measures: measures,
		Result: simulatedResult, ContactedApplicant: true}
	rc, err := s.Call(ctx, &contracts.InboundCall{Kind: contracts.InboundReply, Reply: &r})
	if err != nil {
		s.cfg.Logf("partnersim %s: case %s: follow-up reply not taken: %v", s.cfg.PartnerID, caseID, err)
		return nil, err
	}
	s.mu.Lock()
	s.replies = append(s.replies, r)
	s.replying[caseID] = true
	s.mu.Unlock()
	s.cfg.Logf("partnersim %s: case %s: replied to its negative evaluation (exchange %s)", s.cfg.PartnerID, caseID, r.ExchangeID)
	return rc, nil
}

// Call makes one call to the gateway as the simulated district would: c
// (a case submission, status update, evaluation, follow-up reply or
// bundle) rendered in the simulator's style (its PartnerSide; a mailbox
// partner calls in the standard contract), signed over its exact bytes
// with the partner's key, with the bearer token and the trace ctx
// carries. It is tried again with backoff, ReportAttempts times at most,
// while the gateway is unreachable or answers 5xx, 408 or 429. It returns
// the gateway's receipt once its signature verified with the gateway's
// key and it read as the style's receipt; another answer is a
// *GatewayRefusal. It needs GatewayURL, but not Start.
func (s *Sim) Call(ctx context.Context, c *contracts.InboundCall) (*contracts.Receipt, error) {
	if s.base == "" {
		return nil, errors.New("partnersim: no gateway url to call")
	}
	call, err := s.side.Call(c)
	if err != nil {
		return nil, fmt.Errorf("partnersim: render the %s call: %w", c.Kind, err)
	}
	sig, err := s.cfg.Crypto.Sign(call.Body)
	if err != nil {
		return nil, fmt.Errorf("partnersim: sign the %s call: %w", c.Kind, err)
	}
	ans, err := s.callGateway(ctx, string(c.Kind)+" call", call, sig, retryable)
	switch {
	case err != nil:
		return nil, err
	case !ans.taken():
		return nil, ans.refusal
	case ans.bad != nil:
		return nil, fmt.Errorf("partnersim: the gateway took the %s call, but %w", c.Kind, ans.bad)
	}
	return ans.receipt, nil
}

// retryable reports whether a call the gateway answered with status is
// worth another try: 5xx, 408 and 429.
func retryable(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}
