// Package config reads the gateway's YAML configuration: the gateway's
// identity and key, the store, limits, the outbox, and the partners with
// their adapters' own config blocks (which only each adapter's factory
// decodes). Invalid configuration fails at start with a message naming the
// field.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/outbox"
)

// Config is the whole configuration file.
type Config struct {
	GatewayID string `yaml:"gateway_id,omitempty"` // the JWT aud callers must name
	Listen    string `yaml:"listen,omitempty"`     // host:port; default 127.0.0.1:8080
	// TLS, when set, makes the listener speak TLS 1.3 only (no plain
	// HTTP), optionally asking callers for client certificates.
	TLS *TLS `yaml:"tls,omitempty"`
	// KeyCA, when set, is a PEM bundle of the SM2 CA certificates partner
	// keys given as certificates must chain to (partners[].keys). Without
	// it such a certificate's validity period is still checked at start,
	// its chain is not.
	KeyCA      string     `yaml:"key_ca,omitempty"`
	Engine     string     `yaml:"engine,omitempty"` // SM2/SM3 engine; default emmansun
	SigningKey SigningKey `yaml:"signing_key,omitempty"`
	DataKeys   DataKeys   `yaml:"data_keys,omitempty"`
	Store      Store      `yaml:"store,omitempty"`
	Limits     Limits     `yaml:"limits,omitempty"`
	Delivery   Delivery   `yaml:"delivery,omitempty"`
	Log        Log        `yaml:"log,omitempty"`
	Licenses   Licenses   `yaml:"licenses,omitempty"`
	Telemetry  Telemetry  `yaml:"telemetry,omitempty"`
	Partners   []Partner  `yaml:"partners,omitempty"`
	// Console serves the web console at /console/ (README, "Console");
	// off unless enabled.
	Console Console `yaml:"console,omitempty"`
	// Administration is the service catalogue, the working-day calendar
	// and the evaluation settings; omitted, the gateway checks no
	// catalogue and runs no statutory clock.
	Administration Administration `yaml:"administration,omitempty"`

	dir    string // directory of the file; relative paths resolve against it
	source []byte // the file as read, then the overrides applied (Source)
}

// Source returns what the configuration was read from: the file's bytes
// as read, followed by one line "#env NAME=VALUE" per environment
// override applied. Its SM3 is recorded in the evidence log at every start
// (gateway.started), so an auditor holding the file can tell which
// configuration was in force.
func (c *Config) Source() []byte { return c.source }

// Console configures the web console.
type Console struct {
	// Enabled serves it at /console/.
	Enabled bool `yaml:"enabled,omitempty"`
	// SecureCookie marks its session cookie Secure even on plain HTTP
	// (a TLS proxy in front); over TLS it always is.
	SecureCookie bool `yaml:"secure_cookie,omitempty"`
}

// Administration configures what the districts are held to (see the
// README's "Administration"). Files are read at start; their SM3 is
// recorded in the evidence log (catalogue.loaded).
type Administration struct {
	// Catalogue is the service catalogue file (YAML; see
	// deploy/catalogue.example.yaml), relative to the config file.
	Catalogue string `yaml:"catalogue,omitempty"`
	// Calendar is the working-day calendar file (YAML; see
	// deploy/calendar/cn-2026.example.yaml). Without it no clock runs.
	Calendar string `yaml:"calendar,omitempty"`
	// WarnBeforeDays is how many counted days before a deadline the
	// warning notice falls; default 2, -1 for no warning.
	WarnBeforeDays int `yaml:"warn_before_days,omitempty"`
	// AlarmPoll is how often the gateway looks for deadlines and
	// follow-ups that fell due; default 30s.
	AlarmPoll time.Duration `yaml:"alarm_poll,omitempty"`
	// Evaluations configures 好差评.
	Evaluations Evaluations `yaml:"evaluations,omitempty"`
}

// Evaluations configures where evaluations go and how long an owner has
// to reply to a negative one.
type Evaluations struct {
	// Partner is the evaluation system's partner id (a province's 好差评
	// platform), which then receives every evaluation, reply and overdue
	// follow-up as a notice; "" for none.
	Partner string `yaml:"partner,omitempty"`
	// ReplyDays and ReplyUnit are the follow-up limit; default 5
	// working_days with a calendar, 5 calendar_days without.
	ReplyDays int    `yaml:"reply_days,omitempty"`
	ReplyUnit string `yaml:"reply_unit,omitempty"`
}

// Default administration settings.
const (
	DefaultWarnBeforeDays = 2
	DefaultAlarmPoll      = 30 * time.Second
	DefaultReplyDays      = 5
)

// SigningKey is the gateway's own SM2 key.
type SigningKey struct {
	Path         string `yaml:"path,omitempty"`          // PKCS#8 PEM
	KeyID        string `yaml:"key_id,omitempty"`        // sent as Gw-Key-Id; default "gateway"
	PasswordFile string `yaml:"password_file,omitempty"` // for an encrypted key
	// Previous are the gateway's earlier signing keys, by key id: public
	// key PEM files. Evidence checkpoints, receipts and bundles signed
	// with them stay verifiable after a key change.
	Previous map[string]string `yaml:"previous,omitempty"`
}

