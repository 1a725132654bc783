package standard_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
	"github.com/tongban/tongban/signing/signingtest"
)

const partnerID = "330702"

// testCrypto is a real SM2 party: its own key for Sign, and the keys of
// the parties it trusts for VerifyBody.
type testCrypto = signingtest.Party

func newTestCrypto(t testing.TB, keyID string) *testCrypto { return signingtest.New(t, keyID) }

// tokenCrypto adds the TokenIssuer capability.
type tokenCrypto struct{ *testCrypto }

func (c tokenCrypto) IssueToken(audience string) (string, error) {
	return signing.IssueToken(signing.NewSigner(c.Key, nil), signing.TokenRequest{
		KeyID: c.KeyID(), Issuer: "tongban-test", Audience: audience, TTL: 5 * time.Minute, ID: "jti-1",
	})
}

var _ adapters.TokenIssuer = tokenCrypto{}

// newPair returns the gateway's and the partner's crypto, each trusting
// the other: the gateway knows the partner's key under partnerID, the
// partner knows the gateway's under partnersim.GatewayCaller.
func newPair(t testing.TB) (gw, partner *testCrypto) {
	return signingtest.Pair(t, "gateway-2026", partnersim.GatewayCaller, partnerID)
}

var fixedNow = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// newSim starts a simulated partner on loopback.
func newSim(t testing.TB, partner *testCrypto, f partnersim.Faults) (*partnersim.Sim, *httptest.Server) {
	t.Helper()
	sim, err := partnersim.New(partnersim.Config{
		PartnerID: partnerID,
		Crypto:    partner,
		Faults:    f,
		Now:       func() time.Time { return fixedNow },
		Logf:      t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv
}

// newAdapter builds a standard adapter through the registry. extra is
// appended to the config object, e.g. `, "max_retries": 0`.
func newAdapter(t testing.TB, c adapters.Crypto, endpoint, extra string, timeout time.Duration) *standard.Adapter {
	t.Helper()
	cfg := fmt.Sprintf(`{"endpoint": %q%s}`, endpoint, extra)
	a, err := adapters.New(standard.Name, adapters.Params{
		PartnerID: partnerID, Config: json.RawMessage(cfg), Crypto: c, Timeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	sa := a.(*standard.Adapter)
	t.Cleanup(func() { sa.Close() })
	return sa
}

// request is what a fake partner saw.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

// ackServer is a fake partner that answers every delivery with an Ack
// signed by partner, after mutate (may be nil) changed it, and records the
// requests.
type ackServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func (s *ackServer) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

func newAckServer(t testing.TB, partner *testCrypto, mutate func(a *contracts.Ack) []byte) *ackServer {
	t.Helper()
	s := &ackServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, request{method: r.Method, path: r.URL.EscapedPath(), header: r.Header.Clone(), body: body})
		s.mu.Unlock()
		if r.URL.Path == "/licenses/usage/batch" {
			var b contracts.UsageRecordBatch
			_ = json.Unmarshal(body, &b)
			ack := contracts.UsageBatchAck{BatchID: b.BatchID, DeliveryIDs: []string{}, AcknowledgedAt: fixedNow, BodySM3: partner.SM3Hex(body), KeyID: partner.KeyID()}
			for _, d := range b.Deliveries {
				ack.DeliveryIDs = append(ack.DeliveryIDs, d.DeliveryID)
			}
			raw, _ := json.Marshal(ack)
			sig, _ := partner.Sign(raw)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
			w.Header().Set("Gw-Key-Id", partner.KeyID())
			_, _ = w.Write(raw)
			return
		}
		var env struct {
			ExchangeID string `json:"exchange_id"`
			DeliveryID string `json:"delivery_id"`
		}
		_ = json.Unmarshal(body, &env)
		ack := contracts.Ack{
			ExchangeID: env.ExchangeID, DeliveryID: env.DeliveryID, PartnerCaseNo: "330702-2026-000042",
			AcknowledgedAt: fixedNow, BodySM3: partner.SM3Hex(body), KeyID: partner.KeyID(),
		}
		var raw []byte
		if mutate != nil {
			raw = mutate(&ack)
		}
		if raw == nil {
			raw, _ = json.Marshal(ack)
		}
		sig, _ := partner.Sign(raw)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
		w.Header().Set("Gw-Key-Id", partner.KeyID())
		_, _ = w.Write(raw)
	}))
	t.Cleanup(s.Close)
	return s
}

