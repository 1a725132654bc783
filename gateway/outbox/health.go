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
// in a row failed), "down" (the last PartnerDown or more failed, or its
// circuit is open) or "unknown" (no attempt since start). Circuit is the
// state of the partner's circuit breaker ("closed", "open",
// "half-open"; empty when the dispatcher keeps none). Deliveries to a
// down partner back off each on its own; while its circuit is open they
// are put back without an attempt (counted in Postponed, with those put
// back because the partner had its PerPartner attempts in flight), and
// the trial attempt's success closes the circuit.
type PartnerState struct {
	Partner             string    `json:"partner"`
	State               string    `json:"state"`
	Circuit             string    `json:"circuit,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures,omitempty"`
	Postponed           int64     `json:"postponed,omitempty"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastFailure         time.Time `json:"last_failure,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
}

// partnerHealth tracks PartnerStates.
type partnerHealth struct {
	mu sync.Mutex
	by map[string]*PartnerState
}

// entry returns partner's state, made on first use; h.mu is held.
func (h *partnerHealth) entry(partner string) *PartnerState {
	if h.by == nil {
		h.by = map[string]*PartnerState{}
	}
	s := h.by[partner]
	if s == nil {
		s = &PartnerState{Partner: partner, State: "unknown"}
		h.by[partner] = s
	}
	return s
}

// postponed counts a delivery to partner put back without an attempt.
func (h *partnerHealth) postponed(partner string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entry(partner).Postponed++
}

// note records an attempt's result: a success when failure is "", else
// a failure described by it.
func (h *partnerHealth) note(partner string, at time.Time, failure string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.entry(partner)
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
// to ("unknown" when not attempted yet), with their circuits', sorted by
// id.
func (h *partnerHealth) states(dir *gateway.Directory, circuits *gateway.Circuits) []PartnerState {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []PartnerState
	for _, p := range dir.Partners() { // sorted by id
		if !p.Pushes() {
			continue
		}
		s := PartnerState{Partner: p.ID, State: "unknown"}
		if cur := h.by[p.ID]; cur != nil {
			s = *cur
		}
		s.Circuit = circuits.State(p.ID)
		if s.Circuit == gateway.CircuitOpen {
			s.State = "down"
		}
		out = append(out, s)
	}
	return out
}

// snapshot returns what was seen of partner: its state, or ok false when
// no attempt was made to it since start.
func (h *partnerHealth) snapshot(partner string) (s PartnerState, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.by[partner]; cur != nil {
		return *cur, true
	}
	return PartnerState{Partner: partner, State: "unknown"}, false
}
