package evidence

import (
	"context"
	"errors"
	"fmt"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

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
func (v ChainVerifier) Verify(ctx context.Context, src gateway.EvidenceSource, from, to int64) (*contracts.ChainVerifyResult, error) {
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
		err := src.ScanEvidence(ctx, from-1, from-1, func(r gateway.EvidenceRow) error {
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
	err = src.ScanEvidence(ctx, from, to, func(r gateway.EvidenceRow) error {
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
				if err := v.VerifyCheckpoint(cp); errors.Is(err, gateway.ErrUnknownKey) {
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
