package licenses_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestDeadLibraryTripsItsCircuit: a library that hangs costs each of the
// first Failures verifications its whole timeout and source_unavailable;
// then its circuit is open and the verifications after them answer
// source_unavailable without the library being asked at all; after the
// cooldown one trial lookup goes through (half-open): it fails while the
// library is still dead (open again, not asked), and once it answers the
// circuit closes and every verification asks it again. The other library
// is unaffected throughout.
func TestDeadLibraryTripsItsCircuit(t *testing.T) {
	const (
		failures = 3
		cooldown = 20 * time.Millisecond
	)
	e := newEnvWith(t, gateway.CircuitPolicy{Failures: failures, Cooldown: cooldown}, 20*time.Millisecond)
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	valid := license(t, "330702", typeBusiness, "A1", holder, contracts.LicenseStatusValid)
	other := license(t, "320404", typeFood, "B1", holder, contracts.LicenseStatusValid)
	dead := e.libs[libPull]
	dead.records = []contracts.LicenseRecord{valid}
	e.libs[libPush].records = []contracts.LicenseRecord{other}
	dead.setDead(true)

	verify := func(lic contracts.LicenseRecord) contracts.LicenseOutcome {
		t.Helper()
		in := e.inbound(contracts.LicenseVerifyRequest{LicenseID: lic.LicenseID, Purpose: "办理开办企业"}, fakeCrypto{}.sign)
		ans, err := e.svc.VerifyLicense(context.Background(), in)
		if err != nil {
			t.Fatalf("VerifyLicense: %v", err)
		}
		var r contracts.LicenseVerifyResult
		if err := json.Unmarshal(ans.Body, &r); err != nil {
			t.Fatal(err)
		}
		return r.Outcome
	}
	waitHalfOpen := func() {
		t.Helper()
		// Half-open is reached on the wall clock (the breaker's); wait for
		// it, bounded, then ask.
		time.Sleep(cooldown)
		deadline := time.Now().Add(5 * time.Second)
		for {
			before := dead.count()
			verify(valid)
			if dead.count() > before {
				return // the trial went through
			}
			if time.Now().After(deadline) {
				t.Fatalf("no trial lookup 5s after the circuit opened with a %s cooldown", cooldown)
			}
			time.Sleep(time.Millisecond)
		}
	}

	for i := range failures {
		if got := verify(valid); got != contracts.LicenseOutcomeSourceUnavailable {
			t.Fatalf("verification %d at a dead library: %s, want source_unavailable", i+1, got)
		}
	}
	if got := dead.count(); got != failures {
		t.Fatalf("the dead library was asked %d times, want %d", got, failures)
	}
	// Open: not asked again.
	for i := range 10 {
		if got := verify(valid); got != contracts.LicenseOutcomeSourceUnavailable {
			t.Fatalf("verification %d behind an open circuit: %s, want source_unavailable", i+1, got)
		}
	}
	if got := dead.count(); got != failures {
		t.Errorf("the library was asked %d times while its circuit was open, want still %d", got, failures)
	}
	// The other library answers as ever.
	if got := verify(other); got != contracts.LicenseOutcomeValid {
		t.Errorf("the other library's license: %s, want valid", got)
	}

	// Half-open, still dead: the trial fails and the circuit opens again.
	waitHalfOpen()
	asked := dead.count()
	if got := verify(valid); got != contracts.LicenseOutcomeSourceUnavailable || dead.count() != asked {
		t.Errorf("after a failed trial: %s with %d more lookups, want source_unavailable with none", got, dead.count()-asked)
	}

	// Half-open, back: the trial answers and closes the circuit.
	dead.setDead(false)
	waitHalfOpen()
	for i := range 3 {
		asked := dead.count()
		if got := verify(valid); got != contracts.LicenseOutcomeValid || dead.count() != asked+1 {
			t.Errorf("verification %d after recovery: %s with %d lookups, want valid with 1", i+1, got, dead.count()-asked)
		}
	}
}
