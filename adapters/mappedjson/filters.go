package mappedjson

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// filter converts one value between the contract's JSON and the
// partner's; the partner's value is always a JSON scalar, so a filtered
// field of any kind can go into a template. Its errors say what is wrong
// without quoting the value.
type filter interface {
	// encode turns a contract JSON value into the partner's.
	encode(v any) (any, error)
	// decode turns a partner's JSON value back into the contract's.
	decode(v any) (any, error)
}

// Named layouts of the time and date filters.
var (
	timeLayouts = map[string]string{
		"datetime":      "2006-01-02 15:04:05",
		"datetimefrac":  "2006-01-02 15:04:05.999999999",
		"datetimemilli": "2006-01-02 15:04:05.000",
		"compact":       "20060102150405",
		"rfc3339":       time.RFC3339,
		"rfc3339nano":   time.RFC3339Nano,
	}
	dateLayouts = map[string]string{
		"date":    time.DateOnly,
		"compact": "20060102",
		"slash":   "2006/01/02",
		"chinese": "2006年01月02日",
	}
)

// DefaultTimezone is the offset times are rendered in when the config does
// not say: China Standard Time.
const DefaultTimezone = "+08:00"

// parseZone reads a fixed offset "+08:00" (or "Z"), without tzdata.
func parseZone(s string) (*time.Location, error) {
	if s == "" {
		s = DefaultTimezone
	}
	if s == "Z" || s == "+00:00" {
		return time.FixedZone("UTC", 0), nil
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return nil, fmt.Errorf("timezone %q must be an offset like +08:00", s)
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[4:6])
	if err1 != nil || err2 != nil || h > 14 || m > 59 || (h == 14 && m > 0) {
		return nil, fmt.Errorf("timezone %q must be an offset between -14:00 and +14:00", s)
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone("UTC"+s, off), nil
}

// compileFilter builds the filter spec names ("table:zjlx", "time:datetime",
// ...) for a field of node's kind.
func compileFilter(spec string, node *typeNode, c *compiler) (filter, error) {
	name, arg, hasArg := strings.Cut(spec, ":")
	name, arg = strings.TrimSpace(name), strings.TrimSpace(arg)
	needArg := func() error {
		if !hasArg || arg == "" {
			return fmt.Errorf("filter %s needs an argument (%s:...)", name, name)
		}
		return nil
	}
	noArg := func() error {
		if hasArg {
			return fmt.Errorf("filter %s takes no argument", name)
		}
		return nil
	}
	switch name {
	case "table":
		if err := needArg(); err != nil {
			return nil, err
		}
		t, ok := c.tables[arg]
		if !ok {
			return nil, fmt.Errorf("table %q is not defined in tables", arg)
		}
		return newTableFilter(t, node)
	case "time":
		if err := needArg(); err != nil {
			return nil, err
		}
		if node.kind != kTime {
			return nil, fmt.Errorf("filter time needs a time field, this one is %s", node.kind)
		}
		return newTimeFilter(arg, c.zone)
	case "date":
		if err := needArg(); err != nil {
			return nil, err
		}
		if node.kind != kString {
			return nil, fmt.Errorf("filter date needs a YYYY-MM-DD string field, this one is %s", node.kind)
		}
		return newDateFilter(arg)
	case "json":
		if err := noArg(); err != nil {
			return nil, err
		}
		if node.kind != kRaw && node.kind != kObject && node.kind != kArray {
			return nil, fmt.Errorf("filter json needs a JSON value, object or array field, this one is %s", node.kind)
		}
		return jsonFilter{kind: node.kind}, nil
	case "string":
		if err := noArg(); err != nil {
			return nil, err
		}
		if node.kind != kInt && node.kind != kFloat {
			return nil, fmt.Errorf("filter string needs a number field, this one is %s", node.kind)
		}
		return stringFilter{kind: node.kind}, nil
	case "":
		return nil, errors.New("empty filter after |")
	}
	return nil, fmt.Errorf("unknown filter %q (known: table, time, date, json, string)", name)
}

// ---- tables ----

// table is a code table: contract values (as text) to the partner's
// values (JSON scalars), with an optional "*" default for encoding.
type table struct {
	name string
	fwd  map[string]any
	keys []string // sorted, without "*"
	def  any      // the "*" entry, nil when none
	// inv maps the partner's values back; nil when two contract values
	// share a partner value (then the table serves only one-way uses).
	inv    map[string]string
	invDup string // a partner value that two contract values share
}

var tableName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// maxTableEntries bounds one code table.
const maxTableEntries = 512

// compileTable reads one table of the config.
func compileTable(name string, v any) (*table, error) {
	if !tableName.MatchString(name) {
		return nil, fmt.Errorf("tables.%s: a table name must be letters, digits and _, starting with a letter", name)
	}
	o, ok := v.(*object)
	if !ok {
		return nil, fmt.Errorf("tables.%s must be an object of contract value → partner value", name)
	}
	if o.len() > maxTableEntries {
		return nil, fmt.Errorf("tables.%s has more than %d entries", name, maxTableEntries)
	}
	t := &table{name: name, fwd: map[string]any{}, inv: map[string]string{}}
	for _, k := range o.keys {
		pv := o.vals[k]
		if _, ok := scalarKey(pv); !ok {
			return nil, fmt.Errorf("tables.%s.%s must be a string, number or boolean", name, k)
		}
		if s, isStr := pv.(string); isStr && s == "" {
			return nil, fmt.Errorf("tables.%s.%s is an empty string, which reads back as absent", name, k)
		}
		if k == "*" {
			t.def = pv
			continue
		}
		if k == "" {
			return nil, fmt.Errorf("tables.%s has an empty key", name)
		}
		t.fwd[k] = pv
		t.keys = append(t.keys, k)
		sk, _ := scalarKey(pv)
		if _, dup := t.inv[sk]; dup && t.invDup == "" {
			t.invDup = describeScalar(pv)
		}
		t.inv[sk] = k
	}
	if len(t.fwd) == 0 {
		return nil, fmt.Errorf("tables.%s has no entries", name)
	}
	sort.Strings(t.keys)
	if t.invDup != "" {
		t.inv = nil
	}
	return t, nil
}

// lookup returns the partner's value for a contract value's text, the
// default when it has no entry.
func (t *table) lookup(text string) (any, bool) {
	if v, ok := t.fwd[text]; ok {
		return v, true
	}
	if t.def != nil {
		return t.def, true
	}
	return nil, false
}

type tableFilter struct {
	t    *table
	kind kind
}

func newTableFilter(t *table, node *typeNode) (filter, error) {
	if t.inv == nil {
		return nil, fmt.Errorf("table %s maps two contract values to %s, so it cannot be read back", t.name, t.invDup)
	}
	if t.def != nil {
		// The default stands for every value the table does not list; if
		// a listed value shares it, those values read back as that one.
		dk, _ := scalarKey(t.def)
		if k, shared := t.inv[dk]; shared {
			return nil, fmt.Errorf("table %s's \"*\" default %s is also the value of %q, so every unlisted value would read back as %q",
				t.name, describeScalar(t.def), k, k)
		}
	}
	switch node.kind {
	case kString:
	case kBool:
		for _, k := range t.keys {
			if k != "true" && k != "false" {
				return nil, fmt.Errorf("table %s serves a boolean field, its keys must be true and false (not %q)", t.name, k)
			}
		}
		// A boolean is never empty, so both values are written; a "*"
		// default could not be read back.
		if len(t.keys) != 2 {
			return nil, fmt.Errorf("table %s serves a boolean field, it must map both true and false", t.name)
		}
	case kInt:
		for _, k := range t.keys {
			if _, err := strconv.ParseInt(k, 10, 64); err != nil || !isJSONNumber(k) {
				return nil, fmt.Errorf("table %s serves an integer field, key %q is not an integer", t.name, k)
			}
		}
	case kFloat:
		for _, k := range t.keys {
			if !isJSONNumber(k) {
				return nil, fmt.Errorf("table %s serves a number field, key %q is not a number", t.name, k)
			}
		}
	default:
		return nil, fmt.Errorf("filter table needs a string, boolean or number field, this one is %s", node.kind)
	}
	return tableFilter{t: t, kind: node.kind}, nil
}

func (f tableFilter) encode(v any) (any, error) {
	text, ok := scalarText(v)
	if !ok {
		return nil, fmt.Errorf("is not a value table %s can map", f.t.name)
	}
	pv, ok := f.t.lookup(text)
	if !ok {
		return nil, fmt.Errorf("has a value that table %s does not list (and it has no \"*\" default)", f.t.name)
	}
	return pv, nil
}

func (f tableFilter) decode(v any) (any, error) {
	key, ok := scalarKey(v)
	if !ok {
		return nil, fmt.Errorf("must be a value of table %s", f.t.name)
	}
	text, ok := f.t.inv[key]
	if !ok {
		return nil, fmt.Errorf("is not a value of table %s", f.t.name)
	}
	switch f.kind {
	case kBool:
		return text == "true", nil
	case kInt, kFloat:
		return json.Number(text), nil
	}
	return text, nil
}

// ---- time ----

type timeFilter struct {
	layout string
	unit   time.Duration // time.Second or time.Millisecond for unix / unixmilli; 0 for a layout
	zone   *time.Location
}

func newTimeFilter(arg string, zone *time.Location) (filter, error) {
	switch arg {
	case "unix":
		return timeFilter{unit: time.Second, zone: zone}, nil
	case "unixmilli":
		return timeFilter{unit: time.Millisecond, zone: zone}, nil
	}
	layout := arg
	if named, ok := timeLayouts[arg]; ok {
		layout = named
	}
	// An afternoon with every digit of a second: a layout must read back
	// the date and the time of day as far as it shows it (a 12-hour clock
	// without PM would turn 21:45 into 09:45).
	probe := time.Date(2026, 3, 14, 21, 45, 17, 123456789, zone)
	back, err := time.ParseInLocation(layout, probe.Format(layout), zone)
	if err != nil || !readsBack(probe, back) {
		return nil, fmt.Errorf("time layout %q does not read back a full date and the time of day it shows (use a Go layout such as 2006-01-02 15:04:05, or datetime, datetimefrac, datetimemilli, compact, rfc3339, rfc3339nano, unix, unixmilli)", arg)
	}
	return timeFilter{layout: layout, zone: zone}, nil
}

// readsBack reports whether back is p cut to some precision: a fraction of
// a second, the second, the minute, the hour or the day, in p's zone.
func readsBack(p, back time.Time) bool {
	y, mo, d := p.Date()
	h, mi, s := p.Clock()
	ns := p.Nanosecond()
	for div := 1; div <= 1e9; div *= 10 {
		if back.Equal(time.Date(y, mo, d, h, mi, s, ns/div*div, p.Location())) {
			return true
		}
	}
	return back.Equal(time.Date(y, mo, d, h, mi, 0, 0, p.Location())) ||
		back.Equal(time.Date(y, mo, d, h, 0, 0, 0, p.Location())) ||
		back.Equal(time.Date(y, mo, d, 0, 0, 0, 0, p.Location()))
}

func (f timeFilter) encode(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("is not a time")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, errors.New("is not an RFC 3339 time")
	}
	t = t.In(f.zone)
	switch f.unit {
	case time.Second:
		return json.Number(strconv.FormatInt(t.Unix(), 10)), nil
	case time.Millisecond:
		return json.Number(strconv.FormatInt(t.UnixMilli(), 10)), nil
	}
	if t.Year() < 0 || t.Year() > 9999 {
		return nil, errors.New("has a year outside 0000..9999")
	}
	return t.Format(f.layout), nil
}

