package keyring_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

// TestFingerprintIsSM3OfSPKI: a key's fingerprint is what OpenSSL 3
// prints for the SM3 of its SubjectPublicKeyInfo in DER, computed by an
// independent implementation.
func TestFingerprintIsSM3OfSPKI(t *testing.T) {
	f := newFixture(t, nil)
	pub := f.keys["330702"].Public()
	pemKey, err := signing.MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k.pub"), pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	der, err := exec.Command("openssl", "pkey", "-pubin", "-in", filepath.Join(dir, "k.pub"), "-outform", "DER").Output()
	if err != nil {
		t.Fatalf("openssl pkey: %v (OpenSSL 3 is required)", err)
	}
	cmd := exec.Command("openssl", "dgst", "-sm3", "-r")
	cmd.Stdin = strings.NewReader(string(der))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl dgst -sm3: %v", err)
	}
	want := strings.Fields(string(out))[0]
	got, err := f.k.Fingerprint(pub)
	if err != nil || got != want {
		t.Fatalf("Fingerprint: got %q %v, want %q (openssl)", got, err, want)
	}
	if info, ok := f.k.Key("330702", "330702"); !ok || info.Fingerprint != want {
		t.Errorf("listed fingerprint: %+v %v, want %s", info, ok, want)
	}
}