// DataKeys names the key file whose SM4 keys seal personal data at rest
// (exchange bodies, delivery payloads, usage records' personal fields).
// A gateway does not start without one of the two: the file, or sealing
// explicitly disabled.
type DataKeys struct {
	// Path is the data key file (JSON, mode 0600: tongban keys init;
	// rotated by tongban keys rotate, shredded by tongban keys shred
	// --before DATE).
	Path string `yaml:"path,omitempty"`
	// Disabled stores personal data as received. Only for tests and
	// migrations: never with real data.
	Disabled bool `yaml:"disabled,omitempty"`
}

// Configured reports whether the configuration says how personal data is
// kept: a key file, or sealing disabled.
func (d DataKeys) Configured() bool { return d.Path != "" || d.Disabled }

// Store selects the durable store: the embedded SQLite file (driver
// sqlite, the default: one gateway process owns it) or a PostgreSQL
// database (driver postgres: any number of gateway replicas share it).
type Store struct {
	Driver string `yaml:"driver,omitempty"` // sqlite (default) or postgres
	// sqlite
	Path        string `yaml:"path,omitempty"`        // embedded SQLite file; default tongban.db beside the config
	Synchronous string `yaml:"synchronous,omitempty"` // full (default) or normal
	// postgres
	DSN    string `yaml:"dsn,omitempty"`    // postgres://user@host:5432/db?sslmode=verify-full (TONGBAN_STORE_DSN overrides)
	Schema string `yaml:"schema,omitempty"` // the schema the gateway's tables live in; default tongban
	Pool   Pool   `yaml:"pool,omitempty"`
}

// Pool tunes the PostgreSQL connection pool; zero fields take pgx's
// defaults (max_conns: the larger of 4 and the number of CPUs).
type Pool struct {
	MaxConns        int32         `yaml:"max_conns,omitempty"`
	MinConns        int32         `yaml:"min_conns,omitempty"`
	MaxConnLifetime time.Duration `yaml:"max_conn_lifetime,omitempty"`
	MaxConnIdleTime time.Duration `yaml:"max_conn_idle_time,omitempty"`
}

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Limits bound what callers can send.
type Limits struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty"` // default 8 MiB
	// TokenMaxLifetime is the longest a caller's bearer token may live
	// (exp - iat): default 10m, from 1m to MaxTokenMaxLifetime (1h).
	TokenMaxLifetime time.Duration `yaml:"token_max_lifetime,omitempty"`
	TokenLeeway      time.Duration `yaml:"token_leeway,omitempty"` // default 30s
	// AllowHTTPMaterialURLs lets a submission's materials[].url use plain
	// http (a closed government network); default false: https only.
	// Other schemes (file:, ftp:, data:) are always refused.
	AllowHTTPMaterialURLs bool       `yaml:"allow_http_material_urls,omitempty"`
	Rate                  RateLimits `yaml:"rate,omitempty"` // see RateLimits; on by default
}

// MaxTokenMaxLifetime caps limits.token_max_lifetime: a stolen bearer
// token is good for at most this long.
const MaxTokenMaxLifetime = time.Hour

// Delivery tunes the outbox dispatcher.
type Delivery struct {
	Workers int           `yaml:"workers,omitempty"` // default 32
	Batch   int           `yaml:"batch,omitempty"`   // default 64
	Lease   time.Duration `yaml:"lease,omitempty"`   // default 2m
	Poll    time.Duration `yaml:"poll,omitempty"`    // default 1s
	// PerPartner bounds the attempts to one partner in flight at once,
	// so that a partner that hangs holds at most this many workers;
	// default DefaultPerPartner (the workers when fewer), at most workers.
	PerPartner int `yaml:"per_partner,omitempty"`
	// Circuit is the breaker kept per partner: while a partner's circuit
	// is open its deliveries are put back without an attempt.
	Circuit Circuit `yaml:"circuit,omitempty"`
}

// Circuit tunes a circuit breaker kept per partner: after Failures calls
// in a row that got no answer, the partner is not called for Cooldown;
// then one trial call decides whether it is called again.
type Circuit struct {
	Failures int           `yaml:"failures,omitempty"` // default DefaultCircuitFailures
	Cooldown time.Duration `yaml:"cooldown,omitempty"` // default 30s for deliveries, 10s for license lookups
	Off      bool          `yaml:"off,omitempty"`      // no breaker: every call is made
}

// Policy returns c as the core takes it, its zero fields filled
// (cooldown from defaultCooldown); Failures 0 when c is off.
func (c Circuit) Policy(defaultCooldown time.Duration) gateway.CircuitPolicy {
	if c.Off {
		return gateway.CircuitPolicy{}
	}
	p := gateway.CircuitPolicy{Failures: c.Failures, Cooldown: c.Cooldown}
	if p.Failures == 0 {
		p.Failures = DefaultCircuitFailures
	}
	if p.Cooldown == 0 {
		p.Cooldown = defaultCooldown
	}
	return p
}

// validate checks c; errors name the field below the section's.
func (c Circuit) validate() error {
	if c.Failures < 0 {
		return fmt.Errorf("circuit.failures: %d must not be negative", c.Failures)
	}
	if c.Cooldown < 0 || c.Cooldown > time.Hour {
		return fmt.Errorf("circuit.cooldown: %s must be from 0 (the default) to 1h", c.Cooldown)
	}
	return nil
}

