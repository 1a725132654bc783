// Package demo is `tongban demo`: a self-contained gateway with dev keys
// and simulated partner districts of every adapter style, all on
// loopback, that runs sample cases and license verifications through
// itself and prints ready-to-paste commands. Its gateway is built by the
// dev rig (devrig) and run by the application (app), as serve runs one.
// It serves plain HTTP, without a tls section: a development tool on one
// host with dev keys (see `tongban demo --help`).
package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tongban/tongban/adapters/mailbox"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
)

// GatewayID is the demo gateway's id: the aud of its callers' tokens.
const GatewayID = "tongban-demo"

// DefaultStep is the delay between a simulated district's status reports.
const DefaultStep = 300 * time.Millisecond

// Districts are the demo's partner districts (GB/T 2260) and the adapter
// style each speaks: one district of each style.
var Districts = []devrig.District{
	{Code: "320404", Name: "钟楼区", Style: standard.Name}, {Code: "320402", Name: "天宁区", Style: standard.Name},
	{Code: "330702", Name: "婺城区", Style: mappedjson.Name}, {Code: "371523", Name: "茌平区", Style: soap.Name},
	{Code: "310116", Name: "金山区", Style: standard.Name}, {Code: "610102", Name: "新城区", Style: mailbox.Name},
}

// SampleTargets are the districts the demo's sample cases go to from
// 320404: one of each style.
var SampleTargets = []string{"320402", "330702", "371523", "610102"}

// Callers are the demo's other callers: id, role, region.
var Callers = []struct {
	ID     string
	Role   contracts.Role
	Region string
}{
	{"window-320404", contracts.RoleWindow, "320404"}, {"auditor", contracts.RoleAuditor, ""}, {"operator", contracts.RoleOperator, ""},
}

// ConfigHeader is the leading comment of the demo's config.yaml.
const ConfigHeader = `Written by "tongban demo" at every start. Dev keys only.`

// Config returns the demo gateway's configuration: listening on addr,
// each district's system at endpoint(code), then the simulated national
// library (devrig.NationalPartner, the fallback library of every region no
// district declares) at endpoint(devrig.NationalID), then the callers;
// spans exported to exporter (config.ExporterNone or
// config.ExporterStdout). Paths are relative to the demo's directory.
func Config(addr string, endpoint func(code string) string, exporter string) (*config.Config, error) {
	cfg := devrig.Gateway(GatewayID, addr)
	cfg.Telemetry.Exporter = exporter
	cfg.Console.Enabled = true
	administration(cfg)
	for _, d := range Districts {
		p, err := devrig.Partner(d, endpoint(d.Code))
		if err != nil {
			return nil, err
		}
		cfg.Partners = append(cfg.Partners, p)
	}
	national, err := devrig.NationalPartner(endpoint(devrig.NationalID))
	if err != nil {
		return nil, err
	}
	cfg.Partners = append(cfg.Partners, national)
	for _, c := range Callers {
		var regions []string
		if c.Region != "" {
			regions = []string{c.Region}
		}
		cfg.Partners = append(cfg.Partners, devrig.Caller(c.ID, c.Role, regions...))
	}
	return cfg, nil
}

// configComments name each district, and the national library, on its
// partner entry's id line.
func configComments() map[string]string {
	m := map[string]string{}
	for _, d := range Districts {
		m[d.Code] = d.Name + ", " + d.Style
	}
	m[devrig.NationalID] = nationalComment
	return m
}

// nationalComment names the national library on its partner entry.
const nationalComment = devrig.NationalName + ", standard: the fallback license library"

// Options are what Run takes.
type Options struct {
	Out, Log io.Writer // the help for people; the JSON log
	Dir      string    // config, keys, store and examples
	Addr     string    // the gateway's listen address (loopback)
	// Step is the delay between a simulated district's reports (the
	// command's default: DefaultStep); zero: partnersim.DefaultStep.
	Step time.Duration
	// TraceStdout exports spans to standard output.
	TraceStdout bool
	// Ready, if not nil, gets the gateway's address once it serves.
	Ready chan<- string
	// Version is the version the gateway reports; "": app.BuildVersion("").
	Version string
}

