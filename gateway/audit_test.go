package gateway_test

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // "sqlite", to tamper with the store file

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/bundle"
	"github.com/tongban/tongban/gateway/cases"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/outbox"
	"github.com/tongban/tongban/signing"
)

// auditedCase runs a case through its life: the owner refuses the first
// delivery attempt (503), takes the second, accepts the case, and the
// acceptance is delivered back. It returns the case id.
func (e *env) auditedCase() string {
	e.t.Helper()
	if err := e.districts[wucheng].sim.SetFaults(partnersim.Faults{FailFirst: 1}); err != nil {
		e.t.Fatal(err)
	}
	id := e.newCase()
	e.drain() // the first attempt fails; the retry is not due yet
	e.clock.Advance(time.Hour)
	e.drain()
	if got := e.getCase(id).State; got != contracts.CaseStateForwarded {
		e.t.Fatalf("case after delivery: %s, want forwarded", got)
	}
	e.reportOK(e.update(id, contracts.CaseStateAccepted))
	e.drain()
	return id
}

// tamper runs statements on the store file directly, as someone with
// access to the disk could.
func (e *env) tamper(stmts ...string) {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.storePath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			e.t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestTraceCase(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	id := e.auditedCase()
	tr, err := e.core.Auditor.TraceCase(e.ctx, e.principal(auditor), id)
	if err != nil {
		t.Fatalf("TraceCase: %v", err)
	}
	type step struct {
		event, outcome string
		attempt        int
		signed         bool
	}
	want := []step{
		{contracts.EventCaseReceived, "received", 0, true},
		{contracts.EventDeliveryAttempt, "retry_wait", 1, false},
		{contracts.EventDeliveryAttempt, "delivered", 2, true},
		{contracts.EventStatusApplied, "accepted", 0, true},
		{contracts.EventDeliveryAttempt, "delivered", 1, true},
	}
	if tr.CaseID != id || tr.State != contracts.CaseStateAccepted || len(tr.Timeline) != len(want) {
		t.Fatalf("trace of %s: state %s, %d steps; want accepted, %d steps: %+v", id, tr.State, len(tr.Timeline), len(want), tr.Timeline)
	}
	for i, w := range want {
		s := tr.Timeline[i]
		if s.Event != w.event || s.Outcome != w.outcome || s.Attempt != w.attempt {
			t.Errorf("step %d: %s %s attempt %d; want %s %s attempt %d", i, s.Event, s.Outcome, s.Attempt, w.event, w.outcome, w.attempt)
		}
		if (s.SignatureValid != nil) != w.signed || (s.SignatureValid != nil && !*s.SignatureValid) {
			t.Errorf("step %d (%s): signature_valid %v, want a valid signature: %v", i, s.Event, s.SignatureValid, w.signed)
		}
		if i > 0 && s.Seq <= tr.Timeline[i-1].Seq {
			t.Errorf("step %d: seq %d does not follow %d", i, s.Seq, tr.Timeline[i-1].Seq)
		}
		// Attempts carry the trace of the span that stored the exchange;
		// this harness has no tracer (TestTraceIDEndToEnd has one).
		if s.TraceID == "" && s.Event != contracts.EventDeliveryAttempt {
			t.Errorf("step %d (%s): no trace id", i, s.Event)
		}
	}
	if got := tr.Timeline[0].KeyID; got != zhonglou {
		t.Errorf("submission signed by key %q, want %q", got, zhonglou)
	}
	if got := tr.Timeline[2].KeyID; got != wucheng {
		t.Errorf("acknowledgement signed by key %q, want the owner's %q", got, wucheng)
	}
	if !strings.Contains(string(tr.Timeline[1].Detail), "503") {
		t.Errorf("failed attempt's detail names no 503: %s", tr.Timeline[1].Detail)
	}

	// A body changed on disk no longer verifies.
	e.tamper(`UPDATE exchanges SET body = CAST(replace(CAST(body AS TEXT), 'ZL-2026-000123', 'ZL-2026-000124') AS BLOB) WHERE kind = 'case'`)
	tr, err = e.core.Auditor.TraceCase(e.ctx, e.principal(auditor), id)
	if err != nil {
		t.Fatalf("TraceCase: %v", err)
	}
	if v := tr.Timeline[0].SignatureValid; v == nil || *v {
		t.Errorf("submission with a changed body: signature_valid %v, want false", v)
	}

	_, err = e.core.Auditor.TraceCase(e.ctx, e.principal(window), id)
	wantCode(t, err, contracts.CodeForbidden)
	_, err = e.core.Auditor.TraceCase(e.ctx, e.principal(operator), id)
	wantCode(t, err, contracts.CodeForbidden)
	_, err = e.core.Auditor.TraceCase(e.ctx, e.principal(auditor), "no-such-case")
	wantCode(t, err, contracts.CodeNotFound)
	_, err = e.core.Auditor.TraceCase(e.ctx, e.principal(auditor), "../etc")
	if gateway.CodeOf(err) == "" || gateway.CodeOf(err) == contracts.CodeInternal {
		t.Errorf("bad case id: got %v, want a validation error", err)
	}
}

func TestSearchExchanges(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	id := e.auditedCase()
	other := e.newCase()
	aud := e.principal(auditor)

	page, err := e.core.Auditor.SearchExchanges(e.ctx, aud, evidence.ExchangeFilter{CaseID: id})
	if err != nil {
		t.Fatalf("SearchExchanges: %v", err)
	}
	if len(page.Items) != 2 || page.Items[0].Kind != contracts.ExchangeKindStatus || page.Items[1].Kind != contracts.ExchangeKindCase {
		t.Fatalf("exchanges of case %s: %+v; want its status update, then its submission", id, page.Items)
	}
	sub := page.Items[1]
	if sub.State != contracts.TransportStateDelivered || sub.Attempts != 2 || sub.Sender != zhonglou || sub.Partner != wucheng ||
		sub.FromRegion != zhonglou || sub.ToRegion != wucheng {
		t.Errorf("submission summary: %+v", sub)
	}

	// Pages of one walk every exchange, newest first.
	var seen []string
	f := evidence.ExchangeFilter{Limit: 1}
	for range 10 {
		p, err := e.core.Auditor.SearchExchanges(e.ctx, aud, f)
		if err != nil {
			t.Fatalf("SearchExchanges: %v", err)
		}
		for _, x := range p.Items {
			seen = append(seen, x.CaseID)
		}
		if p.NextCursor == "" {
			break
		}
		f.Cursor = p.NextCursor
	}
	if want := []string{other, id, id}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("pages: cases %v, want %v", seen, want)
	}

	for _, tt := range []struct {
		name string
		f    evidence.ExchangeFilter
		want contracts.Code
	}{
		{"region", evidence.ExchangeFilter{Region: "999999"}, contracts.CodeInvalidRegion},
		{"kind", evidence.ExchangeFilter{Kind: "fax"}, contracts.CodeValidationFailed},
		{"state", evidence.ExchangeFilter{State: "lost"}, contracts.CodeValidationFailed},
		{"exchange id", evidence.ExchangeFilter{ExchangeID: "not-a-uuid"}, contracts.CodeValidationFailed},
		{"cursor", evidence.ExchangeFilter{Cursor: "abc"}, contracts.CodeValidationFailed},
		{"negative cursor", evidence.ExchangeFilter{Cursor: "-5"}, contracts.CodeValidationFailed},
		{"limit", evidence.ExchangeFilter{Limit: evidence.MaxAuditPage + 1}, contracts.CodeValidationFailed},
		{"time range", evidence.ExchangeFilter{From: t0, To: t0}, contracts.CodeValidationFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.core.Auditor.SearchExchanges(e.ctx, aud, tt.f)
			wantCode(t, err, tt.want)
		})
	}
	_, err = e.core.Auditor.SearchExchanges(e.ctx, e.principal(zhonglou), evidence.ExchangeFilter{})
	wantCode(t, err, contracts.CodeForbidden)
}

