package outbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// fakeStore is an in-memory Store with the fences of gateway's store
// roles, enough for the outbox's unit tests (no per-case order rule).
type fakeStore struct {
	mu          sync.Mutex
	seq         int64
	cases       map[string]*gateway.Case
	history     []gateway.Status
	dels        map[string]*gateway.Delivery
	evidence    []contracts.EvidenceRecord
	claimed     chan struct{}         // when set, gets a value after each ClaimMailbox
	claims      int                   // ClaimDue calls
	folded      int                   // writes that claimed with a NextClaim
	foldClaimed int                   // deliveries those claimed
	lastList    gateway.DeliveryQuery // the last ListDeliveries query
	listErr     error                 // when set, ListDeliveries fails with it
	markAlls    int                   // MarkDeliveredAll writes made
	markErr     error                 // when set, MarkDeliveredAll fails with it
}

func newFakeStore() *fakeStore {
	return &fakeStore{cases: map[string]*gateway.Case{}, dels: map[string]*gateway.Delivery{}}
}

func clone(d *gateway.Delivery) *gateway.Delivery { c := *d; return &c }

// add stores d as the outbox would enqueue it: pending, with its Seq and Since.
func (s *fakeStore) add(d *gateway.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	d.Seq, d.State, d.Since = s.seq, contracts.TransportStatePending, d.CreatedAt
	s.dels[d.ID] = clone(d)
}

// addCase stores c with Version 1.
func (s *fakeStore) addCase(c gateway.Case) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Version = 1
	s.cases[c.ID] = &c
}

// delivery returns the stored delivery id.
func (s *fakeStore) delivery(id string) gateway.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.dels[id]
}

// records returns the evidence records written so far.
func (s *fakeStore) records() []contracts.EvidenceRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.evidence)
}

func (s *fakeStore) CreateCase(ctx context.Context, ch gateway.Change) error {
	return errors.New("fake: CreateCase is not used by the outbox")
}

func (s *fakeStore) UpdateCase(ctx context.Context, ch gateway.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cases[ch.Case.ID]
	if cur == nil {
		return gateway.ErrNotFound
	}
	if cur.Version != ch.Case.Version {
		return gateway.ErrStale
	}
	if no := ch.FreeOwnerCaseNo; no != "" {
		var other string
		for id, c := range s.cases {
			if id != ch.Case.ID && c.Owner == ch.Case.Owner && c.OwnerCaseNo == no && (other == "" || id < other) {
				other = id
			}
		}
		if other != "" {
			return &gateway.OwnerCaseNoTaken{Owner: ch.Case.Owner, CaseNo: no, OtherCase: other}
		}
	}
	if d := ch.Delivered; d != nil {
		if err := s.fenceDelivered(d, ch.OutOfBand); err != nil {
			return err
		}
	}
	ch.Case.Version++
	c := *ch.Case
	s.cases[c.ID] = &c
	if ch.Status != nil {
		s.history = append(s.history, *ch.Status)
	}
	if d := ch.Delivered; d != nil {
		s.writeDelivered(d)
	}
	s.evidence = append(s.evidence, ch.Evidence...)
	s.claimNext(ch.Claim)
	return nil
}

// claimNext claims as next says (gateway.NextClaim); s.mu is held.
func (s *fakeStore) claimNext(next *gateway.NextClaim) {
	if next == nil {
		return
	}
	s.folded++
	next.Claimed = s.claimLocked(next.Now, next.Lease, next.Limit)
	s.foldClaimed += len(next.Claimed)
}

// claimStats returns the ClaimDue calls, the writes that claimed with a
// NextClaim and the deliveries those claimed.
func (s *fakeStore) claimStats() (claims, folded, foldClaimed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims, s.folded, s.foldClaimed
}

// fenceDelivered is the fence of marking d delivered (gateway.Change).
func (s *fakeStore) fenceDelivered(d *gateway.Delivery, outOfBand bool) error {
	cur := s.dels[d.ID]
	switch {
	case cur == nil:
		return gateway.ErrNotFound
	case cur.State == contracts.TransportStateDelivered || cur.State == contracts.TransportStateCancelled:
		return gateway.ErrStale
	case !outOfBand && (cur.State != contracts.TransportStateInFlight || !cur.LeaseUntil.Equal(d.LeaseUntil)):
		return gateway.ErrStale
	}
	return nil
}

