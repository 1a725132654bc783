package mappedjson

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// FuzzParseConfig feeds arbitrary mappings to the config compiler: the
// example config with one template (case_delivery.request.bjbt) and one
// expression with filters (case_delivery.request.fssj) replaced, and a
// whole block as given. A refusal says it is the config's, and one caused
// by the replaced entries names case_delivery; a config that compiles
// builds an adapter, writes back as JSON that compiles again, and encodes
// a case delivery to valid JSON or fails with an error (filters and
// templates never panic on the contract's values).
func FuzzParseConfig(f *testing.F) {
	example := string(ExampleConfig("https://jh.example"))
	const (
		tmpl = `"{{submission.service_item.name}}（{{submission.applicant.name}}）"`
		expr = `"sent_at | time:datetimefrac"`
	)
	if !strings.Contains(example, tmpl) || !strings.Contains(example, expr) {
		f.Fatal("the example config no longer has the entries this target replaces")
	}
	for _, s := range [][2]string{
		{"{{submission.service_item.name}}（{{submission.applicant.name}}）", "sent_at | time:datetimefrac"},
		{"{{case_id}}", "sent_at | time:date"},
		{"{{nope}}", "sent_at"},
		{"{{", "sent_at | time:20060102150405"},
		{"=constant", "sent_at | table:bjzt"},
		{"plain {{ case_id }} text", "submission.applicant.holder_type | table:zjlx"},
		{"{{submission.materials}}", "submission.form | json"},
		{"{{case_id}}{{case_id}}", "submission.materials.0.size | string"},
		{"", "sent_at | time:"},
		{"{{sent_at | time:date}}", "sent_at | time:2006-01-02T15:04:05.999999999Z07:00"},
	} {
		f.Add(s[0], s[1], []byte(nil))
	}
	f.Add("", "", []byte(example))
	f.Add("", "", []byte(`{"envelope":{"code":"c","success":["0"]},"timezone":"-23:59"}`))
	f.Add("", "", []byte(`{"envelope":{"code":"c","success":["0"]},"tables":{"t":{"a":"1","b":"1"}}}`))

	d := &contracts.CaseDelivery{DeliveryID: "d", CaseID: "c-1", ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		SenderRegion: "320404", SentAt: time.Date(2026, 3, 14, 9, 30, 0, 123, time.UTC),
		Submission: contracts.CaseSubmission{Form: json.RawMessage(`{"x":1}`), LicenseIDs: []string{"a"},
			ServiceItem: contracts.ServiceItem{Name: "个体工商户设立登记"},
			Applicant:   contracts.Party{HolderType: "111", IDNumber: "11010519491231002X", Name: "王秀英"},
			Materials:   []contracts.Material{{MaterialID: "M01", Name: "x", Size: 3}}}}

	f.Fuzz(func(t *testing.T, template, expression string, whole []byte) {
		raw := whole
		replaced := whole == nil
		if replaced {
			q1, _ := json.Marshal(template)
			q2, _ := json.Marshal(expression)
			raw = []byte(strings.Replace(strings.Replace(example, tmpl, string(q1), 1), expr, string(q2), 1))
		}
		c, err := ParseConfig(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("refusal %q does not say it is the config's", err)
			}
			if replaced && !strings.Contains(err.Error(), "case_delivery") {
				t.Fatalf("refusal %q does not name case_delivery", err)
			}
			return
		}
		a, err := New(adapters.Params{PartnerID: "330702", Config: raw, Crypto: nopCrypto{}})
		if err != nil {
			t.Fatalf("a config that parses builds no adapter: %v", err)
		}
		once, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseConfig(once); err != nil {
			t.Fatalf("config written back as %s does not parse: %v", once, err)
		}
		if a.spec.caseOp != nil {
			if b, err := a.spec.caseOp.request.encodeBytes(d); err == nil && !json.Valid(b) {
				t.Fatalf("case delivery encoded as invalid JSON %q", b)
			}
		}
	})
}
