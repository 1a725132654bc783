package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/signing"
)

// TestBackupWhileServing: a backup taken while the store is being
// written is a consistent store: its evidence log verifies, its head is
// a head the source had, and it opens as a store.
func TestBackupWhileServing(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tongban.db")
	s := openAt(t, src, Options{})
	defer s.Close()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	appendOne := func() error {
		return s.AppendEvidence(context.Background(), contracts.EvidenceRecord{At: at, Actor: "gateway", Event: "test"})
	}
	for range 50 {
		if err := appendOne(); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writes go on during the backup
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := appendOne(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	dst := filepath.Join(dir, "backup.db")
	err := Backup(t.Context(), src, dst)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(t.Context(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := evidence.ChainVerifier{SM3: signing.EvidenceHash}.Verify(t.Context(), r, 0, 0)
	if err != nil || !res.OK || res.Checked < 50 {
		t.Fatalf("backup's log: %+v, %v; want at least the 50 records before it, intact", res, err)
	}
	var srcHash string
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT hash FROM evidence WHERE seq = ?`, res.HeadSeq).Scan(&srcHash); err != nil || srcHash != res.HeadHash {
		t.Errorf("backup head %d %s; the source's record %d has %s (%v)", res.HeadSeq, res.HeadHash, res.HeadSeq, srcHash, err)
	}
	if err := Backup(t.Context(), src, dst); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("backup over an existing file: %v, want refused", err)
	}
	if err := Backup(t.Context(), filepath.Join(dir, "missing.db"), filepath.Join(dir, "b2.db")); err == nil {
		t.Error("backup of a missing store succeeded")
	}
}
