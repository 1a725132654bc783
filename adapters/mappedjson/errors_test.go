package mappedjson_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/contracts"
)

func TestDeliveryErrors(t *testing.T) {
	gw, partner := newPair(t)
	rogue := newTestCrypto(t, partnerID) // another key under the partner's key id
	const idNumber = "330702198506121277"

	// signedRaw answers with raw signed by signer (nil: unsigned).
	signedRaw := func(d *district, status int, raw []byte, signer adapters.Crypto) func(http.ResponseWriter, *adapters.Message, []byte) bool {
		return func(w http.ResponseWriter, _ *adapters.Message, _ []byte) bool {
			w.Header().Set("Content-Type", "application/json")
			if signer != nil {
				sig, _ := signer.Sign(raw)
				w.Header().Set(adapters.HeaderSignature, b64(sig))
				w.Header().Set(adapters.HeaderKeyID, signer.KeyID())
			}
			w.WriteHeader(status)
			_, _ = w.Write(raw)
			return true
		}
	}
	// ackWith answers with the district's own ack after change.
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
		after     time.Duration
		status    int
		is        error
		reason    string
	}{
		{name: "503", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return func(w http.ResponseWriter, m *adapters.Message, _ []byte) bool {
				d.writeError(w, m, http.StatusServiceUnavailable, contracts.CodeUnavailable, "维护中")
				return true
			}
		}, status: 503},
		{name: "429 with Retry-After", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return func(w http.ResponseWriter, m *adapters.Message, _ []byte) bool {
				w.Header().Set("Retry-After", "7")
				d.writeError(w, m, http.StatusTooManyRequests, contracts.CodeRateLimited, "请求过多")
				return true
			}
		}, after: 7 * time.Second, status: 429},
		{name: "400", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return func(w http.ResponseWriter, m *adapters.Message, _ []byte) bool {
				d.writeError(w, m, http.StatusBadRequest, contracts.CodeValidationFailed, "字段缺失")
				return true
			}
		}, permanent: true, status: 400},
		{name: "envelope retryable code", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"code":"5030","msg":"系统繁忙，证件号`+idNumber+`稍后再试"}`), partner)
		}, status: 200, reason: "partner answered result code 5030: 系统繁忙，证件号***稍后再试"},
		{name: "envelope retryable numeric code with Retry-After", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return func(w http.ResponseWriter, m *adapters.Message, b []byte) bool {
				w.Header().Set("Retry-After", "30")
				return signedRaw(d, 200, []byte(`{"code":5000,"msg":"内部错误"}`), partner)(w, m, b)
			}
		}, status: 200, after: 30 * time.Second, reason: "partner answered result code 5000: 内部错误"},
		{name: "envelope permanent code", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"code":"4002","msg":"`+strings.Repeat("很长的错误信息", 30)+`"}`), partner)
		}, permanent: true, status: 200},
		{name: "unsigned answer", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"code":"0"}`), nil)
		}, permanent: true, status: 200, is: adapters.ErrBadSignature},
		{name: "bad signature", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"code":"0"}`), rogue)
		}, permanent: true, status: 200, is: adapters.ErrBadSignature},
		{name: "malformed JSON", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"code":"0","data":{`), partner)
		}, permanent: true, status: 200, is: adapters.ErrMalformedAck},
		{name: "no result code", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"msg":"成功","data":{}}`), partner)
		}, permanent: true, status: 200, is: adapters.ErrMalformedAck},
		{name: "success without data", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"code":"0","msg":"成功"}`), partner)
		}, permanent: true, status: 200, is: adapters.ErrMalformedAck},
		{name: "unknown field in data", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"code":"0","data":{"`+idNumber+`":"x"}}`), partner)
		}, permanent: true, status: 200, is: adapters.ErrMalformedAck},
		{name: "unknown field beside the envelope", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"code":"0","data":{},"extra":1}`), partner)
		}, permanent: true, status: 200, is: adapters.ErrMalformedAck},
		{name: "ack for another exchange", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return ackWith(d, func(a *contracts.Ack) { a.ExchangeID = "01959245-f1f9-7a3c-8d2e-000000000000" })
		}, permanent: true, status: 200, is: adapters.ErrAckMismatch},
		{name: "ack for another delivery", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return ackWith(d, func(a *contracts.Ack) { a.DeliveryID = idNumber })
		}, permanent: true, status: 200, is: adapters.ErrAckMismatch},
		{name: "ack of other bytes", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return ackWith(d, func(a *contracts.Ack) { a.BodySM3 = strings.Repeat("1", 64) })
		}, permanent: true, status: 200, is: adapters.ErrAckMismatch},
		{name: "ack without case number", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return ackWith(d, func(a *contracts.Ack) { a.PartnerCaseNo = "" })
		}, permanent: true, status: 200, is: adapters.ErrMalformedAck},
		{name: "ack with a bad time", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, []byte(`{"code":"0","data":{"jhid":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10","bjbh":"x","qssj":"`+idNumber+`"}}`), partner)
		}, permanent: true, status: 200, is: adapters.ErrMalformedAck,
			reason: "partner's acknowledgement is malformed: data.qssj: is not a time in layout 20060102150405"},
		{name: "oversize", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return signedRaw(d, 200, bytes.Repeat([]byte(" "), adapters.MaxAnswerSize+1), partner)
		}, permanent: true, status: 200, is: adapters.ErrMalformedAck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
			d.setAnswer(tc.answer(d))
			a := newAdapter(t, gw, exampleWith(t, d.URL, func(c map[string]any) { c["max_retries"] = 0 }))
			_, _, _, err := a.DeliverCase(context.Background(), sampleCase(sm3Of(gw)))
			e := asError(t, err)
			t.Log(e.ReasonText())
			if e.Permanent() != tc.permanent || e.RetryAfter() != tc.after || e.Status != tc.status {
				t.Errorf("got permanent %v after %v status %d (%v), want %v %v %d",
					e.Permanent(), e.RetryAfter(), e.Status, err, tc.permanent, tc.after, tc.status)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			got := e.Reason // with the partner's message, as operators see it
			if e.PartnerMessage != "" {
				got += ": " + e.PartnerMessage
				if strings.Contains(e.PublicReason(), e.PartnerMessage) {
					t.Errorf("public reason %q quotes the partner", e.PublicReason())
				}
			}
			if tc.reason != "" && got != tc.reason {
				t.Errorf("reason %q, want %q", got, tc.reason)
			}
			if len(e.Reason) > 300 {
				t.Errorf("reason is %d bytes long", len(e.Reason))
			}
			if strings.Contains(e.Error(), idNumber[:10]) {
				t.Errorf("error %q quotes an id number", e.Error())
			}
		})
	}
}

