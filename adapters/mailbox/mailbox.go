// Package mailbox is the adapter style for partners behind one-way network
// boundaries (单向网闸, 前置机 that may call out but accept no inbound
// call). It registers itself as "mailbox".
//
// The gateway never calls such a partner. Its deliveries (cases addressed
// to it, status updates of cases it submitted, notices about its cases,
// usage records) wait in its mailbox in the gateway's store, and the
// partner pulls them:
//
//	GET  /v1/mailbox?after=CURSOR&wait=SECONDS&limit=N   → MailboxBatch
//	POST /v1/mailbox/ack                                  MailboxAck → MailboxAckResult
//
// with its bearer token, like any call. A poll returns the messages
// waiting for the partner, those after its cursor first, each carrying the
// delivery's exact JSON body and the gateway's signature over it; with
// wait it holds until a message arrives (long polling, at most 30 s). A
// message handed out is hidden from later polls for the visibility
// timeout; not acknowledged by then, it is offered again, so a partner
// that crashed mid-batch loses nothing. Each offer counts as an attempt of
// the partner's retry policy (past max_attempts offers, or max_age, the
// message is a dead letter an operator can redeliver). Messages live in
// the gateway's durable store, so nothing is lost across gateway restarts
// either; a status update is never offered before the earlier deliveries
// of its case are acknowledged.
//
// The partner acknowledges with one signed MailboxAck: for each message an
// Ack naming its delivery_id and exchange_id, the SM3 of the body as
// received (body_sm3), the key that signs the batch (key_id, also sent as
// Gw-Key-Id) and, for a case, its own case number (partner_case_no). One
// MailboxAck, one signature, covers up to 100 messages; the usage records
// (用证记录) it acknowledges are recorded by the gateway together, in one
// write, each delivery with its own evidence record. The
// partner calls the gateway (submissions, status updates, evaluations,
// follow-up replies, bundles) in the standard contract: POST /v1/cases,
// /v1/cases/{case_id}/status, /v1/cases/{case_id}/evaluation,
// /v1/cases/{case_id}/evaluation/reply and /v1/bundles.
//
// # Notices
//
// A notice about a case (kind notice: a deadline warning or overdue
// notice, an evaluation with its follow-up, a follow-up reply or overdue
// follow-up, a cancelled part of a bundle) is a message like the others:
// its body is the contracts.NoticeDelivery the standard style would POST
// to {endpoint}/notices, signed by the gateway over its exact bytes, and
// the partner acknowledges it with an Ack naming its delivery_id and
// exchange_id and the SM3 of its body (no partner_case_no).
//
// # Repeats
//
// Delivery is at least once: a message not acknowledged in time is
// offered again, and an operator may redeliver a dead letter. Partners recognise
// a repeat by delivery_id alone: the gateway makes it unique across all
// senders and keeps it through every attempt and redelivery of the
// delivery. exchange_id is unique per sender only (two districts may send
// the same one), so a partner that dedups on it takes one district's case
// for another's. case_id names the case (a resubmission after correction
// is a new delivery of the same case). An acknowledgement that gives, as
// partner_case_no, the number of another case of the same partner is
// refused by the gateway: the delivery counts as not delivered.
//
// Client is the partner's end: a reference implementation of the poll,
// verify, acknowledge loop, used by the partner simulator.
//
// Config block (all optional):
//
//	{"visibility_timeout": "30s"}
package mailbox

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tongban/tongban/adapters"
)

// Name is the name the adapter is registered under.
const Name = "mailbox"

// Visibility timeout bounds.
const (
	DefaultVisibility = 30 * time.Second
	MinVisibility     = time.Second
	MaxVisibility     = time.Hour
)

func init() {
	adapters.Register(adapters.Style{
		Name:         Name,
		Summary:      "the partner pulls its deliveries from a mailbox at the gateway (long polling, signed acknowledgements); for one-way network boundaries",
		Capabilities: []adapters.Capability{adapters.CapPull},
		Factory:      adapters.FactoryOf(New),
	})
}

// Config is the partner's adapter block.
type Config struct {
	// VisibilityTimeout is how long a message handed out stays hidden
	// from later polls, a Go duration from 1s to 1h; default 30s. Set it
	// above the time the partner needs to process and acknowledge a batch.
	VisibilityTimeout string `json:"visibility_timeout,omitempty"`
}

// Adapter is a pulling partner's adapter: it only says how the partner's
// mailbox behaves.
type Adapter struct {
	visibility time.Duration
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Puller  = (*Adapter)(nil)
)

// New builds the adapter for the partner p describes. An absent or empty
// config block takes the defaults; unknown fields are errors.
func New(p adapters.Params) (*Adapter, error) {
	if _, err := p.WithDefaults(); err != nil {
		return nil, err
	}
	var c Config
	if len(p.Config) > 0 && string(p.Config) != "{}" && string(p.Config) != "null" {
		if err := adapters.DecodeConfig(p.Config, &c); err != nil {
			return nil, err
		}
	}
	vis := DefaultVisibility
	if c.VisibilityTimeout != "" {
		d, err := time.ParseDuration(c.VisibilityTimeout)
		if err != nil {
			return nil, fmt.Errorf("config: visibility_timeout %q is not a duration (for example 30s)", c.VisibilityTimeout)
		}
		vis = d
	}
	if vis < MinVisibility || vis > MaxVisibility {
		return nil, fmt.Errorf("config: visibility_timeout %s is out of range %s..%s", vis, MinVisibility, MaxVisibility)
	}
	return &Adapter{visibility: vis}, nil
}

// Style returns "mailbox".
func (a *Adapter) Style() string { return Name }

// Mailbox returns the partner's mailbox options.
func (a *Adapter) Mailbox() adapters.MailboxOptions {
	return adapters.MailboxOptions{VisibilityTimeout: a.visibility}
}

// ExampleConfig is the demo's mailbox block.
func ExampleConfig() json.RawMessage { return json.RawMessage(`{"visibility_timeout":"10s"}`) }
