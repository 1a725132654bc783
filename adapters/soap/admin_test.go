package soap

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// TestDeliverNoticeRoundTrip: every notice type goes out as DeliverNotice
// and the partner side reads back exactly what was sent; the partner's
// DeliverNoticeResponse is verified as a status acknowledgement is.
func TestDeliverNoticeRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	a := newAdapter(t, gw, srv.endpoint(), "")
	for typ, d := range sampleNotices() {
		t.Run(string(typ), func(t *testing.T) {
			n := len(srv.seen())
			ack, raw, sig, err := a.DeliverNotice(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			calls := srv.seen()[n:]
			if len(calls) != 1 {
				t.Fatalf("partner saw %d calls, want 1", len(calls))
			}
			checkCall(t, calls[0], srv.side, OpDeliverNotice)
			if calls[0].msg.Kind() != string(contracts.DeliveryKindNotice) {
				t.Fatalf("partner read a %q message", calls[0].msg.Kind())
			}
			want := &contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, AcknowledgedAt: fixedNow,
				BodySM3: gw.SM3Hex(calls[0].body), KeyID: partner.KeyID()}
			checkEqual(t, "ack", ack, want)
			if err := gw.VerifyBody(partnerID, partner.KeyID(), raw, sig); err != nil {
				t.Errorf("raw and sig are not the partner's signed answer: %v", err)
			}
			if !bytes.Contains(raw, []byte("<DeliverNoticeResponse ")) {
				t.Errorf("raw is not a DeliverNoticeResponse: %s", raw)
			}
			checkEqual(t, "notice delivery", calls[0].msg.Notice, d)
		})
	}
}

// TestDeliverNoticeRefusals: a notice's acknowledgement is held to the
// rules of a status acknowledgement: another delivery, another body,
// another key, an unsigned or badly signed answer, the response of
// another operation and a fault all fail, classified.
func TestDeliverNoticeRefusals(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	a := newAdapter(t, gw, srv.endpoint(), `, "max_retries": 0`)
	d := sampleNotices()[contracts.NoticeDeadlineWarning]
	ackWith := func(change func(*contracts.Ack)) func(s seen) reply {
		return func(s seen) reply {
			ack := srv.ackOf(s.msg, s.body)
			change(ack)
			b, _, err := srv.side.WriteAck(s.msg, ack)
			if err != nil {
				t.Fatal(err)
			}
			return reply{body: b, signed: true}
		}
	}
	for _, tc := range []struct {
		name      string
		answer    func(s seen) reply
		sentinel  error
		permanent bool
	}{
		{"another delivery", ackWith(func(a *contracts.Ack) { a.DeliveryID = "dlv-other" }), adapters.ErrAckMismatch, true},
		{"another exchange", ackWith(func(a *contracts.Ack) { a.ExchangeID = "0195a100-0000-7000-8000-000000000009" }), adapters.ErrAckMismatch, true},
		{"another body", ackWith(func(a *contracts.Ack) { a.BodySM3 = strings.Repeat("0", 64) }), adapters.ErrAckMismatch, true},
		{"another key", ackWith(func(a *contracts.Ack) { a.KeyID = "371523-old" }), adapters.ErrAckMismatch, true},
		{"unsigned", func(s seen) reply {
			r := ackWith(func(*contracts.Ack) {})(s)
			r.signed = false
			return r
		}, adapters.ErrBadSignature, true},
		{"badly signed", func(s seen) reply {
			r := ackWith(func(*contracts.Ack) {})(s)
			r.badSig = true
			return r
		}, adapters.ErrBadSignature, true},
		{"a status response", func(s seen) reply {
			b, _, _ := srv.side.WriteAck(&adapters.Message{Status: sampleStatus()}, srv.ackOf(s.msg, s.body))
			return reply{body: b, signed: true}
		}, adapters.ErrMalformedAck, true},
		{"client fault", func(s seen) reply {
			b, _, st := srv.side.WriteError(s.msg, 400, contracts.CodeValidationFailed, "notice type unknown")
			return reply{status: st, body: b}
		}, nil, true},
		{"server fault", func(s seen) reply {
			b, _, st := srv.side.WriteError(s.msg, 503, contracts.CodeUnavailable, "busy")
			return reply{status: st, body: b}
		}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.setAnswer(tc.answer)
			_, _, _, err := a.DeliverNotice(context.Background(), d)
			e := asError(t, err)
			if e.Permanent() != tc.permanent {
				t.Errorf("permanent %v, want %v: %v", e.Permanent(), tc.permanent, err)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("got %v, want %v", err, tc.sentinel)
			}
		})
	}
	srv.setAnswer(nil)
	if _, _, _, err := a.DeliverNotice(context.Background(), nil); err == nil || !asError(t, err).Permanent() {
		t.Errorf("DeliverNotice(nil): %v, want a permanent failure", err)
	}
	bell := *d
	bell.Notice.Reason = "bell \a"
	if _, _, _, err := a.DeliverNotice(context.Background(), &bell); err == nil || !asError(t, err).Permanent() || strings.Contains(err.Error(), "bell") {
		t.Errorf("notice with a control character: %v, want a permanent failure quoting nothing", err)
	}
}

