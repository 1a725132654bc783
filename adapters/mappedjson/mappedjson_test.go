package mappedjson_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

func TestRegistered(t *testing.T) {
	for _, s := range adapters.Styles() {
		if s.Name != mappedjson.Name {
			continue
		}
		want := []adapters.Capability{adapters.CapCaseDelivery, adapters.CapStatusDelivery, adapters.CapInbound,
			adapters.CapLicenseLookup, adapters.CapUsageRecords}
		for _, c := range want {
			if !slices.Contains(s.Capabilities, c) {
				t.Errorf("style declares %v, want it to contain %s", s.Capabilities, c)
			}
		}
		return
	}
	t.Fatalf("Names() = %v, want it to contain %q", adapters.Names(), mappedjson.Name)
}

func TestDeliverCaseRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	c := sampleCase(sm3Of(gw))

	ack, raw, sig, err := a.DeliverCase(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	msgs := d.messages()
	if len(msgs) != 1 || msgs[0].Case == nil {
		t.Fatalf("district read %+v, want one case", msgs)
	}
	same(t, "case delivery", msgs[0].Case, c)
	reqs := d.requests()
	want := contracts.Ack{ExchangeID: c.ExchangeID, DeliveryID: c.DeliveryID, PartnerCaseNo: "WC-2026-000042",
		AcknowledgedAt: fixedNow, BodySM3: gw.SM3Hex(reqs[0].body), KeyID: partnerID}
	same(t, "ack", ack, &want)
	if err := signing.Verify(partner.Key.Public(), raw, sig); err != nil {
		t.Errorf("returned signature does not verify over raw with the partner's key: %v", err)
	}
	if !strings.Contains(string(raw), `"bjbh":"WC-2026-000042"`) {
		t.Errorf("raw %s is not the district's answer", raw)
	}
	if got := reqs[0].path; got != "/api/tongban/bjjs" {
		t.Errorf("path %q, want /api/tongban/bjjs", got)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Gw-Key-Id": gw.KeyID()} {
		if got := reqs[0].header.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
	// The district's JSON speaks its own names, never the contract's.
	for _, contractName := range []string{`"exchange_id"`, `"submission"`, `"id_number"`, `"2026-03-14T`} {
		if strings.Contains(string(reqs[0].body), contractName) {
			t.Errorf("request body carries %s: %s", contractName, reqs[0].body)
		}
	}
}

func TestDeliverCaseMinimal(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	c := sampleCase(sm3Of(gw))
	s := &c.Submission
	s.ResubmitsCaseID, s.Agent, s.LocalCaseNo, s.Materials, s.LicenseIDs, s.Remark = "", nil, "", nil, nil, ""
	s.ServiceItem.Department, s.Applicant.Phone, s.Window.Name = "", "", ""
	s.ResultDelivery = contracts.ResultDelivery{Method: contracts.ResultDeliveryMethodWindowPickup}
	s.Form = json.RawMessage(`{}`)
	if _, _, _, err := a.DeliverCase(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	msgs := d.messages()
	same(t, "minimal case delivery", msgs[0].Case, c)
	body := string(d.requests()[0].body)
	for _, absent := range []string{`"dlr"`, `"clxx"`, `"mtjzz"`, `"sjbh"`, `"ybjid"`, `"bz"`, `"sszt"`} {
		if strings.Contains(body, absent) {
			t.Errorf("body carries %s for an absent field: %s", absent, body)
		}
	}
}

func TestDeliverStatusRoundTripEveryState(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	for i, u := range sampleUpdates("case-01959245f1f97a3c", sm3Of(gw)) {
		sd := sampleStatus(i, u)
		ack, _, _, err := a.DeliverStatus(context.Background(), sd)
		if err != nil {
			t.Fatalf("%s: %v", u.State, err)
		}
		if ack.ExchangeID != sd.ExchangeID || ack.DeliveryID != sd.DeliveryID || ack.KeyID != partnerID || ack.PartnerCaseNo != "" {
			t.Errorf("%s: ack %+v", u.State, ack)
		}
		msgs := d.messages()
		if len(msgs) != i+1 || msgs[i].Status == nil {
			t.Fatalf("%s: district read %d messages", u.State, len(msgs))
		}
		same(t, "status delivery "+string(u.State), msgs[i].Status, sd)
	}
	// Times with a fraction of a second keep it (time:datetimefrac).
	u := sampleUpdates("case-01959245f1f97a3c", sm3Of(gw))[10]
	u.ReportedAt, u.DeliveredAt = u.ReportedAt.Add(428037751), u.DeliveredAt.Add(5e8)
	sd := sampleStatus(99, u)
	sd.SentAt = sd.SentAt.Add(123e6)
	if _, _, _, err := a.DeliverStatus(context.Background(), sd); err != nil {
		t.Fatal(err)
	}
	msgs := d.messages()
	same(t, "status delivery with fractions of a second", msgs[len(msgs)-1].Status, sd)
	if body := string(d.requests()[len(msgs)-1].body); !strings.Contains(body, `"bgsj":"2026-03-14 19:30:00.428037751"`) {
		t.Errorf("body %s does not carry the fraction", body)
	}
}

func TestDeliverUsageRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	refused := sampleUsage()
	refused.ExchangeID = "01959251-0000-7000-8000-000000000004"
	refused.Record.Outcome, refused.Record.ErrorCode, refused.Record.SourceRegion, refused.Record.Cached =
		"", contracts.CodeInvalidLicenseID, "", false
	for i, u := range []*contracts.UsageRecordDelivery{sampleUsage(), refused} {
		ack, _, _, err := a.DeliverUsage(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if ack.ExchangeID != u.ExchangeID || ack.DeliveryID != u.DeliveryID {
			t.Errorf("ack %+v", ack)
		}
		same(t, "usage delivery", d.messages()[i].Usage, u)
	}
	if body := string(d.requests()[1].body); !strings.Contains(body, `"cwdm":"4006"`) || !strings.Contains(body, `"sfhc":"0"`) {
		t.Errorf("refused record: body %s, want cwdm 4006 and sfhc 0", body)
	}
}

func TestLookupRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	rec := sampleLicense()
	if err := rec.Validate(); err != nil {
		t.Fatal(err)
	}
	d.library[rec.LicenseID] = rec
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))

	q := sampleLookup()
	resp, raw, sig, err := a.LookupLicense(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "lookup request", d.messages()[0].Lookup, q)
	same(t, "lookup answer", resp, &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID, Found: true, License: &rec})
	if err := signing.Verify(partner.Key.Public(), raw, sig); err != nil {
		t.Errorf("returned signature does not verify: %v", err)
	}

	byHolder := &contracts.LicenseLookupRequest{ExchangeID: "01959250-aaaa-7bbb-8ccc-000000000002",
		Holder: &contracts.Holder{HolderType: "111", IDNumber: rec.Holder.IDNumber}, LicenseTypeCode: rec.TypeCode,
		LicenseNumber: rec.Number, RequesterRegion: "320404", Purpose: "核验"}
	resp, _, _, err = a.LookupLicense(context.Background(), byHolder)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "lookup by holder", d.messages()[1].Lookup, byHolder)
	if !resp.Found || resp.License.Number != rec.Number {
		t.Errorf("lookup by holder: %+v", resp)
	}

	unknown := sampleLookup()
	unknown.ExchangeID, unknown.LicenseID = "01959250-aaaa-7bbb-8ccc-000000000003",
		"1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B"
	resp, raw, _, err = a.LookupLicense(context.Background(), unknown)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "not found", resp, &contracts.LicenseLookupResponse{ExchangeID: unknown.ExchangeID})
	if !strings.Contains(string(raw), `"sfcz":"0"`) || strings.Contains(string(raw), `"zz"`) {
		t.Errorf("not-found answer %s", raw)
	}
}

