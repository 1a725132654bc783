package gateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

func goldenSubmission(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "contracts", "testdata", "case_submission.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestDecodeStrict refuses every body a reader could take two ways, with
// invalid_json and a message in the caller's terms, and accepts the golden
// submission.
func TestDecodeStrict(t *testing.T) {
	golden := string(goldenSubmission(t))
	var ok contracts.CaseSubmission
	if err := gateway.DecodeStrict([]byte(golden), &ok); err != nil {
		t.Fatalf("golden submission: %v", err)
	}
	if ok.ServiceItem.Name == "" || len(ok.Materials) != 2 {
		t.Fatalf("golden submission decoded to %+v", ok)
	}
	deep := strings.Repeat(`{"a":`, gateway.MaxJSONDepth+1) + "1" + strings.Repeat("}", gateway.MaxJSONDepth+1)
	cases := []struct {
		name, body, want string
	}{
		{"duplicate top-level key", strings.Replace(golden, `"to_region": "330702",`, `"to_region": "330702", "to_region": "320404",`, 1), `body: key "to_region" appears twice`},
		{"duplicate nested key", strings.Replace(golden, `"name": "个体工商户设立登记",`, `"name": "个体工商户设立登记", "name": "x",`, 1), `field service_item: key "name" appears twice`},
		{"duplicate key in the form", strings.Replace(golden, `"employees": 2,`, `"employees": 2, "employees": 3,`, 1), `field form: key "employees" appears twice`},
		{"duplicate key in an array item", strings.Replace(golden, `"material_id": "M02",`, `"material_id": "M02", "material_id": "M03",`, 1), `field materials[1]: key "material_id" appears twice`},
		{"case-folded key", strings.Replace(golden, `"remark":`, `"Remark":`, 1), `key "Remark" matches "remark" only when letter case is ignored`},
		{"case-folded nested key", strings.Replace(golden, `"basic_code"`, `"BASIC_CODE"`, 1), `key "BASIC_CODE" matches "basic_code" only when letter case is ignored`},
		{"long s folds to s", strings.Replace(golden, `"materials"`, "\"material\u017f\"", 1), `body: a key matches "materials" only when letter case is ignored`},
		{"unknown key", strings.Replace(golden, `"remark":`, `"remarks":`, 1), `key "remarks" is not a field of this message`},
		{"invalid UTF-8", strings.Replace(golden, "王秀英", "\xff\xfe", 1), "not valid UTF-8"},
		{"lone high surrogate", strings.Replace(golden, `"remark": "`, `"remark": "\ud800`, 1), "surrogate"},
		{"lone low surrogate", strings.Replace(golden, `"remark": "`, `"remark": "\uDC00x`, 1), "surrogate"},
		{"wrong type", strings.Replace(golden, `"name": "个体工商户设立登记"`, `"name": 5`, 1), "field service_item.name: expected a string"},
		{"object for a string", strings.Replace(golden, `"remark": "`, `"remark": {"a":1}, "x": "`, 1), "field remark: expected a string"},
		{"bad time", strings.Replace(golden, `"2025-03-14T09:12:40+08:00"`, `"yesterday"`, 1), "field received_at: expected an RFC 3339 time"},
		{"bad base64", strings.Replace(golden, `"JVBER`, `"!!!JVBER`, 1), "field materials[0].content: expected standard base64"},
		{"integer out of range", strings.Replace(golden, `"size": 82`, `"size": 1e40`, 1), "field materials[0].size: expected an integer in range"},
		{"fraction for an integer", strings.Replace(golden, `"size": 82`, `"size": 8.5`, 1), "field materials[0].size: expected an integer in range"},
		{"too deep", strings.Replace(golden, `"employees": 2,`, `"employees": 2, "deep": `+deep+",", 1), "deeper than"},
		{"truncated", golden[:strings.Index(golden, `"materials"`)], "ends early"},
		{"trailing data", golden + `{}`, "data after the JSON value"},
		{"not JSON", `{"exchange_id" 1}`, "not valid JSON"},
		{"array at the top", `[]`, "body: expected an object"},
		{"ID number as an unknown key", strings.Replace(golden, `"remark":`, `"11010519491231002X": 1, "remark":`, 1), "body: a key is not a field of this message"},
		{"duplicate key in an array in the form", strings.Replace(golden, `"employees": 2,`, `"employees": 2, "shops": [{"k": 1}, {"k": 1, "k": 2}],`, 1), `field form.shops[1]: key "k" appears twice`},
		{"digits as a form key are not an index", strings.Replace(golden, `"employees": 2,`, `"employees": 2, "7": {"k": 1, "k": 2},`, 1), `field form.(a key): key "k" appears twice`},
		{"ID number on the path", strings.Replace(golden, `"employees": 2,`, `"employees": 2, "11010519491231002X": {"k": 1, "k": 2},`, 1), `field form.(a key): key "k" appears twice`},
		{"ID number as a duplicate form key", strings.Replace(golden, `"employees": 2,`, `"11010519491231002X": 1, "11010519491231002X": 2, "employees": 2,`, 1), "field form: a key appears twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sub contracts.CaseSubmission
			err := gateway.DecodeStrict([]byte(c.body), &sub)
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Code != contracts.CodeInvalidJSON {
				t.Fatalf("got %v, want invalid_json", err)
			}
			if !strings.Contains(ge.Message, c.want) {
				t.Errorf("message %q lacks %q", ge.Message, c.want)
			}
			for _, leak := range []string{"contracts.", "CaseSubmission", "Go ", "struct", "11010519491231002X"} {
				if strings.Contains(ge.Message, leak) {
					t.Errorf("message %q names a Go type (%q)", ge.Message, leak)
				}
			}
		})
	}
}

// BenchmarkDecodeStrict decodes the golden case submission (about 2.5 KB,
// two materials, one inline): strict is DecodeStrict (json v2 with its
// options and the depth check), plain encoding/json refusing unknown
// fields (what the gateway did before strict decoding), for the ratio.
func BenchmarkDecodeStrict(b *testing.B) {
	body := goldenSubmission(b)
	b.Run("strict", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var sub contracts.CaseSubmission
			if err := gateway.DecodeStrict(body, &sub); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var sub contracts.CaseSubmission
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sub); err != nil || dec.More() {
				b.Fatal(err)
			}
		}
	})
}
