package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Tests of group commit (batch.go). To make the writer gather a known
// batch, a test holds the evidence head's row lock in a transaction of its
// own: a first write takes it and waits for the lock, the test queues the
// writes of the next batch one at a time (so their order in the batch is
// the order they were queued), then lets the lock go.

// batchGate holds the evidence head of a store's schema.
type batchGate struct {
	t     *testing.T
	s     *Store
	tx    pgx.Tx
	sizes chan int
	first chan error
}

// holdHead locks the head of s's schema and starts a write that waits for
// it as a batch of one.
func holdHead(t *testing.T, s *Store) *batchGate {
	t.Helper()
	g := &batchGate{t: t, s: s, sizes: make(chan int, 100), first: make(chan error, 1)}
	s.hookBatch = func(n int) { g.sizes <- n }
	tx, err := admin(t).Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	if _, err := tx.Exec(t.Context(), `SELECT 1 FROM `+ident(s.schema, "evidence_head")+` WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	g.tx = tx
	go func() { g.first <- s.CreateCase(context.Background(), fixChange("")) }()
	g.wantBatch(1)
	return g
}

// queue starts write and waits until the writer's queue holds it.
func (g *batchGate) queue(write func() error, into chan<- error) {
	g.t.Helper()
	n := len(g.s.queue)
	go func() { into <- write() }()
	deadline := time.Now().Add(10 * time.Second)
	for len(g.s.queue) == n {
		if time.Now().After(deadline) {
			g.t.Fatal("a write did not reach the queue within 10s")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// release lets the head go; the first write must succeed.
func (g *batchGate) release() {
	g.t.Helper()
	if err := g.tx.Rollback(g.t.Context()); err != nil {
		g.t.Fatal(err)
	}
	if err := <-g.first; err != nil {
		g.t.Fatalf("the write ahead of the batch: %v", err)
	}
}

func (g *batchGate) wantBatch(n int) {
	g.t.Helper()
	select {
	case got := <-g.sizes:
		if got != n {
			g.t.Fatalf("the writer gathered a batch of %d writes, want %d", got, n)
		}
	case <-time.After(10 * time.Second):
		g.t.Fatalf("no batch of %d writes within 10s", n)
	}
}

// TestBatchIsolatesFailures: in one batch, writes that fail (a duplicate
// exchange, two changes racing for one new exchange, a stale version, a
// fence that no longer holds, a delivery that is not dead, a delivery id
// already stored) are rolled back alone, each with its own error; every
// other write of the batch commits, whole, and their evidence records are
// linked one after the other in the order the writes were queued, case
// chains included.
func TestBatchIsolatesFailures(t *testing.T) {
	schema := freshSchema(t)
	s := openClosed(t, schema)
	ctx := t.Context()

	stored, updated := fixChange(""), fixChange("")
	for _, ch := range []gateway.Change{stored, updated} {
		if err := s.CreateCase(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := s.ClaimDue(ctx, t0, time.Hour, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimDue: %v, %v", claimed, err)
	}
	const before = 2 // records

	g := holdHead(t, s)
	type write struct {
		name    string
		ch      *gateway.Change                // a change whose records are its Evidence
		recs    []contracts.EvidenceRecord     // else the records appended
		run     func(*write) error             // runs the write
		wantErr func(error) bool               // nil: must succeed
		stored  func(ctx context.Context) bool // whether its change is stored
		errc    chan error
	}
	var writes []*write
	create := func(name string, ch gateway.Change, wantErr func(error) bool) {
		w := &write{name: name, ch: &ch, wantErr: wantErr}
		w.run = func(w *write) error { return s.CreateCase(ctx, *w.ch) }
		w.stored = func(ctx context.Context) bool {
			_, err := s.GetCase(ctx, w.ch.Case.ID)
			return err == nil
		}
		writes = append(writes, w)
	}
	isErr := func(target error) func(error) bool {
		return func(err error) bool { return errors.Is(err, target) }
	}
	good := func(i int) { create(fmt.Sprintf("good %d", i), fixChange(""), nil) }
	race := fixID("race")
	dupDelivery := fixChange("")
	dupDelivery.Enqueue[0].ID = stored.Enqueue[0].ID
	stale := fixChange("")
	stale.Case = &gateway.Case{}
	*stale.Case = *updated.Case
	stale.Case.Version = 7
	stale.Exchange, stale.Status, stale.Enqueue = nil, nil, nil
	stale.Evidence[0].CaseID = stale.Case.ID
	wrongLease := *claimed[0]
	wrongLease.LeaseUntil = wrongLease.LeaseUntil.Add(time.Second)
	wrongLease.State, wrongLease.Attempts, wrongLease.LastError = contracts.TransportStateRetryWait, 1, "x"

	good(0)
	create("duplicate of a stored exchange", fixChange(stored.Exchange.ExchangeID), isErr(gateway.ErrDuplicateExchange))
	good(1)
	create("first of two with one new exchange", fixChange(race), nil)
	create("second of two with one new exchange", fixChange(race), isErr(gateway.ErrDuplicateExchange))
	good(2)
	create("stale version", stale, isErr(gateway.ErrStale))
	writes[len(writes)-1].run = func(w *write) error { return s.UpdateCase(ctx, *w.ch) }
	writes[len(writes)-1].stored = func(context.Context) bool { return false }
	good(3)
	writes = append(writes, &write{name: "fence", wantErr: isErr(gateway.ErrStale),
		recs: []contracts.EvidenceRecord{{At: t0, Actor: "gateway", Event: "delivery.retry", CaseID: claimed[0].CaseID}},
		run:  func(w *write) error { return s.SaveAttempt(ctx, &wrongLease, w.recs...) }})
	writes = append(writes, &write{name: "not dead", wantErr: isErr(gateway.ErrNotDead),
		recs: []contracts.EvidenceRecord{{At: t0, Actor: "gateway", Event: "delivery.redeliver", CaseID: claimed[0].CaseID}},
		run:  func(w *write) error { return s.Redeliver(ctx, claimed[0].ID, t0, w.recs...) }})
	for i := range 3 {
		writes = append(writes, &write{name: fmt.Sprintf("append %d", i),
			recs: []contracts.EvidenceRecord{{At: t0, Actor: "gateway", Event: fmt.Sprintf("note-%d", i), CaseID: stored.Case.ID}},
			run:  func(w *write) error { return s.AppendEvidence(ctx, w.recs...) }})
		good(4 + i)
	}
	create("delivery id already stored", dupDelivery, func(err error) bool { return err != nil && strings.Contains(err.Error(), "already exists") })
	good(7)

	for _, w := range writes {
		w.errc = make(chan error, 1)
		g.queue(func() error { return w.run(w) }, w.errc)
	}
	g.release()
	g.wantBatch(len(writes))

	// Each write's own outcome.
	var want []contracts.EvidenceRecord // the committed records, in queue order
	for _, w := range writes {
		err := <-w.errc
		switch {
		case w.wantErr == nil && err != nil:
			t.Errorf("%s: %v, want success", w.name, err)
		case w.wantErr != nil && !w.wantErr(err):
			t.Errorf("%s: got %v, want its own error", w.name, err)
		}
		if w.stored != nil && w.stored(ctx) != (w.wantErr == nil) {
			t.Errorf("%s: stored %v, want %v", w.name, !(w.wantErr == nil), w.wantErr == nil)
		}
		if w.wantErr == nil {
			if w.ch != nil {
				want = append(want, w.ch.Evidence...)
			} else {
				want = append(want, w.recs...)
			}
		}
	}
	if _, err := s.GetCase(ctx, dupDelivery.Case.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the change with a stored delivery id left its case: %v", err)
	}
	if d, err := s.GetDelivery(ctx, claimed[0].ID); err != nil || d.State != contracts.TransportStateInFlight {
		t.Errorf("the fenced delivery: %+v, %v; want it in flight still", d, err)
	}

	// The log: the records before the batch, the first write's, then the
	// batch's committed records in the order their writes were queued,
	// without gaps, each as its write was told.
	wantChain(t, s, before+1+int64(len(want)))
	for i, r := range want {
		if r.Seq != before+2+int64(i) {
			t.Errorf("record %q: seq %d, want %d", r.Event, r.Seq, before+2+int64(i))
		}
	}
	lastOfCase := map[string]string{}
	i := 0
	err = s.ScanEvidence(ctx, 1, 0, func(row gateway.EvidenceRow) error {
		rec, err := decodeRow(row)
		if err != nil {
			return err
		}
		if rec.CasePrevHash != lastOfCase[rec.CaseID] {
			return fmt.Errorf("record %d of %s: case_prev_hash %q, want %q", row.Seq, rec.CaseID, rec.CasePrevHash, lastOfCase[rec.CaseID])
		}
		lastOfCase[rec.CaseID] = row.Hash
		if row.Seq > before+1 {
			if w := want[i]; rec.Event != w.Event || rec.CaseID != w.CaseID || row.Hash != w.Hash {
				return fmt.Errorf("record %d: %s of %s (hash %s), want %s of %s (hash %s)", row.Seq, rec.Event, rec.CaseID, row.Hash, w.Event, w.CaseID, w.Hash)
			}
			i++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.stats.writes.Load() - s.stats.batches.Load(); got < int64(len(want))-1 {
		t.Errorf("stats: %d writes in %d commits, want the batch's in one", s.stats.writes.Load(), s.stats.batches.Load())
	}
}

// TestBatchCommitFails: when a batch's COMMIT fails (here a deferred
// constraint trigger refuses one of its cases), every write of the batch
// fails, none is stored, and the next batch links after the last
// committed record.
func TestBatchCommitFails(t *testing.T) {
	schema := freshSchema(t)
	s := openClosed(t, schema)
	ctx := t.Context()
	if err := execIn(t, schema, `CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.id LIKE 'poison-%' THEN RAISE EXCEPTION 'case % refused at commit', NEW.id; END IF;
			RETURN NULL;
		END $$`); err != nil {
		t.Fatal(err)
	}
	if err := execIn(t, schema, `CREATE CONSTRAINT TRIGGER refuse_poison AFTER INSERT ON cases
		DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_poison()`); err != nil {
		t.Fatal(err)
	}

	g := holdHead(t, s)
	var chs []gateway.Change
	var errcs []chan error
	for i := range 9 {
		ch := fixChange("")
		if i == 4 {
			ch.Case.ID = "poison-" + ch.Case.ID
			ch.Exchange.CaseID, ch.Status.CaseID = ch.Case.ID, ch.Case.ID
			ch.Enqueue[0].CaseID, ch.Evidence[0].CaseID = ch.Case.ID, ch.Case.ID
		}
		errc := make(chan error, 1)
		g.queue(func() error { return s.CreateCase(ctx, ch) }, errc)
		chs, errcs = append(chs, ch), append(errcs, errc)
	}
	g.release()
	g.wantBatch(len(chs))
	for i, ch := range chs {
		err := <-errcs[i]
		if err == nil || !strings.Contains(err.Error(), "commit") {
			t.Errorf("write %d of the refused batch: got %v, want the COMMIT's error", i, err)
		}
		if _, err := s.GetCase(ctx, ch.Case.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("write %d of the refused batch: its case: %v, want ErrNotFound", i, err)
		}
	}
	wantChain(t, s, 1)
	ch := fixChange("")
	if err := s.CreateCase(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if ch.Evidence[0].Seq != 2 {
		t.Errorf("the next write's record: seq %d, want 2", ch.Evidence[0].Seq)
	}
	wantChain(t, s, 2)
}

// TestBatchDeadlockRetried: the batches of two processes that lock two
// cases in opposite orders deadlock; the write PostgreSQL picks as the
// victim is rolled back to its savepoint and run again in a later batch,
// so no caller sees the deadlock: each case is updated once, and the
// update that came second fails as stale, as it would without batches.
func TestBatchDeadlockRetried(t *testing.T) {
	schema := freshSchema(t)
	a, b := openClosed(t, schema), openClosed(t, schema)
	ctx := t.Context()
	newCase := func() *gateway.Case {
		ch := fixChange("")
		if err := a.CreateCase(ctx, ch); err != nil {
			t.Fatal(err)
		}
		return ch.Case
	}
	c1, c2 := newCase(), newCase()
	hA, hB, gA, gB := newCase(), newCase(), newCase(), newCase()
	update := func(s *Store, c *gateway.Case) func() error {
		return func() error {
			cc := *c
			cc.State = contracts.CaseStateAccepted
			return s.UpdateCase(ctx, gateway.Change{Case: &cc})
		}
	}
	// lockRows holds the rows of cs in a transaction of the test's.
	lockRows := func(cs ...*gateway.Case) pgx.Tx {
		tx, err := admin(t).Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		for _, c := range cs {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM `+ident(schema, "cases")+` WHERE id = $1 FOR UPDATE`, c.ID); err != nil {
				t.Fatal(err)
			}
		}
		return tx
	}
	heads, gates := lockRows(hA, hB), lockRows(gA, gB)

	sizes := map[*Store]chan int{a: make(chan int, 10), b: make(chan int, 10)}
	errs := map[string]chan error{}
	for _, p := range []struct {
		s                *Store
		head, gate, x, y *gateway.Case
		name             string
	}{{a, hA, gA, c1, c2, "a"}, {b, hB, gB, c2, c1, "b"}} {
		p.s.hookBatch = func(n int) { sizes[p.s] <- n }
		g := &batchGate{t: t, s: p.s}
		// A batch of one, waiting for the test's first lock; behind it,
		// a batch that locks x, waits for the test's second lock, then
		// locks y.
		for i, w := range []func() error{update(p.s, p.head), update(p.s, p.x), update(p.s, p.gate), update(p.s, p.y)} {
			errc := make(chan error, 1)
			errs[fmt.Sprint(p.name, i)] = errc
			if i > 0 {
				g.queue(w, errc)
				continue
			}
			go func() { errc <- w() }()
			if n := <-sizes[p.s]; n != 1 {
				t.Fatalf("store %s: first batch of %d", p.name, n)
			}
		}
	}
	heads.Rollback(ctx)
	for s, name := range map[*Store]string{a: "a", b: "b"} {
		if n := <-sizes[s]; n != 3 {
			t.Fatalf("store %s: second batch of %d, want 3", name, n)
		}
	}
	// Both batches hold their first case and wait for their gate.
	deadline := time.Now().Add(10 * time.Second)
	for queryInt(t, `SELECT count(*) FROM pg_locks WHERE NOT granted`) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the batches did not both wait for the test's lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	gates.Rollback(ctx)

	won := map[string]int{}
	for key, errc := range errs {
		err := <-errc
		switch {
		case err == nil:
			won[key[1:]]++
		case errors.Is(err, gateway.ErrStale) && (key[1:] == "1" || key[1:] == "3"):
		default:
			t.Errorf("write %s: %v", key, err)
		}
	}
	// Per store: the head and gate updates (0, 2) always succeed; of the
	// updates of c1 and c2 (1 and 3) one of each case wins.
	if won["0"] != 2 || won["2"] != 2 || won["1"]+won["3"] != 2 {
		t.Errorf("successes by write: %v", won)
	}
	for _, c := range []*gateway.Case{c1, c2} {
		got, err := a.GetCase(ctx, c.ID)
		if err != nil || got.Version != 2 {
			t.Errorf("case %s: %+v, %v; want it updated once", c.ID, got, err)
		}
	}
}
