// Package sealed keeps personal data encrypted at rest: Store wraps any
// gateway.Store and seals, on the way in, the columns that may hold
// personal data (an exchange's Body, a delivery's Payload, a usage
// record's OperatorID and Subject) with a Sealer, and opens them on the
// way out; a usage record's holder id is stored as its blind index. The
// store under it keeps ciphertext and key ids as it keeps any bytes and
// strings.
//
// Everything the evidence log holds is computed by the core before the
// write reaches Store (BodySM3, PayloadSM3 are digests of the
// plaintext), so the chain is verified without any data key, and
// destroying a key (crypto-shredding) leaves the log intact.
//
// Each ciphertext is bound to its row by associated data (the exchange's
// sender and id, the delivery's id, the usage record's id and field):
// ciphertext moved to another row does not open.
package sealed

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Sealer is what Store needs of the data keys (signing.Sealer).
type Sealer interface {
	// Seal encrypts plaintext under the current key, bound to aad, and
	// returns the key's id with the ciphertext.
	Seal(plaintext, aad []byte) (keyID string, sealed []byte, err error)
	// Open decrypts what Seal returned under keyID with the same aad.
	Open(keyID string, sealed, aad []byte) ([]byte, error)
	// Shredded reports whether keyID was destroyed.
	Shredded(keyID string) bool
	// Index returns the blind index of value (equal values, equal
	// indexes; nobody without the key can compute it).
	Index(value string) string
}

// InPlaceOpener is a Sealer that can also open a ciphertext in its own
// memory (signing.Sealer.OpenInPlace): Store opens what it read from the
// store under it that way, so that a large payload is not held twice,
// once sealed and once open.
type InPlaceOpener interface {
	OpenInPlace(keyID string, sealed, aad []byte) ([]byte, error)
}

// openOwned opens ct, which the caller owns and drops once opened: in
// place when the sealer can.
func (s *Store) openOwned(keyID string, ct, aad []byte) ([]byte, error) {
	if o, ok := s.sealer.(InPlaceOpener); ok {
		return o.OpenInPlace(keyID, ct, aad)
	}
	return s.sealer.Open(keyID, ct, aad)
}

// ErrShredded is wrapped by errors about data whose key was destroyed.
var ErrShredded = errors.New("data key shredded: the data were deleted under the retention policy")

// Store seals the personal data of the gateway.Store under it. Rows it
// reads that carry no key id (written before sealing was turned on) are
// returned as stored. What the store under it returns from a read must be
// the caller's to keep (both stores' reads are: they copy out of their
// drivers): Store opens it in that memory (InPlaceOpener).
type Store struct {
	gateway.Store
	sealer Sealer
}

// Wrap returns inner with personal data sealed by s.
func Wrap(inner gateway.Store, s Sealer) *Store {
	return &Store{Store: inner, sealer: s}
}

var _ gateway.Store = (*Store)(nil)

// The associated data of each sealed column: what binds a ciphertext to
// its row.
func exchangeAAD(sender, exchangeID string) []byte {
	return []byte("tongban/exchange/body\x00" + sender + "\x00" + exchangeID)
}

func deliveryAAD(id string) []byte { return []byte("tongban/delivery/payload\x00" + id) }

func usageAAD(id, field string) []byte {
	return []byte("tongban/usage/" + field + "\x00" + id)
}

// sealExchange returns a copy of x with Body sealed.
func (s *Store) sealExchange(x *gateway.Exchange) (*gateway.Exchange, error) {
	if x == nil {
		return nil, nil
	}
	c := *x
	key, ct, err := s.sealer.Seal(x.Body, exchangeAAD(x.Sender, x.ExchangeID))
	if err != nil {
		return nil, fmt.Errorf("seal exchange %s: %w", x.ExchangeID, err)
	}
	c.Body, c.BodyKey = ct, key
	return &c, nil
}

// openExchange opens x's Body in place (in the memory it was read into,
// when the sealer can). A Body whose key was shredded
// becomes nil with Shredded set.
func (s *Store) openExchange(x *gateway.Exchange) error {
	if x.BodyKey == "" {
		return nil
	}
	if s.sealer.Shredded(x.BodyKey) {
		x.Body, x.Shredded = nil, true
		return nil
	}
	pt, err := s.openOwned(x.BodyKey, x.Body, exchangeAAD(x.Sender, x.ExchangeID))
	if err != nil {
		return fmt.Errorf("open body of exchange %s: %w", x.ExchangeID, err)
	}
	x.Body = pt
	return nil
}