// PerPartnerLimit returns delivery.per_partner with its default
// (DefaultPerPartner, or the workers when fewer).
func (d Delivery) PerPartnerLimit() int {
	if d.PerPartner != 0 {
		return d.PerPartner
	}
	return min(DefaultPerPartner, d.workers())
}

// workers returns delivery.workers with its default.
func (d Delivery) workers() int {
	if d.Workers == 0 {
		return outbox.DefaultWorkers
	}
	return d.Workers
}

// Licenses tunes license verification.
type Licenses struct {
	// CacheTTL keeps found license records this long (at most 10m); zero
	// (the default) turns the cache off, so every verification asks the
	// issuer's library and a revocation shows at once.
	CacheTTL time.Duration `yaml:"cache_ttl,omitempty"`
	// CacheSize bounds the cached records; default 10000.
	CacheSize int `yaml:"cache_size,omitempty"`
	// Circuit is the breaker kept per library: while a library's circuit
	// is open, verifications routed to it answer source_unavailable at
	// once, without asking it.
	Circuit Circuit `yaml:"circuit,omitempty"`
}

// LicenseLibrary declares a partner's license library (证照库).
type LicenseLibrary struct {
	// Regions whose licenses it holds (GB/T 2260); licenses route to the
	// issuing district's library, else its city's, else its province's.
	Regions []string `yaml:"regions,omitempty"`
	// Types are the license type codes it holds; empty means all.
	Types []string `yaml:"types,omitempty"`
	// Fallback makes it a provincial or national library of last resort.
	Fallback bool `yaml:"fallback,omitempty"`
	// Timeout bounds one lookup; default 2s. A library that does not
	// answer in time yields source_unavailable.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// UsageBatch is the most usage records (用证记录) passed to the issuer
	// in one signed call, 1 to 100: 1 sends each record alone (the
	// single-record webhook), more sends the records due together in
	// batches (one signature and one acknowledgement per batch). Zero
	// means DefaultUsageBatch when the partner's adapter can send batches
	// (standard, soap, and mapped-json with usage_batch_delivery), else 1;
	// above 1 needs such an adapter.
	UsageBatch int `yaml:"usage_batch,omitempty"`
}

// UsageBatchOr returns usage_batch with its default: DefaultUsageBatch
// when it is zero and the adapter can send batches (batches), else 1.
func (l *LicenseLibrary) UsageBatchOr(batches bool) int {
	switch {
	case l.UsageBatch != 0:
		return l.UsageBatch
	case batches:
		return DefaultUsageBatch
	}
	return 1
}

// Log configures logging.
type Log struct {
	Level string `yaml:"level,omitempty"` // debug, info (default), warn, error
}

// Telemetry configures tracing and readiness (metrics are always served
// at /metrics).
type Telemetry struct {
	// Exporter is where spans go: none (the default: spans are made and
	// trace ids flow, nothing is exported), otlp-grpc, otlp-http or stdout.
	Exporter string `yaml:"exporter,omitempty"`
	// Endpoint is the OTLP collector: host:port, or an http(s) URL (for
	// otlp-http, with its path, e.g. https://otel.example:4318/v1/traces).
	// Empty: the exporter's default (localhost:4317 or :4318), or
	// OTEL_EXPORTER_OTLP_ENDPOINT. Only the OTLP exporters take one.
	Endpoint string `yaml:"endpoint,omitempty"`
	// Insecure sends OTLP without TLS (a collector on the same host).
	Insecure bool `yaml:"insecure,omitempty"`
	// ServiceName is the service.name of every span and metric; default
	// tongban.
	ServiceName string `yaml:"service_name,omitempty"`
	// SamplingRatio is the share of new traces kept, from 0 to 1; default
	// 1. A request whose caller sent a traceparent follows the caller's
	// sampling decision (parent-based).
	SamplingRatio *float64 `yaml:"sampling_ratio,omitempty"`
	// Readiness tunes GET /readyz.
	Readiness Readiness `yaml:"readiness,omitempty"`
}

// Readiness tunes the checks GET /readyz runs.
type Readiness struct {
	// Timeout bounds each check; default 2s, at most 1m.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Cache keeps each check's result this long, so that a storm of
	// probes does not hammer the store; default 5s, at most 10m.
	Cache time.Duration `yaml:"cache,omitempty"`
}

// The defaults a zero setting takes, in one place: Load fills them in,
// validate checks against them, and the tools that write or offer a
// configuration (the demo, the bench) refer to them rather than repeat
// them.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultEngine       = "emmansun"
	DefaultKeyID        = "gateway"
	DefaultStorePath    = "tongban.db"
	DefaultStoreSchema  = "tongban"
	DefaultSynchronous  = "full"
	DefaultMaxBodyBytes = 8 << 20
	DefaultTokenMaxLife = 10 * time.Minute
	DefaultTokenLeeway  = 30 * time.Second
	DefaultLogLevel     = "info"
	DefaultServiceName  = "tongban"
	DefaultReadyTimeout = 2 * time.Second
	DefaultReadyCache   = 5 * time.Second
	// DefaultPartnerTLSMinVersion is partners[].tls.min_version's default.
	DefaultPartnerTLSMinVersion = "1.2"
	// DefaultLease and DefaultPartnerTimeout are the outbox's lease and a
	// partner's attempt timeout when left zero (the core's own defaults);
	// validate checks the one against the other.
	DefaultLease          = outbox.DefaultLease
	DefaultPartnerTimeout = gateway.DefaultPartnerTimeout
	// DefaultPerPartner is delivery.per_partner when left zero: a quarter
	// of the default workers.
	DefaultPerPartner = 8
	// DefaultCircuitFailures is circuit.failures when left zero;
	// DefaultDeliveryCooldown and DefaultLibraryCooldown the cooldowns
	// of delivery.circuit and licenses.circuit.
	DefaultCircuitFailures  = 5
	DefaultDeliveryCooldown = 30 * time.Second
	DefaultLibraryCooldown  = 10 * time.Second
	// DefaultUsageBatch is license_library.usage_batch when left zero and
	// the adapter can send usage records in batches: up to 50 records per
	// signed call (a batch is about 30 KB of JSON).
	DefaultUsageBatch = 50
)

