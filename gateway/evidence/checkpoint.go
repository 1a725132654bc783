package evidence

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Checkpointer signs the evidence log's head from time to time
// (contracts.Checkpoint), so that a rewritten log is caught even where its
// chain was recomputed: the signature over the head hash cannot be.
type Checkpointer struct {
	store    gateway.EvidenceLog
	crypto   gateway.Crypto
	clock    gateway.Clock
	log      *slog.Logger
	every    int64
	interval time.Duration
	tick     time.Duration

	mu      sync.Mutex
	last    contracts.Checkpoint
	lastErr error // of the last checkpoint attempt
}

// Err returns the error of the last checkpoint attempt, nil when it
// succeeded (or none was made): whether the evidence log took the
// gateway's last signed write.
func (c *Checkpointer) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// CheckpointOptions tune the checkpointer; zero values take the defaults.
type CheckpointOptions struct {
	// Every is how many records may follow the last checkpoint before
	// the next; default 1000.
	Every int64
	// Interval is the longest time between checkpoints while records are
	// appended; default 1m.
	Interval time.Duration
	// Tick is how often Run looks at the head; default 1s. Tests shorten
	// it and move the injected clock instead of sleeping.
	Tick time.Duration
}

// NewCheckpointer returns a checkpointer; call Run, or Checkpoint.
func NewCheckpointer(store gateway.EvidenceLog, crypto gateway.Crypto, clock gateway.Clock, log *slog.Logger, o CheckpointOptions) *Checkpointer {
	if o.Every <= 0 {
		o.Every = 1000
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if clock == nil {
		clock = gateway.SystemClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Checkpointer{store: store, crypto: crypto, clock: clock, log: log, every: o.Every, interval: o.Interval, tick: o.Tick}
}

// Checkpoint signs the log's current head and stores the checkpoint,
// unless the head is already checkpointed (then it returns that one). An
// empty log has no checkpoint: it returns nil.
func (c *Checkpointer) Checkpoint(ctx context.Context) (cp *contracts.Checkpoint, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { c.lastErr = err }()
	// Replicas sharing the store sign one at a time: the second finds the
	// head already checkpointed.
	if l, ok := c.store.(gateway.CheckpointLock); ok {
		unlock, err := l.LockCheckpoints(ctx)
		if err != nil {
			return nil, fmt.Errorf("checkpoint lock: %w", err)
		}
		defer unlock()
	}
	seq, hash, err := c.store.EvidenceHead(ctx)
	if err != nil {
		return nil, err
	}
	if seq == 0 {
		return nil, nil
	}
	if c.last.Seq != seq {
		// After a restart the head may be checkpointed already.
		stored, err := c.store.Checkpoints(ctx, seq, seq)
		if err != nil {
			return nil, err
		}
		if len(stored) > 0 {
			c.last = stored[0]
		}
	}
	if c.last.Seq == seq {
		same := c.last
		return &same, nil
	}
	next := contracts.Checkpoint{Seq: seq, HeadHash: hash, At: c.clock.Now().UTC(), KeyID: c.crypto.KeyID()}
	if next.Signature, err = c.crypto.Sign(next.Canonical()); err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	if err := c.store.SaveCheckpoint(ctx, next); err != nil {
		return nil, err
	}
	c.last = next
	return &next, nil
}

// Run checkpoints whenever Every records followed the last checkpoint, or
// Interval passed with records appended since, until ctx ends; then it
// makes a last checkpoint (bounded by a few seconds) and returns.
func (c *Checkpointer) Run(ctx context.Context) {
	t := time.NewTicker(c.tick)
	defer t.Stop()
	lastAt := c.clock.Now()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, err := c.Checkpoint(fctx); err != nil {
				c.log.Error("final evidence checkpoint failed", "err", err)
			}
			return
		case <-t.C:
		}
		seq, _, err := c.store.EvidenceHead(ctx)
		if err != nil {
			continue
		}
		c.mu.Lock()
		last := c.last.Seq
		c.mu.Unlock()
		if seq == last || (seq-last < c.every && c.clock.Now().Sub(lastAt) < c.interval) {
			continue
		}
		if cp, err := c.Checkpoint(ctx); err != nil {
			c.log.Error("evidence checkpoint failed", "err", err)
		} else if cp != nil {
			lastAt = c.clock.Now()
			c.log.Debug("evidence checkpoint", "seq", cp.Seq)
		}
	}
}
