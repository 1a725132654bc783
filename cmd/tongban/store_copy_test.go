package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/store/postgres"
	"github.com/tongban/tongban/gateway/store/postgres/pgtest"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/signing"
)

// copyFixture is what fillStore wrote: enough to ask both stores the
// same questions.
type copyFixture struct {
	path, pub string
	cases     []string
	exchanges [][2]string // sender, exchange id
	loose     []string    // deliveries of no case (usage records')
	holder    string      // a usage record's full holder id
	partner   string      // a partner with dead letters and deliveries of every kind
}

var copyT0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// fillStore writes a store file through the store's own API with
// content of every kind: cases with their exchanges (one with a receipt
// in a partner's format) and history; deliveries pending, in flight
// (leased), retry_wait, dead, redelivered, delivered with
// acknowledgements, and pulled from a mailbox; a status exchange; usage
// records with full holder ids and their deliveries, one delivered; and
// evidence records linked by the real linker, with signed checkpoints
// along the log. It returns what was written and the gateway's public key.
func fillStore(t *testing.T) *copyFixture {
	t.Helper()
	dir := t.TempDir()
	fx := &copyFixture{path: filepath.Join(dir, "tongban.db"), pub: filepath.Join(dir, "gateway.pub"),
		holder: "11010519491231002X", partner: "330702"}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: fx.path, Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := signing.MarshalPublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fx.pub, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(keyring.Options{GatewayID: "tongban-test", Signer: signing.NewSigner(key, nil), SignerKeyID: "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	cps := evidence.NewCheckpointer(st, kr, nil, nil, evidence.CheckpointOptions{})
	checkpoint := func() {
		t.Helper()
		if _, err := cps.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rec := func(event, actor, caseID, exchangeID, deliveryID string, at time.Time) contracts.EvidenceRecord {
		return contracts.EvidenceRecord{At: at, Event: event, Actor: actor, CaseID: caseID, ExchangeID: exchangeID,
			DeliveryID: deliveryID, Partner: fx.partner, Region: "330702", Kind: contracts.ExchangeKindCase,
			TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Detail: json.RawMessage(`{"state":"received","size":42}`)}
	}

	// Six cases from 320404 to 330702; the first also goes to 330703
	// (due later: it stays pending), the fifth's partner pulls.
	type made struct {
		c  *gateway.Case
		ds []*gateway.Delivery
	}
	var all []made
	for i := range 6 {
		id := fmt.Sprintf("case-%02d", i)
		at := copyT0.Add(time.Duration(i) * time.Minute)
		c := &gateway.Case{ID: id, ExchangeID: "ex-" + id, Sender: "320404", Owner: fx.partner, FromRegion: "320404",
			ToRegion: "330702", State: contracts.CaseStateReceived, LocalCaseNo: "SJ-" + id,
			ServiceItem: contracts.ServiceItem{BasicCode: "000105002000", Name: "个体工商户设立登记", Department: "婺城区市场监督管理局"},
			CreatedAt:   at, UpdatedAt: at}
		x := &gateway.Exchange{Sender: c.Sender, ExchangeID: c.ExchangeID, Kind: gateway.ExchangeCase, CaseID: id,
			Body: []byte(`{"exchange_id":"` + c.ExchangeID + `","remark":"补正后提交"}`), BodySM3: strings.Repeat("ab", 32),
			Signature: []byte{0x30, 0x44, 0x02, 0x20, 0x00, 0xff, byte(i)}, KeyID: "320404", TraceID: fmt.Sprintf("trace-%d", i),
			ReceivedAt: at, Receipt: []byte(`{"case_id":"` + id + `","state":"received"}`), ReceiptSig: []byte{0x30, 0x45, byte(i), 0x00}}
		if i == 2 {
			x.ReceiptType, x.Receipt = "application/soap+xml", []byte(`<soap:Envelope><r>`+id+`</r></soap:Envelope>`)
		}
		partner := fx.partner
		if i == 4 {
			partner = "330781" // pulls from its mailbox
		}
		ds := []*gateway.Delivery{{ID: "dl-" + id, Kind: contracts.DeliveryKindCase, Partner: partner, ExchangeID: "dx-" + id,
			Payload: []byte(`{"case_id":"` + id + `"}`), NextAt: copyT0, CreatedAt: at, Pull: i == 4,
			TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
		if i == 0 {
			ds = append(ds, &gateway.Delivery{ID: "dl-" + id + "-b", Kind: contracts.DeliveryKindCase, Partner: "330703",
				ExchangeID: "dx-" + id + "-b", Payload: []byte(`{"case_id":"` + id + `","copy":true}`),
				NextAt: copyT0.Add(time.Hour), CreatedAt: at})
		}
		ch := gateway.Change{Case: c, Exchange: x, Enqueue: ds,
			Status:   &gateway.Status{CaseID: id, State: contracts.CaseStateReceived, At: at, ExchangeID: c.ExchangeID, ReportedBy: "320404", Note: "收件"},
			Evidence: []contracts.EvidenceRecord{rec(contracts.EventCaseReceived, "320404", id, c.ExchangeID, ds[0].ID, at)}}
		if err := st.CreateCase(ctx, ch); err != nil {
			t.Fatal(err)
		}
		all = append(all, made{c, ds})
		fx.cases = append(fx.cases, id)
		fx.exchanges = append(fx.exchanges, [2]string{c.Sender, c.ExchangeID})
	}
	checkpoint()

	// The dispatcher claims the pushed deliveries due at copyT0.
	claimed, err := st.ClaimDue(ctx, copyT0, 5*time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*gateway.Delivery{}
	for _, d := range claimed {
		byID[d.ID] = d
	}
	if len(claimed) != 5 {
		t.Fatalf("claimed %d deliveries, want 5", len(claimed))
	}
	attempt := func(id string, state contracts.TransportState) {
		t.Helper()
		d := *byID[id]
		d.State, d.Attempts, d.NextAt, d.LastError = state, 1, copyT0.Add(2*time.Minute), "partner answered 503"
		if err := st.SaveAttempt(ctx, &d, rec(contracts.EventDeliveryAttempt, "gateway", d.CaseID, "", d.ID, copyT0.Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	attempt("dl-case-01", contracts.TransportStateRetryWait)
	attempt("dl-case-02", contracts.TransportStateDead)
	attempt("dl-case-03", contracts.TransportStateDead)
	// dl-case-05 stays in flight under its lease.

	// case-00's delivery is acknowledged: the case is forwarded.
	c0, err := st.GetCase(ctx, "case-00")
	if err != nil {
		t.Fatal(err)
	}
	done := *byID["dl-case-00"]
	at := copyT0.Add(90 * time.Second)
	done.State, done.Attempts, done.DeliveredAt = contracts.TransportStateDelivered, 1, at
	done.Ack = &contracts.Ack{ExchangeID: done.ExchangeID, DeliveryID: done.ID, PartnerCaseNo: "WC-2026-0001",
		AcknowledgedAt: at.In(time.FixedZone("CST", 8*3600)), BodySM3: strings.Repeat("cd", 32), KeyID: fx.partner}
	done.AckBody, done.AckSig = []byte(`{"partner_case_no":"WC-2026-0001"}`), []byte{0x30, 0x46, 0x02, 0x21, 0x00, 0xfe}
	c0.State, c0.OwnerCaseNo, c0.UpdatedAt = contracts.CaseStateForwarded, "WC-2026-0001", at
	if err := st.UpdateCase(ctx, gateway.Change{Case: c0, Delivered: &done,
		Status:   &gateway.Status{CaseID: c0.ID, State: contracts.CaseStateForwarded, At: at, ReportedBy: "gateway"},
		Evidence: []contracts.EvidenceRecord{rec(contracts.EventDeliveryAttempt, "gateway", c0.ID, "", done.ID, at)}}); err != nil {
		t.Fatal(err)
	}
	// The owner reports case-00 accepted: a status exchange, a status
	// delivery back to the sender.
	c0, _ = st.GetCase(ctx, "case-00")
	at = copyT0.Add(3 * time.Minute)
	c0.State, c0.Outcome, c0.UpdatedAt = contracts.CaseStateConcluded, contracts.OutcomeApproved, at
	sx := &gateway.Exchange{Sender: fx.partner, ExchangeID: "st-case-00", Kind: gateway.ExchangeStatus, CaseID: c0.ID,
		Body: []byte(`{"state":"concluded","outcome":"approved"}`), BodySM3: strings.Repeat("ef", 32), Signature: []byte{0x30, 0x01},
		KeyID: fx.partner, ReceivedAt: at, Receipt: []byte(`{"ok":true}`), ReceiptSig: []byte{0x30, 0x02}}
	if err := st.UpdateCase(ctx, gateway.Change{Case: c0, Exchange: sx,
		Status: &gateway.Status{CaseID: c0.ID, State: contracts.CaseStateConcluded, Outcome: contracts.OutcomeApproved, At: at,
			ExchangeID: sx.ExchangeID, ReportedBy: fx.partner, Reason: "材料齐全", Note: "准予许可"},
		Enqueue: []*gateway.Delivery{{ID: "dl-case-00-status", Kind: contracts.DeliveryKindStatus, Partner: "320404",
			ExchangeID: "dx-case-00-status", Payload: []byte(`{"state":"concluded"}`), NextAt: at.Add(time.Hour), CreatedAt: at}},
		Evidence: []contracts.EvidenceRecord{rec(contracts.EventStatusApplied, fx.partner, c0.ID, sx.ExchangeID, "dl-case-00-status", at)}}); err != nil {
		t.Fatal(err)
	}
	fx.exchanges = append(fx.exchanges, [2]string{sx.Sender, sx.ExchangeID})

	// An operator redelivers one dead letter (its series restarts).
	if err := st.Redeliver(ctx, "dl-case-03", copyT0.Add(4*time.Minute),
		rec(contracts.EventAdminRedeliver, "operator-1", "case-03", "", "dl-case-03", copyT0.Add(4*time.Minute))); err != nil {
		t.Fatal(err)
	}
	// The pulling partner takes its message from its mailbox.
	if err := st.SetPullPartners(ctx, []string{"330781"}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ClaimMailbox(ctx, gateway.MailboxClaim{Partner: "330781", Now: copyT0.Add(5 * time.Minute),
		Visibility: time.Minute, Limit: 1, Reoffer: "offered again"}); err != nil || len(got) != 1 {
		t.Fatalf("ClaimMailbox: %d, %v", len(got), err)
	}
	checkpoint()

	// Usage records, with their deliveries to the issuer; one delivered.
	var entries []gateway.UsageEntry
	var uds []*gateway.Delivery
	for i := range 3 {
		at := copyT0.Add(time.Duration(10+i) * time.Minute)
		u := gateway.UsageEntry{Record: contracts.UsageRecord{UsageRecordID: fmt.Sprintf("ur-%03d", i), Caller: "320404",
			WindowID: "window-320404", OperatorID: "clerk-07", Purpose: "核验营业执照", CaseID: "case-00",
			LicenseID: fmt.Sprintf("1.2.156.3005.2.11100000000000127001.%03d", i), LicenseTypeCode: "11100000000000127001",
			HolderIDMasked: "110105********002X", Outcome: contracts.LicenseOutcomeValid, SourceRegion: "330702",
			CheckedAt: at, Cached: i == 1},
			HolderType: "111", HolderID: fx.holder, Library: fx.partner, Subject: "clerk-07"}
		if i == 2 {
			u.Record.Outcome, u.Record.ErrorCode, u.HolderID = contracts.LicenseOutcomeNotFound, "LICENSE_NOT_FOUND", "91330702MA2D4N8Q6L"
		}
		entries = append(entries, u)
		uds = append(uds, &gateway.Delivery{ID: fmt.Sprintf("dl-ur-%03d", i), Kind: contracts.DeliveryKindUsageRecord,
			Partner: "330799", ExchangeID: fmt.Sprintf("dx-ur-%03d", i), NextAt: copyT0.Add(-time.Hour), CreatedAt: at,
			Payload: []byte(`{"record":{"usage_record_id":"` + u.Record.UsageRecordID + `"}}`)})
		fx.loose = append(fx.loose, uds[i].ID)
	}
	ev := rec(contracts.EventUsageRecorded, "320404", "", "", "dl-ur-000", copyT0.Add(12*time.Minute))
	ev.Kind = contracts.ExchangeKindUsageRecord
	if err := st.AddUsage(ctx, entries, uds, ev); err != nil {
		t.Fatal(err)
	}
	ud, err := st.ClaimDue(ctx, copyT0.Add(20*time.Minute), time.Minute, 1)
	if err != nil || len(ud) != 1 || ud[0].ID != "dl-ur-000" {
		t.Fatalf("claim a usage delivery: %v, %v", ud, err)
	}
	udone := *ud[0]
	udone.State, udone.Attempts, udone.DeliveredAt = contracts.TransportStateDelivered, 1, copyT0.Add(21*time.Minute)
	udone.Ack = &contracts.Ack{ExchangeID: udone.ExchangeID, DeliveryID: udone.ID, AcknowledgedAt: udone.DeliveredAt, BodySM3: strings.Repeat("01", 32), KeyID: "330799"}
	udone.AckBody, udone.AckSig = []byte(`{"received":true}`), []byte{0x30, 0x03}
	if err := st.MarkDelivered(ctx, &udone, nil, rec(contracts.EventDeliveryAttempt, "gateway", "", "", udone.ID, udone.DeliveredAt)); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // records of no step, a gateway.started among them
		if err := st.AppendEvidence(ctx, rec(contracts.EventGatewayStarted, "gateway", "", "", "", copyT0.Add(time.Duration(30+i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint()
	return fx
}

// fileState is a file's bytes' SHA-256 and the names in its directory.
func fileState(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return fmt.Sprintf("%x %v", sha256.Sum256(b), names)
}

// headOf returns "head seq N, hash H" from tongban audit verify's output.
func headOf(t *testing.T, out string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "head seq ")
	if !ok {
		t.Fatalf("no head in %q", out)
	}
	head, _, _ := strings.Cut(rest, "\n")
	return "head seq " + head
}

// sameJSON fails unless got and want encode to the same JSON: byte
// slices, nil and empty told apart, times with their offsets.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\ncopy %s\nfile %s", what, g, w)
	}
}

// openTarget opens the copy in schema as the gateway would.
func openTarget(t *testing.T, schema string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), postgres.Options{DSN: pgtest.DSN(), Schema: schema,
		Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestStoreCopy: a store file with content of every kind, copied into a
// fresh schema, verifies there with the file's head; every answer of the
// copy equals the file's; new writes continue the chain and the delivery
// sequence; the file is not changed by a byte.
func TestStoreCopy(t *testing.T) {
	schema := pgtest.FreshSchema(t)
	fx := fillStore(t)
	before := fileState(t, fx.path)
	dir := t.TempDir()

	r := must(t, runIn(t, dir, "", "store", "copy", "--from", fx.path, "--to", pgtest.DSN(), "--schema", schema))
	t.Logf("tongban store copy:\n%s%s", r.stderr, r.stdout)
	for _, want := range []string{"OK: the copy holds everything the file does", "head seq ",
		fmt.Sprintf("  %-22s %d\n", "evidence_checkpoints", 3), fmt.Sprintf("  %-22s %d\n", "usage_records", 3),
		fmt.Sprintf("  %-22s %d\n", "deliveries", 11), fmt.Sprintf("  %-22s %d\n", "delivery_acks", 2)} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("copy's summary lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"copied cases:", "copied evidence:", "committed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("copy's progress lacks %q:\n%s", want, r.stderr)
		}
	}
	if after := fileState(t, fx.path); after != before {
		t.Errorf("the source changed:\nbefore %s\nafter  %s", before, after)
	}

	// The auditor's tool finds the same intact log, signatures checked.
	src := must(t, runIn(t, dir, "", "audit", "verify", "--store", fx.path, "--gateway-pub", fx.pub))
	dst := must(t, runIn(t, dir, "", "audit", "verify", "--store", pgtest.DSN(), "--schema", schema, "--gateway-pub", fx.pub))
	if !strings.Contains(dst.stdout, "OK: every record and checkpoint verifies") || headOf(t, dst.stdout) != headOf(t, src.stdout) ||
		!strings.Contains(r.stdout, headOf(t, src.stdout)) {
		t.Errorf("copy's log:\n%s\nfile's:\n%s", dst.stdout, src.stdout)
	}

	// Every answer of the copy is the file's (read from a backup of it:
	// the store takes the file's lock and would migrate it).
	ctx := context.Background()
	bak := filepath.Join(t.TempDir(), "backup.db")
	if err := sqlite.Backup(ctx, fx.path, bak); err != nil {
		t.Fatal(err)
	}
	file, err := sqlite.Open(ctx, sqlite.Options{Path: bak})
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	cp := openTarget(t, schema)
	var maxSeq int64
	for _, id := range fx.cases {
		gc, err1 := cp.GetCase(ctx, id)
		wc, err2 := file.GetCase(ctx, id)
		if err1 != nil || err2 != nil {
			t.Fatalf("GetCase(%s): copy %v, file %v", id, err1, err2)
		}
		sameJSON(t, "GetCase "+id, gc, wc)
		gh, err1 := cp.History(ctx, id)
		wh, err2 := file.History(ctx, id)
		if err1 != nil || err2 != nil {
			t.Fatalf("History(%s): copy %v, file %v", id, err1, err2)
		}
		sameJSON(t, "History "+id, gh, wh)
		gd, err1 := cp.Deliveries(ctx, id)
		wd, err2 := file.Deliveries(ctx, id)
		if err1 != nil || err2 != nil || len(wd) == 0 {
			t.Fatalf("Deliveries(%s): copy %v, file %d, %v", id, err1, len(wd), err2)
		}
		sameJSON(t, "Deliveries "+id, gd, wd)
		for _, d := range wd {
			maxSeq = max(maxSeq, d.Seq)
		}
		ge, err1 := cp.CaseEvidence(ctx, id)
		we, err2 := file.CaseEvidence(ctx, id)
		if err1 != nil || err2 != nil {
			t.Fatalf("CaseEvidence(%s): copy %v, file %v", id, err1, err2)
		}
		sameJSON(t, "CaseEvidence "+id, ge, we)
	}
	for _, x := range fx.exchanges {
		gx, err1 := cp.GetExchange(ctx, x[0], x[1])
		wx, err2 := file.GetExchange(ctx, x[0], x[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("GetExchange(%s, %s): copy %v, file %v", x[0], x[1], err1, err2)
		}
		sameJSON(t, "GetExchange "+x[1], gx, wx)
	}
	for _, id := range fx.loose {
		gd, err1 := cp.GetDelivery(ctx, id)
		wd, err2 := file.GetDelivery(ctx, id)
		if err1 != nil || err2 != nil {
			t.Fatalf("GetDelivery(%s): copy %v, file %v", id, err1, err2)
		}
		sameJSON(t, "GetDelivery "+id, gd, wd)
		maxSeq = max(maxSeq, wd.Seq)
	}
	for _, q := range []gateway.UsageQuery{{Limit: 100}, {HolderID: fx.holder, Limit: 100}, {VisibleTo: fx.partner, Limit: 2}} {
		gu, err1 := cp.ListUsage(ctx, q)
		wu, err2 := file.ListUsage(ctx, q)
		if err1 != nil || err2 != nil || len(wu) == 0 {
			t.Fatalf("ListUsage(%+v): copy %v, file %d, %v", q, err1, len(wu), err2)
		}
		sameJSON(t, fmt.Sprintf("ListUsage(%+v)", q), gu, wu)
	}
	gs, err1 := cp.CountByState(ctx)
	ws, err2 := file.CountByState(ctx)
	if err1 != nil || err2 != nil {
		t.Fatalf("CountByState: copy %v, file %v", err1, err2)
	}
	sameJSON(t, "CountByState", gs, ws)
	for _, st := range []contracts.TransportState{contracts.TransportStatePending, contracts.TransportStateInFlight,
		contracts.TransportStateRetryWait, contracts.TransportStateDead, contracts.TransportStateDelivered} {
		if ws[st] == 0 {
			t.Errorf("the fixture has no %s delivery: %v", st, ws)
		}
	}
	gcp, err1 := cp.Checkpoints(ctx, 0, 0)
	wcp, err2 := file.Checkpoints(ctx, 0, 0)
	if err1 != nil || err2 != nil || len(wcp) != 3 {
		t.Fatalf("Checkpoints: copy %v, file %d, %v", err1, len(wcp), err2)
	}
	sameJSON(t, "Checkpoints", gcp, wcp)
	gx, _, err1 := cp.SearchExchanges(ctx, gateway.ExchangeQuery{Limit: 100})
	wx, _, err2 := file.SearchExchanges(ctx, gateway.ExchangeQuery{Limit: 100})
	if err1 != nil || err2 != nil || len(wx) == 0 {
		t.Fatalf("SearchExchanges: copy %v, file %d, %v", err1, len(wx), err2)
	}
	sameJSON(t, "SearchExchanges", gx, wx)
	headSeq, headHash, err := file.EvidenceHead(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The gateway goes on, on the copy: the chain and the seqs continue.
	at := copyT0.Add(time.Hour)
	c := &gateway.Case{ID: "case-new", ExchangeID: "ex-new", Sender: "320404", Owner: fx.partner, FromRegion: "320404",
		ToRegion: "330702", State: contracts.CaseStateReceived, CreatedAt: at, UpdatedAt: at}
	d := &gateway.Delivery{ID: "dl-new", Kind: contracts.DeliveryKindCase, Partner: fx.partner, ExchangeID: "dx-new",
		Payload: []byte(`{}`), NextAt: at, CreatedAt: at}
	ch := gateway.Change{Case: c, Enqueue: []*gateway.Delivery{d},
		Evidence: []contracts.EvidenceRecord{{At: at, Actor: "320404", Event: contracts.EventCaseReceived, CaseID: c.ID}}}
	if err := cp.CreateCase(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if ch.Evidence[0].Seq != headSeq+1 || ch.Evidence[0].PrevHash != headHash {
		t.Errorf("new case's record: seq %d after %s; want %d after the copied head %s", ch.Evidence[0].Seq, ch.Evidence[0].PrevHash, headSeq+1, headHash)
	}
	if d.Seq <= maxSeq {
		t.Errorf("new delivery's seq %d; want it after the copied ones (%d)", d.Seq, maxSeq)
	}
	recs := []contracts.EvidenceRecord{{At: at, Actor: "gateway", Event: contracts.EventGatewayStarted}}
	if err := cp.AppendEvidence(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	if recs[0].Seq != headSeq+2 {
		t.Errorf("appended record's seq %d, want %d", recs[0].Seq, headSeq+2)
	}
	if err := cp.CreateCase(ctx, gateway.Change{Case: &gateway.Case{ID: "case-00", ExchangeID: "x", CreatedAt: at}}); err == nil {
		t.Error("a copied case's id was stored again")
	}
	v := must(t, runIn(t, dir, "", "audit", "verify", "--store", pgtest.DSN(), "--schema", schema, "--gateway-pub", fx.pub))
	if !strings.Contains(v.stdout, fmt.Sprintf("head seq %d,", headSeq+2)) || !strings.Contains(v.stdout, "OK: every record and checkpoint verifies") {
		t.Errorf("the log after new writes:\n%s", v.stdout)
	}
}

// TestStoreCopyRefusesNonEmpty: a schema that holds data (an earlier
// copy, or a gateway's own log) is refused with the message, and nothing
// of it changes.
func TestStoreCopyRefusesNonEmpty(t *testing.T) {
	fx := fillStore(t)
	dir := t.TempDir()
	schema := pgtest.FreshSchema(t)
	must(t, runIn(t, dir, "", "store", "copy", "--from", fx.path, "--to", pgtest.DSN(), "--schema", schema))
	cp := openTarget(t, schema)
	ctx := context.Background()
	counts := func(st *postgres.Store) string {
		tc, err := st.RowCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seq, hash, err := st.EvidenceHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%v %d %s", tc, seq, hash)
	}
	before := counts(cp)
	r := runIn(t, dir, "", "store", "copy", "--from", fx.path, "--to", pgtest.DSN(), "--schema", schema)
	want := fmt.Sprintf("target schema %s already holds data (6 cases, ", schema)
	if r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "copy only into an empty schema; drop it or name another with --schema") {
		t.Errorf("copy into a copy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := counts(cp); after != before {
		t.Errorf("the refused copy changed the target:\nbefore %s\nafter  %s", before, after)
	}

	// A schema where a gateway has only started: its first record.
	other := pgtest.FreshSchema(t)
	st := openTarget(t, other)
	if err := st.AppendEvidence(ctx, contracts.EvidenceRecord{At: copyT0, Actor: "gateway", Event: contracts.EventGatewayStarted}); err != nil {
		t.Fatal(err)
	}
	r = runIn(t, dir, "", "store", "copy", "--from", fx.path, "--to", pgtest.DSN(), "--schema", other)
	if r.code != 2 || !strings.Contains(r.stderr, "already holds data (0 cases, 1 evidence records)") {
		t.Errorf("copy into a started gateway's schema: exit %d\n%s", r.code, r.stderr)
	}
	if seq, _, err := st.EvidenceHead(ctx); err != nil || seq != 1 {
		t.Errorf("the refused copy changed the target's log: head %d, %v", seq, err)
	}
}

// TestStoreCopyRollsBack: a copy that fails after some tables, or is
// interrupted, leaves the target empty, and a rerun then succeeds.
func TestStoreCopyRollsBack(t *testing.T) {
	fx := fillStore(t)
	schema := pgtest.FreshSchema(t)
	ctx := context.Background()
	opts := copyOptions{From: fx.path, To: pgtest.DSN(), Schema: schema, Engine: signing.Default}
	var stdout, stderr bytes.Buffer
	injected := errors.New("injected: the disk is full")
	opts.afterTable = func(table string) error {
		if table == "deliveries" {
			return injected
		}
		return nil
	}
	err := copyStore(ctx, &stdout, &stderr, opts)
	if !errors.Is(err, injected) || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("copy failing after deliveries: %v", err)
	}
	if !strings.Contains(stderr.String(), "copied cases:") {
		t.Errorf("no table was copied before the failure:\n%s", stderr.String())
	}
	empty := func(when string) {
		t.Helper()
		st := openTarget(t, schema)
		tc, err := st.RowCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tc {
			if c.Rows != 0 {
				t.Errorf("%s: table %s holds %d rows", when, c.Table, c.Rows)
			}
		}
		if seq, _, err := st.EvidenceHead(ctx); err != nil || seq != 0 {
			t.Errorf("%s: evidence head %d, %v", when, seq, err)
		}
		st.Close()
	}
	empty("after a failure")

	// Interrupted (Ctrl-C) while copying evidence.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts.afterTable = func(table string) error {
		if table == "usage_records" {
			cancel()
		}
		return nil
	}
	err = copyStore(cctx, &stdout, &stderr, opts)
	if err == nil || !strings.Contains(err.Error(), "interrupted: the copy was rolled back") {
		t.Fatalf("interrupted copy: %v", err)
	}
	empty("after an interruption")

	r := must(t, runIn(t, t.TempDir(), "", "store", "copy", "--from", fx.path, "--to", pgtest.DSN(), "--schema", schema))
	if !strings.Contains(r.stdout, "OK: the copy holds everything the file does") {
		t.Errorf("rerun:\n%s", r.stdout)
	}
}

// TestStoreCopyRefusesBadSource: a file whose evidence log does not
// verify is not copied.
func TestStoreCopyRefusesBadSource(t *testing.T) {
	fx := fillStore(t)
	tamperStore(t, fx.path, `UPDATE evidence SET record = replace(record, '"actor":"320404"', '"actor":"320405"') WHERE seq = 3`)
	schema := pgtest.FreshSchema(t)
	r := runIn(t, t.TempDir(), "", "store", "copy", "--from", fx.path, "--to", pgtest.DSN(), "--schema", schema)
	if r.code != 2 || !strings.Contains(r.stderr, "does not verify (first bad record 3") || !strings.Contains(r.stderr, "nothing was copied") {
		t.Errorf("copy of a tampered file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var exists bool
	if err := pgtest.Admin(t).QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil || exists {
		t.Errorf("schema %s was created for a refused copy (%v)", schema, err)
	}
}

// TestStoreCopyFlags: what the command refuses before it touches anything.
func TestStoreCopyFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--to", "postgres://x@127.0.0.1:9/db"}, "--from FILE is required"},
		{[]string{"--from", "tongban.db"}, "--to postgres://USER@HOST/DB is required"},
		{[]string{"--from", "tongban.db", "--to", "copy.db"}, "tongban store backup"},
		{[]string{"--from", "missing.db", "--to", "postgres://x@127.0.0.1:9/db"}, "missing.db"},
	} {
		r := runIn(t, dir, "", append([]string{"store", "copy"}, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("store copy %v: exit %d %q, want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("a missing source was created")
	}
}

// TestStoreCopyLiveSource: a file a gateway is writing while the copy
// runs is copied as one snapshot: the copy verifies, and its head is a
// head the file had; the command says what it did not copy.
func TestStoreCopyLiveSource(t *testing.T) {
	fx := fillStore(t)
	schema := pgtest.FreshSchema(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: fx.path, Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			case <-time.After(time.Millisecond):
			}
			at := copyT0.Add(time.Duration(i) * time.Second)
			if err := st.AppendEvidence(ctx, contracts.EvidenceRecord{At: at, Actor: "320404", Event: contracts.EventCaseReceived,
				CaseID: fmt.Sprintf("case-%02d", i%6)}); err != nil {
				done <- err
				return
			}
		}
	}()
	r := runIn(t, t.TempDir(), "", "store", "copy", "--from", fx.path, "--to", pgtest.DSN(), "--schema", schema)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || !strings.Contains(r.stderr, "warning: a gateway is serving from") || !strings.Contains(r.stdout, "OK: the copy holds everything the file does") {
		t.Fatalf("copy of a live file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	seq, hash, err := openTarget(t, schema).EvidenceHead(ctx)
	if err != nil || seq < 19 {
		t.Fatalf("the copy's head: %d, %v; want at least the fixture's 19 records", seq, err)
	}
	var had string
	if err := st.ScanEvidence(ctx, seq, seq, func(r gateway.EvidenceRow) error { had = r.Hash; return nil }); err != nil || had != hash {
		t.Errorf("the copy's head %d %s; the file's record %d has %s (%v)", seq, hash, seq, had, err)
	}
	t.Logf("copied up to record %d while the file was written", seq)
}
