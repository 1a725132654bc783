package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sqlitedrv "modernc.org/sqlite"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/store/storetest"
	"github.com/tongban/tongban/signing"
)

func openAt(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	opts.Path = path
	if opts.Linker == nil {
		opts.Linker = evidence.Linker{SM3: signing.EvidenceHash}
	}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) gateway.Store {
		return openAt(t, filepath.Join(t.TempDir(), "tongban.db"), Options{})
	})
}

// TestStoreSmallBatches runs the suite with batches of at most two writes,
// so concurrent tests exercise many commits with mixed outcomes.
func TestStoreSmallBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	storetest.Run(t, func(t *testing.T) gateway.Store {
		return openAt(t, filepath.Join(t.TempDir(), "tongban.db"), Options{MaxBatch: 2, Synchronous: "normal"})
	})
}

func TestStoreDurable(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T, path string) gateway.Store {
		return openAt(t, path, Options{})
	})
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"no path", Options{}, "path is required"},
		{"memory", Options{Path: ":memory:"}, "plain file path"},
		{"uri", Options{Path: "file:x.db"}, "plain file path"},
		{"query", Options{Path: "x.db?mode=ro"}, "plain file path"},
		{"synchronous off", Options{Path: "x.db", Synchronous: "OFF"}, "synchronous"},
		{"synchronous normal", Options{Path: "x.db", Synchronous: "normal"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.withDefaults()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// pragma reads a pragma through the writer's connection.
func (s *Store) pragma(t *testing.T, name string) string {
	t.Helper()
	var v string
	err := s.submit(t.Context(), func(w *writer) error {
		return w.conn.QueryRowContext(w.bg, "PRAGMA "+name).Scan(&v)
	})
	if err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	tests := []struct {
		sync string
		want string // PRAGMA synchronous: 1 NORMAL, 2 FULL, 3 EXTRA
	}{{"", "2"}, {"NORMAL", "1"}, {"full", "2"}, {"EXTRA", "3"}}
	for _, tt := range tests {
		t.Run("synchronous="+tt.sync, func(t *testing.T) {
			s := openAt(t, filepath.Join(t.TempDir(), "p.db"), Options{Synchronous: tt.sync})
			defer s.Close()
			for name, want := range map[string]string{
				"synchronous":  tt.want,
				"journal_mode": "wal",
				"foreign_keys": "1",
				"busy_timeout": "5000",
			} {
				if got := s.pragma(t, name); got != want {
					t.Errorf("PRAGMA %s: got %s, want %s", name, got, want)
				}
			}
		})
	}
}

func TestReadersAreReadOnly(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "ro.db"), Options{})
	defer s.Close()
	_, err := s.rdb.ExecContext(t.Context(), `DELETE FROM cases`)
	if err == nil {
		t.Fatal("DELETE through the read pool: got nil, want an error")
	}
}

func TestMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}

	path := filepath.Join(t.TempDir(), "m.db")
	s := openAt(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Opening again applies nothing and records nothing twice.
	s = openAt(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var n, maxV int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &maxV); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || maxV != len(ms) {
		t.Errorf("schema_migrations: got %d rows up to %d, want %d up to %d", n, maxV, len(ms), len(ms))
	}

	// A database from a newer build is refused, clearly.
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', 0)`, len(ms)+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(t.Context(), Options{Path: path})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: got %v, want %v", err, ErrSchemaTooNew)
	}
	if want := fmt.Sprintf("schema version %d", len(ms)+1); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	c, err := sqlitedrv.NewConnector(path)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestClaimUsesIndexes checks that ClaimDue, ClaimMailbox and NextDue,
