package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/tlsconf/tlstest"
)

// TestServeTLSProcess runs `tongban serve` with a tls section: /healthz
// answers over https (TLS 1.3, the certificate of the test CA) and a plain
// HTTP request is refused.
func TestServeTLSProcess(t *testing.T) {
	dir := t.TempDir()
	if _, err := devrig.Keys(dir, devrig.GatewayKey, "330702"); err != nil {
		t.Fatal(err)
	}
	ca := tlstest.NewCA(t, "Tongban test CA")
	ca.Server(t, "gateway", time.Time{}, time.Time{}).Write(t, dir, "server")
	addr := e2etest.FreeLoopbackAddr(t)
	cfg := devrig.Gateway("tongban-tls", addr)
	cfg.Store.Path = "tongban.db"
	cfg.TLS = &config.TLS{Cert: "server.crt", Key: "server.key"}
	p, err := devrig.Partner(devrig.District{Code: "330702", Style: standard.Name}, "http://127.0.0.1:1/p/330702")
	if err != nil {
		t.Fatal(err)
	}
	p.Library = nil
	cfg.Partners = []config.Partner{p}
	path := filepath.Join(dir, "config.yaml")
	if _, err := devrig.WriteConfig(path, cfg, 0o600, "", nil); err != nil {
		t.Fatal(err)
	}

	g := &gatewayChild{cmd: exec.Command(bin, "serve", "--config", path), out: &e2etest.LockedBuffer{}, exited: make(chan struct{})}
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() { g.kill(t) })

	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err = client.Get("https://" + addr + "/healthz"); err == nil {
			break
		}
		select {
		case <-g.exited:
			t.Fatalf("gateway exited:\n%s", g.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no https answer within 10s (%v):\n%s", err, g.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("https /healthz: %d over %s, want 200 over TLS 1.3", resp.StatusCode, tls.VersionName(resp.TLS.Version))
	}
	resp, err = (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/healthz")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || !strings.Contains(string(b), "HTTPS") {
			t.Errorf("plain http /healthz: %d %q, want refused", resp.StatusCode, b)
		}
	}
	if !strings.Contains(g.out.String(), `"tls":true`) {
		t.Errorf("the ready line does not say tls: %s", g.out.String())
	}
}