// Run sets up o.Dir, starts the simulators and the gateway, runs the
// sample cases and verifications, and serves until ctx ends.
func Run(ctx context.Context, o Options) error {
	start := time.Now()
	log := app.NewLogger(o.Log, config.DefaultLogLevel)
	dir := o.Dir
	if err := os.MkdirAll(filepath.Join(dir, devrig.KeyDir), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "examples"), 0o755); err != nil {
		return err
	}
	ids := []string{devrig.GatewayKey, devrig.NationalID}
	for _, d := range Districts {
		ids = append(ids, d.Code)
	}
	for _, c := range Callers {
		ids = append(ids, c.ID)
	}
	keys, err := devrig.Keys(dir, ids...)
	if err != nil {
		return err
	}

	// Simulated districts, one loopback listener, one path prefix each.
	sims, err := devrig.ListenSims()
	if err != nil {
		return err
	}
	defer sims.Close()
	gwURL := "http://" + o.Addr
	var (
		started []*partnersim.Sim
		sender  *partnersim.Sim // 320404's, which the demo's notices reach
	)
	for _, d := range Districts {
		kr, err := devrig.SimCrypto(d.Code, keys[d.Code], keys[devrig.GatewayKey].Public(), nil)
		if err != nil {
			return err
		}
		code := d.Code
		sc := partnersim.Config{
			PartnerID: code, Style: d.Style, StyleConfig: devrig.StyleConfig(d.Style, "http://sim.invalid"),
			Crypto: kr, GatewayURL: gwURL, Step: o.Step,
			Token: func() (string, error) { return kr.IssueToken(GatewayID) },
			Logf: func(format string, args ...any) {
				log.Info("district "+code+": "+fmt.Sprintf(format, args...), "component", "partnersim")
			},
		}
		switch code {
		case DeadlineOwner:
			sc.Progress = DeadlineProgress
		case EvaluatedOwner:
			sc.AutoReply = true
		}
		sim, err := partnersim.New(sc)
		if err != nil {
			return err
		}
		if code == "320404" {
			sender = sim
		}
		sims.Handle(code, sim)
		started = append(started, sim)
	}
	// The national library: licenses of regions no district declares.
	nkr, err := devrig.SimCrypto(devrig.NationalID, keys[devrig.NationalID], keys[devrig.GatewayKey].Public(), nil)
	if err != nil {
		return err
	}
	ncfg := devrig.NationalSimConfig(nkr)
	ncfg.Logf = func(format string, args ...any) {
		log.Info("national library: "+fmt.Sprintf(format, args...), "component", "partnersim")
	}
	national, err := partnersim.New(ncfg)
	if err != nil {
		return err
	}
	sims.Handle(devrig.NationalID, national)

	exporter := config.ExporterNone
	if o.TraceStdout {
		exporter = config.ExporterStdout
	}
	built, err := Config(o.Addr, sims.Endpoint, exporter)
	if err != nil {
		return err
	}
	if err := writeAdministration(dir); err != nil {
		return err
	}
	cfg, err := devrig.WriteConfig(filepath.Join(dir, "config.yaml"), built, 0o644, ConfigHeader, configComments())
	if err != nil {
		return err
	}
	clock := &Clock{}
	opts := []app.Option{app.WithClock(clock)}
	if o.Version != "" {
		opts = append(opts, app.WithVersion(o.Version))
	}
	g, err := app.Open(ctx, cfg, log, opts...)
	if err != nil {
		return err
	}
	g.Telemetry().Install() // the core's and the adapters' spans and metrics too
	gwReady := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, gwReady) }()
	var bound string
	select {
	case bound = <-gwReady:
	case err := <-done:
		return err
	}
	for _, s := range started {
		s.Start(ctx)
	}
	example, err := writeExamples(dir)
	if err != nil {
		return err
	}
	licExample, natExample, err := writeLicenseExamples(dir, time.Now())
	if err != nil {
		return err
	}
	bundleExample, err := writeBundleExample(dir)
	if err != nil {
		return err
	}
	log.Info("demo ready", "addr", bound, "dir", dir, "startup_ms", time.Since(start).Milliseconds())
	printHelp(o.Out, dir, bound, example, licExample, natExample, bundleExample)
	if o.Ready != nil {
		o.Ready <- bound
	}
	for _, to := range SampleTargets {
		go runSampleCase(ctx, log, "http://"+bound, keys["320404"], to)
	}
	go runSampleVerifications(ctx, log, "http://"+bound, keys["window-320404"])
	go runAdministration(ctx, log, "http://"+bound, keys["320404"], clock, sender)
	return <-done
}

// writeExamples writes D/examples/case.json, a case from 320404 to
// 330702, and returns its path.
func writeExamples(dir string) (string, error) {
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		return "", err
	}
	body, err := json.MarshalIndent(devrig.Submission(id, time.Now().UTC().Truncate(time.Second)), "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "examples", "case.json")
	return p, os.WriteFile(p, append(body, '\n'), 0o644)
}

// writeBundleExample writes D/examples/bundle.json, the demo's 一件事, and
// returns its path.
func writeBundleExample(dir string) (string, error) {
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		return "", err
	}
	b, err := Bundle(id, time.Now().UTC().Truncate(time.Second))
	if err != nil {
		return "", err
	}
	body, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "examples", "bundle.json")
	return p, os.WriteFile(p, append(body, '\n'), 0o644)
}

