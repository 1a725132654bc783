package gateway_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/port"
)

// checking wraps a district's deliverers with checkers that refuse any
// text holding U+FFFE (as an adapter whose format cannot carry it would).
type checkingCases struct{ port.CaseDeliverer }

func (checkingCases) CheckCase(d *contracts.CaseDelivery) error {
	if strings.ContainsRune(d.Submission.Remark, '\uFFFE') {
		return &contracts.FieldError{Field: "submission.remark", Code: contracts.CodeValidationFailed, Message: "holds a character the format cannot carry"}
	}
	return nil
}

type checkingStatuses struct{ port.StatusDeliverer }

func (checkingStatuses) CheckStatus(d *contracts.StatusDelivery) error {
	if strings.ContainsRune(d.Update.Note, '\uFFFE') {
		return &contracts.FieldError{Field: "update.note", Code: contracts.CodeValidationFailed, Message: "holds a character the format cannot carry"}
	}
	return nil
}

// The cases pipeline asks the adapter of the district a case or an
// update goes to (port.CaseChecker, port.StatusChecker) before it
// accepts it: what that adapter can never carry is refused with
// validation_failed naming the field in the caller's terms, and nothing
// is stored; the rest is accepted as ever.
func TestPipelineRefusesWhatTheAdapterCannotCarry(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	var partners []*gateway.Partner
	for _, id := range []string{zhonglou, wucheng, chiping, jinshan, operator, auditor, window} {
		p := *e.dir.Get(id)
		switch id {
		case wucheng:
			p.Cases = checkingCases{p.Cases}
		case zhonglou:
			p.Statuses = checkingStatuses{p.Statuses}
		}
		partners = append(partners, &p)
	}
	dir, err := gateway.NewDirectory(partners)
	if err != nil {
		t.Fatal(err)
	}
	core, err := node.New(node.Options{Store: e.store, Crypto: e.gw, Directory: dir, Clock: e.clock,
		Log: slog.New(slog.DiscardHandler), GatewayID: gatewayID})
	if err != nil {
		t.Fatal(err)
	}

	bad := e.submission()
	bad.Remark = "请\uFFFE加急" // a noncharacter: valid text, but XML 1.0 cannot hold it
	_, err = core.Cases.SubmitCase(e.ctx, e.signed(zhonglou, mustJSON(t, bad)))
	wantCode(t, err, contracts.CodeValidationFailed)
	if err == nil || !strings.Contains(err.Error(), "remark: the owning district 330702 cannot take it") {
		t.Errorf("refusal of the case: %v, want it to name remark and the owner", err)
	}
	if _, err := e.store.GetExchange(e.ctx, zhonglou, bad.ExchangeID); err == nil {
		t.Error("the refused case's exchange was stored")
	}
	ans, err := core.Cases.SubmitCase(e.ctx, e.signed(zhonglou, mustJSON(t, e.submission())))
	if err != nil {
		t.Fatalf("a case the owner's adapter can carry: %v", err)
	}
	caseID := e.receipt(ans).CaseID

	u := e.update(caseID, contracts.CaseStateAccepted)
	u.Note = "已\uFFFE受理"
	_, err = core.Cases.ReportStatus(e.ctx, caseID, e.signed(wucheng, mustJSON(t, u)))
	wantCode(t, err, contracts.CodeValidationFailed)
	if err == nil || !strings.Contains(err.Error(), "note: the submitting district 320404 cannot take it") {
		t.Errorf("refusal of the update: %v, want it to name note and the sender", err)
	}
	if c := e.getCase(caseID); c.State != contracts.CaseStateReceived {
		t.Errorf("case %s after a refused update, want received", c.State)
	}
	u = e.update(caseID, contracts.CaseStateAccepted)
	if _, err := core.Cases.ReportStatus(e.ctx, caseID, e.signed(wucheng, mustJSON(t, u))); err != nil {
		t.Fatalf("an update the sender's adapter can carry: %v", err)
	}
}
