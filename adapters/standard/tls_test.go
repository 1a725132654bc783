package standard_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/tlsconf"
	"github.com/tongban/tongban/gateway/tlsconf/tlstest"
)

// TestDeliverOverTLS delivers a case to a simulated district that serves
// https and requires a client certificate of its CA, with the partner's
// TLS configuration built as the gateway builds it (tlsconf.Client).
func TestDeliverOverTLS(t *testing.T) {
	dir := t.TempDir()
	districtCA, gatewayCA, otherCA := tlstest.NewCA(t, "District CA"), tlstest.NewCA(t, "Gateway client CA"), tlstest.NewCA(t, "Other CA")
	for name, ca := range map[string]*tlstest.CA{"district-ca": districtCA, "other-ca": otherCA} {
		tlstest.WriteFile(t, filepath.Join(dir, name+".crt"), ca.PEM())
	}
	gatewayCA.Client(t, "tongban-gateway", time.Time{}, time.Time{}).Write(t, dir, "gw-client")
	const clientCert, clientKey = "gw-client.crt", "gw-client.key"

	gw, partner := newPair(t)
	sim, err := partnersim.New(partnersim.Config{PartnerID: partnerID, Crypto: partner, Now: func() time.Time { return fixedNow }, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string // client certificate CNs the district saw
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		sim.Handler().ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{
		MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{districtCA.Server(t, "district", time.Time{}, time.Time{}).TLS(t)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: gatewayCA.Pool(),
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)

	adapter := func(t *testing.T, pt *config.PartnerTLS, endpoint string) *standard.Adapter {
		t.Helper()
		tc, _, err := tlsconf.Client(pt, func(p string) string { return filepath.Join(dir, p) }, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		a, err := adapters.New(standard.Name, adapters.Params{
			PartnerID: partnerID, Config: json.RawMessage(`{"endpoint": "` + endpoint + `", "max_retries": 0}`), Crypto: gw, TLS: tc,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.(*standard.Adapter).Close() })
		return a.(*standard.Adapter)
	}
	good := &config.PartnerTLS{CA: "district-ca.crt", Cert: clientCert, Key: clientKey, MinVersion: "1.2"}
	tests := []struct {
		name      string
		tls       *config.PartnerTLS
		endpoint  string
		want      string // in the error's reason; "" = delivered
		permanent bool
	}{
		{"good", good, srv.URL, "", false},
		{"server of another CA", &config.PartnerTLS{CA: "other-ca.crt", Cert: clientCert, Key: clientKey, MinVersion: "1.2"}, srv.URL, "partner's tls certificate rejected", true},
		// Under TLS 1.3 the client finishes its handshake before the server
		// checks the client certificate, so the refusal reaches the client
		// either as the server's alert or as the connection closing under
		// the request: both are retryable, never permanent.
		{"no client certificate", &config.PartnerTLS{CA: "district-ca.crt", MinVersion: "1.2"}, srv.URL, "partner refused the tls handshake|connection to partner failed", false},
		{"wrong server name", &config.PartnerTLS{CA: "district-ca.crt", Cert: clientCert, Key: clientKey, ServerName: "district.example", MinVersion: "1.2"}, srv.URL, "partner's tls certificate rejected", true},
		{"plain http endpoint", good, strings.Replace(srv.URL, "https://", "http://", 1), "endpoint must be https", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleCase(time.UTC)
			_, _, _, err := adapter(t, tt.tls, tt.endpoint).DeliverCase(context.Background(), d)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("delivery over TLS failed: %v", err)
				}
				return
			}
			var e *adapters.Error
			if !errors.As(err, &e) || !slices.ContainsFunc(strings.Split(tt.want, "|"), func(w string) bool { return strings.Contains(e.Reason, w) }) || e.IsPermanent != tt.permanent {
				t.Fatalf("got %v, want reason %q, permanent %v", err, tt.want, tt.permanent)
			}
		})
	}
	if got := len(sim.Cases()); got != 1 {
		t.Errorf("district holds %d cases, want the good delivery's one", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "tongban-gateway" {
		t.Errorf("district saw client certificates %v, want the gateway's once", seen)
	}
}
