package config

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestRateLimitDefaults: without a limits.rate block the limits are on
// with the generous defaults; rates parse in /s, /m and /h; a partner's
// burst defaults to two seconds' worth.
func TestRateLimitDefaults(t *testing.T) {
	c, err := Parse([]byte(good), "/x", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := RateLimits{PerCaller: Rate{DefaultCallerRate, DefaultCallerBurst}, Anonymous: Rate{DefaultAnonymousRate, DefaultAnonymousBurst}}
	if r := c.Limits.Rate; r.Off || r.PerCaller != want.PerCaller || r.Anonymous != want.Anonymous || len(r.Partners) != 0 {
		t.Errorf("defaults: got %+v, want %+v", r, want)
	}

	c, err = Parse([]byte(good+`limits:
  rate:
    per_caller: {rate: 600/m}
    anonymous: {rate: "3600/h", burst: 3}
    partners:
      "330702": {rate: 2.5}
`), "/x", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Limits.Rate
	if r.PerCaller != (Rate{10, 20}) || r.Anonymous != (Rate{1, 3}) || r.Partners["330702"] != (Rate{2.5, 5}) {
		t.Errorf("parsed: got %+v", r)
	}

	// Written back as "N/s".
	b, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back RateLimits
	if err := yaml.Unmarshal(b, &back); err != nil || back.PerCaller != r.PerCaller || back.Partners["330702"] != r.Partners["330702"] {
		t.Errorf("marshalled %s, read back %+v, %v", b, back, err)
	}
	if !strings.Contains(string(b), "rate: 10/s") {
		t.Errorf("marshalled %s, want rate: 10/s", b)
	}
}

// TestRateLimitErrorsNameTheField: a bad limit fails with the field's
// path.
func TestRateLimitErrorsNameTheField(t *testing.T) {
	tests := []struct{ block, want string }{
		{"per_caller: {rate: -1/s}", "limits.rate.per_caller.rate: must be more than 0"},
		{"per_caller: {rate: 5/s, burst: -2}", "limits.rate.per_caller.burst: -2 must be at least 1"},
		{"anonymous: {rate: 5/d}", "the unit must be /s, /m or /h"},
		{"anonymous: {rate: fast}", `rate "fast" is not a number`},
		{"partners: {\"999999\": {rate: 5/s}}", "limits.rate.partners.999999: no partner 999999 is configured"},
		{"partners: {\"330702\": {burst: 5}}", "limits.rate.partners.330702.rate: must be more than 0"},
		{"per_caler: {rate: 5/s}", "per_caler"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(good+"limits:\n  rate:\n    "+tt.block+"\n"), "/x", noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.block, err, tt.want)
		}
	}
	if c, err := Parse([]byte(good+"limits:\n  rate: {off: true}\n"), "/x", noEnv); err != nil || !c.Limits.Rate.Off {
		t.Errorf("off: got %+v, %v", c, err)
	}
}
