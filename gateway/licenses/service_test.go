package licenses_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/licenses"
)

const (
	libPull   = "lib-330702" // pulls its deliveries from its mailbox
	libPush   = "lib-320404" // takes them pushed
	winCaller = "win-330702"
	winKey    = "win-key"
)

var now = time.Date(2026, 3, 14, 2, 0, 0, 0, time.UTC)

// env is a license Service over fakes: a window of 330702, a pulling
// library holding 330702's licenses and a pushing one holding 320404's.
type env struct {
	t      *testing.T
	svc    *licenses.Service
	store  *fakeStore
	crypto fakeCrypto
	rec    *fakeRecorder
	meter  *fakeMeter
	dir    *gateway.Directory
	libs   map[string]*fakeLibrary
	wakes  int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, gateway.CircuitPolicy{}, 0)
}

// newEnvWith is newEnv with a breaker per library (circuit) and the
// libraries' lookup timeout (0: the default).
func newEnvWith(t *testing.T, circuit gateway.CircuitPolicy, timeout time.Duration) *env {
	t.Helper()
	e := &env{t: t, store: &fakeStore{cases: map[string]*gateway.Case{
		"case-mine":    {ID: "case-mine", FromRegion: "330702", ToRegion: "320404"},
		"case-foreign": {ID: "case-foreign", FromRegion: "110101", ToRegion: "120101"},
	}}, crypto: fakeCrypto{keys: map[string]string{winKey: winCaller}}, rec: &fakeRecorder{}, meter: &fakeMeter{},
		libs: map[string]*fakeLibrary{libPull: {}, libPush: {}}}
	var err error
	e.dir, err = gateway.NewDirectory([]*gateway.Partner{
		{ID: winCaller, Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{"330702"}},
		{ID: libPull, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"330702"}, Mailbox: &gateway.MailboxPolicy{},
			Library: &gateway.Library{Regions: []string{"330702"}, Source: e.libs[libPull], Usage: e.libs[libPull], Timeout: timeout}},
		{ID: libPush, Roles: []contracts.Role{contracts.RolePartner},
			Library: &gateway.Library{Regions: []string{"320404"}, Source: e.libs[libPush], Usage: e.libs[libPush]}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = licenses.New(licenses.Options{
		Store: e.store, Crypto: e.crypto, Directory: e.dir, Env: gateway.Env{Clock: fixedClock{now}, Recorder: e.rec,
			Telemetry: gateway.Telemetry{Metrics: fakeMeterProvider{m: e.meter}}, Wake: func() { e.wakes++ }},
		Circuit: circuit,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// inbound is body signed by the window (or not, when sig is nil).
func (e *env) inbound(v any, sign func(body []byte) []byte) gateway.Inbound {
	e.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return gateway.Inbound{Caller: gateway.Principal{Partner: e.dir.Get(winCaller), Subject: "clerk-7", TokenID: "jti-1", KeyID: winKey},
		Body: body, Signature: sign(body), KeyID: winKey, TraceID: "trace-1"}
}

func TestVerifyLicenseRecordsUsage(t *testing.T) {
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	valid := license(t, "330702", typeBusiness, "A1", holder, contracts.LicenseStatusValid)
	revoked := license(t, "320404", typeFood, "B1", holder, contracts.LicenseStatusRevoked)
	missing := license(t, "330702", typeBusiness, "Z9", holder, contracts.LicenseStatusValid)
	good := fakeCrypto{}.sign
	forged := func([]byte) []byte { return []byte("forged") }
	req := func(lic contracts.LicenseRecord, caseID string) contracts.LicenseVerifyRequest {
		return contracts.LicenseVerifyRequest{LicenseID: lic.LicenseID, Purpose: "办理开办企业", CaseID: caseID}
	}
	tests := []struct {
		name        string
		req         contracts.LicenseVerifyRequest
		sign        func([]byte) []byte
		keyID       string // "" = winKey
		wantCode    contracts.Code
		wantOutcome contracts.LicenseOutcome
		wantLibrary string // of the entry and the delivery; "" = no delivery
		wantPull    bool
		wantLookups int
		wantCase    string // caseID handed to the recorder
		wantRef     string // caseRef handed to the recorder
		wantCounted string
	}{
		{name: "valid, library pulls", req: req(valid, ""), sign: good, wantOutcome: contracts.LicenseOutcomeValid,
			wantLibrary: libPull, wantPull: true, wantLookups: 1, wantCounted: "cached=false outcome=valid"},
		{name: "revoked, library pushed to", req: req(revoked, ""), sign: good, wantOutcome: contracts.LicenseOutcomeRevoked,
			wantLibrary: libPush, wantPull: false, wantLookups: 1, wantCounted: "cached=false outcome=revoked"},
		{name: "not found", req: req(missing, ""), sign: good, wantOutcome: contracts.LicenseOutcomeNotFound,
			wantLibrary: libPull, wantPull: true, wantLookups: 1, wantCounted: "cached=false outcome=not_found"},
		{name: "a case the caller may read joins its chain", req: req(valid, "case-mine"), sign: good, wantOutcome: contracts.LicenseOutcomeValid,
			wantLibrary: libPull, wantPull: true, wantLookups: 1, wantCase: "case-mine", wantCounted: "cached=false outcome=valid"},
		{name: "a case the caller may not read is only named", req: req(valid, "case-foreign"), sign: good, wantOutcome: contracts.LicenseOutcomeValid,
			wantLibrary: libPull, wantPull: true, wantLookups: 1, wantRef: "case-foreign", wantCounted: "cached=false outcome=valid"},
		// The body of a request whose signature fails is not read: it names no case.
		{name: "bad signature is refused and recorded", req: req(valid, "case-mine"), sign: forged, wantCode: contracts.CodeBadSignature,
			wantCounted: "cached=false outcome=refused:bad_signature"},
		{name: "unknown key is refused and recorded", req: req(valid, ""), sign: good, keyID: "stolen", wantCode: contracts.CodeUnknownKey,
			wantCounted: "cached=false outcome=refused:unknown_key"},
		{name: "invalid request is refused and recorded", req: contracts.LicenseVerifyRequest{LicenseID: valid.LicenseID, CaseID: "case-mine"}, sign: good,
			wantCode: contracts.CodeValidationFailed, wantRef: "case-mine", wantCounted: "cached=false outcome=refused:validation_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.libs[libPull].records = []contracts.LicenseRecord{valid}
			e.libs[libPush].records = []contracts.LicenseRecord{revoked}
			in := e.inbound(tt.req, tt.sign)
			if tt.keyID != "" {
				in.KeyID = tt.keyID
			}
			ans, err := e.svc.VerifyLicense(context.Background(), in)

			// What the caller gets.
			var result contracts.LicenseVerifyResult
			if tt.wantCode != "" {
				if ge := (*gateway.Error)(nil); !errors.As(err, &ge) || ge.Code != tt.wantCode {
					t.Fatalf("VerifyLicense: %v, want %s", err, tt.wantCode)
				}
			} else {
				if err != nil {
					t.Fatalf("VerifyLicense: %v", err)
				}
				if string(ans.Signature) != "gw:"+e.crypto.SM3Hex(ans.Body) || ans.KeyID != "gw-key" {
					t.Errorf("answer is not signed by the gateway: %q %s", ans.Signature, ans.KeyID)
				}
				if err := json.Unmarshal(ans.Body, &result); err != nil {
					t.Fatal(err)
				}
				if result.Outcome != tt.wantOutcome {
					t.Errorf("outcome %s, want %s", result.Outcome, tt.wantOutcome)
				}
			}

			// One write: one usage entry, with its evidence.
			if e.store.writes != 1 || len(e.store.entries) != 1 {
				t.Fatalf("%d writes of %d entries, want 1 write of 1", e.store.writes, len(e.store.entries))
			}
			got := e.store.entries[0]
			r := got.Record
			if r.Outcome != tt.wantOutcome || r.ErrorCode != tt.wantCode {
				t.Errorf("usage record outcome %q error %q, want %q %q", r.Outcome, r.ErrorCode, tt.wantOutcome, tt.wantCode)
			}
			if r.Caller != winCaller || r.WindowID != winCaller || r.OperatorID != "clerk-7" || !r.CheckedAt.Equal(now) || got.Subject != "clerk-7" {
				t.Errorf("usage record names %s/%s/%s at %s (subject %s), want the window, its clerk and now", r.Caller, r.WindowID, r.OperatorID, r.CheckedAt, got.Subject)
			}
			if tt.wantCode == "" && (r.UsageRecordID != result.UsageRecordID || got.Library != tt.wantLibrary) {
				t.Errorf("usage record %s of library %q, answer names %s and library %s", r.UsageRecordID, got.Library, result.UsageRecordID, tt.wantLibrary)
			}
			if n := e.libs[libPull].count() + e.libs[libPush].count(); n != tt.wantLookups {
				t.Errorf("%d lookups, want %d", n, tt.wantLookups)
			}

			// The delivery to the issuing library, Pull from the directory.
			wantDeliveries, wantWakes := 0, 0
			if tt.wantLibrary != "" {
				wantDeliveries, wantWakes = 1, 1
			}
			if len(e.store.deliveries) != wantDeliveries || e.wakes != wantWakes {
				t.Fatalf("%d deliveries and %d wakes, want %d and %d", len(e.store.deliveries), e.wakes, wantDeliveries, wantWakes)
			}
			if wantDeliveries == 1 {
				d := e.store.deliveries[0]
				if d.Partner != tt.wantLibrary || d.Pull != tt.wantPull || d.Pull != e.dir.Pulls(d.Partner) ||
					d.Kind != contracts.DeliveryKindUsageRecord || d.State != contracts.TransportStatePending || d.CaseID != "" {
					t.Errorf("delivery to %s pull=%v kind %s state %s case %q, want to %s pull=%v, a pending usage record of no case",
						d.Partner, d.Pull, d.Kind, d.State, d.CaseID, tt.wantLibrary, tt.wantPull)
				}
				var p contracts.UsageRecordDelivery
				if err := json.Unmarshal(d.Payload, &p); err != nil || p.DeliveryID != d.ID || p.ExchangeID != d.ExchangeID || p.Record.UsageRecordID != r.UsageRecordID {
					t.Errorf("payload %+v (%v) does not carry the usage record %s of delivery %s", p, err, r.UsageRecordID, d.ID)
				}
			}

			// The recorder's records go into the same write.
			if len(e.rec.calls) != 1 {
				t.Fatalf("recorder asked %d times, want once", len(e.rec.calls))
			}
			c := e.rec.calls[0]
			if c.entry.Record != r || (c.delivery == nil) != (wantDeliveries == 0) || c.caseID != tt.wantCase || c.caseRef != tt.wantRef {
				t.Errorf("recorder asked for %+v delivery=%v case %q ref %q, want the stored entry, case %q ref %q",
					c.entry.Record, c.delivery != nil, c.caseID, c.caseRef, tt.wantCase, tt.wantRef)
			}
			if len(e.store.evidence) != 1+wantDeliveries {
				t.Errorf("%d evidence records stored, want %d", len(e.store.evidence), 1+wantDeliveries)
			}

			// Counted once, by outcome.
			if want := "tongban.license.verifications " + tt.wantCounted; e.meter.counts[want] != 1 || len(e.meter.counts) != 1 {
				t.Errorf("counted %v, want %q once", e.meter.counts, want)
			}
		})
	}
}

func TestNewMakesTheVerificationsCounter(t *testing.T) {
	e := newEnv(t)
	want := "tongban.license.verifications|{verification}|License verifications by outcome (valid, expired, revoked, mismatch, not_found, ...) and whether the answer was cached."
	if len(e.meter.made) != 1 || e.meter.made[0] != want {
		t.Errorf("instruments made: %q, want %q", e.meter.made, want)
	}
}

func TestNewRefusesMissingPorts(t *testing.T) {
	e := newEnv(t)
	full := licenses.Options{Store: e.store, Crypto: e.crypto, Directory: e.dir}
	tests := []struct {
		name string
		drop func(o *licenses.Options)
	}{
		{"no store", func(o *licenses.Options) { o.Store = nil }},
		{"no crypto", func(o *licenses.Options) { o.Crypto = nil }},
		{"no directory", func(o *licenses.Options) { o.Directory = nil }},
	}
	for _, tt := range tests {
		o := full
		tt.drop(&o)
		if _, err := licenses.New(o); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	if _, err := licenses.New(full); err != nil {
		t.Errorf("New with every port: %v", err)
	}
}

func TestVerifyLicenseBatchOneWrite(t *testing.T) {
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	valid := license(t, "330702", typeBusiness, "A1", holder, contracts.LicenseStatusValid)
	revoked := license(t, "320404", typeFood, "B1", holder, contracts.LicenseStatusRevoked)
	e := newEnv(t)
	e.libs[libPull].records = []contracts.LicenseRecord{valid}
	e.libs[libPush].records = []contracts.LicenseRecord{revoked}
	b := contracts.BatchVerifyRequest{Purpose: "办理开办企业", CaseID: "case-mine", Items: []contracts.LicenseVerifyRequest{
		{LicenseID: valid.LicenseID}, {LicenseID: "not-a-license-id"}, {LicenseID: revoked.LicenseID, CaseID: "case-foreign"},
	}}
	ans, err := e.svc.VerifyLicenseBatch(context.Background(), e.inbound(b, fakeCrypto{}.sign))
	if err != nil {
		t.Fatal(err)
	}
	var out contracts.BatchVerifyResult
	if err := json.Unmarshal(ans.Body, &out); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		outcome contracts.LicenseOutcome
		code    contracts.Code
		pull    bool
		caseID  string
		ref     string
	}{
		{outcome: contracts.LicenseOutcomeValid, pull: true, caseID: "case-mine"},
		{code: contracts.CodeInvalidLicenseID, ref: "case-mine"},
		{outcome: contracts.LicenseOutcomeRevoked, ref: "case-foreign"},
	}
	if e.store.writes != 1 || len(e.store.entries) != len(tests) || len(out.Results) != len(tests) || e.wakes != 1 {
		t.Fatalf("%d writes, %d entries, %d results, %d wakes; want 1, 3, 3, 1", e.store.writes, len(e.store.entries), len(out.Results), e.wakes)
	}
	for i, tt := range tests {
		r, res, c := e.store.entries[i].Record, out.Results[i], e.rec.calls[i]
		if r.Outcome != tt.outcome || r.ErrorCode != tt.code || r.Purpose != b.Purpose {
			t.Errorf("item %d: recorded %q %q purpose %q, want %q %q %q", i, r.Outcome, r.ErrorCode, r.Purpose, tt.outcome, tt.code, b.Purpose)
		}
		if res.Index != i || (tt.code == "") != (res.Result != nil) || (tt.code != "") != (res.Error != nil && res.Error.Code == tt.code) {
			t.Errorf("item %d: answered %+v", i, res)
		}
		if (tt.code == "") != (c.delivery != nil) || c.delivery != nil && c.delivery.Pull != tt.pull || c.caseID != tt.caseID || c.caseRef != tt.ref {
			t.Errorf("item %d: recorder asked for delivery=%v case %q ref %q, want pull=%v case %q ref %q", i, c.delivery != nil, c.caseID, c.caseRef, tt.pull, tt.caseID, tt.ref)
		}
	}
	if e.store.caseReads != 2 {
		t.Errorf("%d case reads, want 2 (each case once, none for the refused item)", e.store.caseReads)
	}
}

func TestListUsagePages(t *testing.T) {
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	valid := license(t, "330702", typeBusiness, "A1", holder, contracts.LicenseStatusValid)
	e := newEnv(t)
	e.libs[libPull].records = []contracts.LicenseRecord{valid}
	for range 3 {
		if _, err := e.svc.VerifyLicense(context.Background(), e.inbound(contracts.LicenseVerifyRequest{LicenseID: valid.LicenseID, Purpose: "办理"}, fakeCrypto{}.sign)); err != nil {
			t.Fatal(err)
		}
	}
	window := gateway.Principal{Partner: e.dir.Get(winCaller)}
	tests := []struct {
		name      string
		p         gateway.Principal
		f         licenses.UsageFilter
		want      int
		wantNext  bool
		wantError contracts.Code
	}{
		{name: "first page", p: window, f: licenses.UsageFilter{Limit: 2}, want: 2, wantNext: true},
		{name: "everything", p: window, want: 3},
		{name: "another partner sees none", p: gateway.Principal{Partner: &gateway.Partner{ID: "other", Roles: []contracts.Role{contracts.RoleWindow}}}, want: 0},
		{name: "an operator may not read", p: gateway.Principal{Partner: &gateway.Partner{ID: "ops", Roles: []contracts.Role{contracts.RoleOperator}}}, wantError: contracts.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := e.svc.ListUsage(context.Background(), tt.p, tt.f)
			if tt.wantError != "" {
				if gateway.CodeOf(err) != tt.wantError {
					t.Fatalf("ListUsage: %v, want %s", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Records) != tt.want || (page.NextCursor != "") != tt.wantNext {
				t.Fatalf("%d records, next %q; want %d, next=%v", len(page.Records), page.NextCursor, tt.want, tt.wantNext)
			}
			if tt.wantNext {
				rest, err := e.svc.ListUsage(context.Background(), tt.p, licenses.UsageFilter{Cursor: page.NextCursor})
				if err != nil || len(rest.Records) != 1 || rest.Records[0].UsageRecordID >= page.NextCursor {
					t.Errorf("next page: %+v, %v; want the one older record", rest, err)
				}
			}
		})
	}
}
