package soap

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing/signingtest"
)

const (
	partnerID = "371523"
	// gatewayCaller is the caller id under which the partner knows the
	// gateway's key.
	gatewayCaller = "gateway"
	// servicePath is where the fake partner's SOAP service listens.
	servicePath = "/services/TongbanExchange"
)

// testCrypto is a real SM2 party: its own key for Sign, and the keys of
// the parties it trusts for VerifyBody.
type testCrypto = signingtest.Party

// newPair returns the gateway's and the partner's crypto, each trusting
// the other.
func newPair(t testing.TB) (gw, partner *testCrypto) {
	return signingtest.Pair(t, "gateway-2026", gatewayCaller, partnerID)
}

var fixedNow = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// newAdapter builds a soap adapter through the registry for a service at
// endpoint. extra is appended to the config object, e.g. `, "max_retries": 0`.
func newAdapter(t testing.TB, c adapters.Crypto, endpoint, extra string) *Adapter {
	t.Helper()
	cfg := fmt.Sprintf(`{"endpoint": %q%s}`, endpoint, extra)
	a, err := adapters.New(Name, adapters.Params{
		PartnerID: partnerID, Config: json.RawMessage(cfg), Crypto: c, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	sa := a.(*Adapter)
	sa.now = func() time.Time { return fixedNow }
	t.Cleanup(func() { sa.Close() })
	return sa
}

// newSide returns the partner side configured like newAdapter's adapter.
func newSide(t testing.TB, endpoint, extra string) *PartnerSide {
	t.Helper()
	s, err := NewPartnerSide(partnerID, json.RawMessage(fmt.Sprintf(`{"endpoint": %q%s}`, endpoint, extra)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seen is one call the fake partner received and read.
type seen struct {
	path   string
	header http.Header
	body   []byte
	msg    *adapters.Message
	err    error // from ReadRequest
}

// reply is what the fake partner answers.
type reply struct {
	status int
	header map[string]string
	body   []byte
	signed bool
	badSig bool // sign other bytes than the body
}

// partnerServer is a SOAP service built on PartnerSide: it checks the
// gateway's signature, reads each call with ReadRequest, and answers
// with what answer returns (by default: a signed acknowledgement, or a
// lookup answer from library).
type partnerServer struct {
	*httptest.Server
	side    *PartnerSide
	crypto  *testCrypto
	library map[string]contracts.LicenseRecord // license id → record

	mu     sync.Mutex
	calls  []seen
	answer func(s seen) reply
}

func (p *partnerServer) endpoint() string { return p.URL + servicePath }

func (p *partnerServer) seen() []seen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seen(nil), p.calls...)
}

func (p *partnerServer) setAnswer(f func(s seen) reply) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answer = f
}

func newPartnerServer(t testing.TB, partner *testCrypto, extra string) *partnerServer {
	t.Helper()
	p := &partnerServer{crypto: partner, library: map[string]contracts.LicenseRecord{}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	p.side = newSide(t, p.endpoint(), extra)
	return p
}

func (p *partnerServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	s := seen{path: strings.TrimPrefix(r.URL.Path, servicePath), header: r.Header.Clone(), body: body}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(adapters.HeaderSignature))
	if err == nil {
		err = p.crypto.VerifyBody(gatewayCaller, r.Header.Get(adapters.HeaderKeyID), body, sig)
	}
	if err != nil || r.Method != http.MethodPost {
		s.err = fmt.Errorf("bad gateway signature or method: %v", err)
	} else {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		s.msg, s.err = p.side.ReadRequest(s.path, mt, unquoteAction(r.Header.Get("SOAPAction")), body)
	}
	p.mu.Lock()
	p.calls = append(p.calls, s)
	answer := p.answer
	p.mu.Unlock()
	var rep reply
	if answer != nil {
		rep = answer(s)
	} else {
		rep = p.defaultReply(s)
	}
	raw := rep.body
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.signed {
		signed := raw
		if rep.badSig {
			signed = append([]byte("x"), raw...)
		}
		sig, _ := p.crypto.Sign(signed)
		w.Header().Set(adapters.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
		w.Header().Set(adapters.HeaderKeyID, p.crypto.KeyID())
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", ContentType)
	}
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(raw)
}

// defaultReply answers a call as a well-behaved partner does.
func (p *partnerServer) defaultReply(s seen) reply {
	if s.err != nil {
		var fe *contracts.FieldError
		code := contracts.CodeBadRequest
		if ok := asFieldError(s.err, &fe); ok {
			code = fe.Code
		}
		body, _, status := p.side.WriteError(nil, http.StatusBadRequest, code, s.err.Error())
		return reply{status: status, body: body}
	}
	body, err := p.defaultAnswer(s.msg, s.body)
	if err != nil {
		b, _, status := p.side.WriteError(s.msg, http.StatusInternalServerError, contracts.CodeInternal, err.Error())
		return reply{status: status, body: b}
	}
	return reply{body: body, signed: true}
}

// defaultAnswer is the partner's signed-to-be answer to m: an ack, or a
// lookup answer from the library.
func (p *partnerServer) defaultAnswer(m *adapters.Message, raw []byte) ([]byte, error) {
	if m.Lookup != nil {
		resp := &contracts.LicenseLookupResponse{ExchangeID: m.Lookup.ExchangeID}
		if rec, ok := p.library[m.Lookup.LicenseID]; ok {
			resp.Found, resp.License = true, &rec
		}
		b, _, err := p.side.WriteLookupAnswer(m, resp)
		return b, err
	}
	if b := m.UsageBatch; b != nil {
		ack := &contracts.UsageBatchAck{BatchID: b.BatchID, AcknowledgedAt: fixedNow, BodySM3: p.crypto.SM3Hex(raw), KeyID: p.crypto.KeyID()}
		for _, d := range b.Deliveries {
			ack.DeliveryIDs = append(ack.DeliveryIDs, d.DeliveryID)
		}
		out, _, err := p.side.WriteBatchAck(m, ack)
		return out, err
	}
	ack := p.ackOf(m, raw)
	b, _, err := p.side.WriteAck(m, ack)
	return b, err
}

// ackOf is the acknowledgement a well-behaved partner gives m.
func (p *partnerServer) ackOf(m *adapters.Message, raw []byte) *contracts.Ack {
	ack := &contracts.Ack{ExchangeID: m.ExchangeID(), AcknowledgedAt: fixedNow, BodySM3: p.crypto.SM3Hex(raw), KeyID: p.crypto.KeyID()}
	switch {
	case m.Case != nil:
		ack.DeliveryID, ack.PartnerCaseNo = m.Case.DeliveryID, "371523-2026-000042"
	case m.Status != nil:
		ack.DeliveryID = m.Status.DeliveryID
	case m.Usage != nil:
		ack.DeliveryID = m.Usage.DeliveryID
	case m.Notice != nil:
		ack.ExchangeID, ack.DeliveryID = m.Notice.ExchangeID, m.Notice.DeliveryID
	}
	return ack
}

func asFieldError(err error, fe **contracts.FieldError) bool {
	e, ok := err.(*contracts.FieldError)
	if ok {
		*fe = e
	}
	return ok
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

// normalize sets every time.Time reachable from v (a pointer) to UTC, so
// that values equal as instants compare equal with reflect.DeepEqual.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if v.CanSet() {
				v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normalize(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			normalize(v.Index(i))
		}
	}
}

// checkEqual fails unless got and want (pointers to the same type) are
// equal after normalising times to UTC; json.RawMessage fields compare
// byte for byte, which implies JSON equality. Normalising changes the
// times reachable from got and want to the same instants in UTC.
func checkEqual[T any](t testing.TB, what string, got, want *T) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
		return
	}
	normalize(reflect.ValueOf(got))
	normalize(reflect.ValueOf(want))
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", "  ")
		wj, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("%s differs after the round trip:\n got %s\nwant %s", what, gj, wj)
	}
}

