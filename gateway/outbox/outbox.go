// Package outbox delivers what the gateway owes its partners: every case,
// status update and usage record placed in the outbox is pushed to its
// partner by the Dispatcher, or handed out from the partner's Mailbox when
// it pulls, until the partner acknowledges it or the partner's retry
// policy gives up (a dead letter, which an operator may Redeliver).
// Delivery is at least once; the delivery_id is the partner's dedup key
// (unique across all senders, kept by retries and redeliveries; an
// exchange_id is unique per sender only). Usage records to an issuer that
// takes them in batches go several per signed call, each keeping its own
// outcome and evidence (usagebatch.go).
//
// Policy is the one place that says what a failed attempt, a mailbox
// offer, an acknowledgement and a redelivery make of a delivery; the rest
// of the package reads the clock, talks to the store and partners, and
// records evidence and metrics around it. What an acknowledgement does to
// its case is not the outbox's business: it calls the injected
// gateway.AckEffect.
package outbox

import (
	"context"
	"errors"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// DispatchStore is what the dispatcher reads and writes: the outbox, and
// the cases whose deliveries it marks delivered.
type DispatchStore interface {
	gateway.CaseStore
	gateway.OutboxStore
	// AppendEvidence appends records that go with no write of the outbox's
	// own: an attempt cut off by a crash, a refused acknowledgement (see
	// gateway.EvidenceLog).
	AppendEvidence(ctx context.Context, recs ...contracts.EvidenceRecord) error
}

// Store is what the whole outbox reads and writes: DispatchStore and the
// pulling partners' mailboxes.
type Store interface {
	DispatchStore
	gateway.MailboxStore
}

// Options wires an Outbox. Store, Directory and Crypto are required; the
// Env fields and Dispatcher take the defaults of Env and
// DispatcherOptions when zero.
type Options struct {
	Store     Store
	Directory *gateway.Directory
	// Crypto signs mailbox messages, digests what a mailbox hands out and
	// verifies a pulling partner's signed acknowledgements.
	Crypto gateway.Crypto
	Env
	// Dispatcher tunes the dispatcher.
	Dispatcher DispatcherOptions
}

// Outbox is the outbox of one gateway: its dispatcher, the pulling
// partners' mailboxes and operators' redelivery, sharing one wake-up
// signal and one set of instruments. It is safe for concurrent use.
type Outbox struct {
	disp   *Dispatcher
	mbox   *Mailbox
	redo   *Redelivery
	signal signal
}

// New returns the outbox wired from o, or an error naming what is missing.
// Run its Dispatcher for as long as the gateway serves; hand Wake to
// whatever places deliveries in the outbox.
func New(o Options) (*Outbox, error) {
	if o.Store == nil || o.Directory == nil || o.Crypto == nil {
		return nil, errors.New("outbox: needs a store, a directory and crypto")
	}
	env := o.Env.withDefaults()
	inst := newInstruments(env.Telemetry.Meter())
	ob := &Outbox{}
	ob.disp = newDispatcher(o.Store, o.Directory, env, o.Dispatcher, inst)
	ob.mbox = &Mailbox{store: o.Store, crypto: o.Crypto, env: env, inst: inst, acks: ob.disp.acks,
		signal: &ob.signal, wake: ob.Wake}
	ob.redo = &Redelivery{store: o.Store, dir: o.Directory, env: env, wake: ob.Wake}
	return ob, nil
}

// Dispatcher returns the outbox's dispatcher, which pushes deliveries to
// partners that take them.
func (o *Outbox) Dispatcher() *Dispatcher { return o.disp }

// Mailbox returns the outbox's mailboxes, from which pulling partners take
// their deliveries.
func (o *Outbox) Mailbox() *Mailbox { return o.mbox }

// Redelivery returns the operators' redelivery of dead letters and their
// listing of unfinished deliveries.
func (o *Outbox) Redelivery() *Redelivery { return o.redo }

// Wake says new deliveries may be due: it wakes the dispatcher (Notify)
// and every mailbox poll waiting for a message. Whatever stores a delivery
// calls it after the write; it never blocks.
func (o *Outbox) Wake() {
	o.disp.Notify()
	o.signal.broadcast()
}
