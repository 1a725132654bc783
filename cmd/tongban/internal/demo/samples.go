package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// runSampleCase submits one case as 320404 to district to and logs its
// every step until it is delivered (or 60 s pass).
func runSampleCase(ctx context.Context, log *slog.Logger, base string, key *signing.PrivateKey, to string) {
	style := ""
	for _, d := range Districts {
		if d.Code == to {
			style = d.Style
		}
	}
	log = log.With("component", "sample-case", "to", to, "style", style)
	ctx = sampleTrace(ctx) // the case's trace: its log lines show the trace_id to follow
	id, _ := contracts.NewUUIDv7(time.Now(), rand.Reader)
	sub := devrig.Submission(id, time.Now().UTC())
	sub.ToRegion = to
	item, err := ItemFor(to)
	if err != nil {
		log.Error("sample case", "err", err)
		return
	}
	sub.ServiceItem = item
	body, _ := json.Marshal(sub)
	signer := signing.NewSigner(key, nil)
	token := func() string {
		jti, _ := contracts.NewUUIDv7(time.Now(), rand.Reader)
		t, _ := signing.IssueToken(signer, signing.TokenRequest{KeyID: "320404", Issuer: "320404", Subject: "window-320404", Audience: GatewayID, TTL: 5 * time.Minute, ID: jti})
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
		if v.State == contracts.CaseStateDelivered && devrig.AllDelivered(v.Deliveries) {
			log.InfoContext(ctx, "sample case complete: delivered to the applicant, every update carried back to 320404", "case_id", v.CaseID, "owner_case_no", v.OwnerCaseNo)
			return
		}
	}
	log.WarnContext(ctx, "sample case did not complete within 60s")
}

// sampleTrace returns ctx carrying a new sampled root span context, as a
// district system that traces its own calls would send in its traceparent.
func sampleTrace(ctx context.Context) context.Context {
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
