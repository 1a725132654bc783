package soap

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tongban/tongban/adapters"
)

// FuzzParseConfig feeds arbitrary config blocks to the SOAP style. A
// refusal says it is the config's; an accepted block has every default
// applied and in range (namespace, SOAPAction prefix, max_retries) and,
// written back as JSON, parses to the same config.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{string(ExampleConfig("http://127.0.0.1:9003/soap")),
		`{"endpoint":"https://h/ws","namespace":"urn:x","soap_action_prefix":"","max_retries":0}`,
		`{"endpoint":"https://h/ws","namespace":"http://schemas.xmlsoap.org/soap/envelope/"}`,
		`{"endpoint":"https://h/ws","namespace":"relative"}`,
		`{"endpoint":"https://h/ws","soap_action_prefix":"a b"}`,
		`{"endpoint":"https://h/ws","soap_action_prefix":"\"q\""}`,
		`{"endpoint":"https://h/ws","max_retries":9}`,
		`{"endpoint":"https://h/ws","namespace":"urn:\u00e9"}`,
		`{"endpoint":"https://h/ws","unknown":true}`, `{}`, ` `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("refusal %q does not say it is the config's", err)
			}
			return
		}
		if c.Namespace == "" || c.SOAPActionPrefix == nil || c.MaxRetries == nil ||
			*c.MaxRetries < 0 || *c.MaxRetries > adapters.MaxMaxRetries || strings.HasSuffix(c.Endpoint, "/") {
			t.Fatalf("%s accepted as %+v", raw, c)
		}
		if checkNamespace(c.Namespace) != nil || checkPrefix(*c.SOAPActionPrefix) != nil {
			t.Fatalf("%s accepted with namespace %q and prefix %q", raw, c.Namespace, *c.SOAPActionPrefix)
		}
		once, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConfig(once)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("%s accepted as %s, which parses as %+v (%v)", raw, once, back, err)
		}
	})
}
