// Package e2etest holds what the end-to-end tests of the tongban command
// share: a buffer the gateway's goroutines write to, free loopback
// addresses, callers that sign and post as a district or window would,
// and simulated districts on httptest servers. Only tests import it.
package e2etest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// LockedBuffer is a bytes.Buffer safe for the concurrent writers of a
// running gateway and the test reading it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FreeLoopbackAddr returns a loopback address whose port was free a moment
// ago. The port is below Linux's ephemeral range (32768 and up), so no
// connection or ":0" listener of a concurrent test can take it in between.
func FreeLoopbackAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+mrand.IntN(12000)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port in 20000-31999 after 100 tries")
	return ""
}

// Caller is a caller of the gateway: its id (= key id) and key.
type Caller struct {
	ID       string
	Audience string
	Signer   signing.Signer
	Client   *http.Client
}

// NewCaller returns caller id of the gateway audience, signing with key.
func NewCaller(id, audience string, key *signing.PrivateKey) *Caller {
	return &Caller{ID: id, Audience: audience, Signer: signing.NewSigner(key, nil), Client: &http.Client{Timeout: 5 * time.Second}}
}

// Token mints a fresh bearer token for the caller.
func (c *Caller) Token(t *testing.T) string {
	t.Helper()
	jti, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signing.IssueToken(c.Signer, signing.TokenRequest{
		KeyID: c.ID, Issuer: c.ID, Subject: "window-" + c.ID, Audience: c.Audience, TTL: 5 * time.Minute, ID: jti,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Answer is one HTTP answer: status, body, signature headers.
type Answer struct {
	Status     int
	Body       []byte
	Sig, KeyID string
}

// PostSigned POSTs body to url signed as the caller. It returns the
// transport error instead of failing, so callers can expect one.
func (c *Caller) PostSigned(ctx context.Context, token, url string, body []byte) (Answer, error) {
	sig, err := signing.Sign(c.Signer, nil, body)
	if err != nil {
		return Answer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("Gw-Key-Id", c.ID)
	resp, err := c.Client.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Answer{}, err
	}
	return Answer{Status: resp.StatusCode, Body: raw, Sig: resp.Header.Get("Gw-Signature"), KeyID: resp.Header.Get("Gw-Key-Id")}, nil
}

// GetCase reads GET /v1/cases/{id} as the caller.
func (c *Caller) GetCase(ctx context.Context, token, base, caseID string) (contracts.CaseView, error) {
	var v contracts.CaseView
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/cases/"+caseID, nil)
	if err != nil {
		return v, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Client.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return v, err
	}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET case %s: %d %s", caseID, resp.StatusCode, raw)
	}
	return v, json.Unmarshal(raw, &v)
}

// VerifySignedBy checks that sigB64 is the signature of body by the
// public key in pubFile.
func VerifySignedBy(t *testing.T, pubFile string, body []byte, sigB64 string) {
	t.Helper()
	pem, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signing.ParsePublicKeyPEM(pem)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		t.Fatalf("Gw-Signature %q is not standard base64: %v", sigB64, err)
	}
	if err := signing.Verify(pub, body, sig); err != nil {
		t.Fatalf("signature does not verify with %s: %v", pubFile, err)
	}
}

// SM3Hex returns the lowercase hex SM3 of body.
func SM3Hex(body []byte) string { return fmt.Sprintf("%x", signing.Default.SM3(body)) }

// HistoryStates lists the states of a case's history.
func HistoryStates(h []contracts.StatusEntry) []contracts.CaseState {
	var s []contracts.CaseState
	for _, e := range h {
		s = append(s, e.State)
	}
	return s
}

// AllDelivered reports whether every delivery is delivered.
func AllDelivered(ds []contracts.DeliveryView) bool { return devrig.AllDelivered(ds) }

// MustUUID returns a fresh UUIDv7.
func MustUUID(t *testing.T) string {
	t.Helper()
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// SameJSON reports whether a and b marshal to the same JSON value.
func SameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	norm := func(v any) any {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var out any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// Keys writes NAME.key and NAME.pub under dir for each name and returns
// the keys; it writes dir/datakeys.json too, a data key file (the one
// devrig.Gateway's configuration names when dir is its keys directory),
// unless it exists.
func Keys(t *testing.T, dir string, names ...string) map[string]*signing.PrivateKey {
	t.Helper()
	if dk := filepath.Join(dir, "datakeys.json"); !exists(dk) {
		kf, err := signing.NewKeyFile("test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := signing.WriteKeyFile(dk, kf); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string]*signing.PrivateKey{}
	for _, n := range names {
		k, err := signing.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := signing.MarshalPrivateKeyPEM(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := signing.MarshalPublicKeyPEM(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".key"), priv, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".pub"), pub, 0o644); err != nil {
			t.Fatal(err)
		}
		keys[n] = k
	}
	return keys
}

// Sim starts district code's simulated system (standard style, reporting
// every 20 ms) on an httptest server, its tokens for gatewayID, and
// returns it with its URL. gatewayURL empty: it only answers deliveries.
func Sim(ctx context.Context, t *testing.T, gatewayID, code string, key, gw *signing.PrivateKey, gatewayURL string, logs *LockedBuffer) (*partnersim.Sim, string) {
	t.Helper()
	kr, err := devrig.SimCrypto(code, key, gw.Public(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := partnersim.New(partnersim.Config{
		PartnerID: code, Crypto: kr, GatewayURL: gatewayURL, Step: 20 * time.Millisecond,
		Token:  func() (string, error) { return kr.IssueToken(gatewayID) },
		Logf:   func(format string, args ...any) { fmt.Fprintf(logs, format+"\n", args...) },
		Client: &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	sim.Start(ctx)
	return sim, srv.URL
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
