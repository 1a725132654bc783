package cases

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/catalogue"
	"github.com/tongban/tongban/gateway/workdays"
)

// The statutory clock (承诺时限) of a case, as the gateway runs it:
//   - it starts when the owner reports accepted (受理), at the gateway's
//     time of receipt, on the promised limit of the case's catalogue
//     item; an item not in the catalogue, or a gateway without a
//     calendar, has no clock;
//   - correction_required stops it; the window's resubmission resumes
//     it with the days left;
//   - concluded or rejected stops it for good; a case concluded after
//     its deadline is overdue even if the overdue notice had not gone
//     out yet;
//   - its warning falls WarnBefore counted days before the deadline.

// final reports whether a case in state st will not change again in a
// way its clock cares about.
func final(st contracts.CaseState) bool {
	switch st {
	case contracts.CaseStateConcluded, contracts.CaseStateDispatched, contracts.CaseStateDelivered,
		contracts.CaseStateRejected, contracts.CaseStateCancelled:
		return true
	}
	return false
}

// clockOnReport moves c's clock for the state c just entered from prev,
// sets its deadline and next alarm, and returns the evidence records of
// what the clock did.
func (s *Service) clockOnReport(ctx context.Context, c *gateway.Case, prev contracts.CaseState, now time.Time) []contracts.EvidenceRecord {
	cal := s.admin.Calendar
	var ev []contracts.EvidenceRecord
	a := c.Admin
	switch {
	case cal == nil:
	case c.State == contracts.CaseStateAccepted && (a == nil || a.Clock == nil):
		it, ok := s.item(c)
		if !ok {
			break
		}
		k, err := workdays.Start(cal, it.PromisedLimit, now)
		if err != nil {
			s.env.Log.WarnContext(ctx, "the statutory clock cannot start", "case_id", c.ID, "err", err)
			break
		}
		a = adminOf(c)
		a.Clock, a.ClockStartedAt = &k, now
		ev = s.clockRecord(ctx, c, now, contracts.EventClockStarted)
	case a != nil && a.Clock != nil && a.Clock.Running() && (c.State == contracts.CaseStateCorrectionRequired || final(c.State)):
		if !a.Clock.Deadline.After(now) {
			c.Overdue = true
		}
		k, err := a.Clock.Stop(cal, now)
		if err != nil {
			s.env.Log.WarnContext(ctx, "the statutory clock cannot stop", "case_id", c.ID, "err", err)
			break
		}
		a.Clock, a.ClockStoppedAt = &k, now
		ev = s.clockRecord(ctx, c, now, contracts.EventClockStopped)
	}
	s.rearm(c)
	return ev
}

// resumeClock runs a stopped clock again on c's resubmission.
func (s *Service) resumeClock(ctx context.Context, c *gateway.Case, now time.Time) []contracts.EvidenceRecord {
	a, cal := c.Admin, s.admin.Calendar
	if cal == nil || a == nil || a.Clock == nil || a.Clock.Running() {
		return nil
	}
	k, err := a.Clock.Resume(cal, now)
	if err != nil {
		s.env.Log.WarnContext(ctx, "the statutory clock cannot resume", "case_id", c.ID, "err", err)
		return nil
	}
	a.Clock, a.WarnedAt = &k, time.Time{}
	s.rearm(c)
	return s.clockRecord(ctx, c, now, contracts.EventClockResumed)
}

// item returns the catalogue item of c's implementation code.
func (s *Service) item(c *gateway.Case) (it catalogue.Item, ok bool) {
	if s.admin.Catalogue == nil {
		return it, false
	}
	return s.admin.Catalogue.Lookup(c.ServiceItem.ImplementationCode)
}

// rearm sets c's Deadline, warning time and AlarmAt from its clock and
// follow-up.
func (s *Service) rearm(c *gateway.Case) {
	a := c.Admin
	c.Deadline, c.AlarmAt = time.Time{}, time.Time{}
	if a == nil {
		return
	}
	next := func(t time.Time) {
		if !t.IsZero() && (c.AlarmAt.IsZero() || t.Before(c.AlarmAt)) {
			c.AlarmAt = t
		}
	}
	if k := a.Clock; k != nil && k.Running() {
		c.Deadline = k.Deadline
		a.WarnAt = time.Time{}
		if s.admin.WarnBefore > 0 && s.admin.Calendar != nil {
			if w, err := k.WarnAt(s.admin.Calendar, s.admin.WarnBefore); err == nil && w.Before(k.Deadline) {
				a.WarnAt = w
			}
		}
		if a.WarnedAt.IsZero() && a.OverdueAt.IsZero() {
			next(a.WarnAt)
		}
		if a.OverdueAt.IsZero() {
			next(k.Deadline)
		}
	}
	if f := a.FollowUp; f != nil && f.State == contracts.FollowUpOpen {
		next(f.Due)
	}
}

