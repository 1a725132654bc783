package mappedjson

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

// testCompiler has the tables the filter tests use, in China Standard
// Time.
func testCompiler(t *testing.T) *compiler {
	t.Helper()
	zone, err := parseZone("")
	if err != nil {
		t.Fatal(err)
	}
	c := &compiler{zone: zone, tables: map[string]*table{}}
	for name, raw := range map[string]string{
		"zt":   `{"accepted": "02", "rejected": "03", "*": "99"}`,
		"sf":   `{"true": "1", "false": "0"}`,
		"num":  `{"true": 1, "false": 0}`,
		"lvl":  `{"1": "A", "2": "B"}`,
		"dup":  `{"a": "x", "b": "x"}`,
		"mixd": `{"a": true, "b": 2.5}`,
		"yes":  `{"true": "1"}`,
		"dflt": `{"a": "1", "b": "2", "*": "1"}`,
		"big":  `{"a": 9007199254740993, "b": 9007199254740992}`,
	} {
		v, err := parseJSON([]byte(raw), 4)
		if err != nil {
			t.Fatal(err)
		}
		if c.tables[name], err = compileTable(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestFilters(t *testing.T) {
	c := testCompiler(t)
	node := func(k kind) *typeNode { return &typeNode{kind: k} }
	num := func(s string) json.Number { return json.Number(s) }
	type pair struct{ contract, partner any }
	for _, tc := range []struct {
		spec   string
		kind   kind
		pairs  []pair // round trips
		encode []pair // one-way: contract → partner
		bad    []any  // partner values that must not decode
	}{
		{spec: "table:zt", kind: kString,
			pairs:  []pair{{"accepted", "02"}, {"rejected", "03"}},
			encode: []pair{{"concluded", "99"}},
			bad:    []any{"99", "2", num("2"), true, nil}},
		{spec: "table:sf", kind: kBool, pairs: []pair{{true, "1"}, {false, "0"}}, bad: []any{"true", num("1"), "2"}},
		{spec: "table:num", kind: kBool, pairs: []pair{{true, num("1")}, {false, num("0")}}, bad: []any{"1"}},
		{spec: "table:lvl", kind: kInt, pairs: []pair{{num("1"), "A"}, {num("2"), "B"}}, bad: []any{"C"}},
		// Integers beyond 2^53 are distinct values, not one float.
		{spec: "table:big", kind: kString, pairs: []pair{{"a", num("9007199254740993")}, {"b", num("9007199254740992")}},
			bad: []any{num("9007199254740994")}},
		{spec: "time:2006-01-02 03:04:05 PM", kind: kTime, pairs: []pair{{"2026-03-14T21:30:05+08:00", "2026-03-14 09:30:05 PM"}}},
		{spec: "time:2006-01-02 15:04", kind: kTime, pairs: []pair{{"2026-03-14T21:30:00+08:00", "2026-03-14 21:30"}}},
		{spec: "time:20060102", kind: kTime, pairs: []pair{{"2026-03-14T00:00:00+08:00", "20260314"}}},
		{spec: "table:mixd", kind: kString, pairs: []pair{{"a", true}, {"b", num("2.5")}}, bad: []any{false, num("2.50001"), "2.5"}},
		{spec: "time:datetime", kind: kTime,
			pairs:  []pair{{"2026-03-14T09:30:05+08:00", "2026-03-14 09:30:05"}, {"2026-01-01T00:00:00+08:00", "2026-01-01 00:00:00"}},
			encode: []pair{{"2026-03-14T01:30:05Z", "2026-03-14 09:30:05"}, {"2026-03-14T09:30:05.999+08:00", "2026-03-14 09:30:05"}},
			bad:    []any{"2026-03-14T09:30:05+08:00", "20260314093005", "2026-02-30 00:00:00", num("1"), ""}},
		{spec: "time:compact", kind: kTime, pairs: []pair{{"2026-03-14T09:30:05+08:00", "20260314093005"}}, bad: []any{"2026-03-14 09:30:05"}},
		{spec: "time:datetimefrac", kind: kTime,
			pairs: []pair{{"2026-03-14T09:30:05+08:00", "2026-03-14 09:30:05"}, {"2026-03-14T09:30:05.428037751+08:00", "2026-03-14 09:30:05.428037751"},
				{"2026-03-14T09:30:05.5+08:00", "2026-03-14 09:30:05.5"}}},
		{spec: "time:datetimemilli", kind: kTime, pairs: []pair{{"2026-03-14T09:30:05.123+08:00", "2026-03-14 09:30:05.123"}}},
		{spec: "time:rfc3339", kind: kTime, pairs: []pair{{"2026-03-14T09:30:05+08:00", "2026-03-14T09:30:05+08:00"}},
			encode: []pair{{"2026-03-14T01:30:05Z", "2026-03-14T09:30:05+08:00"}}},
		{spec: "time:2006年01月02日 15时04分05秒", kind: kTime, pairs: []pair{{"2026-03-14T09:30:05+08:00", "2026年03月14日 09时30分05秒"}}},
		{spec: "time:unix", kind: kTime, pairs: []pair{{"2026-03-14T09:30:05+08:00", num("1773451805")}}, bad: []any{"1773451805", num("1.5"), num("1e30")}},
		{spec: "time:unixmilli", kind: kTime, pairs: []pair{{"2026-03-14T09:30:05.123+08:00", num("1773451805123")}}},
		{spec: "date:compact", kind: kString, pairs: []pair{{"2023-02-25", "20230225"}}, bad: []any{"2023-02-25", "20230230", num("20230225")}},
		{spec: "date:chinese", kind: kString, pairs: []pair{{"2023-02-25", "2023年02月25日"}}},
		{spec: "date:2006.01.02", kind: kString, pairs: []pair{{"2023-02-25", "2023.02.25"}}},
		{spec: "json", kind: kRaw,
			pairs: []pair{{obj(t, `{"a":1,"b":[true,null],"c":{"d":"<&>"}}`), `{"a":1,"b":[true,null],"c":{"d":"<&>"}}`}},
			bad:   []any{"{", `{"a":1} x`, num("1"), `{"a":1,"a":2}`, strings.Repeat("[", 40) + strings.Repeat("]", 40)}},
		{spec: "json", kind: kObject, pairs: []pair{{obj(t, `{"a":"b"}`), `{"a":"b"}`}}, bad: []any{`[1]`, `"x"`}},
		{spec: "string", kind: kInt, pairs: []pair{{num("48213"), "48213"}, {num("-1"), "-1"}, {num("0"), "0"}},
			bad: []any{"1.5", "+1", "0x10", " 1", "99999999999999999999", num("1"), "1e3"}},
		{spec: "string", kind: kFloat, pairs: []pair{{num("35.5"), "35.5"}, {num("1e3"), "1e3"}}, bad: []any{"Inf", "NaN", "1e999", ".5"}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			f, err := compileFilter(tc.spec, node(tc.kind), c)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.pairs {
				got, err := f.encode(p.contract)
				if err != nil || !sameValue(got, p.partner) {
					t.Errorf("encode(%v) = %#v, %v; want %#v", p.contract, got, err, p.partner)
				}
				back, err := f.decode(p.partner)
				if err != nil || !sameValue(back, p.contract) {
					t.Errorf("decode(%#v) = %#v, %v; want %#v", p.partner, back, err, p.contract)
				}
			}
			for _, p := range tc.encode {
				got, err := f.encode(p.contract)
				if err != nil || !sameValue(got, p.partner) {
					t.Errorf("encode(%v) = %#v, %v; want %#v", p.contract, got, err, p.partner)
				}
			}
			for _, b := range tc.bad {
				got, err := f.decode(b)
				if err == nil {
					t.Errorf("decode(%#v) = %#v, want an error", b, got)
					continue
				}
				if s, ok := b.(string); ok && len(s) > 3 && strings.Contains(err.Error(), s) {
					t.Errorf("decode error %q quotes the value", err)
				}
			}
		})
	}
}

func TestFilterMistakes(t *testing.T) {
	c := testCompiler(t)
	for _, tc := range []struct {
		spec string
		kind kind
		want string
	}{
		{"table", kString, "needs an argument"},
		{"table:", kString, "needs an argument"},
		{"table:nope", kString, `table "nope" is not defined`},
		{"table:dup", kString, `table dup maps two contract values to "x"`},
		{"table:zt", kBool, "keys must be true and false"},
		{"table:zt", kInt, "is not an integer"},
		{"table:zt", kTime, "needs a string, boolean or number field"},
		{"time:datetime", kString, "needs a time field"},
		{"time:15:04:05", kTime, "does not read back a full date"},
		{"time:2006-01-02 03:04:05", kTime, "does not read back a full date and the time of day"}, // no PM
		{"time:2006-01-02 15:04:05.99", kTime, ""},                                                // hundredths are a precision
		{"time:2006-01-02 05", kTime, "does not read back"},                                       // seconds without hours
		{"table:yes", kBool, "must map both true and false"},
		{"table:dflt", kString, `"*" default "1" is also the value of "a"`},
		{"date:2006-01", kString, "does not read back a full date"},
		{"date:compact", kTime, "needs a YYYY-MM-DD string field"},
		{"json:x", kRaw, "takes no argument"},
		{"json", kBool, "needs a JSON value"},
		{"string", kString, "needs a number field"},
		{"upper", kString, `unknown filter "upper"`},
		{"", kString, "empty filter"},
	} {
		_, err := compileFilter(tc.spec, &typeNode{kind: tc.kind}, c)
		if tc.want == "" {
			if err != nil {
				t.Errorf("compileFilter(%q, %s) = %v, want it accepted", tc.spec, tc.kind, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compileFilter(%q, %s) = %v, want an error containing %q", tc.spec, tc.kind, err, tc.want)
		}
	}
}

func TestParseZone(t *testing.T) {
	for in, off := range map[string]int{"": 8 * 3600, "+08:00": 8 * 3600, "Z": 0, "+00:00": 0, "-05:30": -(5*3600 + 30*60), "+14:00": 14 * 3600} {
		z, err := parseZone(in)
		if err != nil {
			t.Errorf("parseZone(%q): %v", in, err)
			continue
		}
		if _, got := fixedNowUTC().In(z).Zone(); got != off {
			t.Errorf("parseZone(%q) offset %d, want %d", in, got, off)
		}
	}
	for _, in := range []string{"+8:00", "0800", "+08:60", "+14:30", "CST", "UTC+8"} {
		if _, err := parseZone(in); err == nil {
			t.Errorf("parseZone(%q) succeeded", in)
		}
	}
}

// TestExampleConfigCoversEveryField: the example maps every field of every
// contract message both ways, so every field survives a round trip.
func TestExampleConfigCoversEveryField(t *testing.T) {
	cfg, err := ParseConfig(ExampleConfig("https://jh.example"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.spec
	for _, m := range []struct {
		name   string
		msg    *message
		exempt []string
	}{
		{"case_delivery.request", s.caseOp.request, nil},
		{"case_delivery.ack", s.caseOp.answer, []string{"key_id"}},
		{"status_delivery.request", s.statusOp.request, nil},
		{"status_delivery.ack", s.statusOp.answer, []string{"key_id", "partner_case_no"}},
		{"usage_delivery.request", s.usageOp.request, nil},
		{"usage_delivery.ack", s.usageOp.answer, []string{"key_id", "partner_case_no"}},
		{"license_lookup.request", s.lookupOp.request, nil},
		{"license_lookup.answer", s.lookupOp.answer, nil},
		{"inbound.case_submission.request", s.inbound.caseOp.request, nil},
		{"inbound.status_update.request", s.inbound.statusOp.request, nil},
		{"notice_delivery.request", s.noticeOp.request, nil},
		{"notice_delivery.ack", s.noticeOp.answer, []string{"key_id", "partner_case_no"}},
		{"inbound.evaluation_submission.request", s.inbound.evalOp.request, nil},
		{"inbound.evaluation_reply.request", s.inbound.replyOp.request, nil},
		{"inbound.bundle_submission.request", s.inbound.bundleOp.request, nil},
		{"inbound.receipt", s.inbound.receipt, nil},
	} {
		for _, leaf := range m.msg.node.leafPaths("") {
			if !m.msg.covers(leaf) && !slices.Contains(m.exempt, leaf) {
				t.Errorf("%s does not map %s", m.name, leaf)
			}
		}
	}
}

// TestEmptyValues: absent, null and empty contract values are left out of
// the partner's JSON, and the partner's null and "" read back as absent.
func TestEmptyValues(t *testing.T) {
	cfg, err := ParseConfig(ExampleConfig("https://jh.example"))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.spec.inbound.statusOp.request
	u := &contracts.StatusUpdate{ExchangeID: "01959246-0000-7000-8000-000000000001", CaseID: "c", State: "accepted"}
	b, err := m.encodeBytes(u)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"bbh":"1.0","jhid":"01959246-0000-7000-8000-000000000001","wgbjid":"c","bjzt":"02"}`; string(b) != want {
		t.Errorf("encoded %s, want %s", b, want)
	}
	// A nested object or an array written as "" or [] (an empty PHP
	// array) reads back as absent too, and so does an empty constant.
	for _, empty := range []string{`{}`, `[]`, `""`, `null`} {
		pv, err := parseJSON([]byte(`{"bbh":"","jhid":"01959246-0000-7000-8000-000000000001","wgbjid":"c","bjzt":"02","bz":"","yy":null,`+
			`"bzqd":[],"jgwj":`+strings.ReplaceAll(empty, "{}", "[]")+`,"jdxx":`+empty+`,"sdsj":""}`), MaxDepth)
		if err != nil {
			t.Fatal(err)
		}
		var back contracts.StatusUpdate
		if err := m.decodeInto(pv, "", &back); err != nil {
			t.Fatalf("jdxx %s: %v", empty, err)
		}
		if !reflect.DeepEqual(&back, u) {
			t.Errorf("jdxx %s: decoded %+v, want %+v", empty, back, *u)
		}
	}
	// Not empty, so still an error.
	pv, _ := parseJSON([]byte(`{"jhid":"01959246-0000-7000-8000-000000000001","jdxx":[1]}`), MaxDepth)
	if err := m.decodeInto(pv, "", &contracts.StatusUpdate{}); err == nil {
		t.Error(`jdxx [1] read as an object`)
	}
}

func obj(t *testing.T, s string) any {
	t.Helper()
	v, err := parseJSON([]byte(s), MaxDepth)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sameValue compares JSON values by their rendering.
func sameValue(a, b any) bool {
	x, err1 := marshalJSON(a)
	y, err2 := marshalJSON(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

func fixedNowUTC() time.Time { return time.Date(2026, 3, 14, 1, 30, 0, 0, time.UTC) }

// leafPaths lists every field of n that holds a value (scalars, raw JSON,
// arrays of scalars), array elements written as "path[]".
func (n *typeNode) leafPaths(prefix string) []string {
	switch n.kind {
	case kObject:
		var out []string
		for _, name := range n.order {
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			out = append(out, n.fields[name].node.leafPaths(p)...)
		}
		return out
	case kArray:
		if n.elem.kind == kObject || n.elem.kind == kArray {
			return n.elem.leafPaths(prefix + "[]")
		}
	}
	return []string{prefix}
}
