package gateway

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/port"
)

// Partner is one caller known to the gateway: a district system, a window,
// an auditor or an operator. Only partners with role partner and a
// deliverer or a Mailbox receive cases and status updates.
type Partner struct {
	ID      string
	Roles   []contracts.Role
	Regions []string // GB/T 2260 codes this caller serves
	// Style names the partner's adapter style (standard, mapped-json,
	// soap, mailbox, ...) as configured; "" for a caller without an
	// adapter. It is shown to operators and decides nothing.
	Style string
	// Cases and Statuses push the partner's deliveries of each kind; nil
	// when its adapter does not deliver that kind (a delivery of it is
	// then refused permanently, with a reason) or the partner pulls.
	Cases    port.CaseDeliverer
	Statuses port.StatusDeliverer
	// Notices pushes the partner's notices (deadline warnings, overdue
	// notices, evaluations, follow-up replies, cancelled parts); nil when
	// its adapter does not carry them or the partner pulls.
	Notices port.NoticeDeliverer
	// Mailbox, when set, means the partner cannot take inbound calls: it
	// pulls its deliveries from its mailbox (GET /v1/mailbox) and
	// acknowledges them (POST /v1/mailbox/ack). Cases and Statuses are
	// then nil.
	Mailbox *MailboxPolicy
	// Translator, when set, reads the partner's calls made in its own
	// format (POST /v1/inbound/{partner_id}).
	Translator port.Translator
	Retry      RetryPolicy
	Timeout    time.Duration // per delivery attempt
	// Library is the partner's license library (证照库), nil when it has
	// none.
	Library *Library
}

// MailboxPolicy says how a pulling partner's mailbox behaves. The partner's
// RetryPolicy counts offers: a message offered MaxAttempts times without an
// acknowledgement, or first stored longer ago than MaxAge when it would be
// offered again, becomes a dead letter.
type MailboxPolicy struct {
	// Visibility is how long a message handed out by a poll stays hidden
	// from later polls; not acknowledged by then, it is offered again.
	Visibility time.Duration
}

// Library describes a partner's license library: which regions' and which
// types' licenses it holds, and how to reach it.
type Library struct {
	// Regions are the GB/T 2260 codes whose licenses the library holds
	// (a city's library lists the city code, a province's the province
	// code). Licenses are routed to the library declaring the issuing
	// district, else its city, else its province.
	Regions []string
	// Types are the license type codes it holds; empty means every type.
	Types []string
	// Fallback marks a provincial or national library of last resort:
	// asked when no library declares the issuing region or one of its
	// parents.
	Fallback bool
	// Timeout bounds one lookup; zero means DefaultLookupTimeout.
	Timeout time.Duration
	// Source looks licenses up (required).
	Source port.LicenseSource
	// Usage receives the usage records of the library's licenses; nil
	// when the partner does not accept them (they are then kept only in
	// the gateway).
	Usage port.UsageDeliverer
	// UsageBatch is the most usage records passed to the partner in one
	// call: above 1, the dispatcher sends the records it finds due for
	// the partner together, up to that many, through Batches (one signed
	// call and one signed acknowledgement for all); 0 or 1, each record
	// goes alone through Usage. At most contracts.MaxUsageBatch.
	UsageBatch int
	// Batches sends batches of usage records; required when UsageBatch is
	// above 1.
	Batches port.UsageBatchDeliverer
}

// Batching reports whether the library takes its usage records in
// batches (UsageBatch above 1, with Usage and Batches set).
func (l *Library) Batching() bool {
	return l != nil && l.Usage != nil && l.Batches != nil && l.UsageBatch > 1
}

// holds reports whether the library holds licenses of type typeCode.
func (l *Library) holds(typeCode string) bool {
	return len(l.Types) == 0 || slices.Contains(l.Types, typeCode)
}

// overlaps reports whether two libraries hold a common type.
func (l *Library) overlaps(o *Library) bool {
	if len(l.Types) == 0 || len(o.Types) == 0 {
		return true
	}
	return slices.ContainsFunc(l.Types, func(t string) bool { return slices.Contains(o.Types, t) })
}

// Pushes reports whether the gateway pushes deliveries to the partner:
// cases or status updates through its adapter, or usage records to its
// license library.
func (p *Partner) Pushes() bool {
	return p.Cases != nil || p.Statuses != nil || (p.Library != nil && p.Library.Usage != nil)
}