// the reads that answer empty claims, AlarmsDue and BundleParts read
// indexes rather than scanning their tables, and the ordered ones read
// in the index's order rather than sorting.
func TestClaimUsesIndexes(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "plan.db"), Options{})
	defer s.Close()
	queries := map[string]string{
		"claim":          claimCandidates,
		"next due":       nextDueQuery,
		"mailbox after":  mailboxCandidates + ` AND d.seq > ?1 ORDER BY d.seq LIMIT 5`,
		"mailbox up to":  mailboxCandidates + ` AND d.seq <= ?1 ORDER BY d.seq LIMIT 5`,
		"redeliver dead": `SELECT seq FROM deliveries WHERE partner = ? AND state = 'dead'`,
		"deliveries":     deliverySelect + ` WHERE d.case_id = ? ORDER BY d.seq`,
		"get delivery":   deliverySelect + ` WHERE d.id = ?`,
		"claim update":   `UPDATE deliveries SET state = 'in_flight', lease_until = ?1 WHERE seq IN (` + claimCandidates + `) RETURNING ` + deliveryReturning,
		"claim any due":  anyDueQuery,
		"mailbox any":    anyVisibleQuery,
		"alarms due":     alarmsDueQuery,
		"bundle parts":   bundlePartsQuery,
	}
	for name, q := range queries {
		var plan []string
		err := s.submit(t.Context(), func(w *writer) error {
			rows, err := w.conn.QueryContext(w.bg, "EXPLAIN QUERY PLAN "+q, 0, 0, 0)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					return err
				}
				plan = append(plan, detail)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text := strings.Join(plan, "; ")
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "INDEX") {
				t.Errorf("%s scans a table: %s", name, text)
			}
		}
		if strings.Contains(text, "TEMP B-TREE") && (strings.HasPrefix(name, "claim") || strings.HasPrefix(name, "mailbox") ||
			name == "alarms due" || name == "bundle parts" || name == "next due") {
			t.Errorf("%s sorts: %s", name, text)
		}
		t.Logf("%s: %s", name, text)
	}
}

// held is a store whose writer can be held busy, so that requests queue
// up behind it and land in one batch.
type held struct {
	*Store
	queued  chan struct{}
	release chan struct{}
}

func newHeld(t *testing.T, path string) *held {
	h := &held{Store: openAt(t, path, Options{}), queued: make(chan struct{}, 1000), release: make(chan struct{})}
	h.hookQueued = func() { h.queued <- struct{}{} }
	return h
}

// hold occupies the writer until h.release is closed.
func (h *held) hold(t *testing.T) {
	holding := make(chan struct{})
	go h.submit(context.Background(), func(*writer) error {
		close(holding)
		<-h.release
		return nil
	})
	<-holding
	<-h.queued
}

// waitQueued waits until n more requests are queued.
func (h *held) waitQueued(n int) {
	for range n {
		<-h.queued
	}
}

func testCase(id, exchangeID string) gateway.Change {
	c := &gateway.Case{ID: id, ExchangeID: exchangeID, Sender: "320404", Owner: "330702", State: contracts.CaseStateReceived}
	return gateway.Change{
		Case:     c,
		Exchange: &gateway.Exchange{Sender: c.Sender, ExchangeID: exchangeID, Kind: gateway.ExchangeCase, CaseID: id, Body: []byte(id)},
		Status:   &gateway.Status{State: contracts.CaseStateReceived, ReportedBy: "gateway"},
		Enqueue:  []*gateway.Delivery{{ID: "d-" + id, Partner: c.Owner, Kind: contracts.DeliveryKindCase}},
	}
}