// sampleCase is a complete case delivery with every optional field set,
// its times in loc.
func sampleCase(loc *time.Location) *contracts.CaseDelivery {
	at := func(h, m, s, ms int) time.Time { return time.Date(2026, 3, 14, h, m, s, ms*1e6, loc) }
	return &contracts.CaseDelivery{
		DeliveryID:   "dlv-0001",
		CaseID:       "case-01959245f1f97a3c",
		ExchangeID:   "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		SenderRegion: "320404",
		SentAt:       at(9, 31, 0, 125),
		Submission: contracts.CaseSubmission{
			ExchangeID:  "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
			FromRegion:  "320404",
			ToRegion:    "330702",
			SubmittedAt: at(9, 30, 12, 345),
			ServiceItem: contracts.ServiceItem{
				BasicCode: "000155014000", ImplementationCode: "113307020025937411400015501400001",
				Name: "个体工商户设立登记", Department: "金华市婺城区市场监督管理局",
			},
			Applicant:   contracts.Party{HolderType: "111", IDNumber: "11010519491231002X", Name: "王秀英", Phone: "13961234567"},
			Agent:       &contracts.Party{HolderType: "111", IDNumber: "320404198506123015", Name: "李明"},
			Window:      contracts.Window{WindowID: "window-320404", OperatorID: "zl-0231", Region: "320404", Name: "钟楼区政务服务中心跨省通办窗口"},
			ReceivedAt:  at(9, 12, 40, 0),
			LocalCaseNo: "ZL-KSTB-20260314-0017",
			Form:        json.RawMessage(`{"business_name":"婺城区秀英百货店","capital_cny":50000,"operator_is_applicant":true}`),
			Materials: []contracts.Material{
				{MaterialID: "M01", Name: "经营场所使用证明", MediaType: "application/pdf", Size: 5,
					SM3: "17f76cb1f78de0b895af57f79a9730fd7d96bfc78899929547eb2d7f41547e46", Content: []byte("%PDF-")},
				{MaterialID: "M02", Name: "经营者近期免冠照片", MediaType: "image/jpeg", Size: 48213,
					SM3: "20636d46c9863ffeff312d5f7662134d61f19913b90ea9191f13958ece822d50",
					URL: "https://zwfw.zhonglou.example.gov.cn/materials/M02.jpg"},
			},
			LicenseIDs: []string{"1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B"},
			ResultDelivery: contracts.ResultDelivery{
				Method: contracts.ResultDeliveryMethodPost, Recipient: "王秀英", Phone: "13961234567",
				Address: "江苏省常州市钟楼区南大街街道延陵西路88号3幢201室", PostalCode: "213000",
			},
			Remark: "营业执照请邮寄至常州住址。",
		},
	}
}

// sampleStatus is a status delivery of a concluded case with a document.
func sampleStatus() *contracts.StatusDelivery {
	at := time.Date(2026, 3, 16, 15, 4, 5, 0, time.UTC)
	return &contracts.StatusDelivery{
		DeliveryID:  "dlv-0002",
		CaseID:      "case-01959245f1f97a3c",
		ExchangeID:  "01959246-0000-7000-8000-000000000001",
		LocalCaseNo: "ZL-KSTB-20260314-0017",
		SentAt:      at.Add(time.Second),
		Update: contracts.StatusUpdate{
			ExchangeID:  "01959246-0000-7000-8000-000000000001",
			CaseID:      "case-01959245f1f97a3c",
			State:       contracts.CaseStateConcluded,
			ReportedAt:  at,
			OwnerCaseNo: "330702-2026-000001",
			Note:        "准予许可",
			Outcome:     contracts.OutcomeApproved,
			Documents: []contracts.Document{{
				Name: "准予行政许可决定书", MediaType: "application/pdf", Size: 4,
				SM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", Content: []byte("%PDF"),
			}},
		},
	}
}