// Telemetry exporters.
const (
	ExporterNone     = "none"
	ExporterOTLPGRPC = "otlp-grpc"
	ExporterOTLPHTTP = "otlp-http"
	ExporterStdout   = "stdout"
)

// Partner is one caller: a district system, window, auditor or operator.
type Partner struct {
	ID      string            `yaml:"id,omitempty"`
	Roles   []string          `yaml:"roles,omitempty"`
	Regions []string          `yaml:"regions,omitempty"`
	Keys    map[string]string `yaml:"keys,omitempty"`    // key id → public key PEM file
	Adapter string            `yaml:"adapter,omitempty"` // required for role partner
	// Config is the adapter's own block, handed to its factory as JSON.
	Config  yaml.Node     `yaml:"config,omitempty"`
	Retry   Retry         `yaml:"retry,omitempty"`
	Timeout time.Duration `yaml:"timeout,omitempty"` // per attempt; default 10s
	// Library, when set, is the partner's license library, reached through
	// its adapter (which must support license lookup).
	Library *LicenseLibrary `yaml:"license_library,omitempty"`
	// ClientCerts are the SHA-256 fingerprints of the whole DER client
	// certificates this caller presents over TLS (64 hex digits, colons
	// and case free: what `openssl x509 -noout -fingerprint -sha256`
	// prints). When set, the caller's calls must come over a connection
	// with one of them; a connection with one of them carries no other
	// caller's token. List the old and the new certificate while one
	// replaces the other. Needs tls.client_auth optional or require.
	ClientCerts []string `yaml:"client_certs,omitempty"`
	// TLS configures the gateway's https calls to the partner's adapter
	// endpoint.
	TLS *PartnerTLS `yaml:"tls,omitempty"`
}

// TLS is the listener's TLS (always TLS 1.3 or later). The JWT stays
// required on every call: a client certificate never authenticates a
// caller alone, it binds the connection to the caller whose
// partners[].client_certs lists it (see Partner.ClientCerts).
type TLS struct {
	Cert string `yaml:"cert,omitempty"` // PEM certificate chain, leaf first; required
	Key  string `yaml:"key,omitempty"`  // PEM private key of the leaf (unencrypted); required
	// ClientCA is a PEM bundle of the CAs client certificates must chain
	// to; required unless client_auth is none.
	ClientCA string `yaml:"client_ca,omitempty"`
	// ClientAuth is none (the default: no certificate is asked for),
	// optional (a certificate is asked for and, when sent, must chain to
	// client_ca) or require (a connection without one is refused in the
	// handshake).
	ClientAuth string `yaml:"client_auth,omitempty"`
}

// Client authentication modes of TLS.ClientAuth.
const (
	ClientAuthNone     = "none"
	ClientAuthOptional = "optional"
	ClientAuthRequire  = "require"
)

// PartnerTLS is how the gateway reaches a partner over https: the CAs its
// server certificate must chain to (else the system's), the client
// certificate the gateway presents to it, the name to verify.
type PartnerTLS struct {
	CA   string `yaml:"ca,omitempty"`   // PEM CA bundle; default the system roots
	Cert string `yaml:"cert,omitempty"` // PEM client certificate chain, leaf first; with key
	Key  string `yaml:"key,omitempty"`  // PEM private key of cert (unencrypted)
	// ServerName is the name the partner's certificate must carry; default
	// the endpoint's host.
	ServerName string `yaml:"server_name,omitempty"`
	// MinVersion is "1.2" (the default) or "1.3"; 1.3 is negotiated
	// whenever the partner offers it.
	MinVersion string `yaml:"min_version,omitempty"`
}

// Retry is a partner's delivery retry policy; zero fields take the defaults.
type Retry struct {
	MaxAttempts int           `yaml:"max_attempts,omitempty"`
	MaxAge      time.Duration `yaml:"max_age,omitempty"`
	BaseDelay   time.Duration `yaml:"base_delay,omitempty"`
	MaxDelay    time.Duration `yaml:"max_delay,omitempty"`
}

