package soap

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

type kind string

type inner struct {
	A string `json:"a"`
	B *int   `json:"b,omitempty"`
}

type embedded struct {
	E string `json:"e"`
}

// sample exercises every kind of field the codec supports.
type sample struct {
	embedded
	S    string          `json:"s"`
	K    kind            `json:"k,omitempty"`
	I    int             `json:"i"`
	I64  int64           `json:"i64,omitempty"`
	I8   int8            `json:"i8,omitempty"`
	U    uint16          `json:"u,omitempty"`
	F    float64         `json:"f,omitempty"`
	Bo   bool            `json:"bo"`
	T    time.Time       `json:"t"`
	TZ   time.Time       `json:"tz,omitzero"`
	By   []byte          `json:"by,omitempty"`
	Raw  json.RawMessage `json:"raw"`
	L    []string        `json:"l,omitempty"`
	LS   []inner         `json:"ls,omitempty"`
	P    *inner          `json:"p,omitempty"`
	PB   *bool           `json:"pb,omitempty"`
	Skip string          `json:"-"`
	NoTg string
	priv string
}

var testProto = protocol{ns: "urn:t", prefix: "urn:t/"}

const (
	envOpen  = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><M xmlns="urn:t">`
	envClose = `</M></soap:Body></soap:Envelope>`
)

// decodeSample decodes the body element of raw into a sample.
func decodeSample(raw string) (*sample, error) {
	env, err := parseEnvelope([]byte(raw))
	if err != nil {
		return nil, err
	}
	var s sample
	if err := testProto.decode("M", env.body, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func TestCodecEncoding(t *testing.T) {
	seven, yes := 7, true
	at := time.Date(2026, 3, 14, 9, 30, 0, 1, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name string
		v    sample
		want string
	}{
		{"zero", sample{}, `<e></e><s></s><i>0</i><bo>false</bo><t>0001-01-01T00:00:00Z</t><raw></raw><NoTg></NoTg>`},
		{"full", sample{
			embedded: embedded{E: "嵌入"}, S: `<a href="x">&amp;</a> ]]>` + "\r\n\t", K: "k", I: -3, I64: math.MaxInt64, I8: -128, U: 65535,
			F: 0.1, Bo: true, T: at, TZ: at.UTC(), By: []byte{0, 1, 254, 255}, Raw: json.RawMessage(`{"a": [1, "<&>"]}`),
			L: []string{"x", "", " y "}, LS: []inner{{A: "1"}, {A: "2", B: &seven}}, P: &inner{}, PB: &yes, Skip: "skipped", NoTg: "n", priv: "p",
		}, `<e>嵌入</e><s>&lt;a href="x"&gt;&amp;amp;&lt;/a&gt; ]]&gt;&#xD;` + "\n\t" + `</s><k>k</k><i>-3</i><i64>9223372036854775807</i64><i8>-128</i8>` +
			`<u>65535</u><f>0.1</f><bo>true</bo><t>2026-03-14T09:30:00.000000001+08:00</t><tz>2026-03-14T01:30:00.000000001Z</tz>` +
			`<by>AAH+/w==</by><raw>{"a": [1, "&lt;&amp;&gt;"]}</raw><l>x</l><l></l><l> y </l><ls><a>1</a></ls><ls><a>2</a><b>7</b></ls>` +
			`<p><a></a></p><pb>true</pb><NoTg>n</NoTg>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := testProto.marshal("M", &tc.v)
			if err != nil {
				t.Fatal(err)
			}
			want := xmlDecl + envOpen + tc.want + envClose
			if string(raw) != want {
				t.Errorf("encoding:\n got %s\nwant %s", raw, want)
			}
			got, err := decodeSample(string(raw))
			if err != nil {
				t.Fatal(err)
			}
			w := tc.v
			w.Skip, w.priv = "", ""
			checkEqual(t, "sample", got, &w)
		})
	}
}

func TestCodecEncodingRefusals(t *testing.T) {
	type mapped struct {
		M map[string]string `json:"m"`
	}
	type nested struct {
		L [][]string `json:"l"`
	}
	type ptrs struct {
		L []*inner `json:"l"`
	}
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"control character", &sample{S: "a\x00b"}},
		{"invalid utf-8", &sample{S: "a\xffb"}},
		{"non-character", &sample{L: []string{"\uFFFE"}}},
		{"invalid raw json", &sample{Raw: json.RawMessage(`{"a":`)}},
		{"year 10000", &sample{T: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"nan", &sample{F: math.NaN()}},
		{"map", &mapped{M: map[string]string{}}},
		{"list of lists", &nested{L: [][]string{{"a"}}}},
		{"nil item", &ptrs{L: []*inner{nil}}},
		{"nil message", (*sample)(nil)},
		{"nil", nil},
		{"not a struct", "text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if raw, err := testProto.marshal("M", tc.v); err == nil {
				t.Errorf("encoded %s", raw)
			}
		})
	}
}

// TestCodecDecodingTolerance: what a SOAP stack may write differently
// and still means the same.
func TestCodecDecodingTolerance(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
	}{
		{"prefixes, comments, whitespace, no declaration", `<!-- hello --><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">
			<S:Header/>
			<S:Body>
				<ns1:M xmlns:ns1="urn:t"> <!-- c -->
					<ns1:e>x</ns1:e><s><![CDATA[<raw> & text]]></s><i>1</i><bo>1</bo><t>2026-03-14T09:30:00Z</t><raw/><NoTg/>
				</ns1:M>
			</S:Body>
		</S:Envelope>
		`},
		{"byte order mark", "\xef\xbb\xbf" + xmlDecl + envOpen + `<e/><s/><i>0</i><bo>0</bo><t>2026-03-14T09:30:00Z</t><raw/><NoTg/>` + envClose},
		{"declaration with lower-case utf-8", `<?xml version="1.0" encoding="utf-8" standalone="yes"?>` + envOpen +
			`<e/><s/><i>0</i><bo>0</bo><t>2026-03-14T09:30:00.5-05:00</t><raw>null</raw><NoTg/><by>AAH+
/w==</by>` + envClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeSample(tc.raw); err != nil {
				t.Fatal(err)
			}
		})
	}
	got, _ := decodeSample(`<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><M xmlns="urn:t"><e/><s><![CDATA[<raw> & text]]></s><i>1</i><bo>1</bo><t>2026-03-14T09:30:00Z</t><raw/><NoTg/></M></S:Body></S:Envelope>`)
	if got == nil || got.S != "<raw> & text" || !got.Bo || got.I != 1 || got.Raw != nil {
		t.Errorf("decoded %+v", got)
	}
}

func TestCodecStrictness(t *testing.T) {
	const req = `<e/><s/><i>0</i><bo>false</bo><t>2026-03-14T09:30:00Z</t><raw/><NoTg/>`
	in := func(s string) string { return envOpen + s + envClose }
	deep := strings.Repeat("<p>", 40) + strings.Repeat("</p>", 40)
	tests := []struct {
		name, raw string
		field     string
		code      contracts.Code
	}{
		{"unknown element", in(req + `<x>1</x>`), "M", contracts.CodeInvalidJSON},
		{"unknown element deeper", in(req + `<p><a/><zz/></p>`), "p", contracts.CodeInvalidJSON},
		{"duplicate scalar", in(req + `<s>again</s>`), "s", contracts.CodeInvalidJSON},
		{"duplicate struct", in(req + `<p><a/></p><p><a/></p>`), "p", contracts.CodeInvalidJSON},
		{"missing required", in(`<e/><s/><i>0</i><t>2026-03-14T09:30:00Z</t><raw/><NoTg/>`), "bo", contracts.CodeValidationFailed},
		{"missing required deeper", in(req + `<ls></ls>`), "ls[0].a", contracts.CodeValidationFailed},
		{"bad bool", in(strings.Replace(req, "<bo>false</bo>", "<bo>yes</bo>", 1)), "bo", contracts.CodeInvalidJSON},
		{"bool with spaces", in(strings.Replace(req, "<bo>false</bo>", "<bo> true </bo>", 1)), "bo", contracts.CodeInvalidJSON},
		{"bad int", in(strings.Replace(req, "<i>0</i>", "<i>1.5</i>", 1)), "i", contracts.CodeInvalidJSON},
		{"int with plus", in(strings.Replace(req, "<i>0</i>", "<i>+1</i>", 1)), "i", contracts.CodeInvalidJSON},
		{"int with leading zero", in(strings.Replace(req, "<i>0</i>", "<i>01</i>", 1)), "i", contracts.CodeInvalidJSON},
		{"int8 overflow", in(req + `<i8>128</i8>`), "i8", contracts.CodeInvalidJSON},
		{"negative uint", in(req + `<u>-1</u>`), "u", contracts.CodeInvalidJSON},
		{"bad float", in(req + `<f>NaN</f>`), "f", contracts.CodeInvalidJSON},
		{"bad time", in(strings.Replace(req, "2026-03-14T09:30:00Z", "2026-03-14 09:30:00", 1)), "t", contracts.CodeInvalidJSON},
		{"time without zone", in(strings.Replace(req, "2026-03-14T09:30:00Z", "2026-03-14T09:30:00", 1)), "t", contracts.CodeInvalidJSON},
		{"bad base64", in(req + `<by>***</by>`), "by", contracts.CodeInvalidJSON},
		{"url base64", in(req + `<by>AAH-_w==</by>`), "by", contracts.CodeInvalidJSON},
		{"bad raw json", in(strings.Replace(req, "<raw/>", "<raw>{</raw>", 1)), "raw", contracts.CodeInvalidJSON},
		{"elements in a leaf", in(strings.Replace(req, "<s/>", "<s><b/></s>", 1)), "s", contracts.CodeInvalidJSON},
		{"text in a struct", in(req + `<p>text<a/></p>`), "p", contracts.CodeInvalidJSON},
		{"text in the message", in(req + `text`), "M", contracts.CodeInvalidJSON},
		{"attribute", in(strings.Replace(req, "<s/>", `<s xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>`, 1)), "s", contracts.CodeInvalidJSON},
		{"foreign namespace", in(req + `<o:l xmlns:o="urn:other">x</o:l>`), "l", contracts.CodeInvalidJSON},
		{"doctype", `<!DOCTYPE x [<!ENTITY e "boom">]>` + in(req), "", contracts.CodeInvalidJSON},
		{"undefined entity", in(strings.Replace(req, "<s/>", "<s>&e;</s>", 1)), "", contracts.CodeInvalidJSON},
		{"external entity", `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + in(strings.Replace(req, "<s/>", "<s>&e;</s>", 1)), "", contracts.CodeInvalidJSON},
		{"processing instruction", in(`<?php echo 1; ?>` + req), "", contracts.CodeInvalidJSON},
		{"late declaration", ` <?xml version="1.0"?>` + in(req), "", contracts.CodeInvalidJSON},
		{"gbk", `<?xml version="1.0" encoding="GBK"?>` + in(req), "", contracts.CodeInvalidJSON},
		{"invalid utf-8", in(strings.Replace(req, "<s/>", "<s>\xff</s>", 1)), "", contracts.CodeInvalidJSON},
		{"control character reference", in(strings.Replace(req, "<s/>", "<s>&#1;</s>", 1)), "", contracts.CodeInvalidJSON},
		{"too deep", in(req + deep), "", contracts.CodeInvalidJSON},
		{"truncated", in(req)[:len(in(req))-10], "", contracts.CodeInvalidJSON},
		{"mismatched tags", in(req + `<p><a></p></a>`), "", contracts.CodeInvalidJSON},
		{"two roots", in(req) + `<x/>`, "", contracts.CodeInvalidJSON},
		{"text after root", in(req) + `x`, "", contracts.CodeInvalidJSON},
		{"empty", ``, "", contracts.CodeInvalidJSON},
		{"not an envelope", `<M xmlns="urn:t">` + req + `</M>`, "Envelope", contracts.CodeInvalidJSON},
		{"soap 1.2", `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><M xmlns="urn:t">` + req + `</M></e:Body></e:Envelope>`, "Envelope", contracts.CodeInvalidJSON},
		{"unqualified envelope", `<Envelope><Body><M xmlns="urn:t">` + req + `</M></Body></Envelope>`, "Envelope", contracts.CodeInvalidJSON},
		{"no body", `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>`, "Body", contracts.CodeInvalidJSON},
		{"two bodies", `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/><soap:Body/></soap:Envelope>`, "Envelope", contracts.CodeInvalidJSON},
		{"header after body", `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><M xmlns="urn:t">` + req + `</M></soap:Body><soap:Header/></soap:Envelope>`, "Envelope", contracts.CodeInvalidJSON},
		{"two operations", `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><M xmlns="urn:t">` + req + `</M><M xmlns="urn:t"/></soap:Body></soap:Envelope>`, "Body", contracts.CodeInvalidJSON},
		{"empty body", `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body> </soap:Body></soap:Envelope>`, "Body", contracts.CodeInvalidJSON},
		{"must understand", `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header><h:Auth xmlns:h="urn:h" soap:mustUnderstand="1"/></soap:Header><soap:Body><M xmlns="urn:t">` + req + `</M></soap:Body></soap:Envelope>`, "Header", contracts.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeSample(tc.raw)
			var fe *contracts.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *contracts.FieldError", err)
			}
			if fe.Field != tc.field || fe.Code != tc.code {
				t.Errorf("got field %q code %s (%v), want field %q code %s", fe.Field, fe.Code, fe, tc.field, tc.code)
			}
			if strings.Contains(fe.Message, "boom") || strings.Contains(fe.Message, "passwd") || strings.Contains(fe.Message, "urn:other") {
				t.Errorf("message quotes the input: %v", fe)
			}
		})
	}
}

