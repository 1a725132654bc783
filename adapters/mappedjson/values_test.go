package mappedjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
)

// TestNumberKey: numbers compare by exact value. Through float64,
// 9007199254740993 and 9007199254740992 were one value, so a table could
// not tell them apart and a numeric constant accepted the other.
func TestNumberKey(t *testing.T) {
	for _, same := range [][]string{
		{"1", "1.0", "1e0", "10e-1", "0.1e1", "1.000E+0"},
		{"0", "-0", "0.0", "0e5", "-0.000e-3"},
		{"-25", "-2.5e1", "-250e-1"},
		{"123456789012345678901234567890", "1.2345678901234567890123456789e29"},
	} {
		for _, s := range same[1:] {
			if numberKey(s) != numberKey(same[0]) {
				t.Errorf("numberKey(%s) = %s, numberKey(%s) = %s; want them equal", s, numberKey(s), same[0], numberKey(same[0]))
			}
		}
	}
	for _, pair := range [][2]string{
		{"9007199254740993", "9007199254740992"}, {"1", "-1"}, {"1e999999999", "1e999999998"},
		{"0.1", "0.10000000000000001"}, {"1e99999999999999999999", "2e99999999999999999999"},
	} {
		if numberKey(pair[0]) == numberKey(pair[1]) {
			t.Errorf("numberKey(%s) = numberKey(%s) = %s; want them distinct", pair[0], pair[1], numberKey(pair[0]))
		}
	}
	// A numeric constant of the mapping accepts only its own value.
	want, _ := scalarKey(json.Number("9007199254740993"))
	if got, _ := scalarKey(json.Number("9007199254740992")); got == want {
		t.Error("constant 9007199254740993 accepts 9007199254740992")
	}
}

// TestResultCodes: string codes are compared as text ("00" is not "0"),
// and codes that are JSON numbers by value (0 is "0").
func TestResultCodes(t *testing.T) {
	env := &envelope{success: []string{"0"}, retryable: []string{"5030"}}
	for code, want := range map[string]bool{"0": true, "-0": true, "00": false, "+0": false, " 0": false, "0.0": true} {
		if got := env.isSuccess(code); got != want {
			t.Errorf("isSuccess(%q) = %v, want %v", code, got, want)
		}
	}
	for code, want := range map[string]bool{"5030": true, "05030": false, "5.03e3": true, "5030x": false} {
		if got := env.isRetryable(code); got != want {
			t.Errorf("isRetryable(%q) = %v, want %v", code, got, want)
		}
	}
}

// TestEncodeLargeForm: the gateway's own contract values are not held to
// the bounds of what partners send. A form listing more than MaxArrayItems
// rows (valid for the contract) failed every delivery permanently.
func TestEncodeLargeForm(t *testing.T) {
	cfg, err := ParseConfig(ExampleConfig("https://jh.example"))
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]int, 3*MaxArrayItems)
	form, _ := json.Marshal(map[string]any{"rows": rows})
	d := &contracts.CaseDelivery{DeliveryID: "d", CaseID: "c", ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		Submission: contracts.CaseSubmission{Form: form}}
	body, err := cfg.spec.caseOp.request.encodeBytes(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"sqb":"{\"rows\":[0,0,0`) {
		t.Errorf("body does not carry the form: %.200s", body)
	}
}

// FuzzAppendString: the fast path writes what encoding/json writes
// without HTML escaping, byte for byte (the signatures cover these bytes).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "王秀英", "a\"b", `\`, "\x00", "\x7f", "\xff", "\u2028", "<&>", "\ufffd", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want bytes.Buffer
		appendString(&got, s)
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got.Bytes(), w) {
			t.Fatalf("appendString(%q) = %s, encoding/json writes %s", s, got.Bytes(), w)
		}
	})
}