func TestVerifyEvidence(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	e.auditedCase()
	cp, err := e.core.Auditor.Checkpointer().Checkpoint(e.ctx)
	if err != nil || cp == nil {
		t.Fatalf("Checkpoint: %v, %v", cp, err)
	}
	for _, who := range []string{auditor, operator} {
		res, err := e.core.Auditor.VerifyEvidence(e.ctx, e.principal(who), 0, 0)
		if err != nil {
			t.Fatalf("VerifyEvidence as %s: %v", who, err)
		}
		if !res.OK || res.Checked != cp.Seq || res.CheckpointsVerified != 1 || res.FirstBadSeq != nil {
			t.Errorf("VerifyEvidence as %s: %+v; want %d records and 1 checkpoint intact", who, res, cp.Seq)
		}
	}
	res, err := e.core.Auditor.VerifyEvidence(e.ctx, e.principal(auditor), 2, 3)
	if err != nil || !res.OK || res.From != 2 || res.To != 3 || res.Checked != 2 {
		t.Errorf("VerifyEvidence 2..3: %+v, %v", res, err)
	}
	// One call walks a bounded range; the answer says where to go on.
	short := e.withCore(t, node.Options{MaxVerifyRange: 4})
	res, err = short.Auditor.VerifyEvidence(e.ctx, e.principal(auditor), 0, 0)
	if err != nil || !res.OK || res.From != 1 || res.To != 4 || res.Checked != 4 || res.HeadSeq != cp.Seq {
		t.Errorf("bounded walk: %+v, %v; want records 1 to 4 of %d", res, err, cp.Seq)
	}
	res, err = short.Auditor.VerifyEvidence(e.ctx, e.principal(auditor), 5, 0)
	if err != nil || !res.OK || res.From != 5 || res.To != min(8, cp.Seq) {
		t.Errorf("next walk: %+v, %v; want from 5 on, at most 4 records", res, err)
	}
	_, err = e.core.Auditor.VerifyEvidence(e.ctx, e.principal(auditor), 3, 2)
	wantCode(t, err, contracts.CodeValidationFailed)
	_, err = e.core.Auditor.VerifyEvidence(e.ctx, e.principal(window), 0, 0)
	wantCode(t, err, contracts.CodeForbidden)

	// A checkpoint signed by someone else is caught.
	e.tamper(`DROP TRIGGER evidence_checkpoints_no_update`, `UPDATE evidence_checkpoints SET signature = X'3006020101020101'`)
	res, err = e.core.Auditor.VerifyEvidence(e.ctx, e.principal(auditor), 0, 0)
	if err != nil || res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != cp.Seq || !strings.Contains(res.Reason, "signature") {
		t.Errorf("VerifyEvidence with a forged checkpoint: %+v, %v; want checkpoint %d named", res, err, cp.Seq)
	}
}

