package main

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestBenchBacklogCommand runs the backlog bench end to end, small: every
// case submitted while the owner is down is delivered after the gateway
// (a child process) was killed and started again, and the report says so.
func TestBenchBacklogCommand(t *testing.T) {
	r := must(t, runIn(t, t.TempDir(), "", "bench", "backlog", "--pending", "300", "--concurrency", "16", "--progress", "0"))
	want := []string{
		"tongban bench backlog: 300 pending deliveries, the gateway a child process (tongban serve)",
		"submitted  300 accepted (202), 0 refused",
		"pending    300 deliveries unfinished in the gateway",
		"drain      301 of 301 accepted cases acknowledged by the owner",
		"(gateway recorded 301 delivered, 0 unfinished)",
		"accepted cases delivered",
	}
	res := []string{
		`killed \(SIGKILL\); store [0-9.]+ MiB`,
		`since the restart: attempts \d+ \(delivered \d+`,
		`restart    ready \(/readyz 200\) after [0-9.]+m?s; serving \(a new signed case answered 202\) after [0-9.]+m?s`,
		`serving after SIGKILL and restart +[0-9.]+m?s +≤ 10s  (met|MISSED)`,
	}
	if runtime.GOOS == "linux" {
		res = append(res, `memory     gateway \(pid \d+\) RSS [0-9.]+ MiB when serving, peak [0-9.]+ MiB sampled while draining`,
			`resident memory while draining +[0-9.]+ MiB +< 300.0 MiB  (met|MISSED)`)
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, r.stdout)
		}
	}
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("report does not match %s:\n%s", re, r.stdout)
		}
	}
}

// TestBenchBacklogExitsOneWhenCasesAreNotDelivered: a drain cut short
// leaves accepted cases undelivered, and the bench says so with exit 1.
func TestBenchBacklogExitsOneWhenCasesAreNotDelivered(t *testing.T) {
	r := runIn(t, t.TempDir(), "", "bench", "backlog", "--pending", "50", "--drain", "1ns", "--progress", "0")
	if r.code != 1 || !strings.Contains(r.stderr, "not delivered within --drain") {
		t.Fatalf("exit %d, stderr %q; want exit 1 naming the undelivered cases\n%s", r.code, r.stderr, r.stdout)
	}
}

// TestBenchMaterialCommand sends cases with a large inline material
// through the gateway (a child process) and checks that the owner
// received every byte.
func TestBenchMaterialCommand(t *testing.T) {
	r := must(t, runIn(t, t.TempDir(), "", "bench", "material", "--size", "256KiB", "--cases", "3", "--concurrency", "2", "--progress", "0"))
	want := []string{
		"tongban bench material: 3 cases, each with one inline material of 256KiB, 2 in flight",
		"limits.max_body_bytes 8388608",
		"submitted  3 accepted (202), 0 refused",
		"delivered  3 acknowledged by the owner, 3 with the exact bytes (SM3 matches)",
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, r.stdout)
		}
	}
	if runtime.GOOS == "linux" && !regexp.MustCompile(`peak = [0-9.]+ × the material's size`).MatchString(r.stdout) {
		t.Errorf("report has no peak:\n%s", r.stdout)
	}
}

func TestBenchBacklogAndMaterialRefuseBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"backlog", "--pending", "0"},
		{"backlog", "--pending", "1000001"},
		{"backlog", "--concurrency", "0"},
		{"backlog", "--drain", "0s"},
		{"backlog", "--start-within", "2h"},
		{"backlog", "--progress", "2m"},
		{"backlog", "--workers", "-1"},
		{"material", "--size", "512"},
		{"material", "--size", "11MiB"},
		{"material", "--size", "ten"},
		{"material", "--cases", "0"},
		{"material", "--concurrency", "65"},
		{"material", "--drain", "0s"},
	} {
		r := runIn(t, dir, "", append([]string{"bench"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[1]) {
			t.Errorf("bench %v: exit %d, stderr %q; want exit 2 naming %s", args, r.code, r.stderr, args[1])
		}
	}
}
