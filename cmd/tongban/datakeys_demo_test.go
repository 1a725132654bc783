package main

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/demo"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
)

// startGateway runs the binary with args (demo or serve) until its
// /readyz answers 200, and returns its logs and a stop function that
// sends SIGTERM and waits for the exit.
func startGateway(t *testing.T, addr string, args ...string) (*e2etest.LockedBuffer, func()) {
	t.Helper()
	var logs e2etest.LockedBuffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready in 20s:\n%s", args[0], logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &logs, func() {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not stop within 20s of SIGTERM:\n%s", args[0], logs.String())
		}
	}
}

// demoPersonalData returns the demo's personal data: the sample case's
// applicant (id number, name, phone) and every holder of the demo
// libraries' licenses (citizen ids and names, the credit codes of
// companies and sole traders; not the issuing authorities').
func demoPersonalData(t *testing.T) []string {
	t.Helper()
	sub := devrig.Submission("00000000-0000-7000-8000-000000000000", time.Now())
	out := []string{sub.Applicant.IDNumber, sub.Applicant.Name, sub.Applicant.Phone}
	regions := []string{demo.NationalRegion}
	for _, d := range demo.Districts {
		regions = append(regions, d.Code)
	}
	for _, r := range regions {
		recs, err := partnersim.DemoLicenses(r, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			out = append(out, rec.Holder.IDNumber)
			if rec.Holder.HolderType == contracts.HolderTypeCitizenID {
				out = append(out, rec.Holder.Name)
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d personal data items: not the demo's", len(out))
	}
	return out
}

// TestDemoKeepsPersonalDataSealed runs the demo (data keys on by
// default), then looks for its personal data in the clear in the
// gateway's logs and in the store's files: there is none. The log
// verifies without the data key file; after the key is rotated and
// shredded it still verifies, the audit trace of a case leaves its
// submission's signature unchecked, and its bundle export answers 410
// data_shredded.
func TestDemoKeepsPersonalDataSealed(t *testing.T) {
	dir := t.TempDir()
	addr := e2etest.FreeLoopbackAddr(t)
	logs, stop := startGateway(t, addr, "demo", "--dir", dir, "--addr", addr)
	time.Sleep(3 * time.Second) // the sample cases and verifications run meanwhile
	scanned := map[string][]byte{}
	// The store's files while the demo runs (tongban.db-wal holds the
	// latest writes) and after it stopped.
	readStore := func(when string) {
		files, err := filepath.Glob(filepath.Join(dir, "tongban.db*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no store files in %s: %v", dir, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			scanned[filepath.Base(f)+" "+when] = data
		}
	}
	readStore("while running")
	if _, ok := scanned["tongban.db-wal while running"]; !ok {
		t.Fatal("no tongban.db-wal while the demo runs")
	}
	stop()
	readStore("after stopping")
	if !strings.Contains(logs.String(), "personal data sealed at rest") {
		t.Fatalf("the demo does not seal personal data:\n%s", logs.String())
	}
	scanned["the gateway's logs"] = []byte(logs.String())
	for _, pd := range demoPersonalData(t) {
		for name, data := range scanned {
			if bytes.Contains(data, []byte(pd)) {
				t.Errorf("%s holds %q in the clear", name, pd)
			}
		}
	}
	// The demo did store what it ran: usage records and cases.
	all := bytes.Join(slices.Collect(maps.Values(scanned)), nil)
	if !bytes.Contains(all, []byte("license.verified")) || !bytes.Contains(all, []byte("case.received")) {
		t.Fatal("the store holds no case or verification: the demo ran nothing")
	}

	// The chain verifies without any data key.
	keyFile := filepath.Join(dir, devrig.DataKeysPath)
	hidden := filepath.Join(t.TempDir(), "datakeys.json")
	if err := os.Rename(keyFile, hidden); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if out := must(t, runIn(t, work, "", "audit", "verify", "--config", cfg)); !strings.Contains(out.stdout, "OK: every record and checkpoint verifies") {
		t.Fatalf("audit verify without the data keys:\n%s", out.stdout)
	}
	if err := os.Rename(hidden, keyFile); err != nil {
		t.Fatal(err)
	}

	// Retention: a new current key, the demo's shredded.
	must(t, runIn(t, work, "", "keys", "rotate", "--file", keyFile, "--id", "after-demo"))
	shred := must(t, runIn(t, work, "", "keys", "shred", "--file", keyFile, "--before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
	if !strings.Contains(shred.stdout, "shredded data keys") {
		t.Fatalf("keys shred: %s", shred.stdout)
	}
	if out := must(t, runIn(t, work, "", "audit", "verify", "--config", cfg)); !strings.Contains(out.stdout, "OK: every record and checkpoint verifies") {
		t.Fatalf("audit verify after the shred:\n%s", out.stdout)
	}

	// The gateway on the shredded store: what needs a body says it is gone.
	addr = e2etest.FreeLoopbackAddr(t)
	config, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serveCfg := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(serveCfg, rewriteListen(t, config, addr), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stop = startGateway(t, addr, "serve", "--config", serveCfg)
	defer stop()
	key, err := devrig.Key(filepath.Join(dir, devrig.KeyDir, "auditor")) // the demo's
	if err != nil {
		t.Fatal(err)
	}
	auditor := e2etest.NewCaller("auditor", demo.GatewayID, key)
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+auditor.Token(t))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	status, body := get("/v1/audit/exchanges?kind=case&limit=1")
	var page contracts.ExchangePage
	if err := json.Unmarshal(body, &page); status != http.StatusOK || err != nil || len(page.Items) != 1 {
		t.Fatalf("audit search: %d %s", status, body)
	}
	caseID := page.Items[0].CaseID
	status, body = get("/v1/audit/cases/" + caseID + "/export")
	var e contracts.Error
	if err := json.Unmarshal(body, &e); status != http.StatusGone || err != nil || e.Code != contracts.CodeDataShredded {
		t.Fatalf("export of a shredded case: %d %s, want 410 data_shredded", status, body)
	}
	status, body = get("/v1/audit/cases/" + caseID + "/trace")
	var trace contracts.CaseTrace
	if err := json.Unmarshal(body, &trace); status != http.StatusOK || err != nil || len(trace.Timeline) == 0 {
		t.Fatalf("trace of a shredded case: %d %s", status, body)
	}
	for _, step := range trace.Timeline {
		if step.Event == contracts.EventCaseReceived && step.SignatureValid != nil {
			t.Errorf("trace: the shredded submission's signature reported as %v; want it unchecked", *step.SignatureValid)
		}
	}
	// Usage records are still found by the holder's full id (its blind
	// index), their other fields intact.
	recs, err := partnersim.DemoLicenses(demo.LicenseRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, rec := range recs {
		status, body := get("/v1/licenses/usage?holder_id=" + rec.Holder.IDNumber + "&limit=50")
		var page contracts.UsageRecordPage
		if err := json.Unmarshal(body, &page); status != http.StatusOK || err != nil {
			t.Fatalf("usage by holder: %d %s", status, body)
		}
		for _, r := range page.Records {
			if r.UsageRecordID == "" || r.Purpose == "" {
				t.Errorf("usage record by holder: %+v", r)
			}
		}
		found += len(page.Records)
	}
	if found == 0 {
		t.Errorf("no usage record of the holders of %s's demo licenses found by holder id", demo.LicenseRegion)
	}
}

// rewriteListen returns config with its listen line set to addr.
func rewriteListen(t *testing.T, config []byte, addr string) []byte {
	t.Helper()
	var out []string
	found := false
	for _, line := range strings.Split(string(config), "\n") {
		if strings.HasPrefix(line, "listen:") {
			line, found = "listen: "+addr, true
		}
		out = append(out, line)
	}
	if !found {
		t.Fatalf("no listen line in:\n%s", config)
	}
	return []byte(strings.Join(out, "\n"))
}
