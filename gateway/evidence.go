package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/contracts"
)

// GatewayActor is the actor of evidence records of steps the gateway takes
// on its own (delivery attempts).
const GatewayActor = "gateway"

func b64(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// traceOf returns the trace id and W3C traceparent of the span ctx
// carries; fallback is the trace id the caller sent, used when there is
// no span.
func traceOf(ctx context.Context, fallback string) (traceID, traceparent string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return fallback, ""
	}
	return sc.TraceID().String(), fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// exchangeEvidence is the record of an accepted exchange (a case
// submission or a status update), the receipt issued for it and the
// delivery that carries it on (del, to its partner).
// It returns nil when the service keeps no evidence.
func (s *Service) exchangeEvidence(ctx context.Context, in Inbound, ex *Exchange, c *Case, event string, del *Delivery, region string, extra func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord {
	if s.noEvidence {
		return nil
	}
	traceID, _ := traceOf(ctx, in.TraceID)
	d := contracts.EvidenceDetail{
		State: c.State, Size: len(ex.Body), Signature: b64(ex.Signature),
		ReceiptSM3: s.crypto.SM3Hex(ex.Receipt), ReceiptSignature: b64(ex.ReceiptSig),
		ReceiptKeyID: s.crypto.KeyID(), ReceiptMediaType: ex.ReceiptType,
		PayloadSM3: s.crypto.SM3Hex(del.Payload),
	}
	if extra != nil {
		extra(&d)
	}
	kind := contracts.ExchangeKindCase
	if ex.Kind == ExchangeStatus {
		kind = contracts.ExchangeKindStatus
	}
	return []contracts.EvidenceRecord{{
		At: ex.ReceivedAt, Actor: in.Caller.ID(), Event: event, ExchangeID: ex.ExchangeID, CaseID: c.ID,
		DeliveryID: del.ID, Partner: del.Partner, Region: region, Kind: kind, TraceID: traceID, KeyID: ex.KeyID, JTI: in.Caller.TokenID,
		BodySM3: ex.BodySM3, Detail: d.JSON(),
	}}
}

// kindOf maps a delivery kind to the exchange kind audit search knows.
func kindOf(k contracts.DeliveryKind) contracts.ExchangeKind {
	switch k {
	case contracts.DeliveryKindCase:
		return contracts.ExchangeKindCase
	case contracts.DeliveryKindStatus:
		return contracts.ExchangeKindStatus
	}
	return contracts.ExchangeKindUsageRecord
}

// attemptLog makes the evidence records of delivery attempts: sm3
// digests acknowledgements (nil leaves the digest out); off keeps no
// evidence at all.
type attemptLog struct {
	sm3 func([]byte) string
	off bool
}

// record returns the record of one delivery attempt (or mailbox offer)
// with its outcome, or nil when the log is off; del carries the outcome
// (State, Attempts, NextAt, LastError and, when delivered, the
// acknowledgement).
func (l attemptLog) record(del *Delivery, at time.Time, outcome string, latency time.Duration, caseState contracts.CaseState) []contracts.EvidenceRecord {
	if l.off {
		return nil
	}
	return []contracts.EvidenceRecord{attemptEvidence(l.sm3, del, at, outcome, latency, caseState)}
}

// attemptEvidence is the record of one delivery attempt (see
// attemptLog.record); sm3 digests the acknowledgement's exact bytes when
// not nil.
func attemptEvidence(sm3 func([]byte) string, del *Delivery, at time.Time, outcome string, latency time.Duration, caseState contracts.CaseState) contracts.EvidenceRecord {
	traceID := ""
	if len(del.TraceParent) == 55 {
		traceID = del.TraceParent[3:35]
	}
	d := contracts.EvidenceDetail{Attempt: del.Attempts, Outcome: outcome, Reason: del.LastError, CaseState: caseState,
		LatencyMS: latency.Milliseconds()}
	if del.State == contracts.TransportStateRetryWait {
		d.NextAt = del.NextAt.UTC().Format(time.RFC3339Nano)
	}
	if del.State == contracts.TransportStateDelivered {
		d.Reason = ""
		if del.Ack != nil {
			d.AckKeyID, d.PartnerCaseNo = del.Ack.KeyID, del.Ack.PartnerCaseNo
			d.AckAcknowledgedAt = del.Ack.AcknowledgedAt.UTC().Format(time.RFC3339Nano)
		}
		if sm3 != nil && len(del.AckBody) > 0 {
			d.AckSM3 = sm3(del.AckBody)
		}
		d.AckSignature = b64(del.AckSig)
	}
	return contracts.EvidenceRecord{
		At: at, Actor: GatewayActor, Event: contracts.EventDeliveryAttempt, ExchangeID: del.ExchangeID, CaseID: del.CaseID,
		DeliveryID: del.ID, Partner: del.Partner, Kind: kindOf(del.Kind), TraceID: traceID, Detail: d.JSON(),
	}
}

// Checkpointer signs the evidence log's head from time to time
// (contracts.Checkpoint), so that a rewritten log is caught even where its
// chain was recomputed: the signature over the head hash cannot be.
type Checkpointer struct {
	store    Store
	crypto   Crypto
	clock    Clock
	log      *slog.Logger
	every    int64
	interval time.Duration

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
}

// NewCheckpointer returns a checkpointer; call Run, or Checkpoint.
func NewCheckpointer(store Store, crypto Crypto, clock Clock, log *slog.Logger, o CheckpointOptions) *Checkpointer {
	if o.Every <= 0 {
		o.Every = 1000
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Checkpointer{store: store, crypto: crypto, clock: clock, log: log, every: o.Every, interval: o.Interval}
}

// Checkpoint signs the log's current head and stores the checkpoint,
// unless the head is already checkpointed (then it returns that one). An
// empty log has no checkpoint: it returns nil.
func (c *Checkpointer) Checkpoint(ctx context.Context) (cp *contracts.Checkpoint, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { c.lastErr = err }()
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
	t := time.NewTicker(time.Second)
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

// EvidenceSource is what chain verification reads: a store, or an
// offline copy of one.
type EvidenceSource interface {
	EvidenceHead(ctx context.Context) (seq int64, hash string, err error)
	ScanEvidence(ctx context.Context, from, to int64, fn func(EvidenceRow) error) error
	Checkpoints(ctx context.Context, from, to int64) ([]contracts.Checkpoint, error)
}

// ChainVerifier checks an evidence log. SM3 hashes canonical forms (lower
// hex); VerifyCheckpoint checks a checkpoint's signature, returning an
// error wrapping ErrUnknownKey when it does not know the checkpoint's key
// (nil: signatures are not checked, only that checkpoints match the
// chain).
type ChainVerifier struct {
	SM3              func([]byte) string
	VerifyCheckpoint func(contracts.Checkpoint) error
	// Progress, when set, is called with the number of records checked
	// every ProgressEvery records, for long walks.
	Progress func(checked int64)
}

// ProgressEvery is how many records ChainVerifier checks between calls of
// its Progress.
const ProgressEvery = 100_000

// errStop ends a scan early.
var errStop = errors.New("stop")

// Verify walks the records from seq from to seq to (0: the head) and the
// checkpoints among them. Every record must be where its seq says, hash to
// its stored hash, and link to the record before (prev_hash); every
// checkpoint must name the hash of its record and carry a valid signature.
// An edited record fails its hash; a deleted one leaves a gap; an inserted
// or moved one breaks the link or its seq; a rewritten stretch whose
// hashes were recomputed fails at the next checkpoint. The result names
// the first bad seq and why. An error means the log could not be read.
func (v ChainVerifier) Verify(ctx context.Context, src EvidenceSource, from, to int64) (*contracts.ChainVerifyResult, error) {
	headSeq, headHash, err := src.EvidenceHead(ctx)
	if err != nil {
		return nil, err
	}
	if from <= 0 {
		from = 1
	}
	if to <= 0 || to > headSeq {
		to = headSeq
	}
	res := &contracts.ChainVerifyResult{From: from, To: to, HeadSeq: headSeq, HeadHash: headHash, OK: true}
	bad := func(seq int64, format string, args ...any) {
		if res.OK {
			res.OK, res.FirstBadSeq, res.Reason = false, &seq, fmt.Sprintf(format, args...)
		}
	}
	if from > to {
		return res, nil
	}
	cps, err := src.Checkpoints(ctx, from, to)
	if err != nil {
		return nil, err
	}
	cpAt := map[int64]contracts.Checkpoint{}
	for _, cp := range cps {
		cpAt[cp.Seq] = cp
	}
	prev := contracts.ZeroHash
	if from > 1 {
		found := false
		err := src.ScanEvidence(ctx, from-1, from-1, func(r EvidenceRow) error {
			found, prev = true, r.Hash
			return nil
		})
		if err != nil {
			return nil, err
		}
		if !found {
			bad(from-1, "record %d, which record %d links to, is missing", from-1, from)
			return res, nil
		}
	}
	want := from
	err = src.ScanEvidence(ctx, from, to, func(r EvidenceRow) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.Seq != want {
			bad(want, "record %d is missing: the log goes from %d to %d", want, want-1, r.Seq)
			return errStop
		}
		seq, prevHash, ok := contracts.ChainFields(r.Record)
		switch {
		case !ok:
			bad(r.Seq, "record %d is not an evidence record in canonical form", r.Seq)
			return errStop
		case v.SM3(contracts.ChainHeader(seq, prevHash, v.SM3(r.Record))) != r.Hash:
			bad(r.Seq, "hash mismatch: record %d does not hash to its stored hash (the record was changed)", r.Seq)
			return errStop
		case seq != r.Seq:
			bad(r.Seq, "record %d holds seq %d (records were moved)", r.Seq, seq)
			return errStop
		case prevHash != prev:
			bad(r.Seq, "record %d does not link to record %d (a record before it was changed, removed, inserted or reordered)", r.Seq, r.Seq-1)
			return errStop
		}
		if cp, ok := cpAt[r.Seq]; ok {
			if cp.HeadHash != r.Hash {
				bad(r.Seq, "checkpoint %d signed another head hash than record %d has (the log was rewritten up to here)", r.Seq, r.Seq)
				return errStop
			}
			if v.VerifyCheckpoint != nil {
				if err := v.VerifyCheckpoint(cp); errors.Is(err, ErrUnknownKey) {
					bad(r.Seq, "checkpoint %d is signed with key %q, which is not one of the gateway's keys given", r.Seq, cp.KeyID)
					return errStop
				} else if err != nil {
					bad(r.Seq, "checkpoint %d: signature does not verify with key %q", r.Seq, cp.KeyID)
					return errStop
				}
			}
			res.CheckpointsVerified++
		}
		prev = r.Hash
		res.Checked++
		want++
		if v.Progress != nil && res.Checked%ProgressEvery == 0 {
			v.Progress(res.Checked)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if res.OK && want <= to {
		bad(want, "record %d is missing: the log ends at %d", want, want-1)
	}
	if res.OK && to == headSeq {
		// A checkpoint past the head: records were cut off the end. On a
		// live log records and checkpoints are appended while the walk
		// runs, so the head is read again: only a checkpoint past the new
		// head names records that are gone.
		later, err := src.Checkpoints(ctx, headSeq+1, 0)
		if err != nil {
			return nil, err
		}
		if len(later) > 0 {
			now, _, err := src.EvidenceHead(ctx)
			if err != nil {
				return nil, err
			}
			if last := later[len(later)-1]; last.Seq > now {
				bad(now+1, "record %d is missing: checkpoint %d signed a log that reached it, and the log ends at %d (records were removed from the end)",
					now+1, last.Seq, now)
			}
		}
	}
	return res, nil
}