func (f timeFilter) decode(v any) (any, error) {
	var t time.Time
	if f.unit != 0 {
		n, ok := v.(json.Number)
		if !ok {
			return nil, errors.New("must be a number of seconds or milliseconds since 1970")
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		const limit = 253402300799 // 9999-12-31T23:59:59Z
		if err != nil || (f.unit == time.Second && (i < -limit || i > limit)) ||
			(f.unit == time.Millisecond && (i < -limit*1000 || i > limit*1000)) {
			return nil, errors.New("is not a time in range")
		}
		if f.unit == time.Second {
			t = time.Unix(i, 0)
		} else {
			t = time.UnixMilli(i)
		}
		t = t.In(f.zone)
	} else {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("must be a time string in layout %s", f.layout)
		}
		var err error
		if t, err = time.ParseInLocation(f.layout, s, f.zone); err != nil {
			return nil, fmt.Errorf("is not a time in layout %s", f.layout)
		}
	}
	if t.Year() < 0 || t.Year() > 9999 {
		return nil, errors.New("has a year outside 0000..9999")
	}
	return t.Format(time.RFC3339Nano), nil
}

// ---- date ----

type dateFilter struct{ layout string }

func newDateFilter(arg string) (filter, error) {
	layout := arg
	if named, ok := dateLayouts[arg]; ok {
		layout = named
	}
	probe := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	back, err := time.Parse(layout, probe.Format(layout))
	if err != nil || !back.Equal(probe) {
		return nil, fmt.Errorf("date layout %q does not read back a full date (use a Go layout such as 20060102, or date, compact, slash, chinese)", arg)
	}
	return dateFilter{layout: layout}, nil
}

