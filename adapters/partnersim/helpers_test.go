package partnersim_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing/signingtest"
)

const (
	partnerID = "330702"
	token     = "tok-330702"
)

// testCrypto is a real SM2 party: its own key for Sign, and the keys of
// the parties it trusts for VerifyBody.
type testCrypto = signingtest.Party

func newTestCrypto(t testing.TB, keyID string) *testCrypto { return signingtest.New(t, keyID) }

// newPair returns the gateway's and the partner's crypto, each trusting
// the other.
func newPair(t testing.TB) (gw, partner *testCrypto) {
	return signingtest.Pair(t, "gateway-2026", partnersim.GatewayCaller, partnerID)
}

var fixedNow = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// logSink collects Logf lines and signals each on a channel.
type logSink struct {
	t     testing.TB
	lines chan string
}

func newLogSink(t testing.TB) *logSink { return &logSink{t: t, lines: make(chan string, 256)} }

func (l *logSink) logf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.t.Log(s)
	select {
	case l.lines <- s:
	default:
	}
}

// waitFor waits until a log line contains sub.
func (l *logSink) waitFor(t testing.TB, sub string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-l.lines:
			if strings.Contains(s, sub) {
				return
			}
		case <-deadline:
			t.Fatalf("no log line containing %q", sub)
		}
	}
}

// newSim builds a simulator, serves its handler on loopback and returns
// both.
func newSim(t testing.TB, cfg partnersim.Config) (*partnersim.Sim, *httptest.Server) {
	t.Helper()
	if cfg.PartnerID == "" {
		cfg.PartnerID = partnerID
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	sim, err := partnersim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv
}

// answer is a partner's answer as the gateway sees it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to url signed by c, as the gateway's adapter does.
func post(t testing.TB, url string, c *testCrypto, body []byte) answer {
	t.Helper()
	return postWith(t, url, c, body, nil)
}

// postWith is post with extra request headers.
func postWith(t testing.TB, url string, c *testCrypto, body []byte, h http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	sig, err := c.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("Gw-Key-Id", c.KeyID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// ack verifies a 200 answer's signature with the partner's key and
// decodes it.
func (a answer) ack(t testing.TB, gw *testCrypto) contracts.Ack {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("partner answered %d %s, want 200", a.status, a.body)
	}
	sig, err := base64.StdEncoding.DecodeString(a.header.Get("Gw-Signature"))
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.VerifyBody(partnerID, a.header.Get("Gw-Key-Id"), a.body, sig); err != nil {
		t.Fatalf("ack signature: %v", err)
	}
	var ack contracts.Ack
	if err := json.Unmarshal(a.body, &ack); err != nil {
		t.Fatal(err)
	}
	return ack
}

func (a answer) code(t testing.TB) contracts.Code {
	t.Helper()
	var e contracts.Error
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("error answer %q is not JSON: %v", a.body, err)
	}
	return e.Code
}

func caseDelivery(n int) contracts.CaseDelivery {
	return contracts.CaseDelivery{
		DeliveryID:   fmt.Sprintf("dlv-%04d", n),
		CaseID:       fmt.Sprintf("case-%04d", n),
		ExchangeID:   fmt.Sprintf("01959245-f1f9-7a3c-8d2e-%012d", n),
		SenderRegion: "320404",
		SentAt:       fixedNow,
		Submission: contracts.CaseSubmission{
			ExchangeID: fmt.Sprintf("01959245-f1f9-7a3c-8d2e-%012d", n),
			FromRegion: "320404", ToRegion: partnerID, SubmittedAt: fixedNow,
			ServiceItem:    contracts.ServiceItem{BasicCode: "000155014000", ImplementationCode: "1133", Name: "个体工商户设立登记"},
			Applicant:      contracts.Party{HolderType: "111", IDNumber: "11010519491231002X", Name: "王秀英"},
			Window:         contracts.Window{WindowID: "window-320404", OperatorID: "zl-0231", Region: "320404"},
			ReceivedAt:     fixedNow,
			Form:           json.RawMessage(`{}`),
			ResultDelivery: contracts.ResultDelivery{Method: contracts.ResultDeliveryMethodPost},
		},
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// statusPost is one status report the fake gateway received.
type statusPost struct {
	n      int
	update contracts.StatusUpdate
	body   []byte
	auth   string
	// traceparent is the report's traceparent header, "" when none.
	traceparent string
	err         error // what was wrong with it, if anything
}

// fakeGateway records status reports, checks their signatures with the
// partner's registered key, and answers what respond says (202 with a
// signed receipt, by default).
type fakeGateway struct {
	*httptest.Server
	posts   chan statusPost
	n       atomic.Int64
	respond func(n int, u contracts.StatusUpdate) int
}

func newFakeGateway(t testing.TB, gw *testCrypto, respond func(n int, u contracts.StatusUpdate) int) *fakeGateway {
	t.Helper()
	g := &fakeGateway{posts: make(chan statusPost, 256), respond: respond}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/cases/{case_id}/status", func(w http.ResponseWriter, r *http.Request) {
		n := int(g.n.Add(1))
		body, _ := io.ReadAll(r.Body)
		p := statusPost{n: n, body: body, auth: r.Header.Get("Authorization"), traceparent: r.Header.Get("Traceparent")}
		sig, err := base64.StdEncoding.DecodeString(r.Header.Get("Gw-Signature"))
		if err == nil {
			err = gw.VerifyBody(partnerID, r.Header.Get("Gw-Key-Id"), body, sig)
		}
		if err == nil {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			err = dec.Decode(&p.update)
		}
		if err == nil && p.update.CaseID != r.PathValue("case_id") {
			err = fmt.Errorf("path names case %q, body %q", r.PathValue("case_id"), p.update.CaseID)
		}
		p.err = err
		status := http.StatusAccepted
		if g.respond != nil {
			status = g.respond(n, p.update)
		}
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusAccepted || status == http.StatusOK {
			rc, _ := json.Marshal(contracts.Receipt{
				ExchangeID: p.update.ExchangeID, CaseID: p.update.CaseID, ReceivedAt: fixedNow,
				BodySM3: gw.SM3Hex(body), State: p.update.State,
			})
			rsig, _ := gw.Sign(rc)
			w.Header().Set("Gw-Signature", base64.StdEncoding.EncodeToString(rsig))
			w.Header().Set("Gw-Key-Id", gw.KeyID())
			w.WriteHeader(status)
			_, _ = w.Write(rc)
		} else {
			w.WriteHeader(status)
			_, _ = w.Write(mustJSON(t, contracts.Error{Code: "invalid_transition", Message: "not from this state"}))
		}
		select {
		case g.posts <- p:
		case <-r.Context().Done():
		}
	})
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

// collect receives n reports or fails after a deadline.
func (g *fakeGateway) collect(t testing.TB, n int) []statusPost {
	t.Helper()
	var out []statusPost
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case p := <-g.posts:
			if p.err != nil {
				t.Errorf("report %d: %v", p.n, p.err)
			}
			out = append(out, p)
		case <-deadline:
			t.Fatalf("got %d reports within the deadline, want %d", len(out), n)
		}
	}
	return out
}
