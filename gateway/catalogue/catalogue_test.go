package catalogue

import (
	"errors"
	"strings"
	"testing"
)

func example(t testing.TB) *Catalogue {
	t.Helper()
	c, err := Parse(Example)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoute(t *testing.T) {
	c := example(t)
	const (
		business = "113307020025937411400015501400001" // 330702, cross-province
		records  = "11320400014100002G400017302200001" // 320402, city
		card     = "11610102MB01998874400022500300001" // 610102, accept_regions 320404, 310116
		driver   = "11371523004123456C400013100800001" // 371523, province
	)
	tests := []struct {
		name, code, from, to string
		want, refusal        string
	}{
		{"owner from the catalogue", business, "320404", "", "330702", ""},
		{"owner named", business, "320404", "330702", "330702", ""},
		{"another owner named", business, "320404", "320402", "", NotOpen},
		{"not in the catalogue", "113307020025937411400015501499999", "320404", "", "", NotInCatalogue},
		{"city scope, same prefecture", records, "320404", "", "320402", ""},
		{"city scope, another prefecture", records, "330702", "", "", NotOpen},
		{"the owner's own region", records, "320402", "", "", NotOpen},
		{"accept_regions lists it", card, "310116", "", "610102", ""},
		{"accept_regions does not list it", card, "330702", "", "", NotOpen},
		{"province scope, same province", driver, "370102", "", "371523", ""},
		{"province scope, another province", driver, "320404", "", "", NotOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Route(tt.code, tt.from, tt.to)
			var r *Refusal
			switch {
			case tt.refusal == "" && (err != nil || got != tt.want):
				t.Errorf("Route = %q, %v; want %q", got, err, tt.want)
			case tt.refusal != "" && (!errors.As(err, &r) || r.Reason != tt.refusal):
				t.Errorf("Route = %q, %v; want a %s refusal", got, err, tt.refusal)
			}
		})
	}
}

func TestRouteSeveralOwners(t *testing.T) {
	c, err := Parse([]byte(`items:
  - {basic_code: "000155014000", implementation_code: "113307020025937411400015501400001", name: 联办事项,
     owners: ["330702", "330703"], scope: cross_province,
     statutory_limit: {days: 10, unit: working_days}, promised_limit: {days: 5, unit: working_days}}
`))
	if err != nil {
		t.Fatal(err)
	}
	code := "113307020025937411400015501400001"
	if _, err := c.Route(code, "320404", ""); err == nil || !strings.Contains(err.Error(), "name one in to_region") {
		t.Errorf("no owner named: %v", err)
	}
	if got, err := c.Route(code, "320404", "330703"); err != nil || got != "330703" {
		t.Errorf("second owner named: %q, %v", got, err)
	}
}

func TestParseRefuses(t *testing.T) {
	item := func(fields string) string {
		base := map[string]string{
			"basic_code": `"000155014000"`, "implementation_code": `"113307020025937411400015501400001"`, "name": "事项",
			"owners": `["330702"]`, "scope": "cross_province",
			"statutory_limit": "{days: 15, unit: working_days}", "promised_limit": "{days: 3, unit: working_days}",
		}
		for _, kv := range strings.Split(fields, ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				if v == "-" {
					delete(base, k)
				} else {
					base[k] = v
				}
			}
		}
		var b strings.Builder
		b.WriteString("items:\n  - ")
		first := true
		for k, v := range base {
			if !first {
				b.WriteString("    ")
			}
			first = false
			b.WriteString(k + ": " + v + "\n")
		}
		return b.String()
	}
	tests := []struct{ name, yaml, want string }{
		{"no items", "items: []\n", "at least one item"},
		{"unknown field", item("colour=red"), "not found"},
		{"basic code letters", item(`basic_code="00015501400A"`), "basic_code must be 12 digits"},
		{"basic code short", item(`basic_code="00015501400"`), "basic_code must be 12 digits"},
		{"implementation code short", item(`implementation_code="1133070200259374114000155014"`), "31 to 33 characters"},
		{"bad credit code", item(`implementation_code="113307020025937412400015501400001"`), "credit code"},
		{"letters after the credit code", item(`implementation_code="11330702002593741140001550140000A"`), "13 to 15 digits"},
		{"basic code missing", item(`implementation_code="113307020025937411400015501500001"`), "does not contain the item's basic_code"},
		{"no name", item("name=-"), "name is required"},
		{"no owners", item("owners=[]"), "at least one owning region"},
		{"bad owner", item(`owners=["33070"]`), "owners"},
		{"bad scope", item("scope=country"), "scope"},
		{"accept region outside scope", item(`scope=city;accept_regions=["320404"]`), "outside the item's city scope"},
		{"no statutory limit", item("statutory_limit=-"), "statutory_limit"},
		{"limit in weeks", item("promised_limit={days: 1, unit: weeks}"), "promised_limit"},
		{"promised beyond statutory", item("promised_limit={days: 16, unit: working_days}"), "exceeds the statutory_limit"},
		{"material without id", item("materials=[{name: 材料}]"), "material_id and name are required"},
		{"material twice", item("materials=[{material_id: M1, name: a}, {material_id: M1, name: b}]"), "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v, want an error containing %q\n%s", err, tt.want, tt.yaml)
			}
		})
	}
	twice := "items:\n" + strings.Repeat(strings.TrimPrefix(item(""), "items:\n"), 2)
	if _, err := Parse([]byte(twice)); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("an implementation code twice: %v", err)
	}
}

// FuzzParse: any file is refused with an error naming the catalogue, or
// yields items every one of which routes from a region in its scope.
func FuzzParse(f *testing.F) {
	f.Add([]byte("items:\n  - {basic_code: \"000155014000\", implementation_code: \"113307020025937411400015501400001\", name: x, owners: [\"330702\"], scope: city, statutory_limit: {days: 2, unit: working_days}, promised_limit: {days: 1, unit: calendar_days}}\n"))
	f.Add([]byte("items: []"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "catalogue: ") {
				t.Fatalf("error %q does not name the catalogue", err)
			}
			return
		}
		for _, it := range c.Items() {
			if got, ok := c.Lookup(it.ImplementationCode); !ok || got.Name != it.Name {
				t.Fatalf("item %s does not look up", it.ImplementationCode)
			}
			if _, err := c.Route(it.ImplementationCode, "110101", it.Owners[0]); err != nil {
				var r *Refusal
				if !errors.As(err, &r) {
					t.Fatalf("route error %v is no refusal", err)
				}
			}
		}
	})
}
