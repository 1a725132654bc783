package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tongban/tongban/cmd/tongban/internal/bench"
	"github.com/tongban/tongban/gateway/store/postgres/pgtest"
)

// TestBenchCasesCommand runs the cases bench as a user would and checks
// every part of its report: the counts, the rates, the latency rows, the
// SM2 operations counted per delivered case (see casePathOps), the
// ceiling, the direct run and the progress lines.
func TestBenchCasesCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"closed loop", []string{"--cases", "50"}, []string{"closed loop, concurrency 64, 50 cases",
			"direct     50 sent, 50 answered, 0 refused", "districts 1.00 + 1.00 = ", "gateway/direct"}},
		{"open loop", []string{"--cases", "50", "--rate", "500", "--concurrency", "8", "--direct=false"},
			[]string{"open loop, 500 cases/s offered, up to 8 in flight", "(bench's own send lag)"}},
		{"materials", []string{"--cases", "6", "--concurrency", "2", "--material-size", "64KiB", "--evidence=false"},
			[]string{"one inline material of 65536 bytes per case", "evidence log OFF"}},
		{"two replicas on PostgreSQL", []string{"--cases", "50", "--replicas", "2", "--direct=false", "--store-dsn", "postgres"},
			[]string{"2 gateway replicas", "store postgres (schema tongban_bench_", "accepted by each replica: 25, 25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bench", "cases"}, tt.args...)
			if slices.Contains(args, "--store-dsn") {
				args[len(args)-1] = pgtest.DSN()
				pgtest.Admin(t)
			} else {
				tt.want = append(tt.want, "writes per commit", "writes per case")
			}
			n := args[slices.Index(args, "--cases")+1]
			r := must(t, runIn(t, t.TempDir(), "", args...))
			want := append(tt.want,
				"gateway    "+n+" sent, "+n+" accepted, 0 refused",
				n+" delivered in ",
				"(gateway recorded "+n+")",
				"rate limits on", "personal data sealed (SM4)",
				"p50", "p90", "p99", "max")
			for _, w := range want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, re := range []string{`accepted, 0 refused: \d+ cases/s`, `delivered in [0-9.]+s: \d+ cases/s`,
				`crypto +engine emmansun, raw on every core: \d+ signs/s \([0-9.]+ µs each\), \d+ verifications/s`,
				`crypto ceiling \d+ cases/s; achieved [0-9.]+% of it`,
				`process: [0-9.]+ CPU s \(\d+ µs per exchange\), \d+ allocations per exchange, peak RSS [0-9.]+ MiB`,
				`submit → 202 receipt +` + n + ` +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms`,
				`delivered → owner ack +` + n + ` +[0-9.]+ms`} {
				if !regexp.MustCompile(re).MatchString(r.stdout) {
					t.Errorf("output does not match %s:\n%s", re, r.stdout)
				}
			}
			m := regexp.MustCompile(`(?m)^gateway .*\n(?:.*\n)*? +SM2 per exchange: gateway ([0-9.]+) signs \+ ([0-9.]+) verifications, districts ([0-9.]+) \+ ([0-9.]+) = `).FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("no SM2 operations line for the gateway run:\n%s", r.stdout)
			}
			var ops bench.PathOps
			for i, p := range []*float64{&ops.GatewaySigns, &ops.GatewayVerifies, &ops.DistrictSigns, &ops.DistrictVerifies} {
				*p, _ = strconv.ParseFloat(m[i+1], 64)
			}
			k, _ := strconv.Atoi(n)
			checkCasePathOps(t, ops, k)
			if !regexp.MustCompile(`gateway +[0-9.]+s: sent ` + n + `/` + n + `, answered ` + n + `, refused 0, delivered ` + n).MatchString(r.stderr) {
				t.Errorf("no final progress line on standard error:\n%s", r.stderr)
			}
		})
	}
}

// checkCasePathOps checks the SM2 operations counted per delivered case
// with a standard owner: the gateway verifies the body, signs the receipt,
// signs the delivery and verifies the acknowledgement, and the owner
// verifies and signs, so 2 + 2 and 1 + 1; the gateway's few operations
// per run besides (verifying the sender's bearer token once per replica,
// minting its own token for the owner, signing evidence checkpoints) add
// a little over few cases.
//
// Over n cases those few are allowed as at most 3 operations of each kind
// per run plus 10 % of n.
func checkCasePathOps(t *testing.T, ops bench.PathOps, n int) {
	t.Helper()
	extra := func(per float64) float64 { return per*float64(n) - 2*float64(n) }
	limit := 3 + 0.1*float64(n)
	if ops.DistrictSigns != 1 || ops.DistrictVerifies != 1 ||
		extra(ops.GatewaySigns) < -0.01 || extra(ops.GatewaySigns) > limit ||
		extra(ops.GatewayVerifies) < -0.01 || extra(ops.GatewayVerifies) > limit {
		t.Errorf("SM2 operations per case %+v, want 2 + 2 for the gateway (a little more over few cases), 1 + 1 for the owner", ops)
	}
}

