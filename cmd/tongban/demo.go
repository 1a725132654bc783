package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"
	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mailbox"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

const demoGatewayID = "tongban-demo"

// demoDistricts are the demo's partner districts (GB/T 2260) and the
// adapter style each speaks: one district of each style.
var demoDistricts = []struct{ code, name, style string }{
	{"320404", "钟楼区", standard.Name}, {"320402", "天宁区", standard.Name}, {"330702", "婺城区", mappedjson.Name},
	{"371523", "茌平区", soap.Name}, {"310116", "金山区", standard.Name}, {"610102", "新城区", mailbox.Name},
}

// demoSampleTargets are the districts the demo's sample cases go to from
// 320404: one of each style.
var demoSampleTargets = []string{"320402", "330702", "371523", "610102"}

// demoStyleConfig is the adapter block of a demo district of style whose
// simulated system listens at endpoint.
func demoStyleConfig(style, endpoint string) json.RawMessage {
	switch style {
	case mappedjson.Name:
		return mappedjson.ExampleConfig(endpoint)
	case soap.Name:
		return soap.ExampleConfig(endpoint)
	case mailbox.Name:
		return mailbox.ExampleConfig()
	}
	b, _ := json.Marshal(map[string]string{"endpoint": endpoint})
	return b
}

// demoCallers are the demo's other callers: id, role, region.
var demoCallers = []struct{ id, role, region string }{
	{"window-320404", "window", "320404"}, {"auditor", "auditor", ""}, {"operator", "operator", ""},
}

func newDemoCmd() *cobra.Command {
	var dir, addr string
	var step time.Duration
	var traceStdout bool
	c := &cobra.Command{
		Use:   "demo --dir D [--addr 127.0.0.1:8080]",
		Short: "Run a self-contained gateway with dev keys and simulated partner districts",
		Long: `Dev mode: one command, no set-up, a working gateway. It writes D/config.yaml
(gateway id tongban-demo), SM2 dev keys D/keys/<caller>.key (PKCS#8) and .pub
(SPKI) for the gateway and every caller, and example requests under
D/examples/. Callers: each demo district's system is caller <region code>
with key id <region code> (320404 320402 330702 371523 310116 610102);
window-320404 is a window of Zhonglou; auditor and operator.

Simulated district systems run on loopback, one of each adapter style:
320402 standard (the gateway's own JSON), 330702 mapped-json (its own
pinyin field names, code tables and envelope), 371523 soap (SOAP 1.1) and
610102 mailbox (behind a one-way boundary: it pulls its deliveries);
320404 and 310116 are standard too. Each moves every case it owns through
the whole lifecycle (accepted, in_progress, concluded, dispatched,
delivered) within seconds, reporting in its own format. At start the demo
sends one sample case from 320404 to each of 320402, 330702, 371523 and
610102, logs every step, then prints ready-to-paste commands.

Every log line written while handling a request carries its request_id and
trace_id; each sample case is one trace, from the submission through the
owner's reports back to 320404. --trace-stdout also prints every span as JSON
on standard output. Metrics: GET /metrics; readiness: GET /readyz.

Keys and the store persist in D across runs; config.yaml is rewritten at
each start (the simulators' ports change). The keys are for development only.`,
		Example: "  tongban demo --dir demo --addr 127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir D is required")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), dir, addr, step, traceStdout, nil)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory for config, keys, store and examples (required)")
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "gateway listen address (loopback)")
	c.Flags().DurationVar(&step, "step", 300*time.Millisecond, "delay between a simulated district's status reports")
	c.Flags().BoolVar(&traceStdout, "trace-stdout", false, "print every span as JSON on standard output (telemetry exporter stdout)")
	return c
}