// TestGroupCommit checks that concurrent writes share one commit and that
// each request's failure undoes only that request.
func TestGroupCommit(t *testing.T) {
	h := newHeld(t, filepath.Join(t.TempDir(), "gc.db"))
	defer h.Close()
	ctx := t.Context()
	base := testCase("base", "ex-base")
	if err := h.CreateCase(ctx, base); err != nil {
		t.Fatal(err)
	}
	<-h.queued
	before := h.Stats()
	h.hold(t)

	type outcome struct {
		name string
		err  error
	}
	var writes []func() outcome
	for i := range 10 {
		name := fmt.Sprintf("new-%d", i)
		writes = append(writes, func() outcome { return outcome{name, h.CreateCase(ctx, testCase(name, "ex-"+name))} })
	}
	for _, name := range []string{"dup-1", "dup-2"} {
		writes = append(writes, func() outcome { return outcome{name, h.CreateCase(ctx, testCase(name, "ex-dup"))} })
	}
	writes = append(writes, func() outcome { return outcome{"replay", h.CreateCase(ctx, testCase("replay", "ex-base"))} })
	for _, name := range []string{"update-1", "update-2"} {
		writes = append(writes, func() outcome {
			c := *base.Case
			c.Version, c.State = 1, contracts.CaseStateForwarded
			return outcome{name, h.UpdateCase(ctx, gateway.Change{Case: &c, Status: &gateway.Status{State: c.State}})}
		})
	}
	writes = append(writes, func() outcome {
		_, err := h.ClaimDue(ctx, time.Now(), time.Minute, 100)
		return outcome{"claim", err}
	})
	results := make(chan outcome, len(writes))
	for _, w := range writes {
		go func() { results <- w() }()
	}
	h.waitQueued(len(writes))
	close(h.release)

	got := map[string]error{}
	for range writes {
		o := <-results
		got[o.name] = o.err
	}
	for i := range 10 {
		if err := got[fmt.Sprintf("new-%d", i)]; err != nil {
			t.Errorf("CreateCase(new-%d): %v", i, err)
		}
	}
	if a, b := got["dup-1"], got["dup-2"]; (a == nil) == (b == nil) || !errors.Is(errors.Join(a, b), gateway.ErrDuplicateExchange) {
		t.Errorf("two creates with one exchange: got %v and %v, want one nil and one %v", a, b, gateway.ErrDuplicateExchange)
	}
	if err := got["replay"]; !errors.Is(err, gateway.ErrDuplicateExchange) {
		t.Errorf("CreateCase(replay): got %v, want %v", err, gateway.ErrDuplicateExchange)
	}
	if a, b := got["update-1"], got["update-2"]; (a == nil) == (b == nil) || !errors.Is(errors.Join(a, b), gateway.ErrStale) {
		t.Errorf("two updates of one version: got %v and %v, want one nil and one %v", a, b, gateway.ErrStale)
	}
	if err := got["claim"]; err != nil {
		t.Errorf("ClaimDue: %v", err)
	}

	after := h.Stats()
	if c, w := after.Commits-before.Commits, after.Writes-before.Writes; c != 2 || w != int64(len(writes))+1 {
		t.Errorf("commits, writes: got %d, %d, want 2, %d (the hold, then one batch)", c, w, len(writes)+1)
	}
	counts, err := h.CountByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := counts[contracts.TransportStatePending] + counts[contracts.TransportStateInFlight]; n != 12 {
		t.Errorf("deliveries stored: got %d, want 12 (base, 10 new, one dup)", n)
	}
	if c, err := h.GetCase(ctx, "base"); err != nil || c.Version != 2 {
		t.Errorf("GetCase(base): got %v, %v, want version 2", c, err)
	}
	if _, err := h.GetCase(ctx, "replay"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("GetCase(replay): got %v, want %v", err, gateway.ErrNotFound)
	}
}

// TestCancelledBeforeTurn checks that a write whose context ends while it
// waits in the queue is skipped: it fails and writes nothing.
func TestCancelledBeforeTurn(t *testing.T) {
	h := newHeld(t, filepath.Join(t.TempDir(), "cancel.db"))
	defer h.Close()
	h.hold(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- h.CreateCase(ctx, testCase("c", "ex-c")) }()
	h.waitQueued(1)
	cancel()
	close(h.release)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateCase: got %v, want %v", err, context.Canceled)
	}
	if _, err := h.GetCase(t.Context(), "c"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("GetCase: got %v, want %v", err, gateway.ErrNotFound)
	}
}