// TestCodecBounds: the element count is bounded too.
func TestCodecBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString(envOpen)
	for range MaxElements {
		b.WriteString("<l/>")
	}
	b.WriteString(envClose)
	_, err := decodeSample(b.String())
	var fe *contracts.FieldError
	if !errors.As(err, &fe) || !strings.Contains(fe.Message, "more than") {
		t.Errorf("got %v, want a refusal of too many elements", err)
	}
}

// TestCodecCoversContracts: every contract message the style carries
// round-trips through the codec, so a new field cannot be forgotten.
func TestCodecCoversContracts(t *testing.T) {
	for _, v := range []any{
		&contracts.CaseDelivery{}, &contracts.StatusDelivery{}, &contracts.UsageRecordDelivery{},
		&contracts.LicenseLookupRequest{}, &contracts.LicenseLookupResponse{}, &contracts.Ack{},
		&contracts.CaseSubmission{}, &contracts.StatusUpdate{}, &contracts.Receipt{},
		&contracts.NoticeDelivery{}, &contracts.EvaluationSubmission{}, &contracts.EvaluationReply{},
		&contracts.BundleSubmission{},
	} {
		typ := reflect.TypeOf(v).Elem()
		if si := fieldsOf(typ); si.err != nil {
			t.Errorf("%s: %v", typ, si.err)
		}
		raw, err := testProto.marshal("M", v)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		env, err := parseEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(typ).Interface()
		if err := testProto.decode("M", env.body, back); err != nil {
			t.Errorf("%s: %v\n%s", typ, err, raw)
		}
		if !reflect.DeepEqual(back, v) {
			t.Errorf("%s: zero value does not round-trip: %+v", typ, back)
		}

		// The zero value leaves out every omitempty field, so a field of
		// a type the codec cannot carry would slip through; a value with
		// every field set cannot.
		full := reflect.New(typ)
		fill(t, full.Elem(), "", 0)
		raw, err = testProto.marshal("M", full.Interface())
		if err != nil {
			t.Errorf("%s with every field set: %v", typ, err)
			continue
		}
		if env, err = parseEnvelope(raw); err != nil {
			t.Fatal(err)
		}
		back = reflect.New(typ).Interface()
		if err := testProto.decode("M", env.body, back); err != nil {
			t.Errorf("%s with every field set: %v\n%s", typ, err, raw)
			continue
		}
		normalize(reflect.ValueOf(back))
		normalize(full)
		if !reflect.DeepEqual(back, full.Interface()) {
			t.Errorf("%s with every field set does not round-trip:\n got %+v\nwant %+v", typ, back, full.Interface())
		}
	}
}

