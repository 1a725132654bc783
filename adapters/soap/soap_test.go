package soap

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

func TestRegistered(t *testing.T) {
	var st *adapters.Style
	for _, s := range adapters.Styles() {
		if s.Name == Name {
			st = &s
		}
	}
	if st == nil {
		t.Fatal("style soap is not registered")
	}
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	got := adapters.Capabilities(a)
	want := []adapters.Capability{adapters.CapCaseDelivery, adapters.CapStatusDelivery, adapters.CapInbound,
		adapters.CapLicenseLookup, adapters.CapUsageRecords}
	if len(got) != len(want) {
		t.Fatalf("capabilities: got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("capabilities: got %v, want %v", got, want)
		}
	}
	if a.Style() != Name {
		t.Errorf("Style: got %q", a.Style())
	}
}

// checkCall checks what the partner saw of one call: a POST to the
// endpoint, text/xml, the operation's quoted SOAPAction, signed.
func checkCall(t *testing.T, s seen, side *PartnerSide, op string) {
	t.Helper()
	if s.err != nil {
		t.Fatalf("partner could not read the %s call: %v", op, s.err)
	}
	if s.path != "" {
		t.Errorf("%s posted to %q under the endpoint, want the endpoint itself", op, s.path)
	}
	if got := s.header.Get("Content-Type"); got != ContentType {
		t.Errorf("%s Content-Type: got %q, want %q", op, got, ContentType)
	}
	if got, want := s.header.Get("SOAPAction"), `"`+side.Config().Action(op)+`"`; got != want {
		t.Errorf("%s SOAPAction: got %s, want %s", op, got, want)
	}
}

func TestDeliverCaseRoundTrip(t *testing.T) {
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("CST", 8*3600)} {
		t.Run(loc.String(), func(t *testing.T) {
			gw, partner := newPair(t)
			srv := newPartnerServer(t, partner, "")
			a := newAdapter(t, gw, srv.endpoint(), "")
			d := sampleCase(loc)
			ack, raw, sig, err := a.DeliverCase(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			calls := srv.seen()
			if len(calls) != 1 {
				t.Fatalf("partner saw %d calls, want 1", len(calls))
			}
			checkCall(t, calls[0], srv.side, OpDeliverCase)
			if ack.PartnerCaseNo != "371523-2026-000042" || ack.BodySM3 != gw.SM3Hex(calls[0].body) {
				t.Errorf("ack: got %+v", ack)
			}
			if err := gw.VerifyBody(partnerID, partner.KeyID(), raw, sig); err != nil {
				t.Errorf("raw and sig are not the partner's signed answer: %v", err)
			}
			wantRaw, _ := srv.defaultAnswer(calls[0].msg, calls[0].body)
			if !bytes.Equal(raw, wantRaw) {
				t.Errorf("raw: got %s, want the partner's exact answer %s", raw, wantRaw)
			}
			checkEqual(t, "case delivery", calls[0].msg.Case, d)
		})
	}
}

// statusCases is one status update of every lifecycle state, with the
// fields each state carries.
func statusCases() map[contracts.CaseState]*contracts.StatusDelivery {
	out := map[contracts.CaseState]*contracts.StatusDelivery{}
	at := time.Date(2026, 3, 16, 15, 4, 5, 987654321, time.FixedZone("CST", 8*3600))
	doc := contracts.Document{Name: "营业执照 <副本>", MediaType: "application/pdf", Size: 4,
		SM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", Content: []byte{0, 0xff, '<', '&'},
		LicenseID: "1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9"}
	for _, st := range []contracts.CaseState{
		contracts.CaseStateReceived, contracts.CaseStateForwarded, contracts.CaseStateAccepted,
		contracts.CaseStateRejected, contracts.CaseStateCorrectionRequired, contracts.CaseStateInProgress,
		contracts.CaseStateConcluded, contracts.CaseStateDispatched, contracts.CaseStateDelivered,
	} {
		d := sampleStatus()
		d.Update.State = st
		d.Update.ReportedAt = at
		d.Update.Outcome, d.Update.Documents, d.Update.Note = "", nil, ""
		switch st {
		case contracts.CaseStateRejected:
			d.Update.Reason = "材料不齐全 & 不符合法定形式"
		case contracts.CaseStateCorrectionRequired:
			d.Update.Reason = "请补正以下材料"
			d.Update.CorrectionItems = []string{"经营场所使用证明（原件）", "身份证复印件 <正反面>", " 前后空格 "}
		case contracts.CaseStateInProgress:
			d.Update.Note = "办理中"
		case contracts.CaseStateConcluded:
			d.Update.Outcome = contracts.OutcomeDenied
			d.Update.Documents = []contracts.Document{doc, {Name: "不予许可决定书", MediaType: "application/pdf", Size: 48213,
				SM3: "20636d46c9863ffeff312d5f7662134d61f19913b90ea9191f13958ece822d50", URL: "https://cp.example.gov.cn/d/1.pdf"}}
		case contracts.CaseStateDispatched:
			d.Update.Documents = []contracts.Document{doc}
			d.Update.Dispatch = &contracts.Dispatch{Method: contracts.ResultDeliveryMethodPost, Carrier: "EMS",
				TrackingNumber: "1100123456789", URL: "https://ems.example/track?n=1&x=2", DispatchedAt: at.Add(time.Hour)}
		case contracts.CaseStateDelivered:
			d.Update.DeliveredAt = at.Add(48 * time.Hour)
		}
		out[st] = d
	}
	return out
}

func TestDeliverStatusRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	a := newAdapter(t, gw, srv.endpoint(), "")
	for st, d := range statusCases() {
		t.Run(string(st), func(t *testing.T) {
			n := len(srv.seen())
			ack, _, _, err := a.DeliverStatus(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			calls := srv.seen()[n:]
			if len(calls) != 1 {
				t.Fatalf("partner saw %d calls, want 1", len(calls))
			}
			checkCall(t, calls[0], srv.side, OpDeliverStatus)
			if ack.DeliveryID != d.DeliveryID || ack.PartnerCaseNo != "" {
				t.Errorf("ack: got %+v", ack)
			}
			checkEqual(t, "status delivery", calls[0].msg.Status, d)
		})
	}
}

func TestDeliverUsageRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, `, "namespace": "http://zwfw.sd.gov.cn/ws/exchange", "soap_action_prefix": ""`)
	a := newAdapter(t, gw, srv.endpoint(), `, "namespace": "http://zwfw.sd.gov.cn/ws/exchange", "soap_action_prefix": ""`)
	d := sampleUsage()
	if _, _, _, err := a.DeliverUsage(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	calls := srv.seen()
	checkCall(t, calls[0], srv.side, OpDeliverUsage)
	if got := calls[0].header.Get("SOAPAction"); got != `"DeliverUsage"` {
		t.Errorf("SOAPAction with an empty prefix: got %s", got)
	}
	if !bytes.Contains(calls[0].body, []byte(`<DeliverUsage xmlns="http://zwfw.sd.gov.cn/ws/exchange">`)) {
		t.Errorf("body does not use the configured namespace: %s", calls[0].body)
	}
	checkEqual(t, "usage delivery", calls[0].msg.Usage, d)
}

func TestLookupRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	rec := sampleLicense(t)
	srv.library[rec.LicenseID] = rec
	a := newAdapter(t, gw, srv.endpoint(), "")

	t.Run("found", func(t *testing.T) {
		q := sampleLookup(rec.LicenseID)
		resp, raw, sig, err := a.LookupLicense(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		calls := srv.seen()
		last := calls[len(calls)-1]
		checkCall(t, last, srv.side, OpLookupLicense)
		checkEqual(t, "lookup", last.msg.Lookup, q)
		want := &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID, Found: true, License: &rec}
		checkEqual(t, "lookup answer", resp, want)
		if err := gw.VerifyBody(partnerID, partner.KeyID(), raw, sig); err != nil {
			t.Errorf("raw and sig: %v", err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		q := sampleLookup("1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B")
		resp, _, _, err := a.LookupLicense(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		checkEqual(t, "lookup answer", resp, &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID})
	})
	t.Run("by holder", func(t *testing.T) {
		q := sampleLookup("")
		q.Holder = &contracts.Holder{HolderType: contracts.HolderTypeCreditCode, IDNumber: "91330702MA6GFR18X7"}
		q.LicenseTypeCode, q.LicenseNumber = "11100000MB0143531D017", "JY13307021599123"
		if _, _, _, err := a.LookupLicense(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		calls := srv.seen()
		checkEqual(t, "lookup by holder", calls[len(calls)-1].msg.Lookup, q)
	})
}

// TestInboundRoundTrip: what the partner side calls the gateway with,
// the adapter's translator reads back exactly; the receipt the
// translator encodes, the partner side reads back exactly.
func TestInboundRoundTrip(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	side := newSide(t, "http://127.0.0.1:1/svc", "")
	sub := sampleCase(time.FixedZone("CST", 8*3600)).Submission
	calls := []*contracts.InboundCall{{Kind: contracts.InboundCase, Submission: &sub}}
	for _, d := range statusCases() {
		calls = append(calls, &contracts.InboundCall{Kind: contracts.InboundStatus, Update: &d.Update})
	}
	for _, c := range calls {
		pc, err := side.Call(c)
		if err != nil {
			t.Fatal(err)
		}
		if pc.Path != "/v1/inbound/371523" || pc.MediaType != ContentType {
			t.Errorf("call: path %q media type %q", pc.Path, pc.MediaType)
		}
		mt, _, _ := mime.ParseMediaType(pc.MediaType)
		got, err := a.DecodeCall(&contracts.NativeCall{MediaType: mt, Action: pc.Action, Body: pc.Body})
		if err != nil {
			t.Fatalf("DecodeCall: %v\n%s", err, pc.Body)
		}
		wantOp := OpSubmitCase
		if c.Kind == contracts.InboundStatus {
			wantOp = OpReportStatus
		}
		if got.Kind != c.Kind || got.Operation != wantOp || pc.Action != DefaultNamespace+"/"+wantOp {
			t.Errorf("kind %q operation %q action %q", got.Kind, got.Operation, pc.Action)
		}
		checkEqual(t, "submission", got.Submission, c.Submission)
		checkEqual(t, "update", got.Update, c.Update)

		r := &contracts.Receipt{ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", CaseID: "case-01959245f1f97a3c",
			ReceivedAt: time.Date(2026, 3, 14, 9, 30, 1, 5, time.UTC), BodySM3: gw.SM3Hex(pc.Body),
			State: contracts.CaseStateReceived, EvidenceSeq: 42}
		body, ct, err := a.EncodeReceipt(got, r)
		if err != nil {
			t.Fatal(err)
		}
		if ct != ContentType || !bytes.Contains(body, []byte("<"+wantOp+"Response ")) {
			t.Errorf("receipt: %s %s", ct, body)
		}
		back, err := side.ReadReceipt("text/xml", body)
		if err != nil {
			t.Fatal(err)
		}
		checkEqual(t, "receipt", back, r)
	}
}

func TestDecodeCallRefusals(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	side := newSide(t, "http://127.0.0.1:1/svc", "")
	u := sampleStatus().Update
	pc, err := side.Call(&contracts.InboundCall{Kind: contracts.InboundStatus, Update: &u})
	if err != nil {
		t.Fatal(err)
	}
	good := string(pc.Body)
	tests := []struct {
		name, mediaType, action, operation, body string
		field                                    string
		code                                     contracts.Code
	}{
		{"soap 1.2 media type", "application/soap+xml", "", "", good, "Content-Type", contracts.CodeUnsupportedMedia},
		{"json", "application/json", "", "", good, "Content-Type", contracts.CodeUnsupportedMedia},
		{"gbk charset", "text/xml; charset=gbk", "", "", good, "Content-Type", contracts.CodeUnsupportedMedia},
		{"action names another operation", "text/xml", DefaultNamespace + "/SubmitCase", "", good, "SOAPAction", contracts.CodeBadRequest},
		{"path names another operation", "text/xml", "", "SubmitCase", good, "path", contracts.CodeBadRequest},
		{"gateway operation", "text/xml", "", "", strings.ReplaceAll(good, "ReportStatus", "DeliverStatus"), "Body", contracts.CodeBadRequest},
		{"other namespace", "text/xml", "", "", strings.Replace(good, DefaultNamespace, "urn:other", 1), "Body", contracts.CodeBadRequest},
		{"not xml", "text/xml", "", "", `{"case_id":"x"}`, "", contracts.CodeInvalidJSON},
		{"missing state", "text/xml", "", "", strings.Replace(good, "<state>concluded</state>", "", 1), "state", contracts.CodeValidationFailed},
		{"bad time", "text/xml", "", "", strings.Replace(good, "<reported_at>2026-03-16T15:04:05Z", "<reported_at>16/03/2026", 1), "reported_at", contracts.CodeInvalidJSON},
		{"offset json cannot write", "text/xml", "", "", strings.Replace(good, "<reported_at>2026-03-16T15:04:05Z", "<reported_at>2026-03-16T15:04:05+24:00", 1), "reported_at", contracts.CodeInvalidJSON},
		{"unknown element", "text/xml", "", "", strings.Replace(good, "<note>", "<remark>x</remark><note>", 1), "ReportStatus", contracts.CodeInvalidJSON},
		{"must understand", "text/xml", "", "", strings.Replace(good, "<soap:Body>", `<soap:Header><s:Security xmlns:s="urn:sec" soap:mustUnderstand="1"/></soap:Header><soap:Body>`, 1), "Header", contracts.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.DecodeCall(&contracts.NativeCall{MediaType: tc.mediaType, Action: tc.action, Operation: tc.operation, Body: []byte(tc.body)})
			var fe *contracts.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *contracts.FieldError", err)
			}
			if fe.Field != tc.field || fe.Code != tc.code {
				t.Errorf("got field %q code %s (%v), want field %q code %s", fe.Field, fe.Code, fe, tc.field, tc.code)
			}
		})
	}
	// Accepted variants: no SOAPAction, the bare operation, other
	// prefixes, a header without mustUnderstand, the operation in the path.
	for _, c := range []struct{ action, operation, body string }{
		{"", "", good},
		{"ReportStatus", "", good},
		{"http://other.example/Exchange#ReportStatus", "", good},
		{`"` + pc.Action + `"`, "ReportStatus", good},
		{"", "", strings.Replace(good, "<soap:Body>", `<soap:Header><s:Trace xmlns:s="urn:t">x</s:Trace></soap:Header><soap:Body>`, 1)},
	} {
		if _, err := a.DecodeCall(&contracts.NativeCall{MediaType: "text/xml", Action: c.action, Operation: c.operation, Body: []byte(c.body)}); err != nil {
			t.Errorf("action %q operation %q: %v", c.action, c.operation, err)
		}
	}
}

