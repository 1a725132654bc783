package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/adapters/mailbox"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
)

const mailboxGatewayID = "tongban-mailbox"

// mailboxRig is a gateway opened as serve opens one, with 320404 (standard,
// the sender) and 610102 (mailbox, the owner) simulated.
type mailboxRig struct {
	base     string
	sender   *e2etest.Caller
	owner    *partnersim.Sim
	dir      string
	cancel   context.CancelFunc
	gwDone   chan error
	ownerLog *e2etest.LockedBuffer
}

func newMailboxRig(t *testing.T, faults partnersim.Faults) *mailboxRig {
	t.Helper()
	dir := t.TempDir()
	keys, err := devrig.Keys(dir, devrig.GatewayKey, "320404", "610102")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &mailboxRig{dir: dir, cancel: cancel, gwDone: make(chan error, 1), ownerLog: &e2etest.LockedBuffer{}}
	addr := e2etest.FreeLoopbackAddr(t)
	r.base = "http://" + addr

	// 320404 only answers the status updates carried back to it.
	_, senderURL := e2etest.Sim(ctx, t, mailboxGatewayID, "320404", keys["320404"], keys["gateway"], "", &e2etest.LockedBuffer{})
	kr, err := devrig.SimCrypto("610102", keys["610102"], keys["gateway"].Public(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// With acknowledgements refused, the test reads the case between the
	// refusal and the district's first status report: a slower step keeps
	// that report from racing the read on a loaded machine.
	step := 20 * time.Millisecond
	if faults.BadSignature || faults.Malformed {
		step = 500 * time.Millisecond
	}
	r.owner, err = partnersim.New(partnersim.Config{
		PartnerID: "610102", Style: "mailbox", Crypto: kr, GatewayURL: r.base, Step: step, Faults: faults,
		Token: func() (string, error) { return kr.IssueToken(mailboxGatewayID) },
		Logf:  func(format string, args ...any) { fmt.Fprintf(r.ownerLog, format+"\n", args...) },
	})
	if err != nil {
		t.Fatal(err)
	}

	built := devrig.Gateway(mailboxGatewayID, addr)
	built.Delivery.Poll = 50 * time.Millisecond
	sender, err := devrig.Partner(devrig.District{Code: "320404", Style: standard.Name}, senderURL)
	if err == nil {
		err = sender.SetAdapterConfig(devrig.AdapterBlock(map[string]any{"endpoint": senderURL, "max_retries": 0}))
	}
	if err != nil {
		t.Fatal(err)
	}
	sender.Library = nil
	sender.Retry, sender.Timeout = config.Retry{BaseDelay: 50 * time.Millisecond, MaxDelay: 200 * time.Millisecond}, 2*time.Second
	owner, err := devrig.Partner(devrig.District{Code: "610102", Style: mailbox.Name}, "")
	if err == nil {
		err = owner.SetAdapterConfig(devrig.AdapterBlock(map[string]any{"visibility_timeout": "1s"}))
	}
	if err != nil {
		t.Fatal(err)
	}
	owner.Retry, owner.Timeout = config.Retry{MaxAttempts: 20}, 0
	built.Partners = []config.Partner{sender, owner}
	cfg, err := devrig.WriteConfig(filepath.Join(dir, "config.yaml"), built, 0o644, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := app.Open(ctx, cfg, app.NewLogger(&e2etest.LockedBuffer{}, "info"))
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() { r.gwDone <- g.Serve(ctx, ready) }()
	select {
	case <-ready:
	case err := <-r.gwDone:
		t.Fatalf("gateway stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready within 10s")
	}
	r.owner.Start(ctx)
	r.sender = e2etest.NewCaller("320404", mailboxGatewayID, keys["320404"])
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.owner.Done():
		case <-time.After(40 * time.Second):
			t.Error("the mailbox district did not stop")
		}
		select {
		case <-r.gwDone:
		case <-time.After(40 * time.Second):
			t.Error("the gateway did not stop")
		}
	})
	return r
}

