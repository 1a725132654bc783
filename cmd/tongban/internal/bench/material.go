package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/signing"
)

// Material bench bounds.
const (
	MinMaterialSize      = 1 << 10
	MaxMaterialSize      = 10 << 20
	MaxMaterialCases     = 1000
	MaxMaterialInFlight  = 64
	DefaultMaterialDrain = 2 * time.Minute
	// materialBodySlack is what a case's JSON body holds besides the
	// material's base64 content, with room to spare.
	materialBodySlack = 64 << 10
)

// ParseSize reads a size: a number of bytes, or of KiB or MiB with that
// suffix ("10MiB", "512KiB", "1048576").
func ParseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size (bytes, or a whole number of KiB or MiB: 10MiB)", s)
	}
	return n * mult, nil
}

// MaterialOptions are a `tongban bench material` run.
type MaterialOptions struct {
	ChildOptions
	Size        int64 // the material's size in bytes
	Cases       int
	Concurrency int
	Drain       time.Duration
	StartWithin time.Duration
}

// Validate checks the run's bounds; errors name the command's flag.
func (o MaterialOptions) Validate() error {
	switch {
	case o.Size < MinMaterialSize || o.Size > MaxMaterialSize:
		return fmt.Errorf("--size %d must be from 1KiB to 10MiB", o.Size)
	case o.Cases < 1 || o.Cases > MaxMaterialCases:
		return fmt.Errorf("--cases %d must be 1 to %d", o.Cases, MaxMaterialCases)
	case o.Concurrency < 1 || o.Concurrency > MaxMaterialInFlight:
		return fmt.Errorf("--concurrency %d must be 1 to %d", o.Concurrency, MaxMaterialInFlight)
	case o.Drain <= 0 || o.Drain > MaxDuration:
		return fmt.Errorf("--drain %s must be positive and at most %s", o.Drain, MaxDuration)
	case o.StartWithin <= 0 || o.StartWithin > MaxDuration:
		return fmt.Errorf("--start-within %s must be positive and at most %s", o.StartWithin, MaxDuration)
	}
	return o.ChildOptions.validate()
}

// MaterialMaxBody is the limits.max_body_bytes a case with one inline
// material of size bytes needs: its base64 content and the rest of the
// case, rounded up to a whole MiB; never below the default.
func MaterialMaxBody(size int64) int64 {
	need := int64(base64.StdEncoding.EncodedLen(int(size))) + materialBodySlack
	return max(config.DefaultMaxBodyBytes, (need+(1<<20)-1)&^((1<<20)-1))
}

// materialCase is one case of a material run: its signed body and the
// SM3 of its material's content.
type materialCase struct {
	devrig.Case
	sm3 string
}

// newMaterialCase builds and signs case i: the rig's sample case with one
// material of size pseudo-random bytes (seeded by i and a run seed, so
// that each case's content differs).
func newMaterialCase(src *devrig.Rig, signer signing.Signer, seed uint64, i int, size int64, now time.Time) (materialCase, error) {
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		return materialCase{}, err
	}
	content := make([]byte, size)
	rnd := mrand.NewChaCha8(chachaSeed(seed, uint64(i)))
	rnd.Read(content)
	sum := hex.EncodeToString(src.Engine.SM3(content))
	sub := devrig.Submission(id, now)
	sub.LocalCaseNo = fmt.Sprintf("ZL-MATERIAL-%05d", i+1)
	sub.Materials = []contracts.Material{{MaterialID: "M01", Name: "经营场所使用证明（扫描件）", MediaType: "application/pdf",
		Size: size, SM3: sum, Content: content}}
	body, err := json.Marshal(sub)
	if err != nil {
		return materialCase{}, err
	}
	sig, err := signing.Sign(signer, src.Engine, body)
	if err != nil {
		return materialCase{}, err
	}
	return materialCase{Case: devrig.Case{ExchangeID: id, Body: body, Sig: base64.StdEncoding.EncodeToString(sig)}, sm3: sum}, nil
}

func chachaSeed(a, b uint64) (s [32]byte) {
	binary.LittleEndian.PutUint64(s[:], a)
	binary.LittleEndian.PutUint64(s[8:], b)
	return s
}

