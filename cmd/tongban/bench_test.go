package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tongban/tongban/gateway/store/postgres/pgtest"
)

func TestBenchCasesCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"closed loop", []string{"--cases", "50"}, []string{"closed loop, concurrency 64, 50 cases", "latency from send"}},
		{"open loop", []string{"--cases", "50", "--rate", "500", "--concurrency", "8"},
			[]string{"open loop, 500 cases/s offered, up to 8 in flight", "latency from scheduled send", "send lag"}},
		{"two replicas on PostgreSQL", []string{"--cases", "50", "--replicas", "2", "--store-dsn", "postgres"},
			[]string{"2 gateway replicas", "store postgres, schema tongban_bench_", "accepted by each replica: 25, 25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bench", "cases"}, tt.args...)
			if slices.Contains(args, "--store-dsn") {
				args[len(args)-1] = pgtest.DSN()
				pgtest.Admin(t)
			} else {
				tt.want = append(tt.want, "writes per commit")
			}
			r := must(t, runIn(t, t.TempDir(), "", args...))
			want := append(tt.want,
				"submitted  50 accepted (202), 0 refused",
				"delivered  50 acknowledged by the owner",
				"(gateway recorded 50)",
				"p50", "p90", "p99", "max")
			for _, w := range want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, re := range []string{`submitted .*: \d+ cases/s`, `delivered .*: \d+ cases/s`,
				`submit → 202 receipt +50 +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms`,
				`delivered → owner ack +50 +[0-9.]+ms`} {
				if !regexp.MustCompile(re).MatchString(r.stdout) {
					t.Errorf("output does not match %s:\n%s", re, r.stdout)
				}
			}
		})
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
	} {
		r := runIn(t, dir, "", append([]string{"bench", "cases"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("bench cases %v: got exit %d stderr %q, want 2 naming %s", args, r.code, r.stderr, args[0])
		}
	}
}

func TestBenchLicensesCommand(t *testing.T) {
	r := must(t, runIn(t, t.TempDir(), "", "bench", "licenses", "--verifications", "60", "--concurrency", "4"))
	for _, w := range []string{"closed loop, concurrency 4, 60 verifications", "license cache off", "outcomes   valid 60",
		"usage      60 records acknowledged by 330702"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, r.stdout)
		}
	}
	if !regexp.MustCompile(`verify +60 +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms`).MatchString(r.stdout) {
		t.Errorf("output has no latency row:\n%s", r.stdout)
	}
	for _, args := range [][]string{{"--verifications", "0"}, {"--concurrency", "0"}, {"--cache-ttl", "1h"}, {"--drain", "0s"}} {
		r := runIn(t, t.TempDir(), "", append([]string{"bench", "licenses"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("bench licenses %v: exit %d, stderr %q; want exit 2 naming the flag", args, r.code, r.stderr)
		}
	}
}
