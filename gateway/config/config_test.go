package config

import (
	"strings"
	"testing"
	"time"
)

const good = `
gateway_id: tongban-demo
listen: 127.0.0.1:8080
signing_key: {path: keys/gateway.key}
partners:
  - id: "330702"
    roles: [partner]
    regions: ["330702"]
    keys: {"330702": keys/330702.pub}
    adapter: standard
    config: {endpoint: "http://127.0.0.1:9001/p/330702", max_retries: 1}
    retry: {max_attempts: 5, base_delay: 2s}
  - id: window-320404
    roles: [window]
    regions: ["320404"]
    keys: {window-320404: keys/window-320404.pub}
`

func noEnv(string) (string, bool) { return "", false }

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good), "/etc/tongban", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.TokenMaxLifetime != 10*time.Minute || c.Store.Synchronous != "full" || c.SigningKey.KeyID != "gateway" {
		t.Errorf("defaults not applied: %+v", c)
	}
	if got, want := c.Resolve(c.SigningKey.Path), "/etc/tongban/keys/gateway.key"; got != want {
		t.Errorf("Resolve: got %s, want %s", got, want)
	}
	if got := c.Partners[0].Retry.BaseDelay; got != 2*time.Second {
		t.Errorf("retry.base_delay: got %s, want 2s", got)
	}
	raw, err := c.Partners[0].AdapterConfig()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(raw), `{"endpoint":"http://127.0.0.1:9001/p/330702","max_retries":1}`; got != want {
		t.Errorf("adapter config: got %s, want %s", got, want)
	}
	if raw, _ := c.Partners[1].AdapterConfig(); string(raw) != "{}" {
		t.Errorf("absent adapter config: got %s, want {}", raw)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{"TONGBAN_LISTEN": "127.0.0.1:9999", "TONGBAN_STORE_PATH": "/var/lib/tb.db"}
	c, err := Parse([]byte(good), "/x", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || c.Store.Path != "/var/lib/tb.db" {
		t.Errorf("got listen %s store %s", c.Listen, c.Store.Path)
	}
	// The source is the file, then the overrides in the order applied.
	if got, want := string(c.Source()), good+"\n#env TONGBAN_LISTEN=127.0.0.1:9999\n#env TONGBAN_STORE_PATH=/var/lib/tb.db"; got != want {
		t.Errorf("Source:\ngot  %q\nwant %q", got, want)
	}
	if plain, err := Parse([]byte(good), "/x", func(string) (string, bool) { return "", false }); err != nil || string(plain.Source()) != good {
		t.Errorf("Source without overrides: %q, %v", plain.Source(), err)
	}
	_, err = Parse([]byte(good), "/x", func(k string) (string, bool) {
		return "lots", k == "TONGBAN_MAX_BODY_BYTES"
	})
	if err == nil || !strings.Contains(err.Error(), "TONGBAN_MAX_BODY_BYTES") {
		t.Errorf("bad override: got %v, want an error naming the variable", err)
	}
}

func TestParseNamesTheBadField(t *testing.T) {
	tests := []struct{ name, from, to, field string }{
		{"unknown key", "listen:", "lisen:", "lisen"},
		{"no gateway id", "gateway_id: tongban-demo", "gateway_id: ''", "gateway_id"},
		{"bad listen", "127.0.0.1:8080", "8080", "listen"},
		{"bad region", `regions: ["330702"]`, `regions: ["33070"]`, "partners[0]: regions[0]"},
		{"bad role", "roles: [window]", "roles: [clerk]", "partners[1]: roles[0]"},
		{"no adapter", "adapter: standard", "adapter: ''", "partners[0]: adapter"},
		{"duplicate id", "id: window-320404", `id: "330702"`, "partners[1]: id"},
		{"no keys", "keys: {window-320404: keys/window-320404.pub}", "keys: {}", "partners[1]: keys"},
		{"bad duration", "base_delay: 2s", "base_delay: soon", "line 12: cannot unmarshal !!str `soon` into time.Duration"},
		{"lease too short", "listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\ndelivery: {lease: 20s}", "delivery.lease: 20s must exceed 3 × partners[0].timeout"},
		{"negative retry", "max_attempts: 5", "max_attempts: -1", "partners[0]: timeout and retry"},
		{"token lifetime above the cap", "listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\nlimits: {token_max_lifetime: 61m}", "limits.token_max_lifetime: 1h1m0s is above the cap of 1h"},
		{"token lifetime of a day", "listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\nlimits: {token_max_lifetime: 24h}", "limits.token_max_lifetime"},
	}
	for _, tt := range tests {
		src := strings.Replace(good, tt.from, tt.to, 1)
		if src == good {
			t.Fatalf("%s: replacement did not apply", tt.name)
		}
		_, err := Parse([]byte(src), "/x", noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: got %v, want an error naming %q", tt.name, err, tt.field)
		}
	}
}

// TestExampleConfigParses keeps deploy/config.example.yaml in step with the code.
func TestExampleConfigParses(t *testing.T) {
	c, err := Load("../../deploy/config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Partners) != 7 || c.Partners[0].Adapter != "standard" {
		t.Fatalf("got %d partners, first adapter %q", len(c.Partners), c.Partners[0].Adapter)
	}
	if l := c.Partners[0].Library; l == nil || len(l.Regions) != 1 || l.Timeout != 2*time.Second {
		t.Errorf("first partner's license_library = %+v, want regions [330702] and timeout 2s", l)
	}
	if tm := c.Telemetry; tm.Exporter != ExporterOTLPGRPC || tm.Endpoint != "127.0.0.1:4317" || !tm.Insecure ||
		*tm.SamplingRatio != 1 || tm.Readiness.Timeout != 2*time.Second || tm.Readiness.Cache != 5*time.Second {
		t.Errorf("telemetry = %+v, want the documented otlp-grpc example", tm)
	}
	for _, p := range c.Partners {
		if p.ID == "lib-national" && (p.Library == nil || !p.Library.Fallback) {
			t.Errorf("lib-national's license_library = %+v, want a fallback library", p.Library)
		}
	}
}

// TestLicenseConfigErrors names the offending license setting.
func TestLicenseConfigErrors(t *testing.T) {
	base := `gateway_id: g
signing_key: {path: k}
partners:
  - id: a
    roles: [partner]
    keys: {a: a.pub}
    adapter: standard
`
	for _, tt := range []struct{ name, extra, field string }{
		{"cache ttl too long", "licenses: {cache_ttl: 1h}\n", "licenses.cache_ttl"},
		{"negative cache size", "licenses: {cache_size: -1}\n", "licenses.cache_size"},
		{"library without regions", "    license_library: {}\n", "license_library.regions"},
		{"library bad region", "    license_library: {regions: [\"33070\"]}\n", "license_library.regions[0]"},
		{"library bad type", "    license_library: {regions: [\"330702\"], types: [abc]}\n", "license_library.types[0]"},
		{"library timeout", "    license_library: {regions: [\"330702\"], timeout: 2m}\n", "license_library.timeout"},
		{"usage batch too large", "    license_library: {regions: [\"330702\"], usage_batch: 101}\n", "license_library.usage_batch"},
		{"usage batch negative", "    license_library: {regions: [\"330702\"], usage_batch: -1}\n", "license_library.usage_batch"},
		{"partner without regions or library", "", "regions"},
	} {
		src := base + tt.extra
		if strings.HasPrefix(tt.extra, "licenses") {
			src = strings.Replace(base, "partners:", tt.extra+"partners:", 1) + "    license_library: {regions: [\"330702\"]}\n"
		}
		_, err := Parse([]byte(src), "/x", noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: got %v, want an error naming %q", tt.name, err, tt.field)
		}
	}
}

// TestUsageBatchDefault: license_library.usage_batch left zero is
// DefaultUsageBatch for an adapter that sends batches and 1 for one that
// cannot; a value set is kept.
func TestUsageBatchDefault(t *testing.T) {
	for _, tt := range []struct {
		set     int
		batches bool
		want    int
	}{
		{0, true, DefaultUsageBatch},
		{0, false, 1},
		{1, true, 1},
		{20, true, 20},
		{20, false, 20}, // refused when the gateway is opened: the adapter cannot
	} {
		l := &LicenseLibrary{UsageBatch: tt.set}
		if got := l.UsageBatchOr(tt.batches); got != tt.want {
			t.Errorf("usage_batch %d, adapter batches %v: got %d, want %d", tt.set, tt.batches, got, tt.want)
		}
	}
}

// TestTelemetryDefaults: an absent telemetry section exports nothing,
// samples everything and bounds readiness checks.
func TestTelemetryDefaults(t *testing.T) {
	c, err := Parse([]byte(good), "/x", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	tm := c.Telemetry
	if tm.Exporter != ExporterNone || tm.Endpoint != "" || tm.Insecure || tm.ServiceName != "tongban" ||
		tm.SamplingRatio == nil || *tm.SamplingRatio != 1 || tm.Readiness.Timeout != 2*time.Second || tm.Readiness.Cache != 5*time.Second {
		t.Errorf("defaults: got %+v (ratio %v)", tm, tm.SamplingRatio)
	}
	src := strings.Replace(good, "partners:", `telemetry:
  exporter: otlp-http
  endpoint: https://otel.example.gov.cn:4318/v1/traces
  service_name: tongban-jiangsu
  sampling_ratio: 0
  readiness: {timeout: 500ms, cache: 1s}
partners:`, 1)
	c, err = Parse([]byte(src), "/x", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	tm = c.Telemetry
	if tm.Exporter != ExporterOTLPHTTP || tm.ServiceName != "tongban-jiangsu" || *tm.SamplingRatio != 0 ||
		tm.Readiness.Timeout != 500*time.Millisecond || tm.Readiness.Cache != time.Second {
		t.Errorf("explicit: got %+v (ratio %v); an explicit 0 ratio must stay 0", tm, *tm.SamplingRatio)
	}
	env := map[string]string{"TONGBAN_TELEMETRY_EXPORTER": "otlp-grpc", "TONGBAN_TELEMETRY_ENDPOINT": "127.0.0.1:4317"}
	c, err = Parse([]byte(good), "/x", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Telemetry.Exporter != ExporterOTLPGRPC || c.Telemetry.Endpoint != "127.0.0.1:4317" {
		t.Errorf("env overrides: got %+v", c.Telemetry)
	}
}

// TestTelemetryConfigErrors names the offending telemetry setting.
func TestTelemetryConfigErrors(t *testing.T) {
	for _, tt := range []struct{ name, section, field string }{
		{"unknown exporter", "{exporter: jaeger}", "telemetry.exporter"},
		{"exporter in capitals", "{exporter: OTLP-GRPC}", "telemetry.exporter"},
		{"endpoint without otlp", "{endpoint: 127.0.0.1:4317}", "telemetry.endpoint"},
		{"endpoint with stdout", "{exporter: stdout, endpoint: 127.0.0.1:4317}", "telemetry.endpoint"},
		{"endpoint without port", "{exporter: otlp-grpc, endpoint: collector}", "telemetry.endpoint"},
		{"endpoint of another scheme", "{exporter: otlp-http, endpoint: 'ftp://collector:4318'}", "telemetry.endpoint"},
		{"endpoint url without host", "{exporter: otlp-http, endpoint: 'http:///v1/traces'}", "telemetry.endpoint"},
		{"endpoint with credentials", "{exporter: otlp-http, endpoint: 'https://u:p@collector:4318'}", "telemetry.endpoint"},
		{"insecure https", "{exporter: otlp-http, endpoint: 'https://collector:4318', insecure: true}", "telemetry.insecure"},
		{"padded service name", "{service_name: ' tongban'}", "telemetry.service_name"},
		{"ratio above 1", "{sampling_ratio: 1.5}", "telemetry.sampling_ratio"},
		{"negative ratio", "{sampling_ratio: -0.1}", "telemetry.sampling_ratio"},
		{"ratio not a number", "{sampling_ratio: .nan}", "telemetry.sampling_ratio"},
		{"negative timeout", "{readiness: {timeout: -1s}}", "telemetry.readiness.timeout"},
		{"timeout too long", "{readiness: {timeout: 2m}}", "telemetry.readiness.timeout"},
		{"negative cache", "{readiness: {cache: -5s}}", "telemetry.readiness.cache"},
		{"cache too long", "{readiness: {cache: 1h}}", "telemetry.readiness.cache"},
		{"unknown key", "{exporter: none, sample_ratio: 1}", "sample_ratio"},
	} {
		src := strings.Replace(good, "partners:", "telemetry: "+tt.section+"\npartners:", 1)
		_, err := Parse([]byte(src), "/x", noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: got %v, want an error naming %q", tt.name, err, tt.field)
		}
	}
	for _, ok := range []string{
		"{exporter: otlp-grpc, endpoint: 'collector.internal:4317', insecure: true}",
		"{exporter: otlp-grpc, endpoint: '[::1]:4317'}",
		"{exporter: otlp-http, endpoint: 'http://127.0.0.1:4318/v1/traces', insecure: true}",
		"{exporter: stdout, sampling_ratio: 0.25}",
	} {
		src := strings.Replace(good, "partners:", "telemetry: "+ok+"\npartners:", 1)
		if _, err := Parse([]byte(src), "/x", noEnv); err != nil {
			t.Errorf("telemetry %s: %v", ok, err)
		}
	}
}

func TestPreviousSigningKeys(t *testing.T) {
	for _, tt := range []struct {
		previous, want string
	}{
		{`{gateway-2025: keys/old.pub}`, ""},
		{`{"bad id": keys/old.pub}`, "signing_key.previous"},
		{`{gateway: keys/old.pub}`, "is the current key's id"},
		{`{gateway-2025: ""}`, "public key file is required"},
	} {
		data := strings.Replace(good, "signing_key: {path: keys/gateway.key}", "signing_key: {path: keys/gateway.key, previous: "+tt.previous+"}", 1)
		if !strings.Contains(data, "previous:") {
			t.Fatal("the test config has no signing_key block")
		}
		c, err := Parse([]byte(data), "/x", func(string) (string, bool) { return "", false })
		switch {
		case tt.want == "" && (err != nil || c.SigningKey.Previous["gateway-2025"] != "keys/old.pub"):
			t.Errorf("previous %s: %v, %+v", tt.previous, err, c)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("previous %s: got %v, want an error with %q", tt.previous, err, tt.want)
		}
	}
}

// TestStoreDrivers: the store section selects the embedded store or
// PostgreSQL, TONGBAN_STORE_DSN overrides the DSN, and each driver's
// settings are checked, the bad field named.
func TestStoreDrivers(t *testing.T) {
	tests := []struct {
		name  string
		store string
		env   map[string]string
		check func(t *testing.T, s Store)
		err   string
	}{
		{"default sqlite", "", nil, func(t *testing.T, s Store) {
			if s.Driver != DriverSQLite || s.Path != DefaultStorePath || s.Synchronous != "full" || s.DSN != "" {
				t.Errorf("store %+v", s)
			}
		}, ""},
		{"postgres", "store: {driver: postgres, dsn: 'postgres://tongban@db:5432/tongban', pool: {max_conns: 20, min_conns: 2, max_conn_lifetime: 1h}}", nil,
			func(t *testing.T, s Store) {
				if s.Driver != DriverPostgres || s.Schema != DefaultStoreSchema || s.Pool.MaxConns != 20 || s.Pool.MaxConnLifetime != time.Hour || s.Path != "" {
					t.Errorf("store %+v", s)
				}
			}, ""},
		{"dsn from the environment", "store: {driver: postgres, schema: gw2}", map[string]string{"TONGBAN_STORE_DSN": "postgresql://u@h/d"},
			func(t *testing.T, s Store) {
				if s.DSN != "postgresql://u@h/d" || s.Schema != "gw2" {
					t.Errorf("store %+v", s)
				}
			}, ""},
		{"postgres without dsn", "store: {driver: postgres}", nil, nil, "store.dsn: required"},
		{"dsn not a url", "store: {driver: postgres, dsn: 'host=db user=x'}", nil, nil, "store.dsn: must be a postgres://"},
		{"dsn for sqlite", "store: {dsn: 'postgres://x@y/z'}", nil, nil, "store.dsn: set for driver sqlite"},
		{"unknown driver", "store: {driver: mysql}", nil, nil, "store.driver: \"mysql\" must be sqlite or postgres"},
		{"bad schema", "store: {driver: postgres, dsn: 'postgres://x@y/z', schema: 'Gw; drop'}", nil, nil, "store.schema"},
		{"bad pool", "store: {driver: postgres, dsn: 'postgres://x@y/z', pool: {max_conns: 2, min_conns: 5}}", nil, nil, "store.pool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(good+tt.store+"\n"), "/x", func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c.Store)
		})
	}
}

// TestLeaseOutlastsAttempts: the lease must outlast the longest attempt
// to every partner that receives deliveries (gateway.AttemptBound, which
// counts a timeout under a second as one), and only those: a window's or
// an auditor's timeout does not bound it.
func TestLeaseOutlastsAttempts(t *testing.T) {
	tests := []struct {
		name, yaml, err string
	}{
		{"sub-second timeout", `delivery: {lease: 2s}
partners:
  - {id: "330702", roles: [partner], regions: ["330702"], keys: {"330702": k.pub}, adapter: standard, config: {endpoint: "http://127.0.0.1:9/x"}, timeout: 500ms}
`, "delivery.lease: 2s must exceed 3 × partners[0].timeout (500ms, counted as at least 1s), the longest an attempt may take: 3s"},
		{"callers without deliveries", `delivery: {lease: 4s}
partners:
  - {id: "330702", roles: [partner], regions: ["330702"], keys: {"330702": k.pub}, adapter: standard, config: {endpoint: "http://127.0.0.1:9/x"}, timeout: 1s}
  - {id: auditor, roles: [auditor], keys: {auditor: a.pub}}
`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("gateway_id: g\nsigning_key: {path: k.key}\n"+tt.yaml), "/x", noEnv)
			if tt.err == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("got %v, want %q", err, tt.err)
			}
		})
	}
}