// TestCloseDrains checks that Close lets queued writes finish and refuses
// new ones.
func TestCloseDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drain.db")
	h := newHeld(t, path)
	closing := make(chan struct{})
	h.hookClosed = func() { close(closing) }
	h.hold(t)
	const n = 5
	errc := make(chan error, n)
	for i := range n {
		go func() { errc <- h.CreateCase(context.Background(), testCase(fmt.Sprint("c", i), fmt.Sprint("ex", i))) }()
	}
	h.waitQueued(n)
	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	<-closing
	if err := h.CreateCase(t.Context(), testCase("late", "ex-late")); !errors.Is(err, ErrClosed) {
		t.Errorf("CreateCase after Close: got %v, want %v", err, ErrClosed)
	}
	// A claim is refused too, though it would first read.
	if _, err := h.ClaimDue(t.Context(), time.Now(), time.Minute, 10); !errors.Is(err, ErrClosed) {
		t.Errorf("ClaimDue after Close: got %v, want %v", err, ErrClosed)
	}
	close(h.release)
	for range n {
		if err := <-errc; err != nil {
			t.Errorf("queued CreateCase: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s := openAt(t, path, Options{})
	defer s.Close()
	for i := range n {
		if _, err := s.GetCase(t.Context(), fmt.Sprint("c", i)); err != nil {
			t.Errorf("GetCase(c%d) after reopen: %v", i, err)
		}
	}
}

// TestRefusesBadTimes checks that times an int64 of nanoseconds cannot hold
// are refused rather than silently corrupted.
func TestRefusesBadTimes(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "t.db"), Options{})
	defer s.Close()
	ch := testCase("c", "ex-c")
	ch.Case.CreatedAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateCase(t.Context(), ch); err == nil || !strings.Contains(err.Error(), "range") {
		t.Fatalf("CreateCase with year 9999: got %v, want an out-of-range error", err)
	}
	if _, err := s.GetCase(t.Context(), "c"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("GetCase: got %v, want %v", err, gateway.ErrNotFound)
	}
}

// TestReleaseLeasesAtOpen: a delivery left in flight by a killed process is
// due again as soon as the owning process reopens the store.
func TestReleaseLeasesAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	c := &gateway.Case{ID: "c1", ExchangeID: "x1", Sender: "a", Owner: "b", FromRegion: "320404", ToRegion: "330702", State: contracts.CaseStateReceived, CreatedAt: now, UpdatedAt: now}
	d := &gateway.Delivery{ID: "d1", CaseID: "c1", Kind: contracts.DeliveryKindCase, Partner: "b", ExchangeID: "x1", Payload: []byte("{}"), State: contracts.TransportStatePending, NextAt: now, CreatedAt: now}
	if err := s.CreateCase(ctx, gateway.Change{Case: c, Enqueue: []*gateway.Delivery{d}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimDue(ctx, now, time.Hour, 10); err != nil || len(got) != 1 {
		t.Fatalf("claim: got %d, %v", len(got), err)
	}
	s.Close() // as if the process died with the claim held

	for _, release := range []bool{false, true} {
		s, err = Open(ctx, Options{Path: path, ReleaseLeases: release})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ClaimDue(ctx, time.Now().UTC(), time.Hour, 10)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{false: 0, true: 1}[release]; len(got) != want {
			t.Fatalf("ReleaseLeases=%v: claimed %d, want %d", release, len(got), want)
		}
		if release {
			break
		}
	}
}

func TestProbe(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "tongban.db"), Options{})
	before := s.Stats().Commits
	for range 3 {
		if err := s.Probe(t.Context()); err != nil {
			t.Fatalf("Probe: %v", err)
		}
	}
	if got := s.Stats().Commits - before; got != 3 {
		t.Errorf("3 probes made %d commits, want 3 (each goes through the writer)", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Probe after Close: %v, want ErrClosed", err)
	}
}

// TestEvidenceHeadFollowsTheFile: stores opened on one file in turns
// (a gateway restarted, or replaced by another process) each continue the
// chain from what is on disk, so the log stays one chain. Two at once are
// refused (TestOpenLocked).
func TestEvidenceHeadFollowsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tongban.db")
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i := range 6 {
		s := openAt(t, path, Options{})
		if err := s.AppendEvidence(t.Context(), contracts.EvidenceRecord{At: at, Actor: "gateway", Event: "test"}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenReader(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := evidence.ChainVerifier{SM3: signing.EvidenceHash}.Verify(t.Context(), r, 0, 0)
	if err != nil || !res.OK || res.Checked != 6 {
		t.Errorf("log written by six stores in turns: %+v, %v; want 6 records, one chain", res, err)
	}
}
