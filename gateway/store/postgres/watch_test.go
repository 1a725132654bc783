package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// watcher runs WatchDeliveries on a store and records what it does.
type watcher struct {
	t         *testing.T
	wakes     chan struct{}
	notes     chan string // every notification payload received
	listening chan struct{}
	done      chan error
	cancel    context.CancelFunc
}

// startWatcher starts WatchDeliveries on s and waits until it listens.
func startWatcher(t *testing.T, s *Store) *watcher {
	t.Helper()
	w := &watcher{t: t, wakes: make(chan struct{}, 100), notes: make(chan string, 1000),
		listening: make(chan struct{}, 10), done: make(chan error, 1)}
	s.hookListening = func() { w.listening <- struct{}{} }
	s.hookNotified = func(p string) { w.notes <- p }
	ctx, cancel := context.WithCancel(t.Context())
	w.cancel = cancel
	t.Cleanup(cancel)
	go func() {
		w.done <- s.WatchDeliveries(ctx, func() { w.wakes <- struct{}{} })
	}()
	w.waitListening("start")
	return w
}

func (w *watcher) waitListening(what string) {
	w.t.Helper()
	select {
	case <-w.listening:
	case err := <-w.done:
		w.t.Fatalf("%s: WatchDeliveries returned %v", what, err)
	case <-time.After(10 * time.Second):
		w.t.Fatalf("%s: the watcher did not LISTEN within 10s", what)
	}
}

// wantWake fails unless the watcher wakes within a second.
func (w *watcher) wantWake(what string) {
	w.t.Helper()
	select {
	case <-w.wakes:
	case <-time.After(time.Second):
		w.t.Fatalf("%s: no wake within a second", what)
	}
}

// wantNoWake fails if the watcher woke since the last wantWake. It sends
// a notification of its own (with a payload of no store, which wakes no
// one) and waits until the watcher has received it: notifications arrive
// in commit order, so by then the watcher has received every one committed
// before, and has called wake for each that was the store's.
func (w *watcher) wantNoWake(what string) {
	w.t.Helper()
	sentinel := "sentinel-" + newSchemaName()
	if _, err := admin(w.t).Exec(w.t.Context(), `SELECT pg_notify($1, $2)`, notifyChannel, sentinel); err != nil {
		w.t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case p := <-w.notes:
			seen = p == sentinel
		case <-deadline:
			w.t.Fatalf("%s: the watcher did not receive the sentinel notification within 10s", what)
		}
	}
	select {
	case <-w.wakes:
		w.t.Errorf("%s woke the watcher", what)
	default:
	}
}

// wantReturn fails unless WatchDeliveries returns nil.
func (w *watcher) wantReturn(what string) {
	w.t.Helper()
	select {
	case err := <-w.done:
		if err != nil {
			w.t.Errorf("%s: WatchDeliveries returned %v, want nil", what, err)
		}
	case <-time.After(10 * time.Second):
		w.t.Fatalf("%s: WatchDeliveries did not return within 10s", what)
	}
}

