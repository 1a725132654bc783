package postgres

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCheckpointLockAcrossStores: one store at a time holds the
// checkpoint lock; another waits, gives up when its context ends, and
// gets the lock once it is released.
func TestCheckpointLockAcrossStores(t *testing.T) {
	schema := freshSchema(t)
	a, b := openClosed(t, schema), openClosed(t, schema)
	unlock, err := a.LockCheckpoints(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.LockCheckpoints(ctx); err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("second store took a held lock: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := b.LockCheckpoints(t.Context())
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the second store got the lock while the first held it: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second store never got the released lock")
	}
	// Another schema's lock is another lock.
	other := openClosed(t, freshSchema(t))
	u, err := a.LockCheckpoints(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer u()
	ctx2, cancel2 := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel2()
	u2, err := other.LockCheckpoints(ctx2)
	if err != nil {
		t.Fatalf("a store of another schema waited for this schema's lock: %v", err)
	}
	u2()
}