func TestEncodeError(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	for _, tc := range []struct {
		status    int
		faultcode string
		retry     bool
	}{
		{400, FaultClient, false}, {401, FaultClient, false}, {409, FaultClient, false}, {422, FaultClient, false},
		{408, FaultServer, true}, {429, FaultServer, true}, {500, FaultServer, true}, {503, FaultServer, true},
	} {
		body, ct, status := a.EncodeError(nil, &contracts.Error{Code: contracts.CodeValidationFailed, Message: "拒绝 <x> & y", RequestID: "req-1"}, tc.status)
		if status != http.StatusInternalServerError || ct != ContentType {
			t.Errorf("%d: got HTTP %d %s, want 500 %s", tc.status, status, ct, ContentType)
		}
		env, err := parseEnvelope(body)
		if err != nil || !env.isFault() {
			t.Fatalf("%d: not a fault envelope: %v\n%s", tc.status, err, body)
		}
		f := a.proto.parseFault(env.body)
		if f.code != tc.faultcode || f.text != "拒绝 <x> & y" || f.detail == nil || f.detail.Status != tc.status ||
			f.detail.RequestID != "req-1" || *f.detail.Retryable != tc.retry {
			t.Errorf("%d: got fault %+v detail %+v", tc.status, f, f.detail)
		}
		// The adapter's own classification agrees.
		if e := f.asError(status, http.Header{}, fixedNow); e.Permanent() == tc.retry {
			t.Errorf("%d: classified permanent=%v", tc.status, e.Permanent())
		}
	}
	// Never fails, even for text XML cannot carry.
	body, _, _ := a.EncodeError(nil, &contracts.Error{Code: "x\x00", Message: "bad \x01 \xff"}, 400)
	if _, err := parseEnvelope(body); err != nil {
		t.Errorf("fault with control characters: %v\n%q", err, body)
	}
	body, _, _ = a.EncodeError(nil, nil, 500)
	if _, err := parseEnvelope(body); err != nil {
		t.Errorf("fault of a nil error: %v", err)
	}
}

func TestPartnerSideErrors(t *testing.T) {
	side := newSide(t, "http://127.0.0.1:1/svc", "")
	if _, err := NewPartnerSide("", ExampleConfig("http://x.example/")); err == nil {
		t.Error("NewPartnerSide without a partner id succeeded")
	}
	if _, err := side.ReadRequest("/cases", "text/xml", "", nil); err == nil {
		t.Error("ReadRequest at another path succeeded")
	}
	m := &adapters.Message{Case: sampleCase(time.UTC)}
	if _, _, err := side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{}); err == nil {
		t.Error("WriteLookupAnswer to a case succeeded")
	}
	if _, _, err := side.WriteAck(&adapters.Message{Lookup: sampleLookup("x")}, &contracts.Ack{}); err == nil {
		t.Error("WriteAck to a lookup succeeded")
	}
	if _, _, err := side.WriteAck(nil, &contracts.Ack{}); err == nil {
		t.Error("WriteAck to nothing succeeded")
	}
	if _, err := side.Call(&contracts.InboundCall{Kind: contracts.InboundCase}); err == nil {
		t.Error("Call without a submission succeeded")
	}
	body, ct, status := side.WriteError(nil, 429, contracts.CodeRateLimited, "slow down")
	if status != 500 || ct != ContentType || !bytes.Contains(body, []byte("<faultcode>soap:Server</faultcode>")) {
		t.Errorf("WriteError 429: %d %s %s", status, ct, body)
	}
	// A fault from the gateway is an error with its code.
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	fb, _, _ := a.EncodeError(nil, &contracts.Error{Code: contracts.CodeInvalidTransition, Message: "no", RequestID: "r1"}, 409)
	_, err := side.ReadReceipt("text/xml", fb)
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Code != contracts.CodeInvalidTransition || ce.RequestID != "r1" {
		t.Errorf("ReadReceipt of a fault: %v", err)
	}
	if _, err := side.ReadReceipt("application/json", []byte("{}")); err == nil {
		t.Error("ReadReceipt of JSON succeeded")
	}
}

