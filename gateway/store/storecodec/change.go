package storecodec

import (
	"fmt"

	"github.com/tongban/tongban/gateway"
)

// CheckAlso checks the further case changes of ch (gateway.Change.Also)
// before a store writes anything of ch: each must name its case and
// carry only what such a change may (Case, Status, Enqueue, Cancel,
// Evidence, Create), not an Exchange, Delivered, OutOfBand,
// FreeOwnerCaseNo, Claim or Also of its own. A delivery it enqueues must
// be of its own case. The first fault found is the error.
func CheckAlso(ch gateway.Change) error {
	for i, a := range ch.Also {
		var bad []string
		if a.Case == nil {
			return fmt.Errorf("also[%d]: change has no case", i)
		}
		if a.Exchange != nil {
			bad = append(bad, "Exchange")
		}
		if a.Delivered != nil || a.OutOfBand {
			bad = append(bad, "Delivered")
		}
		if a.FreeOwnerCaseNo != "" {
			bad = append(bad, "FreeOwnerCaseNo")
		}
		if a.Claim != nil {
			bad = append(bad, "Claim")
		}
		if len(a.Also) > 0 {
			bad = append(bad, "Also")
		}
		if len(bad) > 0 {
			return fmt.Errorf("also[%d] (case %q): a further case change may not carry %v", i, a.Case.ID, bad)
		}
		for _, d := range a.Enqueue {
			if d == nil {
				return fmt.Errorf("also[%d] (case %q): nil delivery", i, a.Case.ID)
			}
			if d.CaseID != "" && d.CaseID != a.Case.ID {
				return fmt.Errorf("also[%d] (case %q): delivery %q is for case %q", i, a.Case.ID, d.ID, d.CaseID)
			}
		}
	}
	return nil
}
