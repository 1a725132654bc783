// Package workdays is the calendar of the statutory clock (承诺时限): which
// days are working days, and how a time limit counted in working days or
// in calendar days runs, pauses while the applicant corrects materials
// (补正) and resumes with the days left.
//
// Decisions, for every caller:
//   - Days are civil dates in China Standard Time (UTC+8, no daylight
//     saving): a case accepted at 23:30 UTC is accepted on the next day in
//     Beijing.
//   - A limit counts from the day after the start (the day of acceptance
//     is not counted, as periods are counted in Chinese administrative
//     law), and the deadline is the end of the last counted day (24:00
//     CST).
//   - A working day is Monday to Friday unless the calendar names it a
//     public holiday, or a Saturday or Sunday the calendar names an
//     adjusted working day (调休上班).
//   - A calendar covers the years it declares and no others: asking about
//     a day outside them is an error (ErrNotCovered), never a guess from
//     weekends alone, because a wrong statutory deadline is worse than a
//     missing one.
package workdays

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Zone is China Standard Time, in which days are counted.
var Zone = time.FixedZone("CST", 8*60*60)

// ErrNotCovered means a day lies outside the years the calendar covers.
var ErrNotCovered = errors.New("workdays: the calendar does not cover this day")

// MaxLimit bounds a time limit, in days of either unit.
const MaxLimit = 3650

// Date is a civil date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the civil date of t in Zone.
func DateOf(t time.Time) Date {
	y, m, d := t.In(Zone).Date()
	return Date{y, m, d}
}

// ParseDate reads a date written YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, Zone)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// String writes the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// start returns the first instant of d in Zone.
func (d Date) start() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, Zone) }

// End returns the end of d: the first instant of the next day in Zone.
func (d Date) End() time.Time { return d.AddDays(1).start() }

// AddDays returns the date n days after d (before, for negative n).
func (d Date) AddDays(n int) Date { return DateOf(d.start().AddDate(0, 0, n)) }

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool { return d.start().Before(e.start()) }

// Calendar says which days are working days in the years it covers.
type Calendar struct {
	name     string
	years    []int
	holidays map[Date]string // public holidays, by date: their name
	workdays map[Date]string // adjusted working days on a weekend
}

// Name returns the calendar's name, as its file gives it.
func (c *Calendar) Name() string { return c.name }

// Years returns the years the calendar covers, ascending.
func (c *Calendar) Years() []int { return slices.Clone(c.years) }

// Covers reports whether d lies in a year the calendar covers.
func (c *Calendar) Covers(d Date) bool { return slices.Contains(c.years, d.Year) }

// IsWorkday reports whether d is a working day; ErrNotCovered when the
// calendar does not cover d.
func (c *Calendar) IsWorkday(d Date) (bool, error) {
	if !c.Covers(d) {
		return false, fmt.Errorf("%w: %s (the calendar covers %s)", ErrNotCovered, d, c.yearList())
	}
	if _, ok := c.holidays[d]; ok {
		return false, nil
	}
	if _, ok := c.workdays[d]; ok {
		return true, nil
	}
	wd := d.start().Weekday()
	return wd != time.Saturday && wd != time.Sunday, nil
}

func (c *Calendar) yearList() string {
	s := make([]string, len(c.years))
	for i, y := range c.years {
		s[i] = fmt.Sprint(y)
	}
	return strings.Join(s, ", ")
}

// Unit is the unit a time limit is counted in.
type Unit string

// The units of a time limit.
const (
	WorkingDays  Unit = "working_days"
	CalendarDays Unit = "calendar_days"
)

// Limit is a time limit: N days of Unit.
type Limit struct {
	Days int  `json:"days" yaml:"days"`
	Unit Unit `json:"unit" yaml:"unit"`
}

// Validate checks the limit's unit and bounds.
func (l Limit) Validate() error {
	if l.Unit != WorkingDays && l.Unit != CalendarDays {
		return fmt.Errorf("unit %q: must be %s or %s", l.Unit, WorkingDays, CalendarDays)
	}
	if l.Days < 1 || l.Days > MaxLimit {
		return fmt.Errorf("days %d: must be 1 to %d", l.Days, MaxLimit)
	}
	return nil
}

// counts reports whether day d counts against a limit in unit u.
func (c *Calendar) counts(d Date, u Unit) (bool, error) {
	if u == CalendarDays {
		return true, nil
	}
	return c.IsWorkday(d)
}

