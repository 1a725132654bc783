package workdays

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// example loads the shipped example calendar (2026).
func example(t testing.TB) *Calendar {
	t.Helper()
	c, err := Parse(Example2026)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func date(t testing.TB, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// at returns the instant hh:mm CST on day s.
func at(t testing.TB, s string, hh, mm int) time.Time {
	d := date(t, s)
	return time.Date(d.Year, d.Month, d.Day, hh, mm, 0, 0, Zone)
}

func TestIsWorkday(t *testing.T) {
	c := example(t)
	tests := []struct {
		day  string
		want bool
		why  string
	}{
		{"2026-03-10", true, "a Tuesday"},
		{"2026-03-14", false, "a Saturday"},
		{"2026-03-15", false, "a Sunday"},
		{"2026-01-01", false, "元旦, a Thursday"},
		{"2026-01-04", true, "a Sunday made a working day"},
		{"2026-02-23", false, "the last day of 春节, a Monday"},
		{"2026-02-14", true, "a Saturday made a working day before 春节"},
		{"2026-10-07", false, "国庆节, a Wednesday"},
		{"2026-10-08", true, "the Thursday after 国庆节"},
		{"2026-10-10", true, "a Saturday made a working day"},
	}
	for _, tt := range tests {
		got, err := c.IsWorkday(date(t, tt.day))
		if err != nil || got != tt.want {
			t.Errorf("%s (%s): %v, %v; want %v", tt.day, tt.why, got, err, tt.want)
		}
	}
	if _, err := c.IsWorkday(date(t, "2027-01-04")); !errors.Is(err, ErrNotCovered) {
		t.Errorf("a day of 2027: %v, want ErrNotCovered", err)
	}
}

func TestDueAndCounted(t *testing.T) {
	c := example(t)
	tests := []struct {
		name string
		from string
		n    int
		unit Unit
		want string
	}{
		{"the start day does not count", "2026-03-10", 1, WorkingDays, "2026-03-11"},
		{"over a weekend", "2026-03-12", 3, WorkingDays, "2026-03-17"},
		{"accepted on a Saturday", "2026-03-14", 1, WorkingDays, "2026-03-16"},
		{"across 国庆节 and its Saturday working day", "2026-09-29", 3, WorkingDays, "2026-10-09"},
		{"across 春节, with its Saturday working day", "2026-02-12", 5, WorkingDays, "2026-02-26"},
		{"20 working days from mid-September", "2026-09-15", 20, WorkingDays, "2026-10-19"},
		{"calendar days ignore holidays", "2026-09-29", 3, CalendarDays, "2026-10-02"},
		{"calendar days across months", "2026-01-30", 30, CalendarDays, "2026-03-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Due(date(t, tt.from), tt.n, tt.unit)
			if err != nil || got.String() != tt.want {
				t.Fatalf("Due(%s, %d %s) = %s, %v; want %s", tt.from, tt.n, tt.unit, got, err, tt.want)
			}
			back, err := c.Counted(date(t, tt.from), got, tt.unit)
			if err != nil || back != tt.n {
				t.Errorf("Counted(%s, %s) = %d, %v; want %d", tt.from, got, back, err, tt.n)
			}
		})
	}
	if _, err := c.Due(date(t, "2026-12-20"), 10, WorkingDays); !errors.Is(err, ErrNotCovered) {
		t.Errorf("a deadline running into 2027: %v, want ErrNotCovered", err)
	}
	for _, n := range []int{0, -1, MaxLimit + 1} {
		if _, err := c.Due(date(t, "2026-03-10"), n, WorkingDays); err == nil {
			t.Errorf("Due with %d days: no error", n)
		}
	}
	if n, err := c.Counted(date(t, "2026-03-10"), date(t, "2026-03-10"), WorkingDays); n != 0 || err != nil {
		t.Errorf("Counted over no days: %d, %v", n, err)
	}
}

// TestClock runs a case's clock: accepted, correction required (the
// clock stops), resubmitted (it resumes with the days left), read at
// several moments, across a holiday, until overdue.
func TestClock(t *testing.T) {
	c := example(t)
	limit := Limit{Days: 5, Unit: WorkingDays}
	// Accepted Tuesday 2026-09-15 at 10:00: five working days are Wed 16,
	// Thu 17, Fri 18, Sun 20 (a working day before 国庆节), Mon 21; due at
	// the end of Monday 21.
	k, err := Start(c, limit, at(t, "2026-09-15", 10, 0))
	if err != nil {
		t.Fatal(err)
	}
	if want := date(t, "2026-09-21").End(); !k.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", k.Deadline, want)
	}
	read := func(k Clock, now time.Time, want Reading) {
		t.Helper()
		got, err := k.Read(c, now)
		if err != nil || got != want {
			t.Errorf("at %s: %+v, %v; want %+v", now, got, err, want)
		}
	}
	read(k, at(t, "2026-09-15", 18, 0), Reading{Used: 0, Left: 5})
	read(k, at(t, "2026-09-17", 9, 0), Reading{Used: 2, Left: 3})
	// Correction required on Thursday 17: two days used, the clock stops.
	k, err = k.Stop(c, at(t, "2026-09-17", 11, 0))
	if err != nil || k.Running() || k.Used != 2 || !k.Deadline.IsZero() {
		t.Fatalf("stopped: %+v, %v", k, err)
	}
	read(k, at(t, "2026-09-24", 9, 0), Reading{Used: 2, Left: 3})
	if _, err := k.Stop(c, at(t, "2026-09-24", 9, 0)); !errors.Is(err, ErrClockState) {
		t.Errorf("stopping a stopped clock: %v", err)
	}
	// Resubmitted Wednesday 23: three days left are Thu 24, Mon 28 (25–27
	// is 中秋节), Tue 29; due at the end of Tuesday 29.
	k, err = k.Resume(c, at(t, "2026-09-23", 15, 0))
	if err != nil {
		t.Fatal(err)
	}
	if want := date(t, "2026-09-29").End(); !k.Deadline.Equal(want) {
		t.Fatalf("deadline after resuming %s, want %s", k.Deadline, want)
	}
	if _, err := k.Resume(c, at(t, "2026-09-23", 16, 0)); !errors.Is(err, ErrClockState) {
		t.Errorf("resuming a running clock: %v", err)
	}
	read(k, at(t, "2026-09-28", 12, 0), Reading{Used: 4, Left: 1})
	read(k, at(t, "2026-09-29", 23, 59), Reading{Used: 5, Left: 0})
	read(k, date(t, "2026-09-29").End(), Reading{Used: 6, Left: 0, Overdue: true}) // the day begun counts as used
	read(k, at(t, "2026-10-09", 9, 0), Reading{Used: 8, Left: 0, Overdue: true})   // 24, 28, 29, 30, Oct 8, 9
	// A warning two working days ahead falls at the start of Monday 28.
	if w, err := k.WarnAt(c, 2); err != nil || !w.Equal(at(t, "2026-09-28", 0, 0)) {
		t.Errorf("warning at %s, %v; want the start of 2026-09-28", w, err)
	}
	if w, err := k.WarnAt(c, 1); err != nil || !w.Equal(at(t, "2026-09-29", 0, 0)) {
		t.Errorf("warning one day ahead at %s, %v", w, err)
	}
	// A case accepted at 23:30 UTC is accepted the next day in Beijing.
	k, err = Start(c, Limit{Days: 1, Unit: CalendarDays}, time.Date(2026, 3, 9, 23, 30, 0, 0, time.UTC))
	if err != nil || !k.Deadline.Equal(date(t, "2026-03-11").End()) {
		t.Errorf("accepted 2026-03-09 23:30 UTC, 1 calendar day: deadline %s, %v", k.Deadline, err)
	}
	if _, err := Start(c, Limit{Days: 0, Unit: WorkingDays}, at(t, "2026-03-10", 9, 0)); err == nil {
		t.Error("a limit of 0 days started")
	}
	if _, err := Start(c, Limit{Days: 3, Unit: "weeks"}, at(t, "2026-03-10", 9, 0)); err == nil {
		t.Error("a limit in weeks started")
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"no name", "years: [2026]\n", "name is required"},
		{"no years", "name: x\n", "years is required"},
		{"year twice", "name: x\nyears: [2026, 2026]\n", "listed twice"},
		{"year far off", "name: x\nyears: [1999]\n", "out of range"},
		{"holiday outside", "name: x\nyears: [2026]\nholidays: [{date: 2027-01-01}]\n", "outside the years"},
		{"bad date", "name: x\nyears: [2026]\nholidays: [{date: 2026-02-30}]\n", "want YYYY-MM-DD"},
		{"range backwards", "name: x\nyears: [2026]\nholidays: [{from: 2026-02-10, to: 2026-02-01}]\n", "is after"},
		{"date and range", "name: x\nyears: [2026]\nholidays: [{date: 2026-02-10, from: 2026-02-10, to: 2026-02-11}]\n", "either date"},
		{"both kinds", "name: x\nyears: [2026]\nholidays: [{date: 2026-02-14}]\nworkdays: [{date: 2026-02-14}]\n", "both a holiday"},
		{"weekday made working", "name: x\nyears: [2026]\nworkdays: [{date: 2026-02-13}]\n", "only a weekend day"},
		{"unknown field", "name: x\nyears: [2026]\nholiday: []\n", "not found"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// FuzzParse: any file either parses into a calendar whose every named day
// lies in a covered year and answers IsWorkday, or is refused with an
// error naming the calendar.
func FuzzParse(f *testing.F) {
	f.Add([]byte("name: x\nyears: [2026]\nholidays: [{from: 2026-02-15, to: 2026-02-23}]\nworkdays: [{date: 2026-02-14}]\n"))
	f.Add([]byte("name: x\nyears: [2026, 2027]\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "calendar: ") {
				t.Fatalf("error %q does not name the calendar", err)
			}
			return
		}
		for d := range c.holidays {
			if ok, err := c.IsWorkday(d); ok || err != nil {
				t.Fatalf("holiday %s: workday %v, %v", d, ok, err)
			}
		}
		for d := range c.workdays {
			if ok, err := c.IsWorkday(d); !ok || err != nil {
				t.Fatalf("working day %s: workday %v, %v", d, ok, err)
			}
		}
	})
}

// BenchmarkDue20WorkingDays: the deadline of a 20-working-day limit.
//
//	go test ./gateway/workdays -run '^$' -bench Due
func BenchmarkDue20WorkingDays(b *testing.B) {
	c := example(b)
	from := date(b, "2026-09-15")
	for b.Loop() {
		if _, err := c.Due(from, 20, WorkingDays); err != nil {
			b.Fatal(err)
		}
	}
}