func (s *fakeStore) writeDelivered(d *gateway.Delivery) {
	cur := s.dels[d.ID]
	cur.State, cur.Attempts, cur.DeliveredAt = d.State, d.Attempts, d.DeliveredAt
	cur.Ack, cur.AckBody, cur.AckSig, cur.LeaseUntil = d.Ack, d.AckBody, d.AckSig, time.Time{}
}

func (s *fakeStore) GetExchange(ctx context.Context, sender, exchangeID string) (*gateway.Exchange, error) {
	return nil, gateway.ErrNotFound
}

func (s *fakeStore) GetCase(ctx context.Context, id string) (*gateway.Case, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cases[id]
	if c == nil {
		return nil, gateway.ErrNotFound
	}
	cc := *c
	return &cc, nil
}

func (s *fakeStore) CaseByOwnerCaseNo(ctx context.Context, owner, no string) (*gateway.Case, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found *gateway.Case
	for _, c := range s.cases {
		if no != "" && c.Owner == owner && c.OwnerCaseNo == no && (found == nil || c.ID < found.ID) {
			found = c
		}
	}
	if found == nil {
		return nil, gateway.ErrNotFound
	}
	cc := *found
	return &cc, nil
}

func (s *fakeStore) History(ctx context.Context, caseID string) ([]gateway.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gateway.Status
	for _, h := range s.history {
		if h.CaseID == caseID {
			out = append(out, h)
		}
	}
	return out, nil
}

