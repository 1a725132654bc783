package gateway_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/outbox"
)

// sumOf returns the value of counter name's point whose attributes
// include want.
func sumOf(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != name || !ok {
				continue
			}
		points:
			for _, p := range sum.DataPoints {
				for _, kv := range want {
					if v, ok := p.Attributes.Value(kv.Key); !ok || v != kv.Value {
						continue points
					}
				}
				n += p.Value
			}
		}
	}
	return n
}

func TestDeliveryMetricsAndPartnerStates(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	collect := func() metricdata.ResourceMetrics {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		return rm
	}

	e := newEnv(t, gateway.RetryPolicy{})
	// The core's instruments are made on the meter provider it is given.
	e.core = e.withCore(t, node.Options{Telemetry: gateway.Telemetry{Metrics: mp}, Dispatcher: outbox.DispatcherOptions{Seed: 7}})
	e.disp = e.core.Outbox.Dispatcher()
	before := collect()
	wc := attribute.String("partner", wucheng)
	retried := sumOf(before, "tongban.delivery.attempts", wc, attribute.String("outcome", "retry_wait"))
	delivered := sumOf(before, "tongban.delivery.attempts", wc, attribute.String("outcome", "delivered"))

	states := map[string]outbox.PartnerState{}
	for _, s := range e.disp.PartnerStates() {
		states[s.Partner] = s
	}
	if s := states[wucheng]; s.State != "unknown" {
		t.Errorf("before any attempt: %+v, want unknown", s)
	}
	if _, ok := states[jinshan]; ok {
		t.Error("a pulling partner has a delivery state")
	}

	e.auditedCase() // one refused attempt to wucheng, then delivered
	rm := collect()
	if got := sumOf(rm, "tongban.delivery.attempts", wc, attribute.String("outcome", "retry_wait")) - retried; got != 1 {
		t.Errorf("retry_wait attempts to %s: %d, want 1", wucheng, got)
	}
	if got := sumOf(rm, "tongban.delivery.attempts", wc, attribute.String("outcome", "delivered")) - delivered; got != 1 {
		t.Errorf("delivered attempts to %s: %d, want 1", wucheng, got)
	}
	for _, s := range e.disp.PartnerStates() {
		if s.Partner == wucheng && (s.State != "up" || s.ConsecutiveFailures != 0 || s.LastSuccess.IsZero() || s.LastFailure.IsZero()) {
			t.Errorf("after a success: %+v, want up with both times", s)
		}
	}

	// PartnerDown refusals in a row: down, with the reason.
	if err := e.districts[wucheng].sim.SetFaults(partnersim.Faults{FailFirst: 100}); err != nil {
		t.Fatal(err)
	}
	e.newCase()
	for range 10 {
		e.drain()
		e.clock.Advance(time.Hour)
		if states := e.disp.PartnerStates(); len(states) > 0 && e.countByState()[contracts.TransportStateDead] > 0 {
			break
		}
	}
	for _, s := range e.disp.PartnerStates() {
		if s.Partner == wucheng && (s.State != "down" || s.ConsecutiveFailures < outbox.PartnerDown || s.LastError == "") {
			t.Errorf("after %d failures: %+v, want down with the last error", outbox.PartnerDown, s)
		}
	}

	// License verifications are counted by outcome.
	if err := e.districts[wucheng].sim.SetFaults(partnersim.Faults{}); err != nil {
		t.Fatal(err)
	}
	lic := e.demoLicense(wucheng, partnersim.DemoValidCompany)
	valid := sumOf(collect(), "tongban.license.verifications", attribute.String("outcome", string(contracts.LicenseOutcomeValid)))
	e.verifyAs(zhonglou, contracts.LicenseVerifyRequest{LicenseID: lic.LicenseID, Purpose: "个体工商户设立登记", WindowID: window, OperatorID: "zl-0231"})
	if got := sumOf(collect(), "tongban.license.verifications", attribute.String("outcome", string(contracts.LicenseOutcomeValid))) - valid; got != 1 {
		t.Errorf("valid verifications counted: %d, want 1", got)
	}
}
