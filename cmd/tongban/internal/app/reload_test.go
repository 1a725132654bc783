package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/signing"
)

const reloadGatewayID = "tongban-reload"

// reloadRig is a gateway served from a configuration file, with the
// owner district 330702 simulated twice (a and b, at two endpoints) and
// the sender 320404, which has a second key pair ready (320404-2027).
type reloadRig struct {
	t      *testing.T
	dir    string
	path   string
	cfg    *config.Config // as last written
	keys   map[string]*signing.PrivateKey
	sims   *devrig.Sims
	a, b   *partnersim.Sim
	g      *app.Gateway
	base   string
	cancel context.CancelFunc
	done   chan error
}

func newReloadRig(t *testing.T) *reloadRig {
	t.Helper()
	r := &reloadRig{t: t, dir: t.TempDir()}
	r.path = filepath.Join(r.dir, "config.yaml")
	var err error
	if r.keys, err = devrig.Keys(r.dir, devrig.GatewayKey, "320404", "320404-2027", "330702", "operator"); err != nil {
		t.Fatal(err)
	}
	if r.sims, err = devrig.ListenSims(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.sims.Close() })
	sim := func(code string) *partnersim.Sim {
		kr, err := devrig.SimCrypto(code, r.keys[code], r.keys[devrig.GatewayKey].Public(), nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := partnersim.New(partnersim.Config{PartnerID: code, Style: standard.Name, Crypto: kr, NoReports: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r.a, r.b = sim("330702"), sim("330702")
	r.sims.Handle("320404", sim("320404"))
	r.sims.Handle("330702", r.a)
	r.sims.Handle("330702-b", r.b)

	r.cfg = devrig.Gateway(reloadGatewayID, "127.0.0.1:0")
	r.cfg.Limits.Rate.Off = true
	for _, d := range []devrig.District{{Code: "320404", Name: "钟楼区", Style: standard.Name}, {Code: "330702", Name: "婺城区", Style: standard.Name}} {
		p, err := devrig.Partner(d, r.sims.Endpoint(d.Code))
		if err != nil {
			t.Fatal(err)
		}
		r.cfg.Partners = append(r.cfg.Partners, p)
	}
	r.cfg.Partners = append(r.cfg.Partners, devrig.Caller("operator", contracts.RoleOperator))
	loaded := r.write()
	r.g, err = app.Open(t.Context(), loaded, app.NewLogger(io.Discard, "info"), app.WithConfigPath(r.path))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	r.cancel, r.done = cancel, make(chan error, 1)
	ready := make(chan string, 1)
	go func() { r.done <- r.g.Serve(ctx, ready) }()
	select {
	case addr := <-ready:
		r.base = "http://" + addr
	case err := <-r.done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready within 10s")
	}
	t.Cleanup(r.stop)
	return r
}

// stop shuts the gateway down (once).
func (r *reloadRig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		r.t.Errorf("Serve: %v", err)
	}
}

// write writes r.cfg to the configuration file and loads it back.
func (r *reloadRig) write() *config.Config {
	r.t.Helper()
	loaded, err := devrig.WriteConfig(r.path, r.cfg, 0o600, "", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return loaded
}

// writeOnly writes r.cfg to the configuration file as it is, valid or
// not.
func (r *reloadRig) writeOnly() {
	r.t.Helper()
	b, err := devrig.Marshal(r.cfg, "", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(r.path, b, 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// token mints a bearer token of caller signed with key keyID.
func (r *reloadRig) token(caller, keyID string) string {
	r.t.Helper()
	jti, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		r.t.Fatal(err)
	}
	tok, err := signing.IssueToken(signing.NewSigner(r.keys[keyID], nil), signing.TokenRequest{KeyID: keyID, Issuer: caller,
		Audience: reloadGatewayID, TTL: 5 * time.Minute, ID: jti, Now: time.Now()})
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// do sends a request and returns its status and body.
func (r *reloadRig) do(method, path, token string, body []byte, header map[string]string) (int, []byte) {
	r.t.Helper()
	req, err := http.NewRequestWithContext(r.t.Context(), method, r.base+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return res.StatusCode, b
}

// submit sends a case from 320404 to 330702 signed (token and body) with
// 320404's key keyID; it returns the status, the body and the exchange id.
func (r *reloadRig) submit(keyID string) (int, []byte, string) {
	r.t.Helper()
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		r.t.Fatal(err)
	}
	body, err := json.Marshal(devrig.Submission(id, time.Now().UTC().Truncate(time.Second)))
	if err != nil {
		r.t.Fatal(err)
	}
	sig, err := signing.Sign(signing.NewSigner(r.keys[keyID], nil), nil, body)
	if err != nil {
		r.t.Fatal(err)
	}
	st, b := r.do(http.MethodPost, "/v1/cases", r.token("320404", keyID), body, map[string]string{
		"Content-Type": "application/json", "Gw-Signature": base64.StdEncoding.EncodeToString(sig), "Gw-Key-Id": keyID})
	return st, b, id
}

// reload asks POST /v1/admin/reload as the operator.
func (r *reloadRig) reload() (int, []byte) {
	r.t.Helper()
	return r.do(http.MethodPost, "/v1/admin/reload", r.token("operator", "operator"), nil, nil)
}

// received waits until sim has the case of exchange id; it fails after
// 20 s.
func received(t *testing.T, sim *partnersim.Sim, exchangeID string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range sim.Cases() {
			if c.ExchangeID == exchangeID {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the case of exchange %s never reached the district", exchangeID)
}

// has reports whether sim got the case of exchange id.
func has(sim *partnersim.Sim, exchangeID string) bool {
	return slices.ContainsFunc(sim.Cases(), func(c contracts.CaseDelivery) bool { return c.ExchangeID == exchangeID })
}

// reloadRecords returns the admin.reload records of the store's evidence
// log, read as an auditor reads it.
func reloadRecords(t *testing.T, cfg *config.Config) []contracts.EvidenceRecord {
	t.Helper()
	rd, err := sqlite.OpenReader(t.Context(), cfg.Resolve(cfg.Store.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []contracts.EvidenceRecord
	err = rd.ScanEvidence(t.Context(), 1, 0, func(row gateway.EvidenceRow) error {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(row.Record, &rec); err != nil {
			return err
		}
		if rec.Event == contracts.EventAdminReload {
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReloadPutsPartnersInForce: a configuration file that moves the
// owner district to another endpoint and replaces the sender's key is
// put in force by POST /v1/admin/reload without a restart: the next case
// goes to the new endpoint, a token of the new key is accepted and one of
// the removed key refused, and the reload is in the evidence log with the
// SM3 of the file. Files that do not load, change a setting that needs a
// restart, or name a key file that is not there are refused, saying why,
// and the configuration in force stays.
func TestReloadPutsPartnersInForce(t *testing.T) {
	r := newReloadRig(t)
	st, body, first := r.submit("320404")
	if st != http.StatusAccepted {
		t.Fatalf("submit before the reload: %d %s", st, body)
	}
	received(t, r.a, first)

	// The owner moves to endpoint b; the sender's key is replaced.
	r.cfg.Partners[0].Keys = map[string]string{"320404-2027": devrig.PubPath("320404-2027")}
	if err := r.cfg.Partners[1].SetAdapterConfig(devrig.StyleConfig(standard.Name, r.sims.Endpoint("330702-b"))); err != nil {
		t.Fatal(err)
	}
	r.write()
	file, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	st, body = r.reload()
	if st != http.StatusOK {
		t.Fatalf("reload: %d %s", st, body)
	}
	var res contracts.ReloadResult
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatal(err)
	}
	want := contracts.ReloadResult{ConfigSM3: r.g.Keys().SM3Hex(file), Partners: 3,
		Changed: contracts.ReloadChanges{Added: []string{}, Removed: []string{}, Updated: []string{"320404", "330702"}},
		Keys: contracts.ReloadKeyChanges{Added: []contracts.KeyRef{{Caller: "320404", KeyID: "320404-2027"}},
			Removed: []contracts.KeyRef{{Caller: "320404", KeyID: "320404"}}}}
	if got, _ := json.Marshal(res); string(got) != string(mustJSON(t, want)) {
		t.Errorf("reload result:\n got %s\nwant %s", got, mustJSON(t, want))
	}

	// The removed key is refused, the new one accepted; the case goes to b.
	st, body, _ = r.submit("320404")
	if st != http.StatusUnauthorized || !strings.Contains(string(body), string(contracts.CodeUnknownKey)) {
		t.Errorf("submit with the removed key: %d %s, want 401 unknown_key", st, body)
	}
	st, body, second := r.submit("320404-2027")
	if st != http.StatusAccepted {
		t.Fatalf("submit with the new key: %d %s", st, body)
	}
	received(t, r.b, second)
	if has(r.a, second) {
		t.Error("the case after the reload also reached the old endpoint")
	}

	// Refused files keep the configuration in force.
	good := r.cfg
	for _, tt := range []struct {
		name  string
		write func()
		says  string
	}{
		{"not YAML", func() {
			if err := os.WriteFile(r.path, []byte("partners: [\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "config:"},
		{"an invalid partner", func() {
			c := *good
			c.Partners = slices.Clone(good.Partners)
			c.Partners[1].Regions = []string{"33070"}
			r.cfg = &c
			r.writeOnly()
		}, "partners[1]"},
		{"a missing key file", func() {
			c := *good
			c.Partners = slices.Clone(good.Partners)
			c.Partners[1].Keys = map[string]string{"330702": "keys/nobody.pub"}
			r.cfg = &c
			r.writeOnly()
		}, "partners[1] (330702).keys.330702"},
		{"settings that need a restart", func() {
			c := *good
			c.Listen, c.GatewayID = "127.0.0.1:1", "another-gateway"
			r.cfg = &c
			r.writeOnly()
		}, "need a restart: gateway_id, listen"},
	} {
		tt.write()
		st, body := r.reload()
		var e contracts.Error
		if err := json.Unmarshal(body, &e); err != nil || st != http.StatusBadRequest || e.Code != contracts.CodeValidationFailed || !strings.Contains(e.Message, tt.says) {
			t.Errorf("%s: %d %s, want 400 validation_failed saying %q", tt.name, st, body, tt.says)
		}
	}
	r.cfg = good
	st, body, third := r.submit("320404-2027")
	if st != http.StatusAccepted {
		t.Fatalf("submit after the refused reloads: %d %s", st, body)
	}
	received(t, r.b, third)

	r.stop()
	recs := reloadRecords(t, r.g.Config())
	if len(recs) != 1 {
		t.Fatalf("%d admin.reload records, want 1 (refused reloads record nothing)", len(recs))
	}
	var d contracts.EvidenceDetail
	if err := json.Unmarshal(recs[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if recs[0].Actor != "operator" || recs[0].JTI == "" || d.ConfigSM3 != want.ConfigSM3 || d.PartnerCount != 3 ||
		!slices.Equal(d.PartnersUpdated, want.Changed.Updated) || len(d.KeysAdded) != 1 || len(d.KeysRemoved) != 1 {
		t.Errorf("admin.reload record %+v, detail %+v", recs[0], d)
	}
}

// TestReloadOnSIGHUP: SIGHUP to the process makes a gateway watching it
// (ReloadOn, as serve wires it) read its file again: a caller the file
// adds can call at once, and the record's actor is "signal".
func TestReloadOnSIGHUP(t *testing.T) {
	r := newReloadRig(t)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go r.g.ReloadOn(ctx, hup)

	auditorKeys, err := devrig.Keys(r.dir, "auditor")
	if err != nil {
		t.Fatal(err)
	}
	r.keys["auditor"] = auditorKeys["auditor"]
	if st, _ := r.do(http.MethodGet, "/v1/admin/keys", r.token("auditor", "auditor"), nil, nil); st != http.StatusUnauthorized {
		t.Fatalf("an auditor not configured yet: %d, want 401", st)
	}
	r.cfg.Partners = append(r.cfg.Partners, devrig.Caller("auditor", contracts.RoleAuditor))
	r.write()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.g.Directory().Get("auditor") == nil {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the configuration within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, body := r.do(http.MethodGet, "/v1/admin/keys", r.token("auditor", "auditor"), nil, nil); st != http.StatusOK {
		t.Errorf("the auditor the reload added: %d %s", st, body)
	}
	r.stop()
	recs := reloadRecords(t, r.g.Config())
	if len(recs) != 1 || recs[0].Actor != gateway.SignalActor || recs[0].JTI != "" {
		t.Errorf("admin.reload records: %+v, want one by signal", recs)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReloadDropsRuntimeKeys: a key an operator added at runtime is in
// force at once and lasts until the next reload, which makes the keys
// exactly the file's: it is reported removed and its tokens refused;
// named in the file, it stays.
func TestReloadDropsRuntimeKeys(t *testing.T) {
	r := newReloadRig(t)
	pub, err := os.ReadFile(filepath.Join(r.dir, devrig.PubPath("320404-2027")))
	if err != nil {
		t.Fatal(err)
	}
	body := mustJSON(t, contracts.KeyAddRequest{Caller: "320404", KeyID: "320404-2027", PublicKeyPEM: string(pub)})
	sig, err := signing.Sign(signing.NewSigner(r.keys["operator"], nil), nil, body)
	if err != nil {
		t.Fatal(err)
	}
	st, b := r.do(http.MethodPost, "/v1/admin/keys", r.token("operator", "operator"), body, map[string]string{
		"Content-Type": "application/json", "Gw-Signature": base64.StdEncoding.EncodeToString(sig), "Gw-Key-Id": "operator"})
	if st != http.StatusCreated {
		t.Fatalf("add key: %d %s", st, b)
	}
	if st, b, _ := r.submit("320404-2027"); st != http.StatusAccepted {
		t.Fatalf("submit with the runtime key: %d %s", st, b)
	}
	// The file is unchanged: the reload drops the runtime key.
	st, b = r.reload()
	var res contracts.ReloadResult
	if err := json.Unmarshal(b, &res); err != nil || st != http.StatusOK {
		t.Fatalf("reload: %d %s", st, b)
	}
	if want := []contracts.KeyRef{{Caller: "320404", KeyID: "320404-2027"}}; !slices.Equal(res.Keys.Removed, want) || len(res.Keys.Added) != 0 ||
		len(res.Changed.Updated) != 0 {
		t.Errorf("reload of the unchanged file: %+v, want the runtime key removed and nothing else", res)
	}
	if st, b, _ := r.submit("320404-2027"); st != http.StatusUnauthorized {
		t.Errorf("submit with the dropped runtime key: %d %s, want 401", st, b)
	}
	// Named in the file, the same key stays across reloads.
	r.cfg.Partners[0].Keys["320404-2027"] = devrig.PubPath("320404-2027")
	r.write()
	if st, b := r.reload(); st != http.StatusOK {
		t.Fatalf("reload: %d %s", st, b)
	}
	if st, b := r.reload(); st != http.StatusOK || !strings.Contains(string(b), `"keys":{"added":[],"removed":[]}`) {
		t.Errorf("second reload of the same file: %d %s, want no key change", st, b)
	}
	if st, b, _ := r.submit("320404-2027"); st != http.StatusAccepted {
		t.Errorf("submit with the key the file names: %d %s", st, b)
	}
}
