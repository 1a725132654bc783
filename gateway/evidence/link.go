package evidence

import (
	"fmt"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Linker links records into the evidence chain (gateway.ChainLinker). SM3
// is the lowercase hex SM3 digest (gateway.Crypto.SM3Hex).
type Linker struct {
	SM3 func([]byte) string
}

var _ gateway.ChainLinker = Linker{}

// Link gives r the next place in the chain after head: Seq head.Seq+1,
// PrevHash head.Hash, CasePrevHash casePrev (kept only when r names a
// case) and Hash, the SM3 of contracts.ChainHeader over its seq, the
// previous hash and the SM3 of its canonical form. At becomes UTC. It
// fails when At, Event or Actor is missing or the record has no canonical
// form; r is then left unlinked.
func (l Linker) Link(r *contracts.EvidenceRecord, head gateway.ChainHead, casePrev string) ([]byte, error) {
	if l.SM3 == nil {
		return nil, fmt.Errorf("evidence record %q: the linker has no SM3", r.Event)
	}
	if r.At.IsZero() || r.Event == "" || r.Actor == "" {
		return nil, fmt.Errorf("evidence record %q: at, event and actor are required", r.Event)
	}
	r.Seq, r.PrevHash, r.Hash = head.Seq+1, head.Hash, ""
	r.At = r.At.UTC()
	r.CasePrevHash = ""
	if r.CaseID != "" {
		r.CasePrevHash = casePrev
	}
	canon, err := r.Canonical()
	if err != nil {
		return nil, err
	}
	r.Hash = l.SM3(contracts.ChainHeader(r.Seq, r.PrevHash, l.SM3(canon)))
	return canon, nil
}
