package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
)

// Readiness defaults.
const (
	// DefaultCheckTimeout bounds one readiness check.
	DefaultCheckTimeout = 2 * time.Second
	// DefaultCheckCache is how long a check's result is reused.
	DefaultCheckCache = 5 * time.Second
)

// Check is one named readiness check of GET /readyz. Adding one is one
// line in the Options.Checks list:
//
//	httpapi.Check{Name: "evidence", Run: svc.CheckEvidence}
//	httpapi.Check{Name: "partner:" + id, Run: probe(id)}
//
// Run returns nil when the check is ok. An error means fail, unless it
// says otherwise through a method HealthStatus() contracts.HealthStatus
// (degraded or fail); its detail, sent to anyone who asks /readyz, is
// "check failed" unless it has a method HealthDetail() string saying
// something safe to show. The error itself is logged, never sent. The core
// can define such an error type without importing this package; Degraded
// and Failed make one.
//
// Run's ctx is bounded by the check's timeout and is not cancelled when
// the probing client goes away. A check that outlives its timeout is
// reported as timed out (fail); it is not started again while it still
// runs. Results are cached per check (Options.CheckCache), and checks run
// concurrently.
type Check struct {
	// Name names the check in the answer: "store", "keys", "evidence",
	// "partner:330702".
	Name string
	// Run performs the check.
	Run func(ctx context.Context) error
	// Timeout, when positive, overrides Options.CheckTimeout.
	Timeout time.Duration
}

// Degraded returns an error that makes a check report degraded (working,
// needs attention: /readyz still answers 200) with detail, which is sent
// as is.
func Degraded(detail string) error {
	return &checkError{status: contracts.HealthStatusDegraded, detail: detail}
}

// Failed returns an error that makes a check report fail with detail,
// which is sent as is; err, when not nil, is logged only.
func Failed(detail string, err error) error {
	return &checkError{status: contracts.HealthStatusFail, detail: detail, err: err}
}

type checkError struct {
	status contracts.HealthStatus
	detail string
	err    error
}

func (e *checkError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %s: %v", e.status, e.detail, e.err)
	}
	return fmt.Sprintf("%s: %s", e.status, e.detail)
}
func (e *checkError) Unwrap() error                        { return e.err }
func (e *checkError) HealthStatus() contracts.HealthStatus { return e.status }
func (e *checkError) HealthDetail() string                 { return e.detail }

// readiness runs the checks of /readyz, each bounded and cached.
type readiness struct {
	checks  []*checkState
	timeout time.Duration
	cache   time.Duration
	now     func() time.Time
	log     *slog.Logger
}

// checkState is one check with its last result.
type checkState struct {
	Check
	timeout time.Duration

	mu      sync.Mutex
	last    contracts.HealthCheck
	valid   bool          // last holds a result
	running chan struct{} // closed when the run in flight ends; nil when none
}

func newReadiness(checks []Check, timeout, cache time.Duration, now func() time.Time, log *slog.Logger) *readiness {
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	if cache == 0 {
		cache = DefaultCheckCache
	}
	if now == nil {
		now = time.Now
	}
	r := &readiness{timeout: timeout, cache: cache, now: now, log: log}
	seen := map[string]bool{}
	for _, c := range checks {
		if c.Name == "" || c.Run == nil || seen[c.Name] {
			panic(fmt.Sprintf("httpapi: readiness check %q: a check needs a unique name and a Run func", c.Name))
		}
		seen[c.Name] = true
		cs := &checkState{Check: c, timeout: c.Timeout}
		if cs.timeout <= 0 {
			cs.timeout = timeout
		}
		r.checks = append(r.checks, cs)
	}
	return r
}

