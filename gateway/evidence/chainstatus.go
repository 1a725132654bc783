package evidence

import (
	"context"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// ChainHead is where the evidence log stands: its head and its last
// signed checkpoint (nil when none was signed yet).
type ChainHead struct {
	Seq            int64
	Hash           string
	LastCheckpoint *contracts.Checkpoint
}

// maxCheckpointScan bounds the records before the head searched for the
// last checkpoint.
const maxCheckpointScan = 1 << 20

// Head returns the evidence log's head and its last checkpoint, for
// auditors and operators (verify_chain).
func (s *Auditor) Head(ctx context.Context, p gateway.Principal) (*ChainHead, error) {
	if err := gateway.Authorize(p, gateway.ActVerifyChain, nil, ""); err != nil {
		return nil, err
	}
	seq, hash, err := s.store.EvidenceHead(ctx)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	h := &ChainHead{Seq: seq, Hash: hash}
	if seq == 0 {
		return h, nil
	}
	cps, err := s.store.Checkpoints(ctx, max(seq-maxCheckpointScan, 1), 0)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	if n := len(cps); n > 0 {
		h.LastCheckpoint = &cps[n-1]
	}
	return h, nil
}