// TestWatchDeliveries: a watcher on one store wakes when another store on
// the same schema (another process) commits new deliveries or moves some
// back to pending, once per write, and for nothing else; it comes back
// after losing its connection, waking once; it returns nil when its
// context ends or its store is closed.
func TestWatchDeliveries(t *testing.T) {
	schema := freshSchema(t)
	a, b := openClosed(t, schema), openClosed(t, schema)
	ctx := t.Context()
	w := startWatcher(t, b)
	w.wantNoWake("nothing")

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Writes that store no delivery and move none to pending.
	bare := fixChange("")
	bare.Enqueue = nil
	must(a.CreateCase(ctx, bare))
	must(a.AppendEvidence(ctx, contracts.EvidenceRecord{At: t0, Actor: "gateway", Event: "x"}))
	must(a.SaveCheckpoint(ctx, contracts.Checkpoint{Seq: 1, HeadHash: "h", At: t0, KeyID: "k", Signature: []byte{1}}))
	must(a.SetPullPartners(ctx, nil))
	if _, err := a.ClaimDue(ctx, t0, time.Minute, 10); err != nil {
		t.Fatal(err)
	}
	w.wantNoWake("writes without deliveries")

	ch := fixChange("")
	must(a.CreateCase(ctx, ch))
	w.wantWake("CreateCase through the other store")
	w.wantNoWake("a second wake for one CreateCase")

	dup := fixChange(ch.Exchange.ExchangeID)
	if err := a.CreateCase(ctx, dup); !errors.Is(err, gateway.ErrDuplicateExchange) {
		t.Fatalf("duplicate CreateCase: %v", err)
	}
	w.wantNoWake("a CreateCase rolled back")

	c := ch.Case
	u := *c
	must(a.UpdateCase(ctx, gateway.Change{Case: &u}))
	w.wantNoWake("UpdateCase without deliveries")
	more := &gateway.Delivery{ID: fixID("dl"), Kind: contracts.DeliveryKindStatus, Partner: "320404", ExchangeID: fixID("dx"), NextAt: t0, CreatedAt: t0}
	must(a.UpdateCase(ctx, gateway.Change{Case: &u, Enqueue: []*gateway.Delivery{more}}))
	w.wantWake("UpdateCase with a delivery")

	usage := gateway.UsageEntry{Record: contracts.UsageRecord{UsageRecordID: fixID("ur"), Caller: "320404", CheckedAt: t0}}
	must(a.AddUsage(ctx, []gateway.UsageEntry{usage}, nil))
	w.wantNoWake("AddUsage without deliveries")
	usage.Record.UsageRecordID = fixID("ur")
	ud := &gateway.Delivery{ID: fixID("dl"), Kind: contracts.DeliveryKindUsageRecord, Partner: "330702", ExchangeID: fixID("dx"), NextAt: t0, CreatedAt: t0}
	must(a.AddUsage(ctx, []gateway.UsageEntry{usage}, []*gateway.Delivery{ud}))
	w.wantWake("AddUsage with a delivery")

	// Dead letters back to pending.
	kill := func() {
		t.Helper()
		ds, err := a.ClaimDue(ctx, t0.Add(time.Hour), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			d.State, d.Attempts = contracts.TransportStateDead, 8
			must(a.SaveAttempt(ctx, d))
		}
		w.wantNoWake("ClaimDue and SaveAttempt")
	}
	kill()
	must(a.Redeliver(ctx, ch.Enqueue[0].ID, t0))
	w.wantWake("Redeliver")
	kill()
	ids, err := a.RedeliverDead(ctx, "330702", t0, nil)
	if err != nil || len(ids) == 0 {
		t.Fatalf("RedeliverDead: %v, %v", ids, err)
	}
	w.wantWake("RedeliverDead")
	if ids, err := a.RedeliverDead(ctx, "330702", t0, nil); err != nil || len(ids) != 0 {
		t.Fatalf("RedeliverDead of none: %v, %v", ids, err)
	}
	w.wantNoWake("RedeliverDead that moved none")

	must(a.SetPullPartners(ctx, []string{"330702"}))
	w.wantWake("SetPullPartners that changed deliveries")
	must(a.SetPullPartners(ctx, []string{"330702"}))
	w.wantNoWake("SetPullPartners that changed none")

	// A store of another schema does not wake this one's watchers.
	other := openClosed(t, freshSchema(t))
	must(other.CreateCase(ctx, fixChange("")))
	w.wantNoWake("CreateCase in another schema")

	// The watcher's connection is lost: it comes back and wakes once.
	if n := queryInt(t, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		"tongban watch "+schema); n != 1 {
		t.Fatalf("terminated %d watcher connections, want 1", n)
	}
	w.waitListening("reconnect")
	w.wantWake("reconnect")
	w.wantNoWake("a second wake for one reconnect")
	must(a.CreateCase(ctx, fixChange("")))
	w.wantWake("CreateCase after the reconnect")

	w.cancel()
	w.wantReturn("context cancelled")

	w = startWatcher(t, b)
	b.Close()
	w.wantReturn("store closed")
}

// TestWatchUnreachable: WatchDeliveries fails at once when it cannot
// watch at all.
func TestWatchUnreachable(t *testing.T) {
	s := openClosed(t, freshSchema(t))
	// A store whose pool points nowhere: the same store, another port.
	cfg := s.pool.Config()
	cfg.ConnConfig.Port = 1
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	s.pool.Close()
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.pool = pool
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.WatchDeliveries(ctx, func() {}); err == nil {
		t.Error("WatchDeliveries without a server: got nil, want an error")
	}
}