func printHelp(w io.Writer, dir, addr, example, licExample, natExample, bundleExample string) {
	self := "tongban"
	if exe, err := os.Executable(); err == nil && !strings.Contains(exe, "go-build") {
		self = exe
	} else {
		self = "go run ./cmd/tongban"
	}
	fmt.Fprintf(w, `
Tongban demo gateway on http://%[1]s (gateway id %[4]s). Dev keys in %[2]s/keys.
Sample cases from 320404 to 320402 (standard), 330702 (mapped-json), 371523 (soap)
and 610102 (mailbox: it pulls) are running now; watch the log. Each district's
partner entry is in %[2]s/config.yaml; "%[5]s adapters" lists the styles.

Submit the example case as district 320404:

  TOKEN=$(%[5]s token --key %[2]s/keys/320404.key --kid 320404 --iss 320404 --aud %[4]s)
  SIG=$(%[5]s sign --key %[2]s/keys/320404.key %[3]s)
  curl -sS -X POST http://%[1]s/v1/cases -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: application/json" -H "Gw-Signature: $SIG" -H "Gw-Key-Id: 320404" \
    --data-binary @%[3]s

Then follow it (case_id from the receipt):

  curl -sS http://%[1]s/v1/cases/CASE_ID -H "Authorization: Bearer $TOKEN"

Verify an e-license of 330702 as the window window-320404 (a signed result):

  WTOKEN=$(%[5]s token --key %[2]s/keys/window-320404.key --kid window-320404 --iss window-320404 --sub clerk-0231 --aud %[4]s)
  WSIG=$(%[5]s sign --key %[2]s/keys/window-320404.key %[6]s)
  curl -sS -X POST http://%[1]s/v1/licenses/verify -H "Authorization: Bearer $WTOKEN" \
    -H "Content-Type: application/json" -H "Gw-Signature: $WSIG" -H "Gw-Key-Id: window-320404" \
    --data-binary @%[6]s

A license of a region no district declares goes to the national library
(partner %[8]s, license_library {fallback: true}: 全国一体化政务服务平台,
simulated), which holds demo licenses of %[9]s. Verify one of
%[10]s it holds (valid) and one of %[11]s it does not (not_found, not no_route):

  NSIG=$(%[5]s sign --key %[2]s/keys/window-320404.key %[7]s)
  curl -sS -X POST http://%[1]s/v1/licenses/verify/batch -H "Authorization: Bearer $WTOKEN" \
    -H "Content-Type: application/json" -H "Gw-Signature: $NSIG" -H "Gw-Key-Id: window-320404" \
    --data-binary @%[7]s

Usage records (用证记录) as the auditor:

  ATOKEN=$(%[5]s token --key %[2]s/keys/auditor.key --kid auditor --iss auditor --aud %[4]s)
  curl -sS http://%[1]s/v1/licenses/usage -H "Authorization: Bearer $ATOKEN"

The administration of cases (README, "Administration"): the service catalogue
as the window, a 一件事 bundle as 320404 (%[12]s), cases past their deadline:

  curl -sS http://%[1]s/v1/catalogue -H "Authorization: Bearer $WTOKEN"
  BSIG=$(%[5]s sign --key %[2]s/keys/320404.key %[12]s)
  curl -sS -X POST http://%[1]s/v1/bundles -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: application/json" -H "Gw-Signature: $BSIG" -H "Gw-Key-Id: 320404" \
    --data-binary @%[12]s
  curl -sS "http://%[1]s/v1/audit/exchanges?overdue=true" -H "Authorization: Bearer $ATOKEN"

The web console (控制台) at http://%[1]s/console/: open a one-time sign-in link as
the auditor (or --key %[2]s/keys/operator.key --kid operator --iss operator):

  %[5]s console --key %[2]s/keys/auditor.key --kid auditor --iss auditor --aud %[4]s --gateway http://%[1]s

Audit a case (存证): its timeline, the evidence log's chain, its evidence bundle:

  curl -sS http://%[1]s/v1/audit/cases/CASE_ID/trace -H "Authorization: Bearer $ATOKEN"
  curl -sS http://%[1]s/v1/audit/verify -H "Authorization: Bearer $ATOKEN"
  %[5]s audit export --gateway http://%[1]s --key %[2]s/keys/auditor.key --kid auditor \
    --iss auditor --aud %[4]s --case CASE_ID
  %[5]s audit verify-bundle tongban-case-CASE_ID.zip --gateway-pub %[2]s/keys/gateway.pub

The contract: curl -sS http://%[1]s/v1/openapi.yaml
`, addr, dir, example, GatewayID, self, licExample, natExample,
		devrig.NationalID, strings.Join(partnersim.NationalRegions, " and "), NationalRegion, UnheldRegion, bundleExample)
}