// sealDeliveries returns copies of ds with their payloads sealed.
func (s *Store) sealDeliveries(ds []*gateway.Delivery) ([]*gateway.Delivery, error) {
	if ds == nil {
		return nil, nil
	}
	out := make([]*gateway.Delivery, len(ds))
	for i, d := range ds {
		c := *d
		key, ct, err := s.sealer.Seal(d.Payload, deliveryAAD(d.ID))
		if err != nil {
			return nil, fmt.Errorf("seal payload of delivery %s: %w", d.ID, err)
		}
		c.Payload, c.PayloadKey = ct, key
		out[i] = &c
	}
	return out, nil
}

// restore copies back into the callers' deliveries what the store set on
// the sealed copies (Seq, State, ...), keeping their plaintext payloads.
func restore(orig, sealed []*gateway.Delivery) {
	for i, d := range orig {
		plain := d.Payload
		*d = *sealed[i]
		d.Payload = plain
	}
}

// openDelivery opens d's Payload in place (in the memory it was read
// into, when the sealer can). A Payload whose key was
// shredded becomes nil with Shredded set.
func (s *Store) openDelivery(d *gateway.Delivery) error {
	if d.PayloadKey == "" {
		return nil
	}
	if s.sealer.Shredded(d.PayloadKey) {
		d.Payload, d.Shredded = nil, true
		return nil
	}
	pt, err := s.openOwned(d.PayloadKey, d.Payload, deliveryAAD(d.ID))
	if err != nil {
		return fmt.Errorf("open payload of delivery %s: %w", d.ID, err)
	}
	d.Payload = pt
	return nil
}

func (s *Store) openDeliveries(ds []*gateway.Delivery) error {
	for _, d := range ds {
		if err := s.openDelivery(d); err != nil {
			return err
		}
	}
	return nil
}

// sealChange returns ch with its exchange and new deliveries sealed, the
// new deliveries of each of ch.Also included (in a copy of ch.Also: the
// caller's changes keep their plaintext). An Also change carries no
// exchange (the store refuses one).
func (s *Store) sealChange(ch gateway.Change) (gateway.Change, error) {
	var err error
	if ch.Exchange, err = s.sealExchange(ch.Exchange); err != nil {
		return ch, err
	}
	if ch.Enqueue, err = s.sealDeliveries(ch.Enqueue); err != nil {
		return ch, err
	}
	if ch.Also == nil {
		return ch, nil
	}
	also := make([]gateway.Change, len(ch.Also))
	for i, a := range ch.Also {
		if a.Enqueue, err = s.sealDeliveries(a.Enqueue); err != nil {
			return ch, err
		}
		also[i] = a
	}
	ch.Also = also
	return ch, nil
}

// restoreChange copies back into the caller's deliveries, ch.Also's
// included, what the store set on their sealed copies in sc.
func restoreChange(ch, sc gateway.Change) {
	restore(ch.Enqueue, sc.Enqueue)
	for i := range ch.Also {
		restore(ch.Also[i].Enqueue, sc.Also[i].Enqueue)
	}
}

// CreateCase seals the change's exchange body and delivery payloads (of
// its Also changes too) and stores it; the caller's deliveries get what
// the store assigned (Seq, State) and keep their plaintext. The cases
// (ch.Case and those of ch.Also) are the caller's, updated in place by
// the store: they hold nothing sealed.
func (s *Store) CreateCase(ctx context.Context, ch gateway.Change) error {
	sc, err := s.sealChange(ch)
	if err != nil {
		return err
	}
	err = s.Store.CreateCase(ctx, sc)
	restoreChange(ch, sc)
	return err
}

// UpdateCase is CreateCase's counterpart for a change to a stored case.
// The deliveries ch.Claim claimed come with their payloads opened, as
// ClaimDue's do.
func (s *Store) UpdateCase(ctx context.Context, ch gateway.Change) error {
	sc, err := s.sealChange(ch)
	if err != nil {
		return err
	}
	err = s.Store.UpdateCase(ctx, sc)
	restoreChange(ch, sc)
	if err != nil {
		return err
	}
	return s.openNext(ctx, ch.Claim)
}

