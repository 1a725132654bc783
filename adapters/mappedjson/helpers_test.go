package mappedjson_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing/signingtest"
)

const (
	partnerID     = "330702"
	gatewayCaller = "gateway"
)

// testCrypto is a real SM2 party: its own key for Sign, and the keys of
// the parties it trusts for VerifyBody.
type testCrypto = signingtest.Party

func newTestCrypto(t testing.TB, keyID string) *testCrypto { return signingtest.New(t, keyID) }

// newPair returns the gateway's and the partner's crypto, each trusting
// the other.
func newPair(t testing.TB) (gw, partner *testCrypto) {
	return signingtest.Pair(t, "gateway-2026", gatewayCaller, partnerID)
}

var cst = time.FixedZone("CST", 8*3600)

// fixedNow is a whole second, so that the district's formats carry it
// exactly.
var fixedNow = time.Date(2026, 3, 14, 9, 30, 0, 0, cst)

// request is what the fake district saw.
type request struct {
	path   string
	header http.Header
	body   []byte
}

// district is a fake district system built on the PartnerSide: it checks
// the gateway's signature, reads each call with ReadRequest, and answers
// with WriteAck / WriteLookupAnswer signed with its key, unless answer
// (when set) answers instead.
type district struct {
	*httptest.Server
	side    *mappedjson.PartnerSide
	crypto  *testCrypto
	library map[string]contracts.LicenseRecord // by license id

	mu     sync.Mutex
	reqs   []request
	msgs   []*adapters.Message
	answer func(w http.ResponseWriter, m *adapters.Message, body []byte) bool
}

func newDistrict(t testing.TB, partner *testCrypto, cfg json.RawMessage) *district {
	t.Helper()
	side, err := mappedjson.NewPartnerSide(partnerID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := &district{side: side, crypto: partner, library: map[string]contracts.LicenseRecord{}}
	d.Server = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.Close)
	return d
}

func (d *district) setAnswer(f func(w http.ResponseWriter, m *adapters.Message, body []byte) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answer = f
}

func (d *district) requests() []request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]request(nil), d.reqs...)
}

func (d *district) messages() []*adapters.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*adapters.Message(nil), d.msgs...)
}

func (d *district) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	d.reqs = append(d.reqs, request{path: r.URL.Path, header: r.Header.Clone(), body: body})
	answer := d.answer
	d.mu.Unlock()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(adapters.HeaderSignature))
	if err == nil {
		err = d.crypto.VerifyBody(gatewayCaller, r.Header.Get(adapters.HeaderKeyID), body, sig)
	}
	if err != nil {
		d.writeError(w, nil, http.StatusUnauthorized, contracts.CodeBadSignature, "bad signature")
		return
	}
	m, err := d.side.ReadRequest(r.URL.Path, mt, "", body)
	if err != nil {
		d.writeError(w, nil, http.StatusBadRequest, contracts.CodeInvalidJSON, "unreadable: "+err.Error())
		return
	}
	d.mu.Lock()
	d.msgs = append(d.msgs, m)
	d.mu.Unlock()
	if answer != nil && answer(w, m, body) {
		return
	}
	var raw []byte
	var mediaType string
	if m.Lookup != nil {
		resp := &contracts.LicenseLookupResponse{ExchangeID: m.Lookup.ExchangeID}
		for _, rec := range d.library {
			if m.Lookup.LicenseID == rec.LicenseID || m.Lookup.Holder != nil && m.Lookup.Holder.IDNumber == rec.Holder.IDNumber &&
				m.Lookup.LicenseTypeCode == rec.TypeCode {
				resp.Found, resp.License = true, &rec
			}
		}
		raw, mediaType, err = d.side.WriteLookupAnswer(m, resp)
	} else if b := m.UsageBatch; b != nil {
		ack := &contracts.UsageBatchAck{BatchID: b.BatchID, AcknowledgedAt: fixedNow, BodySM3: d.crypto.SM3Hex(body), KeyID: d.crypto.KeyID()}
		for _, x := range b.Deliveries {
			ack.DeliveryIDs = append(ack.DeliveryIDs, x.DeliveryID)
		}
		raw, mediaType, err = d.side.WriteBatchAck(m, ack)
	} else {
		raw, mediaType, err = d.side.WriteAck(m, d.ackFor(m, body))
	}
	if err != nil {
		d.writeError(w, m, http.StatusInternalServerError, contracts.CodeInternal, err.Error())
		return
	}
	d.writeSigned(w, raw, mediaType, d.crypto)
}

