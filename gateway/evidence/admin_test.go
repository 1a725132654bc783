package evidence_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
)

// TestRecorderAdminChange: an operator's change is recorded with the
// operator as actor, the token's jti and key id, the subject acting, the
// caller concerned as partner and the SM3 of the request's body; one made
// on a signal has actor "signal" and no token; a recorder that is off
// records nothing.
func TestRecorderAdminChange(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	op := gateway.Principal{Partner: &gateway.Partner{ID: "ops", Roles: []contracts.Role{contracts.RoleOperator}},
		Subject: "zhang.san", TokenID: "jti-1", KeyID: "ops-2026"}
	body := []byte(`{"caller":"330702","key_id":"k2","public_key_pem":"..."}`)
	tests := []struct {
		name   string
		change gateway.AdminChange
		want   contracts.EvidenceRecord
		detail contracts.EvidenceDetail
	}{
		{
			name: "key added by an operator",
			change: gateway.AdminChange{By: op, At: at, Event: contracts.EventAdminKeyAdded, Partner: "330702", Body: body,
				Detail: contracts.EvidenceDetail{TargetKeyID: "k2", Fingerprint: digest([]byte("spki")), KeyKind: contracts.KeyPublicKey, Signature: "c2ln"}},
			want: contracts.EvidenceRecord{At: at, Actor: "ops", Event: contracts.EventAdminKeyAdded, Partner: "330702",
				KeyID: "ops-2026", JTI: "jti-1", BodySM3: digest(body)},
			detail: contracts.EvidenceDetail{Subject: "zhang.san", TargetKeyID: "k2", Fingerprint: digest([]byte("spki")),
				KeyKind: contracts.KeyPublicKey, Signature: "c2ln"},
		},
		{
			name: "reload on a signal",
			change: gateway.AdminChange{At: at, Event: contracts.EventAdminReload,
				Detail: contracts.EvidenceDetail{ConfigSM3: digest([]byte("config")), PartnerCount: 3, PartnersAdded: []string{"371523"}}},
			want:   contracts.EvidenceRecord{At: at, Actor: gateway.SignalActor, Event: contracts.EventAdminReload},
			detail: contracts.EvidenceDetail{ConfigSM3: digest([]byte("config")), PartnerCount: 3, PartnersAdded: []string{"371523"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := evidence.Recorder{Crypto: fakeCrypto{}}.AdminChange(t.Context(), tt.change)
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1", len(recs))
			}
			got := recs[0]
			var d contracts.EvidenceDetail
			if err := json.Unmarshal(got.Detail, &d); err != nil {
				t.Fatal(err)
			}
			got.Detail = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("record:\n got %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(d, tt.detail) {
				t.Errorf("detail:\n got %+v\nwant %+v", d, tt.detail)
			}
		})
	}
	if recs := (evidence.Recorder{Crypto: fakeCrypto{}, Off: true}).AdminChange(t.Context(), tests[0].change); recs != nil {
		t.Errorf("a recorder that is off: %v", recs)
	}
}
