package cases

import (
	"context"
	"errors"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/workdays"
)

// Evaluations (政务服务"好差评"), as the gateway takes them:
//   - the case's sender evaluates, on the applicant's behalf, once the
//     case is concluded (or dispatched, delivered, rejected); a bundle is
//     evaluated part by part, each part by its own case id;
//   - one evaluation per case: a second, with another exchange id, is
//     already_evaluated (409); the same exchange again gets its receipt;
//   - the applicant's id is kept and passed on masked; the text goes to
//     the owner and the evaluation system and is not kept on the case;
//   - a negative one (dissatisfied or worse) opens a follow-up (整改) the
//     owner must answer with a signed reply within ReplyLimit; unanswered
//     by then it turns overdue, is notified, and the case is marked
//     overdue for audit search. A late reply still answers it.

// Evaluate accepts an evaluation of case caseID by its sender.
func (s *Service) Evaluate(ctx context.Context, caseID string, in gateway.Inbound) (*gateway.Signed, error) {
	if err := gateway.VerifyInbound(ctx, s.env.Telemetry, s.crypto, in); err != nil {
		return nil, err
	}
	var e contracts.EvaluationSubmission
	if err := gateway.DecodeStrict(in.Body, &e); err != nil {
		return nil, err
	}
	if e.CaseID != caseID {
		return nil, gateway.Failf(contracts.CodeValidationFailed, "case_id: does not match the case in the path")
	}
	return s.evaluate(ctx, in, &e, nil)
}

// evaluate accepts an evaluation whose signature over in.Body was
// verified; enc renders the receipt.
func (s *Service) evaluate(ctx context.Context, in gateway.Inbound, e *contracts.EvaluationSubmission, enc receiptEncoder) (*gateway.Signed, error) {
	if err := e.Validate(); err != nil {
		return nil, gateway.FromField(err)
	}
	bodySM3 := s.crypto.SM3Hex(in.Body)
	if ans, err := s.lookupReplay(ctx, in.Caller.ID(), e.ExchangeID, bodySM3); ans != nil || err != nil {
		return ans, err
	}
	st := step{exchangeID: e.ExchangeID, caseID: e.CaseID, kind: gateway.ExchangeEvaluation, event: contracts.EventEvaluationReceived}
	st.load = func(ctx context.Context) (*gateway.Case, bool, error) {
		c, err := s.readCase(ctx, e.CaseID)
		if err != nil {
			return nil, false, err
		}
		if err := gateway.Authorize(in.Caller, gateway.ActEvaluate, c, ""); err != nil {
			return nil, false, err
		}
		switch {
		case c.BundleID == c.ID:
			return nil, false, gateway.Failf(contracts.CodeValidationFailed, "case_id: %s is a bundle; evaluate each of its parts by its own case id", c.ID)
		case !final(c.State) || c.State == contracts.CaseStateCancelled:
			return nil, false, gateway.Failf(contracts.CodeInvalidTransition, "case %s is %s; it is evaluated once concluded or rejected", c.ID, c.State)
		case c.Admin != nil && c.Admin.Evaluation != nil:
			return nil, false, gateway.Failf(contracts.CodeAlreadyEvaluated, "case %s already has its evaluation (exchange %s)", c.ID, c.Admin.Evaluation.ExchangeID)
		}
		return c, false, nil
	}
	st.apply = func(ctx context.Context, c *gateway.Case, now time.Time) (*effect, error) {
		id, err := s.newID()
		if err != nil {
			return nil, gateway.Internal(err)
		}
		ev := contracts.Evaluation{
			EvaluationID: id, CaseID: c.ID, ExchangeID: e.ExchangeID, ImplementationCode: c.ServiceItem.ImplementationCode,
			Sender: c.Sender, Owner: c.Owner, Level: e.Level, Score: e.Level.Score(), Text: e.Text, Channel: e.Channel,
			EvaluatedAt: e.EvaluatedAt, HolderType: e.Applicant.HolderType, ApplicantMasked: contracts.MaskID(e.Applicant.IDNumber),
			ReceivedAt: now,
		}
		a := adminOf(c)
		var f *contracts.FollowUp
		if e.Level.Negative() {
			due, err := s.replyDue(now)
			if err != nil {
				return nil, err
			}
			f = &contracts.FollowUp{State: contracts.FollowUpOpen, Limit: wireLimit(s.admin.ReplyLimit), Due: due}
		}
		dels, notes, err := s.notify(ctx, c, now, contracts.Notice{Type: contracts.NoticeEvaluation, Evaluation: &ev, FollowUp: f},
			e.ExchangeID, c.Owner, s.admin.EvaluationPartner)
		if err != nil {
			return nil, err
		}
		if len(dels) == 0 {
			return nil, gateway.Internal(errors.New("the case's owner is not configured"))
		}
		kept := ev
		kept.Text = ""
		a.Evaluation, a.FollowUp = &kept, f
		c.UpdatedAt = now
		s.rearm(c)
		return &effect{deliveries: dels, region: c.FromRegion, evidence: afterFirst(notes), extra: func(x *contracts.EvidenceDetail) {
			x.Level, x.Score = string(e.Level), e.Level.Score()
			if f != nil {
				x.Deadline = f.Due.UTC().Format(time.RFC3339)
			}
		}}, nil
	}
	return s.accept(ctx, in, bodySM3, st, enc)
}