// materialResult is what one material run measured.
type materialResult struct {
	o                  MaterialOptions
	maxBody, bodyBytes int64
	engine             string
	pid                int
	idleRSS            int64
	submitted, refused int
	errors             map[string]int
	submitLat          []time.Duration
	deliverLat         []time.Duration // submit to the owner's acknowledgement
	took               time.Duration
	delivered, intact  int
	mismatched         []string
	peakRSS, hwm       int64
	rssErr             error
	split              memorySplit // at the highest RSS sampled with the Go runtime's figures
}

// RunMaterial measures the gateway's memory on the large-body path: it
// submits o.Cases cases, o.Concurrency at a time, each with one inline
// material of o.Size bytes, waits for their delivery to the simulated
// owner, checks the bytes the owner received against each material's
// SM3, and reports the child gateway's peak resident memory. It returns a
// *Failure when a case was refused, not delivered within o.Drain, or
// delivered with other bytes.
func RunMaterial(ctx context.Context, w, progress io.Writer, o MaterialOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	res := &materialResult{o: o, maxBody: MaterialMaxBody(o.Size), errors: map[string]int{}}
	r, err := startChildRig(o.ChildOptions, progress, partnersim.Faults{}, func(c *config.Config) {
		c.Limits.MaxBodyBytes = res.maxBody
	})
	if err != nil {
		return err
	}
	defer r.close()
	start := time.Now()
	if err := r.start(); err != nil {
		return err
	}
	res.pid, res.engine = r.proc.pid(), r.engine.Name()
	if _, err := r.waitReady(ctx, time.Now(), o.StartWithin); err != nil {
		return err
	}
	src := r.caseSource()
	toks := src.Tokens(devrig.Sender, "window-"+devrig.Sender)
	if _, err := toks.Get(); err != nil {
		return err
	}
	// The gateway's memory once it serves, before the first case.
	if m, err := readProcMemory(res.pid); err == nil {
		res.idleRSS = m.rss
	}
	sampler := sampleRSS(res.pid, rssInterval)
	defer sampler.stop()
	split := sampleSplit(r, res.pid, splitInterval)

	signer := signing.NewSigner(src.Keys[devrig.Sender], src.Engine)
	seed := mrand.Uint64()
	now := time.Now().UTC().Truncate(time.Second)
	sums := make([]string, o.Cases) // exchange id and SM3, by case; "" = not accepted
	ids := make([]string, o.Cases)
	var next, ok, bad atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := devrig.LoopbackClient(o.Concurrency)
	defer client.CloseIdleConnections()
	t0 := time.Now()
	stopProgress := r.every(o.Progress, func() {
		r.progressf(start, "%d of %d accepted, %d acknowledged by the owner; gateway RSS %s (peak %s)", ok.Load(), o.Cases,
			r.acks.count(), mib(sampler.last.Load()), mib(sampler.peak.Load()))
	})
	defer stopProgress()
	var prepErr error
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.Cases {
					return
				}
				// Each case is built and signed just before it is sent,
				// outside its latency: the bench holds at most
				// --concurrency bodies.
				c, err := newMaterialCase(src, signer, seed, i, o.Size, now)
				var tok string
				if err == nil {
					tok, err = toks.Get()
				}
				if err != nil {
					mu.Lock()
					prepErr = errors.Join(prepErr, err)
					mu.Unlock()
					return
				}
				at := time.Now()
				code := submit(ctx, client, r.base, tok, &c.Case)
				lat := time.Since(at)
				mu.Lock()
				res.bodyBytes = int64(len(c.Body))
				if code == "" {
					sums[i], ids[i] = c.sm3, c.ExchangeID
					res.submitLat = append(res.submitLat, lat)
					ok.Add(1)
				} else if code != "cancelled" {
					res.errors[code]++
					bad.Add(1)
				}
				mu.Unlock()
				if code != "" {
					continue
				}
				// The case is in flight until the owner acknowledged it:
				// only then does this caller send its next one.
				for deadline := time.Now().Add(o.Drain); !r.acks.has(c.ExchangeID) && ctx.Err() == nil && time.Now().Before(deadline); {
					select {
					case <-r.proc.exited:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
				if r.acks.has(c.ExchangeID) {
					mu.Lock()
					res.deliverLat = append(res.deliverLat, time.Since(at))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if prepErr != nil {
		return fmt.Errorf("bench: prepare a case: %w", prepErr)
	}
	select {
	case <-r.proc.exited:
		return fmt.Errorf("bench: the gateway exited (%v); its log ends:\n%s", r.proc.err, r.logTail())
	default:
	}
	res.submitted, res.refused = int(ok.Load()), int(bad.Load())
	res.took = time.Since(t0)
	stopProgress()
	res.rssErr = sampler.stop()
	res.peakRSS = sampler.peak.Load()
	if m, err := readProcMemory(res.pid); err == nil {
		res.hwm = m.hwm
	} else if res.rssErr == nil {
		res.rssErr = err
	}

	// What the owner received: each accepted case's material, byte for
	// byte (its SM3, computed here over the bytes received).
	want := map[string]string{}
	for i, id := range ids {
		if id != "" {
			want[id] = sums[i]
		}
	}
	seen := map[string]bool{}
	for _, d := range r.owner.Cases() {
		id := d.ExchangeID
		sum, accepted := want[id]
		if !accepted || seen[id] {
			continue
		}
		seen[id] = true
		res.delivered++
		if mats := d.Submission.Materials; len(mats) == 1 && hex.EncodeToString(src.Engine.SM3(mats[0].Content)) == sum {
			res.intact++
		} else {
			res.mismatched = append(res.mismatched, id)
		}
	}
	res.split = split.stop()
	if err := r.proc.stop(); err != nil {
		return fmt.Errorf("bench: stopping the gateway: %w", err)
	}
	res.print(w)
	switch {
	case res.refused > 0:
		return &Failure{fmt.Sprintf("bench: %d of %d cases refused", res.refused, o.Cases)}
	case res.delivered < res.submitted:
		return &Failure{fmt.Sprintf("bench: %d of %d accepted cases not delivered within --drain %s", res.submitted-res.delivered, res.submitted, o.Drain)}
	case len(res.mismatched) > 0:
		return &Failure{fmt.Sprintf("bench: %d cases delivered with other material bytes than were submitted", len(res.mismatched))}
	}
	return nil
}

func (res *materialResult) print(w io.Writer) {
	o := res.o
	fmt.Fprintf(w, "tongban bench material: %d cases, each with one inline material of %s, %d in flight\n", o.Cases, sizeText(o.Size), o.Concurrency)
	fmt.Fprintf(w, "gateway a child process (tongban serve, pid %d, engine %s), limits.max_body_bytes %d (a case's body: %d bytes); owner %s (standard) simulated on loopback\n\n",
		res.pid, res.engine, res.maxBody, res.bodyBytes, devrig.Owner)
	fmt.Fprintf(w, "submitted  %d accepted (202), %d refused\n", res.submitted, res.refused)
	for k, v := range res.errors {
		fmt.Fprintf(w, "refused    %d × %s\n", v, k)
	}
	fmt.Fprintf(w, "delivered  %d acknowledged by the owner, %d with the exact bytes (SM3 matches), in %s\n",
		res.delivered, res.intact, res.took.Round(time.Millisecond))
	for _, row := range []struct {
		name string
		lat  []time.Duration
	}{{"submit     202 receipt", res.submitLat}, {"           owner's acknowledgement", res.deliverLat}} {
		slices.Sort(row.lat)
		if n := len(row.lat); n > 0 {
			fmt.Fprintf(w, "%s after p50 %s, max %s\n", row.name, ms(percentile(row.lat, 50)), ms(row.lat[n-1]))
		}
	}
	if res.rssErr != nil {
		fmt.Fprintf(w, "memory     not measured: %v\n", res.rssErr)
		return
	}
	peak := max(res.hwm, res.peakRSS)
	inFlight := min(o.Concurrency, o.Cases)
	fmt.Fprintf(w, "memory     gateway RSS %s before the first case; peak %s (VmHWM), sampled peak %s\n",
		mib(res.idleRSS), mib(res.hwm), mib(res.peakRSS))
	fmt.Fprintf(w, "           peak = %.1f × the material's size; growth over idle %s = %.1f × the size per case in flight (%d)\n",
		float64(peak)/float64(o.Size), mib(peak-res.idleRSS), float64(peak-res.idleRSS)/float64(o.Size)/float64(inFlight), inFlight)
	if sp := res.split; sp.rss > 0 {
		fmt.Fprintf(w, "           at the highest RSS sampled with the runtime's figures (%s): Go heap %s (in use %s), the rest %s (SQLite's C memory, stacks, the binary)\n",
			mib(sp.rss), mib(sp.heapMapped), mib(sp.heapInUse), mib(sp.rss-sp.heapMapped))
	}
}

// sizeText formats a size as the flag takes it.
func sizeText(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
