package evidence_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
)

// digest stands in for SM3 in these tests: the evidence package takes its
// hash function injected, so any digest shows the chain rules.
func digest(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// fakeCrypto signs with the digest of the body (enough for a test that
// checks who calls Sign and when, not SM2).
type fakeCrypto struct{}

func (fakeCrypto) SM3Hex(b []byte) string                          { return digest(b) }
func (fakeCrypto) Sign(b []byte) ([]byte, error)                   { s := sha256.Sum256(b); return s[:], nil }
func (fakeCrypto) KeyID() string                                   { return "gateway" }
func (fakeCrypto) VerifyBody(string, string, []byte, []byte) error { return nil }
func (fakeCrypto) VerifyToken(string) (gateway.TokenInfo, error) {
	return gateway.TokenInfo{}, errors.New("not used")
}

// memLog is a hand-written in-memory evidence log that links with the
// evidence package's Linker, as every store does.
type memLog struct {
	mu    sync.Mutex
	rows  []gateway.EvidenceRow
	cps   []contracts.Checkpoint
	cases map[string]string
}

var linker = evidence.Linker{SM3: digest}

func (m *memLog) AppendEvidence(_ context.Context, recs ...contracts.EvidenceRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cases == nil {
		m.cases = map[string]string{}
	}
	for i := range recs {
		head := gateway.ChainHead{Hash: contracts.ZeroHash}
		if n := len(m.rows); n > 0 {
			head = gateway.ChainHead{Seq: m.rows[n-1].Seq, Hash: m.rows[n-1].Hash}
		}
		canon, err := linker.Link(&recs[i], head, m.cases[recs[i].CaseID])
		if err != nil {
			return err
		}
		m.rows = append(m.rows, gateway.EvidenceRow{Seq: recs[i].Seq, Hash: recs[i].Hash, Record: canon})
		if recs[i].CaseID != "" {
			m.cases[recs[i].CaseID] = recs[i].Hash
		}
	}
	return nil
}

func (m *memLog) EvidenceHead(context.Context) (int64, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.rows) == 0 {
		return 0, contracts.ZeroHash, nil
	}
	r := m.rows[len(m.rows)-1]
	return r.Seq, r.Hash, nil
}