// Environment overrides, applied after the file is read.
var envOverrides = []struct {
	name string
	set  func(c *Config, v string) error
}{
	{"TONGBAN_GATEWAY_ID", func(c *Config, v string) error { c.GatewayID = v; return nil }},
	{"TONGBAN_LISTEN", func(c *Config, v string) error { c.Listen = v; return nil }},
	{"TONGBAN_ENGINE", func(c *Config, v string) error { c.Engine = v; return nil }},
	{"TONGBAN_STORE_PATH", func(c *Config, v string) error { c.Store.Path = v; return nil }},
	{"TONGBAN_STORE_DSN", func(c *Config, v string) error { c.Store.DSN = v; return nil }},
	{"TONGBAN_LOG_LEVEL", func(c *Config, v string) error { c.Log.Level = v; return nil }},
	{"TONGBAN_TELEMETRY_EXPORTER", func(c *Config, v string) error { c.Telemetry.Exporter = v; return nil }},
	{"TONGBAN_TELEMETRY_ENDPOINT", func(c *Config, v string) error { c.Telemetry.Endpoint = v; return nil }},
	{"TONGBAN_MAX_BODY_BYTES", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		c.Limits.MaxBodyBytes = n
		return err
	}},
}

// EnvNames lists the environment variables that override the file.
func EnvNames() []string {
	var n []string
	for _, o := range envOverrides {
		n = append(n, o.name)
	}
	return n
}

// Load reads, overrides from the environment, defaults and validates the
// configuration at path. Unknown keys are errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, filepath.Dir(abs), os.LookupEnv)
}

// Parse is Load on bytes: dir resolves relative paths, env looks up overrides.
func Parse(data []byte, dir string, env func(string) (string, bool)) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.dir = dir
	c.source = append([]byte(nil), data...)
	for _, o := range envOverrides {
		if v, ok := env(o.name); ok {
			if err := o.set(&c, v); err != nil {
				return nil, fmt.Errorf("config: %s: %w", o.name, err)
			}
			c.source = fmt.Appendf(c.source, "\n#env %s=%s", o.name, v)
		}
	}
	c.defaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &c, nil
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	a := &c.Administration
	if a.WarnBeforeDays == 0 {
		a.WarnBeforeDays = DefaultWarnBeforeDays
	}
	if a.AlarmPoll == 0 {
		a.AlarmPoll = DefaultAlarmPoll
	}
	if a.Evaluations.ReplyDays == 0 {
		a.Evaluations.ReplyDays = DefaultReplyDays
	}
	if a.Evaluations.ReplyUnit == "" {
		a.Evaluations.ReplyUnit = "calendar_days"
		if a.Calendar != "" {
			a.Evaluations.ReplyUnit = "working_days"
		}
	}
	if c.Engine == "" {
		c.Engine = DefaultEngine
	}
	if c.SigningKey.KeyID == "" {
		c.SigningKey.KeyID = DefaultKeyID
	}
	if c.Store.Driver == "" {
		c.Store.Driver = DriverSQLite
	}
	if c.Store.Driver == DriverSQLite && c.Store.Path == "" {
		c.Store.Path = DefaultStorePath
	}
	if c.Store.Driver == DriverPostgres && c.Store.Schema == "" {
		c.Store.Schema = DefaultStoreSchema
	}
	if c.Store.Synchronous == "" {
		c.Store.Synchronous = DefaultSynchronous
	}
	if c.Limits.MaxBodyBytes == 0 {
		c.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Limits.TokenMaxLifetime == 0 {
		c.Limits.TokenMaxLifetime = DefaultTokenMaxLife
	}
	if c.Limits.TokenLeeway == 0 {
		c.Limits.TokenLeeway = DefaultTokenLeeway
	}
	c.Limits.Rate.defaults()
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.TLS != nil && c.TLS.ClientAuth == "" {
		c.TLS.ClientAuth = ClientAuthNone
	}
	for i := range c.Partners {
		if t := c.Partners[i].TLS; t != nil && t.MinVersion == "" {
			t.MinVersion = DefaultPartnerTLSMinVersion
		}
	}
	t := &c.Telemetry
	if t.Exporter == "" {
		t.Exporter = ExporterNone
	}
	if t.ServiceName == "" {
		t.ServiceName = DefaultServiceName
	}
	if t.SamplingRatio == nil {
		one := 1.0
		t.SamplingRatio = &one
	}
	if t.Readiness.Timeout == 0 {
		t.Readiness.Timeout = DefaultReadyTimeout
	}
	if t.Readiness.Cache == 0 {
		t.Readiness.Cache = DefaultReadyCache
	}
}

