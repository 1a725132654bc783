package outbox

import (
	"sync"
	"time"

	"github.com/tongban/tongban/gateway"
)

// PartnerDown is how many consecutive failed attempts make a pushing
// partner "down" in PartnerStates.
const PartnerDown = 3

// PartnerState is what the dispatcher saw of one pushing partner lately:
// State is "up" (its last attempt succeeded, or fewer than PartnerDown
// in a row failed), "down" (the last PartnerDown or more failed) or
// "unknown" (no attempt since start). Deliveries to a down partner are
// not stopped: each backs off on its own, and the first success brings
// the partner up again.
type PartnerState struct {
	Partner             string    `json:"partner"`
	State               string    `json:"state"`
	ConsecutiveFailures int       `json:"consecutive_failures,omitempty"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastFailure         time.Time `json:"last_failure,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
}

// partnerHealth tracks PartnerStates.
type partnerHealth struct {
	mu sync.Mutex
	by map[string]*PartnerState
}

// note records an attempt's result: a success when failure is "", else
// a failure described by it.
func (h *partnerHealth) note(partner string, at time.Time, failure string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.by == nil {
		h.by = map[string]*PartnerState{}
	}
	s := h.by[partner]
	if s == nil {
		s = &PartnerState{Partner: partner}
		h.by[partner] = s
	}
	if failure == "" {
		s.ConsecutiveFailures, s.LastSuccess, s.LastError = 0, at, ""
	} else {
		s.ConsecutiveFailures++
		s.LastFailure, s.LastError = at, failure
	}
	s.State = "up"
	if s.ConsecutiveFailures >= PartnerDown {
		s.State = "down"
	}
}

// states returns the states of the partners of dir the dispatcher pushes
// to ("unknown" when not attempted yet), sorted by id.
func (h *partnerHealth) states(dir *gateway.Directory) []PartnerState {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []PartnerState
	for _, p := range dir.Partners() { // sorted by id
		if !p.Pushes() {
			continue
		}
		if s := h.by[p.ID]; s != nil {
			out = append(out, *s)
		} else {
			out = append(out, PartnerState{Partner: p.ID, State: "unknown"})
		}
	}
	return out
}
