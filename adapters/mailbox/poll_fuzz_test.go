package mailbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// answering is a transport that gives every request the same answer.
type answering struct {
	status int
	body   []byte
}

func (a answering) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(a.body))}, nil
}

// FuzzPoll feeds arbitrary gateway answers to the partner side's poll.
// Anything but a 200 is an error naming the status, carrying the
// gateway's *contracts.Error when the body is one; a 200 whose body is
// not strictly a mailbox batch is an error; a batch is handed over whole:
// every message once, in order, each either decoded or refused (never
// both, never neither), and the next cursor as given.
func FuzzPoll(f *testing.F) {
	d, _ := json.Marshal(contracts.StatusDelivery{DeliveryID: "d1", CaseID: "c1", ExchangeID: "0195f3a0-0001-7001-8001-000000000001",
		SentAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), Update: contracts.StatusUpdate{State: contracts.CaseStateAccepted}})
	batch, _ := json.Marshal(contracts.MailboxBatch{NextCursor: "7", Messages: []contracts.MailboxMessage{
		{Kind: contracts.DeliveryKindStatus, DeliveryID: "d1", ExchangeID: "0195f3a0-0001-7001-8001-000000000001", Body: d, Signature: []byte{1}, KeyID: "gateway"},
		{Kind: "other", DeliveryID: "d2", Body: []byte(`{}`)},
	}})
	f.Add(200, batch)
	f.Add(200, []byte(`{"messages":[]}`))
	f.Add(200, []byte(`{"messages":null,"next_cursor":""}`))
	f.Add(200, []byte(`{"messages":[{"body":"not base64"}]}`))
	f.Add(200, []byte(`{"messages":[],"extra":1}`))
	f.Add(401, []byte(`{"code":"unauthenticated","message":"no token"}`))
	f.Add(503, []byte(`<html>`))
	f.Add(200, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		c, err := NewClient(ClientConfig{GatewayURL: "http://gateway.test", Crypto: trusting{}, Token: func() (string, error) { return "t", nil },
			HTTP: &http.Client{Transport: answering{status, body}}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Poll(context.Background(), "", 0, 0)
		if status != http.StatusOK {
			if err == nil || !strings.Contains(err.Error(), "gateway answered "+strconv.Itoa(status)) {
				t.Fatalf("answer %d read as %v", status, err)
			}
			var ce contracts.Error
			if json.Unmarshal(body, &ce) == nil && ce.Code != "" {
				var got *contracts.Error
				if !errors.As(err, &got) || got.Code != ce.Code {
					t.Fatalf("answer %d with code %q read as %v", status, ce.Code, err)
				}
			}
			return
		}
		var mb contracts.MailboxBatch
		if adapters.DecodeJSON(body, &mb) != nil {
			if err == nil {
				t.Fatalf("%q read as a batch", body)
			}
			return
		}
		if err != nil {
			t.Fatalf("batch %s refused: %v", body, err)
		}
		if b.NextCursor != mb.NextCursor || len(b.Messages) != len(mb.Messages) {
			t.Fatalf("batch of %d messages, cursor %q handed over as %d, %q", len(mb.Messages), mb.NextCursor, len(b.Messages), b.NextCursor)
		}
		for i, r := range b.Messages {
			if r.DeliveryID != mb.Messages[i].DeliveryID || (r.Message == nil) == (r.Err == nil) {
				t.Fatalf("message %d handed over as %+v", i, r)
			}
		}
	})
}

// FuzzNew feeds arbitrary config blocks to the mailbox style: a refusal
// says it is the config's; an accepted block gives a visibility timeout in
// range, which written back as a block gives the same timeout.
func FuzzNew(f *testing.F) {
	for _, s := range []string{``, `{}`, `null`, string(ExampleConfig()), `{"visibility_timeout":"1h"}`, `{"visibility_timeout":"999ms"}`,
		`{"visibility_timeout":"1h0m0.000000001s"}`, `{"visibility_timeout":"soon"}`, `{"visibility_timeout":""}`, `{"visibility":"30s"}`, `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := New(adapters.Params{PartnerID: "610102", Config: raw, Crypto: trusting{}})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("refusal %q does not say it is the config's", err)
			}
			return
		}
		v := a.Mailbox().VisibilityTimeout
		if v < MinVisibility || v > MaxVisibility {
			t.Fatalf("%s accepted with visibility %s", raw, v)
		}
		back, err := New(adapters.Params{PartnerID: "610102", Config: json.RawMessage(`{"visibility_timeout":"` + v.String() + `"}`), Crypto: trusting{}})
		if err != nil || back.Mailbox().VisibilityTimeout != v {
			t.Fatalf("visibility %s written back reads as %v", v, err)
		}
	})
}