// AlarmsDue returns the cases whose alarm fell by now, earliest first.
func (s *fakeStore) AlarmsDue(_ context.Context, now time.Time, limit int) ([]*gateway.Case, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*gateway.Case
	for _, c := range s.cases {
		if !c.AlarmAt.IsZero() && !c.AlarmAt.After(now) {
			cp := *c
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *gateway.Case) int {
		if c := a.AlarmAt.Compare(b.AlarmAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out[:min(limit, len(out))], nil
}

// BundleParts returns the parts of bundle id in id order.
func (s *fakeStore) BundleParts(_ context.Context, id string) ([]*gateway.Case, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*gateway.Case
	for _, c := range s.cases {
		if c.BundleID == id && c.ID != id {
			cp := *c
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *gateway.Case) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *fakeStore) Deliveries(ctx context.Context, caseID string) ([]*gateway.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*gateway.Delivery
	for _, d := range s.sorted() {
		if d.CaseID == caseID {
			out = append(out, clone(d))
		}
	}
	return out, nil
}

// sorted returns the stored deliveries in Seq order.
func (s *fakeStore) sorted() []*gateway.Delivery {
	var out []*gateway.Delivery
	for _, d := range s.dels {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *gateway.Delivery) int { return int(a.Seq - b.Seq) })
	return out
}

func (s *fakeStore) GetDelivery(ctx context.Context, id string) (*gateway.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dels[id]
	if d == nil {
		return nil, gateway.ErrNotFound
	}
	return clone(d), nil
}

// visible reports whether d may be claimed at now.
func visible(d *gateway.Delivery, now time.Time) bool {
	switch d.State {
	case contracts.TransportStatePending, contracts.TransportStateRetryWait:
		return !d.NextAt.After(now)
	case contracts.TransportStateInFlight:
		return !d.LeaseUntil.After(now)
	}
	return false
}

func (s *fakeStore) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*gateway.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	return s.claimLocked(now, lease, limit), nil
}

// claimLocked is ClaimDue; s.mu is held.
func (s *fakeStore) claimLocked(now time.Time, lease time.Duration, limit int) []*gateway.Delivery {
	var out []*gateway.Delivery
	for _, d := range s.sorted() {
		if len(out) == limit {
			break
		}
		if !d.Pull && visible(d, now) {
			takenOver := d.State == contracts.TransportStateInFlight
			d.State, d.LeaseUntil = contracts.TransportStateInFlight, now.Add(lease)
			c := clone(d)
			c.TakenOver = takenOver
			if sc := s.cases[d.CaseID]; sc != nil {
				cc := *sc
				c.Case = &cc
			}
			out = append(out, c)
		}
	}
	return out
}

func (s *fakeStore) AppendEvidence(ctx context.Context, recs ...contracts.EvidenceRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evidence = append(s.evidence, recs...)
	return nil
}

func (s *fakeStore) NextDue(ctx context.Context) (time.Time, bool, error) {
	return time.Time{}, false, nil
}

func (s *fakeStore) SaveAttempt(ctx context.Context, d *gateway.Delivery, ev ...contracts.EvidenceRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.dels[d.ID]
	switch {
	case cur == nil:
		return gateway.ErrNotFound
	case cur.State != contracts.TransportStateInFlight || !cur.LeaseUntil.Equal(d.LeaseUntil):
		return gateway.ErrStale
	}
	cur.State, cur.Attempts, cur.NextAt, cur.LastError, cur.LeaseUntil = d.State, d.Attempts, d.NextAt, d.LastError, time.Time{}
	s.evidence = append(s.evidence, ev...)
	return nil
}

func (s *fakeStore) MarkDelivered(ctx context.Context, d *gateway.Delivery, next *gateway.NextClaim, ev ...contracts.EvidenceRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.dels[d.ID]; cur == nil || cur.CaseID != "" {
		return gateway.ErrNotFound
	}
	if err := s.fenceDelivered(d, false); err != nil {
		return err
	}
	s.writeDelivered(d)
	s.evidence = append(s.evidence, ev...)
	s.claimNext(next)
	return nil
}

func (s *fakeStore) MarkDeliveredAll(ctx context.Context, marks []gateway.DeliveredMark, outOfBand bool) ([]error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.markErr != nil {
		return nil, s.markErr
	}
	s.markAlls++
	errs := make([]error, len(marks))
	for i, m := range marks {
		d := m.Delivery
		if cur := s.dels[d.ID]; cur == nil || cur.CaseID != "" {
			errs[i] = gateway.ErrNotFound
			continue
		}
		if errs[i] = s.fenceDelivered(d, outOfBand); errs[i] != nil {
			continue
		}
		s.writeDelivered(d)
		s.evidence = append(s.evidence, m.Evidence...)
	}
	return errs, nil
}

// redeliver applies Policy.Redeliver to the stored d.
func redeliver(d *gateway.Delivery, now time.Time) {
	tr := Policy{}.Redeliver(now)
	d.State, d.NextAt, d.LeaseUntil = tr.State, tr.Next, time.Time{}
	if tr.Reset {
		d.Attempts, d.Since = 0, tr.Next
	}
}

func (s *fakeStore) Redeliver(ctx context.Context, id string, now time.Time, ev ...contracts.EvidenceRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dels[id]
	switch {
	case d == nil:
		return gateway.ErrNotFound
	case !(Policy{}).Redeliverable(d.State):
		return gateway.ErrNotDead
	}
	redeliver(d, now)
	s.evidence = append(s.evidence, ev...)
	return nil
}

func (s *fakeStore) RedeliverDead(ctx context.Context, partner string, now time.Time, ev *contracts.EvidenceRecord) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, d := range s.sorted() {
		if d.Partner == partner && (Policy{}).Redeliverable(d.State) {
			redeliver(d, now)
			ids = append(ids, d.ID)
		}
	}
	if ev != nil {
		r := *ev
		r.Detail = (&contracts.EvidenceDetail{Deliveries: ids}).JSON()
		s.evidence = append(s.evidence, r)
	}
	return ids, nil
}

func (s *fakeStore) CountByState(ctx context.Context) (map[contracts.TransportState]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[contracts.TransportState]int{}
	for _, d := range s.dels {
		out[d.State]++
	}
	return out, nil
}

func (s *fakeStore) SetPullPartners(ctx context.Context, partners []string) error { return nil }

func (s *fakeStore) ClaimMailbox(ctx context.Context, q gateway.MailboxClaim) ([]*gateway.Delivery, error) {
	s.mu.Lock()
	var out []*gateway.Delivery
	for _, d := range s.sorted() {
		if len(out) == q.Limit {
			break
		}
		if d.Pull && d.Partner == q.Partner && visible(d, q.Now) {
			if d.Attempts > 0 {
				d.LastError = q.Reoffer
			}
			d.State, d.LeaseUntil = contracts.TransportStateInFlight, q.Now.Add(q.Visibility)
			d.Attempts++
			out = append(out, clone(d))
		}
	}
	if q.Offer != nil {
		for _, d := range out {
			s.evidence = append(s.evidence, q.Offer(d)...)
		}
	}
	s.mu.Unlock()
	if s.claimed != nil {
		select {
		case s.claimed <- struct{}{}:
		default:
		}
	}
	return out, nil
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeCrypto signs with "sig:" + body, digests with SHA-256 (64 hex digits,
// as SM3), and accepts a partner's signature "sig:<keyID>:" + body.
type fakeCrypto struct{}

func (fakeCrypto) SM3Hex(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}
func (fakeCrypto) Sign(body []byte) ([]byte, error) { return append([]byte("sig:"), body...), nil }
func (fakeCrypto) KeyID() string                    { return "gw" }
func (fakeCrypto) VerifyBody(caller, keyID string, body, sig []byte) error {
	if keyID != caller {
		return gateway.ErrUnknownKey
	}
	if !bytes.Equal(sig, partnerSig(keyID, body)) {
		return gateway.ErrBadSignature
	}
	return nil
}
func (fakeCrypto) VerifyToken(string) (gateway.TokenInfo, error) {
	return gateway.TokenInfo{}, gateway.ErrTokenInvalid
}

// partnerSig is the signature fakeCrypto accepts from keyID over body.
func partnerSig(keyID string, body []byte) []byte {
	return append([]byte("sig:"+keyID+":"), body...)
}

// fakeRecorder makes one record per step, naming the outcome and the
// delivery's last error as the step saw them.
type fakeRecorder struct{ gateway.Recorder }

func (fakeRecorder) Attempt(del *gateway.Delivery, at time.Time, outcome string, latency time.Duration, caseState contracts.CaseState) []contracts.EvidenceRecord {
	d := contracts.EvidenceDetail{Attempt: del.Attempts, Outcome: outcome, Reason: del.LastError, CaseState: caseState}
	return []contracts.EvidenceRecord{{At: at, Actor: gateway.GatewayActor, Event: contracts.EventDeliveryAttempt,
		DeliveryID: del.ID, CaseID: del.CaseID, Partner: del.Partner, Detail: d.JSON()}}
}

func (r fakeRecorder) BatchAttempt(del *gateway.Delivery, at time.Time, outcome string, latency time.Duration, batchID, batchSM3 string) []contracts.EvidenceRecord {
	d := contracts.EvidenceDetail{Attempt: del.Attempts, Outcome: outcome, Reason: del.LastError, BatchID: batchID, BatchSM3: batchSM3}
	return []contracts.EvidenceRecord{{At: at, Actor: gateway.GatewayActor, Event: contracts.EventDeliveryAttempt,
		DeliveryID: del.ID, CaseID: del.CaseID, Partner: del.Partner, Detail: d.JSON()}}
}

func (fakeRecorder) Redelivery(ctx context.Context, p gateway.Principal, at time.Time, deliveryID, partner string) []contracts.EvidenceRecord {
	return []contracts.EvidenceRecord{{At: at, Actor: p.ID(), Event: contracts.EventAdminRedeliver, DeliveryID: deliveryID, Partner: partner}}
}

// deliverFuncs are a partner's fake deliverers.
type caseFunc func(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error)

func (f caseFunc) DeliverCase(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	return f(ctx, d)
}

type statusFunc func(context.Context, *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error)

func (f statusFunc) DeliverStatus(ctx context.Context, d *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
	return f(ctx, d)
}

// deliveryErr is an adapter's failure (port.DeliveryError).
type deliveryErr struct {
	permanent bool
	after     time.Duration
	reason    string // with the partner's words
	public    string // without them
}

func (e *deliveryErr) Error() string             { return "adapter: " + e.reason }
func (e *deliveryErr) Permanent() bool           { return e.permanent }
func (e *deliveryErr) RetryAfter() time.Duration { return e.after }
func (e *deliveryErr) ReasonText() string        { return e.reason }
func (e *deliveryErr) PublicReason() string      { return e.public }
