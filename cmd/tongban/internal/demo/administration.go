package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/catalogue"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/workdays"
	"github.com/tongban/tongban/signing"
)

// The demo's administration (see the README's "Administration"): the
// example catalogue and calendar, written to the demo's directory; a
// 一件事 bundle decided in two districts; a case whose deadline warning
// and overdue notice fire in demo time; evaluations, one negative and
// followed up by its owner.
const (
	// CatalogueFile and CalendarFile are the files the demo writes and
	// its configuration names.
	CatalogueFile = "catalogue.yaml"
	CalendarFile  = "calendar-2026.example.yaml"
	// DeadlineOwner is the district of the demo's deadline case: it
	// accepts cases and keeps them in progress (DeadlineProgress), so
	// their deadline comes.
	DeadlineOwner = "310116"
	// EvaluatedOwner is the district whose sample-like case the demo
	// evaluates negatively; its simulator answers the follow-up by itself.
	EvaluatedOwner = "330702"
)

// DeadlineProgress is the lifecycle DeadlineOwner's simulator reports.
var DeadlineProgress = []contracts.CaseState{contracts.CaseStateAccepted, contracts.CaseStateInProgress}

// Bundle parts: the business licence at 330702, the food licence at
// 371523 once the first is approved.
var bundleParts = []struct {
	part, owner string
	after       []string
}{{"license", "330702", nil}, {"food", "371523", []string{"license"}}}

// administration sets the demo's administration in cfg.
func administration(cfg *config.Config) {
	cfg.Administration = config.Administration{Catalogue: CatalogueFile, Calendar: CalendarFile, WarnBeforeDays: 1,
		AlarmPoll: time.Second, Evaluations: config.Evaluations{ReplyDays: 2, ReplyUnit: "working_days"}}
}

// writeAdministration writes the example catalogue and calendar to dir.
func writeAdministration(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, CatalogueFile), catalogue.Example, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, CalendarFile), workdays.Example2026, 0o644)
}

// ItemFor returns the example catalogue's item owned by region to that
// 320404 may accept (the first listed), for the demo's cases.
func ItemFor(to string) (contracts.ServiceItem, error) {
	cat, err := catalogue.Parse(catalogue.Example)
	if err != nil {
		return contracts.ServiceItem{}, err
	}
	for _, it := range cat.Items() {
		if !slices.Contains(it.Owners, to) {
			continue
		}
		if _, err := cat.Route(it.ImplementationCode, "320404", to); err == nil {
			return contracts.ServiceItem{BasicCode: it.BasicCode, ImplementationCode: it.ImplementationCode, Name: it.Name}, nil
		}
	}
	return contracts.ServiceItem{}, fmt.Errorf("the example catalogue has no item of %s open to 320404", to)
}

// Bundle returns the demo's 一件事 开办餐饮店 as 320404 submits it.
func Bundle(exchangeID string, now time.Time) (contracts.BundleSubmission, error) {
	sub := devrig.Submission(exchangeID, now)
	b := contracts.BundleSubmission{ExchangeID: exchangeID, FromRegion: sub.FromRegion, SubmittedAt: now, Name: "开办餐饮店",
		Applicant: sub.Applicant, Window: sub.Window, ReceivedAt: sub.ReceivedAt, LocalCaseNo: "ZL-1JS-" + now.Format("20060102-150405"),
		ResultDelivery: sub.ResultDelivery}
	for _, p := range bundleParts {
		item, err := ItemFor(p.owner)
		if err != nil {
			return b, err
		}
		b.Parts = append(b.Parts, contracts.BundlePart{Part: p.part, ServiceItem: item, After: p.after, Form: sub.Form, Materials: sub.Materials})
	}
	return b, nil
}

// Clock is the demo gateway's clock: the system's, moved forward when the
// demo shows a deadline falling. It is safe for concurrent use.
type Clock struct{ offset atomic.Int64 }

// Now returns the system time moved forward by what Advance added.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// AdvanceTo moves the clock forward to t (never back).
func (c *Clock) AdvanceTo(t time.Time) {
	if d := t.Sub(c.Now()); d > 0 {
		c.offset.Add(int64(d))
	}
}

// caller makes signed calls to the gateway as 320404.
type caller struct {
	base   string
	signer signing.Signer
}