// runDemo sets up D, starts the simulators and the gateway, runs the sample
// case, and serves until ctx ends. traceStdout exports spans to standard
// output. ready, if not nil, gets the gateway address.
func runDemo(ctx context.Context, out, logw io.Writer, dir, addr string, step time.Duration, traceStdout bool, ready chan<- string) error {
	start := time.Now()
	log := newLogger(logw, "info")
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "examples"), 0o755); err != nil {
		return err
	}
	ids := []string{"gateway"}
	for _, d := range demoDistricts {
		ids = append(ids, d.code)
	}
	for _, c := range demoCallers {
		ids = append(ids, c.id)
	}
	keys := map[string]*signing.PrivateKey{}
	for _, id := range ids {
		k, err := demoKey(filepath.Join(dir, "keys", id))
		if err != nil {
			return err
		}
		keys[id] = k
	}

	// Simulated districts, one loopback listener, one path prefix each.
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gwURL := "http://" + addr
	mux := http.NewServeMux()
	var sims []*partnersim.Sim
	for _, d := range demoDistricts {
		kr, err := keyring.New(keyring.Options{GatewayID: d.code, Signer: signing.NewSigner(keys[d.code], nil), SignerKeyID: d.code})
		if err != nil {
			return err
		}
		if err := kr.AddKey(partnersim.GatewayCaller, "gateway", keys["gateway"].Public()); err != nil {
			return err
		}
		code := d.code
		sim, err := partnersim.New(partnersim.Config{
			PartnerID: code, Style: d.style, StyleConfig: demoStyleConfig(d.style, "http://sim.invalid"),
			Crypto: kr, GatewayURL: gwURL, Step: step,
			Token: func() (string, error) { return kr.IssueToken(demoGatewayID) },
			Logf: func(format string, args ...any) {
				log.Info("district "+code+": "+fmt.Sprintf(format, args...), "component", "partnersim")
			},
		})
		if err != nil {
			return err
		}
		// A SOAP service is one endpoint: /p/CODE itself, not only below it.
		mux.Handle("/p/"+code+"/", http.StripPrefix("/p/"+code, sim.Handler()))
		mux.Handle("/p/"+code, http.StripPrefix("/p/"+code, sim.Handler()))
		sims = append(sims, sim)
	}
	simSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go simSrv.Serve(simLn)
	defer simSrv.Close()
	simBase := "http://" + simLn.Addr().String()

	cfgPath := filepath.Join(dir, "config.yaml")
	exporter := config.ExporterNone
	if traceStdout {
		exporter = config.ExporterStdout
	}
	if err := os.WriteFile(cfgPath, []byte(demoConfig(addr, simBase, exporter)), 0o644); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	g, err := openGateway(ctx, cfg, log)
	if err != nil {
		return err
	}
	g.tel.Install() // the core's and the adapters' spans and metrics too
	gwReady := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- g.serve(ctx, gwReady) }()
	var bound string
	select {
	case bound = <-gwReady:
	case err := <-done:
		return err
	}
	for _, s := range sims {
		s.Start(ctx)
	}
	example, err := writeDemoExamples(dir, keys["320404"])
	if err != nil {
		return err
	}
	licExample, err := writeLicenseExamples(dir, time.Now())
	if err != nil {
		return err
	}
	log.Info("demo ready", "addr", bound, "dir", dir, "startup_ms", time.Since(start).Milliseconds())
	printDemoHelp(out, dir, bound, example, licExample)
	if ready != nil {
		ready <- bound
	}
	for _, to := range demoSampleTargets {
		go runSampleCase(ctx, log, "http://"+bound, keys["320404"], to)
	}
	go runSampleVerifications(ctx, log, "http://"+bound, keys["window-320404"])
	return <-done
}

// demoKey loads NAME.key, or creates NAME.key and NAME.pub.
func demoKey(name string) (*signing.PrivateKey, error) {
	if data, err := os.ReadFile(name + ".key"); err == nil {
		return signing.ParsePrivateKeyPEM(data, nil)
	}
	k, err := signing.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	priv, err := signing.MarshalPrivateKeyPEM(k, nil)
	if err != nil {
		return nil, err
	}
	pub, err := signing.MarshalPublicKeyPEM(k.Public())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(name+".key", priv, 0o600); err != nil {
		return nil, err
	}
	return k, os.WriteFile(name+".pub", pub, 0o644)
}