func TestLookupErrors(t *testing.T) {
	gw, partner := newPair(t)
	rec := sampleLicense()
	other := rec
	other.LicenseID = "1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B"
	for _, tc := range []struct {
		name      string
		answer    func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool
		permanent bool
		is        error
	}{
		{name: "library outage", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return func(w http.ResponseWriter, m *adapters.Message, _ []byte) bool {
				d.writeError(w, m, http.StatusServiceUnavailable, contracts.CodeUnavailable, "证照库维护")
				return true
			}
		}},
		{name: "another license", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return func(w http.ResponseWriter, m *adapters.Message, _ []byte) bool {
				raw, mt, _ := d.side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{ExchangeID: m.Lookup.ExchangeID, Found: true, License: &other})
				d.writeSigned(w, raw, mt, partner)
				return true
			}
		}, permanent: true, is: adapters.ErrAckMismatch},
		{name: "found without license", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return func(w http.ResponseWriter, m *adapters.Message, _ []byte) bool {
				raw, mt, _ := d.side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{ExchangeID: m.Lookup.ExchangeID, Found: true})
				d.writeSigned(w, raw, mt, partner)
				return true
			}
		}, permanent: true, is: adapters.ErrMalformedAck},
		{name: "invalid record", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return func(w http.ResponseWriter, m *adapters.Message, _ []byte) bool {
				bad := rec
				bad.Holder.IDNumber = "330702198506121278"
				raw, mt, _ := d.side.WriteLookupAnswer(m, &contracts.LicenseLookupResponse{ExchangeID: m.Lookup.ExchangeID, Found: true, License: &bad})
				d.writeSigned(w, raw, mt, partner)
				return true
			}
		}, permanent: true, is: adapters.ErrMalformedAck},
		{name: "unknown status code", answer: func(d *district) func(http.ResponseWriter, *adapters.Message, []byte) bool {
			return func(w http.ResponseWriter, m *adapters.Message, _ []byte) bool {
				raw := []byte(`{"code":"0","data":{"jhid":"` + m.Lookup.ExchangeID + `","sfcz":"1","zz":{"zzzt":"99"}}}`)
				d.writeSigned(w, raw, "application/json", partner)
				return true
			}
		}, permanent: true, is: adapters.ErrMalformedAck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
			d.setAnswer(tc.answer(d))
			a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
			_, _, _, err := a.LookupLicense(context.Background(), sampleLookup())
			e := asError(t, err)
			if e.Permanent() != tc.permanent {
				t.Errorf("permanent %v (%v), want %v", e.Permanent(), err, tc.permanent)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if strings.Contains(e.Error(), "330702198506") {
				t.Errorf("error %q quotes an id number", e.Error())
			}
			if n := len(d.requests()); n != 1 {
				t.Errorf("library saw %d requests, want 1 (lookups are never retried)", n)
			}
		})
	}
}

// TestInAttemptRetry: a district that refuses once as unavailable is
// ridden out inside the attempt.
func TestInAttemptRetry(t *testing.T) {
	gw, partner := newPair(t)
	d := newDistrict(t, partner, mappedjson.ExampleConfig("http://unused.example"))
	var failed atomic.Bool
	d.setAnswer(func(w http.ResponseWriter, m *adapters.Message, _ []byte) bool {
		if failed.Swap(true) {
			return false
		}
		d.writeError(w, m, http.StatusServiceUnavailable, contracts.CodeUnavailable, "维护中")
		return true
	})
	a := newAdapter(t, gw, mappedjson.ExampleConfig(d.URL))
	if _, _, _, err := a.DeliverStatus(context.Background(), sampleStatus(0, sampleUpdates("case-1", sm3Of(gw))[2])); err != nil {
		t.Fatal(err)
	}
	if n := len(d.requests()); n != 2 {
		t.Errorf("district saw %d requests, want 2", n)
	}
}