// TestFaultClassification drives the adapter against answers a partner
// may give and checks how each failure is classified.
func TestFaultClassification(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	a := newAdapter(t, gw, srv.endpoint(), `, "max_retries": 0`)
	side := srv.side
	fault := func(faultcode, detail string) []byte {
		return []byte(xmlDecl + `<SOAP-ENV:Envelope xmlns:SOAP-ENV="` + EnvelopeNamespace + `"><SOAP-ENV:Body><SOAP-ENV:Fault>` +
			`<faultcode>` + faultcode + `</faultcode><faultstring>服务异常 330702198506121277 please retry</faultstring>` +
			`<detail><ns2:stackTrace xmlns:ns2="http://xml.apache.org/axis/">java.lang.NullPointerException</ns2:stackTrace>` + detail +
			`</detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`)
	}
	detail := func(code string, retryable string) string {
		return `<ExchangeFault xmlns="` + DefaultNamespace + `"><code>` + code + `</code><retryable>` + retryable + `</retryable></ExchangeFault>`
	}
	clientFault, _, _ := side.WriteError(nil, 400, contracts.CodeValidationFailed, "applicant.id_number: check character is wrong")
	serverFault, _, _ := side.WriteError(nil, 503, contracts.CodeUnavailable, "maintenance")
	ackFor := func(mutate func(*contracts.Ack)) func(seen) reply {
		return func(s seen) reply {
			ack := srv.ackOf(s.msg, s.body)
			if mutate != nil {
				mutate(ack)
			}
			b, _, _ := side.WriteAck(s.msg, ack)
			return reply{body: b, signed: true}
		}
	}
	tests := []struct {
		name      string
		answer    func(seen) reply
		permanent bool
		after     time.Duration
		status    int
		is        error
		code      contracts.Code
	}{
		{"500 client fault", fixed(reply{status: 500, body: clientFault}), true, 0, 500, nil, contracts.CodeValidationFailed},
		{"500 server fault", fixed(reply{status: 500, body: serverFault}), false, 0, 500, nil, contracts.CodeUnavailable},
		{"500 server fault with retry-after", fixed(reply{status: 500, body: serverFault, header: map[string]string{"Retry-After": "7"}}), false, 7 * time.Second, 500, nil, contracts.CodeUnavailable},
		{"server fault with an http-date retry-after", fixed(reply{status: 500, body: serverFault, header: map[string]string{"Retry-After": fixedNow.Add(90 * time.Second).Format(http.TimeFormat)}}), false, 90 * time.Second, 500, nil, contracts.CodeUnavailable},
		{"client fault ignores retry-after", fixed(reply{status: 500, body: clientFault, header: map[string]string{"Retry-After": "7"}}), true, 0, 500, nil, contracts.CodeValidationFailed},
		{"server fault, detail retryable=false", fixed(reply{status: 500, body: fault("soap:Server", detail("exchange_conflict", "false"))}), true, 0, 500, nil, contracts.CodeExchangeConflict},
		{"client fault, detail retryable=true", fixed(reply{status: 500, body: fault("soap:Client", detail("unavailable", "true"))}), false, 0, 500, nil, contracts.CodeUnavailable},
		{"client fault, detail code only", fixed(reply{status: 500, body: fault("soap:Client", `<ExchangeFault xmlns="`+DefaultNamespace+`"><code>rate_limited</code></ExchangeFault>`)}), false, 0, 500, nil, contracts.CodeRateLimited},
		{"server fault, unknown detail code", fixed(reply{status: 500, body: fault("soap:Server", `<ExchangeFault xmlns="`+DefaultNamespace+`"><code>E1042</code></ExchangeFault>`)}), false, 0, 500, nil, "E1042"},
		{"malformed detail is ignored", fixed(reply{status: 500, body: fault("soap:Server", `<ExchangeFault xmlns="`+DefaultNamespace+`"><retryable>no</retryable></ExchangeFault>`)}), false, 0, 500, nil, ""},
		{"client subcode, other prefix", fixed(reply{status: 500, body: fault("SOAP-ENV:Client.Authentication", "")}), true, 0, 500, nil, ""},
		{"server subcode, unprefixed", fixed(reply{status: 500, body: fault("Server.Busy", "")}), false, 0, 500, nil, ""},
		{"unknown faultcode on 500", fixed(reply{status: 500, body: fault("ns:Custom", "")}), false, 0, 500, nil, ""},
		{"version mismatch", fixed(reply{status: 500, body: fault("soap:VersionMismatch", "")}), true, 0, 500, nil, ""},
		{"fault on 400", fixed(reply{status: 400, body: serverFault}), false, 0, 400, nil, contracts.CodeUnavailable},
		{"redirect holding a fault", fixed(reply{status: 302, body: serverFault, header: map[string]string{"Location": "http://elsewhere.example/"}}), true, 0, 302, nil, ""},
		{"503 not a fault", fixed(reply{status: 503, body: []byte("<html>busy</html>")}), false, 0, 503, nil, ""},
		{"503 not a fault with retry-after", fixed(reply{status: 503, body: []byte("busy"), header: map[string]string{"Retry-After": "3"}}), false, 3 * time.Second, 503, nil, ""},
		{"400 not a fault", fixed(reply{status: 400, body: []byte("bad request")}), true, 0, 400, nil, ""},
		{"404 not a fault", fixed(reply{status: 404, body: nil}), true, 0, 404, nil, ""},
		{"200 holding a client fault", fixed(reply{body: clientFault, signed: true}), true, 0, 200, nil, contracts.CodeValidationFailed},
		{"200 holding a server fault", fixed(reply{body: serverFault, signed: true, header: map[string]string{"Retry-After": "5"}}), false, 5 * time.Second, 200, nil, contracts.CodeUnavailable},
		{"202", fixed(reply{status: 202, body: nil, signed: true}), true, 0, 202, adapters.ErrMalformedAck, ""},
		{"wrong response element", func(s seen) reply {
			b, _, _ := side.WriteAck(&adapters.Message{Status: sampleStatus()}, srv.ackOf(s.msg, s.body))
			return reply{body: b, signed: true}
		}, true, 0, 200, adapters.ErrMalformedAck, ""},
		{"not xml", fixed(reply{body: []byte(`{"exchange_id":"x"}`), signed: true}), true, 0, 200, adapters.ErrMalformedAck, ""},
		{"unknown element in ack", func(s seen) reply {
			b, _, _ := side.WriteAck(s.msg, srv.ackOf(s.msg, s.body))
			b = bytes.Replace(b, []byte("<key_id>"), []byte("<signature>x</signature><key_id>"), 1)
			return reply{body: b, signed: true}
		}, true, 0, 200, adapters.ErrMalformedAck, ""},
		{"unsigned answer", func(s seen) reply {
			r := ackFor(nil)(s)
			r.signed = false
			return r
		}, true, 0, 200, adapters.ErrBadSignature, ""},
		{"bad signature", func(s seen) reply {
			r := ackFor(nil)(s)
			r.badSig = true
			return r
		}, true, 0, 200, adapters.ErrBadSignature, ""},
		{"ack for another exchange", ackFor(func(a *contracts.Ack) { a.ExchangeID = "01959245-f1f9-7a3c-8d2e-000000000000" }), true, 0, 200, adapters.ErrAckMismatch, ""},
		{"ack for another delivery", ackFor(func(a *contracts.Ack) { a.DeliveryID = "11010519491231002X" }), true, 0, 200, adapters.ErrAckMismatch, ""},
		{"ack of other bytes", ackFor(func(a *contracts.Ack) { a.BodySM3 = strings.Repeat("0", 64) }), true, 0, 200, adapters.ErrAckMismatch, ""},
		{"ack without a case number", ackFor(func(a *contracts.Ack) { a.PartnerCaseNo = "" }), true, 0, 200, adapters.ErrMalformedAck, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.setAnswer(tc.answer)
			_, _, _, err := a.DeliverCase(context.Background(), sampleCase(time.UTC))
			e := asError(t, err)
			if e.Permanent() != tc.permanent || e.RetryAfter() != tc.after || e.Status != tc.status {
				t.Errorf("got permanent=%v after=%s status=%d (%v), want permanent=%v after=%s status=%d",
					e.Permanent(), e.RetryAfter(), e.Status, e, tc.permanent, tc.after, tc.status)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want it to wrap %v", err, tc.is)
			}
			var ce *contracts.Error
			if tc.code != "" && (!errors.As(err, &ce) || ce.Code != tc.code) {
				t.Errorf("got %v, want a cause with code %s", err, tc.code)
			}
			if strings.Contains(err.Error(), "330702198506121277") || strings.Contains(err.Error(), "11010519491231002X") {
				t.Errorf("error quotes an id number: %v", err)
			}
		})
	}
}