// TestDeliverCaseWithBundle: a part of a bundle carries its BundleRef,
// with the prerequisites' result documents, and CheckCase refuses what
// XML cannot hold in it, naming the field.
func TestDeliverCaseWithBundle(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	a := newAdapter(t, gw, srv.endpoint(), `, "max_retries": 0`)
	d := sampleBundleCase()
	if err := a.CheckCase(d); err != nil {
		t.Fatalf("CheckCase: %v", err)
	}
	if _, _, _, err := a.DeliverCase(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	calls := srv.seen()
	checkCall(t, calls[0], srv.side, OpDeliverCase)
	checkEqual(t, "part of a bundle", calls[0].msg.Case, d)
	if !bytes.Contains(calls[0].body, []byte("<bundle><bundle_id>case-0195a200aaaa7bbb</bundle_id>")) {
		t.Errorf("envelope does not carry the bundle: %s", calls[0].body)
	}

	for _, tc := range []struct {
		name   string
		change func(b *contracts.BundleRef)
		field  string
	}{
		{"bundle name", func(b *contracts.BundleRef) { b.Name = "开办\x01餐饮店" }, "bundle.name"},
		{"prerequisite document", func(b *contracts.BundleRef) { b.Prerequisites[0].Documents[1].Name = "通知书\x1b" }, "bundle.prerequisites[0].documents[1].name"},
		{"after", func(b *contracts.BundleRef) { b.After[1] = "fire\xff" }, "bundle.after[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := sampleBundleCase()
			tc.change(bad.Bundle)
			var fe *contracts.FieldError
			if err := a.CheckCase(bad); !errors.As(err, &fe) || fe.Field != tc.field || fe.Code != contracts.CodeValidationFailed {
				t.Fatalf("CheckCase: %v, want validation_failed at %s", err, tc.field)
			}
		})
	}
}

// adminCalls are the partner's calls of a case's administration.
func adminCalls() []*contracts.InboundCall {
	return []*contracts.InboundCall{
		{Kind: contracts.InboundEvaluation, Evaluation: sampleEvaluation()},
		{Kind: contracts.InboundReply, Reply: sampleReply()},
		{Kind: contracts.InboundBundle, Bundle: sampleBundle()},
	}
}