func (c caller) token() string {
	jti, _ := contracts.NewUUIDv7(time.Now(), rand.Reader)
	t, _ := signing.IssueToken(c.signer, signing.TokenRequest{KeyID: "320404", Issuer: "320404", Subject: "window-320404",
		Audience: GatewayID, TTL: 5 * time.Minute, ID: jti})
	return t
}

// post sends v, signed, to path and decodes a 2xx answer into out.
func (c caller) post(ctx context.Context, path string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sig, err := signing.Sign(c.signer, nil, body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("Gw-Key-Id", "320404")
	return c.do(req, out)
}

// view returns GET /v1/cases/{id}.
func (c caller) view(ctx context.Context, id string) (contracts.CaseView, error) {
	var v contracts.CaseView
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/cases/"+id, nil)
	if err != nil {
		return v, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token())
	return v, c.do(req, &v)
}

func (c caller) do(req *http.Request, out any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// until polls view of id every 150 ms until ok says so, for at most 60 s.
func (c caller) until(ctx context.Context, id string, ok func(contracts.CaseView) bool) (contracts.CaseView, error) {
	var v contracts.CaseView
	for range 400 {
		var err error
		if v, err = c.view(ctx, id); err == nil && ok(v) {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(150 * time.Millisecond):
		}
	}
	return v, fmt.Errorf("case %s: not there within 60s (state %s)", id, v.State)
}

// runAdministration shows the administration of cases: the bundle and
// the evaluations run side by side with the deadline case, whose clock is
// moved forward only once they are done (the jump makes every lease and
// retry of the moment due at once); each step is logged.
func runAdministration(ctx context.Context, log *slog.Logger, base string, key *signing.PrivateKey, clock *Clock, sender *partnersim.Sim) {
	c := caller{base: base, signer: signing.NewSigner(key, nil)}
	log = log.With("component", "administration")
	failed := func(err error) {
		if err != nil && ctx.Err() == nil {
			log.Error("administration demo step failed", "err", err)
		}
	}
	quiet := make(chan struct{})
	go func() {
		defer close(quiet)
		done := make(chan struct{}, 2)
		for _, run := range []func(context.Context, *slog.Logger, caller) error{runBundle, runEvaluations} {
			go func() { defer func() { done <- struct{}{} }(); failed(run(ctx, log, c)) }()
		}
		<-done
		<-done
	}()
	failed(runDeadline(ctx, log, c, clock, sender, quiet))
}

// runBundle submits 开办餐饮店 and follows it until it concludes.
func runBundle(ctx context.Context, log *slog.Logger, c caller) error {
	log = log.With("demo", "一件事")
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		return err
	}
	b, err := Bundle(id, time.Now().UTC())
	if err != nil {
		return err
	}
	var rc contracts.Receipt
	if err := c.post(ctx, "/v1/bundles", b, &rc); err != nil {
		return err
	}
	for _, p := range rc.Parts {
		log.InfoContext(ctx, "bundle submitted: part", "bundle_id", rc.CaseID, "part", p.Part, "case_id", p.CaseID, "state", p.State)
	}
	seen := map[string]bool{}
	v, err := c.until(ctx, rc.CaseID, func(v contracts.CaseView) bool {
		if v.Bundle != nil {
			for _, p := range v.Bundle.Parts {
				if k := p.Part + string(p.State); !seen[k] {
					seen[k] = true
					log.InfoContext(ctx, "bundle part step", "bundle_id", rc.CaseID, "part", p.Part, "owner", p.Owner, "state", p.State, "outcome", p.Outcome)
				}
			}
		}
		return v.State == contracts.CaseStateConcluded
	})
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "bundle concluded: one concluding update carried back to 320404", "bundle_id", rc.CaseID, "outcome", v.Outcome, "state", v.Bundle.State)
	return nil
}