func demoConfig(addr, simBase, exporter string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by "tongban demo" at every start. Dev keys only.
gateway_id: %s
listen: %s
signing_key: {path: keys/gateway.key, key_id: gateway}
store: {path: tongban.db, synchronous: full}
delivery: {poll: 200ms}
telemetry: {exporter: %s}   # --trace-stdout: stdout
partners:
`, demoGatewayID, addr, exporter)
	for _, d := range demoDistricts {
		fmt.Fprintf(&b, `  - id: "%[1]s"   # %[2]s, %[3]s
    roles: [partner]
    regions: ["%[1]s"]
    keys: {"%[1]s": keys/%[1]s.pub}
    adapter: %[3]s
    config:
%[4]s
    retry: {max_attempts: 8, base_delay: 500ms, max_delay: 30s}
    timeout: 5s
`, d.code, d.name, d.style, yamlBlock(demoStyleConfig(d.style, simBase+"/p/"+d.code), "      "))
		if d.style != mailbox.Name { // a mailbox district cannot be asked synchronously
			fmt.Fprintf(&b, "    license_library: {regions: [\"%s\"], timeout: 2s}\n", d.code)
		}
	}
	for _, c := range demoCallers {
		regions := "[]"
		if c.region != "" {
			regions = `["` + c.region + `"]`
		}
		fmt.Fprintf(&b, "  - id: %[1]s\n    roles: [%[2]s]\n    regions: %[3]s\n    keys: {%[1]s: keys/%[1]s.pub}\n", c.id, c.role, regions)
	}
	return b.String()
}

// yamlBlock renders a JSON object as a YAML block, keys in their order,
// each line indented by indent, so that config.yaml reads as an operator
// would write it. JSON is YAML, so it is read into a node tree and written
// back in block style.
func yamlBlock(js json.RawMessage, indent string) string {
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return indent + string(js) // still valid YAML: JSON flow style
	}
	var unflow func(*yaml.Node)
	unflow = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode, yaml.SequenceNode:
			n.Style &^= yaml.FlowStyle
		case yaml.ScalarNode:
			n.Style = 0 // the encoder quotes what would read back as another type
		}
		for _, c := range n.Content {
			unflow(c)
		}
	}
	unflow(&n)
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return indent + string(js)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	for i, l := range lines {
		lines[i] = indent + l
	}
	return strings.Join(lines, "\n")
}

// demoSubmission returns a valid case from Zhonglou (320404) to Wucheng (330702).
func demoSubmission(exchangeID string, now time.Time) contracts.CaseSubmission {
	pdf := []byte("%PDF-1.4\n% Tongban demo material: 经营场所使用证明\n")
	return contracts.CaseSubmission{
		ExchangeID: exchangeID, FromRegion: "320404", ToRegion: "330702", SubmittedAt: now,
		ServiceItem: contracts.ServiceItem{BasicCode: "000155014000", ImplementationCode: "113307020025937411400015501400001", Name: "个体工商户设立登记"},
		Applicant:   contracts.Party{HolderType: contracts.HolderTypeCitizenID, IDNumber: "11010519491231002X", Name: "王秀英", Phone: "13961234567"},
		Window:      contracts.Window{WindowID: "window-320404", OperatorID: "zl-0231", Region: "320404", Name: "钟楼区政务服务中心跨省通办窗口"},
		ReceivedAt:  now.Add(-10 * time.Minute), LocalCaseNo: "ZL-KSTB-" + now.Format("20060102-150405"),
		Form: json.RawMessage(`{"business_name":"婺城区秀英百货店","business_scope":"日用百货零售"}`),
		Materials: []contracts.Material{{
			MaterialID: "M01", Name: "经营场所使用证明", MediaType: "application/pdf", Size: int64(len(pdf)),
			SM3: hex.EncodeToString(signing.Default.SM3(pdf)), Content: pdf,
		}},
		ResultDelivery: contracts.ResultDelivery{Method: contracts.ResultDeliveryMethodPost, Recipient: "王秀英", Phone: "13961234567", Address: "江苏省常州市钟楼区南大街1号"},
	}
}

func writeDemoExamples(dir string, key *signing.PrivateKey) (string, error) {
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		return "", err
	}
	body, err := json.MarshalIndent(demoSubmission(id, time.Now().UTC().Truncate(time.Second)), "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "examples", "case.json")
	return p, os.WriteFile(p, append(body, '\n'), 0o644)
}

func printDemoHelp(w io.Writer, dir, addr, example, licExample string) {
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

Usage records (用证记录) as the auditor:

  ATOKEN=$(%[5]s token --key %[2]s/keys/auditor.key --kid auditor --iss auditor --aud %[4]s)
  curl -sS http://%[1]s/v1/licenses/usage -H "Authorization: Bearer $ATOKEN"

Audit a case (存证): its timeline, the evidence log's chain, its evidence bundle:

  curl -sS http://%[1]s/v1/audit/cases/CASE_ID/trace -H "Authorization: Bearer $ATOKEN"
  curl -sS http://%[1]s/v1/audit/verify -H "Authorization: Bearer $ATOKEN"
  %[5]s audit export --gateway http://%[1]s --key %[2]s/keys/auditor.key --kid auditor \
    --iss auditor --aud %[4]s --case CASE_ID
  %[5]s audit verify-bundle tongban-case-CASE_ID.zip --gateway-pub %[2]s/keys/gateway.pub

The contract: curl -sS http://%[1]s/v1/openapi.yaml
`, addr, dir, example, demoGatewayID, self, licExample)
}

