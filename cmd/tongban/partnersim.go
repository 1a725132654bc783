package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

// simConfig is the file `tongban partnersim --config FILE` reads.
type simConfig struct {
	// PartnerID is the district's id and region, for example "330702".
	PartnerID string `yaml:"partner_id"`
	// Style is the adapter style it speaks; --style overrides it.
	Style string `yaml:"style"`
	// Key is the district's PKCS#8 private key; KeyID its Gw-Key-Id
	// (default: the partner id).
	Key          string `yaml:"key"`
	KeyID        string `yaml:"key_id"`
	PasswordFile string `yaml:"password_file"`
	// Gateway is how the district reaches and trusts the gateway.
	Gateway struct {
		URL  string            `yaml:"url"`  // base URL; empty: answer only, report nothing
		ID   string            `yaml:"id"`   // the aud of the district's tokens
		Keys map[string]string `yaml:"keys"` // gateway key id → public key file
	} `yaml:"gateway"`
	// AdapterConfig is the style's block, the same the gateway's partner
	// entry carries for this district.
	AdapterConfig yaml.Node `yaml:"adapter_config"`
	// Progress is the lifecycle reported for each case; Step the pause
	// between reports.
	Progress []contracts.CaseState `yaml:"progress"`
	Step     time.Duration         `yaml:"step"`
	// Faults to inject from the start.
	Faults partnersim.Faults `yaml:"faults"`
	// Seed makes the random faults repeatable; 0 picks one.
	Seed uint64 `yaml:"seed"`
	// LicenseRegions seeds the district's license library with the demo
	// licenses of these regions instead of its own (a simulated national
	// library lists partnersim.NationalRegions).
	LicenseRegions []string `yaml:"license_regions"`

	dir string
}

// loadSimConfig reads and checks a simulator config file; relative paths
// resolve against its directory.
func loadSimConfig(path string) (*simConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c simConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c.dir = filepath.Dir(abs)
	switch {
	case c.PartnerID == "":
		return nil, fmt.Errorf("%s: partner_id is required", path)
	case c.Key == "":
		return nil, fmt.Errorf("%s: key is required (the district's private key)", path)
	case c.Gateway.URL != "" && c.Gateway.ID == "":
		return nil, fmt.Errorf("%s: gateway.id is required with gateway.url (it is the aud of the district's tokens)", path)
	case len(c.Gateway.Keys) == 0:
		return nil, fmt.Errorf("%s: gateway.keys is required (the gateway's public keys, to check its deliveries)", path)
	}
	if c.KeyID == "" {
		c.KeyID = c.PartnerID
	}
	return &c, nil
}

func (c *simConfig) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// adapterBlock returns the adapter_config block as JSON, nil when absent.
func (c *simConfig) adapterBlock() (json.RawMessage, error) {
	if c.AdapterConfig.Kind == 0 {
		return nil, nil
	}
	var v any
	if err := c.AdapterConfig.Decode(&v); err != nil {
		return nil, fmt.Errorf("adapter_config: %w", err)
	}
	return json.Marshal(v)
}

// endpointPath returns the path of the endpoint an adapter block names
// ("" when none): the district serves its style there, as the gateway's
// adapter calls it.
func endpointPath(block json.RawMessage) string {
	var c struct {
		Endpoint string `json:"endpoint"`
	}
	if json.Unmarshal(block, &c) != nil || c.Endpoint == "" {
		return ""
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return ""
	}
	return strings.TrimRight(u.Path, "/")
}