// Resolve returns p made absolute against the config file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *Config) validate() error {
	if err := c.Administration.validate(c.Partners); err != nil {
		return fmt.Errorf("administration.%w", err)
	}
	if c.GatewayID == "" {
		return errors.New("gateway_id: is required (it is the aud of caller tokens)")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if c.SigningKey.Path == "" {
		return errors.New("signing_key.path: is required")
	}
	if err := contracts.ValidateOpaqueID("", c.SigningKey.KeyID); err != nil {
		return fmt.Errorf("signing_key.key_id: %q is not a key id (letters, digits, '.', '_', ':', '-')", c.SigningKey.KeyID)
	}
	if c.DataKeys.Path != "" && c.DataKeys.Disabled {
		return errors.New("data_keys: path and disabled: true exclude each other")
	}
	for kid, path := range c.SigningKey.Previous {
		switch {
		case contracts.ValidateOpaqueID("", kid) != nil:
			return fmt.Errorf("signing_key.previous: %q is not a key id", kid)
		case kid == c.SigningKey.KeyID:
			return fmt.Errorf("signing_key.previous.%s: is the current key's id", kid)
		case path == "":
			return fmt.Errorf("signing_key.previous.%s: the public key file is required", kid)
		}
	}
	if err := c.Store.validate(); err != nil {
		return err
	}
	if err := c.TLS.validate(); err != nil {
		return fmt.Errorf("tls.%w", err)
	}
	if c.Limits.MaxBodyBytes < 1024 {
		return fmt.Errorf("limits.max_body_bytes: %d is below 1024", c.Limits.MaxBodyBytes)
	}
	if c.Limits.TokenMaxLifetime < time.Minute {
		return fmt.Errorf("limits.token_max_lifetime: %s is below 1m", c.Limits.TokenMaxLifetime)
	}
	if c.Limits.TokenMaxLifetime > MaxTokenMaxLifetime {
		return fmt.Errorf("limits.token_max_lifetime: %s is above the cap of 1h", c.Limits.TokenMaxLifetime)
	}
	if c.Delivery.Workers < 0 || c.Delivery.Batch < 0 || c.Delivery.Lease < 0 || c.Delivery.Poll < 0 {
		return errors.New("delivery: values must not be negative")
	}
	if n := c.Delivery.PerPartner; n < 0 || n > c.Delivery.workers() {
		return fmt.Errorf("delivery.per_partner: %d must be from 0 (the default, %d) to delivery.workers (%d)", n, DefaultPerPartner, c.Delivery.workers())
	}
	if err := c.Delivery.Circuit.validate(); err != nil {
		return fmt.Errorf("delivery.%w", err)
	}
	if err := c.Licenses.Circuit.validate(); err != nil {
		return fmt.Errorf("licenses.%w", err)
	}
	if c.Licenses.CacheTTL < 0 || c.Licenses.CacheTTL > 10*time.Minute {
		return fmt.Errorf("licenses.cache_ttl: %s must be from 0 (off) to 10m", c.Licenses.CacheTTL)
	}
	if c.Licenses.CacheSize < 0 {
		return fmt.Errorf("licenses.cache_size: %d must not be negative", c.Licenses.CacheSize)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q must be debug, info, warn or error", c.Log.Level)
	}
	if err := c.Telemetry.validate(); err != nil {
		return fmt.Errorf("telemetry.%w", err)
	}
	if len(c.Partners) == 0 {
		return errors.New("partners: at least one partner is required")
	}
	seen := map[string]bool{}
	certs := map[string]string{} // fingerprint → partner id
	for i := range c.Partners {
		if err := c.Partners[i].validate(seen); err != nil {
			return fmt.Errorf("partners[%d]: %w", i, err)
		}
		if len(c.Partners[i].ClientCerts) > 0 && (c.TLS == nil || c.TLS.ClientAuth == ClientAuthNone) {
			return fmt.Errorf("partners[%d].client_certs: need tls.client_auth optional or require (no client certificate is asked for)", i)
		}
		for j, fp := range c.Partners[i].ClientCerts {
			if other, dup := certs[NormalizeFingerprint(fp)]; dup {
				return fmt.Errorf("partners[%d].client_certs[%d]: also listed by partner %s; a certificate belongs to one caller", i, j, other)
			}
			certs[NormalizeFingerprint(fp)] = c.Partners[i].ID
		}
		// One attempt may take up to gateway.AttemptBound(timeout); a
		// shorter lease would let a second dispatcher take a delivery that
		// is still being attempted. Only partners with an adapter receive
		// deliveries: a window's or an auditor's timeout does not matter.
		if c.Partners[i].Adapter == "" {
			continue
		}
		lease, timeout := c.Delivery.Lease, c.Partners[i].Timeout
		if lease == 0 {
			lease = DefaultLease
		}
		if timeout == 0 {
			timeout = DefaultPartnerTimeout
		}
		if bound := gateway.AttemptBound(timeout); lease <= bound {
			return fmt.Errorf("delivery.lease: %s must exceed 3 × partners[%d].timeout (%s, counted as at least 1s), the longest an attempt may take: %s", lease, i, timeout, bound)
		}
	}
	if err := c.Limits.Rate.validate(seen); err != nil {
		return fmt.Errorf("limits.rate.%w", err)
	}
	return nil
}

// validate checks the tls section (nil: plain HTTP); errors name the
// field below "tls.".
func (t *TLS) validate() error {
	if t == nil {
		return nil
	}
	switch {
	case t.Cert == "":
		return errors.New("cert: is required (PEM certificate chain)")
	case t.Key == "":
		return errors.New("key: is required (PEM private key)")
	}
	switch t.ClientAuth {
	case ClientAuthNone:
		if t.ClientCA != "" {
			return errors.New("client_ca: set, but client_auth is none; set client_auth optional or require")
		}
	case ClientAuthOptional, ClientAuthRequire:
		if t.ClientCA == "" {
			return fmt.Errorf("client_ca: is required with client_auth %s", t.ClientAuth)
		}
	default:
		return fmt.Errorf("client_auth: %q must be none, optional or require", t.ClientAuth)
	}
	return nil
}

// NormalizeFingerprint returns a certificate fingerprint as lower-case
// hex without colons or blanks, the form client_certs are compared in.
func NormalizeFingerprint(fp string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(fp))
}

