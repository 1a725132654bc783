package mappedjson_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// TestDeliverNoticeRoundTrip: every notice type goes to the district's
// notice_delivery path in its own JSON, the district built from the same
// config reads back exactly what was sent, and its signed acknowledgement
// is verified as a status acknowledgement is.
func TestDeliverNoticeRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	if !a.DeliversNotices() {
		t.Fatal("the example config delivers no notices")
	}
	for i, typ := range noticeTypes {
		t.Run(string(typ), func(t *testing.T) {
			n := sampleNotice(typ)
			ack, raw, sig, err := a.DeliverNotice(context.Background(), n)
			if err != nil {
				t.Fatal(err)
			}
			msgs, reqs := d.messages(), d.requests()
			if len(msgs) != i+1 || msgs[i].Notice == nil || msgs[i].Kind() != "notice" {
				t.Fatalf("district read %+v, want a notice", msgs[len(msgs)-1])
			}
			same(t, "notice delivery", msgs[i].Notice, n)
			want := contracts.Ack{ExchangeID: n.ExchangeID, DeliveryID: n.DeliveryID, AcknowledgedAt: fixedNow,
				BodySM3: gw.SM3Hex(reqs[i].body), KeyID: partnerID}
			same(t, "ack", ack, &want)
			if err := signing.Verify(partner.Key.Public(), raw, sig); err != nil {
				t.Errorf("returned signature does not verify over raw: %v", err)
			}
			if reqs[i].path != "/api/tongban/tzjs" {
				t.Errorf("path %q, want /api/tongban/tzjs", reqs[i].path)
			}
			for _, contractName := range []string{`"notice"`, `"type"`, `"evaluation"`, `"deadline"`, `T08:00:00+08:00"`} {
				if strings.Contains(string(reqs[i].body), contractName) {
					t.Errorf("request body carries %s: %s", contractName, reqs[i].body)
				}
			}
		})
	}
}