// submit sends the full contract fixture from 320404 to 610102 and
// returns the case id and the submission as sent.
func (r *mailboxRig) submit(t *testing.T) (string, contracts.CaseSubmission) {
	t.Helper()
	d := adaptertest.FullCase(1, e2etest.SM3Hex)
	sub := d.Submission
	sub.ToRegion = "610102"
	sub.ExchangeID = e2etest.MustUUID(t)
	body, err := json.Marshal(sub)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := r.sender.PostSigned(t.Context(), r.sender.Token(t), r.base+"/v1/cases", body)
	if err != nil || ans.Status != http.StatusAccepted {
		t.Fatalf("submit: %v %d %s", err, ans.Status, ans.Body)
	}
	var rc contracts.Receipt
	if err := json.Unmarshal(ans.Body, &rc); err != nil {
		t.Fatal(err)
	}
	return rc.CaseID, sub
}

// waitDelivered follows the case until it is delivered with every
// delivery acknowledged.
func (r *mailboxRig) waitDelivered(t *testing.T, caseID string) contracts.CaseView {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := r.sender.GetCase(t.Context(), r.sender.Token(t), r.base, caseID)
		if err == nil && v.State == contracts.CaseStateDelivered && len(v.Deliveries) == 6 && e2etest.AllDelivered(v.Deliveries) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("case not delivered within 30s: %v %+v\nmailbox district log:\n%s", err, v, r.ownerLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMailboxContract is the mailbox style's contract test, against a real
// gateway: every field of the case survives the pull; a message the
// district did not acknowledge is offered again after the visibility
// timeout and the district keeps one case; acknowledgements are
// authenticated (a badly signed batch or one naming other bytes is
// refused, and the message offered again); and the district's status
// updates are carried back to the sender.
func TestMailboxContract(t *testing.T) {
	tests := []struct {
		name   string
		faults partnersim.Faults
		logs   string // in the district's log
	}{
		{"happy", partnersim.Faults{}, "acknowledged 1 mailbox messages"},
		{"not acknowledged, offered again", partnersim.Faults{DropFirst: 1}, "dropping a mailbox message"},
		{"badly signed acknowledgement", partnersim.Faults{BadSignature: true}, "bad_signature"},
		{"acknowledgement of other bytes", partnersim.Faults{Malformed: true}, "validation_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newMailboxRig(t, tt.faults)
			caseID, sub := r.submit(t)
			if tt.faults.BadSignature || tt.faults.Malformed {
				// Refused acknowledgements: the case stays received until
				// the district behaves.
				deadline := time.Now().Add(20 * time.Second)
				for !strings.Contains(r.ownerLog.String(), tt.logs) {
					if time.Now().After(deadline) {
						t.Fatalf("district log lacks %q:\n%s", tt.logs, r.ownerLog.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
				v, err := r.sender.GetCase(t.Context(), r.sender.Token(t), r.base, caseID)
				if err != nil || v.State != contracts.CaseStateReceived || v.Deliveries[0].State == contracts.TransportStateDelivered {
					t.Fatalf("after a refused acknowledgement: %v %s, delivery %s", err, v.State, v.Deliveries[0].State)
				}
				r.owner.SetFaults(partnersim.Faults{})
			}
			v := r.waitDelivered(t, caseID)
			if !strings.Contains(r.ownerLog.String(), tt.logs) {
				t.Errorf("district log lacks %q", tt.logs)
			}
			cases := r.owner.Cases()
			if len(cases) != 1 {
				t.Fatalf("the district holds %d cases, want 1", len(cases))
			}
			if !e2etest.SameJSON(t, cases[0].Submission, sub) {
				t.Errorf("the case did not survive the mailbox:\ngot  %+v\nwant %+v", cases[0].Submission, sub)
			}
			d := v.Deliveries[0]
			if d.Kind != contracts.DeliveryKindCase || d.Ack == nil || d.Ack.PartnerCaseNo != v.OwnerCaseNo {
				t.Errorf("case delivery %+v", d)
			}
			if wantOffers := 1 + tt.faults.DropFirst; !tt.faults.BadSignature && !tt.faults.Malformed && d.Attempts != wantOffers {
				t.Errorf("case delivery offered %d times, want %d", d.Attempts, wantOffers)
			}
		})
	}
}