// delivers reports whether the partner takes cases and status updates,
// pushed or pulled.
func (p *Partner) delivers() bool { return p.Cases != nil || p.Statuses != nil || p.Mailbox != nil }

// Has reports whether the partner holds role r.
func (p *Partner) Has(r contracts.Role) bool { return slices.Contains(p.Roles, r) }

// Serves reports whether region is one of the partner's regions or lies
// inside one (a partner serving city 320400 serves district 320404).
func (p *Partner) Serves(region string) bool {
	for _, r := range contracts.RegionFallbacks(region) {
		if slices.Contains(p.Regions, r) {
			return true
		}
	}
	return false
}

// Directory holds the configured partners and routes regions to them.
// What it holds is immutable: Replace swaps in, at once, the partners of
// another directory (a configuration reloaded while the gateway runs),
// and every method reads one consistent set of partners, the one in force
// when it was called. A *Partner, once returned, never changes; a caller
// holding one keeps the partner as it was when it got it.
type Directory struct {
	cur atomic.Pointer[directoryState]
	mu  sync.Mutex // serializes Replace
}

// directoryState is one immutable set of partners and its routing tables.
type directoryState struct {
	gen       uint64
	byID      map[string]*Partner
	byRegion  map[string]*Partner   // delivering partners only
	libraries map[string][]*Partner // by declared library region, config order
	fallbacks []*Partner            // fallback libraries, config order
}

// NewDirectory checks the partners and builds the routing table: ids are
// unique, regions valid, roles known, and no two delivering partners claim
// the same region.
func NewDirectory(partners []*Partner) (*Directory, error) {
	st, err := newDirectoryState(partners)
	if err != nil {
		return nil, err
	}
	d := &Directory{}
	d.cur.Store(st)
	return d, nil
}

// Replace puts the partners of next in force in d, all at once: from its
// return every call on d answers with them (a request already holding a
// partner finishes with it). next was checked when it was built
// (NewDirectory), so Replace cannot fail; next stays usable and shares
// the partners. Generation counts the replacements.
func (d *Directory) Replace(next *Directory) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := *next.state()
	st.gen = d.state().gen + 1
	d.cur.Store(&st)
}

// Generation is how many times Replace changed d's partners: 0 for the
// partners d was built with. A component that derives something from the
// partners rebuilds it when the generation moves.
func (d *Directory) Generation() uint64 { return d.state().gen }

// state returns the partners in force.
func (d *Directory) state() *directoryState { return d.cur.Load() }

// newDirectoryState checks the partners and builds their routing tables
// (see NewDirectory).
func newDirectoryState(partners []*Partner) (*directoryState, error) {
	d := &directoryState{byID: map[string]*Partner{}, byRegion: map[string]*Partner{}, libraries: map[string][]*Partner{}}
	for i, p := range partners {
		if p.ID == "" {
			return nil, fmt.Errorf("partners[%d]: id is required", i)
		}
		if _, dup := d.byID[p.ID]; dup {
			return nil, fmt.Errorf("partners[%d]: id %q appears twice", i, p.ID)
		}
		if len(p.Roles) == 0 {
			return nil, fmt.Errorf("partner %s: at least one role is required", p.ID)
		}
		for _, r := range p.Roles {
			if !r.Valid() {
				return nil, fmt.Errorf("partner %s: unknown role %q", p.ID, r)
			}
		}
		for _, r := range p.Regions {
			if err := contracts.ValidateRegion(r); err != nil {
				return nil, fmt.Errorf("partner %s: region %q: %v", p.ID, r, err)
			}
		}
		if p.Has(contracts.RolePartner) && len(p.Regions) > 0 && !p.delivers() {
			return nil, fmt.Errorf("partner %s: role partner with regions needs an adapter that delivers, or a mailbox", p.ID)
		}
		if (p.Cases != nil || p.Statuses != nil) && p.Mailbox != nil {
			return nil, fmt.Errorf("partner %s: pushes and pulls; a partner has an adapter that delivers or a mailbox, not both", p.ID)
		}
		if m := p.Mailbox; m != nil {
			if m.Visibility < 0 {
				return nil, fmt.Errorf("partner %s: mailbox visibility %s is negative", p.ID, m.Visibility)
			}
			if m.Visibility == 0 {
				m.Visibility = DefaultVisibility
			}
		}
		if err := d.addLibrary(p); err != nil {
			return nil, err
		}
		p.Retry = p.Retry.WithDefaults()
		if p.Timeout <= 0 {
			p.Timeout = DefaultPartnerTimeout
		}
		d.byID[p.ID] = p
		if p.Has(contracts.RolePartner) && p.delivers() {
			for _, r := range p.Regions {
				if other, dup := d.byRegion[r]; dup {
					return nil, fmt.Errorf("region %s is served by both %s and %s", r, other.ID, p.ID)
				}
				d.byRegion[r] = p
			}
		}
	}
	return d, nil
}

