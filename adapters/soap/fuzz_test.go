package soap

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// idLike matches what could be a citizen id or a credit code.
var idLike = regexp.MustCompile(`[0-9A-Z]{15,}`)

// checkQuotesNothing fails when msg quotes an id-number-like run that
// occurs in one of the inputs.
func checkQuotesNothing(t *testing.T, msg string, inputs ...[]byte) {
	t.Helper()
	for _, m := range idLike.FindAllString(msg, -1) {
		for _, in := range inputs {
			if bytes.Contains(in, []byte(m)) {
				t.Fatalf("error %q quotes %q from the input", msg, m)
			}
		}
	}
}

// checkFieldError fails unless err is a *contracts.FieldError with a
// published code, or a plain error, quoting nothing from the inputs.
func checkFieldError(t *testing.T, err error, inputs ...[]byte) {
	t.Helper()
	var fe *contracts.FieldError
	if errors.As(err, &fe) && !slices.ContainsFunc(contracts.Codes, func(c contracts.CodeInfo) bool { return c.Code == fe.Code }) {
		t.Fatalf("field error %v has an unpublished code %q", fe, fe.Code)
	}
	checkQuotesNothing(t, err.Error(), inputs...)
}

// checkAdapterError fails unless err is an *adapters.Error that is
// permanent and wraps ErrMalformedAck or ErrAckMismatch, or comes from a
// fault, quoting nothing from raw.
func checkAdapterError(t *testing.T, err error, raw []byte) {
	t.Helper()
	var e *adapters.Error
	if !errors.As(err, &e) {
		t.Fatalf("failure %v is not an *adapters.Error", err)
	}
	fault := strings.HasPrefix(e.Reason, "partner answered SOAP fault")
	if !fault {
		if !e.Permanent() {
			t.Fatalf("failure %v is not permanent", err)
		}
		if !errors.Is(err, adapters.ErrMalformedAck) && !errors.Is(err, adapters.ErrAckMismatch) {
			t.Fatalf("failure %v wraps neither ErrMalformedAck nor ErrAckMismatch", err)
		}
	}
	checkQuotesNothing(t, e.Error(), raw)
}

// seedEnvelopes adds envelopes every parser should see: the golden ones,
// faults and broken variants.
func seedEnvelopes(f *testing.F, extra ...[]byte) {
	for _, name := range []string{"deliver_case", "deliver_status", "deliver_usage", "lookup_license", "receipt", "fault", "report_status",
		"deliver_notice", "deliver_case_bundle", "submit_evaluation", "reply_to_evaluation", "submit_bundle", "receipt_bundle"} {
		b, err := readTestdata(name + ".golden.xml")
		if err == nil {
			f.Add(b)
			f.Add(b[:len(b)/2])
		}
	}
	for _, b := range extra {
		f.Add(b)
	}
	f.Add([]byte(``))
	f.Add([]byte(`<a/>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY e "330702198506121277">]><x>&e;</x>`))
	f.Add([]byte(`<soap:Envelope xmlns:soap="` + EnvelopeNamespace + `"><soap:Body><A11010519491231002X xmlns="urn:tongban:exchange:v1"/></soap:Body></soap:Envelope>`))
	f.Add([]byte(`<soap:Envelope xmlns:soap="` + EnvelopeNamespace + `"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>330702198506121277</faultstring></soap:Fault></soap:Body></soap:Envelope>`))
	f.Add([]byte("\xff\xfe<"))
}