func (m *memLog) ScanEvidence(_ context.Context, from, to int64, fn func(gateway.EvidenceRow) error) error {
	m.mu.Lock()
	rows := append([]gateway.EvidenceRow(nil), m.rows...)
	m.mu.Unlock()
	for _, r := range rows {
		if r.Seq >= from && (to <= 0 || r.Seq <= to) {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *memLog) SaveCheckpoint(_ context.Context, cp contracts.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.cps {
		if c.Seq == cp.Seq {
			return nil
		}
	}
	m.cps = append(m.cps, cp)
	return nil
}

func (m *memLog) Checkpoints(_ context.Context, from, to int64) ([]contracts.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []contracts.Checkpoint
	for _, c := range m.cps {
		if c.Seq >= from && (to <= 0 || c.Seq <= to) {
			out = append(out, c)
		}
	}
	return out, nil
}

// checkpointSeqs returns the seqs of the stored checkpoints.
func (m *memLog) checkpointSeqs() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int64
	for _, c := range m.cps {
		out = append(out, c.Seq)
	}
	return out
}

// fakeClock is moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func appendN(t *testing.T, log *memLog, n int, caseID string) {
	t.Helper()
	for range n {
		if err := log.AppendEvidence(t.Context(), contracts.EvidenceRecord{At: t0, Actor: "320404", Event: contracts.EventCaseReceived, CaseID: caseID}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond for up to two seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestCheckpointerRun: a running checkpointer signs the head when Every
// records followed the last checkpoint, or when Interval passed (on the
// injected clock) with records appended since, and once more when it
// stops.
func TestCheckpointerRun(t *testing.T) {
	log := &memLog{}
	clock := &fakeClock{now: t0}
	cp := evidence.NewCheckpointer(log, fakeCrypto{}, clock, nil, evidence.CheckpointOptions{Every: 5, Interval: time.Minute, Tick: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); cp.Run(ctx) }()

	appendN(t, log, 2, "")
	time.Sleep(30 * time.Millisecond) // many ticks: fewer than Every records, Interval not passed
	if got := log.checkpointSeqs(); len(got) != 0 {
		t.Fatalf("checkpoints before Every records or Interval: %v, want none", got)
	}
	clock.Advance(time.Minute)
	waitFor(t, "the periodic checkpoint", func() bool { return len(log.checkpointSeqs()) == 1 })
	if got := log.checkpointSeqs(); got[0] != 2 {
		t.Fatalf("periodic checkpoint at %v, want seq 2", got)
	}
	appendN(t, log, 5, "") // Every records: no clock needed
	waitFor(t, "the checkpoint after Every records", func() bool { return len(log.checkpointSeqs()) == 2 })
	appendN(t, log, 1, "")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if got, want := log.checkpointSeqs(), []int64{2, 7, 8}; len(got) != 3 || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("checkpoints %v, want %v (the last made at shutdown)", got, want)
	}
	if err := cp.Err(); err != nil {
		t.Errorf("Err after good checkpoints: %v", err)
	}
}

// TestChainVerifierLinks: every way a record can be changed is named at
// the first bad seq; a record edited with its own hash recomputed is
// caught by the next record's link.
func TestChainVerifierLinks(t *testing.T) {
	v := evidence.ChainVerifier{SM3: digest}
	tests := []struct {
		name   string
		tamper func(rows []gateway.EvidenceRow)
		bad    int64
		reason string
	}{
		{"intact", func([]gateway.EvidenceRow) {}, 0, ""},
		{"edited", func(rows []gateway.EvidenceRow) {
			rows[3].Record = []byte(strings.Replace(string(rows[3].Record), "320404", "320405", 1))
		}, 4, "hash mismatch"},
		{"edited, own hash recomputed", func(rows []gateway.EvidenceRow) {
			rec := rows[3].Record
			rec = []byte(strings.Replace(string(rec), "320404", "320405", 1))
			seq, prev, _ := contracts.ChainFields(rec)
			rows[3].Record, rows[3].Hash = rec, digest(contracts.ChainHeader(seq, prev, digest(rec)))
		}, 5, "does not link to record 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &memLog{}
			appendN(t, log, 6, "case-1")
			tt.tamper(log.rows)
			res, err := v.Verify(t.Context(), log, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tt.bad == 0 {
				if !res.OK || res.Checked != 6 {
					t.Errorf("intact log: %+v", res)
				}
				return
			}
			if res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != tt.bad || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("got %+v (reason %q), want record %d named: %q", res, res.Reason, tt.bad, tt.reason)
			}
		})
	}
}

// TestLinkerLinks: records link to the head and to their case's last
// record, and their hash covers seq, the previous hash and the content.
func TestLinkerLinks(t *testing.T) {
	log := &memLog{}
	appendN(t, log, 1, "a")
	appendN(t, log, 1, "")
	appendN(t, log, 1, "a")
	var recs []contracts.EvidenceRecord
	for _, r := range log.rows {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(r.Record, &rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		seq, prev, ok := contracts.ChainFields(r.Record)
		if !ok || seq != r.Seq {
			t.Fatalf("row %d: fields %d %q %v", r.Seq, seq, prev, ok)
		}
		if want := digest(contracts.ChainHeader(seq, prev, digest(r.Record))); r.Hash != want {
			t.Errorf("row %d: hash %s, want %s", r.Seq, r.Hash, want)
		}
	}
	if recs[0].CasePrevHash != "" || recs[1].CasePrevHash != "" || recs[2].CasePrevHash != log.rows[0].Hash {
		t.Errorf("case links: %q %q %q, want \"\", \"\" and record 1's hash", recs[0].CasePrevHash, recs[1].CasePrevHash, recs[2].CasePrevHash)
	}
	if recs[1].PrevHash != log.rows[0].Hash || recs[0].PrevHash != contracts.ZeroHash {
		t.Errorf("chain links: %q %q", recs[0].PrevHash, recs[1].PrevHash)
	}
	if _, err := linker.Link(&contracts.EvidenceRecord{Event: "x", Actor: "y"}, gateway.ChainHead{}, ""); err == nil {
		t.Error("a record without At was linked")
	}
	if _, err := (evidence.Linker{}).Link(&contracts.EvidenceRecord{At: t0, Event: "x", Actor: "y"}, gateway.ChainHead{}, ""); err == nil {
		t.Error("a linker without SM3 linked a record")
	}
}

// lockingLog is a memLog shared by several processes: it holds the
// checkpoint lock (gateway.CheckpointLock) and counts how it was used.
type lockingLog struct {
	*memLog
	lock         sync.Mutex
	mu           sync.Mutex
	held, max, n int
}

func (l *lockingLog) LockCheckpoints(context.Context) (func(), error) {
	l.lock.Lock()
	l.mu.Lock()
	l.held++
	l.n++
	l.max = max(l.max, l.held)
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.held--
		l.mu.Unlock()
		l.lock.Unlock()
	}, nil
}

// TestCheckpointersShareTheLock: two checkpointers on one shared log (two
// replicas) sign under the store's checkpoint lock, so the head is signed
// once, not once by each.
func TestCheckpointersShareTheLock(t *testing.T) {
	log := &lockingLog{memLog: &memLog{}}
	appendN(t, log.memLog, 3, "")
	a := evidence.NewCheckpointer(log, fakeCrypto{}, nil, nil, evidence.CheckpointOptions{})
	b := evidence.NewCheckpointer(log, fakeCrypto{}, nil, nil, evidence.CheckpointOptions{})
	var wg sync.WaitGroup
	for range 10 {
		for _, c := range []*evidence.Checkpointer{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Checkpoint(t.Context()); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if log.n != 20 || log.max != 1 {
		t.Errorf("lock taken %d times, at most %d at once; want 20, 1", log.n, log.max)
	}
	if got := log.checkpointSeqs(); len(got) != 1 || got[0] != 3 {
		t.Errorf("checkpoints %v; want the head signed once", got)
	}
}