// deadline returns c's clock as callers see it at now; nil when it has none.
func (s *Service) deadline(c *gateway.Case, now time.Time) *contracts.Deadline {
	a := c.Admin
	if a == nil || a.Clock == nil {
		return nil
	}
	k := a.Clock
	d := &contracts.Deadline{Limit: wireLimit(k.Limit), Running: k.Running(), StartedAt: a.ClockStartedAt,
		Deadline: k.Deadline, WarnedAt: a.WarnedAt, OverdueAt: a.OverdueAt, Overdue: c.Overdue}
	if !k.Running() {
		d.StoppedAt = a.ClockStoppedAt
	}
	if s.admin.Calendar != nil {
		if r, err := k.Read(s.admin.Calendar, now); err == nil {
			d.DaysUsed, d.DaysLeft = r.Used, r.Left
			d.Overdue = d.Overdue || r.Overdue
		}
	}
	return d
}

// clockRecord is the evidence record of what c's clock did at now.
func (s *Service) clockRecord(ctx context.Context, c *gateway.Case, now time.Time, event string) []contracts.EvidenceRecord {
	d := s.deadline(c, now)
	return s.env.Recorder.Administration(ctx, c, now, event, nil, func(x *contracts.EvidenceDetail) {
		if d == nil {
			return
		}
		if !d.Deadline.IsZero() {
			x.Deadline = d.Deadline.UTC().Format(time.RFC3339)
		}
		x.DaysUsed, x.DaysLeft = &d.DaysUsed, &d.DaysLeft
		x.Limit = limitText(c.Admin.Clock.Limit)
	})
}

// notify queues notice n about c to each partner named (once each,
// skipping "" and partners the gateway does not know) under exchange
// exchangeID ("" for a fresh one), and returns the deliveries and their
// notice.queued records.
func (s *Service) notify(ctx context.Context, c *gateway.Case, now time.Time, n contracts.Notice, exchangeID string, partners ...string) ([]*gateway.Delivery, []contracts.EvidenceRecord, error) {
	if exchangeID == "" {
		id, err := s.newID()
		if err != nil {
			return nil, nil, gateway.Internal(err)
		}
		exchangeID = id
	}
	n.CaseID, n.At, n.ImplementationCode = c.ID, now, c.ServiceItem.ImplementationCode
	n.OwnerCaseNo, n.LocalCaseNo = c.OwnerCaseNo, c.LocalCaseNo
	if c.BundleID != c.ID {
		n.BundleID = c.BundleID
	}
	var (
		dels []*gateway.Delivery
		ev   []contracts.EvidenceRecord
		seen = map[string]bool{}
	)
	for _, p := range partners {
		if p == "" || seen[p] || s.dir.Get(p) == nil {
			continue
		}
		seen[p] = true
		id, err := s.newID()
		if err != nil {
			return nil, nil, gateway.Internal(err)
		}
		payload, err := json.Marshal(contracts.NoticeDelivery{DeliveryID: id, CaseID: c.ID, ExchangeID: exchangeID, SentAt: now, Notice: n})
		if err != nil {
			return nil, nil, gateway.Internal(err)
		}
		d := &gateway.Delivery{ID: id, CaseID: c.ID, Kind: contracts.DeliveryKindNotice, Partner: p, ExchangeID: exchangeID,
			Payload: payload, State: contracts.TransportStatePending, NextAt: now, CreatedAt: now, Pull: s.dir.Pulls(p)}
		dels = append(dels, d)
		ev = append(ev, s.env.Recorder.Administration(ctx, c, now, contracts.EventNoticeQueued, d, func(x *contracts.EvidenceDetail) {
			x.Notice = string(n.Type)
			if n.Deadline != nil && !n.Deadline.Deadline.IsZero() {
				x.Deadline = n.Deadline.Deadline.UTC().Format(time.RFC3339)
			}
			if n.FollowUp != nil {
				x.Deadline = n.FollowUp.Due.UTC().Format(time.RFC3339)
			}
		})...)
	}
	return dels, ev, nil
}