func fixed(r reply) func(seen) reply { return func(seen) reply { return r } }

// TestRetriesInsideAttempt: a Server fault without Retry-After is retried
// inside the attempt; one with Retry-After and a Client fault are not.
func TestRetriesInsideAttempt(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	a := newAdapter(t, gw, srv.endpoint(), `, "max_retries": 2`)
	serverFault, _, _ := srv.side.WriteError(nil, 503, contracts.CodeUnavailable, "maintenance")
	clientFault, _, _ := srv.side.WriteError(nil, 400, contracts.CodeValidationFailed, "bad")
	for _, tc := range []struct {
		name  string
		r     reply
		tries int
	}{
		{"server fault", reply{status: 500, body: serverFault}, 3},
		{"server fault with retry-after", reply{status: 500, body: serverFault, header: map[string]string{"Retry-After": "1"}}, 1},
		{"client fault", reply{status: 500, body: clientFault}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(srv.seen())
			srv.setAnswer(fixed(tc.r))
			_, _, _, err := a.DeliverStatus(context.Background(), sampleStatus())
			asError(t, err)
			if got := len(srv.seen()) - n; got != tc.tries {
				t.Errorf("partner saw %d tries, want %d", got, tc.tries)
			}
		})
	}
	// Then the partner recovers within the attempt.
	n := len(srv.seen())
	srv.setAnswer(func(s seen) reply {
		if len(srv.seen())-n < 2 {
			return reply{status: 500, body: serverFault}
		}
		return srv.defaultReply(s)
	})
	if _, _, _, err := a.DeliverStatus(context.Background(), sampleStatus()); err != nil {
		t.Errorf("recovery within the attempt: %v", err)
	}
}