// validate checks the telemetry section; errors name the field below
// "telemetry.".
func (t *Telemetry) validate() error {
	otlp := false
	switch t.Exporter {
	case ExporterOTLPGRPC, ExporterOTLPHTTP:
		otlp = true
	case ExporterNone, ExporterStdout:
	default:
		return fmt.Errorf("exporter: %q must be none, otlp-grpc, otlp-http or stdout", t.Exporter)
	}
	if e := t.Endpoint; e != "" {
		if !otlp {
			return fmt.Errorf("endpoint: is only for exporter otlp-grpc or otlp-http, not %s", t.Exporter)
		}
		if strings.Contains(e, "://") {
			u, err := url.Parse(e)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("endpoint: %q must be host:port or an http(s) URL", e)
			}
			if u.User != nil {
				return errors.New("endpoint: must not carry credentials")
			}
			if u.Scheme == "https" && t.Insecure {
				return fmt.Errorf("insecure: contradicts the https endpoint %q", e)
			}
		} else if host, port, err := net.SplitHostPort(e); err != nil || host == "" || port == "" {
			return fmt.Errorf("endpoint: %q must be host:port or an http(s) URL", e)
		}
	}
	if strings.TrimSpace(t.ServiceName) != t.ServiceName || len(t.ServiceName) > 100 {
		return fmt.Errorf("service_name: %q must not be blank-padded or longer than 100 bytes", t.ServiceName)
	}
	if r := *t.SamplingRatio; !(r >= 0 && r <= 1) {
		return fmt.Errorf("sampling_ratio: %v must be from 0 to 1", r)
	}
	if d := t.Readiness.Timeout; d < 0 || d > time.Minute {
		return fmt.Errorf("readiness.timeout: %s must be from 0 (default 2s) to 1m", d)
	}
	if d := t.Readiness.Cache; d < 0 || d > 10*time.Minute {
		return fmt.Errorf("readiness.cache: %s must be from 0 (default 5s) to 10m", d)
	}
	return nil
}

func (p *Partner) validate(seen map[string]bool) error {
	if p.ID == "" {
		return errors.New("id: is required")
	}
	if seen[p.ID] {
		return fmt.Errorf("id: %q appears twice", p.ID)
	}
	seen[p.ID] = true
	if p.Config.Kind != 0 && p.Config.Kind != yaml.MappingNode {
		return errors.New("config: the adapter block must be a mapping")
	}
	if _, err := p.AdapterConfig(); err != nil {
		// JSON objects have string keys: a key like 0 or [a] cannot be one.
		return errors.New("config: the adapter block cannot be read as a JSON object (every key must be a string)")
	}
	if len(p.Roles) == 0 {
		return errors.New("roles: at least one of partner, window, auditor, operator")
	}
	partner := false
	for j, r := range p.Roles {
		if !contracts.Role(r).Valid() {
			return fmt.Errorf("roles[%d]: %q is not partner, window, auditor or operator", j, r)
		}
		partner = partner || r == string(contracts.RolePartner)
	}
	for j, r := range p.Regions {
		if err := contracts.ValidateRegion(r); err != nil {
			return fmt.Errorf("regions[%d]: %q: %v", j, r, err)
		}
	}
	if len(p.Keys) == 0 {
		return errors.New("keys: at least one key id → public key file is required")
	}
	for kid, path := range p.Keys {
		if kid == "" || path == "" {
			return errors.New("keys: key ids and paths must not be empty")
		}
		if contracts.ValidateOpaqueID("", kid) != nil {
			return fmt.Errorf("keys: %q is not a key id (letters, digits, '.', '_', ':', '-')", kid)
		}
	}
	if partner {
		if len(p.Regions) == 0 && p.Library == nil {
			return errors.New("regions: a partner serves at least one region (or has a license_library)")
		}
		if p.Adapter == "" {
			return errors.New("adapter: is required for role partner")
		}
	}
	if l := p.Library; l != nil {
		if !partner {
			return errors.New("license_library: only a partner (role partner) has a license library")
		}
		if len(l.Regions) == 0 && !l.Fallback {
			return errors.New("license_library.regions: at least one region, unless fallback is true")
		}
		for j, r := range l.Regions {
			if err := contracts.ValidateRegion(r); err != nil {
				return fmt.Errorf("license_library.regions[%d]: %q: %v", j, r, err)
			}
		}
		for j, t := range l.Types {
			if err := contracts.ValidateLicenseTypeCode("type", t); err != nil {
				return fmt.Errorf("license_library.types[%d]: %q: must be a 21-character license type code", j, t)
			}
		}
		if l.Timeout < 0 || l.Timeout > time.Minute {
			return fmt.Errorf("license_library.timeout: %s must be from 0 (default 2s) to 1m", l.Timeout)
		}
		if l.UsageBatch < 0 || l.UsageBatch > contracts.MaxUsageBatch {
			return fmt.Errorf("license_library.usage_batch: %d must be from 1 to %d (0: %d when the adapter sends batches, else 1)",
				l.UsageBatch, contracts.MaxUsageBatch, DefaultUsageBatch)
		}
	}
	for j, fp := range p.ClientCerts {
		if len(NormalizeFingerprint(fp)) != 64 || strings.Trim(NormalizeFingerprint(fp), "0123456789abcdef") != "" {
			return fmt.Errorf("client_certs[%d]: %q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", j, fp)
		}
	}
	if t := p.TLS; t != nil {
		if (t.Cert == "") != (t.Key == "") {
			return errors.New("tls: cert and key go together")
		}
		if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
			return fmt.Errorf("tls.min_version: %q must be 1.2 or 1.3", t.MinVersion)
		}
		if p.Adapter == "" {
			return errors.New("tls: only a partner with an adapter is called")
		}
	}
	if p.Timeout < 0 || p.Retry.MaxAttempts < 0 || p.Retry.MaxAge < 0 || p.Retry.BaseDelay < 0 || p.Retry.MaxDelay < 0 {
		return errors.New("timeout and retry: values must not be negative")
	}
	return nil
}

