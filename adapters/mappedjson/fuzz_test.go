package mappedjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// nopCrypto is enough for parsing: the fuzz targets never call out.
type nopCrypto struct{}

func (nopCrypto) Sign([]byte) ([]byte, error)               { return []byte{1}, nil }
func (nopCrypto) KeyID() string                             { return "gateway" }
func (nopCrypto) VerifyBody(_, _ string, _, _ []byte) error { return nil }
func (nopCrypto) SM3Hex([]byte) string                      { return strings.Repeat("0a", 32) }

// idRun finds a run of characters that could be a citizen id or credit
// code: error texts must not carry one from the input.
var idRun = regexp.MustCompile(`[0-9A-Z]{15,}`)

func fuzzAdapter(f *testing.F) *Adapter {
	f.Helper()
	a, err := New(adapters.Params{PartnerID: "330702", Config: ExampleConfig("https://jh.example"), Crypto: nopCrypto{}})
	if err != nil {
		f.Fatal(err)
	}
	return a
}

// quotes reports whether err's text carries an identifier-like run that
// appears in the input.
func quotes(err error, input []byte) string {
	for _, m := range idRun.FindAllString(err.Error(), -1) {
		if bytes.Contains(input, []byte(m)) {
			return m
		}
	}
	return ""
}

// FuzzDecodeCall feeds arbitrary inbound calls to the Translator. It must
// never panic; every failure is a *contracts.FieldError with a code that
// quotes no identifier from the body; a success carries exactly the
// message of its kind.
func FuzzDecodeCall(f *testing.F) {
	a := fuzzAdapter(f)
	side, err := NewPartnerSide("330702", ExampleConfig("https://jh.example"))
	if err != nil {
		f.Fatal(err)
	}
	sub := contracts.CaseSubmission{ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", FromRegion: "320404", ToRegion: "330702",
		SubmittedAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), Form: json.RawMessage(`{"a":[1,{"b":null}]}`),
		Applicant:  contracts.Party{HolderType: "111", IDNumber: "11010519491231002X", Name: "王秀英"},
		Materials:  []contracts.Material{{MaterialID: "M01", Name: "x", MediaType: "application/pdf", Size: 3, SM3: strings.Repeat("0a", 32), Content: []byte("abc")}},
		LicenseIDs: []string{"1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9"}}
	upd := contracts.StatusUpdate{ExchangeID: "01959246-0000-7000-8000-000000000001", CaseID: "case-1", State: "correction_required",
		ReportedAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), CorrectionItems: []string{"a", "b"},
		Documents: []contracts.Document{{Name: "d", MediaType: "application/pdf", Size: 1, SM3: strings.Repeat("0a", 32), URL: "https://x"}},
		Dispatch:  &contracts.Dispatch{Method: "post", DispatchedAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)}}
	ev := contracts.EvaluationSubmission{ExchangeID: "0195a000-0000-7000-8000-000000000001", CaseID: "case-1", Level: "dissatisfied",
		Channel: "app", EvaluatedAt: time.Date(2026, 4, 20, 19, 5, 0, 0, time.UTC),
		Applicant: contracts.EvaluationApplicant{HolderType: "111", IDNumber: "11010519491231002X"}}
	reply := contracts.EvaluationReply{ExchangeID: "0195a001-0000-7000-8000-000000000002", CaseID: "case-1",
		RepliedAt: time.Date(2026, 4, 23, 16, 30, 0, 0, time.UTC), Measures: "整改", ContactedApplicant: true}
	bundle := contracts.BundleSubmission{ExchangeID: "0195a200-0000-7000-8000-000000000001", FromRegion: "320404", Name: "开办餐饮店",
		Applicant: sub.Applicant, Parts: []contracts.BundlePart{
			{Part: "a", ServiceItem: contracts.ServiceItem{ImplementationCode: "1", Name: "x"}, Form: json.RawMessage(`{}`)},
			{Part: "b", After: []string{"a"}, ServiceItem: contracts.ServiceItem{ImplementationCode: "2", Name: "y"}, Form: json.RawMessage(`{"k":[1]}`),
				Materials: sub.Materials, LicenseIDs: sub.LicenseIDs}}}
	for _, c := range []*contracts.InboundCall{{Kind: contracts.InboundCase, Submission: &sub}, {Kind: contracts.InboundStatus, Update: &upd},
		{Kind: contracts.InboundEvaluation, Evaluation: &ev}, {Kind: contracts.InboundReply, Reply: &reply},
		{Kind: contracts.InboundBundle, Bundle: &bundle}} {
		pc, err := side.Call(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pc.Path[strings.LastIndex(pc.Path, "/")+1:], pc.Body)
	}
	f.Add("ztbg", []byte(`{"jhid":"x","330702198506121277":1}`))
	f.Add("ztbg", []byte(`{"bjzt":"330702198506121277"}`))
	f.Add("ztbg", []byte(`{"bgsj":"330702198506121277","wgbjid":330702198506121277}`))
	f.Add("bjtj", []byte(`{"sqb":"{\"330702198506121277\":1,"}`))
	f.Add("bjtj", []byte(`{"clxx":[{"wjdx":"330702198506121277"}],"mtjzz":[1]}`))
	f.Add("bjtj", []byte(`{"dlr":null,"sx":[],"jgsd":{"sdfs":"9"}}`))
	f.Add("bjtj", []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Add("nope", []byte(`{}`))
	f.Add("ztbg", []byte("\xff\xfe"))
	f.Add("pjtj", []byte(`{"pjdj":"330702198506121277","pjr":{"zjhm":330702198506121277}}`))
	f.Add("zgfk", []byte(`{"sfhf":"2","zgcs":["a"]}`))
	f.Add("yjstj", []byte(`{"bjs":[{"qzbj":"a","sqb":"{330702198506121277"},{"clxx":[{"wjdx":"1x"}]}]}`))
	f.Add("yjstj", []byte(`{"bjs":{"bjmc":"a"}}`))

	f.Fuzz(func(t *testing.T, op string, body []byte) {
		call, err := a.DecodeCall(&contracts.NativeCall{Operation: op, MediaType: "application/json", Body: body})
		if err != nil {
			var fe *contracts.FieldError
			if !errors.As(err, &fe) || fe.Code == "" {
				t.Fatalf("failure %v is not a *contracts.FieldError with a code", err)
			}
			if m := quotes(err, body); m != "" {
				t.Fatalf("failure %q quotes %q from the body", err, m)
			}
			return
		}
		carried := 0
		for _, set := range []bool{call.Submission != nil, call.Update != nil, call.Evaluation != nil, call.Reply != nil, call.Bundle != nil} {
			if set {
				carried++
			}
		}
		switch {
		case carried != 1:
			t.Fatalf("operation %q read as %d messages: %+v", op, carried, call)
		case call.Kind == contracts.InboundCase && call.Submission != nil && op == "bjtj":
		case call.Kind == contracts.InboundStatus && call.Update != nil && op == "ztbg":
		case call.Kind == contracts.InboundEvaluation && call.Evaluation != nil && op == "pjtj":
		case call.Kind == contracts.InboundReply && call.Reply != nil && op == "zgfk":
		case call.Kind == contracts.InboundBundle && call.Bundle != nil && op == "yjstj":
		default:
			t.Fatalf("operation %q read as %+v", op, call)
		}
	})
}