func newPartnersimCmd() *cobra.Command {
	var style, listen, path string
	c := &cobra.Command{
		Use:   "partnersim --config FILE [--style S] [--listen ADDR]",
		Short: "Run a simulated district system of any adapter style, with fault injection",
		Long: `Run one simulated partner district system, as the demo does, against a gateway.

It speaks the adapter style S (standard, mapped-json, soap or mailbox):
it takes the gateway's signed deliveries (on --listen for the pushing
styles; a mailbox district pulls them from the gateway), answers with
signed acknowledgements and its own case numbers, moves every case it owns
through the lifecycle by reporting signed status updates back in its own
format, and answers license lookups from a seeded demo library.

The config file (YAML; relative paths resolve against its directory):

  partner_id: "330702"
  style: mapped-json
  key: keys/330702.key            # the district's PKCS#8 key (key_id defaults to partner_id)
  gateway:
    url: http://127.0.0.1:8080    # empty: answer deliveries only, report nothing
    id: tongban-demo              # the gateway id: aud of the district's tokens
    keys: {gateway: keys/gateway.pub}
  adapter_config: {...}           # the same block the gateway's partner entry carries
  progress: [accepted, in_progress, concluded, dispatched, delivered]
  step: 300ms
  faults:                         # all optional
    error_rate: 0.2               # share of calls refused as unavailable (retryable)
    fail_first: 3                 # the first N calls refused
    delay: 150ms                  # latency
    hang: false                   # never answer (the caller times out)
    drop_rate: 0.1                # connections closed without an answer
    drop_first: 0
    bad_signature: false          # answers whose signature does not verify
    malformed: false              # answers that are not the expected message
    duplicate_reports: true       # every status update sent twice
    lookup_delay: 0s
    lookup_fail: false
    leave_out_first: 0            # the first N usage records of batches left unacknowledged
  seed: 42                        # repeatable random faults

A pushing district serves its style on --listen at the path of
adapter_config's endpoint (the gateway's partner entry must point its
endpoint at that address). It logs one line per event on stderr and stops
on SIGINT or SIGTERM.`,
		Example: "  tongban partnersim --config sim-330702.yaml --listen 127.0.0.1:9702",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--config FILE is required")
			}
			cfg, err := loadSimConfig(path)
			if err != nil {
				return err
			}
			if style != "" {
				cfg.Style = style
			}
			if cfg.Style == "" {
				cfg.Style = "standard"
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runPartnersim(ctx, cmd, cfg, listen)
		},
	}
	c.Flags().StringVar(&path, "config", "", "simulator config file, YAML (required)")
	c.Flags().StringVar(&style, "style", "", "adapter style: standard, mapped-json, soap or mailbox (overrides the file)")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address the district listens on for the gateway's calls (pushing styles)")
	return c
}

func runPartnersim(ctx context.Context, cmd *cobra.Command, cfg *simConfig, listen string) error {
	log := app.NewLogger(cmd.ErrOrStderr(), "info")
	key, err := app.LoadPrivateKey(cfg.resolve(cfg.Key), cfg.resolve(cfg.PasswordFile))
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	aud := cfg.Gateway.ID
	if aud == "" {
		aud = cfg.PartnerID
	}
	kr, err := keyring.New(keyring.Options{GatewayID: cfg.PartnerID, Signer: signing.NewSigner(key, nil), SignerKeyID: cfg.KeyID})
	if err != nil {
		return err
	}
	kids := make([]string, 0, len(cfg.Gateway.Keys))
	for kid := range cfg.Gateway.Keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	for _, kid := range kids {
		pub, err := keyring.LoadPublicKeyFile(cfg.resolve(cfg.Gateway.Keys[kid]))
		if err != nil {
			return fmt.Errorf("gateway.keys.%s: %w", kid, err)
		}
		if err := kr.AddKey(partnersim.GatewayCaller, kid, pub); err != nil {
			return err
		}
	}
	block, err := cfg.adapterBlock()
	if err != nil {
		return err
	}
	sim, err := partnersim.New(partnersim.Config{
		PartnerID: cfg.PartnerID, Style: cfg.Style, StyleConfig: block, Crypto: kr, GatewayURL: cfg.Gateway.URL,
		Token:    func() (string, error) { return kr.IssueToken(aud) },
		Progress: cfg.Progress, Step: cfg.Step, Faults: cfg.Faults, Seed: cfg.Seed, LicenseRegions: cfg.LicenseRegions,
		Logf: func(format string, args ...any) {
			log.Info(fmt.Sprintf(format, args...), "component", "partnersim", "partner", cfg.PartnerID)
		},
	})
	if err != nil {
		return err
	}
	var srv *http.Server
	if cfg.Style != "mailbox" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		prefix := endpointPath(block)
		var h http.Handler = sim.Handler()
		if prefix != "" {
			h = http.StripPrefix(prefix, h)
		}
		srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		fmt.Fprintf(cmd.OutOrStdout(), "district %s (%s) listening on http://%s%s\n", cfg.PartnerID, cfg.Style, ln.Addr(), prefix)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "district %s (mailbox) pulling from %s\n", cfg.PartnerID, cfg.Gateway.URL)
	}
	sim.Start(ctx)
	<-ctx.Done()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}
	<-sim.Done()
	return nil
}