func TestInboundRoundTrip(t *testing.T) {
	gw, _ := newPair(t)
	cfg := mappedjson.ExampleConfig("http://unused.example")
	side, err := mappedjson.NewPartnerSide(partnerID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := newAdapter(t, gw, cfg)

	sub := sampleSubmission(sm3Of(gw))
	calls := []*contracts.InboundCall{{Kind: contracts.InboundCase, Submission: &sub}}
	for _, u := range sampleUpdates("case-01959245f1f97a3c", sm3Of(gw)) {
		calls = append(calls, &contracts.InboundCall{Kind: contracts.InboundStatus, Update: &u})
	}
	for _, c := range calls {
		pc, err := side.Call(c)
		if err != nil {
			t.Fatal(err)
		}
		wantOp := map[contracts.InboundKind]string{contracts.InboundCase: "bjtj", contracts.InboundStatus: "ztbg"}[c.Kind]
		if pc.Path != "/v1/inbound/330702/"+wantOp || pc.MediaType != "application/json" || pc.Action != "" {
			t.Errorf("call %+v, want POST /v1/inbound/330702/%s", pc, wantOp)
		}
		got, err := a.DecodeCall(&contracts.NativeCall{Operation: wantOp, MediaType: pc.MediaType, Body: pc.Body})
		if err != nil {
			t.Fatalf("DecodeCall(%s): %v", pc.Body, err)
		}
		if got.Kind != c.Kind || got.Operation != wantOp {
			t.Errorf("kind %s operation %s, want %s %s", got.Kind, got.Operation, c.Kind, wantOp)
		}
		if c.Kind == contracts.InboundCase {
			same(t, "case submission", got.Submission, c.Submission)
			if err := got.Submission.Validate(); err != nil {
				t.Errorf("decoded submission does not validate: %v", err)
			}
		} else {
			same(t, "status update "+string(c.Update.State), got.Update, c.Update)
		}

		r := &contracts.Receipt{ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", CaseID: "case-01959245f1f97a3c",
			ReceivedAt: fixedNow, BodySM3: gw.SM3Hex(pc.Body), State: contracts.CaseStateReceived, EvidenceSeq: 4711}
		body, mt, err := a.EncodeReceipt(got, r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := side.ReadReceipt(mt, body)
		if err != nil {
			t.Fatalf("ReadReceipt(%s): %v", body, err)
		}
		same(t, "receipt", back, r)
	}
}

func TestEncodeError(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, mappedjson.ExampleConfig("http://unused.example"))
	for _, tc := range []struct {
		code   contracts.Code
		status int
		want   string
	}{
		{contracts.CodeValidationFailed, 400, `{"code":"4002","msg":"applicant.name is required","lsh":"req-1"}`},
		{contracts.CodeRateLimited, 429, `{"code":"4290","msg":"slow down","lsh":"req-1"}`},
		{contracts.Code("brand_new"), 500, `{"code":"9999","msg":"x","lsh":"req-1"}`},
	} {
		msg := map[contracts.Code]string{contracts.CodeValidationFailed: "applicant.name is required", contracts.CodeRateLimited: "slow down"}[tc.code]
		if msg == "" {
			msg = "x"
		}
		body, mt, status := a.EncodeError(nil, &contracts.Error{Code: tc.code, Message: msg, RequestID: "req-1"}, tc.status)
		if string(body) != tc.want || mt != "application/json" || status != tc.status {
			t.Errorf("EncodeError(%s) = %s %s %d, want %s application/json %d", tc.code, body, mt, status, tc.want, tc.status)
		}
	}
}

func TestDecodeCallRefusals(t *testing.T) {
	gw, _ := newPair(t)
	a := newAdapter(t, gw, mappedjson.ExampleConfig("http://unused.example"))
	good := func() map[string]any {
		return map[string]any{"jhid": "01959246-0000-7000-8000-000000000001", "wgbjid": "case-1", "bjzt": "02", "bgsj": "2026-03-14 09:30:00"}
	}
	idNumber := "330702198506121277"
	for _, tc := range []struct {
		name      string
		op, media string
		body      func() []byte
		code      contracts.Code
		field     string
	}{
		{"media type", "ztbg", "text/xml", func() []byte { return nil }, contracts.CodeUnsupportedMedia, ""},
		{"unknown operation", "nope", "application/json", func() []byte { return []byte(`{}`) }, contracts.CodeNotFound, ""},
		{"no operation", "", "application/json", func() []byte { return []byte(`{}`) }, contracts.CodeNotFound, ""},
		{"not JSON", "ztbg", "application/json", func() []byte { return []byte(`{"jhid":`) }, contracts.CodeInvalidJSON, ""},
		{"array", "ztbg", "application/json", func() []byte { return []byte(`[1]`) }, contracts.CodeInvalidJSON, ""},
		{"unknown field", "ztbg", "application/json", func() []byte {
			m := good()
			m[idNumber] = "1"
			b, _ := json.Marshal(m)
			return b
		}, contracts.CodeInvalidJSON, ""},
		{"unknown state", "ztbg", "application/json", func() []byte {
			m := good()
			m["bjzt"] = idNumber
			b, _ := json.Marshal(m)
			return b
		}, contracts.CodeValidationFailed, "bjzt"},
		{"bad time", "ztbg", "application/json", func() []byte {
			m := good()
			m["bgsj"] = idNumber
			b, _ := json.Marshal(m)
			return b
		}, contracts.CodeValidationFailed, "bgsj"},
		{"wrong type", "ztbg", "application/json", func() []byte {
			m := good()
			m["wgbjid"] = 330702198506121277
			b, _ := json.Marshal(m)
			return b
		}, contracts.CodeInvalidJSON, "wgbjid"},
		{"wrong constant", "ztbg", "application/json", func() []byte {
			m := good()
			m["bbh"] = "2.0"
			b, _ := json.Marshal(m)
			return b
		}, contracts.CodeValidationFailed, "bbh"},
		{"nested wrong", "ztbg", "application/json", func() []byte {
			m := good()
			m["jgwj"] = []any{map[string]any{"wjdx": "12x"}}
			b, _ := json.Marshal(m)
			return b
		}, contracts.CodeValidationFailed, "jgwj[0].wjdx"},
		{"nested unknown", "ztbg", "application/json", func() []byte {
			m := good()
			m["jdxx"] = map[string]any{"zz": idNumber}
			b, _ := json.Marshal(m)
			return b
		}, contracts.CodeInvalidJSON, "jdxx"},
		{"duplicate key", "ztbg", "application/json", func() []byte {
			return []byte(`{"jhid":"01959246-0000-7000-8000-000000000001","jhid":"01959246-0000-7000-8000-000000000002"}`)
		}, contracts.CodeInvalidJSON, ""},
		{"bad form", "bjtj", "application/json", func() []byte {
			return []byte(`{"sqb":"{` + idNumber + `"}`)
		}, contracts.CodeValidationFailed, "sqb"},
		{"too deep", "bjtj", "application/json", func() []byte {
			return []byte(`{"sx":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`)
		}, contracts.CodeInvalidJSON, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.DecodeCall(&contracts.NativeCall{Operation: tc.op, MediaType: tc.media, Body: tc.body()})
			fe, ok := err.(*contracts.FieldError)
			if !ok {
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
}

func TestPartnerSideWriteError(t *testing.T) {
	side, err := mappedjson.NewPartnerSide(partnerID, mappedjson.ExampleConfig("http://unused.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		code   contracts.Code
		want   string
	}{
		{503, contracts.CodeUnavailable, `{"code":"5030","msg":"m"}`},
		{429, contracts.CodeRateLimited, `{"code":"4290","msg":"m"}`},
		{500, contracts.CodeValidationFailed, `{"code":"4290","msg":"m"}`}, // a retryable code for a 5xx
		{400, contracts.CodeInvalidJSON, `{"code":"4001","msg":"m"}`},
		{400, contracts.CodeUnavailable, `{"code":"9999","msg":"m"}`}, // a permanent code for a 4xx
		{401, contracts.CodeBadSignature, `{"code":"4012","msg":"m"}`},
	} {
		body, mt, status := side.WriteError(nil, tc.status, tc.code, "m")
		if string(body) != tc.want || mt != "application/json" || status != tc.status {
			t.Errorf("WriteError(%d, %s) = %s %s %d, want %s application/json %d", tc.status, tc.code, body, mt, status, tc.want, tc.status)
		}
	}
}

func TestPartnerSideRefusals(t *testing.T) {
	side, err := mappedjson.NewPartnerSide(partnerID, mappedjson.ExampleConfig("http://unused.example"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := side.ReadRequest("/api/tongban/bjjs", "text/xml", "", []byte(`{}`)); err == nil {
		t.Error("ReadRequest accepted text/xml")
	}
	if _, err := side.ReadRequest("/cases", "application/json", "", []byte(`{}`)); err == nil {
		t.Error("ReadRequest accepted an unknown path")
	}
	if _, err := side.ReadRequest("/api/tongban/bjjs", "application/json", "", []byte(`{"x":1}`)); err == nil {
		t.Error("ReadRequest accepted an unknown field")
	}
	if _, _, err := side.WriteAck(&adapters.Message{Lookup: sampleLookup()}, &contracts.Ack{}); err == nil {
		t.Error("WriteAck answered a lookup")
	}
	if _, _, err := side.WriteLookupAnswer(&adapters.Message{Usage: sampleUsage()}, &contracts.LicenseLookupResponse{}); err == nil {
		t.Error("WriteLookupAnswer answered a usage delivery")
	}
	if _, err := side.Call(&contracts.InboundCall{Kind: contracts.InboundStatus}); err == nil {
		t.Error("Call rendered a call without an update")
	}
	if _, err := side.ReadReceipt("application/json", []byte(`{"code":"4002","msg":"no"}`)); err == nil {
		t.Error("ReadReceipt accepted a refusal")
	}
	if _, err := mappedjson.NewPartnerSide("", mappedjson.ExampleConfig("http://unused.example")); err == nil {
		t.Error("NewPartnerSide accepted an empty partner id")
	}
}

func TestUnconfiguredOperations(t *testing.T) {
	gw, _ := newPair(t)
	cfg := exampleWith(t, "http://unused.example", func(c map[string]any) {
		delete(c, "license_lookup")
		delete(c, "inbound")
	})
	a := newAdapter(t, gw, cfg)
	_, _, _, err := a.LookupLicense(context.Background(), sampleLookup())
	if e := asError(t, err); !e.Permanent() {
		t.Errorf("lookup without license_lookup: %v, want permanent", err)
	}
	if _, err := a.DecodeCall(&contracts.NativeCall{Operation: "ztbg", MediaType: "application/json", Body: []byte(`{}`)}); err == nil {
		t.Error("DecodeCall without inbound succeeded")
	}
	if _, _, err := a.EncodeReceipt(nil, &contracts.Receipt{}); err == nil {
		t.Error("EncodeReceipt without inbound succeeded")
	}
}

// TestConcurrentUse: one adapter and one partner side serve many
// goroutines at once, as the dispatcher's workers use them (run with
// -race).
func TestConcurrentUse(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	rec := sampleLicense()
	d.library[rec.LicenseID] = rec
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	side, err := mappedjson.NewPartnerSide(partnerID, mappedjson.ExampleConfig(d.URL))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if _, _, _, err := a.DeliverCase(ctx, sampleCase(sm3Of(gw))); err != nil {
				t.Error(err)
			}
			u := sampleUpdates("case-01959245f1f97a3c", sm3Of(gw))[6]
			if _, _, _, err := a.DeliverStatus(ctx, sampleStatus(i, u)); err != nil {
				t.Error(err)
			}
			if _, _, _, err := a.LookupLicense(ctx, sampleLookup()); err != nil {
				t.Error(err)
			}
			pc, err := side.Call(&contracts.InboundCall{Kind: contracts.InboundStatus, Update: &u})
			if err != nil {
				t.Error(err)
				return
			}
			got, err := a.DecodeCall(&contracts.NativeCall{Operation: "ztbg", MediaType: pc.MediaType, Body: pc.Body})
			if err != nil {
				t.Error(err)
				return
			}
			same(t, "status update", got.Update, &u)
		}()
	}
	wg.Wait()
}