// TestRegisterAndList: Register refuses an id registered already (for
// whichever caller and key) and the gateway's own key ids; the listing
// shows each key's kind, certificate expiry, source and when it was
// added, sorted by caller and key id; the gateway's keys come current
// first, with their fingerprints.
func TestRegisterAndList(t *testing.T) {
	prev := newKey(t).Public()
	f := newFixture(t, func(o *keyring.Options) { o.Previous = map[string]*signing.PublicKey{"gateway-2025": prev} })
	added := newKey(t)
	certKey := newKey(t)
	notAfter := start.Add(90 * 24 * time.Hour).Truncate(time.Second)
	der, err := signing.CreateCertificate(signing.CertificateRequest{CommonName: "330702", NotBefore: start.Add(-time.Hour), NotAfter: notAfter},
		certKey.Public(), nil, certKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := signing.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  keyring.Key
		want error
	}{
		{"id of another caller", keyring.Key{Caller: "330702", KeyID: "320404", Public: added.Public()}, keyring.ErrKeyConflict},
		{"same caller, id and key again", keyring.Key{Caller: "330702", KeyID: "330702", Public: f.keys["330702"].Public()}, keyring.ErrKeyConflict},
		{"gateway key id", keyring.Key{Caller: "330702", KeyID: "gateway", Public: added.Public()}, keyring.ErrKeyConflict},
		{"previous gateway key id", keyring.Key{Caller: "330702", KeyID: "gateway-2025", Public: added.Public()}, keyring.ErrKeyConflict},
		{"no key", keyring.Key{Caller: "330702", KeyID: "x"}, nil},
		{"new runtime key", keyring.Key{Caller: "330702", KeyID: "330702-b", Public: added.Public(), Source: contracts.KeyFromRuntime}, nil},
		{"certificate", keyring.Key{Caller: "330702", KeyID: "330702-c", Public: certKey.Public(), Certificate: cert}, nil},
	} {
		err := f.k.Register(tt.key)
		switch {
		case tt.name == "no key":
			if err == nil {
				t.Errorf("%s: registered", tt.name)
			}
		case tt.want == nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	// AddKey keeps its repeat-is-no-op rule.
	if err := f.k.AddKey("330702", "330702", f.keys["330702"].Public()); err != nil {
		t.Errorf("AddKey repeat: %v", err)
	}
	fp := func(p *signing.PublicKey) string {
		s, err := f.k.Fingerprint(p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := []contracts.KeyInfo{
		{Caller: "320404", KeyID: "320404", Kind: contracts.KeyPublicKey, Fingerprint: fp(f.keys["320404"].Public()), Source: contracts.KeyFromConfig, AddedAt: start},
		{Caller: "320404", KeyID: "320404-b", Kind: contracts.KeyPublicKey, Fingerprint: fp(f.keys["320404-b"].Public()), Source: contracts.KeyFromConfig, AddedAt: start},
		{Caller: "330702", KeyID: "330702", Kind: contracts.KeyPublicKey, Fingerprint: fp(f.keys["330702"].Public()), Source: contracts.KeyFromConfig, AddedAt: start},
		{Caller: "330702", KeyID: "330702-b", Kind: contracts.KeyPublicKey, Fingerprint: fp(added.Public()), Source: contracts.KeyFromRuntime, AddedAt: start},
		{Caller: "330702", KeyID: "330702-c", Kind: contracts.KeyCertificate, Fingerprint: fp(certKey.Public()), NotAfter: notAfter.UTC(), Source: contracts.KeyFromConfig, AddedAt: start},
	}
	if got := f.k.Keys(); !reflect.DeepEqual(got, want) {
		t.Errorf("Keys:\n got %+v\nwant %+v", got, want)
	}
	gw, err := f.k.GatewayKeys()
	if err != nil {
		t.Fatal(err)
	}
	wantGW := []contracts.GatewayKeyInfo{{KeyID: "gateway", Fingerprint: fp(f.gw.Public()), Current: true}, {KeyID: "gateway-2025", Fingerprint: fp(prev)}}
	if !reflect.DeepEqual(gw, wantGW) {
		t.Errorf("GatewayKeys:\n got %+v\nwant %+v", gw, wantGW)
	}
}

// TestRevoke: Revoke removes a key (its cached tokens with it) and
// returns it as listed, refuses a caller's last key and a key that is not
// the caller's.
func TestRevoke(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(t, "320404-b", nil)
	if _, err := f.k.VerifyToken(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.k.Revoke("330702", "320404-b"); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("another caller's key: got %v, want ErrUnknownKey", err)
	}
	info, err := f.k.Revoke("320404", "320404-b")
	if err != nil || info.KeyID != "320404-b" || info.Caller != "320404" {
		t.Fatalf("Revoke: %+v %v", info, err)
	}
	if _, err := f.k.VerifyToken(tok); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("a token of the revoked key, cached before: got %v, want ErrUnknownKey", err)
	}
	if _, err := f.k.Revoke("320404", "320404"); !errors.Is(err, keyring.ErrLastKey) {
		t.Errorf("the last key: got %v, want ErrLastKey", err)
	}
	if _, ok := f.k.Key("320404", "320404"); !ok {
		t.Error("the last key is gone after a refused revocation")
	}
}

// TestSync: Sync puts exactly the given keys in force: unchanged keys
// stay (keeping when they were added, a runtime key named by the file
// becomes a configuration key), others are removed (runtime keys
// included, cached tokens forgotten), new ones added, a changed key is
// removed and added; a conflicting set changes nothing.
func TestSync(t *testing.T) {
	f := newFixture(t, nil)
	runtimeKey, kept, fresh, changed := newKey(t), newKey(t), newKey(t), newKey(t)
	for _, k := range []keyring.Key{
		{Caller: "330702", KeyID: "330702-rt", Public: runtimeKey.Public(), Source: contracts.KeyFromRuntime},
		{Caller: "330702", KeyID: "330702-kept", Public: kept.Public(), Source: contracts.KeyFromRuntime},
	} {
		if err := f.k.Register(k); err != nil {
			t.Fatal(err)
		}
	}
	tok := f.token(t, "320404-b", nil)
	if _, err := f.k.VerifyToken(tok); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute) // the token stays valid: only the removal may refuse it
	before := f.k.Keys()
	// Conflicts change nothing.
	for _, bad := range [][]keyring.Key{
		{{Caller: "320404", KeyID: "x", Public: fresh.Public()}, {Caller: "330702", KeyID: "x", Public: fresh.Public()}},
		{{Caller: "320404", KeyID: "gateway", Public: fresh.Public()}},
	} {
		if _, _, err := f.k.Sync(bad); !errors.Is(err, keyring.ErrKeyConflict) {
			t.Errorf("Sync(%v): got %v, want ErrKeyConflict", bad, err)
		}
	}
	if got := f.k.Keys(); !reflect.DeepEqual(got, before) {
		t.Fatalf("a refused Sync changed the keys:\n got %+v\nwant %+v", got, before)
	}
	want := []keyring.Key{
		{Caller: "320404", KeyID: "320404", Public: f.keys["320404"].Public()}, // unchanged
		{Caller: "330702", KeyID: "330702", Public: changed.Public()},          // new key under an old id
		{Caller: "330702", KeyID: "330702-kept", Public: kept.Public()},        // runtime key now in the file
		{Caller: "371523", KeyID: "371523", Public: fresh.Public()},            // new
	}
	planAdded, planRemoved, err := f.k.Plan(want)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.k.Keys(); !reflect.DeepEqual(got, before) {
		t.Fatalf("Plan changed the keys")
	}
	added, removed, err := f.k.Sync(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(added, planAdded) || !reflect.DeepEqual(removed, planRemoved) {
		t.Errorf("Plan said added %v removed %v; Sync did %v and %v", planAdded, planRemoved, added, removed)
	}
	wantAdded := []contracts.KeyRef{{Caller: "330702", KeyID: "330702"}, {Caller: "371523", KeyID: "371523"}}
	wantRemoved := []contracts.KeyRef{{Caller: "320404", KeyID: "320404-b"}, {Caller: "330702", KeyID: "330702"}, {Caller: "330702", KeyID: "330702-rt"}}
	if !reflect.DeepEqual(added, wantAdded) || !reflect.DeepEqual(removed, wantRemoved) {
		t.Errorf("Sync: added %v removed %v, want %v and %v", added, removed, wantAdded, wantRemoved)
	}
	if _, err := f.k.VerifyToken(tok); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("a cached token of a removed key: got %v, want ErrUnknownKey", err)
	}
	if info, _ := f.k.Key("320404", "320404"); !info.AddedAt.Equal(start) {
		t.Errorf("unchanged key: added at %v, want %v (kept)", info.AddedAt, start)
	}
	if info, _ := f.k.Key("330702", "330702-kept"); info.Source != contracts.KeyFromConfig || !info.AddedAt.Equal(start) {
		t.Errorf("runtime key named by the file: %+v, want source config, added at %v", info, start)
	}
	if info, _ := f.k.Key("330702", "330702"); !info.AddedAt.Equal(start.Add(time.Minute)) {
		t.Errorf("changed key: added at %v, want %v", info.AddedAt, start.Add(time.Minute))
	}
	if n := len(f.k.Keys()); n != 4 {
		t.Errorf("%d keys in force, want 4", n)
	}
	body := []byte("x")
	sig, err := signing.Sign(signing.NewSigner(changed, nil), nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.k.VerifyBody("330702", "330702", body, sig); err != nil {
		t.Errorf("a body signed with the changed key: %v", err)
	}
}
