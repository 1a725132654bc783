package mailbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// Client limits.
const (
	// MaxBatchBytes bounds a poll answer the client reads.
	MaxBatchBytes = 64 << 20
	// MaxWait is the longest wait a poll may ask for.
	MaxWait = 30 * time.Second
)

// ClientConfig describes the partner side of a mailbox.
type ClientConfig struct {
	// GatewayURL is the gateway's base URL, for example
	// http://127.0.0.1:8080.
	GatewayURL string
	// Crypto is the partner's own key (Sign, KeyID) and the gateway's keys:
	// VerifyBody(GatewayCaller, key id, body, sig) checks the messages.
	Crypto adapters.Crypto
	// GatewayCaller is the caller id under which Crypto knows the
	// gateway's keys; "" means "gateway".
	GatewayCaller string
	// Token returns the bearer token for calls to the gateway (required).
	Token func() (string, error)
	// HTTP makes the calls; nil means a client whose timeout covers the
	// longest wait.
	HTTP *http.Client
}

// Client polls a partner's mailbox and acknowledges what it received. It
// is safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	base string
}

// NewClient checks cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	base, err := adapters.ParseEndpoint(cfg.GatewayURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("mailbox client: gateway url: %w", err)
	case cfg.Crypto == nil:
		return nil, errors.New("mailbox client: crypto is required")
	case cfg.Token == nil:
		return nil, errors.New("mailbox client: token is required")
	}
	if cfg.GatewayCaller == "" {
		cfg.GatewayCaller = "gateway"
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: MaxWait + 15*time.Second}
	}
	return &Client{cfg: cfg, base: base}, nil
}

// Received is one message of a batch: what the gateway sent, and what it
// says once checked. Err is set when the message must not be processed nor
// acknowledged: its signature does not verify or its body is not the
// message its kind says. Message is set otherwise.
type Received struct {
	contracts.MailboxMessage
	Message *adapters.Message
	Err     error
}

// Batch is the answer to one poll.
type Batch struct {
	Messages   []Received
	NextCursor string
}

// Poll asks for the next messages after cursor after ("" for the oldest),
// waiting up to wait for one to arrive, at most limit of them (0: the
// gateway's default). Each message's signature is checked over its exact
// body with the gateway's key, and the body decoded strictly by its kind.
// An error means the poll itself failed (transport, refusal, malformed
// batch); a bad message is reported in its Received.Err.
func (c *Client) Poll(ctx context.Context, after string, wait time.Duration, limit int) (*Batch, error) {
	if wait < 0 || wait > MaxWait {
		return nil, fmt.Errorf("mailbox: wait %s is out of range 0..%s", wait, MaxWait)
	}
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if wait > 0 {
		q.Set("wait", strconv.Itoa(int(wait/time.Second)))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	target := c.base + "/v1/mailbox"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	body, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("mailbox: poll: %w", err)
	}
	var mb contracts.MailboxBatch
	if err := adapters.DecodeJSON(body, &mb); err != nil {
		return nil, fmt.Errorf("mailbox: poll answer: %w", err)
	}
	out := &Batch{NextCursor: mb.NextCursor, Messages: make([]Received, 0, len(mb.Messages))}
	for _, m := range mb.Messages {
		r := Received{MailboxMessage: m}
		r.Message, r.Err = c.check(m)
		out.Messages = append(out.Messages, r)
	}
	return out, nil
}

// check verifies one message's signature and decodes its body.
func (c *Client) check(m contracts.MailboxMessage) (*adapters.Message, error) {
	if err := c.cfg.Crypto.VerifyBody(c.cfg.GatewayCaller, m.KeyID, m.Body, m.Signature); err != nil {
		return nil, fmt.Errorf("message %s: gateway signature does not verify: %w", m.DeliveryID, err)
	}
	msg := &adapters.Message{}
	var v any
	switch m.Kind {
	case contracts.DeliveryKindCase:
		msg.Case = &contracts.CaseDelivery{}
		v = msg.Case
	case contracts.DeliveryKindStatus:
		msg.Status = &contracts.StatusDelivery{}
		v = msg.Status
	case contracts.DeliveryKindUsageRecord:
		msg.Usage = &contracts.UsageRecordDelivery{}
		v = msg.Usage
	case contracts.DeliveryKindNotice:
		msg.Notice = &contracts.NoticeDelivery{}
		v = msg.Notice
	default:
		return nil, fmt.Errorf("message %s: unknown kind %q", m.DeliveryID, m.Kind)
	}
	if err := adapters.DecodeJSON(m.Body, v); err != nil {
		return nil, fmt.Errorf("message %s: body: %w", m.DeliveryID, err)
	}
	if msg.ExchangeID() != m.ExchangeID {
		return nil, fmt.Errorf("message %s: body names exchange %s, the message %s", m.DeliveryID, msg.ExchangeID(), m.ExchangeID)
	}
	return msg, nil
}

// AckFor returns the acknowledgement of a checked message r: its
// delivery and exchange, the SM3 of its body as received, the partner's
// key id and, for a case, caseNo (the partner's own case number).
func (c *Client) AckFor(r Received, caseNo string, at time.Time) contracts.Ack {
	return contracts.Ack{
		ExchangeID: r.ExchangeID, DeliveryID: r.DeliveryID, PartnerCaseNo: caseNo,
		AcknowledgedAt: at, BodySM3: c.cfg.Crypto.SM3Hex(r.Body), KeyID: c.cfg.Crypto.KeyID(),
	}
}

// Ack sends acks (1 to 100) as one MailboxAck signed with the partner's
// key, and returns the gateway's answer.
func (c *Client) Ack(ctx context.Context, acks []contracts.Ack) (*contracts.MailboxAckResult, error) {
	body, err := json.Marshal(contracts.MailboxAck{Acks: acks})
	if err != nil {
		return nil, err
	}
	sig, err := c.cfg.Crypto.Sign(body)
	if err != nil {
		return nil, fmt.Errorf("mailbox: sign acknowledgements: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/mailbox/ack", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(adapters.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	req.Header.Set(adapters.HeaderKeyID, c.cfg.Crypto.KeyID())
	raw, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("mailbox: acknowledge: %w", err)
	}
	var res contracts.MailboxAckResult
	if err := adapters.DecodeJSON(raw, &res); err != nil {
		return nil, fmt.Errorf("mailbox: acknowledge answer: %w", err)
	}
	return &res, nil
}

// do sends req with the bearer token and the trace context of its context
// (traceparent), and returns a 200 answer's body, or an error carrying the
// gateway's error code.
func (c *Client) do(req *http.Request) ([]byte, error) {
	tok, err := c.cfg.Token()
	if err != nil {
		return nil, fmt.Errorf("bearer token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	adapters.InjectTrace(req.Context(), req.Header)
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBatchBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxBatchBytes {
		return nil, fmt.Errorf("answer exceeds %d bytes", MaxBatchBytes)
	}
	if resp.StatusCode != http.StatusOK {
		var ce contracts.Error
		if json.Unmarshal(raw, &ce) == nil && ce.Code != "" {
			return nil, fmt.Errorf("gateway answered %d: %w", resp.StatusCode, &ce)
		}
		return nil, fmt.Errorf("gateway answered %d", resp.StatusCode)
	}
	return raw, nil
}