// TestDataKeys: data_keys names a key file or disables sealing, not both;
// a configuration that says neither parses (the gateway refuses to start
// with it, see app.Open).
func TestDataKeys(t *testing.T) {
	for _, tt := range []struct {
		block, want string
		configured  bool
	}{
		{"", "", false},
		{"data_keys: {path: keys/datakeys.json}", "", true},
		{"data_keys: {disabled: true}", "", true},
		{"data_keys: {path: keys/datakeys.json, disabled: true}", "data_keys: path and disabled", false},
		{"data_keys: {file: x}", "file", false},
	} {
		c, err := Parse([]byte(good+tt.block+"\n"), "/etc/tongban", noEnv)
		switch {
		case tt.want == "" && (err != nil || c.DataKeys.Configured() != tt.configured):
			t.Errorf("%q: %v, configured %v, want %v", tt.block, err, c != nil && c.DataKeys.Configured(), tt.configured)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: got %v, want an error with %q", tt.block, err, tt.want)
		}
	}
	c, err := Parse([]byte(good+"data_keys: {path: keys/datakeys.json}\n"), "/etc/tongban", noEnv)
	if err != nil || c.Resolve(c.DataKeys.Path) != "/etc/tongban/keys/datakeys.json" {
		t.Fatalf("data_keys.path resolves to %q (%v)", c.Resolve(c.DataKeys.Path), err)
	}
}

// TestLimitsEdge: an hour is the longest token lifetime accepted; http
// material URLs are off unless the configuration turns them on.
func TestLimitsEdge(t *testing.T) {
	c, err := Parse([]byte(good), "/x", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.AllowHTTPMaterialURLs {
		t.Errorf("limits.allow_http_material_urls: got true by default, want false")
	}
	src := strings.Replace(good, "listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\nlimits: {token_max_lifetime: 1h, allow_http_material_urls: true}", 1)
	c, err = Parse([]byte(src), "/x", noEnv)
	if err != nil {
		t.Fatalf("token_max_lifetime 1h: %v", err)
	}
	if c.Limits.TokenMaxLifetime != time.Hour || !c.Limits.AllowHTTPMaterialURLs {
		t.Errorf("limits = %+v, want 1h and http allowed", c.Limits)
	}
}