// ackFor is the acknowledgement the district means to give m.
func (d *district) ackFor(m *adapters.Message, body []byte) *contracts.Ack {
	ack := &contracts.Ack{ExchangeID: m.ExchangeID(), AcknowledgedAt: fixedNow, BodySM3: d.crypto.SM3Hex(body), KeyID: d.crypto.KeyID()}
	switch {
	case m.Case != nil:
		ack.DeliveryID, ack.PartnerCaseNo = m.Case.DeliveryID, "WC-2026-000042"
	case m.Status != nil:
		ack.DeliveryID = m.Status.DeliveryID
	case m.Usage != nil:
		ack.DeliveryID = m.Usage.DeliveryID
	case m.Notice != nil:
		ack.ExchangeID, ack.DeliveryID = m.Notice.ExchangeID, m.Notice.DeliveryID
	}
	return ack
}

func (d *district) writeSigned(w http.ResponseWriter, raw []byte, mediaType string, signer adapters.Crypto) {
	sig, _ := signer.Sign(raw)
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set(adapters.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	w.Header().Set(adapters.HeaderKeyID, signer.KeyID())
	_, _ = w.Write(raw)
}

func (d *district) writeError(w http.ResponseWriter, m *adapters.Message, status int, code contracts.Code, msg string) {
	body, mt, st := d.side.WriteError(m, status, code, msg)
	w.Header().Set("Content-Type", mt)
	w.WriteHeader(st)
	_, _ = w.Write(body)
}

// newAdapter builds a mapped-json adapter through the registry.
func newAdapter(t testing.TB, c adapters.Crypto, cfg json.RawMessage) *mappedjson.Adapter {
	t.Helper()
	a, err := adapters.New(mappedjson.Name, adapters.Params{PartnerID: partnerID, Config: cfg, Crypto: c, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ma := a.(*mappedjson.Adapter)
	t.Cleanup(func() { ma.Close() })
	return ma
}

// exampleWith returns ExampleConfig(endpoint) with change applied to its
// decoded form (nil: unchanged).
func exampleWith(t testing.TB, endpoint string, change func(cfg map[string]any)) json.RawMessage {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(mappedjson.ExampleConfig(endpoint), &cfg); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(cfg)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// at walks cfg by keys and returns the object there.
func at(cfg map[string]any, keys ...string) map[string]any {
	cur := cfg
	for _, k := range keys {
		cur = cur[k].(map[string]any)
	}
	return cur
}

// same is adaptertest.Same: equal once times are instants and JSON values
// compared by meaning.
var same = adaptertest.Same

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

// ---- fixtures ----

const licenseID = "1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9"

func sm3Of(gw adapters.Crypto) func([]byte) string { return gw.SM3Hex }

// sampleSubmission is a case submission with every field set.
func sampleSubmission(sm3 func([]byte) string) contracts.CaseSubmission {
	pdf := []byte("%PDF-1.4\n经营场所使用证明 <&>\"'\n%%EOF\n")
	return contracts.CaseSubmission{
		ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", FromRegion: "320404", ToRegion: "330702",
		SubmittedAt:     fixedNow.Add(-30 * time.Second),
		ResubmitsCaseID: "case-01959240aaaa0001",
		ServiceItem: contracts.ServiceItem{
			BasicCode: "000155014000", ImplementationCode: "113307020025937411400015501400001",
			Name: "个体工商户设立登记", Department: "金华市婺城区市场监督管理局",
		},
		Applicant: contracts.Party{HolderType: "111", IDNumber: "11010519491231002X", Name: "王秀英", Phone: "13961234567"},
		Agent:     &contracts.Party{HolderType: "001", IDNumber: "91330702MA6GFR18X7", Name: "金华秀英代办有限公司", Phone: "057982345678"},
		Window: contracts.Window{WindowID: "window-320404", OperatorID: "zl-0231", Region: "320404",
			Name: "钟楼区政务服务中心跨省通办窗口"},
		ReceivedAt:  fixedNow.Add(-17 * time.Minute),
		LocalCaseNo: "ZL-KSTB-20260314-0017",
		Form: json.RawMessage(`{"business_name":"婺城区秀英百货店 <A&B>","capital_cny":50000,"area_m2":35.5,` +
			`"operator_is_applicant":true,"premises":{"address":"八一南街123号","floors":[1,2]},"note":null}`),
		Materials: []contracts.Material{
			{MaterialID: "M01", Name: "经营场所使用证明", MediaType: "application/pdf", Size: int64(len(pdf)), SM3: sm3(pdf), Content: pdf},
			{MaterialID: "M02", Name: "经营者近期免冠照片", MediaType: "image/jpeg", Size: 48213, SM3: sm3([]byte("jpeg")),
				URL: "https://zwfw.zhonglou.example.gov.cn/materials/M02.jpg?v=1&sig=ab"},
		},
		LicenseIDs: []string{licenseID, "1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B"},
		ResultDelivery: contracts.ResultDelivery{Method: contracts.ResultDeliveryMethodPost, Recipient: "王秀英",
			Phone: "13961234567", Address: "江苏省常州市钟楼区延陵西路88号3幢201室", PostalCode: "213000"},
		Remark: "营业执照请邮寄至常州住址。\n谢谢",
	}
}

// sampleCase is a complete case delivery with every field set.
func sampleCase(sm3 func([]byte) string) *contracts.CaseDelivery {
	s := sampleSubmission(sm3)
	return &contracts.CaseDelivery{
		DeliveryID: "dlv-0001", CaseID: "case-01959245f1f97a3c", ExchangeID: s.ExchangeID,
		SenderRegion: "320404", SentAt: fixedNow.Add(time.Second), Submission: s,
	}
}

// sampleUpdates returns one status update of caseID for every lifecycle
// state, each with the fields its state carries.
func sampleUpdates(caseID string, sm3 func([]byte) string) []contracts.StatusUpdate {
	doc := []byte("%PDF-1.4\n准予行政许可决定书\n")
	base := func(i int, st contracts.CaseState) contracts.StatusUpdate {
		return contracts.StatusUpdate{ExchangeID: fmt.Sprintf("01959246-0000-7000-8000-%012d", i), CaseID: caseID, State: st,
			ReportedAt: fixedNow.Add(time.Duration(i) * time.Hour), OwnerCaseNo: "WC-2026-000042"}
	}
	received := base(0, contracts.CaseStateReceived)
	forwarded := base(1, contracts.CaseStateForwarded)
	forwarded.OwnerCaseNo = ""
	accepted := base(2, contracts.CaseStateAccepted)
	accepted.Note = "已受理"
	rejected := base(3, contracts.CaseStateRejected)
	rejected.Reason = "申请事项不属于本机关职权范围"
	correction := base(4, contracts.CaseStateCorrectionRequired)
	correction.Reason, correction.CorrectionItems = "申请材料不齐全", []string{"经营场所使用证明", "身份证复印件"}
	progress := base(5, contracts.CaseStateInProgress)
	progress.Note = "审查中"
	concluded := base(6, contracts.CaseStateConcluded)
	concluded.Outcome, concluded.Note = contracts.OutcomeApproved, "准予许可"
	concluded.Documents = []contracts.Document{
		{Name: "准予行政许可决定书", MediaType: "application/pdf", Size: int64(len(doc)), SM3: sm3(doc), Content: doc},
		{Name: "营业执照", MediaType: "application/ofd", Size: 1024, SM3: sm3([]byte("ofd")), URL: "https://zw.example.gov.cn/r/1.ofd",
			LicenseID: licenseID},
	}
	denied := base(7, contracts.CaseStateConcluded)
	denied.Outcome, denied.Reason = contracts.OutcomeDenied, "不符合法定条件"
	dispatched := base(8, contracts.CaseStateDispatched)
	dispatched.Dispatch = &contracts.Dispatch{Method: contracts.ResultDeliveryMethodPost, Carrier: "EMS",
		TrackingNumber: "EA123456785CN", DispatchedAt: fixedNow.Add(8 * time.Hour)}
	electronic := base(9, contracts.CaseStateDispatched)
	electronic.Dispatch = &contracts.Dispatch{Method: contracts.ResultDeliveryMethodElectronic,
		URL: "https://zw.example.gov.cn/r/1", DispatchedAt: fixedNow.Add(9 * time.Hour)}
	delivered := base(10, contracts.CaseStateDelivered)
	delivered.DeliveredAt, delivered.Note = fixedNow.Add(10*time.Hour), "已签收"
	return []contracts.StatusUpdate{received, forwarded, accepted, rejected, correction, progress, concluded, denied,
		dispatched, electronic, delivered}
}

func sampleStatus(i int, u contracts.StatusUpdate) *contracts.StatusDelivery {
	return &contracts.StatusDelivery{DeliveryID: fmt.Sprintf("dlv-1%03d", i), CaseID: u.CaseID, ExchangeID: u.ExchangeID,
		LocalCaseNo: "ZL-KSTB-20260314-0017", SentAt: fixedNow.Add(time.Duration(i) * time.Minute), Update: u}
}

// sampleUsage is a usage record delivery with every field set.
func sampleUsage() *contracts.UsageRecordDelivery {
	return &contracts.UsageRecordDelivery{
		DeliveryID: "dlv-0003", ExchangeID: "01959251-0000-7000-8000-000000000003", SentAt: fixedNow.Add(2 * time.Second),
		Record: contracts.UsageRecord{
			UsageRecordID: "ur-01959250aaaa7bbb", Caller: "320404", WindowID: "window-320404", OperatorID: "zl-0231",
			Purpose: "办理个体工商户设立登记，核验经营者身份及不动产权属", CaseID: "case-01959245f1f97a3c",
			LicenseID: licenseID, LicenseTypeCode: "11100000MB1503156L001",
			HolderIDMasked: contracts.MaskID("330702198506121277"), Outcome: contracts.LicenseOutcomeValid,
			SourceRegion: "330702", CheckedAt: fixedNow, Cached: true,
		},
	}
}

// sampleLicense is a library record with every field set that passes
// contracts.LicenseRecord.Validate.
func sampleLicense() contracts.LicenseRecord {
	return contracts.LicenseRecord{
		LicenseID: licenseID, TypeCode: "11100000MB1503156L001", TypeName: "不动产权证书",
		Name: "不动产权证书", Number: "浙(2023)金华市不动产权第7458475号",
		Holder:     contracts.Party{HolderType: "111", IDNumber: "330702198506121277", Name: "王建国", Phone: "13705791234"},
		IssuerName: "金华市婺城区自然资源和规划局", IssuerCode: "1133070278352773XK",
		IssuedOn: "2023-02-20", ValidFrom: "2023-02-25", ValidUntil: "2073-02-24",
		Status: contracts.LicenseStatusSuspended, StatusReason: "司法查封",
		FileSM3:   "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
		UpdatedAt: fixedNow.Add(-48 * time.Hour),
	}
}

func sampleLookup() *contracts.LicenseLookupRequest {
	return &contracts.LicenseLookupRequest{
		ExchangeID: "01959250-aaaa-7bbb-8ccc-000000000001", LicenseID: licenseID,
		RequesterRegion: "320404", Purpose: "办理个体工商户设立登记，核验不动产权属", CaseID: "case-01959245f1f97a3c",
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