// Get returns the partner with id, or nil.
func (d *Directory) Get(id string) *Partner { return d.state().byID[id] }

// Pulls reports whether partner id pulls its deliveries from its mailbox
// (the Pull of every delivery made for it).
func (d *Directory) Pulls(id string) bool {
	p := d.state().byID[id]
	return p != nil && p.Mailbox != nil
}

// Partners returns every partner, sorted by id.
func (d *Directory) Partners() []*Partner {
	st := d.state()
	out := make([]*Partner, 0, len(st.byID))
	for _, p := range st.byID {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Partner) int { return cmpString(a.ID, b.ID) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PullPartners returns the ids of the partners with a mailbox, sorted.
func (d *Directory) PullPartners() []string {
	var ids []string
	for id, p := range d.state().byID {
		if p.Mailbox != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Route returns the delivering partner for region, trying the district,
// then its city, then its province.
func (d *Directory) Route(region string) (*Partner, error) {
	st := d.state()
	for _, r := range contracts.RegionFallbacks(region) {
		if p, ok := st.byRegion[r]; ok {
			return p, nil
		}
	}
	return nil, Failf(contracts.CodeNoRoute, "no partner serves region %s (district, city or province)", region)
}

// addLibrary checks p's library and adds it to the license routing table:
// its regions and types must be valid, and no two libraries may hold the
// same type for the same region.
func (d *directoryState) addLibrary(p *Partner) error {
	l := p.Library
	if l == nil {
		return nil
	}
	if l.Source == nil {
		return fmt.Errorf("partner %s: license library needs an adapter that can look licenses up", p.ID)
	}
	switch {
	case l.UsageBatch < 0 || l.UsageBatch > contracts.MaxUsageBatch:
		return fmt.Errorf("partner %s: license library usage batch %d is out of range 0..%d", p.ID, l.UsageBatch, contracts.MaxUsageBatch)
	case l.UsageBatch > 1 && (l.Usage == nil || l.Batches == nil):
		return fmt.Errorf("partner %s: license library usage batch %d needs an adapter that passes usage records in batches", p.ID, l.UsageBatch)
	}
	if len(l.Regions) == 0 && !l.Fallback {
		return fmt.Errorf("partner %s: license library needs regions or fallback", p.ID)
	}
	for _, t := range l.Types {
		if err := contracts.ValidateLicenseTypeCode("type", t); err != nil {
			return fmt.Errorf("partner %s: license library type %q: %v", p.ID, t, err)
		}
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultLookupTimeout
	}
	for _, r := range l.Regions {
		if err := contracts.ValidateRegion(r); err != nil {
			return fmt.Errorf("partner %s: license library region %q: %v", p.ID, r, err)
		}
		for _, o := range d.libraries[r] {
			if o.Library.overlaps(l) {
				return fmt.Errorf("license library region %s is served by both %s and %s for the same license types", r, o.ID, p.ID)
			}
		}
		d.libraries[r] = append(d.libraries[r], p)
	}
	if l.Fallback {
		d.fallbacks = append(d.fallbacks, p)
	}
	return nil
}

// RouteLicense returns the partner whose library holds licenses of type
// typeCode issued in region: the library declaring the district, else its
// city, else its province, else the first fallback library holding the
// type. It fails with no_route when none does.
func (d *Directory) RouteLicense(region, typeCode string) (*Partner, error) {
	st := d.state()
	for _, r := range contracts.RegionFallbacks(region) {
		for _, p := range st.libraries[r] {
			if p.Library.holds(typeCode) {
				return p, nil
			}
		}
	}
	for _, p := range st.fallbacks {
		if p.Library.holds(typeCode) {
			return p, nil
		}
	}
	return nil, Failf(contracts.CodeNoRoute, "no license library holds type %s licenses of region %s (district, city, province or fallback)", typeCode, region)
}