// AlarmsDue returns the store's cases whose alarms are due, as they are:
// a case holds no sealed column.
func (s *Store) AlarmsDue(ctx context.Context, now time.Time, limit int) ([]*gateway.Case, error) {
	return s.Store.AlarmsDue(ctx, now, limit)
}

// BundleParts returns the store's parts of a bundle, as they are: a case
// holds no sealed column.
func (s *Store) BundleParts(ctx context.Context, bundleID string) ([]*gateway.Case, error) {
	return s.Store.BundleParts(ctx, bundleID)
}

// MarkDelivered marks as the store under it does; the deliveries next
// claimed come with their payloads opened, as ClaimDue's do.
func (s *Store) MarkDelivered(ctx context.Context, d *gateway.Delivery, next *gateway.NextClaim, ev ...contracts.EvidenceRecord) error {
	if err := s.Store.MarkDelivered(ctx, d, next, ev...); err != nil {
		return err
	}
	return s.openNext(ctx, next)
}

// openNext opens the payloads of what next claimed (see openClaimed).
// The write that claimed them is committed: should opening fail, the
// claimed deliveries are not handed out and their lease runs out.
func (s *Store) openNext(ctx context.Context, next *gateway.NextClaim) error {
	if next == nil || len(next.Claimed) == 0 {
		return nil
	}
	ds, err := s.openClaimed(ctx, next.Claimed)
	if err != nil {
		next.Claimed = nil
		return fmt.Errorf("open the deliveries claimed with the write: %w", err)
	}
	next.Claimed = ds
	return nil
}

// GetExchange returns the exchange with its body opened (nil and Shredded
// when its key was destroyed).
func (s *Store) GetExchange(ctx context.Context, sender, exchangeID string) (*gateway.Exchange, error) {
	x, err := s.Store.GetExchange(ctx, sender, exchangeID)
	if err != nil {
		return nil, err
	}
	return x, s.openExchange(x)
}

// Deliveries returns the case's deliveries with their payloads opened.
func (s *Store) Deliveries(ctx context.Context, caseID string) ([]*gateway.Delivery, error) {
	ds, err := s.Store.Deliveries(ctx, caseID)
	if err != nil {
		return nil, err
	}
	return ds, s.openDeliveries(ds)
}

// GetDelivery returns the delivery with its payload opened.
func (s *Store) GetDelivery(ctx context.Context, id string) (*gateway.Delivery, error) {
	d, err := s.Store.GetDelivery(ctx, id)
	if err != nil {
		return nil, err
	}
	return d, s.openDelivery(d)
}

// ClaimDue claims as the store under it does and opens the payloads. A
// claimed delivery whose payload was shredded cannot be delivered: it is
// made a dead letter at once (its LastError says why) and not returned.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*gateway.Delivery, error) {
	ds, err := s.Store.ClaimDue(ctx, now, lease, limit)
	if err != nil {
		return nil, err
	}
	return s.openClaimed(ctx, ds)
}