func TestLookupFailures(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	rec := sampleLicense(t)
	a := newAdapter(t, gw, srv.endpoint(), "")
	side := srv.side
	serverFault, _, _ := side.WriteError(nil, 503, contracts.CodeUnavailable, "maintenance")
	answer := func(mutate func(*contracts.LicenseLookupResponse)) func(seen) reply {
		return func(s seen) reply {
			r := rec
			resp := &contracts.LicenseLookupResponse{ExchangeID: s.msg.Lookup.ExchangeID, Found: true, License: &r}
			mutate(resp)
			b, _, _ := side.WriteLookupAnswer(s.msg, resp)
			return reply{body: b, signed: true}
		}
	}
	tests := []struct {
		name      string
		answer    func(seen) reply
		permanent bool
		tries     int
		is        error
	}{
		{"server fault is not retried", fixed(reply{status: 500, body: serverFault}), false, 1, nil},
		{"another license", answer(func(r *contracts.LicenseLookupResponse) {
			r.License.LicenseID = "1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B"
		}), true, 1, adapters.ErrAckMismatch},
		{"another exchange", answer(func(r *contracts.LicenseLookupResponse) { r.ExchangeID = "01959250-aaaa-7bbb-8ccc-000000000009" }), true, 1, adapters.ErrAckMismatch},
		{"found without license", answer(func(r *contracts.LicenseLookupResponse) { r.License = nil }), true, 1, adapters.ErrMalformedAck},
		{"invalid record", answer(func(r *contracts.LicenseLookupResponse) { r.License.Holder.IDNumber = "330702198506121270" }), true, 1, adapters.ErrMalformedAck},
		{"found missing", func(s seen) reply {
			b, _, _ := side.WriteLookupAnswer(s.msg, &contracts.LicenseLookupResponse{ExchangeID: s.msg.Lookup.ExchangeID})
			b = bytes.Replace(b, []byte("<found>false</found>"), nil, 1)
			return reply{body: b, signed: true}
		}, true, 1, adapters.ErrMalformedAck},
		{"an ack instead", func(s seen) reply {
			b, _, _ := side.WriteAck(&adapters.Message{Usage: sampleUsage()}, srv.ackOf(s.msg, s.body))
			return reply{body: b, signed: true}
		}, true, 1, adapters.ErrMalformedAck},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(srv.seen())
			srv.setAnswer(tc.answer)
			_, _, _, err := a.LookupLicense(context.Background(), sampleLookup(rec.LicenseID))
			e := asError(t, err)
			if e.Permanent() != tc.permanent {
				t.Errorf("permanent: got %v (%v)", e.Permanent(), e)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want it to wrap %v", err, tc.is)
			}
			if got := len(srv.seen()) - n; got != tc.tries {
				t.Errorf("library saw %d tries, want %d", got, tc.tries)
			}
			if strings.Contains(err.Error(), rec.Holder.IDNumber) || strings.Contains(err.Error(), "330702198506121270") {
				t.Errorf("error quotes an id number: %v", err)
			}
		})
	}
}

func TestNilMessages(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, "http://127.0.0.1:1/svc", "")
	ctx := context.Background()
	var errs []error
	_, _, _, err := a.DeliverCase(ctx, nil)
	errs = append(errs, err)
	_, _, _, err = a.DeliverStatus(ctx, nil)
	errs = append(errs, err)
	_, _, _, err = a.DeliverUsage(ctx, nil)
	errs = append(errs, err)
	_, _, _, err = a.LookupLicense(ctx, nil)
	errs = append(errs, err)
	_, _, _, err = a.LookupLicense(ctx, &contracts.LicenseLookupRequest{})
	errs = append(errs, err)
	for i, err := range errs {
		if e := asError(t, err); !e.Permanent() {
			t.Errorf("%d: not permanent: %v", i, err)
		}
	}
	// A value XML cannot carry is a permanent encoding error.
	d := sampleCase(time.UTC)
	d.Submission.Remark = "bell \a"
	if _, _, _, err := a.DeliverCase(ctx, d); err == nil || !asError(t, err).Permanent() || strings.Contains(err.Error(), "bell") {
		t.Errorf("remark with a control character: %v", err)
	}
	if _, _, err := a.EncodeReceipt(nil, &contracts.Receipt{}); err == nil {
		t.Error("EncodeReceipt without a call succeeded")
	}
	if _, err := a.DecodeCall(nil); err == nil {
		t.Error("DecodeCall(nil) succeeded")
	}
}