// asError returns err as an *adapters.Error or fails the test.
func asError(t testing.TB, err error) *adapters.Error {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want one")
	}
	e, ok := err.(*adapters.Error)
	if !ok {
		t.Fatalf("got error %T %v, want *adapters.Error", err, err)
	}
	return e
}

// libraryServer is a fake license library: it records the requests and
// answers each lookup with what answer returns (status, body), signed by
// partner when signed is true.
type libraryServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func (s *libraryServer) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

func newLibraryServer(t testing.TB, partner *testCrypto, answer func(q contracts.LicenseLookupRequest) (status int, body []byte, signed bool)) *libraryServer {
	t.Helper()
	return newLibraryServerWithHeader(t, partner, nil, answer)
}

// newLibraryServerWithHeader is newLibraryServer that also sets header on
// every answer.
func newLibraryServerWithHeader(t testing.TB, partner *testCrypto, header map[string]string, answer func(q contracts.LicenseLookupRequest) (status int, body []byte, signed bool)) *libraryServer {
	t.Helper()
	s := &libraryServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, request{method: r.Method, path: r.URL.EscapedPath(), header: r.Header.Clone(), body: body})
		s.mu.Unlock()
		var q contracts.LicenseLookupRequest
		_ = json.Unmarshal(body, &q)
		status, raw, signed := answer(q)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if signed {
			sig, _ := partner.Sign(raw)
			w.Header().Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
			w.Header().Set("Gw-Key-Id", partner.KeyID())
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(raw)
	}))
	t.Cleanup(s.Close)
	return s
}

// found answers a lookup with rec, signed.
func found(rec contracts.LicenseRecord) func(q contracts.LicenseLookupRequest) (int, []byte, bool) {
	return func(q contracts.LicenseLookupRequest) (int, []byte, bool) {
		b, _ := json.Marshal(contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID, Found: true, License: &rec})
		return http.StatusOK, b, true
	}
}

// demoLicense returns the license of role in the simulator's demo library
// of partnerID on fixedNow.
func demoLicense(t testing.TB, role partnersim.DemoRole) contracts.LicenseRecord {
	t.Helper()
	lib, err := partnersim.DemoLicenses(partnerID, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := partnersim.FindDemo(lib, role)
	if !ok {
		t.Fatalf("no demo license plays %s", role)
	}
	return rec
}

// sampleLookup is a lookup by license id from a Zhonglou window.
func sampleLookup(licenseID string) *contracts.LicenseLookupRequest {
	return &contracts.LicenseLookupRequest{
		ExchangeID:      "01959250-aaaa-7bbb-8ccc-000000000001",
		LicenseID:       licenseID,
		RequesterRegion: "320404",
		Purpose:         "办理个体工商户设立登记，核验经营者身份及不动产权属",
		CaseID:          "case-01959245f1f97a3c",
	}
}

// sampleUsage is a usage record delivery of one verification.
func sampleUsage() *contracts.UsageRecordDelivery {
	at := time.Date(2026, 3, 14, 10, 2, 3, 456e6, time.UTC)
	return &contracts.UsageRecordDelivery{
		DeliveryID: "dlv-0003",
		ExchangeID: "01959251-0000-7000-8000-000000000003",
		SentAt:     at.Add(2 * time.Second),
		Record: contracts.UsageRecord{
			UsageRecordID:   "ur-01959250aaaa7bbb",
			Caller:          "320404",
			WindowID:        "window-320404",
			OperatorID:      "zl-0231",
			Purpose:         "办理个体工商户设立登记，核验经营者身份及不动产权属",
			CaseID:          "case-01959245f1f97a3c",
			LicenseID:       "1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9",
			LicenseTypeCode: "11100000MB1503156L001",
			HolderIDMasked:  contracts.MaskID("330702198506121277"),
			Outcome:         contracts.LicenseOutcomeValid,
			SourceRegion:    "330702",
			CheckedAt:       at,
		},
	}
}

// withTraceparent returns a context carrying the remote span context tp
// names, as a delivery's context carries its request's. No global
// TracerProvider is installed in this test binary, so the adapter's
// client span is not recorded and passes tp on unchanged.
func withTraceparent(tp string) context.Context {
	return adapters.ExtractTrace(context.Background(), http.Header{"Traceparent": {tp}})
}