// TestCodecTimeZones: a time keeps its instant and its offset through the
// codec, and a zone RFC 3339 cannot write exactly (an offset with seconds,
// such as Asia/Shanghai's local mean time before 1901, or one of 24 hours
// or more) is refused rather than shifted or written unreadably.
func TestCodecTimeZones(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	for _, tm := range []time.Time{
		time.Date(2026, 3, 14, 9, 30, 0, 5, shanghai),
		time.Date(2026, 3, 14, 9, 30, 0, 0, time.FixedZone("", -(9*3600+30*60))),
		time.Date(2026, 3, 14, 9, 30, 0, 0, time.FixedZone("", 23*3600+59*60)),
	} {
		raw, err := testProto.marshal("M", &sample{T: tm})
		if err != nil {
			t.Fatalf("%v: %v", tm, err)
		}
		got, err := decodeSample(string(raw))
		if err != nil {
			t.Fatalf("%v: %v", tm, err)
		}
		_, wantOff := tm.Zone()
		if _, off := got.T.Zone(); !got.T.Equal(tm) || off != wantOff {
			t.Errorf("got %v, want %v with offset %d", got.T, tm, wantOff)
		}
	}
	for _, tm := range []time.Time{
		time.Date(1900, 1, 1, 0, 0, 0, 0, shanghai), // LMT, +08:05:43
		time.Date(2026, 3, 14, 9, 30, 0, 0, time.FixedZone("", 30)),
		time.Date(2026, 3, 14, 9, 30, 0, 0, time.FixedZone("", 25*3600)),
		time.Date(2026, 3, 14, 9, 30, 0, 0, time.FixedZone("", -24*3600)),
	} {
		if raw, err := testProto.marshal("M", &sample{TZ: tm}); err == nil {
			t.Errorf("%v: encoded %s", tm, raw)
		} else if !strings.Contains(err.Error(), "tz") {
			t.Errorf("%v: error %v does not name the field", tm, err)
		}
	}
}