// sampleCase is a complete case delivery with every optional field set,
// its times in loc, binary material content, a nested non-ASCII form and
// text with XML-special characters.
func sampleCase(loc *time.Location) *contracts.CaseDelivery {
	at := func(h, m, s, ms int) time.Time { return time.Date(2026, 3, 14, h, m, s, ms*1e6, loc) }
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	return &contracts.CaseDelivery{
		DeliveryID:   "dlv-0001",
		CaseID:       "case-01959245f1f97a3c",
		ExchangeID:   "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		SenderRegion: "320404",
		SentAt:       at(9, 31, 0, 125),
		Submission: contracts.CaseSubmission{
			ExchangeID:      "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
			FromRegion:      "320404",
			ToRegion:        "371523",
			SubmittedAt:     at(9, 30, 12, 345),
			ResubmitsCaseID: "case-01959200aaaa7bbb",
			ServiceItem: contracts.ServiceItem{
				BasicCode: "000155014000", ImplementationCode: "113715230045120321400015501400001",
				Name: "个体工商户设立登记", Department: "聊城市茌平区行政审批服务局",
			},
			Applicant:   contracts.Party{HolderType: "111", IDNumber: "11010519491231002X", Name: "王秀英", Phone: "13961234567"},
			Agent:       &contracts.Party{HolderType: "111", IDNumber: "320404198506123015", Name: "李明", Phone: "13800000000"},
			Window:      contracts.Window{WindowID: "window-320404", OperatorID: "zl-0231", Region: "320404", Name: "钟楼区政务服务中心跨省通办窗口"},
			ReceivedAt:  at(9, 12, 40, 0),
			LocalCaseNo: "ZL-KSTB-20260314-0017",
			Form: json.RawMessage("{\"business_name\":\"茌平区秀英百货店\",\r\n \"capital_cny\":50000,\"scope\":[\"日用百货\",\"预包装食品\"]," +
				"\"operator\":{\"is_applicant\":true,\"history\":[1,2.5,null,\"a<b&c>\\\"d\\\" ]]>\"]},\"note\":\"第一行\\n第二行\"}"),
			Materials: []contracts.Material{
				{MaterialID: "M01", Name: "经营场所使用证明", MediaType: "application/octet-stream", Size: 256,
					SM3: "17f76cb1f78de0b895af57f79a9730fd7d96bfc78899929547eb2d7f41547e46", Content: binary},
				{MaterialID: "M02", Name: "经营者近期免冠照片", MediaType: "image/jpeg", Size: 48213,
					SM3: "20636d46c9863ffeff312d5f7662134d61f19913b90ea9191f13958ece822d50",
					URL: "https://zwfw.zhonglou.example.gov.cn/materials/M02.jpg?a=1&b=2"},
			},
			LicenseIDs: []string{
				"1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B",
				"1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9",
			},
			ResultDelivery: contracts.ResultDelivery{
				Method: contracts.ResultDeliveryMethodPost, Recipient: "王秀英", Phone: "13961234567",
				Address: "江苏省常州市钟楼区南大街街道延陵西路88号3幢201室", PostalCode: "213000",
			},
			Remark: "营业执照请邮寄至常州住址 <急件> & \"核对\" 'A&B' ]]> \t制表\r\n换行 😀",
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
			OwnerCaseNo: "371523-2026-000001",
			Note:        "准予许可",
			Outcome:     contracts.OutcomeApproved,
			Documents: []contracts.Document{{
				Name: "准予行政许可决定书", MediaType: "application/pdf", Size: 4,
				SM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", Content: []byte("%PDF"),
			}},
		},
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
			SourceRegion:    "371523",
			CheckedAt:       at,
			Cached:          true,
		},
	}
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

// sampleLicense is a valid license record of the library.
func sampleLicense(t testing.TB) contracts.LicenseRecord {
	t.Helper()
	rec := contracts.LicenseRecord{
		LicenseID:    "1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9",
		TypeCode:     "11100000MB1503156L001",
		TypeName:     "不动产权证书",
		Name:         "不动产权证书",
		Number:       "鲁(2023)茌平区不动产权第0007458号",
		Holder:       contracts.Party{HolderType: "111", IDNumber: "330702198506121277", Name: "王建国", Phone: "13900000000"},
		IssuerName:   "聊城市茌平区自然资源局",
		IssuerCode:   "1133070278352773XK",
		IssuedOn:     "2023-02-25",
		ValidFrom:    "2023-02-25",
		ValidUntil:   "2043-02-24",
		Status:       contracts.LicenseStatusValid,
		StatusReason: "",
		FileSM3:      strings.Repeat("0a", 32),
		UpdatedAt:    time.Date(2025, 12, 1, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600)),
	}
	if err := rec.Validate(); err != nil {
		t.Fatalf("sample license is invalid: %v", err)
	}
	return rec
}