// TestInboundAdminRoundTrip: evaluations, follow-up replies and bundles
// the partner side sends as SubmitEvaluation, ReplyToEvaluation and
// SubmitBundle, the translator reads back exactly; their receipts (a
// bundle's with its parts) the partner side reads back exactly.
func TestInboundAdminRoundTrip(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	side := newSide(t, "http://127.0.0.1:1/svc", "")
	ops := map[contracts.InboundKind]string{contracts.InboundEvaluation: OpSubmitEvaluation,
		contracts.InboundReply: OpReplyToEvaluation, contracts.InboundBundle: OpSubmitBundle}
	for _, c := range adminCalls() {
		t.Run(string(c.Kind), func(t *testing.T) {
			pc, err := side.Call(c)
			if err != nil {
				t.Fatal(err)
			}
			op := ops[c.Kind]
			if pc.Path != "/v1/inbound/371523" || pc.MediaType != ContentType || pc.Action != DefaultNamespace+"/"+op {
				t.Errorf("call: path %q media type %q action %q", pc.Path, pc.MediaType, pc.Action)
			}
			if !bytes.Contains(pc.Body, []byte("<"+op+` xmlns="`+DefaultNamespace+`">`)) {
				t.Errorf("body is not a %s: %s", op, pc.Body)
			}
			mt, _, _ := mime.ParseMediaType(pc.MediaType)
			got, err := a.DecodeCall(&contracts.NativeCall{MediaType: mt, Action: pc.Action, Body: pc.Body})
			if err != nil {
				t.Fatalf("DecodeCall: %v\n%s", err, pc.Body)
			}
			if got.Kind != c.Kind || got.Operation != op || got.Submission != nil || got.Update != nil {
				t.Errorf("kind %q operation %q, want %q %q", got.Kind, got.Operation, c.Kind, op)
			}
			checkEqual(t, "evaluation", got.Evaluation, c.Evaluation)
			checkEqual(t, "reply", got.Reply, c.Reply)
			checkEqual(t, "bundle", got.Bundle, c.Bundle)

			r := &contracts.Receipt{ExchangeID: "0195a000-0000-7000-8000-000000000001", CaseID: "case-01959245f1f97a3c",
				ReceivedAt: time.Date(2026, 4, 20, 19, 5, 1, 5, time.UTC), BodySM3: gw.SM3Hex(pc.Body),
				State: contracts.CaseStateConcluded, EvidenceSeq: 77}
			if c.Kind == contracts.InboundBundle {
				r = sampleBundleReceipt()
			}
			body, ct, err := a.EncodeReceipt(got, r)
			if err != nil {
				t.Fatal(err)
			}
			if ct != ContentType || !bytes.Contains(body, []byte("<"+op+"Response ")) {
				t.Errorf("receipt: %s %s", ct, body)
			}
			back, err := side.ReadReceipt("text/xml", body)
			if err != nil {
				t.Fatal(err)
			}
			checkEqual(t, "receipt", back, r)
			// The receipt's operation follows the call's kind when the
			// call names no operation.
			byKind, _, err := a.EncodeReceipt(&contracts.InboundCall{Kind: c.Kind}, r)
			if err != nil || !bytes.Equal(byKind, body) {
				t.Errorf("receipt by kind: %v\n%s", err, byKind)
			}
		})
	}
}

// TestDecodeAdminCallRefusals: a malformed evaluation, reply or bundle is
// refused with a field error naming the element at fault.
func TestDecodeAdminCallRefusals(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	side := newSide(t, "http://127.0.0.1:1/svc", "")
	body := map[contracts.InboundKind]string{}
	for _, c := range adminCalls() {
		pc, err := side.Call(c)
		if err != nil {
			t.Fatal(err)
		}
		body[c.Kind] = string(pc.Body)
	}
	ev, reply, bundle := body[contracts.InboundEvaluation], body[contracts.InboundReply], body[contracts.InboundBundle]
	tests := []struct {
		name, action, operation, body string
		field                         string
		code                          contracts.Code
	}{
		{"evaluation without a level", "", "", strings.Replace(ev, "<level>very_dissatisfied</level>", "", 1), "level", contracts.CodeValidationFailed},
		{"evaluation without the applicant", "", "", cut(ev, "<applicant>", "</applicant>"), "applicant", contracts.CodeValidationFailed},
		{"evaluation with an unknown element", "", "", strings.Replace(ev, "<channel>", "<score>1</score><channel>", 1), "SubmitEvaluation", contracts.CodeInvalidJSON},
		{"evaluation time without zone", "", "", strings.Replace(ev, "<evaluated_at>2026-04-20T19:05:00.25+08:00", "<evaluated_at>2026-04-20T19:05:00", 1), "evaluated_at", contracts.CodeInvalidJSON},
		{"evaluation id twice", "", "", strings.Replace(ev, "<holder_type>111</holder_type>", "<holder_type>111</holder_type><holder_type>001</holder_type>", 1), "applicant.holder_type", contracts.CodeInvalidJSON},
		{"reply with a bad flag", "", "", strings.Replace(reply, "<contacted_applicant>true", "<contacted_applicant>yes", 1), "contacted_applicant", contracts.CodeInvalidJSON},
		{"reply without measures", "", "", cut(reply, "<measures>", "</measures>"), "measures", contracts.CodeValidationFailed},
		{"reply with its result twice", "", "", strings.Replace(reply, "<measures>", "<result>x</result><measures>", 1), "result", contracts.CodeInvalidJSON},
		{"reply without its flag", "", "", cut(reply, "<contacted_applicant>", "</contacted_applicant>"), "contacted_applicant", contracts.CodeValidationFailed},
		{"bundle part with a bad form", "", "", strings.Replace(bundle, `<form>{"area_m2":120.5}</form>`, `<form>{"area_m2":</form>`, 1), "parts[1].form", contracts.CodeInvalidJSON},
		{"bundle part without its item", "", "", cut(bundle, "<service_item><basic_code>000155015000", "</service_item>"), "parts[2].service_item", contracts.CodeValidationFailed},
		{"bundle with an unknown part element", "", "", strings.Replace(bundle, "<after>business_license</after>", "<before>x</before>", 1), "parts[2]", contracts.CodeInvalidJSON},
		{"action names another operation", DefaultNamespace + "/SubmitCase", "", ev, "SOAPAction", contracts.CodeBadRequest},
		{"path names another operation", "", OpSubmitBundle, reply, "path", contracts.CodeBadRequest},
		{"gateway operation", "", "", strings.ReplaceAll(reply, "ReplyToEvaluation", "DeliverNotice"), "Body", contracts.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.action == "" && tc.operation == "" && (tc.body == ev || tc.body == reply || tc.body == bundle) {
				t.Fatal("the test changes nothing in the call")
			}
			_, err := a.DecodeCall(&contracts.NativeCall{MediaType: "text/xml", Action: tc.action, Operation: tc.operation, Body: []byte(tc.body)})
			var fe *contracts.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *contracts.FieldError", err)
			}
			if fe.Field != tc.field || fe.Code != tc.code {
				t.Errorf("got field %q code %s (%v), want field %q code %s", fe.Field, fe.Code, fe, tc.field, tc.code)
			}
			checkQuotesNothingT(t, fe.Error(), "11010519491231002X")
		})
	}
}

