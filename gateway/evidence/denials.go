package evidence

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Denial is a request the HTTP layer refused before the core could act
// on it: not authenticated, badly signed, or not allowed; or a case the
// caller named that is not its business (answered not_found so that the
// caller cannot learn the case exists).
type Denial struct {
	Caller  string // the caller id, when the token named one
	KeyID   string // the token's or body's key id, if any
	JTI     string // the token's jti, if it verified
	Code    contracts.Code
	Method  string
	Route   string // the route pattern, never the raw path
	TraceID string
	// CaseRef is the case id a caller probed: a case that exists but
	// that the caller may not read or report on. It is recorded as the
	// detail's case_ref, not as the record's case, so the probe stays
	// out of the case's own chain and bundle.
	CaseRef string

	suppressed int // denials like it not recorded before it
}

// Bounds of the access.denied records. Each authenticated caller gets
// its own budget of maxDenialsPerSecond records a second (a burst of as
// many), so one caller's flood never hides another caller's refusal; the
// budgets of at most maxDenialCallers callers are kept, the least
// recently denied forgotten first (its pending count is written then).
// Requests with no valid token (anyone who can reach the port can send
// them) get one record per error code per anonymousDenialWindow. Denials
// over the bounds are counted, and the count is written, under the same
// caller, with its next record (or when its budget is forgotten, or by
// FlushDenials).
const (
	maxDenialsPerSecond   = 50
	maxDenialCallers      = 1024
	anonymousDenialWindow = time.Minute
)

// denialGate decides which denials get a record. Its zero value is ready.
type denialGate struct {
	mu        sync.Mutex
	callers   *simplelru.LRU[string, *callerDenials]
	evicted   []Denial // pending counts of forgotten callers, to be written
	anonymous map[contracts.Code]*anonymousDenials
}

// callerDenials is the denial budget of one authenticated caller.
type callerDenials struct {
	limit      *rate.Limiter
	suppressed int
	last       Denial // the last suppressed denial
}

// anonymousDenials are the anonymous denials of one code.
type anonymousDenials struct {
	at         time.Time // of the last record
	suppressed int
	last       Denial // the last suppressed denial
}

// pendingRecord is the record written for n suppressed denials when no
// later denial of theirs carries the count: it has the last one's caller,
// code and route, and n as its suppressed count.
func pendingRecord(last Denial, n int) Denial {
	last.suppressed = n
	return last
}

// admit reports whether d, at now, gets a record, with d's suppressed
// count set, and returns the records of callers whose budget it made the
// gate forget (see pendingRecord).
func (g *denialGate) admit(d Denial, now time.Time) (Denial, bool, []Denial) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d.Caller == "" {
		if g.anonymous == nil {
			g.anonymous = map[contracts.Code]*anonymousDenials{}
		}
		a := g.anonymous[d.Code]
		if a == nil {
			a = &anonymousDenials{}
			g.anonymous[d.Code] = a
		}
		if !a.at.IsZero() && now.Sub(a.at) < anonymousDenialWindow {
			a.suppressed++
			a.last = d
			return d, false, nil
		}
		d.suppressed = a.suppressed
		a.at, a.suppressed = now, 0
		return d, true, nil
	}
	if g.callers == nil {
		g.callers, _ = simplelru.NewLRU(maxDenialCallers, func(_ string, c *callerDenials) {
			if c.suppressed > 0 {
				g.evicted = append(g.evicted, pendingRecord(c.last, c.suppressed))
			}
		}) // a positive size: cannot fail
	}
	c, ok := g.callers.Get(d.Caller)
	if !ok {
		c = &callerDenials{limit: rate.NewLimiter(maxDenialsPerSecond, maxDenialsPerSecond)}
		g.callers.Add(d.Caller, c)
	}
	evicted := g.evicted
	g.evicted = nil
	if !c.limit.AllowN(now, 1) {
		c.suppressed++
		c.last = d
		return d, false, evicted
	}
	d.suppressed = c.suppressed
	c.suppressed = 0
	return d, true, evicted
}

// pending returns the denials counted but not yet recorded, one record
// per caller and one per anonymous error code (see pendingRecord), and
// forgets them.
func (g *denialGate) pending() []Denial {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.evicted
	g.evicted = nil
	var anon []Denial
	for _, a := range g.anonymous {
		if a.suppressed > 0 {
			anon = append(anon, pendingRecord(a.last, a.suppressed))
			a.suppressed = 0
		}
	}
	slices.SortFunc(anon, func(x, y Denial) int { return strings.Compare(string(x.Code), string(y.Code)) })
	out = append(out, anon...)
	if g.callers != nil {
		for _, c := range g.callers.Values() { // oldest first
			if c.suppressed > 0 {
				out = append(out, pendingRecord(c.last, c.suppressed))
				c.suppressed = 0
			}
		}
	}
	return out
}

// RecordDenial writes an access.denied record for d: each authenticated
// caller's denials at most maxDenialsPerSecond a second, anonymous ones
// (no valid token) at most one per error code a minute; the others are
// counted into the same caller's (or code's) next record. The request
// was already refused; a failure to record is logged, not returned.
func (s *Auditor) RecordDenial(ctx context.Context, d Denial) {
	if s.off {
		return
	}
	now := s.clock.Now().UTC()
	d, ok, evicted := s.denials.admit(d, now)
	for _, e := range evicted {
		s.writeDenial(ctx, e, now)
	}
	if ok {
		s.writeDenial(ctx, d, now)
	}
}

// FlushDenials records the denials counted since their last record: one
// record per caller and per anonymous error code that has some; serve
// calls it when it stops.
func (s *Auditor) FlushDenials(ctx context.Context) {
	if s.off {
		return
	}
	now := s.clock.Now().UTC()
	for _, d := range s.denials.pending() {
		s.writeDenial(ctx, d, now)
	}
}

// writeDenial appends d's record.
func (s *Auditor) writeDenial(ctx context.Context, d Denial, now time.Time) {
	actor := d.Caller
	if actor == "" {
		actor = "anonymous"
	}
	traceID, _ := gateway.TraceOf(ctx, d.TraceID)
	detail := contracts.EvidenceDetail{Code: d.Code, Method: d.Method, Route: d.Route, SuppressedBefore: d.suppressed, CaseRef: d.CaseRef}
	rec := contracts.EvidenceRecord{At: now, Actor: actor, Event: contracts.EventAccessDenied, TraceID: traceID,
		KeyID: d.KeyID, JTI: d.JTI, Detail: detail.JSON()}
	if err := s.store.AppendEvidence(ctx, rec); err != nil {
		s.log.ErrorContext(ctx, "access denial not recorded in the evidence log", "err", err, "code", string(d.Code))
	}
}