// TestCodecRefusesOffsetsRFC3339Forbids: time.Parse reads offsets of 24
// hours and 60 minutes, which neither this codec nor encoding/json can
// write back; the decoder refuses them, so that a partner cannot make the
// gateway store a time it cannot forward.
func TestCodecRefusesOffsetsRFC3339Forbids(t *testing.T) {
	const req = `<e/><s/><i>0</i><bo>false</bo><raw/><NoTg/>`
	for _, ts := range []string{"2026-03-14T09:30:00+24:00", "2026-03-14T09:30:00-24:00", "2026-03-14T09:30:00+23:60"} {
		_, err := decodeSample(envOpen + req + "<t>" + ts + "</t>" + envClose)
		var fe *contracts.FieldError
		if !errors.As(err, &fe) || fe.Field != "t" || fe.Code != contracts.CodeInvalidJSON {
			t.Errorf("%s: got %v, want an invalid_json refusal of t", ts, err)
		}
	}
	got, err := decodeSample(envOpen + req + "<t>2026-03-14T09:30:00-23:59</t>" + envClose)
	if err != nil {
		t.Fatal(err)
	}
	if _, off := got.T.Zone(); off != -(23*3600 + 59*60) {
		t.Errorf("offset: got %d", off)
	}
}

// TestCodecBoundsAttributes: an element with more attributes (namespace
// declarations included) than MaxAttributes is refused before the parser
// keeps a copy of them, so a hostile start tag cannot multiply its size in
// memory.
func TestCodecBoundsAttributes(t *testing.T) {
	const req = `<e/><s/><i>0</i><bo>false</bo><t>2026-03-14T09:30:00Z</t><raw/><NoTg/>`
	many := func(n int, format string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, format, i)
		}
		return b.String()
	}
	ok := `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"` + many(MaxAttributes-1, ` xmlns:n%d="urn:n"`) +
		`><soap:Body><M xmlns="urn:t">` + req + envClose
	if _, err := decodeSample(ok); err != nil {
		t.Fatalf("%d attributes: %v", MaxAttributes, err)
	}
	for name, raw := range map[string]string{
		"attributes": envOpen[:len(envOpen)-1] + many(MaxAttributes+1, ` a%d=""`) + ">" + req + envClose,
		"namespace declarations": `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"` + many(MaxAttributes, ` xmlns:n%d="urn:n"`) +
			`><soap:Body><M xmlns="urn:t">` + req + envClose,
		"header entry": `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header><h xmlns="urn:h"` +
			many(10*MaxAttributes, ` a%d="1"`) + `/></soap:Header><soap:Body><M xmlns="urn:t">` + req + envClose,
	} {
		_, err := decodeSample(raw)
		var fe *contracts.FieldError
		if !errors.As(err, &fe) || fe.Code != contracts.CodeInvalidJSON || !strings.Contains(fe.Message, "attributes") {
			t.Errorf("%s: got %v, want a refusal of too many attributes", name, err)
		}
	}
}

// fill sets every field reachable from v to a non-zero value the codec
// carries: every list gets two items, every pointer a value.
func fill(t *testing.T, v reflect.Value, path string, depth int) {
	t.Helper()
	if depth > 12 {
		t.Fatalf("%s: type nests too deeply to fill", path)
	}
	typ := v.Type()
	switch {
	case typ == timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 3, 14, 9, 30, 12, 345678901, time.FixedZone("CST", 8*3600))))
		return
	case typ == rawMessageType:
		v.SetBytes([]byte(`{"path":"` + path + `","v":[1,"<&>"]}`))
		return
	}
	switch typ.Kind() {
	case reflect.String:
		v.SetString(path + " <&> 值")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.25)
	case reflect.Pointer:
		p := reflect.New(typ.Elem())
		fill(t, p.Elem(), path, depth+1)
		v.Set(p)
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{0, 1, 0xfe, 0xff})
			return
		}
		s := reflect.MakeSlice(typ, 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range typ.NumField() {
			if sf := typ.Field(i); sf.IsExported() && sf.Tag.Get("json") != "-" {
				fill(t, v.Field(i), join(path, sf.Name), depth+1)
			}
		}
	default:
		t.Fatalf("%s: the codec does not carry %s", path, typ)
	}
}
