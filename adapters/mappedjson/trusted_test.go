package mappedjson

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// TestFormKeysKeepTheirBackslashes: a form key holding a backslash (the
// form is the submitting district's JSON, passed through) reaches a
// mapped-json district unchanged. The fast parser of the gateway's own JSON
// once unescaped keys twice: "\\" failed the delivery and "a\\nb" arrived
// as "a", newline, "b" (found by FuzzParseTrusted).
func TestFormKeysKeepTheirBackslashes(t *testing.T) {
	a, err := New(adapters.Params{PartnerID: "330702", Config: ExampleConfig("https://jh.example"), Crypto: nopCrypto{}})
	if err != nil {
		t.Fatal(err)
	}
	side, err := NewPartnerSide("330702", ExampleConfig("https://jh.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{`{"\\":1}`, `{"a\\nb":"c\\nd"}`, `{"\\u0026\\\\u0026":[{"\"":true}]}`, `{"é":"\u00e9"}`} {
		d := &contracts.CaseDelivery{DeliveryID: "d", CaseID: "c", ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
			SentAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC),
			Submission: contracts.CaseSubmission{Form: json.RawMessage(form),
				Applicant: contracts.Party{HolderType: "001", IDNumber: "91330702MA6GFR18X7"}}}
		body, err := a.spec.caseOp.request.encodeBytes(d)
		if err != nil {
			t.Errorf("form %s: the case does not encode: %v", form, err)
			continue
		}
		m, err := side.ReadRequest("/api/tongban/bjjs", "application/json", "", body)
		if err != nil {
			t.Errorf("form %s: the district cannot read the case: %v", form, err)
			continue
		}
		var want, got any
		if err := json.Unmarshal([]byte(form), &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(m.Case.Submission.Form, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("form %s arrived as %s (%v)", form, m.Case.Submission.Form, err)
		}
	}
}