// replyDue is when a follow-up opened at now must be answered.
func (s *Service) replyDue(now time.Time) (time.Time, error) {
	l := s.admin.ReplyLimit
	if l.Unit == workdays.CalendarDays && s.admin.Calendar == nil {
		return workdays.DateOf(now).AddDays(l.Days).End(), nil
	}
	d, err := s.admin.Calendar.Due(workdays.DateOf(now), l.Days, l.Unit)
	if err != nil {
		return time.Time{}, gateway.Internal(err)
	}
	return d.End(), nil
}

// ReplyFollowUp accepts the owner's reply to the follow-up of case
// caseID's negative evaluation.
func (s *Service) ReplyFollowUp(ctx context.Context, caseID string, in gateway.Inbound) (*gateway.Signed, error) {
	if err := gateway.VerifyInbound(ctx, s.env.Telemetry, s.crypto, in); err != nil {
		return nil, err
	}
	var r contracts.EvaluationReply
	if err := gateway.DecodeStrict(in.Body, &r); err != nil {
		return nil, err
	}
	if r.CaseID != caseID {
		return nil, gateway.Failf(contracts.CodeValidationFailed, "case_id: does not match the case in the path")
	}
	return s.reply(ctx, in, &r, nil)
}

// reply accepts a follow-up reply whose signature over in.Body was
// verified; enc renders the receipt.
func (s *Service) reply(ctx context.Context, in gateway.Inbound, r *contracts.EvaluationReply, enc receiptEncoder) (*gateway.Signed, error) {
	if err := r.Validate(); err != nil {
		return nil, gateway.FromField(err)
	}
	bodySM3 := s.crypto.SM3Hex(in.Body)
	if ans, err := s.lookupReplay(ctx, in.Caller.ID(), r.ExchangeID, bodySM3); ans != nil || err != nil {
		return ans, err
	}
	st := step{exchangeID: r.ExchangeID, caseID: r.CaseID, kind: gateway.ExchangeReply, event: contracts.EventReplyReceived}
	st.load = func(ctx context.Context) (*gateway.Case, bool, error) {
		c, err := s.readCase(ctx, r.CaseID)
		if err != nil {
			return nil, false, err
		}
		if err := gateway.Authorize(in.Caller, gateway.ActReplyFollowUp, c, ""); err != nil {
			return nil, false, err
		}
		if c.Admin == nil || c.Admin.FollowUp == nil || c.Admin.FollowUp.State == contracts.FollowUpAnswered {
			return nil, false, gateway.Failf(contracts.CodeInvalidTransition, "case %s has no follow-up waiting for a reply", c.ID)
		}
		return c, false, nil
	}
	st.apply = func(ctx context.Context, c *gateway.Case, now time.Time) (*effect, error) {
		a := c.Admin
		f := *a.FollowUp
		reply := *r
		f.State, f.Reply, f.Late = contracts.FollowUpAnswered, &reply, !now.Before(f.Due)
		dels, notes, err := s.notify(ctx, c, now, contracts.Notice{Type: contracts.NoticeFollowUpReply, Evaluation: a.Evaluation, FollowUp: &f},
			r.ExchangeID, c.Sender, s.admin.EvaluationPartner)
		if err != nil {
			return nil, err
		}
		if len(dels) == 0 {
			return nil, gateway.Internal(errors.New("the case's sender is not configured"))
		}
		a.FollowUp, c.UpdatedAt = &f, now
		s.rearm(c)
		return &effect{deliveries: dels, region: c.ToRegion, evidence: afterFirst(notes), extra: func(x *contracts.EvidenceDetail) { x.Late = f.Late }}, nil
	}
	return s.accept(ctx, in, bodySM3, st, enc)
}

// readCase reads case id, not_found when there is none.
func (s *Service) readCase(ctx context.Context, id string) (*gateway.Case, error) {
	c, err := s.store.GetCase(ctx, id)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return nil, gateway.Failf(contracts.CodeNotFound, "no such case")
	case err != nil:
		return nil, gateway.Internal(err)
	}
	return c, nil
}

// afterFirst returns recs without its first record (the notice.queued
// record of the delivery the exchange's own record already names).
func afterFirst(recs []contracts.EvidenceRecord) []contracts.EvidenceRecord {
	if len(recs) == 0 {
		return nil
	}
	return recs[1:]
}