// evaluate returns the health of every check, running those whose cached
// result is stale.
func (r *readiness) evaluate(ctx context.Context) contracts.Health {
	h := contracts.Health{Status: contracts.HealthStatusOK}
	if len(r.checks) == 0 {
		return h
	}
	results := make([]contracts.HealthCheck, len(r.checks))
	var wg sync.WaitGroup
	for i, cs := range r.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.result(ctx, cs)
		}()
	}
	wg.Wait()
	h.Checks = make(map[string]contracts.HealthCheck, len(r.checks))
	for i, cs := range r.checks {
		res := results[i]
		h.Checks[cs.Name] = res
		switch {
		case res.Status == contracts.HealthStatusFail:
			h.Status = contracts.HealthStatusFail
		case res.Status == contracts.HealthStatusDegraded && h.Status == contracts.HealthStatusOK:
			h.Status = contracts.HealthStatusDegraded
		}
	}
	return h
}

// result returns cs's cached result, or runs it: at most one run of a
// check is in flight; a caller waits for it at most the check's timeout.
func (r *readiness) result(ctx context.Context, cs *checkState) contracts.HealthCheck {
	now := r.now()
	cs.mu.Lock()
	if cs.valid && now.Sub(cs.last.CheckedAt) < r.cache && now.Sub(cs.last.CheckedAt) >= 0 {
		res := cs.last
		cs.mu.Unlock()
		return res
	}
	done := cs.running
	started := now
	if done == nil {
		done = make(chan struct{})
		cs.running = done
		go r.run(context.WithoutCancel(ctx), cs, done, started)
	}
	cs.mu.Unlock()

	t := time.NewTimer(cs.timeout)
	defer t.Stop()
	select {
	case <-done:
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return cs.last
	case <-t.C:
		res := contracts.HealthCheck{
			Status: contracts.HealthStatusFail, Detail: "timed out after " + cs.timeout.String(),
			CheckedAt: started.UTC(), DurationMS: cs.timeout.Milliseconds(),
		}
		cs.mu.Lock()
		if cs.running == done { // still running: let the next probes see the timeout
			cs.last, cs.valid = res, true
		} else {
			res = cs.last
		}
		cs.mu.Unlock()
		r.log.WarnContext(ctx, "readiness check timed out", "check", cs.Name, "timeout", cs.timeout.String())
		return res
	}
}

// run runs cs once, records its result and closes done.
func (r *readiness) run(ctx context.Context, cs *checkState, done chan struct{}, started time.Time) {
	ctx, cancel := context.WithTimeout(ctx, cs.timeout)
	defer cancel()
	begin := time.Now()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("check panicked: %v", p)
			}
		}()
		return cs.Run(ctx)
	}()
	took := time.Since(begin)
	res := contracts.HealthCheck{Status: contracts.HealthStatusOK, CheckedAt: started.UTC(), DurationMS: took.Milliseconds()}
	switch {
	case took > cs.timeout || err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		res.Status, res.Detail = contracts.HealthStatusFail, "timed out after "+cs.timeout.String()
	case err != nil:
		res.Status, res.Detail = contracts.HealthStatusFail, "check failed"
		var st interface{ HealthStatus() contracts.HealthStatus }
		if errors.As(err, &st) && st.HealthStatus().Valid() && st.HealthStatus() != contracts.HealthStatusOK {
			res.Status = st.HealthStatus()
		}
		var d interface{ HealthDetail() string }
		if errors.As(err, &d) && d.HealthDetail() != "" {
			res.Detail = d.HealthDetail()
		}
	}
	if err != nil {
		r.log.WarnContext(ctx, "readiness check not ok", "check", cs.Name, "status", res.Status, "err", err)
	}
	cs.mu.Lock()
	cs.last, cs.valid, cs.running = res, true, nil
	cs.mu.Unlock()
	close(done)
}

// healthz answers that the process serves requests.
func (a *api) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, contracts.Health{Status: contracts.HealthStatusOK, Version: a.Version})
}

// readyz runs the readiness checks: 200 when each is ok or degraded, 503
// when any fails.
func (a *api) readyz(c echo.Context) error {
	h := a.readiness.evaluate(c.Request().Context())
	h.Version = a.Version
	status := http.StatusOK
	if h.Status == contracts.HealthStatusFail {
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, h)
}