// FuzzDecodeCall feeds arbitrary calls to the translator. It must never
// panic; a failure is a field error with a published code or a plain
// error, quoting nothing from the call; a success carries exactly the
// message of its kind, and re-encoding it with the partner side decodes
// to the same value.
func FuzzDecodeCall(f *testing.F) {
	side := fuzzSide(f)
	sub := sampleCase(time.UTC).Submission
	pc, _ := side.Call(&contracts.InboundCall{Kind: contracts.InboundCase, Submission: &sub})
	seedEnvelopes(f, pc.Body)
	p := side.proto
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, action := range []string{"", p.action(OpReportStatus)} {
			in, err := p.decodeCall(&contracts.NativeCall{MediaType: "text/xml", Action: action, Body: body})
			if err != nil {
				checkFieldError(t, err, body)
				continue
			}
			carried := 0
			for _, set := range []bool{in.Submission != nil, in.Update != nil, in.Evaluation != nil, in.Reply != nil, in.Bundle != nil} {
				if set {
					carried++
				}
			}
			switch {
			case carried != 1:
				t.Fatalf("decoded a call carrying %d messages: %+v", carried, in)
			case in.Kind == contracts.InboundCase && in.Submission != nil && in.Operation == OpSubmitCase:
			case in.Kind == contracts.InboundStatus && in.Update != nil && in.Operation == OpReportStatus:
			case in.Kind == contracts.InboundEvaluation && in.Evaluation != nil && in.Operation == OpSubmitEvaluation:
			case in.Kind == contracts.InboundReply && in.Reply != nil && in.Operation == OpReplyToEvaluation:
			case in.Kind == contracts.InboundBundle && in.Bundle != nil && in.Operation == OpSubmitBundle:
			default:
				t.Fatalf("decoded an inconsistent call %+v", in)
			}
			again, err := side.Call(in)
			if err != nil {
				t.Fatalf("decoded call does not re-encode: %v", err)
			}
			back, err := p.decodeCall(&contracts.NativeCall{MediaType: "text/xml", Body: again.Body})
			if err != nil {
				t.Fatalf("re-encoded call does not decode: %v\n%s", err, again.Body)
			}
			checkEqual(t, "submission", back.Submission, in.Submission)
			checkEqual(t, "update", back.Update, in.Update)
			checkEqual(t, "evaluation", back.Evaluation, in.Evaluation)
			checkEqual(t, "reply", back.Reply, in.Reply)
			checkEqual(t, "bundle", back.Bundle, in.Bundle)
		}
	})
}

// FuzzReadRequest feeds arbitrary calls to the partner side.
func FuzzReadRequest(f *testing.F) {
	side := fuzzSide(f)
	seedEnvelopes(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := side.ReadRequest("", "text/xml", "", body)
		if err != nil {
			checkFieldError(t, err, body)
			return
		}
		if m.Kind() == "" {
			t.Fatalf("decoded no message")
		}
	})
}

// FuzzReadReceipt feeds arbitrary answers to the partner side's receipt
// reader.
func FuzzReadReceipt(f *testing.F) {
	side := fuzzSide(f)
	seedEnvelopes(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := side.ReadReceipt("text/xml", body); err != nil {
			checkFieldError(t, err, body)
		}
	})
}

// FuzzAcceptAck feeds arbitrary signed answers to the acknowledgement
// path. It must never panic, must classify every failure, and must accept
// only acknowledgements of the delivery it expects.
func FuzzAcceptAck(f *testing.F) {
	side := fuzzSide(f)
	p := side.proto
	want := adapters.AckExpectation{
		ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", DeliveryID: "dlv-0001",
		BodySM3: strings.Repeat("0a", 32), KeyID: partnerID, Case: true,
	}
	m := &adapters.Message{Case: sampleCase(time.UTC)}
	good, _, _ := side.WriteAck(m, &contracts.Ack{ExchangeID: want.ExchangeID, DeliveryID: want.DeliveryID,
		PartnerCaseNo: "371523-2026-000001", AcknowledgedAt: fixedNow, BodySM3: want.BodySM3, KeyID: partnerID})
	other, _, _ := side.WriteAck(m, &contracts.Ack{ExchangeID: want.ExchangeID, DeliveryID: "11010519491231002X",
		PartnerCaseNo: "371523-2026-000001", AcknowledgedAt: fixedNow, BodySM3: strings.Repeat("0", 64), KeyID: "330702198506121277"})
	fault, _, _ := side.WriteError(m, 503, contracts.CodeUnavailable, "busy 330702198506121277")
	seedEnvelopes(f, good, other, fault)
	h := http.Header{"Retry-After": {"3"}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ack, err := p.acceptAck(OpDeliverCase, raw, http.StatusOK, h, fixedNow, want)
		if err != nil {
			checkAdapterError(t, err, raw)
			return
		}
		if ack.ExchangeID != want.ExchangeID || ack.BodySM3 != want.BodySM3 || ack.KeyID != want.KeyID ||
			ack.PartnerCaseNo == "" || ack.AcknowledgedAt.IsZero() || ack.DeliveryID != "" && ack.DeliveryID != want.DeliveryID {
			t.Fatalf("accepted an acknowledgement of something else: %+v", ack)
		}
	})
}

