package cases_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/gateway"
)

// The grammar check of gateway.DecodeStrict's own JSON scanner lives
// here, beside FuzzDecodeStrict, for the same reason: the gateway
// package's test binary links the embedded store, and its coverage
// instrumentation slows the fuzzer there to a few executions a second.

// goldenSubmission is the contracts' golden case submission.
func goldenSubmission(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "contracts", "testdata", "case_submission.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// syntaxSeeds are bodies around the edges of JSON's grammar.
func syntaxSeeds(tb testing.TB) []string {
	return []string{
		string(goldenSubmission(tb)), `{}`, `{"a":1}`, `[1,2.5e-3,-0,true,false,null,"\u00e9\n\"\\"]`,
		`{"remark":"a\/b","form":{"x":[{"y":-1.5E+2}]}}`, `{"a" : { } , "b" : [ ] }`, `01`, `1.`, `-`, `"\x"`, `{"a":1,}`, `[1,]`, "\"\t\"",
		`{"exchange_id":"x","form":{"k\u0041":1,"kA":2}}`, `{"size":12,"any":{"q":[null]}}`, `{"size":-01}`, `[1 2]`, `{"a" 1}`, "[\"a\x01\"]",
		`{"at":"2025-03-14T09:12:40.5+08:00","blob":"AAE=","list":["a",null],"form":null,"any":[1e3,-0.5,"\u00e9"]}`,
		`{"at":null,"blob":null,"list":null,"size":null,"remark":"\ud83d\ude00"}`, `{"list":[],"blob":"","any":{}}`,
	}
}

// syntaxTarget is what checkSyntax decodes into: a few contract shapes.
type syntaxTarget struct {
	Remark string          `json:"remark"`
	Form   json.RawMessage `json:"form"`
	Size   int64           `json:"size"`
	Any    any             `json:"any"`
	At     *time.Time      `json:"at"`
	Blob   []byte          `json:"blob"`
	List   []string        `json:"list"`
}

// checkSyntax fails when DecodeStrict (json v2) disagrees with
// encoding/json: what it refuses as not JSON must not be valid JSON, what
// it accepts must be, and must decode to the same value as encoding/json
// (refusing unknown fields) gives. Bodies encoding/json accepts and
// DecodeStrict refuses are the ones this package exists to refuse
// (duplicates, letter case, UTF-8, depth), or with wrong types for both.
func checkSyntax(t *testing.T, body []byte) {
	var v syntaxTarget
	err := gateway.DecodeStrict(body, &v)
	var ge *gateway.Error
	if err != nil && !errors.As(err, &ge) {
		t.Fatalf("not a gateway error: %v", err)
	}
	notJSON := err != nil && (strings.Contains(ge.Message, "not valid JSON") || strings.Contains(ge.Message, "data after"))
	if notJSON && json.Valid(body) {
		t.Fatalf("%q refused as not JSON (%s), but it is valid JSON", body, ge.Message)
	}
	if err != nil {
		return
	}
	if !json.Valid(body) {
		t.Fatalf("%q accepted but is not valid JSON", body)
	}
	var w syntaxTarget
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("%q accepted, but encoding/json refuses it: %v", body, err)
	}
	if !reflect.DeepEqual(v, w) {
		t.Fatalf("%q decodes to %+v, encoding/json to %+v", body, v, w)
	}
}

// TestDecodeStrictSyntax mutates the seeds at random (a fixed seed, a
// bounded number of bodies: byte flips, deletions, insertions of JSON's
// punctuation) and checks each against encoding/json's grammar.
func TestDecodeStrictSyntax(t *testing.T) {
	rnd := rand.New(rand.NewPCG(13, 13))
	const alphabet = `{}[]:,"\/ -+.eE0123456789truefalsnulu\t\n`
	seeds := syntaxSeeds(t)
	for _, s := range seeds {
		checkSyntax(t, []byte(s))
	}
	for n := 0; n < 20000; n++ {
		b := []byte(seeds[rnd.IntN(len(seeds))])
		for k := rnd.IntN(3) + 1; k > 0 && len(b) > 0; k-- {
			i := rnd.IntN(len(b))
			switch rnd.IntN(3) {
			case 0:
				b[i] = alphabet[rnd.IntN(len(alphabet))]
			case 1:
				b = append(b[:i], b[i+1:]...)
			default:
				b = append(b[:i], append([]byte{alphabet[rnd.IntN(len(alphabet))]}, b[i:]...)...)
			}
		}
		checkSyntax(t, b)
	}
}

// FuzzDecodeStrictSyntax is TestDecodeStrictSyntax's check under the fuzzer.
func FuzzDecodeStrictSyntax(f *testing.F) {
	for _, s := range syntaxSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(checkSyntax)
}