// cut removes from s the first run from start to the end of the first end
// after it; s is returned unchanged when there is none.
func cut(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return s
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		return s
	}
	return s[:i] + s[i+j+len(end):]
}

// checkQuotesNothingT fails when msg quotes value.
func checkQuotesNothingT(t *testing.T, msg, value string) {
	t.Helper()
	if strings.Contains(msg, value) {
		t.Errorf("error %q quotes %q", msg, value)
	}
}

// TestPartnerSideNotices: the partner side reads a DeliverNotice, answers
// it with a DeliverNoticeResponse, refuses a batch or lookup answer to it,
// and refuses a call of a kind without its message.
func TestPartnerSideNotices(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	side := newSide(t, "http://127.0.0.1:1/svc", "")
	d := sampleNotices()[contracts.NoticeFollowUpReply]
	body, err := a.proto.marshal(OpDeliverNotice, d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := side.ReadRequest("/", "text/xml", side.Config().Action(OpDeliverNotice), body)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "notice", m.Notice, d)
	if m.Kind() != "notice" {
		t.Errorf("kind %q", m.Kind())
	}
	if _, err := side.ReadRequest("/", "text/xml", side.Config().Action(OpDeliverStatus), body); err == nil {
		t.Error("ReadRequest took a DeliverNotice sent with the SOAPAction of DeliverStatus")
	}
	ack := &contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, AcknowledgedAt: fixedNow,
		BodySM3: gw.SM3Hex(body), KeyID: partnerID}
	out, ct, err := side.WriteAck(m, ack)
	if err != nil || ct != ContentType || !bytes.Contains(out, []byte(`<DeliverNoticeResponse xmlns="`+DefaultNamespace+`">`)) {
		t.Fatalf("WriteAck: %v %s %s", err, ct, out)
	}
	got, err := a.proto.acceptAck(OpDeliverNotice, out, 200, nil, fixedNow, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, BodySM3: gw.SM3Hex(body), KeyID: partnerID})
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "ack", got, ack)
	if _, _, err := side.WriteBatchAck(m, &contracts.UsageBatchAck{}); err == nil {
		t.Error("WriteBatchAck answered a notice")
	}
	if _, _, err := side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{}); err == nil {
		t.Error("WriteLookupAnswer answered a notice")
	}
	for _, k := range []contracts.InboundKind{contracts.InboundEvaluation, contracts.InboundReply, contracts.InboundBundle} {
		if _, err := side.Call(&contracts.InboundCall{Kind: k}); err == nil {
			t.Errorf("Call of kind %s without its message succeeded", k)
		}
	}
	if _, _, err := a.EncodeReceipt(&contracts.InboundCall{Kind: "nope"}, &contracts.Receipt{}); err == nil {
		t.Error("EncodeReceipt of an unknown kind succeeded")
	}
}
