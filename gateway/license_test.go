package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/contracts/contractstest"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/licensecache"
	"github.com/tongban/tongban/gateway/licenses"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/outbox"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/signing"
)

// ---- fixtures: valid identifiers (contractstest) ----

var (
	creditCode = contractstest.CreditCode
	citizenID  = contractstest.CitizenID
	license    = contractstest.License
)

const (
	typeBusiness = contractstest.TypeBusiness
	typeFood     = contractstest.TypeFood
)

// ---- a hand-written library ----

// fakeLibrary is a license library behind the gateway's ports: it answers
// lookups from records, can hang (ignoring its context, to prove the
// gateway's own bound) or fail, and acknowledges usage records.
type fakeLibrary struct {
	mu      sync.Mutex
	records []contracts.LicenseRecord
	hang    chan struct{} // non-nil: lookups wait for it to close
	fail    error
	wrong   bool // answer with the first record whatever was asked
	lookups int
	usage   []contracts.UsageRecordDelivery
}

func (f *fakeLibrary) LookupLicense(_ context.Context, q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, []byte, []byte, error) {
	f.mu.Lock()
	f.lookups++
	hang, fail, wrong, recs := f.hang, f.fail, f.wrong, slices.Clone(f.records)
	f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	if fail != nil {
		return nil, nil, nil, fail
	}
	resp := &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID}
	for _, r := range recs {
		byID := q.LicenseID != "" && r.LicenseID == q.LicenseID
		byHolder := q.Holder != nil && r.Holder.IDNumber == q.Holder.IDNumber && r.TypeCode == q.LicenseTypeCode
		if byID || byHolder || wrong {
			resp.Found, resp.License = true, &r
			break
		}
	}
	return resp, []byte("{}"), []byte("sig"), nil
}

func (f *fakeLibrary) DeliverUsage(_ context.Context, d *contracts.UsageRecordDelivery) (*contracts.Ack, []byte, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usage = append(f.usage, *d)
	return &contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, AcknowledgedAt: time.Now()}, []byte("{}"), []byte("sig"), nil
}

func (f *fakeLibrary) set(fn func(f *fakeLibrary)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeLibrary) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// ---- the license harness ----

const (
	libWucheng  = "lib-330702" // holds licenses issued in 330702
	libJinhua   = "lib-330700" // the city library of Jinhua
	libNational = "lib-national"
	zlSystem    = "320404"
	winCaller   = "window-320404"
	auditCaller = "auditor"
	opsCaller   = "ops"
)

type licEnv struct {
	t       *testing.T
	ctx     context.Context
	clock   *fakeClock
	store   *sqlite.Store
	gw      *keyring.Keyring
	gwPub   *signing.PublicKey
	dir     *gateway.Directory
	core    *node.Core
	disp    *outbox.Dispatcher
	libs    map[string]*fakeLibrary
	callers map[string]*keyring.Keyring
}