// runSampleCase submits one case as 320404 to district to and logs its
// every step until it is delivered (or 60 s pass).
func runSampleCase(ctx context.Context, log *slog.Logger, base string, key *signing.PrivateKey, to string) {
	style := ""
	for _, d := range demoDistricts {
		if d.code == to {
			style = d.style
		}
	}
	log = log.With("component", "sample-case", "to", to, "style", style)
	ctx = demoTrace(ctx) // the case's trace: its log lines show the trace_id to follow
	id, _ := contracts.NewUUIDv7(time.Now(), rand.Reader)
	sub := demoSubmission(id, time.Now().UTC())
	sub.ToRegion = to
	body, _ := json.Marshal(sub)
	signer := signing.NewSigner(key, nil)
	token := func() string {
		jti, _ := contracts.NewUUIDv7(time.Now(), rand.Reader)
		t, _ := signing.IssueToken(signer, signing.TokenRequest{KeyID: "320404", Issuer: "320404", Subject: "window-320404", Audience: demoGatewayID, TTL: 5 * time.Minute, ID: jti})
		return t
	}
	sig, err := signing.Sign(signer, nil, body)
	if err != nil {
		log.Error("sign", "err", err)
		return
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/cases", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("Gw-Key-Id", "320404")
	adapters.InjectTrace(ctx, req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.ErrorContext(ctx, "submit", "err", err)
		return
	}
	var rc contracts.Receipt
	err = json.NewDecoder(resp.Body).Decode(&rc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		log.ErrorContext(ctx, "submit refused", "status", resp.StatusCode, "err", err)
		return
	}
	log.InfoContext(ctx, "sample case submitted: signed receipt received", "case_id", rc.CaseID, "state", rc.State, "body_sm3", rc.BodySM3)
	seen := map[string]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(150 * time.Millisecond):
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/cases/"+rc.CaseID, nil)
		req.Header.Set("Authorization", "Bearer "+token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var v contracts.CaseView
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			continue
		}
		for _, h := range v.History {
			k := string(h.State) + h.ExchangeID
			if !seen[k] {
				seen[k] = true
				log.InfoContext(ctx, "sample case step", "case_id", v.CaseID, "state", h.State, "outcome", h.Outcome, "reported_by", h.ReportedBy, "note", h.Note)
			}
		}
		for _, d := range v.Deliveries {
			k := "d" + d.DeliveryID + string(d.State)
			if !seen[k] && d.State == contracts.TransportStateDelivered {
				seen[k] = true
				log.InfoContext(ctx, "sample case delivery acknowledged", "case_id", v.CaseID, "kind", d.Kind, "to", d.Partner, "attempts", d.Attempts)
			}
		}
		if v.State == contracts.CaseStateDelivered && allDelivered(v.Deliveries) {
			log.InfoContext(ctx, "sample case complete: delivered to the applicant, every update carried back to 320404", "case_id", v.CaseID, "owner_case_no", v.OwnerCaseNo)
			return
		}
	}
	log.WarnContext(ctx, "sample case did not complete within 60s")
}

// demoTrace returns ctx carrying a new sampled root span context, as a
// district system that traces its own calls would send in its traceparent.
func demoTrace(ctx context.Context) context.Context {
	var tid trace.TraceID
	var sid trace.SpanID
	if _, err := rand.Read(tid[:]); err != nil {
		return ctx
	}
	if _, err := rand.Read(sid[:]); err != nil {
		return ctx
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

func allDelivered(ds []contracts.DeliveryView) bool {
	for _, d := range ds {
		if d.State != contracts.TransportStateDelivered {
			return false
		}
	}
	return true
}
