package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Report is one bench run, as printed and as written with --json.
type Report struct {
	// Kind is "cases" or "licenses".
	Kind    string    `json:"kind"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Setup   RunSetup  `json:"setup"`
	// Crypto are the engine's raw rates, measured just before the load.
	Crypto CryptoRates `json:"crypto"`
	// Gateway is the run through the gateway.
	Gateway PathResult `json:"gateway"`
	// Direct is the same kind of requests sent straight to the simulated
	// district, when measured.
	Direct *PathResult `json:"direct,omitempty"`
	// GatewayOverDirect is the gateway's completion rate divided by the
	// direct one (closed loop only).
	GatewayOverDirect float64 `json:"gateway_over_direct,omitempty"`
	// GatewayCPUMicros estimates the gateway's own CPU time per exchange:
	// the process's per exchange through the gateway minus its per
	// exchange in the direct run (where the same client and district did
	// the rest of the work).
	GatewayCPUMicros float64 `json:"gateway_cpu_us_per_exchange_est,omitempty"`
	// Store is the store's work during the gateway run, where it counts it.
	Store *StoreWork `json:"store,omitempty"`
}

// RunSetup is what was measured, for the report.
type RunSetup struct {
	Mode        string  `json:"mode"` // closed or open loop
	Concurrency int     `json:"concurrency"`
	OfferedRate float64 `json:"offered_per_s,omitempty"`
	Requests    int     `json:"requests"`
	Duration    string  `json:"duration,omitempty"`
	Store       string  `json:"store"`
	Replicas    int     `json:"replicas"`
	Evidence    bool    `json:"evidence"`
	RateLimits  string  `json:"rate_limits"`
	SealedData  bool    `json:"sealed_personal_data"`
	OwnerStyle  string  `json:"owner_style,omitempty"`
	Material    int64   `json:"material_bytes,omitempty"`
	CacheTTL    string  `json:"license_cache_ttl,omitempty"`
	Gateways    string  `json:"gateways"`
}

// PathResult is one path's outcome: requests sent and answered, the
// exchanges completed (delivered to the owner and acknowledged, or
// verified with the usage record back at the issuer), rates, latencies,
// the crypto ceiling and what the process used.
type PathResult struct {
	Sent      int            `json:"sent"`
	Accepted  int            `json:"accepted"`
	Refused   int            `json:"refused"`
	Errors    map[string]int `json:"errors,omitempty"`
	Completed int            `json:"completed"`
	// AcceptedPerSec is answers per second until the last answer.
	AcceptedPerSec float64 `json:"accepted_per_s"`
	// CompletedPerSec is completions per second until the last one.
	CompletedPerSec float64             `json:"completed_per_s"`
	Elapsed         float64             `json:"completed_in_s"`
	Latency         map[string]Latency  `json:"latency"`
	Ceiling         Ceiling             `json:"ceiling"`
	Resources       Resources           `json:"resources"`
	PerReplica      []int               `json:"accepted_per_replica,omitempty"`
	Recorded        int                 `json:"recorded_by_gateway,omitempty"`
	Outcomes        map[string]int      `json:"outcomes,omitempty"`
	extra           map[string][]string // not in JSON: lines the printer adds
}

// StoreWork is the store's work during the gateway run.
type StoreWork struct {
	Writes            int64   `json:"writes"`
	Commits           int64   `json:"commits"`
	WritesPerExchange float64 `json:"writes_per_exchange"`
	CommitsPerSec     float64 `json:"commits_per_s"`
	WritesPerCommit   float64 `json:"writes_per_commit"`
}

// writeJSON writes rep to path as indented JSON; "" writes nothing.
func (rep *Report) writeJSON(path string) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// nouns are how a kind of run names its exchanges.
type nouns struct{ request, one, accepted, completed, rate string }

func (rep *Report) nouns() nouns {
	if rep.Kind == "licenses" {
		return nouns{"verifications", "verification", "verified", "with usage record back", "verifications/s"}
	}
	return nouns{"cases", "case", "accepted", "delivered", "cases/s"}
}

// print writes the report for people.
func (rep *Report) print(w io.Writer) {
	n, s := rep.nouns(), rep.Setup
	load := fmt.Sprintf("closed loop, concurrency %d", s.Concurrency)
	if s.OfferedRate > 0 {
		load = fmt.Sprintf("open loop, %.0f %s offered, up to %d in flight", s.OfferedRate, n.rate, s.Concurrency)
	}
	bound := fmt.Sprintf("%d %s", s.Requests, n.request)
	if s.Duration != "" {
		bound += " or " + s.Duration
	}
	fmt.Fprintf(w, "tongban bench %s: %s, %s\n", rep.Kind, load, bound)
	fmt.Fprintf(w, "machine    %s, %d cores, GOMAXPROCS %d, %s, %s; tongban %s\n", rep.Machine.CPU, rep.Machine.Cores,
		rep.Machine.GOMAXPROCS, rep.Machine.OS, rep.Machine.Go, rep.Version)
	gw := "gateway " + s.Gateways
	if s.Replicas > 1 {
		gw = fmt.Sprintf("%d gateway replicas %s, requests sent to each in turn,", s.Replicas, s.Gateways)
	}
	ev := "on"
	if !s.Evidence {
		ev = "OFF (measuring its cost; never so in service)"
	}
	fmt.Fprintf(w, "setup      %s in process: store %s, evidence log %s, rate limits %s, personal data sealed (SM4)\n", gw, s.Store, ev, s.RateLimits)
	extra := ""
	if s.OwnerStyle != "" {
		extra = fmt.Sprintf(", owner adapter %s", s.OwnerStyle)
	}
	if s.Material > 0 {
		extra += fmt.Sprintf(", one inline material of %d bytes per case", s.Material)
	}
	if s.CacheTTL != "" {
		extra += ", license cache " + s.CacheTTL
	}
	fmt.Fprintf(w, "           simulated districts on loopback%s\n", extra)
	c := rep.Crypto
	fmt.Fprintf(w, "crypto     engine %s, raw on every core: %.0f signs/s (%.1f µs each), %.0f verifications/s (%.1f µs each)\n\n",
		c.Engine, c.SignPerSec, c.SignMicros, c.VerifyPerSec, c.VerifyMicros)

	rep.Gateway.print(w, "gateway", n)
	if d := rep.Direct; d != nil {
		fmt.Fprintln(w)
		d.print(w, "direct", n)
		if rep.GatewayOverDirect > 0 {
			fmt.Fprintf(w, "\ngateway/direct  %.2f of the direct rate", rep.GatewayOverDirect)
			if rep.GatewayCPUMicros > 0 {
				fmt.Fprintf(w, "; the gateway's own CPU ≈ %.0f µs per exchange (estimated: process CPU through the gateway minus direct)", rep.GatewayCPUMicros)
			}
			fmt.Fprintln(w)
		}
	}
	if st := rep.Store; st != nil {
		fmt.Fprintf(w, "\nstore: %d writes in %d commits: %.2f writes per %s, %.1f writes per commit, %.0f commits/s\n",
			st.Writes, st.Commits, st.WritesPerExchange, n.one, st.WritesPerCommit, st.CommitsPerSec)
	}
}

// print writes one path's figures under the heading name.
func (p *PathResult) print(w io.Writer, name string, n nouns) {
	accepted := n.accepted
	if name == "direct" {
		accepted = "answered"
	}
	fmt.Fprintf(w, "%-10s %d sent, %d %s, %d refused: %.0f %s until the last answer\n", name, p.Sent, p.Accepted, accepted, p.Refused, p.AcceptedPerSec, n.rate)
	if len(p.PerReplica) > 1 {
		per := make([]string, len(p.PerReplica))
		for i, k := range p.PerReplica {
			per[i] = fmt.Sprint(k)
		}
		fmt.Fprintf(w, "           accepted by each replica: %s\n", strings.Join(per, ", "))
	}
	rec := ""
	if p.Recorded > 0 {
		rec = fmt.Sprintf(" (gateway recorded %d)", p.Recorded)
	}
	if name != "direct" { // there, an answer completes the exchange
		fmt.Fprintf(w, "           %d %s in %.3fs: %.0f %s%s\n", p.Completed, n.completed, p.Elapsed, p.CompletedPerSec, n.rate, rec)
	}
	for _, k := range sortedKeys(p.Errors) {
		fmt.Fprintf(w, "           refused %d × %s\n", p.Errors[k], k)
	}
	if len(p.Outcomes) > 0 {
		parts := make([]string, 0, len(p.Outcomes))
		for _, k := range sortedKeys(p.Outcomes) {
			parts = append(parts, fmt.Sprintf("%s %d", k, p.Outcomes[k]))
		}
		fmt.Fprintf(w, "           outcomes %s\n", strings.Join(parts, ", "))
	}
	for _, l := range p.extra[""] {
		fmt.Fprintf(w, "           %s\n", l)
	}
	ce := p.Ceiling
	o := ce.Ops
	fmt.Fprintf(w, "           SM2 per exchange: gateway %.2f signs + %.2f verifications, districts %.2f + %.2f = %.0f µs of crypto\n",
		o.GatewaySigns, o.GatewayVerifies, o.DistrictSigns, o.DistrictVerifies, ce.MicrosPerExchange)
	fmt.Fprintf(w, "           crypto ceiling %.0f %s; achieved %.1f%% of it\n", ce.PerSec, n.rate, 100*ce.Achieved)
	r := p.Resources
	peak := "unknown"
	if r.PeakRSSBytes > 0 {
		peak = mib(r.PeakRSSBytes)
	}
	fmt.Fprintf(w, "           process: %.2f CPU s (%.0f µs per exchange), %.0f allocations per exchange, peak RSS %s\n",
		r.CPUSeconds, r.CPUMicrosPerExchange, r.AllocsPerExchange, peak)
	latencyHeader(w)
	for _, k := range []string{"submit → 202 receipt", "delivered → owner ack", "verify → signed result", "usage record → issuer", "answer", "(bench's own send lag)"} {
		if l, ok := p.Latency[k]; ok {
			l.row(w, k)
		}
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
