package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// TestSubmitRefusesWhatTheOwnerCannotTake: through the HTTP API, a case
// the owner's adapter could never deliver is refused at submission with
// validation_failed naming the field, instead of a 202 and a dead
// letter; the same case without the fault is accepted. Each row runs a
// gateway whose owner district speaks the row's style.
func TestSubmitRefusesWhatTheOwnerCannotTake(t *testing.T) {
	deep := json.RawMessage(strings.Repeat(`{"a":`, 32) + `{}` + strings.Repeat(`}`, 32)) // 33 levels
	tests := []struct {
		style string
		fault func(s *contracts.CaseSubmission)
		field string
	}{
		{soap.Name, func(s *contracts.CaseSubmission) { s.Remark = "请加急\x01处理" }, "remark"},
		{soap.Name, func(s *contracts.CaseSubmission) { s.Applicant.Name = "王\x1b秀英" }, "applicant.name"},
		{mappedjson.Name, func(s *contracts.CaseSubmission) { s.Form = deep }, "form"},
	}
	for _, tt := range tests {
		t.Run(tt.style+"/"+tt.field, func(t *testing.T) {
			rig, err := devrig.Start(t.Context(), devrig.Options{Dir: t.TempDir(), LogLevel: "warn", OwnerStyle: tt.style})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := rig.Stop(); err != nil {
					t.Errorf("gateway stopped with %v", err)
				}
			})
			toks := rig.Tokens(devrig.Sender, "window-"+devrig.Sender)
			submit := func(fault bool) (int, []byte) {
				t.Helper()
				id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				sub := devrig.Submission(id, time.Now().UTC().Truncate(time.Second))
				if fault {
					tt.fault(&sub)
				}
				body, err := json.Marshal(sub)
				if err != nil {
					t.Fatal(err)
				}
				sig, err := signing.Sign(signing.NewSigner(rig.Keys[devrig.Sender], rig.Engine), rig.Engine, body)
				if err != nil {
					t.Fatal(err)
				}
				tok, err := toks.Get()
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, rig.Base+"/v1/cases", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
				req.Header.Set("Gw-Key-Id", devrig.Sender)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var b bytes.Buffer
				if _, err := b.ReadFrom(resp.Body); err != nil {
					t.Fatal(err)
				}
				return resp.StatusCode, b.Bytes()
			}
			status, body := submit(true)
			var e contracts.Error
			if err := json.Unmarshal(body, &e); err != nil || status != http.StatusBadRequest || e.Code != contracts.CodeValidationFailed ||
				!strings.HasPrefix(e.Message, tt.field+": ") {
				t.Fatalf("faulty case: %d %s, want 400 validation_failed naming %s", status, body, tt.field)
			}
			if strings.Contains(e.Message, "请加急") || strings.Contains(e.Message, "秀英") {
				t.Errorf("the refusal quotes the value: %s", e.Message)
			}
			if status, body := submit(false); status != http.StatusAccepted {
				t.Fatalf("the same case without the fault: %d %s, want 202", status, body)
			}
			if n := len(rig.Owner.Cases()); n > 1 {
				t.Errorf("the owner got %d cases, want at most the good one", n)
			}
		})
	}
}
