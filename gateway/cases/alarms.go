package cases

import (
	"context"
	"errors"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// alarmBatch bounds the cases one pass reads at a time; maxAlarmRounds
// bounds the batches of one pass.
const (
	alarmBatch     = 100
	maxAlarmRounds = 100
)

// DefaultAlarmPoll is how often RunAlarms looks for cases whose alarm
// fell, when asked for no period.
const DefaultAlarmPoll = 30 * time.Second

// RunAlarms makes an alarm pass (Alarms) every period (DefaultAlarmPoll
// when not positive) until ctx ends; a pass that fails is logged and the
// next one tries again.
func (s *Service) RunAlarms(ctx context.Context, period time.Duration) {
	if period <= 0 {
		period = DefaultAlarmPoll
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if _, err := s.Alarms(ctx); err != nil && ctx.Err() == nil {
			s.env.Log.ErrorContext(ctx, "alarm pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Alarms makes one pass over the cases whose alarm fell by the injected
// clock's now: for each it raises the notices due (a deadline warning, an
// overdue deadline, an overdue follow-up) to the districts concerned and
// the evaluation system, marks them raised and sets the next alarm, in
// one write per case with their evidence. It returns how many cases it
// changed. A case changed concurrently is read again; what it raised is
// never raised twice.
func (s *Service) Alarms(ctx context.Context) (int, error) {
	now := s.env.Clock.Now().UTC()
	done := 0
	for range maxAlarmRounds {
		due, err := s.store.AlarmsDue(ctx, now, alarmBatch)
		if err != nil {
			return done, err
		}
		for _, c := range due {
			changed, err := s.alarm(ctx, c, now)
			if err != nil {
				return done, err
			}
			if changed {
				done++
			}
		}
		if len(due) < alarmBatch {
			break
		}
	}
	if done > 0 {
		s.env.Wake()
	}
	return done, nil
}

// alarm raises what is due on c at now and writes it, reading c again
// when it changed under the write.
func (s *Service) alarm(ctx context.Context, c *gateway.Case, now time.Time) (bool, error) {
	for range maxStaleRetries {
		if c.AlarmAt.IsZero() || c.AlarmAt.After(now) {
			return false, nil
		}
		ch, raised, err := s.raise(ctx, c, now)
		if err != nil {
			return false, err
		}
		err = s.write(ctx, s.store.UpdateCase, ch)
		if errors.Is(err, gateway.ErrStale) {
			if c, err = s.store.GetCase(ctx, c.ID); err != nil {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, err
		}
		for _, t := range raised {
			s.metrics.raised(ctx, c.Owner, t)
			s.env.Log.InfoContext(ctx, "notice raised", "case_id", c.ID, "owner", c.Owner, "notice", t)
		}
		return true, nil
	}
	return false, errTooFast(c.ID)
}

// raise builds the change that raises what is due on c at now.
func (s *Service) raise(ctx context.Context, c *gateway.Case, now time.Time) (gateway.Change, []contracts.NoticeType, error) {
	ch := gateway.Change{Case: c}
	var raised []contracts.NoticeType
	add := func(n contracts.Notice, partners ...string) error {
		dels, ev, err := s.notify(ctx, c, now, n, "", partners...)
		if err != nil {
			return err
		}
		ch.Enqueue, ch.Evidence = append(ch.Enqueue, dels...), append(ch.Evidence, ev...)
		raised = append(raised, n.Type)
		return nil
	}
	a := adminOf(c)
	if k := a.Clock; k != nil && k.Running() {
		switch {
		case a.OverdueAt.IsZero() && !k.Deadline.After(now):
			a.OverdueAt, c.Overdue = now, true
			if err := add(contracts.Notice{Type: contracts.NoticeDeadlineOverdue, Deadline: s.deadline(c, now)}, c.Owner, c.Sender); err != nil {
				return ch, nil, err
			}
		case a.WarnedAt.IsZero() && a.OverdueAt.IsZero() && !a.WarnAt.IsZero() && !a.WarnAt.After(now):
			a.WarnedAt = now
			if err := add(contracts.Notice{Type: contracts.NoticeDeadlineWarning, Deadline: s.deadline(c, now)}, c.Owner, c.Sender); err != nil {
				return ch, nil, err
			}
		}
	}
	if f := a.FollowUp; f != nil && f.State == contracts.FollowUpOpen && !f.Due.After(now) {
		f.State, f.OverdueAt, c.Overdue = contracts.FollowUpOverdue, now, true
		if err := add(contracts.Notice{Type: contracts.NoticeFollowUpOverdue, Evaluation: a.Evaluation, FollowUp: f},
			c.Owner, c.Sender, s.admin.EvaluationPartner); err != nil {
			return ch, nil, err
		}
	}
	c.UpdatedAt = now
	s.rearm(c)
	return ch, raised, nil
}
