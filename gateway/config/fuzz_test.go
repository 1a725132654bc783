package config

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse feeds arbitrary YAML to the configuration loader. A refusal is
// an error that says it is the configuration's ("config: ..."). A file
// that loads writes back with yaml.Marshal to a file that loads to the
// same configuration (the same YAML once more, the same adapter blocks),
// so what an operator reads back is what the gateway runs with.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../deploy/config.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(good))
	f.Add(example)
	f.Add([]byte("gateway_id: g\nsigning_key: {path: k}\n"))
	f.Add([]byte("gateway_id: g\nsigning_key: {path: k}\nunknown: 1\n"))
	f.Add([]byte("gateway_id: g\nsigning_key: {path: k}\ndelivery: {poll: -1s}\n"))
	f.Add([]byte("gateway_id: g\nsigning_key: {path: k}\npartners:\n  - id: a\n    roles: [partner]\n    keys: {a: a.pub}\n    adapter: mapped-json\n    config: {x: [1, \"2\", {y: null}], z: 1e400}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("---\n...\n"))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "/etc/tongban", noEnv)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("refusal %q does not name the configuration", err)
			}
			return
		}
		once, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("loaded configuration does not write back: %v", err)
		}
		back, err := Parse(once, "/etc/tongban", noEnv)
		if err != nil {
			t.Fatalf("written configuration does not load: %v\n%s", err, once)
		}
		twice, err := yaml.Marshal(back)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("configuration changed on the way back (%v):\n%s\n---\n%s", err, once, twice)
		}
		if len(c.Partners) != len(back.Partners) {
			t.Fatalf("%d partners came back as %d", len(c.Partners), len(back.Partners))
		}
		for i := range c.Partners {
			a, errA := c.Partners[i].AdapterConfig()
			b, errB := back.Partners[i].AdapterConfig()
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				t.Fatalf("partner %d adapter block %s came back as %s (%v, %v)", i, a, b, errA, errB)
			}
		}
	})
}