func TestExampleConfig(t *testing.T) {
	raw := ExampleConfig("https://zwfw.chiping.example.gov.cn/services/TongbanExchange")
	c, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != DefaultNamespace || *c.SOAPActionPrefix != DefaultNamespace+"/" || *c.MaxRetries != adapters.DefaultMaxRetries {
		t.Errorf("example config: %+v", c)
	}
	if !json.Valid(raw) {
		t.Errorf("not JSON: %s", raw)
	}
	gw, _ := newPair(t)
	if _, err := adapters.New(Name, adapters.Params{PartnerID: partnerID, Config: raw, Crypto: gw}); err != nil {
		t.Error(err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, raw, wantErr string
	}{
		{"minimal", `{"endpoint": "https://x.example/ws/"}`, ""},
		{"all fields", `{"endpoint": "http://x.example/ws", "namespace": "http://zwfw.sd.gov.cn/ws", "soap_action_prefix": "http://zwfw.sd.gov.cn/ws#", "max_retries": 0}`, ""},
		{"empty prefix", `{"endpoint": "http://x.example/ws", "soap_action_prefix": ""}`, ""},
		{"empty block", ``, "empty"},
		{"unknown field", `{"endpoint": "http://x.example/ws", "wsdl": "x"}`, "unknown field"},
		{"trailing data", `{"endpoint": "http://x.example/ws"} {}`, "trailing"},
		{"no endpoint", `{}`, "endpoint"},
		{"relative endpoint", `{"endpoint": "/ws"}`, "endpoint"},
		{"endpoint with query", `{"endpoint": "http://x.example/ws?wsdl"}`, "endpoint"},
		{"ftp endpoint", `{"endpoint": "ftp://x.example/ws"}`, "endpoint"},
		{"relative namespace", `{"endpoint": "http://x.example/ws", "namespace": "exchange"}`, "namespace"},
		{"namespace with space", `{"endpoint": "http://x.example/ws", "namespace": "urn:a b"}`, "namespace"},
		{"namespace with quote", `{"endpoint": "http://x.example/ws", "namespace": "urn:a\"b"}`, "namespace"},
		{"soap namespace", `{"endpoint": "http://x.example/ws", "namespace": "http://schemas.xmlsoap.org/soap/envelope/"}`, "namespace"},
		{"long namespace", `{"endpoint": "http://x.example/ws", "namespace": "urn:` + strings.Repeat("a", 260) + `"}`, "namespace"},
		{"non-ascii namespace", `{"endpoint": "http://x.example/ws", "namespace": "urn:通办"}`, "namespace"},
		{"prefix with space", `{"endpoint": "http://x.example/ws", "soap_action_prefix": "urn:a b/"}`, "soap_action_prefix"},
		{"prefix with quote", `{"endpoint": "http://x.example/ws", "soap_action_prefix": "\"urn:a/"}`, "soap_action_prefix"},
		{"negative retries", `{"endpoint": "http://x.example/ws", "max_retries": -1}`, "max_retries"},
		{"too many retries", `{"endpoint": "http://x.example/ws", "max_retries": 11}`, "max_retries"},
		{"retries not a number", `{"endpoint": "http://x.example/ws", "max_retries": "2"}`, "max_retries"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(json.RawMessage(tc.raw))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Namespace == "" || c.SOAPActionPrefix == nil || c.MaxRetries == nil || strings.HasSuffix(c.Endpoint, "/") {
					t.Errorf("defaults not applied: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
	c, _ := ParseConfig(json.RawMessage(`{"endpoint": "http://x.example/ws"}`))
	if got := c.Action(OpDeliverCase); got != "urn:tongban:exchange:v1/DeliverCase" {
		t.Errorf("default action: got %s", got)
	}
}

// TestSignatureHeaders: the gateway signs the exact envelope it sends.
func TestSignatureHeaders(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	a := newAdapter(t, gw, srv.endpoint(), "")
	if _, _, _, err := a.DeliverUsage(context.Background(), sampleUsage()); err != nil {
		t.Fatal(err)
	}
	s := srv.seen()[0]
	sig, err := base64.StdEncoding.DecodeString(s.header.Get(adapters.HeaderSignature))
	if err != nil || s.header.Get(adapters.HeaderKeyID) != gw.KeyID() {
		t.Fatalf("signature headers: %v %v", s.header, err)
	}
	if err := partner.VerifyBody(gatewayCaller, gw.KeyID(), s.body, sig); err != nil {
		t.Errorf("signature over the exact envelope: %v", err)
	}
}