// TestNoticeCodes: the notice type, the evaluation's level and channel,
// the follow-up's state and the time limit's unit go out through the
// district's code tables.
func TestNoticeCodes(t *testing.T) {
	side := mustSide(t, "http://unused.example")
	for _, tc := range []struct {
		name   string
		notice func() *contracts.NoticeDelivery
		want   []string
	}{
		{"deadline warning", func() *contracts.NoticeDelivery { return sampleNotice(contracts.NoticeDeadlineWarning) },
			[]string{`"tzlx":"01"`, `"sxts":20`, `"sxdw":"1"`, `"jsz":"1"`, `"yyts":17`, `"syts":3`, `"sfcq":"0"`, `"yjsj":"2026-04-09 08:00:00.125"`}},
		{"deadline overdue", func() *contracts.NoticeDelivery { return sampleNotice(contracts.NoticeDeadlineOverdue) },
			[]string{`"tzlx":"02"`, `"syts":0`, `"sfcq":"1"`, `"cqsj":"2026-04-15 00:00:01"`}},
		{"evaluation", func() *contracts.NoticeDelivery { return sampleNotice(contracts.NoticeEvaluation) },
			[]string{`"tzlx":"03"`, `"pjdj":"2"`, `"pjfs":2`, `"pjqd":"3"`, `"zgzt":"1"`, `"zjhm":"1101**********002X"`}},
		{"very satisfied by hotline", func() *contracts.NoticeDelivery {
			n := sampleNotice(contracts.NoticeEvaluation)
			n.Notice.Evaluation.Level, n.Notice.Evaluation.Score, n.Notice.Evaluation.Channel = contracts.LevelVerySatisfied, 5, contracts.ChannelHotline
			n.Notice.FollowUp = nil
			return n
		}, []string{`"pjdj":"5"`, `"pjfs":5`, `"pjqd":"5"`}},
		{"follow-up reply", func() *contracts.NoticeDelivery { return sampleNotice(contracts.NoticeFollowUpReply) },
			[]string{`"tzlx":"04"`, `"zgzt":"2"`, `"sxdw":"2"`, `"sfhf":"1"`, `"sfyq":"1"`}},
		{"follow-up overdue", func() *contracts.NoticeDelivery { return sampleNotice(contracts.NoticeFollowUpOverdue) },
			[]string{`"tzlx":"05"`, `"zgzt":"3"`}},
		{"part cancelled", func() *contracts.NoticeDelivery { return sampleNotice(contracts.NoticePartCancelled) },
			[]string{`"tzlx":"06"`, `"yjsid":"case-0195a200aaaa7bbb"`, `"yy":"前置事项 business_license 未予许可"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.notice()
			body := noticeBody(t, n)
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %s: %s", w, body)
				}
			}
			m, err := side.ReadRequest("/api/tongban/tzjs", "application/json", "", []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			same(t, "notice", m.Notice, n)
		})
	}
}

// noticeBody returns the body an adapter with the example config sends
// for n, as the district sees it.
func noticeBody(t *testing.T, n *contracts.NoticeDelivery) string {
	t.Helper()
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	if _, _, _, err := a.DeliverNotice(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	return string(d.requests()[0].body)
}

// TestDeliverNoticeRefusals: a notice's answer is held to the rules of
// every delivery's, and a notice the mapping cannot write or a config
// without notice_delivery fails permanently without a call.
func TestDeliverNoticeRefusals(t *testing.T) {
	gw, partner := newPair(t)
	rogue := newTestCrypto(t, partnerID)
	n := sampleNotice(contracts.NoticeDeadlineWarning)
	signed := func(d *district, raw string, signer adapters.Crypto) func(http.ResponseWriter, *adapters.Message, []byte) bool {
		return func(w http.ResponseWriter, _ *adapters.Message, _ []byte) bool {
			d.writeSigned(w, []byte(raw), "application/json", signer)
			return true
		}
	}
	ackWith := func(d *district, change func(*contracts.Ack)) func(http.ResponseWriter, *adapters.Message, []byte) bool {
		return func(w http.ResponseWriter, m *adapters.Message, body []byte) bool {
			ack := d.ackFor(m, body)
			change(ack)
			raw, mt, err := d.side.WriteAck(m, ack)
			if err != nil {
				t.Error(err)
			}
			d.writeSigned(w, raw, mt, partner)
			return true
		}
	}
	for _, tc := range []struct {
		name      string
		answer    func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool
		permanent bool
		is        error
	}{
		{"retryable code", func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signed(d, `{"code":"5030","msg":"系统繁忙"}`, partner)
		}, false, nil},
		{"permanent code", func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signed(d, `{"code":"4002","msg":"通知类型有误"}`, partner)
		}, true, nil},
		{"signed by another key", func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signed(d, `{"code":"0"}`, rogue)
		}, true, adapters.ErrBadSignature},
		{"unknown field in data", func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signed(d, `{"code":"0","data":{"tzlx":"01"}}`, partner)
		}, true, adapters.ErrMalformedAck},
		{"ack for another delivery", func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return ackWith(d, func(a *contracts.Ack) { a.DeliveryID = "dlv-other" })
		}, true, adapters.ErrAckMismatch},
		{"ack for another exchange", func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return ackWith(d, func(a *contracts.Ack) { a.ExchangeID = "0195a100-0000-7000-8000-999999999999" })
		}, true, adapters.ErrAckMismatch},
		{"ack of other bytes", func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return ackWith(d, func(a *contracts.Ack) { a.BodySM3 = strings.Repeat("1", 64) })
		}, true, adapters.ErrAckMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
			a := newAdapter(t, gw, exampleWith(t, d.URL, func(c map[string]any) { c["max_retries"] = 0 }))
			d.setAnswer(tc.answer(d))
			_, _, _, err := a.DeliverNotice(context.Background(), n)
			e := asError(t, err)
			if e.Permanent() != tc.permanent {
				t.Errorf("permanent %v, want %v: %v", e.Permanent(), tc.permanent, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want %v", err, tc.is)
			}
		})
	}

	t.Run("a notice type the district's table lacks", func(t *testing.T) {
		d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
		a := newAdapter(t, gw, exampleWith(t, d.URL, func(c map[string]any) { delete(at(c, "tables", "tzlx"), "part_cancelled") }))
		_, _, _, err := a.DeliverNotice(context.Background(), sampleNotice(contracts.NoticePartCancelled))
		if e := asError(t, err); !e.Permanent() || !strings.Contains(e.Reason, "notice.type") {
			t.Errorf("got %v, want a permanent failure naming notice.type", err)
		}
		if len(d.requests()) != 0 {
			t.Error("the district got a notice the mapping cannot write")
		}
	})
	t.Run("no notice_delivery", func(t *testing.T) {
		a := newAdapter(t, gw, exampleWith(t, "http://127.0.0.1:1", func(c map[string]any) { delete(c, "notice_delivery") }))
		if a.DeliversNotices() {
			t.Error("DeliversNotices without notice_delivery")
		}
		if _, _, _, err := a.DeliverNotice(context.Background(), n); !asError(t, err).Permanent() {
			t.Errorf("got %v, want a permanent failure", err)
		}
	})
	t.Run("nil", func(t *testing.T) {
		a := newAdapter(t, gw, mappedjson.ExampleConfig("http://127.0.0.1:1"))
		if _, _, _, err := a.DeliverNotice(context.Background(), nil); !asError(t, err).Permanent() {
			t.Errorf("got %v, want a permanent failure", err)
		}
	})
}

// TestDeliverCaseWithBundle: a part of a bundle carries its bundle, the
// parts it waited for and their result documents in the district's
// names; the district reads back exactly what was sent.
func TestDeliverCaseWithBundle(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	c := sampleBundleCase(sm3Of(gw))
	if err := a.CheckCase(c); err != nil {
		t.Fatalf("CheckCase: %v", err)
	}
	if _, _, _, err := a.DeliverCase(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	same(t, "part of a bundle", d.messages()[0].Case, c)
	body := string(d.requests()[0].body)
	for _, w := range []string{`"yjs":{"yjsid":"case-0195a200aaaa7bbb"`, `"bjzs":3`, `"qzbj":["business_license","fire_safety"]`,
		`"bjjg":"1"`, `"bjsj":"2026-03-18 11:00:00.5"`, `"dzzzbs":"` + licenseID + `"`} {
		if !strings.Contains(body, w) {
			t.Errorf("body lacks %s: %s", w, body)
		}
	}
}

// TestCheckCaseBundle: a part of a bundle the case_delivery mapping cannot
// carry whole is refused by CheckCase, naming the first value left out,
// and DeliverCase sends nothing for it; a case without a bundle goes
// through a mapping without bundle fields.
func TestCheckCaseBundle(t *testing.T) {
	gw, partner := newPair(t)
	noBundle := func(c map[string]any) { delete(at(c, "case_delivery", "request"), "yjs") }
	tests := []struct {
		name   string
		config func(c map[string]any)
		change func(d *contracts.CaseDelivery)
		field  string
	}{
		{name: "the example carries a bundle whole", change: func(*contracts.CaseDelivery) {}},
		{name: "a case outside a bundle without bundle fields", config: noBundle,
			change: func(d *contracts.CaseDelivery) { d.Bundle = nil }},
		{name: "a part without bundle fields", config: noBundle, change: func(*contracts.CaseDelivery) {}, field: "bundle.bundle_id"},
		{name: "a part without its documents' content", config: func(c map[string]any) {
			delete(at(c, "case_delivery", "request", "yjs", "qzjg", "$item", "jgwj", "$item"), "wjnr")
		}, change: func(*contracts.CaseDelivery) {}, field: "bundle.prerequisites[0].documents[0].content"},
		{name: "a part without the parts it waited for", config: func(c map[string]any) {
			delete(at(c, "case_delivery", "request", "yjs"), "qzbj")
		}, change: func(*contracts.CaseDelivery) {}, field: "bundle.after[0]"},
		{name: "a part whose documents are left out, without documents", config: func(c map[string]any) {
			delete(at(c, "case_delivery", "request", "yjs", "qzjg", "$item"), "jgwj")
		}, change: func(d *contracts.CaseDelivery) { d.Bundle.Prerequisites[0].Documents = nil }},
		{name: "an outcome the district's table lacks", change: func(d *contracts.CaseDelivery) {
			d.Bundle.Prerequisites[1].Outcome = "withdrawn"
		}, field: "bundle.prerequisites[1].outcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dist := newDistrict(t, partner, exampleWith(t, "http://127.0.0.1:1", tt.config))
			a := newAdapter(t, gw, exampleWith(t, dist.URL, func(c map[string]any) {
				c["max_retries"] = 0
				if tt.config != nil {
					tt.config(c)
				}
			}))
			c := sampleBundleCase(sm3Of(gw))
			tt.change(c)
			err := a.CheckCase(c)
			_, _, _, derr := a.DeliverCase(context.Background(), c)
			if tt.field == "" {
				if err != nil || derr != nil {
					t.Fatalf("CheckCase: %v; DeliverCase: %v; want both to take the case", err, derr)
				}
				same(t, "case", dist.messages()[0].Case, c)
				return
			}
			var fe *contracts.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Code != contracts.CodeValidationFailed {
				t.Fatalf("CheckCase: %#v, want validation_failed at %s", err, tt.field)
			}
			if strings.Contains(fe.Message, "withdrawn") || strings.Contains(fe.Message, "case-0195a2") {
				t.Errorf("message %q quotes the value", fe.Message)
			}
			if derr == nil || !asError(t, derr).Permanent() {
				t.Errorf("DeliverCase: %v, want a permanent failure", derr)
			}
			if n := len(dist.requests()); n != 0 {
				t.Errorf("the district got %d calls for a case it cannot take whole", n)
			}
		})
	}
}

// adminCalls are the district's calls of a case's administration.
func adminCalls(sm3 func([]byte) string) []*contracts.InboundCall {
	return []*contracts.InboundCall{
		{Kind: contracts.InboundEvaluation, Evaluation: sampleEvaluation()},
		{Kind: contracts.InboundReply, Reply: sampleReply()},
		{Kind: contracts.InboundBundle, Bundle: sampleBundle(sm3)},
	}
}

// TestInboundAdminRoundTrip: evaluations, follow-up replies and bundles
// the district sends on their operations' paths, the translator reads
// back exactly; their receipts (a bundle's with its parts' cases) the
// district reads back exactly.
func TestInboundAdminRoundTrip(t *testing.T) {
	gw, _ := newPair(t)
	cfg := mappedjson.ExampleConfig("http://unused.example")
	side := mustSide(t, "http://unused.example")
	a := newAdapter(t, gw, cfg)
	ops := map[contracts.InboundKind]string{contracts.InboundEvaluation: "pjtj", contracts.InboundReply: "zgfk", contracts.InboundBundle: "yjstj"}
	for _, c := range adminCalls(sm3Of(gw)) {
		t.Run(string(c.Kind), func(t *testing.T) {
			pc, err := side.Call(c)
			if err != nil {
				t.Fatal(err)
			}
			op := ops[c.Kind]
			if pc.Path != "/v1/inbound/330702/"+op || pc.MediaType != "application/json" || pc.Action != "" {
				t.Errorf("call %+v, want POST /v1/inbound/330702/%s", pc, op)
			}
			got, err := a.DecodeCall(&contracts.NativeCall{Operation: op, MediaType: pc.MediaType, Body: pc.Body})
			if err != nil {
				t.Fatalf("DecodeCall(%s): %v", pc.Body, err)
			}
			if got.Kind != c.Kind || got.Operation != op || got.Submission != nil || got.Update != nil {
				t.Errorf("kind %s operation %s, want %s %s", got.Kind, got.Operation, c.Kind, op)
			}
			switch c.Kind {
			case contracts.InboundEvaluation:
				same(t, "evaluation", got.Evaluation, c.Evaluation)
			case contracts.InboundReply:
				same(t, "reply", got.Reply, c.Reply)
			case contracts.InboundBundle:
				same(t, "bundle", got.Bundle, c.Bundle)
				if got.Bundle.Parts[2].After[1] != "fire_safety" {
					t.Errorf("after: %v", got.Bundle.Parts[2].After)
				}
			}
			r := &contracts.Receipt{ExchangeID: "0195a000-0000-7000-8000-000000000001", CaseID: "case-01959245f1f97a3c",
				ReceivedAt: fixedNow, BodySM3: gw.SM3Hex(pc.Body), State: contracts.CaseStateConcluded, EvidenceSeq: 77}
			if c.Kind == contracts.InboundBundle {
				r = sampleBundleReceipt(gw.SM3Hex)
			}
			body, mt, err := a.EncodeReceipt(got, r)
			if err != nil {
				t.Fatal(err)
			}
			back, err := side.ReadReceipt(mt, body)
			if err != nil {
				t.Fatalf("ReadReceipt(%s): %v", body, err)
			}
			same(t, "receipt", back, r)
			if c.Kind == contracts.InboundBundle && !strings.Contains(string(body), `{"bjmc":"food_license","wgbjid":"case-0195a203aaaa7bbb","bjzt":"09"}`) {
				t.Errorf("bundle receipt %s does not name the waiting part's case", body)
			}
		})
	}
}

// TestDecodeAdminCallRefusals: a malformed evaluation, reply or bundle is
// refused with a field error naming the district's field, quoting nothing.
func TestDecodeAdminCallRefusals(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, mappedjson.ExampleConfig("http://unused.example"))
	side := mustSide(t, "http://unused.example")
	bodies := map[contracts.InboundKind]map[string]any{}
	for _, c := range adminCalls(sm3Of(gw)) {
		pc, err := side.Call(c)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(pc.Body, &m); err != nil {
			t.Fatal(err)
		}
		bodies[c.Kind] = m
	}
	const idNumber = "330702198506121277"
	// with returns the call of kind k with change applied to its decoded form.
	with := func(k contracts.InboundKind, change func(m map[string]any)) func() []byte {
		return func() []byte {
			raw, _ := json.Marshal(bodies[k])
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			change(m)
			b, _ := json.Marshal(m)
			return b
		}
	}
	part := func(m map[string]any, i int) map[string]any { return m["bjs"].([]any)[i].(map[string]any) }
	for _, tc := range []struct {
		name  string
		op    string
		body  func() []byte
		code  contracts.Code
		field string
	}{
		{"unknown level", "pjtj", with(contracts.InboundEvaluation, func(m map[string]any) { m["pjdj"] = idNumber }),
			contracts.CodeValidationFailed, "pjdj"},
		{"level as a number", "pjtj", with(contracts.InboundEvaluation, func(m map[string]any) { m["pjdj"] = 1 }),
			contracts.CodeValidationFailed, "pjdj"},
		{"unknown channel", "pjtj", with(contracts.InboundEvaluation, func(m map[string]any) { m["pjqd"] = "9" }),
			contracts.CodeValidationFailed, "pjqd"},
		{"bad evaluation time", "pjtj", with(contracts.InboundEvaluation, func(m map[string]any) { m["pjsj"] = idNumber }),
			contracts.CodeValidationFailed, "pjsj"},
		{"applicant's id as a number", "pjtj", with(contracts.InboundEvaluation, func(m map[string]any) {
			m["pjr"].(map[string]any)["zjhm"] = 330702198506121277
		}), contracts.CodeInvalidJSON, "pjr.zjhm"},
		{"unknown field in the applicant", "pjtj", with(contracts.InboundEvaluation, func(m map[string]any) {
			m["pjr"].(map[string]any)["xm"] = "王秀英"
		}), contracts.CodeInvalidJSON, "pjr"},
		{"wrong version", "pjtj", with(contracts.InboundEvaluation, func(m map[string]any) { m["bbh"] = "2.0" }),
			contracts.CodeValidationFailed, "bbh"},
		{"contact flag outside its table", "zgfk", with(contracts.InboundReply, func(m map[string]any) { m["sfhf"] = "2" }),
			contracts.CodeValidationFailed, "sfhf"},
		{"measures as an array", "zgfk", with(contracts.InboundReply, func(m map[string]any) { m["zgcs"] = []any{"a"} }),
			contracts.CodeInvalidJSON, "zgcs"},
		{"unknown reply field", "zgfk", with(contracts.InboundReply, func(m map[string]any) { m[idNumber] = "1" }),
			contracts.CodeInvalidJSON, ""},
		{"part's form not JSON", "yjstj", with(contracts.InboundBundle, func(m map[string]any) { part(m, 1)["sqb"] = "{" + idNumber }),
			contracts.CodeValidationFailed, "bjs[1].sqb"},
		{"part's prerequisites not an array", "yjstj", with(contracts.InboundBundle, func(m map[string]any) { part(m, 2)["qzbj"] = "fire_safety" }),
			contracts.CodeInvalidJSON, "bjs[2].qzbj"},
		{"unknown field in a part", "yjstj", with(contracts.InboundBundle, func(m map[string]any) { part(m, 2)["zt"] = "1" }),
			contracts.CodeInvalidJSON, "bjs[2]"},
		{"part's material size not digits", "yjstj", with(contracts.InboundBundle, func(m map[string]any) {
			part(m, 0)["clxx"].([]any)[0].(map[string]any)["wjdx"] = idNumber + "x"
		}), contracts.CodeValidationFailed, "bjs[0].clxx[0].wjdx"},
		{"parts not an array", "yjstj", with(contracts.InboundBundle, func(m map[string]any) { m["bjs"] = map[string]any{"bjmc": "a"} }),
			contracts.CodeInvalidJSON, "bjs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.DecodeCall(&contracts.NativeCall{Operation: tc.op, MediaType: "application/json", Body: tc.body()})
			var fe *contracts.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %T %v, want a *contracts.FieldError", err, err)
			}
			if fe.Code != tc.code || fe.Field != tc.field {
				t.Errorf("got %s at %q (%v), want %s at %q", fe.Code, fe.Field, fe, tc.code, tc.field)
			}
			if strings.Contains(fe.Error(), idNumber) || strings.Contains(fe.Error(), "3307021985") {
				t.Errorf("error %q quotes the input", fe.Error())
			}
		})
	}
	// An operation the config does not declare is not found.
	cfg := exampleWith(t, "http://unused.example", func(c map[string]any) { delete(at(c, "inbound"), "bundle_submission") })
	b := newAdapter(t, gw, cfg)
	raw, _ := json.Marshal(bodies[contracts.InboundBundle])
	var fe *contracts.FieldError
	if _, err := b.DecodeCall(&contracts.NativeCall{Operation: "yjstj", MediaType: "application/json", Body: raw}); !errors.As(err, &fe) || fe.Code != contracts.CodeNotFound {
		t.Errorf("bundle without bundle_submission: %v, want not_found", err)
	}
}

// TestPartnerSideAdmin: the district's end reads a notice at its path and
// answers it, refuses a batch or lookup answer to it, and renders calls
// only of kinds it has a message and an operation for.
func TestPartnerSideAdmin(t *testing.T) {
	gw, _ := newPair(t)
	side := mustSide(t, "http://unused.example")
	n := sampleNotice(contracts.NoticeFollowUpReply)
	m := &adapters.Message{Notice: n}
	ack := &contracts.Ack{ExchangeID: n.ExchangeID, DeliveryID: n.DeliveryID, AcknowledgedAt: fixedNow, BodySM3: gw.SM3Hex([]byte("x")), KeyID: partnerID}
	raw, mt, err := side.WriteAck(m, ack)
	if err != nil || mt != "application/json" {
		t.Fatalf("WriteAck: %v %s", err, mt)
	}
	want := `{"code":"0","msg":"成功","data":{"jhid":"0195a001-0000-7000-8000-000000000002","tsid":"dlv-n0004","qssj":"20260314093000","zwzy":"` + ack.BodySM3 + `"}}`
	if string(raw) != want {
		t.Errorf("WriteAck = %s, want %s", raw, want)
	}
	if _, _, err := side.WriteBatchAck(m, &contracts.UsageBatchAck{}); err == nil {
		t.Error("WriteBatchAck answered a notice")
	}
	if _, _, err := side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{}); err == nil {
		t.Error("WriteLookupAnswer answered a notice")
	}
	body, mt, status := side.WriteError(m, 503, contracts.CodeUnavailable, "busy")
	if string(body) != `{"code":"5030","msg":"busy"}` || mt != "application/json" || status != 503 {
		t.Errorf("WriteError: %s %s %d", body, mt, status)
	}
	if _, err := side.ReadRequest("/api/tongban/tzjs", "application/json", "", []byte(`{"tz":{"tzlx":"99"}}`)); err == nil {
		t.Error("ReadRequest took a notice type outside the table")
	} else if fe, ok := err.(*contracts.FieldError); !ok || fe.Field != "tz.tzlx" {
		t.Errorf("ReadRequest: %v, want a field error at tz.tzlx", err)
	}
	for _, k := range []contracts.InboundKind{contracts.InboundEvaluation, contracts.InboundReply, contracts.InboundBundle} {
		if _, err := side.Call(&contracts.InboundCall{Kind: k}); err == nil {
			t.Errorf("Call of kind %s without its message succeeded", k)
		}
	}
	noReply, err := mappedjson.NewPartnerSide(partnerID, exampleWith(t, "http://unused.example", func(c map[string]any) {
		delete(at(c, "inbound"), "evaluation_reply")
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noReply.Call(&contracts.InboundCall{Kind: contracts.InboundReply, Reply: sampleReply()}); err == nil {
		t.Error("Call rendered a reply without evaluation_reply")
	}
	noNotices, err := mappedjson.NewPartnerSide(partnerID, exampleWith(t, "http://unused.example", func(c map[string]any) {
		delete(c, "notice_delivery")
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := noNotices.WriteAck(m, ack); err == nil {
		t.Error("WriteAck answered a notice without notice_delivery")
	}
	if _, err := noNotices.ReadRequest("/api/tongban/tzjs", "application/json", "", []byte(`{}`)); err == nil {
		t.Error("ReadRequest read a notice without notice_delivery")
	}
}