// TestBenchJSONReport: --json writes the report a script can read, with
// the same figures as the printed one.
func TestBenchJSONReport(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "cases.json")
	must(t, runIn(t, dir, "", "bench", "cases", "--cases", "20", "--concurrency", "4", "--quiet", "--json", out))
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("%v:\n%s", err, raw)
	}
	g := rep.Gateway
	checkCasePathOps(t, g.Ceiling.Ops, g.Completed)
	switch {
	case rep.Kind != "cases" || rep.Machine.GOMAXPROCS < 1 || rep.Machine.CPU == "":
		t.Errorf("kind %q, machine %+v", rep.Kind, rep.Machine)
	case rep.Crypto.SignPerSec <= 0 || rep.Crypto.VerifyPerSec <= 0:
		t.Errorf("crypto rates %+v", rep.Crypto)
	case g.Sent != 20 || g.Accepted != 20 || g.Completed != 20 || g.CompletedPerSec <= 0:
		t.Errorf("gateway run %+v", g)
	case g.Ceiling.PerSec <= 0 || g.Ceiling.Achieved <= 0 || g.Ceiling.Achieved > 1:
		t.Errorf("ceiling %+v", g.Ceiling)
	case g.Latency["submit → 202 receipt"].N != 20 || g.Latency["delivered → owner ack"].N != 20:
		t.Errorf("latencies %+v", g.Latency)
	case g.Resources.CPUSeconds <= 0 || g.Resources.AllocsPerExchange <= 0:
		t.Errorf("resources %+v", g.Resources)
	case rep.Direct == nil || rep.Direct.Completed != 20 || rep.GatewayOverDirect <= 0:
		t.Errorf("direct run %+v, ratio %v", rep.Direct, rep.GatewayOverDirect)
	case rep.Store == nil || rep.Store.WritesPerExchange <= 0:
		t.Errorf("store %+v", rep.Store)
	}
}

func TestBenchCasesRefusesUnboundedOrBadLoads(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--cases", "0"},
		{"--cases", "1000001"},
		{"--concurrency", "0"},
		{"--rate", "-1"},
		{"--duration", "2h"},
		{"--drain", "0s"},
		{"--replicas", "2"}, // without --store-dsn
		{"--replicas", "17"},
		{"--material-size", "512"},
		{"--material-size", "11MiB"},
		{"--material-size", "lots"},
		{"--material-size", "10MiB", "--cases", "200"}, // 2 × 200 × 13 MiB of bodies
	} {
		r := runIn(t, dir, "", append([]string{"bench", "cases"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("bench cases %v: got exit %d stderr %q, want 2 naming %s", args, r.code, r.stderr, args[0])
		}
	}
}

func TestBenchLicensesCommand(t *testing.T) {
	r := must(t, runIn(t, t.TempDir(), "", "bench", "licenses", "--verifications", "60", "--concurrency", "4"))
	for _, w := range []string{"closed loop, concurrency 4, 60 verifications", "license cache off", "outcomes valid 60",
		"60 with usage record back in ", "direct     60 sent, 60 answered, 0 refused", "gateway/direct"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, r.stdout)
		}
	}
	for _, re := range []string{`verify → signed result +60 +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms`,
		`SM2 per exchange: gateway [0-9.]+ signs \+ [0-9.]+ verifications, districts [0-9.]+ \+ [0-9.]+ = \d+ µs of crypto`,
		`crypto ceiling \d+ verifications/s; achieved [0-9.]+% of it`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("output does not match %s:\n%s", re, r.stdout)
		}
	}
	// Per verification the gateway checks the window's signature, signs
	// the lookup, checks the library's answer and signs the result (2 + 2);
	// the library checks and signs once (1 + 1); the usage records go back
	// in batches, one signature and one acknowledgement each, which adds a
	// fraction per record (one record a call would add 1 + 1 to each side).
	m := regexp.MustCompile(`(?m)^gateway .*\n(?:.*\n)*? +SM2 per exchange: gateway ([0-9.]+) signs \+ ([0-9.]+) verifications, districts ([0-9.]+) \+ ([0-9.]+) = `).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no SM2 operations line for the gateway run:\n%s", r.stdout)
	}
	for i, lim := range [][2]float64{{2, 2.4}, {2, 2.4}, {1, 1.4}, {1, 1.4}} {
		if v, _ := strconv.ParseFloat(m[i+1], 64); v < lim[0] || v > lim[1] {
			t.Errorf("SM2 operations per verification %v: %s is outside %v (usage records not batched?)", m[1:], m[i+1], lim)
		}
	}
	for _, args := range [][]string{{"--verifications", "0"}, {"--concurrency", "0"}, {"--cache-ttl", "1h"}, {"--drain", "0s"}, {"--rate", "-1"}} {
		r := runIn(t, t.TempDir(), "", append([]string{"bench", "licenses"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("bench licenses %v: exit %d, stderr %q; want exit 2 naming the flag", args, r.code, r.stderr)
		}
	}
}