// ClaimMailbox is ClaimDue's counterpart for pulling partners. q.Offer,
// called inside the claiming write, sees each payload as stored.
func (s *Store) ClaimMailbox(ctx context.Context, q gateway.MailboxClaim) ([]*gateway.Delivery, error) {
	ds, err := s.Store.ClaimMailbox(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.openClaimed(ctx, ds)
}

// ShreddedPayload is the LastError of a delivery parked because its
// payload was shredded before it was delivered.
const ShreddedPayload = "payload deleted under the retention policy before delivery (data key shredded)"

func (s *Store) openClaimed(ctx context.Context, ds []*gateway.Delivery) ([]*gateway.Delivery, error) {
	out := ds[:0]
	for _, d := range ds {
		if err := s.openDelivery(d); err != nil {
			return nil, err
		}
		if d.Shredded {
			d.State, d.LastError, d.NextAt = contracts.TransportStateDead, ShreddedPayload, time.Time{}
			if err := s.Store.SaveAttempt(ctx, d); err != nil && !errors.Is(err, gateway.ErrStale) {
				return nil, fmt.Errorf("park delivery %s with a shredded payload: %w", d.ID, err)
			}
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// AddUsage seals the entries' personal fields and the deliveries'
// payloads and stores them.
func (s *Store) AddUsage(ctx context.Context, entries []gateway.UsageEntry, ds []*gateway.Delivery, ev ...contracts.EvidenceRecord) error {
	sealedEntries := make([]gateway.UsageEntry, len(entries))
	for i, e := range entries {
		se, err := s.sealUsage(e)
		if err != nil {
			return err
		}
		sealedEntries[i] = se
	}
	if entries == nil {
		sealedEntries = nil
	}
	sds, err := s.sealDeliveries(ds)
	if err != nil {
		return err
	}
	err = s.Store.AddUsage(ctx, sealedEntries, sds, ev...)
	restore(ds, sds)
	return err
}

// sealUsage returns e with OperatorID and Subject sealed (base64 text,
// empty ones too, so that a row does not tell which were empty) and
// HolderID replaced by its blind index.
func (s *Store) sealUsage(e gateway.UsageEntry) (gateway.UsageEntry, error) {
	id := e.Record.UsageRecordID
	var key string
	seal := func(v *string, field string) error {
		k, ct, err := s.sealer.Seal([]byte(*v), usageAAD(id, field))
		if err != nil {
			return fmt.Errorf("seal usage record %s: %w", id, err)
		}
		key, *v = k, base64.RawStdEncoding.EncodeToString(ct)
		return nil
	}
	if err := seal(&e.Record.OperatorID, "operator_id"); err != nil {
		return e, err
	}
	if err := seal(&e.Subject, "subject"); err != nil {
		return e, err
	}
	if e.HolderID != "" {
		e.HolderID = s.sealer.Index(e.HolderID)
	}
	e.SealKey = key
	return e, nil
}

// openUsage opens e's sealed fields in place. HolderID comes back empty:
// the store holds only its blind index. Fields whose key was shredded
// come back empty.
func (s *Store) openUsage(e *gateway.UsageEntry) error {
	if e.SealKey == "" {
		return nil
	}
	e.HolderID = ""
	id := e.Record.UsageRecordID
	shredded := s.sealer.Shredded(e.SealKey)
	open := func(v *string, field string) error {
		if shredded {
			*v = ""
			return nil
		}
		ct, err := base64.RawStdEncoding.DecodeString(*v)
		if err != nil {
			return fmt.Errorf("open usage record %s: %s is not sealed text", id, field)
		}
		pt, err := s.sealer.Open(e.SealKey, ct, usageAAD(id, field))
		if err != nil {
			return fmt.Errorf("open usage record %s: %w", id, err)
		}
		*v = string(pt)
		return nil
	}
	if err := open(&e.Record.OperatorID, "operator_id"); err != nil {
		return err
	}
	return open(&e.Subject, "subject")
}

// ListUsage matches q.HolderID by its blind index and opens the records
// found. (Records stored before sealing was turned on hold the plain
// holder id and are not matched by it.)
func (s *Store) ListUsage(ctx context.Context, q gateway.UsageQuery) ([]gateway.UsageEntry, error) {
	if q.HolderID != "" {
		q.HolderID = s.sealer.Index(q.HolderID)
	}
	es, err := s.Store.ListUsage(ctx, q)
	if err != nil {
		return nil, err
	}
	if err := s.openUsages(es); err != nil {
		return nil, err
	}
	return es, nil
}

func (s *Store) openUsages(es []gateway.UsageEntry) error {
	for i := range es {
		if err := s.openUsage(&es[i]); err != nil {
			return err
		}
	}
	return nil
}

// LockCheckpoints passes on the store's gateway.CheckpointLock; a store
// without one (a store only one process opens) needs no lock, and the
// returned unlock does nothing.
func (s *Store) LockCheckpoints(ctx context.Context) (func(), error) {
	if l, ok := s.Store.(gateway.CheckpointLock); ok {
		return l.LockCheckpoints(ctx)
	}
	return func() {}, nil
}

var _ gateway.CheckpointLock = (*Store)(nil)