// FuzzAcceptLookup feeds arbitrary signed answers to the lookup path.
func FuzzAcceptLookup(f *testing.F) {
	side := fuzzSide(f)
	p := side.proto
	rec := sampleLicense(f)
	q := sampleLookup(rec.LicenseID)
	m := &adapters.Message{Lookup: q}
	found, _, _ := side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID, Found: true, License: &rec})
	notFound, _, _ := side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID})
	seedEnvelopes(f, found, notFound, bytes.Replace(found, []byte("2043-02-24"), []byte("330702198506121277"), 1))
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp, err := p.acceptLookup(q, raw, http.StatusOK, http.Header{}, fixedNow)
		if err != nil {
			checkAdapterError(t, err, raw)
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

// FuzzFaultHook feeds arbitrary non-2xx answers to the fault classifier:
// it returns nil (shared rules apply) or a classified error carrying the
// status, quoting no id from the answer.
func FuzzFaultHook(f *testing.F) {
	side := fuzzSide(f)
	a := &Adapter{proto: side.proto, now: func() time.Time { return fixedNow }}
	fault, _, _ := side.WriteError(nil, 400, contracts.CodeValidationFailed, "applicant.id_number 11010519491231002X")
	seedEnvelopes(f, fault)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, status := range []int{400, 500, 503} {
			e := a.faultHook(status, http.Header{"Retry-After": {"120"}}, body)
			if e == nil {
				continue
			}
			if e.Status != status || e.IsPermanent && e.After != 0 || e.After < 0 || e.After > adapters.MaxRetryAfter {
				t.Fatalf("fault classified as %+v", e)
			}
			checkQuotesNothing(t, e.Error(), body)
		}
	})
}

// FuzzDecode feeds arbitrary envelopes to the generic decoder with the
// richest contract type. Whatever decodes re-encodes, and decodes again to
// the same value.
func FuzzDecode(f *testing.F) {
	p := fuzzSide(f).proto
	seedEnvelopes(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := parseEnvelope(raw)
		if err != nil {
			checkFieldError(t, err, raw)
			return
		}
		var d contracts.CaseDelivery
		if err := p.decode("M", env.body, &d); err != nil {
			checkFieldError(t, err, raw)
			return
		}
		again, err := p.marshal(OpDeliverCase, &d)
		if err != nil {
			t.Fatalf("decoded value does not re-encode: %v", err)
		}
		env2, err := parseEnvelope(again)
		if err != nil {
			t.Fatal(err)
		}
		var back contracts.CaseDelivery
		if err := p.decode("M", env2.body, &back); err != nil {
			t.Fatalf("re-encoded value does not decode: %v\n%s", err, again)
		}
		normalize(reflect.ValueOf(&back))
		normalize(reflect.ValueOf(&d))
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("round trip changed the value:\n got %+v\nwant %+v", back, d)
		}
	})
}

// readTestdata returns the file testdata/name.
func readTestdata(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", name))
}

// fuzzSide is the partner side of the default config.
func fuzzSide(f *testing.F) *PartnerSide {
	s, err := NewPartnerSide(partnerID, ExampleConfig("http://127.0.0.1:1/svc"))
	if err != nil {
		f.Fatal(err)
	}
	return s
}
