package demo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/gateway/config"
)

// TestConfigWrittenReadsBack writes the demo's configuration as the demo
// does and reads it back as serve does: every setting the demo made reads
// back the same (the gateway's defaults fill the rest), each district's
// adapter block is the same JSON its style's example gives, the national
// library follows the districts as the fallback license library with no
// regions of its own, and the file carries the dev-keys header and names
// each district and the national library.
func TestConfigWrittenReadsBack(t *testing.T) {
	dir := t.TempDir()
	endpoint := func(code string) string { return "http://127.0.0.1:9/p/" + code }
	built, err := Config("127.0.0.1:8080", endpoint, config.ExporterStdout)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	got, err := devrig.WriteConfig(path, built, 0o644, ConfigHeader, configComments())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Partners) != len(Districts)+1+len(Callers) {
		t.Fatalf("%d partners read back, want %d", len(got.Partners), len(Districts)+1+len(Callers))
	}
	for i, d := range Districts {
		raw, err := got.Partners[i].AdapterConfig()
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, raw, devrig.StyleConfig(d.Style, endpoint(d.Code))) {
			t.Errorf("district %s (%s): adapter block %s, want %s", d.Code, d.Style, raw, devrig.StyleConfig(d.Style, endpoint(d.Code)))
		}
		if got.Partners[i].ID != d.Code || got.Partners[i].Adapter != d.Style {
			t.Errorf("partners[%d]: %s %s, want %s %s", i, got.Partners[i].ID, got.Partners[i].Adapter, d.Code, d.Style)
		}
	}
	nat := got.Partners[len(Districts)]
	if nat.ID != devrig.NationalID || nat.Adapter != "standard" || len(nat.Regions) != 0 ||
		nat.Library == nil || !nat.Library.Fallback || len(nat.Library.Regions) != 0 || len(nat.Library.Types) != 0 ||
		!reflect.DeepEqual(nat.Roles, []string{"partner"}) {
		t.Errorf("partners[%d]: %+v, want %s, role partner, standard, no regions, license_library {fallback: true}", len(Districts), nat, devrig.NationalID)
	}
	if raw, err := nat.AdapterConfig(); err != nil || !sameJSON(t, raw, devrig.StyleConfig("standard", endpoint(devrig.NationalID))) {
		t.Errorf("national library: adapter block %s (%v), want its endpoint", raw, err)
	}
	wantCfg, gotCfg := *built, *got
	wantCfg.Partners, gotCfg.Partners = clearBlocks(built.Partners), clearBlocks(got.Partners)
	setIn(t, "config", reflect.ValueOf(wantCfg), reflect.ValueOf(gotCfg))

	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(file), "# "+ConfigHeader+"\n") {
		t.Errorf("config.yaml does not start with the dev-keys header:\n%s", file)
	}
	for _, d := range Districts {
		if want := `- id: "` + d.Code + `" # ` + d.Name + ", " + d.Style; !strings.Contains(string(file), want) {
			t.Errorf("config.yaml lacks %q", want)
		}
	}
	if want := "- id: " + devrig.NationalID + " # " + nationalComment; !strings.Contains(string(file), want) {
		t.Errorf("config.yaml lacks %q", want)
	}
	if !strings.Contains(string(file), "license_library:\n      fallback: true\n") {
		t.Errorf("config.yaml lacks the national library's license_library {fallback: true}:\n%s", file)
	}
	if string(got.Source()) != string(file) {
		t.Error("the configuration read back is not the file's (Source)")
	}
}

// clearBlocks returns ps without their adapter blocks (compared as JSON).
func clearBlocks(ps []config.Partner) []config.Partner {
	out := make([]config.Partner, len(ps))
	copy(out, ps)
	for i := range out {
		out[i].Config = yaml.Node{}
	}
	return out
}

// setIn fails unless every setting want makes (every non-zero field,
// down to the leaves) has the same value in got.
func setIn(t *testing.T, path string, want, got reflect.Value) {
	t.Helper()
	if want.IsZero() {
		return
	}
	switch want.Kind() {
	case reflect.Struct:
		for i := range want.NumField() {
			if want.Type().Field(i).IsExported() {
				setIn(t, path+"."+want.Type().Field(i).Name, want.Field(i), got.Field(i))
			}
		}
	case reflect.Pointer:
		if got.IsNil() {
			t.Errorf("%s: not set", path)
			return
		}
		setIn(t, path, want.Elem(), got.Elem())
	case reflect.Slice:
		if want.Len() != got.Len() {
			t.Errorf("%s: %d elements, want %d", path, got.Len(), want.Len())
			return
		}
		for i := range want.Len() {
			setIn(t, fmt.Sprintf("%s[%d]", path, i), want.Index(i), got.Index(i))
		}
	default:
		if !reflect.DeepEqual(want.Interface(), got.Interface()) {
			t.Errorf("%s: got %v, want %v", path, got.Interface(), want.Interface())
		}
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