// Due returns the date on which n counted days of unit u after from run
// out: the nth counted day after from (from itself does not count). n
// must be at least 1.
func (c *Calendar) Due(from Date, n int, u Unit) (Date, error) {
	if n < 1 || n > MaxLimit {
		return Date{}, fmt.Errorf("workdays: %d days: must be 1 to %d", n, MaxLimit)
	}
	d := from
	for left := n; left > 0; {
		d = d.AddDays(1)
		ok, err := c.counts(d, u)
		if err != nil {
			return Date{}, err
		}
		if ok {
			left--
		}
	}
	return d, nil
}

// Counted returns how many days of unit u count in (from, to]: after from,
// up to and including to; 0 when to is not after from.
func (c *Calendar) Counted(from, to Date, u Unit) (int, error) {
	n := 0
	for d := from.AddDays(1); !to.Before(d); d = d.AddDays(1) {
		if n > 4*MaxLimit {
			return 0, fmt.Errorf("workdays: %s to %s is too long a span", from, to)
		}
		ok, err := c.counts(d, u)
		if err != nil {
			return 0, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// file is a calendar file.
type file struct {
	Name     string  `yaml:"name"`
	Years    []int   `yaml:"years"`
	Holidays []entry `yaml:"holidays"`
	Workdays []entry `yaml:"workdays"`
}

// entry is one day (date) or a range of days (from, to), with its name.
type entry struct {
	Date string `yaml:"date"`
	From string `yaml:"from"`
	To   string `yaml:"to"`
	Name string `yaml:"name"`
}

// days returns the dates an entry names.
func (e entry) days() ([]Date, error) {
	switch {
	case e.Date != "" && e.From == "" && e.To == "":
		d, err := ParseDate(e.Date)
		return []Date{d}, err
	case e.Date == "" && e.From != "" && e.To != "":
		from, err := ParseDate(e.From)
		if err != nil {
			return nil, err
		}
		to, err := ParseDate(e.To)
		if err != nil {
			return nil, err
		}
		if to.Before(from) {
			return nil, fmt.Errorf("from %s is after to %s", from, to)
		}
		var ds []Date
		for d := from; !to.Before(d); d = d.AddDays(1) {
			if len(ds) == 366 {
				return nil, fmt.Errorf("%s to %s is longer than a year", from, to)
			}
			ds = append(ds, d)
		}
		return ds, nil
	}
	return nil, errors.New("give either date, or from and to")
}

// Parse reads a calendar file (YAML):
//
//	name: 中国大陆法定节假日 2026（示例）
//	years: [2026]
//	holidays:                      # public holidays: rest days
//	  - {date: 2026-01-01, name: 元旦}
//	  - {from: 2026-02-15, to: 2026-02-23, name: 春节}
//	workdays:                      # adjusted working days on a weekend
//	  - {date: 2026-02-14, name: 春节调休}
//
// Every day it names must lie in a covered year; a day cannot be both a
// holiday and a working day; an adjusted working day must fall on a
// Saturday or Sunday. Unknown fields are refused.
func Parse(raw []byte) (*Calendar, error) {
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	c := &Calendar{name: strings.TrimSpace(f.Name), holidays: map[Date]string{}, workdays: map[Date]string{}}
	if c.name == "" {
		return nil, errors.New("calendar: name is required")
	}
	if len(f.Years) == 0 {
		return nil, errors.New("calendar: years is required: the years whose holidays it lists")
	}
	for _, y := range f.Years {
		if y < 2000 || y > 2199 {
			return nil, fmt.Errorf("calendar: year %d is out of range", y)
		}
		if slices.Contains(c.years, y) {
			return nil, fmt.Errorf("calendar: year %d is listed twice", y)
		}
		c.years = append(c.years, y)
	}
	slices.Sort(c.years)
	add := func(kind string, es []entry, into map[Date]string) error {
		for i, e := range es {
			ds, err := e.days()
			if err != nil {
				return fmt.Errorf("calendar: %s[%d]: %w", kind, i, err)
			}
			for _, d := range ds {
				if !c.Covers(d) {
					return fmt.Errorf("calendar: %s[%d]: %s is outside the years covered", kind, i, d)
				}
				into[d] = e.Name
			}
		}
		return nil
	}
	if err := add("holidays", f.Holidays, c.holidays); err != nil {
		return nil, err
	}
	if err := add("workdays", f.Workdays, c.workdays); err != nil {
		return nil, err
	}
	for d := range c.workdays {
		if _, ok := c.holidays[d]; ok {
			return nil, fmt.Errorf("calendar: %s is both a holiday and a working day", d)
		}
		if wd := d.start().Weekday(); wd != time.Saturday && wd != time.Sunday {
			return nil, fmt.Errorf("calendar: working day %s is a %s: only a weekend day can be made a working day", d, wd)
		}
	}
	return c, nil
}

// Load reads the calendar file at path.
func Load(path string) (*Calendar, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	return Parse(raw)
}
