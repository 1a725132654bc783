package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// RateLimits bound how fast the gateway serves each caller: a request
// over its caller's limit is answered 429 rate_limited with Retry-After.
// They are on by default. The buckets live in each gateway process: with
// several replicas behind a balancer, each replica allows the whole
// limit, so a caller spread over n replicas gets up to n times it.
//
//	limits:
//	  rate:
//	    per_caller: {rate: 200/s, burst: 400}   # each authenticated caller
//	    anonymous: {rate: 20/s, burst: 40}      # failed authentications per client address
//	    partners:
//	      "330702": {rate: 50/s}               # instead of per_caller
type RateLimits struct {
	// Off turns every limit off.
	Off bool `yaml:"off,omitempty"`
	// PerCaller bounds each authenticated caller that has no entry in
	// Partners; default DefaultCallerRate, burst DefaultCallerBurst.
	PerCaller Rate `yaml:"per_caller,omitempty"`
	// Anonymous bounds, per client address (the connection's IP), the
	// requests that fail authentication; an address over it is refused
	// before its token is verified. Default DefaultAnonymousRate, burst
	// DefaultAnonymousBurst.
	Anonymous Rate `yaml:"anonymous,omitempty"`
	// Partners bound the callers they name (caller ids of configured
	// partners) instead of PerCaller; rate is required.
	Partners map[string]Rate `yaml:"partners,omitempty"`
}

// Rate is a token bucket: Rate requests a second on average, up to Burst
// at once (default: two seconds' worth, at least 1).
type Rate struct {
	Rate  PerSecond `yaml:"rate,omitempty"`
	Burst int       `yaml:"burst,omitempty"`
}

// PerSecond is a request rate. In YAML it is written "50/s", "600/m" or
// "3600/h", or as a bare number of requests per second.
type PerSecond float64

// Default rate limits: generous, so that they refuse only runaway or
// hostile callers.
const (
	DefaultCallerRate     PerSecond = 200
	DefaultCallerBurst              = 400
	DefaultAnonymousRate  PerSecond = 20
	DefaultAnonymousBurst           = 40
)

// UnmarshalYAML reads "N/s", "N/m", "N/h" or a bare N (per second).
func (p *PerSecond) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New(`a rate is written like "50/s", "600/m" or "3600/h"`)
	}
	num, unit, hasUnit := strings.Cut(strings.TrimSpace(n.Value), "/")
	per := 1.0
	if hasUnit {
		switch strings.TrimSpace(unit) {
		case "s":
		case "m":
			per = 60
		case "h":
			per = 3600
		default:
			return fmt.Errorf(`rate %q: the unit must be /s, /m or /h`, n.Value)
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf(`rate %q is not a number of requests per second, minute or hour ("50/s")`, n.Value)
	}
	*p = PerSecond(v / per)
	return nil
}

// MarshalYAML writes the rate as "N/s".
func (p PerSecond) MarshalYAML() (any, error) {
	return strconv.FormatFloat(float64(p), 'g', -1, 64) + "/s", nil
}

// defaultBurst is two seconds' worth of r, at least 1.
func defaultBurst(r PerSecond) int {
	return int(max(1, math.Ceil(2*float64(r))))
}

func (l *RateLimits) defaults() {
	if l.PerCaller.Rate == 0 {
		l.PerCaller.Rate = DefaultCallerRate
		if l.PerCaller.Burst == 0 {
			l.PerCaller.Burst = DefaultCallerBurst
		}
	}
	if l.Anonymous.Rate == 0 {
		l.Anonymous.Rate = DefaultAnonymousRate
		if l.Anonymous.Burst == 0 {
			l.Anonymous.Burst = DefaultAnonymousBurst
		}
	}
	for _, r := range []*Rate{&l.PerCaller, &l.Anonymous} {
		if r.Burst == 0 && r.Rate > 0 {
			r.Burst = defaultBurst(r.Rate)
		}
	}
	for id, r := range l.Partners {
		if r.Burst == 0 && r.Rate > 0 {
			r.Burst = defaultBurst(r.Rate)
			l.Partners[id] = r
		}
	}
}

// validate checks the limits against the configured partner ids; errors
// name the field below "limits.rate.".
func (l *RateLimits) validate(partners map[string]bool) error {
	check := func(name string, r Rate) error {
		switch {
		case r.Rate <= 0:
			return fmt.Errorf("%s.rate: must be more than 0 (set limits.rate.off to turn limits off)", name)
		case r.Burst < 1:
			return fmt.Errorf("%s.burst: %d must be at least 1", name, r.Burst)
		}
		return nil
	}
	if err := check("per_caller", l.PerCaller); err != nil {
		return err
	}
	if err := check("anonymous", l.Anonymous); err != nil {
		return err
	}
	ids := make([]string, 0, len(l.Partners))
	for id := range l.Partners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !partners[id] {
			return fmt.Errorf("partners.%s: no partner %s is configured", id, id)
		}
		if err := check("partners."+id, l.Partners[id]); err != nil {
			return err
		}
	}
	return nil
}