// newLicEnv wires a gateway with three libraries (district 330702, city
// 330700 for food licenses only, a national fallback), a partner system
// 320404, a window, an auditor and an operator. cache may be nil.
func newLicEnv(t *testing.T, cache licenses.Cache) *licEnv {
	t.Helper()
	e := &licEnv{t: t, ctx: context.Background(), clock: newFakeClock(t0), libs: map[string]*fakeLibrary{}, callers: map[string]*keyring.Keyring{}}
	st, err := sqlite.Open(e.ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "tongban.db"), Synchronous: "NORMAL", Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.store = st
	gwKey := genKey(t)
	e.gwPub = gwKey.Public()
	if e.gw, err = keyring.New(keyring.Options{GatewayID: gatewayID, Signer: signing.NewSigner(gwKey, nil), SignerKeyID: gwKeyID, Clock: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	partners := []*gateway.Partner{}
	for _, l := range []struct {
		id       string
		regions  []string
		types    []string
		fallback bool
	}{
		{libWucheng, []string{"330702"}, nil, false},
		{libJinhua, []string{"330700"}, []string{typeFood}, false},
		{libNational, nil, nil, true},
	} {
		f := &fakeLibrary{}
		e.libs[l.id] = f
		partners = append(partners, &gateway.Partner{ID: l.id, Roles: []contracts.Role{contracts.RolePartner},
			Library: &gateway.Library{Regions: l.regions, Types: l.types, Fallback: l.fallback, Timeout: 200 * time.Millisecond, Source: f, Usage: f}})
	}
	partners = append(partners,
		&gateway.Partner{ID: zlSystem, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{zlSystem}, Cases: nopAdapter{}, Statuses: nopAdapter{}},
		&gateway.Partner{ID: winCaller, Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{zlSystem}},
		&gateway.Partner{ID: auditCaller, Roles: []contracts.Role{contracts.RoleAuditor}},
		&gateway.Partner{ID: opsCaller, Roles: []contracts.Role{contracts.RoleOperator}},
	)
	for _, id := range []string{zlSystem, winCaller, auditCaller, opsCaller} {
		k := genKey(t)
		kr, err := keyring.New(keyring.Options{GatewayID: id, Signer: signing.NewSigner(k, nil), SignerKeyID: id, Clock: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.gw.AddKey(id, id, k.Public()); err != nil {
			t.Fatal(err)
		}
		e.callers[id] = kr
	}
	if e.dir, err = gateway.NewDirectory(partners); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if e.core, err = node.New(node.Options{Store: st, Crypto: e.gw, Directory: e.dir, Clock: e.clock, Log: log,
		LicenseCache: cache, Dispatcher: outbox.DispatcherOptions{Seed: 3}}); err != nil {
		t.Fatal(err)
	}
	e.disp = e.core.Outbox.Dispatcher()
	return e
}

// nopAdapter is a case adapter the license tests never use.
type nopAdapter struct{}

func (nopAdapter) DeliverCase(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, errors.New("not used")
}

func (nopAdapter) DeliverStatus(context.Context, *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, errors.New("not used")
}

func (e *licEnv) inbound(caller string, v any) gateway.Inbound {
	e.t.Helper()
	body := mustJSON(e.t, v)
	sig, err := e.callers[caller].Sign(body)
	if err != nil {
		e.t.Fatal(err)
	}
	p := e.dir.Get(caller)
	return gateway.Inbound{Caller: gateway.Principal{Partner: p, Subject: "clerk-7", KeyID: caller}, Body: body, Signature: sig, KeyID: caller}
}

// verify runs one verification and decodes the signed result after
// checking its signature.
func (e *licEnv) verify(caller string, req contracts.LicenseVerifyRequest) (contracts.LicenseVerifyResult, error) {
	e.t.Helper()
	ans, err := e.core.Licenses.VerifyLicense(e.ctx, e.inbound(caller, req))
	if err != nil {
		return contracts.LicenseVerifyResult{}, err
	}
	var r contracts.LicenseVerifyResult
	e.decodeSigned(ans, &r)
	return r, nil
}

func (e *licEnv) decodeSigned(ans *gateway.Signed, v any) {
	e.t.Helper()
	if err := signing.Verify(e.gwPub, ans.Body, ans.Signature); err != nil {
		e.t.Fatalf("answer signature does not verify: %v", err)
	}
	if err := decodeStrictJSON(ans.Body, v); err != nil {
		e.t.Fatalf("answer %s: %v", ans.Body, err)
	}
}

func (e *licEnv) usage(q gateway.UsageQuery) []gateway.UsageEntry {
	e.t.Helper()
	if q.Limit == 0 {
		q.Limit = 1000
	}
	es, err := e.store.ListUsage(e.ctx, q)
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// ---- tests ----

func TestRouteLicense(t *testing.T) {
	e := newLicEnv(t, nil)
	tests := []struct {
		region, typeCode string
		want             string // partner id, or "" for no_route
	}{
		{"330702", typeBusiness, libWucheng},  // the zlSystem's own library
		{"330702", typeFood, libWucheng},      // the zlSystem holds every type, before its city
		{"330703", typeFood, libJinhua},       // another zlSystem of the city: the city library holds food licenses
		{"330700", typeFood, libJinhua},       // issued by the city itself
		{"330703", typeBusiness, libNational}, // the city library lacks the type: fallback
		{"320404", typeBusiness, libNational}, // no library in the province: fallback
	}
	for _, tt := range tests {
		p, err := e.dir.RouteLicense(tt.region, tt.typeCode)
		if err != nil {
			t.Errorf("RouteLicense(%s, %s): %v", tt.region, tt.typeCode, err)
			continue
		}
		if p.ID != tt.want {
			t.Errorf("RouteLicense(%s, %s) = %s, want %s", tt.region, tt.typeCode, p.ID, tt.want)
		}
	}
}

func TestRouteLicenseProvinceAndNoRoute(t *testing.T) {
	lib := func(id string, regions []string, fallback bool, types ...string) *gateway.Partner {
		return &gateway.Partner{ID: id, Roles: []contracts.Role{contracts.RolePartner},
			Library: &gateway.Library{Regions: regions, Types: types, Fallback: fallback, Source: &fakeLibrary{}}}
	}
	d, err := gateway.NewDirectory([]*gateway.Partner{lib("zj", []string{"330000"}, false), lib("js-food", []string{"320000"}, false, typeFood)})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := d.RouteLicense("330702", typeBusiness); err != nil || p.ID != "zj" {
		t.Errorf("zlSystem of Zhejiang routes to %v, %v; want the provincial library zj", p, err)
	}
	_, err = d.RouteLicense("320404", typeBusiness)
	wantCode(t, err, contracts.CodeNoRoute)
}

func TestNewDirectoryRefusesBadLibraries(t *testing.T) {
	src := &fakeLibrary{}
	lib := func(id string, l gateway.Library) *gateway.Partner {
		return &gateway.Partner{ID: id, Roles: []contracts.Role{contracts.RolePartner}, Library: &l}
	}
	tests := []struct {
		name     string
		partners []*gateway.Partner
		want     string
	}{
		{"no source", []*gateway.Partner{lib("a", gateway.Library{Regions: []string{"330702"}})}, "look licenses up"},
		{"no regions", []*gateway.Partner{lib("a", gateway.Library{Source: src})}, "regions or fallback"},
		{"bad region", []*gateway.Partner{lib("a", gateway.Library{Regions: []string{"33070"}, Source: src})}, "region"},
		{"bad type", []*gateway.Partner{lib("a", gateway.Library{Regions: []string{"330702"}, Types: []string{"x"}, Source: src})}, "type"},
		{"overlap", []*gateway.Partner{
			lib("a", gateway.Library{Regions: []string{"330702"}, Source: src}),
			lib("b", gateway.Library{Regions: []string{"330702"}, Types: []string{typeFood}, Source: src}),
		}, "served by both"},
	}
	for _, tt := range tests {
		_, err := gateway.NewDirectory(tt.partners)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewDirectory error %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
	// Disjoint types may share a region.
	if _, err := gateway.NewDirectory([]*gateway.Partner{
		lib("a", gateway.Library{Regions: []string{"330702"}, Types: []string{typeBusiness}, Source: src}),
		lib("b", gateway.Library{Regions: []string{"330702"}, Types: []string{typeFood}, Source: src}),
	}); err != nil {
		t.Errorf("disjoint types on one region: %v", err)
	}
}

func TestVerifyLicenseOutcomesAndUsage(t *testing.T) {
	e := newLicEnv(t, nil)
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	recs := map[contracts.LicenseStatus]contracts.LicenseRecord{}
	for i, st := range []contracts.LicenseStatus{contracts.LicenseStatusValid, contracts.LicenseStatusSuspended,
		contracts.LicenseStatusRevoked, contracts.LicenseStatusCancelled, contracts.LicenseStatusExpired} {
		recs[st] = license(t, "330702", typeBusiness, fmt.Sprintf("S%d", i), holder, st)
	}
	lib := e.libs[libWucheng]
	lib.set(func(f *fakeLibrary) {
		for _, r := range recs {
			f.records = append(f.records, r)
		}
	})
	missing := license(t, "330702", typeBusiness, "NOPE", holder, contracts.LicenseStatusValid)
	tests := []struct {
		name string
		id   string
		want contracts.LicenseOutcome
	}{
		{"valid", recs[contracts.LicenseStatusValid].LicenseID, contracts.LicenseOutcomeValid},
		{"suspended", recs[contracts.LicenseStatusSuspended].LicenseID, contracts.LicenseOutcomeSuspended},
		{"revoked", recs[contracts.LicenseStatusRevoked].LicenseID, contracts.LicenseOutcomeRevoked},
		{"cancelled", recs[contracts.LicenseStatusCancelled].LicenseID, contracts.LicenseOutcomeCancelled},
		{"expired", recs[contracts.LicenseStatusExpired].LicenseID, contracts.LicenseOutcomeExpired},
		{"not found", missing.LicenseID, contracts.LicenseOutcomeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.verify(winCaller, contracts.LicenseVerifyRequest{LicenseID: tt.id, Purpose: "个体工商户设立登记", CaseID: "case-1"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome != tt.want {
				t.Errorf("outcome %s, want %s", r.Outcome, tt.want)
			}
			if r.SourceRegion != "330702" || r.Cached || r.UsageRecordID == "" || !r.CheckedAt.Equal(t0) {
				t.Errorf("result %+v: want source 330702, not cached, a usage record id, checked at %s", r, t0)
			}
			if tt.want == contracts.LicenseOutcomeNotFound {
				if r.License != nil {
					t.Errorf("not_found carries a license: %+v", r.License)
				}
			} else if r.License == nil || r.License.Holder.IDMasked != contracts.MaskID(holder.IDNumber) || r.License.LicenseID != tt.id {
				t.Errorf("license %+v: want id %s and the holder masked as %s", r.License, tt.id, contracts.MaskID(holder.IDNumber))
			}
			es := e.usage(gateway.UsageQuery{LicenseID: tt.id})
			if len(es) != 1 {
				t.Fatalf("%d usage records of %s, want 1", len(es), tt.id)
			}
			u := es[0]
			if u.Record.UsageRecordID != r.UsageRecordID || u.Record.Outcome != tt.want || u.Record.Caller != winCaller ||
				u.Record.WindowID != winCaller || u.Record.OperatorID != "clerk-7" || u.Record.Purpose != "个体工商户设立登记" ||
				u.Record.CaseID != "case-1" || u.Library != libWucheng {
				t.Errorf("usage record %+v, library %s: want it to say who, why, which case, the outcome and the library", u.Record, u.Library)
			}
			if tt.want != contracts.LicenseOutcomeNotFound && (u.HolderID != holder.IDNumber || u.Record.HolderIDMasked != contracts.MaskID(holder.IDNumber)) {
				t.Errorf("usage record keeps holder %q / masked %q; want the full id in the store and the masked one in the record", u.HolderID, u.Record.HolderIDMasked)
			}
		})
	}
	// Every record goes back to the issuing library through the outbox.
	for range 10 {
		if n, err := e.disp.RunOnce(e.ctx); err != nil || n == 0 {
			break
		}
	}
	lib.mu.Lock()
	got := len(lib.usage)
	lib.mu.Unlock()
	if got != len(tests) {
		t.Errorf("library received %d usage records, want %d", got, len(tests))
	}
	if c := countStates(t, e.store); c[contracts.TransportStateDelivered] != len(tests) {
		t.Errorf("delivery states %v, want %d delivered", c, len(tests))
	}
}

func countStates(t *testing.T, st gateway.Store) map[contracts.TransportState]int {
	t.Helper()
	m, err := st.CountByState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVerifyLicenseByHolder(t *testing.T) {
	e := newLicEnv(t, nil)
	company := contracts.Party{HolderType: "001", IDNumber: creditCode(t, "330702", "12345678X"), Name: "金华某某餐饮有限公司"}
	rec := license(t, "330702", typeFood, "F1", company, contracts.LicenseStatusValid)
	e.libs[libWucheng].set(func(f *fakeLibrary) { f.records = []contracts.LicenseRecord{rec} })
	// No issuer_region: a company holder routes by its own registration region.
	r, err := e.verify(zlSystem, contracts.LicenseVerifyRequest{
		Holder: &contracts.Holder{HolderType: "001", IDNumber: company.IDNumber}, LicenseTypeCode: typeFood,
		Purpose: "食品经营许可变更", WindowID: "win-9", OperatorID: "op-3",
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != contracts.LicenseOutcomeValid || r.License == nil || r.License.LicenseID != rec.LicenseID {
		t.Fatalf("result %+v, want valid %s", r, rec.LicenseID)
	}
	es := e.usage(gateway.UsageQuery{HolderID: company.IDNumber})
	if len(es) != 1 || es[0].Record.WindowID != "win-9" || es[0].Record.OperatorID != "op-3" || es[0].Record.Caller != zlSystem {
		t.Errorf("usage %+v: a partner system names the window and clerk it asks for", es)
	}
	// A citizen holder needs issuer_region.
	_, err = e.verify(zlSystem, contracts.LicenseVerifyRequest{
		Holder: &contracts.Holder{HolderType: "111", IDNumber: citizenID(t, "330702", "123")}, LicenseTypeCode: typeFood, Purpose: "x",
	})
	wantCode(t, err, contracts.CodeValidationFailed)
}

func TestVerifyLicenseRefusalsAreRecordedWithoutLookup(t *testing.T) {
	e := newLicEnv(t, nil)
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	good := license(t, "330702", typeBusiness, "R1", holder, contracts.LicenseStatusValid)
	badCheck := good.LicenseID[:len(good.LicenseID)-1] + string(otherCheck(good.LicenseID[len(good.LicenseID)-1]))
	badCitizen := holder.IDNumber[:17] + string(otherCheck(holder.IDNumber[17]))
	tests := []struct {
		name   string
		caller string
		req    contracts.LicenseVerifyRequest
		want   contracts.Code
	}{
		{"wrong check character", winCaller, contracts.LicenseVerifyRequest{LicenseID: badCheck, Purpose: "x"}, contracts.CodeInvalidLicenseID},
		{"wrong citizen check", winCaller, contracts.LicenseVerifyRequest{Holder: &contracts.Holder{HolderType: "111", IDNumber: badCitizen}, LicenseTypeCode: typeBusiness, IssuerRegion: "330702", Purpose: "x"}, contracts.CodeInvalidCitizenID},
		{"bad holder type", winCaller, contracts.LicenseVerifyRequest{Holder: &contracts.Holder{HolderType: "999", IDNumber: holder.IDNumber}, LicenseTypeCode: typeBusiness, Purpose: "x"}, contracts.CodeInvalidHolderType},
		{"no purpose", winCaller, contracts.LicenseVerifyRequest{LicenseID: good.LicenseID}, contracts.CodeValidationFailed},
		{"purpose too long", winCaller, contracts.LicenseVerifyRequest{LicenseID: good.LicenseID, Purpose: strings.Repeat("事", 201)}, contracts.CodeValidationFailed},
		{"auditor may not verify", auditCaller, contracts.LicenseVerifyRequest{LicenseID: good.LicenseID, Purpose: "x"}, contracts.CodeForbidden},
		{"operator may not verify", opsCaller, contracts.LicenseVerifyRequest{LicenseID: good.LicenseID, Purpose: "x"}, contracts.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.usage(gateway.UsageQuery{Caller: tt.caller}))
			_, err := e.verify(tt.caller, tt.req)
			wantCode(t, err, tt.want)
			es := e.usage(gateway.UsageQuery{Caller: tt.caller})
			if len(es) != before+1 {
				t.Fatalf("%d usage records of %s, want %d", len(es), tt.caller, before+1)
			}
			if u := es[0].Record; u.ErrorCode != tt.want || u.Outcome != "" {
				t.Errorf("usage record %+v, want error_code %s and no outcome", u, tt.want)
			}
		})
	}
	for id, l := range e.libs {
		if n := l.count(); n != 0 {
			t.Errorf("library %s was asked %d times for refused requests", id, n)
		}
	}
	// A bad signature is refused and recorded too.
	in := e.inbound(winCaller, contracts.LicenseVerifyRequest{LicenseID: good.LicenseID, Purpose: "x"})
	in.Body = append(in.Body, ' ')
	_, err := e.core.Licenses.VerifyLicense(e.ctx, in)
	wantCode(t, err, contracts.CodeBadSignature)
	if es := e.usage(gateway.UsageQuery{Caller: winCaller}); es[0].Record.ErrorCode != contracts.CodeBadSignature {
		t.Errorf("latest record %+v, want error_code bad_signature", es[0].Record)
	}
}

// otherCheck returns a different character of the same alphabet class.
func otherCheck(c byte) byte {
	if c == '1' {
		return '2'
	}
	return '1'
}

func TestVerifyLicenseSourceUnavailable(t *testing.T) {
	e := newLicEnv(t, nil)
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	rec := license(t, "330702", typeBusiness, "T1", holder, contracts.LicenseStatusValid)
	lib := e.libs[libWucheng]
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	for _, tt := range []struct {
		name string
		set  func(f *fakeLibrary)
	}{
		{"hangs past the timeout, ignoring its context", func(f *fakeLibrary) { f.hang = hang }},
		{"fails", func(f *fakeLibrary) { f.hang, f.fail = nil, errors.New("connection refused") }},
		{"answers about another license", func(f *fakeLibrary) {
			f.fail, f.wrong = nil, true
			f.records = []contracts.LicenseRecord{license(t, "330702", typeBusiness, "OTHER", holder, contracts.LicenseStatusValid)}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lib.set(tt.set)
			r, err := e.verify(winCaller, contracts.LicenseVerifyRequest{LicenseID: rec.LicenseID, Purpose: "x"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome != contracts.LicenseOutcomeSourceUnavailable || r.License != nil {
				t.Errorf("result %+v, want source_unavailable without a license", r)
			}
			es := e.usage(gateway.UsageQuery{Limit: 1})
			if es[0].Record.Outcome != contracts.LicenseOutcomeSourceUnavailable {
				t.Errorf("usage record %+v, want source_unavailable", es[0].Record)
			}
		})
	}
}

func TestVerifyLicenseCache(t *testing.T) {
	cache, err := licensecache.New(100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e := newLicEnv(t, cache)
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	rec := license(t, "330702", typeBusiness, "C1", holder, contracts.LicenseStatusValid)
	missing := license(t, "330702", typeBusiness, "C2", holder, contracts.LicenseStatusValid)
	lib := e.libs[libWucheng]
	lib.set(func(f *fakeLibrary) { f.records = []contracts.LicenseRecord{rec} })
	ask := func(id string, face *contracts.LicenseFace) contracts.LicenseVerifyResult {
		t.Helper()
		r, err := e.verify(winCaller, contracts.LicenseVerifyRequest{LicenseID: id, Face: face, Purpose: "x"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask(rec.LicenseID, nil); r.Cached || r.Outcome != contracts.LicenseOutcomeValid {
		t.Fatalf("first answer %+v, want fresh valid", r)
	}
	// The second is answered from the cache, compared against its own face.
	if r := ask(rec.LicenseID, &contracts.LicenseFace{HolderName: "张三"}); !r.Cached || r.Outcome != contracts.LicenseOutcomeMismatch {
		t.Errorf("second answer %+v, want cached mismatch", r)
	}
	if n := lib.count(); n != 1 {
		t.Errorf("library asked %d times, want 1", n)
	}
	// not_found and source_unavailable are never cached.
	for range 2 {
		if r := ask(missing.LicenseID, nil); r.Cached || r.Outcome != contracts.LicenseOutcomeNotFound {
			t.Errorf("answer %+v, want fresh not_found", r)
		}
	}
	lib.set(func(f *fakeLibrary) { f.fail = errors.New("down") })
	other := license(t, "330702", typeBusiness, "C3", holder, contracts.LicenseStatusValid)
	ask(other.LicenseID, nil)
	lib.set(func(f *fakeLibrary) { f.fail = nil; f.records = append(f.records, other) })
	if r := ask(other.LicenseID, nil); r.Cached || r.Outcome != contracts.LicenseOutcomeValid {
		t.Errorf("after an outage %+v, want a fresh valid answer", r)
	}
	if n := lib.count(); n != 5 {
		t.Errorf("library asked %d times, want 5 (only the found license was cached)", n)
	}
	// Every call has its usage record, cached or not.
	es := e.usage(gateway.UsageQuery{Caller: winCaller})
	if len(es) != 6 {
		t.Errorf("%d usage records, want 6", len(es))
	}
	if !es[len(es)-2].Record.Cached {
		t.Errorf("the cached answer's usage record says cached=false: %+v", es[len(es)-2].Record)
	}
}

func TestVerifyLicenseBatch(t *testing.T) {
	e := newLicEnv(t, nil)
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	valid := license(t, "330702", typeBusiness, "B1", holder, contracts.LicenseStatusValid)
	revoked := license(t, "330702", typeBusiness, "B2", holder, contracts.LicenseStatusRevoked)
	national := license(t, "320404", typeBusiness, "B3", holder, contracts.LicenseStatusValid)
	e.libs[libWucheng].set(func(f *fakeLibrary) { f.records = []contracts.LicenseRecord{valid, revoked} })
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	e.libs[libNational].set(func(f *fakeLibrary) { f.records = []contracts.LicenseRecord{national}; f.hang = hang })
	b := contracts.BatchVerifyRequest{Purpose: "企业开办", CaseID: "case-9", Items: []contracts.LicenseVerifyRequest{
		{LicenseID: valid.LicenseID},
		{LicenseID: "1.2.156.3005.2.BAD"},
		{LicenseID: revoked.LicenseID, Purpose: "变更登记"},
		{LicenseID: national.LicenseID}, // its library hangs: source_unavailable, the others unaffected
	}}
	ans, err := e.core.Licenses.VerifyLicenseBatch(e.ctx, e.inbound(winCaller, b))
	if err != nil {
		t.Fatal(err)
	}
	var out contracts.BatchVerifyResult
	e.decodeSigned(ans, &out)
	if len(out.Results) != 4 {
		t.Fatalf("%d results, want 4", len(out.Results))
	}
	want := []contracts.LicenseOutcome{contracts.LicenseOutcomeValid, "", contracts.LicenseOutcomeRevoked, contracts.LicenseOutcomeSourceUnavailable}
	for i, r := range out.Results {
		if r.Index != i {
			t.Errorf("results[%d].index = %d", i, r.Index)
		}
		switch {
		case want[i] == "":
			if r.Error == nil || r.Error.Code != contracts.CodeInvalidLicenseID || r.Result != nil {
				t.Errorf("results[%d] = %+v, want error invalid_license_id", i, r)
			}
		case r.Result == nil || r.Result.Outcome != want[i]:
			t.Errorf("results[%d] = %+v, want outcome %s", i, r, want[i])
		}
	}
	es := e.usage(gateway.UsageQuery{Caller: winCaller})
	if len(es) != 4 {
		t.Fatalf("%d usage records, want one per item (4)", len(es))
	}
	purposes := map[string]int{}
	for _, u := range es {
		purposes[u.Record.Purpose]++
		if u.Record.CaseID != "case-9" {
			t.Errorf("usage record %+v lacks the batch's case id", u.Record)
		}
	}
	if purposes["企业开办"] != 3 || purposes["变更登记"] != 1 {
		t.Errorf("purposes %v: items take the batch's unless they have their own", purposes)
	}

	// Whole-batch refusals.
	for _, tt := range []struct {
		name string
		b    contracts.BatchVerifyRequest
		want contracts.Code
	}{
		{"empty", contracts.BatchVerifyRequest{Purpose: "x"}, contracts.CodeValidationFailed},
		{"too many", contracts.BatchVerifyRequest{Purpose: "x", Items: make([]contracts.LicenseVerifyRequest, 101)}, contracts.CodeValidationFailed},
		{"no purpose", contracts.BatchVerifyRequest{Items: []contracts.LicenseVerifyRequest{{LicenseID: valid.LicenseID}}}, contracts.CodeValidationFailed},
	} {
		_, err := e.core.Licenses.VerifyLicenseBatch(e.ctx, e.inbound(winCaller, tt.b))
		if gateway.CodeOf(err) != tt.want {
			t.Errorf("%s: error %v, want %s", tt.name, err, tt.want)
		}
	}
}

func TestListUsageVisibilityAndPages(t *testing.T) {
	e := newLicEnv(t, nil)
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	rec := license(t, "330702", typeBusiness, "L1", holder, contracts.LicenseStatusValid)
	e.libs[libWucheng].set(func(f *fakeLibrary) { f.records = []contracts.LicenseRecord{rec} })
	for i := range 5 {
		caller := winCaller
		if i%2 == 1 {
			caller = zlSystem
		}
		e.clock.Advance(time.Second)
		if _, err := e.verify(caller, contracts.LicenseVerifyRequest{LicenseID: rec.LicenseID, Purpose: fmt.Sprint("p", i)}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(caller string, f licenses.UsageFilter) *contracts.UsageRecordPage {
		t.Helper()
		page, err := e.core.Licenses.ListUsage(e.ctx, gateway.Principal{Partner: e.dir.Get(caller)}, f)
		if err != nil {
			t.Fatalf("ListUsage as %s: %v", caller, err)
		}
		return page
	}
	// Auditors see all, newest first, in pages.
	var all []string
	f := licenses.UsageFilter{Limit: 2}
	for range 10 {
		page := list(auditCaller, f)
		for _, r := range page.Records {
			all = append(all, r.Purpose)
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	if want := []string{"p4", "p3", "p2", "p1", "p0"}; !slices.Equal(all, want) {
		t.Errorf("auditor pages give %v, want %v", all, want)
	}
	if n := len(list(winCaller, licenses.UsageFilter{}).Records); n != 3 {
		t.Errorf("window sees %d records, want its own 3", n)
	}
	if n := len(list(zlSystem, licenses.UsageFilter{}).Records); n != 2 {
		t.Errorf("partner sees %d records, want its own 2", n)
	}
	if n := len(list(libWucheng, licenses.UsageFilter{}).Records); n != 5 {
		t.Errorf("the issuing library sees %d records, want all 5 of its license", n)
	}
	if n := len(list(auditCaller, licenses.UsageFilter{HolderID: holder.IDNumber, From: t0.Add(2 * time.Second), To: t0.Add(4 * time.Second)}).Records); n != 2 {
		t.Errorf("holder + time range gives %d records, want 2", n)
	}
	_, err := e.core.Licenses.ListUsage(e.ctx, gateway.Principal{Partner: e.dir.Get(opsCaller)}, licenses.UsageFilter{})
	wantCode(t, err, contracts.CodeForbidden)
	for _, r := range list(auditCaller, licenses.UsageFilter{}).Records {
		if strings.Contains(fmt.Sprint(r), holder.IDNumber) {
			t.Errorf("a usage record shows the full holder id: %+v", r)
		}
	}
}

// decodeStrictJSON decodes one JSON value, refusing unknown fields.
func decodeStrictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
