package licenses_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// ---- hand-written fakes of the ports the license sub-domain uses ----

// fakeStore keeps usage writes in memory and serves cases.
type fakeStore struct {
	mu         sync.Mutex
	writes     int
	entries    []gateway.UsageEntry
	deliveries []*gateway.Delivery
	evidence   []contracts.EvidenceRecord
	cases      map[string]*gateway.Case
	caseReads  int
}

func (s *fakeStore) AddUsage(_ context.Context, entries []gateway.UsageEntry, enqueue []*gateway.Delivery, ev ...contracts.EvidenceRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	s.entries = append(s.entries, entries...)
	s.deliveries = append(s.deliveries, enqueue...)
	s.evidence = append(s.evidence, ev...)
	return nil
}

// ListUsage applies q the way a store does: filters, newest first, Limit.
func (s *fakeStore) ListUsage(_ context.Context, q gateway.UsageQuery) ([]gateway.UsageEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gateway.UsageEntry
	for _, e := range slices.Backward(s.entries) {
		r := e.Record
		switch {
		case q.VisibleTo != "" && q.VisibleTo != r.Caller && q.VisibleTo != r.WindowID && q.VisibleTo != e.Library,
			q.Before != "" && r.UsageRecordID >= q.Before,
			q.LicenseID != "" && q.LicenseID != r.LicenseID:
			continue
		}
		if out = append(out, e); len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func (s *fakeStore) GetCase(_ context.Context, id string) (*gateway.Case, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caseReads++
	c, ok := s.cases[id]
	if !ok {
		return nil, gateway.ErrNotFound
	}
	cc := *c
	return &cc, nil
}

// fakeCrypto stands in for SM2/SM3: the digest is SHA-256 hex, a caller
// "signs" a body with "sig:<digest>" and the gateway with "gw:<digest>".
type fakeCrypto struct {
	keys map[string]string // key id → owner
}

func (c fakeCrypto) SM3Hex(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func (c fakeCrypto) Sign(body []byte) ([]byte, error) { return []byte("gw:" + c.SM3Hex(body)), nil }

func (c fakeCrypto) KeyID() string { return "gw-key" }

func (c fakeCrypto) VerifyBody(caller, keyID string, body, sig []byte) error {
	if c.keys[keyID] != caller {
		return gateway.ErrUnknownKey
	}
	if !bytes.Equal(sig, c.sign(body)) {
		return gateway.ErrBadSignature
	}
	return nil
}

func (c fakeCrypto) VerifyToken(string) (gateway.TokenInfo, error) {
	return gateway.TokenInfo{}, gateway.ErrTokenInvalid
}

// sign is a caller's signature of body.
func (c fakeCrypto) sign(body []byte) []byte { return []byte("sig:" + c.SM3Hex(body)) }

// recCall is one call of fakeRecorder.Verification.
type recCall struct {
	entry           gateway.UsageEntry
	delivery        *gateway.Delivery
	caseID, caseRef string
}

// fakeRecorder returns one record per verification and one per delivery,
// and remembers what it was asked.
type fakeRecorder struct {
	mu    sync.Mutex
	calls []recCall
}

func (r *fakeRecorder) Verification(_ context.Context, _ gateway.Inbound, e gateway.UsageEntry, del *gateway.Delivery, caseID, caseRef string) []contracts.EvidenceRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, recCall{e, del, caseID, caseRef})
	out := []contracts.EvidenceRecord{{Event: contracts.EventLicenseVerified, ExchangeID: e.Record.UsageRecordID, CaseID: caseID}}
	if del != nil {
		out = append(out, contracts.EvidenceRecord{Event: contracts.EventUsageRecorded, ExchangeID: del.ExchangeID, DeliveryID: del.ID, CaseID: caseID})
	}
	return out
}

func (r *fakeRecorder) Exchange(context.Context, gateway.Inbound, *gateway.Exchange, *gateway.Case, string, *gateway.Delivery, string, func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord {
	return nil
}

func (r *fakeRecorder) Attempt(*gateway.Delivery, time.Time, string, time.Duration, contracts.CaseState) []contracts.EvidenceRecord {
	return nil
}

func (r *fakeRecorder) BatchAttempt(*gateway.Delivery, time.Time, string, time.Duration, string, string) []contracts.EvidenceRecord {
	return nil
}

func (r *fakeRecorder) Redelivery(context.Context, gateway.Principal, time.Time, string, string) []contracts.EvidenceRecord {
	return nil
}

func (r *fakeRecorder) Administration(context.Context, *gateway.Case, time.Time, string, *gateway.Delivery, func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord {
	return nil
}

func (r *fakeRecorder) AdminChange(context.Context, gateway.AdminChange) []contracts.EvidenceRecord {
	return nil
}

// fakeLibrary is a license library (port.LicenseSource and
// port.UsageDeliverer) answering from its records.
type fakeLibrary struct {
	mu      sync.Mutex
	records []contracts.LicenseRecord
	lookups int
	dead    bool // when set, a lookup hangs until its context ends
}

func (f *fakeLibrary) LookupLicense(ctx context.Context, q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, []byte, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.dead {
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		return nil, nil, nil, ctx.Err()
	}
	resp := &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID}
	for _, r := range f.records {
		if q.LicenseID != "" && r.LicenseID == q.LicenseID {
			resp.Found, resp.License = true, &r
			break
		}
	}
	return resp, []byte("{}"), []byte("sig"), nil
}

func (f *fakeLibrary) DeliverUsage(context.Context, *contracts.UsageRecordDelivery) (*contracts.Ack, []byte, []byte, error) {
	panic("the license sub-domain never delivers: the outbox does")
}

// setDead makes the library hang (true) or answer again (false).
func (f *fakeLibrary) setDead(dead bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = dead
}

func (f *fakeLibrary) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// fixedClock is a clock that never moves.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// fakeMeter counts what is added to the counters made with it, by
// "name outcome=<o> cached=<c>".
type fakeMeter struct {
	noop.Meter
	mu     sync.Mutex
	made   []string // name|unit|description of each instrument made
	counts map[string]int64
}

type fakeMeterProvider struct {
	noop.MeterProvider
	m *fakeMeter
}

func (p fakeMeterProvider) Meter(string, ...metric.MeterOption) metric.Meter { return p.m }

func (m *fakeMeter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	cfg := metric.NewInt64CounterConfig(opts...)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.made = append(m.made, name+"|"+cfg.Unit()+"|"+cfg.Description())
	return &fakeCounter{name: name, m: m}, nil
}

type fakeCounter struct {
	noop.Int64Counter
	name string
	m    *fakeMeter
}

func (c *fakeCounter) Add(_ context.Context, n int64, opts ...metric.AddOption) {
	set := metric.NewAddConfig(opts).Attributes()
	key := c.name
	for it := set.Iter(); it.Next(); {
		kv := it.Attribute()
		key += " " + string(kv.Key) + "=" + kv.Value.Emit()
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.m.counts == nil {
		c.m.counts = map[string]int64{}
	}
	c.m.counts[key] += n
}
