package workdays

import (
	"errors"
	"fmt"
	"time"
)

// Clock is a case's statutory clock: a limit that starts on acceptance
// (受理), stops while the applicant corrects materials and resumes on the
// resubmission with the days left. A Clock is a value; its methods
// return the next state.
type Clock struct {
	Limit Limit `json:"limit"`
	// Used counts the days that ran out in spans already stopped.
	Used int `json:"used"`
	// Since is when the running span started; zero while stopped.
	Since time.Time `json:"since,omitzero"`
	// Deadline is when the limit runs out if the clock keeps running:
	// the end of the last counted day. Zero while stopped.
	Deadline time.Time `json:"deadline,omitzero"`
}

// Running reports whether the clock runs.
func (k Clock) Running() bool { return !k.Since.IsZero() }

// ErrClockState is a start, stop or resume the clock's state does not
// allow (stopping a stopped clock, say).
var ErrClockState = errors.New("workdays: the clock cannot do that now")

// Start starts a clock of limit l at at (the owner's acceptance).
func Start(c *Calendar, l Limit, at time.Time) (Clock, error) {
	if err := l.Validate(); err != nil {
		return Clock{}, err
	}
	return Clock{Limit: l}.run(c, at)
}

// run sets the clock running from at with the days left; when none are
// left the deadline is the end of at's day (already due).
func (k Clock) run(c *Calendar, at time.Time) (Clock, error) {
	left := k.Limit.Days - k.Used
	day := DateOf(at)
	due := day
	if left > 0 {
		var err error
		if due, err = c.Due(day, left, k.Limit.Unit); err != nil {
			return Clock{}, err
		}
	}
	k.Since, k.Deadline = at, due.End()
	return k, nil
}

// Stop stops the running clock at at (correction required), adding the
// days counted since it started to Used.
func (k Clock) Stop(c *Calendar, at time.Time) (Clock, error) {
	if !k.Running() {
		return k, fmt.Errorf("%w: it is already stopped", ErrClockState)
	}
	n, err := c.Counted(DateOf(k.Since), DateOf(at), k.Limit.Unit)
	if err != nil {
		return Clock{}, err
	}
	k.Used += n
	k.Since, k.Deadline = time.Time{}, time.Time{}
	return k, nil
}

// Resume runs the stopped clock again from at (the resubmission) with the
// days left.
func (k Clock) Resume(c *Calendar, at time.Time) (Clock, error) {
	if k.Running() {
		return k, fmt.Errorf("%w: it is already running", ErrClockState)
	}
	if k.Limit.Days == 0 {
		return k, fmt.Errorf("%w: it was never started", ErrClockState)
	}
	return k.run(c, at)
}

// Reading is what a clock says at one moment.
type Reading struct {
	Used, Left int
	// Overdue: the deadline passed while the clock ran, or the stopped
	// clock had used the whole limit.
	Overdue bool
}

// Read returns the days used and left at now. Days left never go below
// zero; an overdue clock says so.
func (k Clock) Read(c *Calendar, now time.Time) (Reading, error) {
	used := k.Used
	if k.Running() {
		n, err := c.Counted(DateOf(k.Since), DateOf(now), k.Limit.Unit)
		if err != nil {
			return Reading{}, err
		}
		used += n
	}
	r := Reading{Used: used, Left: max(k.Limit.Days-used, 0)}
	if k.Running() {
		r.Overdue = !now.Before(k.Deadline)
	} else {
		r.Overdue = used > k.Limit.Days
	}
	return r, nil
}

// WarnAt returns when a warning due `before` counted days ahead of the
// deadline falls: the start of the day `before` counted days before the
// deadline's last day (so with before 2 and a deadline at the end of a
// Friday, the warning falls at the start of Thursday). Zero when the
// clock is stopped or before is not positive.
func (k Clock) WarnAt(c *Calendar, before int) (time.Time, error) {
	if !k.Running() || before <= 0 {
		return time.Time{}, nil
	}
	last := DateOf(k.Deadline.Add(-time.Nanosecond))
	d, counted := last, 0
	for range 4 * MaxLimit {
		if counted == before-1 {
			return d.start(), nil
		}
		d = d.AddDays(-1)
		ok, err := c.counts(d, k.Limit.Unit)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			counted++
		}
	}
	return time.Time{}, errors.New("workdays: no warning day found")
}