// FuzzAcceptAck feeds arbitrary bodies to the path that reads a partner's
// acknowledgement after its signature verified. It must never panic, must
// classify every failure as an *adapters.Error (a refusal by result code,
// or a permanent ErrMalformedAck or ErrAckMismatch) quoting no identifier
// from the body, and must accept only acknowledgements of the delivery it
// expects.
func FuzzAcceptAck(f *testing.F) {
	a := fuzzAdapter(f)
	op := a.spec.caseOp
	want := adapters.AckExpectation{
		ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", DeliveryID: "dlv-0001",
		BodySM3: strings.Repeat("0a", 32), KeyID: "330702", Case: true,
	}
	side, err := NewPartnerSide("330702", ExampleConfig("https://jh.example"))
	if err != nil {
		f.Fatal(err)
	}
	m := &adapters.Message{Case: &contracts.CaseDelivery{ExchangeID: want.ExchangeID, DeliveryID: want.DeliveryID}}
	good, _, err := side.WriteAck(m, &contracts.Ack{ExchangeID: want.ExchangeID, DeliveryID: want.DeliveryID,
		PartnerCaseNo: "WC-1", AcknowledgedAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), BodySM3: want.BodySM3})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(bytes.Replace(good, []byte("dlv-0001"), []byte("330702198506121277"), 1))
	f.Add(bytes.Replace(good, []byte(`"0a0a`), []byte(`"1111`), 1))
	f.Add([]byte(`{"code":"5030","msg":"证件号330702198506121277有误"}`))
	f.Add([]byte(`{"code":330702198506121277}`))
	f.Add([]byte(`{"code":"0","data":{"330702198506121277":1}}`))
	f.Add([]byte(`{"code":"0","data":{"qssj":"330702198506121277"}}`))
	f.Add([]byte(`{"code":"0","data":null}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte("\xff\xfe"))

	f.Fuzz(func(t *testing.T, raw []byte) {
		ack, err := a.acceptAck(op, raw, nil, want)
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) {
				t.Fatalf("failure %v is not an *adapters.Error", err)
			}
			refusal := strings.HasPrefix(e.Reason, "partner answered result code ")
			if !refusal && (!e.Permanent() || !errors.Is(err, adapters.ErrMalformedAck) && !errors.Is(err, adapters.ErrAckMismatch)) {
				t.Fatalf("failure %v is neither a refusal nor a permanent ErrMalformedAck or ErrAckMismatch", err)
			}
			if m := quotes(err, raw); m != "" {
				t.Fatalf("failure %q quotes %q from the answer", err, m)
			}
			if len(e.Reason) > 400 {
				t.Fatalf("reason is %d bytes", len(e.Reason))
			}
			return
		}
		if ack.ExchangeID != want.ExchangeID || ack.BodySM3 != want.BodySM3 || ack.KeyID != want.KeyID ||
			ack.PartnerCaseNo == "" || ack.AcknowledgedAt.IsZero() || (ack.DeliveryID != "" && ack.DeliveryID != want.DeliveryID) {
			t.Fatalf("accepted an acknowledgement of something else: %+v", ack)
		}
	})
}

// FuzzAcceptLookup feeds arbitrary bodies to the path that reads a
// library's answer after its signature verified. It must never panic, must
// classify every failure as an *adapters.Error quoting no identifier from
// the body, and must accept only answers to the lookup it made.
func FuzzAcceptLookup(f *testing.F) {
	a := fuzzAdapter(f)
	op := a.spec.lookupOp
	rec := contracts.LicenseRecord{
		LicenseID: "1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9",
		TypeCode:  "11100000MB1503156L001", Name: "不动产权证书", Number: "浙(2023)金华市不动产权第7458475号",
		Holder:     contracts.Party{HolderType: "111", IDNumber: "330702198506121277", Name: "王建国"},
		IssuerName: "金华市婺城区自然资源和规划局", IssuerCode: "1133070278352773XK",
		ValidFrom: "2023-02-25", Status: contracts.LicenseStatusValid,
	}
	q := &contracts.LicenseLookupRequest{ExchangeID: "01959250-aaaa-7bbb-8ccc-000000000001", LicenseID: rec.LicenseID,
		RequesterRegion: "320404", Purpose: "核验"}
	side, err := NewPartnerSide("330702", ExampleConfig("https://jh.example"))
	if err != nil {
		f.Fatal(err)
	}
	m := &adapters.Message{Lookup: q}
	found, _, err := side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID, Found: true, License: &rec})
	if err != nil {
		f.Fatal(err)
	}
	notFound, _, _ := side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID})
	f.Add(found)
	f.Add(notFound)
	f.Add(bytes.Replace(found, []byte(`"sfcz":"1"`), []byte(`"sfcz":"0"`), 1))
	f.Add(bytes.Replace(found, []byte(`"zjhm":"330702198506121277"`), []byte(`"zjhm":"330702198506121278"`), 1))
	f.Add(bytes.Replace(found, []byte(`"yxqq":"20230225"`), []byte(`"yxqq":"330702198506121277"`), 1))
	f.Add([]byte(`{"code":"0","data":{"jhid":"01959250-aaaa-7bbb-8ccc-000000000001","sfcz":"1"}}`))
	f.Add([]byte(`{"code":"0","data":{"jhid":"01959250-aaaa-7bbb-8ccc-000000000001","sfcz":"330702198506121277"}}`))
	f.Add([]byte(`{"code":"5020","msg":"330702198506121277"}`))
	f.Add([]byte(`{"code":"0","data":{"zz":{"gxsj":1}}}`))
	f.Add([]byte("\xff\xfe"))

	f.Fuzz(func(t *testing.T, raw []byte) {
		resp, err := a.acceptLookup(op, raw, nil, q)
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) {
				t.Fatalf("failure %v is not an *adapters.Error", err)
			}
			if m := quotes(err, raw); m != "" {
				t.Fatalf("failure %q quotes %q from the answer", err, m)
			}
			return
		}
		if resp.ExchangeID != q.ExchangeID || resp.Found != (resp.License != nil) {
			t.Fatalf("accepted an answer to something else: %+v", resp)
		}
		if resp.Found {
			if err := resp.License.Validate(); err != nil || resp.License.LicenseID != q.LicenseID {
				t.Fatalf("accepted record %+v (%v)", resp.License, err)
			}
		}
	})
}

// FuzzReadRequest feeds arbitrary calls to the partner side. It must never
// panic; a failure quotes no identifier from the body; a success carries
// exactly the message its path names.
func FuzzReadRequest(f *testing.F) {
	side, err := NewPartnerSide("330702", ExampleConfig("https://jh.example"))
	if err != nil {
		f.Fatal(err)
	}
	a := fuzzAdapter(f)
	d := &contracts.CaseDelivery{DeliveryID: "d", CaseID: "c", ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		Submission: contracts.CaseSubmission{Form: json.RawMessage(`{"x":1}`), LicenseIDs: []string{"a"},
			Applicant: contracts.Party{HolderType: "001", IDNumber: "91330702MA6GFR18X7"}}}
	body, err := a.spec.caseOp.request.encodeBytes(d)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("/api/tongban/bjjs", body)
	f.Add("/api/tongban/ztfk", []byte(`{"zt":{"bjzt":"330702198506121277","jgwj":[{"wjdx":"1"}]}}`))
	f.Add("/api/dzzz/yzjlhc", []byte(`{"yzjl":{"sfhc":"1","hysj":"330702198506121277"}}`))
	f.Add("/api/dzzz/zzcx", []byte(`{"czr":{"zjlx":"10","zjhm":330702198506121277}}`))
	f.Add("/api/tongban/bjjs", []byte(`{"bj":{"sqb":"330702198506121277"}}`))
	f.Add("/nope", []byte(`{}`))
	f.Add("/api/tongban/tzjs", []byte(`{"tz":{"tzlx":"330702198506121277","sx":{"sxts":"20","jsz":"2"},"pj":{"pjfs":1.5}}}`))
	f.Add("/api/tongban/tzjs", []byte(`{"tz":{"zg":{"fk":{"sfhf":"1","fksj":"330702198506121277"}}}}`))
	f.Add("/api/tongban/bjjs", []byte(`{"yjs":{"bjzs":"3","qzjg":[{"jgwj":[{"wjdx":"330702198506121277x"}]}]}}`))

	f.Fuzz(func(t *testing.T, path string, body []byte) {
		m, err := side.ReadRequest(path, "application/json", "", body)
		if err != nil {
			if m := quotes(err, body); m != "" {
				t.Fatalf("failure %q quotes %q from the body", err, m)
			}
			return
		}
		kinds := map[string]string{"/api/tongban/bjjs": "case", "/api/tongban/ztfk": "status", "/api/tongban/tzjs": "notice",
			"/api/dzzz/yzjlhc": "usage_record", "/api/dzzz/zzcx": "lookup", "/api/dzzz/yzjlplhc": "usage_batch"}
		if m.Kind() != kinds[path] {
			t.Fatalf("path %q read as a %q message", path, m.Kind())
		}
	})
}

// FuzzReadReceipt feeds arbitrary receipts to the partner side.
func FuzzReadReceipt(f *testing.F) {
	side, err := NewPartnerSide("330702", ExampleConfig("https://jh.example"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"code":"0","msg":"成功","data":{"jhid":"x","wgbjid":"c","jssj":"2026-03-14 09:30:00","bjzt":"02","czxh":"12"}}`))
	f.Add([]byte(`{"code":"0","data":{"czxh":"330702198506121277"}}`))
	f.Add([]byte(`{"code":"4002","msg":"330702198506121277"}`))
	f.Add([]byte(`{"code":"0","data":{"jhid":"x","wgbjid":"c","bjs":[{"bjmc":"a","wgbjid":"c1","bjzt":"09"},{"bjzt":"330702198506121277"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := side.ReadReceipt("application/json", body); err != nil {
			if m := quotes(err, body); m != "" {
				t.Fatalf("failure %q quotes %q from the receipt", err, m)
			}
		}
	})
}

// FuzzParseTrusted checks the fast parser of the gateway's own JSON
// against the strict one: on every valid JSON value (without duplicate
// keys) both read the same tree.
func FuzzParseTrusted(f *testing.F) {
	f.Add([]byte(`{"a":[1,2,{"b":"\u003c\u00e9\"x"}],"c":null,"d":true,"e":-1.5e3,"f":{}}`))
	f.Add([]byte(`["\ud83d\ude00",[],[[]],""]`))
	f.Add([]byte(`"just a string"`))
	f.Add([]byte(`{"k\u0026":"v"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, err := parseJSONItems(data, 64, math.MaxInt)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if json.Compact(&buf, data) != nil {
			return
		}
		got, err := parseTrusted(buf.Bytes(), 64)
		if err != nil {
			t.Fatalf("parseTrusted(%q): %v; the strict parser read it", buf.Bytes(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parseTrusted(%q) = %#v, want %#v", buf.Bytes(), got, want)
		}
	})
}