func (f dateFilter) encode(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("is not a date")
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || len(s) != len(time.DateOnly) {
		return nil, errors.New("is not a date YYYY-MM-DD")
	}
	return t.Format(f.layout), nil
}

func (f dateFilter) decode(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("must be a date string in layout %s", f.layout)
	}
	t, err := time.Parse(f.layout, s)
	if err != nil || t.Year() < 1 || t.Year() > 9999 {
		return nil, fmt.Errorf("is not a date in layout %s", f.layout)
	}
	return t.Format(time.DateOnly), nil
}

// ---- json ----

// jsonFilter carries a JSON value (an object such as the case's form) as a
// string holding its JSON text.
type jsonFilter struct{ kind kind }

func (f jsonFilter) encode(v any) (any, error) {
	b, err := marshalJSON(v)
	if err != nil {
		return nil, errors.New("cannot be rendered as JSON")
	}
	return string(b), nil
}

func (f jsonFilter) decode(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("must be a string holding JSON")
	}
	inner, err := parseJSON([]byte(s), MaxDepth)
	if err != nil {
		return nil, errors.New("does not hold valid JSON")
	}
	switch f.kind {
	case kObject:
		if _, ok := inner.(*object); !ok {
			return nil, errors.New("must hold a JSON object")
		}
	case kArray:
		if _, ok := inner.([]any); !ok {
			return nil, errors.New("must hold a JSON array")
		}
	}
	return inner, nil
}