// runDeadline submits a case to DeadlineOwner, waits for its acceptance,
// then moves the demo clock to its warning and past its deadline.
func runDeadline(ctx context.Context, log *slog.Logger, c caller, clock *Clock, sender *partnersim.Sim, quiet <-chan struct{}) error {
	log = log.With("demo", "承诺时限")
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		return err
	}
	sub := devrig.Submission(id, time.Now().UTC())
	sub.ToRegion = DeadlineOwner
	if sub.ServiceItem, err = ItemFor(DeadlineOwner); err != nil {
		return err
	}
	var rc contracts.Receipt
	if err := c.post(ctx, "/v1/cases", sub, &rc); err != nil {
		return err
	}
	v, err := c.until(ctx, rc.CaseID, func(v contracts.CaseView) bool { return v.Deadline != nil })
	if err != nil {
		return err
	}
	d := v.Deadline
	log.InfoContext(ctx, "deadline case accepted: the statutory clock runs", "case_id", v.CaseID, "deadline", d.Deadline, "limit", d.Limit, "days_left", d.DaysLeft)
	select {
	case <-quiet:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, step := range []struct {
		at     time.Time
		notice contracts.NoticeType
	}{{d.Deadline.Add(-24 * time.Hour), contracts.NoticeDeadlineWarning}, {d.Deadline.Add(time.Minute), contracts.NoticeDeadlineOverdue}} {
		clock.AdvanceTo(step.at)
		log.InfoContext(ctx, "demo clock moved forward", "case_id", v.CaseID, "now", clock.Now().UTC().Format(time.RFC3339), "expect", step.notice)
		if err := awaitNotice(ctx, sender, v.CaseID, step.notice); err != nil {
			return err
		}
		log.InfoContext(ctx, "notice delivered to 320404 and "+DeadlineOwner, "case_id", v.CaseID, "notice", step.notice)
	}
	return nil
}

// awaitNotice waits (at most 30 s) until sim received a notice of type t
// about caseID.
func awaitNotice(ctx context.Context, sim *partnersim.Sim, caseID string, t contracts.NoticeType) error {
	for range 200 {
		for _, n := range sim.Notices() {
			if n.CaseID == caseID && n.Notice.Type == t {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(150 * time.Millisecond):
		}
	}
	return fmt.Errorf("case %s: no %s notice within 30s", caseID, t)
}

// runEvaluations evaluates two concluded cases: one of EvaluatedOwner as
// 不满意 (its owner answers the follow-up by itself), one of the mailbox
// district 610102 as 非常满意.
func runEvaluations(ctx context.Context, log *slog.Logger, c caller) error {
	log = log.With("demo", "好差评")
	for _, e := range []struct {
		to    string
		level contracts.EvaluationLevel
	}{{EvaluatedOwner, contracts.LevelDissatisfied}, {"610102", contracts.LevelVerySatisfied}} {
		id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
		if err != nil {
			return err
		}
		sub := devrig.Submission(id, time.Now().UTC())
		sub.ToRegion = e.to
		if sub.ServiceItem, err = ItemFor(e.to); err != nil {
			return err
		}
		var rc contracts.Receipt
		if err := c.post(ctx, "/v1/cases", sub, &rc); err != nil {
			return err
		}
		if _, err := c.until(ctx, rc.CaseID, func(v contracts.CaseView) bool { return v.State == contracts.CaseStateDelivered }); err != nil {
			return err
		}
		ex, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
		if err != nil {
			return err
		}
		ev := contracts.EvaluationSubmission{ExchangeID: ex, CaseID: rc.CaseID, Level: e.level, Text: "窗口办理流程需改进",
			Channel: contracts.ChannelWindow, EvaluatedAt: time.Now().UTC(),
			Applicant: contracts.EvaluationApplicant{HolderType: sub.Applicant.HolderType, IDNumber: sub.Applicant.IDNumber}}
		var er contracts.Receipt
		if err := c.post(ctx, "/v1/cases/"+rc.CaseID+"/evaluation", ev, &er); err != nil {
			return err
		}
		log.InfoContext(ctx, "evaluation submitted", "case_id", rc.CaseID, "owner", e.to, "level", e.level, "score", e.level.Score())
		if !e.level.Negative() {
			continue
		}
		v, err := c.until(ctx, rc.CaseID, func(v contracts.CaseView) bool {
			return v.Evaluation != nil && v.Evaluation.FollowUp != nil && v.Evaluation.FollowUp.State == contracts.FollowUpAnswered
		})
		if err != nil {
			return err
		}
		f := v.Evaluation.FollowUp
		log.InfoContext(ctx, "negative evaluation followed up: the owner replied, signed", "case_id", rc.CaseID, "owner", e.to,
			"due", f.Due, "late", f.Late, "measures", f.Reply.Measures)
	}
	return nil
}