// AdapterConfig returns the partner's adapter block as JSON ("{}" when absent).
func (p *Partner) AdapterConfig() (json.RawMessage, error) {
	if p.Config.Kind == 0 {
		return json.RawMessage("{}"), nil
	}
	var v any
	if err := p.Config.Decode(&v); err != nil {
		return nil, fmt.Errorf("partner %s: config: %w", p.ID, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("partner %s: config: %w", p.ID, err)
	}
	return b, nil
}

// SetAdapterConfig sets the partner's adapter block from raw, a JSON
// object (what an adapter's ExampleConfig returns, say), so that
// AdapterConfig returns the same object and the block marshals as YAML an
// operator would write: block style, keys in raw's order, a string that
// would read back as another type quoted. nil or empty raw clears it.
func (p *Partner) SetAdapterConfig(raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		p.Config = yaml.Node{}
		return nil
	}
	if !json.Valid(raw) {
		return fmt.Errorf("partner %s: config: not JSON", p.ID)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil { // JSON is YAML
		return fmt.Errorf("partner %s: config: %w", p.ID, err)
	}
	n := &doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("partner %s: config: want a JSON object", p.ID)
	}
	var unflow func(*yaml.Node)
	unflow = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode, yaml.SequenceNode:
			n.Style &^= yaml.FlowStyle
		case yaml.ScalarNode:
			n.Style = 0 // the encoder quotes what would read back as another type
		}
		n.Line, n.Column = 0, 0
		for _, c := range n.Content {
			unflow(c)
		}
	}
	unflow(n)
	p.Config = *n
	return nil
}

// validate checks the store section for its driver.
func (s *Store) validate() error {
	switch s.Driver {
	case DriverSQLite:
		if s.DSN != "" {
			return errors.New("store.dsn: set for driver sqlite; set store.driver: postgres to use PostgreSQL")
		}
		switch s.Synchronous {
		case "full", "normal":
		default:
			return fmt.Errorf("store.synchronous: %q must be full or normal", s.Synchronous)
		}
	case DriverPostgres:
		if s.DSN == "" {
			return errors.New("store.dsn: required for driver postgres (or TONGBAN_STORE_DSN)")
		}
		if u, err := url.Parse(s.DSN); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("store.dsn: must be a postgres:// or postgresql:// URL")
		}
		if !validSchema(s.Schema) {
			return fmt.Errorf("store.schema: %q must be 1 to 63 lower-case letters, digits and underscores, starting with a letter", s.Schema)
		}
		p := s.Pool
		if p.MaxConns < 0 || p.MinConns < 0 || (p.MaxConns > 0 && p.MinConns > p.MaxConns) {
			return fmt.Errorf("store.pool: min_conns %d and max_conns %d must be positive, min at most max", p.MinConns, p.MaxConns)
		}
		if p.MaxConnLifetime < 0 || p.MaxConnIdleTime < 0 {
			return errors.New("store.pool: max_conn_lifetime and max_conn_idle_time must not be negative")
		}
	default:
		return fmt.Errorf("store.driver: %q must be sqlite or postgres", s.Driver)
	}
	return nil
}

// validSchema reports whether name is a plain PostgreSQL identifier the
// store may use unquoted.
func validSchema(name string) bool {
	if name == "" || len(name) > 63 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// validate checks the administration settings; files are read at start.
func (a *Administration) validate(partners []Partner) error {
	switch {
	case a.WarnBeforeDays < -1 || a.WarnBeforeDays > 30:
		return fmt.Errorf("warn_before_days: %d is out of range -1..30", a.WarnBeforeDays)
	case a.AlarmPoll < time.Second || a.AlarmPoll > time.Hour:
		return fmt.Errorf("alarm_poll: %s is out of range 1s..1h", a.AlarmPoll)
	case a.Evaluations.ReplyDays < 1 || a.Evaluations.ReplyDays > 365:
		return fmt.Errorf("evaluations.reply_days: %d is out of range 1..365", a.Evaluations.ReplyDays)
	case a.Evaluations.ReplyUnit != "working_days" && a.Evaluations.ReplyUnit != "calendar_days":
		return fmt.Errorf("evaluations.reply_unit: %q must be working_days or calendar_days", a.Evaluations.ReplyUnit)
	case a.Evaluations.ReplyUnit == "working_days" && a.Calendar == "":
		return errors.New("evaluations.reply_unit: working_days needs a calendar (administration.calendar)")
	}
	if p := a.Evaluations.Partner; p != "" && !slices.ContainsFunc(partners, func(x Partner) bool { return x.ID == p }) {
		return fmt.Errorf("evaluations.partner: %s is not one of the partners", p)
	}
	return nil
}
