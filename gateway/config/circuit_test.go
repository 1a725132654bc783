package config

import (
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/gateway"
)

// TestDeliveryLimitsAndCircuits: the per-partner limit and the two
// breakers take their defaults when left out, an operator's values when
// given, none when turned off; out-of-range values are refused naming
// the field.
func TestDeliveryLimitsAndCircuits(t *testing.T) {
	withSection := func(section string) string {
		return strings.Replace(good, "listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\n"+section, 1)
	}
	tests := []struct {
		name        string
		section     string
		perPartner  int
		delivery    gateway.CircuitPolicy
		library     gateway.CircuitPolicy
		errorNaming string
	}{
		{name: "defaults", perPartner: DefaultPerPartner,
			delivery: gateway.CircuitPolicy{Failures: 5, Cooldown: 30 * time.Second},
			library:  gateway.CircuitPolicy{Failures: 5, Cooldown: 10 * time.Second}},
		{name: "few workers bound the default", section: "delivery: {workers: 4}", perPartner: 4,
			delivery: gateway.CircuitPolicy{Failures: 5, Cooldown: 30 * time.Second},
			library:  gateway.CircuitPolicy{Failures: 5, Cooldown: 10 * time.Second}},
		{name: "set", section: "delivery: {per_partner: 3, circuit: {failures: 2, cooldown: 1m}}\nlicenses: {circuit: {failures: 7, cooldown: 5s}}",
			perPartner: 3, delivery: gateway.CircuitPolicy{Failures: 2, Cooldown: time.Minute}, library: gateway.CircuitPolicy{Failures: 7, Cooldown: 5 * time.Second}},
		{name: "off", section: "delivery: {circuit: {off: true}}\nlicenses: {circuit: {off: true}}", perPartner: DefaultPerPartner},
		{name: "per_partner over workers", section: "delivery: {workers: 4, per_partner: 5}", errorNaming: "delivery.per_partner"},
		{name: "negative per_partner", section: "delivery: {per_partner: -1}", errorNaming: "delivery.per_partner"},
		{name: "negative failures", section: "delivery: {circuit: {failures: -1}}", errorNaming: "delivery.circuit.failures"},
		{name: "cooldown too long", section: "licenses: {circuit: {cooldown: 2h}}", errorNaming: "licenses.circuit.cooldown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(withSection(tt.section)), "/x", noEnv)
			if tt.errorNaming != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errorNaming) {
					t.Fatalf("got %v, want an error naming %q", err, tt.errorNaming)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Delivery.PerPartnerLimit(); got != tt.perPartner {
				t.Errorf("per partner %d, want %d", got, tt.perPartner)
			}
			if got := c.Delivery.Circuit.Policy(DefaultDeliveryCooldown); got != tt.delivery {
				t.Errorf("delivery circuit %+v, want %+v", got, tt.delivery)
			}
			if got := c.Licenses.Circuit.Policy(DefaultLibraryCooldown); got != tt.library {
				t.Errorf("library circuit %+v, want %+v", got, tt.library)
			}
		})
	}
}
