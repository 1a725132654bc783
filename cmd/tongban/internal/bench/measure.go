package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tongban/tongban/signing"
)

// CryptoWindow is how long the bench measures each of the engine's raw
// signing and verification rates before the load.
const CryptoWindow = 500 * time.Millisecond

// Machine names the machine a run measured, for the report: figures hold
// only for the machine and the run that produced them.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`      // logical CPUs the OS reports
	GOMAXPROCS int    `json:"gomaxprocs"` // the cores the run may use
	OS         string `json:"os"`
	Go         string `json:"go"`
}

// thisMachine describes the machine the process runs on.
func thisMachine() Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// CryptoRates are an engine's raw SM2 rates on this machine: every
// usable core signing (then verifying) a 1 KiB message as fast as it can,
// measured in the bench's process just before the load.
type CryptoRates struct {
	Engine       string  `json:"engine"`
	SignPerSec   float64 `json:"sign_per_s"`
	VerifyPerSec float64 `json:"verify_per_s"`
	// SignMicros and VerifyMicros are the CPU time of one operation:
	// GOMAXPROCS divided by the rate.
	SignMicros   float64 `json:"sign_us"`
	VerifyMicros float64 `json:"verify_us"`
}

// measureCrypto measures e's raw rates with key over window each, on
// GOMAXPROCS goroutines.
func measureCrypto(ctx context.Context, e *signing.Engine, key *signing.PrivateKey, window time.Duration) (CryptoRates, error) {
	msg := make([]byte, 1024)
	if _, err := rand.Read(msg); err != nil {
		return CryptoRates{}, err
	}
	sig, err := e.Sign(key, msg)
	if err != nil {
		return CryptoRates{}, err
	}
	procs := runtime.GOMAXPROCS(0)
	run := func(op func() error) (float64, error) {
		var n atomic.Int64
		var first atomic.Pointer[error]
		start := time.Now()
		deadline := start.Add(window)
		var wg sync.WaitGroup
		for range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && time.Now().Before(deadline) {
					if err := op(); err != nil {
						first.CompareAndSwap(nil, &err)
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		if p := first.Load(); p != nil {
			return 0, *p
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return float64(n.Load()) / time.Since(start).Seconds(), nil
	}
	r := CryptoRates{Engine: e.Name()}
	if r.SignPerSec, err = run(func() error { _, err := e.Sign(key, msg); return err }); err != nil {
		return r, fmt.Errorf("bench: measuring SM2 signing: %w", err)
	}
	if r.VerifyPerSec, err = run(func() error { return e.Verify(key.Public(), msg, sig) }); err != nil {
		return r, fmt.Errorf("bench: measuring SM2 verification: %w", err)
	}
	if r.SignPerSec > 0 && r.VerifyPerSec > 0 {
		r.SignMicros = float64(procs) * 1e6 / r.SignPerSec
		r.VerifyMicros = float64(procs) * 1e6 / r.VerifyPerSec
	}
	return r, nil
}

// PathOps are the SM2 operations one exchange cost on the path measured,
// counted over the run (the engine's and the simulated districts'
// counters) and divided by the exchanges completed.
type PathOps struct {
	GatewaySigns     float64 `json:"gateway_signs"`
	GatewayVerifies  float64 `json:"gateway_verifies"`
	DistrictSigns    float64 `json:"district_signs"`
	DistrictVerifies float64 `json:"district_verifies"`
}

// pathOps divides the operations counted during a run (all, of the
// engine; sims, of the simulated districts) by n exchanges.
func pathOps(all, sims signing.Ops, n int) PathOps {
	if n == 0 {
		return PathOps{}
	}
	f := float64(n)
	return PathOps{
		GatewaySigns: float64(all.Signs-sims.Signs) / f, GatewayVerifies: float64(all.Verifies-sims.Verifies) / f,
		DistrictSigns: float64(sims.Signs) / f, DistrictVerifies: float64(sims.Verifies) / f,
	}
}

// Ceiling is the crypto ceiling of a path: the exchanges per second this
// machine could complete if SM2 were all the work, every core busy.
type Ceiling struct {
	Ops PathOps `json:"ops_per_exchange"`
	// MicrosPerExchange is the SM2 CPU time of one exchange.
	MicrosPerExchange float64 `json:"crypto_us_per_exchange"`
	PerSec            float64 `json:"ceiling_per_s"`
	// Achieved is the measured rate divided by PerSec.
	Achieved float64 `json:"achieved_fraction"`
}

// ceiling returns the ceiling of ops at rates, and what achieved (per
// second) is of it.
func ceiling(ops PathOps, r CryptoRates, achieved float64) Ceiling {
	c := Ceiling{Ops: ops}
	signs, verifies := ops.GatewaySigns+ops.DistrictSigns, ops.GatewayVerifies+ops.DistrictVerifies
	if r.SignPerSec <= 0 || r.VerifyPerSec <= 0 || signs+verifies == 0 {
		return c
	}
	c.MicrosPerExchange = signs*r.SignMicros + verifies*r.VerifyMicros
	c.PerSec = 1 / (signs/r.SignPerSec + verifies/r.VerifyPerSec)
	c.Achieved = achieved / c.PerSec
	return c
}

// usage is what the process had used at one moment.
type usage struct {
	at      time.Time
	cpu     time.Duration // user + system, every thread
	mallocs uint64        // heap objects allocated
}

// snapshot reads the process's CPU time and allocation count. It stops
// the world briefly (runtime.ReadMemStats): call it only at a run's edges.
func snapshot() usage {
	u := usage{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.mallocs = ms.Mallocs
	return u
}

// Resources are what the process used during a run. The process holds
// the gateway, the simulated districts and the load generator, so these
// are the whole machine's work; the report estimates the gateway's share
// from the direct run (see Direct).
type Resources struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUMicrosPerExchange is CPU time per completed exchange.
	CPUMicrosPerExchange float64 `json:"cpu_us_per_exchange"`
	// AllocsPerExchange counts heap allocations per completed exchange.
	AllocsPerExchange float64 `json:"allocs_per_exchange"`
	// PeakRSSBytes is the process's peak resident memory during the run
	// (VmHWM, reset before the run), 0 where the OS does not tell.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// resources returns what was used between a and b for n exchanges.
func resources(a, b usage, n int, peak int64) Resources {
	r := Resources{CPUSeconds: (b.cpu - a.cpu).Seconds(), PeakRSSBytes: peak}
	if n > 0 {
		r.CPUMicrosPerExchange = float64((b.cpu - a.cpu).Microseconds()) / float64(n)
		r.AllocsPerExchange = float64(b.mallocs-a.mallocs) / float64(n)
	}
	return r
}

// resetPeakRSS starts a new peak of the process's resident memory
// (Linux: "5" to /proc/self/clear_refs); it reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS returns the process's peak resident memory in bytes since the
// last resetPeakRSS (or the start), or 0 when the OS does not tell.
func peakRSS() int64 {
	return procStatusBytes("/proc/self/status", "VmHWM:")
}

// procStatusBytes reads a "Field:   N kB" line of a /proc status file.
func procStatusBytes(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n << 10
				}
			}
		}
	}
	return 0
}