func TestRecordDenialIsBounded(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	anon := evidence.Denial{Code: contracts.CodeUnauthenticated, Method: "POST", Route: "/v1/cases"}
	known := evidence.Denial{Caller: chiping, Code: contracts.CodeForbidden, Method: "GET", Route: "/v1/audit/verify"}
	records := func(from int64) []contracts.EvidenceRecord {
		t.Helper()
		var out []contracts.EvidenceRecord
		err := e.store.ScanEvidence(e.ctx, from, 0, func(r gateway.EvidenceRow) error {
			var rec contracts.EvidenceRecord
			if err := json.Unmarshal(r.Record, &rec); err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for range 200 {
		e.core.Auditor.RecordDenial(e.ctx, anon)
		e.core.Auditor.RecordDenial(e.ctx, known)
	}
	got := records(1)
	byActor := map[string]int{}
	for _, r := range got {
		byActor[r.Actor]++
	}
	if byActor["anonymous"] != 1 || byActor[chiping] != 50 {
		t.Errorf("200 anonymous and 200 authenticated denials in a second: %v records, want 1 anonymous and 50 of %s", byActor, chiping)
	}
	next := int64(len(got)) + 1

	// A second later the authenticated caller's next denial carries the
	// count; a minute later the anonymous one does.
	e.clock.Advance(time.Second)
	e.core.Auditor.RecordDenial(e.ctx, known)
	e.clock.Advance(time.Minute)
	e.core.Auditor.RecordDenial(e.ctx, anon)
	got = records(next)
	if len(got) != 2 || !strings.Contains(string(got[0].Detail), `"suppressed_before":150`) || got[0].Actor != chiping ||
		!strings.Contains(string(got[1].Detail), `"suppressed_before":199`) || got[1].Actor != "anonymous" {
		t.Fatalf("records with counts: %+v", got)
	}
	next += 2

	// Anonymous denials counted in the last window are written at stop.
	for range 3 {
		e.core.Auditor.RecordDenial(e.ctx, anon)
	}
	e.core.Auditor.FlushDenials(e.ctx)
	e.core.Auditor.FlushDenials(e.ctx) // nothing more to write
	got = records(next)
	if len(got) != 1 || !strings.Contains(string(got[0].Detail), `"suppressed_before":3`) {
		t.Errorf("flushed: %+v", got)
	}
}

// exportCase exports id's bundle as the auditor.
func (e *env) exportCase(id string) []byte {
	e.t.Helper()
	zipped, err := e.core.Auditor.ExportCase(e.ctx, e.principal(auditor), id)
	if err != nil {
		e.t.Fatalf("ExportCase: %v", err)
	}
	return zipped
}

func verifyBundle(t *testing.T, zipped []byte, o bundle.Options) *bundle.Report {
	t.Helper()
	return bundle.Verify(bytes.NewReader(zipped), int64(len(zipped)), o)
}

func TestExportCaseVerifiesOffline(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	id := e.auditedCase()
	e.newCase() // records after the case's, before the checkpoint
	zipped := e.exportCase(id)

	rep := verifyBundle(t, zipped, bundle.Options{GatewayKey: e.gwPub})
	if !rep.OK() {
		t.Fatalf("fresh bundle: %v", rep.Problems)
	}
	// Signatures: manifest, checkpoint, 2 bodies, 2 receipts, 2 acks.
	if rep.Records != 5 || rep.Checkpoint == nil || rep.Signatures != 8 || !rep.TrustedKey || rep.Manifest.CaseID != id {
		t.Errorf("report: %d records, checkpoint %v, %d signatures, trusted %v, case %s",
			rep.Records, rep.Checkpoint, rep.Signatures, rep.TrustedKey, rep.Manifest.CaseID)
	}
	if rep.ChainRecords < 2 {
		t.Errorf("chain segment of %d records; the other case's records follow the case's", rep.ChainRecords)
	}
	// Without a trusted key the bundle vouches for itself, and says so.
	if rep := verifyBundle(t, zipped, bundle.Options{}); !rep.OK() || rep.TrustedKey {
		t.Errorf("bundle key only: ok %v, trusted %v", rep.OK(), rep.TrustedKey)
	}
	// Another gateway's key is refused.
	if rep := verifyBundle(t, zipped, bundle.Options{GatewayKey: genKey(t).Public()}); rep.OK() {
		t.Error("bundle checked against another key: want a failure")
	}
	// The second export reuses the checkpoint.
	if again := verifyBundle(t, e.exportCase(id), bundle.Options{GatewayKey: e.gwPub}); !again.OK() || again.Checkpoint.Seq != rep.Checkpoint.Seq {
		t.Errorf("second export: %v, checkpoint %v", again.Problems, again.Checkpoint)
	}

	_, err := e.core.Auditor.ExportCase(e.ctx, e.principal(operator), id)
	wantCode(t, err, contracts.CodeForbidden)
	_, err = e.core.Auditor.ExportCase(e.ctx, e.principal(auditor), "no-such-case")
	wantCode(t, err, contracts.CodeNotFound)
}

func TestExportCaseFlippedByte(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	id := e.auditedCase()
	zipped := e.exportCase(id)
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) < 12 {
		t.Fatalf("bundle of %d files", len(zr.File))
	}
	for _, f := range zr.File {
		// A byte flipped in the archive, inside the file's stored data:
		// the archive is damaged there.
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(zipped)
		bad[off+int64(f.CompressedSize64)/2] ^= 0x01
		rep := verifyBundle(t, bad, bundle.Options{GatewayKey: e.gwPub})
		if rep.OK() || !strings.Contains(fmt.Sprint(rep.Problems), f.Name) {
			t.Errorf("a byte of %s flipped in the archive: problems %v; want one naming %s", f.Name, rep.Problems, f.Name)
		}

		// A byte flipped in the file itself, the archive rebuilt around
		// it (someone who knows zip): the digests show which file.
		rep = verifyBundle(t, rezip(t, zr, f.Name), bundle.Options{GatewayKey: e.gwPub})
		want := f.Name
		if f.Name == contracts.BundleManifest {
			want = contracts.BundleManifest // a changed manifest: its signature fails, or it does not parse
		}
		if rep.OK() || !strings.Contains(fmt.Sprint(rep.Problems), strings.TrimSuffix(want, ".json")) {
			t.Errorf("a byte of %s flipped: problems %v; want one naming it", f.Name, rep.Problems)
		}
	}
}

// rezip rebuilds the archive of zr with one byte of file name flipped.
func rezip(t *testing.T, zr *zip.Reader, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			data[len(data)/2] ^= 0x01
		}
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportCaseNoContext(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	id := e.newCase()
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := e.core.Auditor.ExportCase(ctx, e.principal(auditor), id); err == nil {
		t.Error("ExportCase with a cancelled context: want an error")
	}
}

// growingLog is a log that a running gateway appends to (a record and a
// checkpoint) while a verification walks it.
type growingLog struct {
	gateway.EvidenceSource
	grow func()
}

func (g growingLog) ScanEvidence(ctx context.Context, from, to int64, fn func(gateway.EvidenceRow) error) error {
	err := g.EvidenceSource.ScanEvidence(ctx, from, to, fn)
	g.grow()
	return err
}

func TestVerifyLiveLogIsNotTruncation(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	e.newCase()
	grown := false
	src := growingLog{EvidenceSource: e.store, grow: func() {
		if grown {
			return
		}
		grown = true
		e.core.Auditor.RecordDenial(e.ctx, evidence.Denial{Code: contracts.CodeForbidden, Method: "GET", Route: "/v1/audit/verify"})
		if _, err := e.core.Auditor.Checkpointer().Checkpoint(e.ctx); err != nil {
			t.Fatal(err)
		}
	}}
	v := evidence.ChainVerifier{SM3: e.gw.SM3Hex}
	res, err := v.Verify(e.ctx, src, 0, 0)
	if err != nil || !res.OK {
		t.Fatalf("a log that grew during the walk: %+v, %v; want ok (nothing was removed)", res, err)
	}
	// The same checkpoint past a head that really lost records is caught.
	e.tamper(`DROP TRIGGER evidence_no_delete`, `DELETE FROM evidence WHERE seq = (SELECT max(seq) FROM evidence)`)
	res, err = v.Verify(e.ctx, e.store, 0, 0)
	if err != nil || res.OK || !strings.Contains(res.Reason, "removed from the end") {
		t.Errorf("a log cut short: %+v, %v; want the truncation named", res, err)
	}
}

// partnerRefusal is a partner's refusal that quotes a person, as a
// mapped-json or SOAP district's message can.
type partnerRefusal struct{}

func (partnerRefusal) Error() string { return "refused: 申请人王秀英材料不全" }
func (partnerRefusal) ReasonText() string {
	return "partner answered result code E1: 申请人王秀英材料不全"
}
func (partnerRefusal) PublicReason() string      { return "partner answered result code E1" }
func (partnerRefusal) Permanent() bool           { return true }
func (partnerRefusal) RetryAfter() time.Duration { return 0 }

type refusingAdapter struct{}

func (refusingAdapter) DeliverCase(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, partnerRefusal{}
}

func TestEvidenceKeepsNoPartnerText(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	id := e.newCase()
	var ps []*gateway.Partner
	for _, pid := range []string{zhonglou, wucheng} {
		p := *e.dir.Get(pid)
		if pid == wucheng {
			p.Cases = refusingAdapter{}
		}
		ps = append(ps, &p)
	}
	dir, err := gateway.NewDirectory(ps)
	if err != nil {
		t.Fatal(err)
	}
	disp := outbox.NewDispatcher(e.store, dir, outbox.Env{Env: gateway.Env{Clock: e.clock, Recorder: evidence.Recorder{Crypto: e.gw}}, AckEffect: cases.AckEffect}, outbox.DispatcherOptions{})
	if _, err := disp.RunOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	del := e.deliveries(id)[0]
	if del.State != contracts.TransportStateDead || !strings.Contains(del.LastError, "王秀英") {
		t.Fatalf("delivery: %s %q; want dead, the partner's message kept for operators", del.State, del.LastError)
	}
	tr, err := e.core.Auditor.TraceCase(e.ctx, e.principal(auditor), id)
	if err != nil {
		t.Fatal(err)
	}
	last := tr.Timeline[len(tr.Timeline)-1]
	if last.Event != contracts.EventDeliveryAttempt || !strings.Contains(string(last.Detail), "result code E1") || strings.Contains(string(last.Detail), "王秀英") {
		t.Errorf("attempt record: %s %s; want the code without the partner's text", last.Event, last.Detail)
	}
	for _, s := range disp.PartnerStates() {
		if strings.Contains(s.LastError, "王秀英") {
			t.Errorf("partner state quotes the partner: %q", s.LastError)
		}
	}
}

func TestLicenseEvidenceJoinsOnlyReadableCases(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	id := e.newCase()
	lic := e.demoLicense(wucheng, partnersim.DemoValidCompany)
	for _, caller := range []string{zhonglou, chiping} { // the case's sender; a district with no business with it
		e.verifyAs(caller, contracts.LicenseVerifyRequest{LicenseID: lic.LicenseID, Purpose: "个体工商户设立登记", CaseID: id, WindowID: window, OperatorID: "zl-0231"})
	}
	tr, err := e.core.Auditor.TraceCase(e.ctx, e.principal(auditor), id)
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, s := range tr.Timeline {
		if s.Event == contracts.EventLicenseVerified {
			actors = append(actors, s.Actor)
		}
	}
	if len(actors) != 1 || actors[0] != zhonglou {
		t.Errorf("license verifications in case %s's chain: by %v, want only the sender's", id, actors)
	}
	// The other caller's claim is kept as a reference outside the chain.
	page, err := e.core.Auditor.SearchExchanges(e.ctx, e.principal(auditor), evidence.ExchangeFilter{Partner: chiping, Kind: contracts.ExchangeKindLicenseVerify})
	if err != nil || len(page.Items) != 1 || page.Items[0].CaseID != "" {
		t.Fatalf("chiping's verification: %+v, %v; want one, outside the case", page, err)
	}
}

// rotated returns a service over e's store whose gateway signs with a new
// key, knowing e's key as a previous one when keepOld is set.
func (e *env) rotated(t *testing.T, keepOld bool) (*node.Core, *signing.PublicKey) {
	t.Helper()
	key := genKey(t)
	o := keyring.Options{GatewayID: gatewayID, Signer: signing.NewSigner(key, nil), SignerKeyID: "gateway-2027", Clock: e.clock.Now}
	if keepOld {
		o.Previous = map[string]*signing.PublicKey{gwKeyID: e.gwPub}
	}
	kr, err := keyring.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for id, d := range e.districts {
		if err := kr.AddKey(id, id, d.key.Public()); err != nil {
			t.Fatal(err)
		}
	}
	return e.withCore(t, node.Options{Crypto: kr}), key.Public()
}

func TestGatewayKeyChange(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	id := e.auditedCase() // receipts and a checkpoint under the first key
	if _, err := e.core.Auditor.Checkpointer().Checkpoint(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.newCase() // records after the checkpoint

	svc, pub := e.rotated(t, true)
	res, err := svc.Auditor.VerifyEvidence(e.ctx, e.principal(auditor), 0, 0)
	if err != nil || !res.OK || res.CheckpointsVerified != 1 {
		t.Errorf("log verified after a key change: %+v, %v; want the old checkpoint verified with the previous key", res, err)
	}
	zipped, err := svc.Auditor.ExportCase(e.ctx, e.principal(auditor), id)
	if err != nil {
		t.Fatal(err)
	}
	rep := verifyBundle(t, zipped, bundle.Options{GatewayKey: pub})
	if !rep.OK() || rep.Checkpoint.KeyID != gwKeyID || !slices.Equal(rep.Manifest.GatewayKeys, []string{gwKeyID, "gateway-2027"}) {
		t.Errorf("bundle of a case from before the key change: %v, checkpoint key %v, gateway keys %v",
			rep.Problems, rep.Checkpoint, rep.Manifest.GatewayKeys)
	}

	// A gateway that forgot its previous key says so, not "forged".
	svc, _ = e.rotated(t, false)
	res, err = svc.Auditor.VerifyEvidence(e.ctx, e.principal(auditor), 0, 0)
	if err != nil || res.OK || !strings.Contains(res.Reason, "not one of the gateway's keys") {
		t.Errorf("log verified without the previous key: %+v, %v", res, err)
	}
}