// ---- string ----

// stringFilter carries a number as a string of its digits.
type stringFilter struct{ kind kind }

func (f stringFilter) encode(v any) (any, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, errors.New("is not a number")
	}
	return string(n), nil
}

func (f stringFilter) decode(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("must be a string of digits")
	}
	return checkNumber(s, f.kind)
}

// checkNumber returns s as a json.Number when it is a number of kind k.
func checkNumber(s string, k kind) (any, error) {
	if !isJSONNumber(s) {
		return nil, errors.New("is not a number")
	}
	if k == kInt {
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return nil, errors.New("is not an integer in range")
		}
	} else if f, err := strconv.ParseFloat(s, 64); err != nil || math.IsInf(f, 0) {
		return nil, errors.New("is not a number in range")
	}
	return json.Number(s), nil
}

// checkKind checks that a partner's value, read without a filter, fits a
// contract field of node's kind.
func checkKind(v any, node *typeNode) error {
	wrong := fmt.Errorf("has the wrong type (want %s)", node.kind)
	switch node.kind {
	case kString:
		if _, ok := v.(string); !ok {
			return wrong
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			return wrong
		}
	case kInt, kFloat:
		n, ok := v.(json.Number)
		if !ok {
			return wrong
		}
		if _, err := checkNumber(string(n), node.kind); err != nil {
			return err
		}
	case kTime:
		s, ok := v.(string)
		if !ok {
			return wrong
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return errors.New("is not an RFC 3339 time")
		}
	case kBytes:
		s, ok := v.(string)
		if !ok {
			return wrong
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return errors.New("is not standard base64")
		}
	case kObject:
		if _, ok := v.(*object); !ok {
			return wrong
		}
	case kArray:
		if _, ok := v.([]any); !ok {
			return wrong
		}
	}
	return nil
}
