package keyring_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

var (
	_ gateway.Crypto       = (*keyring.Keyring)(nil)
	_ adapters.Crypto      = (*keyring.Keyring)(nil)
	_ adapters.TokenIssuer = (*keyring.Keyring)(nil)
)

const gatewayID = "tongban-demo"

var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// callers are the registered callers of a fixture: key id → caller.
var callers = map[string]string{
	"320404":   "320404",
	"330702":   "330702",
	"320404-b": "320404", // a second key of 320404
}

type fixture struct {
	clock *fakeClock
	gw    *signing.PrivateKey
	keys  map[string]*signing.PrivateKey // by key id
	k     *keyring.Keyring
}

func newKey(t testing.TB) *signing.PrivateKey {
	t.Helper()
	key, err := signing.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// newFixture returns a keyring with every key of callers registered; mod,
// if not nil, adjusts the options first.
func newFixture(t testing.TB, mod func(*keyring.Options)) *fixture {
	t.Helper()
	f := &fixture{clock: &fakeClock{t: start}, gw: newKey(t), keys: map[string]*signing.PrivateKey{}}
	opts := keyring.Options{
		GatewayID:   gatewayID,
		Signer:      signing.NewSigner(f.gw, nil),
		SignerKeyID: "gateway",
		Clock:       f.clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	k, err := keyring.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.k = k
	for kid, caller := range callers {
		f.keys[kid] = newKey(t)
		if err := k.AddKey(caller, kid, f.keys[kid].Public()); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// token mints a token signed with the key kid, claiming to be its caller,
// for the gateway, valid 5 minutes from now; mod adjusts the request.
func (f *fixture) token(t testing.TB, kid string, mod func(*signing.TokenRequest)) string {
	t.Helper()
	key := f.keys[kid]
	if key == nil {
		key = newKey(t)
	}
	req := signing.TokenRequest{
		KeyID:    kid,
		Issuer:   callers[kid],
		Subject:  "window-320404",
		Audience: gatewayID,
		TTL:      5 * time.Minute,
		ID:       "jti-" + kid,
		Now:      f.clock.Now(),
	}
	if mod != nil {
		mod(&req)
	}
	tok, err := signing.IssueToken(signing.NewSigner(key, nil), req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) sign(t testing.TB, kid string, body []byte) []byte {
	t.Helper()
	sig, err := signing.Sign(signing.NewSigner(f.keys[kid], nil), nil, body)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// checkErr fails unless err wraps every one of want (or is nil when want is empty).
func checkErr(t *testing.T, err error, want ...error) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got nil error, want %v", want)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Fatalf("got error %q, want one wrapping %q", err, w)
		}
	}
}

func TestNew(t *testing.T) {
	signer := signing.NewSigner(newKey(t), nil)
	valid := keyring.Options{GatewayID: gatewayID, Signer: signer, SignerKeyID: "gateway"}
	tests := []struct {
		name string
		mod  func(*keyring.Options)
		ok   bool
	}{
		{"valid", func(*keyring.Options) {}, true},
		{"cache disabled", func(o *keyring.Options) { o.TokenCacheSize = -1 }, true},
		{"tjfoc engine", func(o *keyring.Options) { o.Engine = signing.Tjfoc }, true},
		{"no gateway id", func(o *keyring.Options) { o.GatewayID = "" }, false},
		{"no signer", func(o *keyring.Options) { o.Signer = nil }, false},
		{"no signer key id", func(o *keyring.Options) { o.SignerKeyID = "" }, false},
		{"negative lifetime", func(o *keyring.Options) { o.MaxTokenLifetime = -time.Second }, false},
		{"negative leeway", func(o *keyring.Options) { o.Leeway = -time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := valid
			tt.mod(&opts)
			k, err := keyring.New(opts)
			if got := err == nil; got != tt.ok {
				t.Fatalf("got error %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && k.KeyID() != opts.SignerKeyID {
				t.Errorf("got key id %q, want %q", k.KeyID(), opts.SignerKeyID)
			}
		})
	}
}

func TestAddKey(t *testing.T) {
	f := newFixture(t, nil)
	other := newKey(t).Public()
	tests := []struct {
		name        string
		caller, kid string
		pub         *signing.PublicKey
		want        error // nil: ok; errAny: some error
	}{
		{"new key", "371523", "371523", other, nil},
		{"same caller same key again", "320404", "320404", f.keys["320404"].Public(), nil},
		{"kid of another caller", "330702", "320404", f.keys["320404"].Public(), keyring.ErrKeyConflict},
		{"kid of another caller, other key", "330702", "320404", other, keyring.ErrKeyConflict},
		{"same caller other key", "320404", "320404", other, keyring.ErrKeyConflict},
		{"no caller", "", "x", other, errAny},
		{"no kid", "x", "", other, errAny},
		{"no key", "x", "x", nil, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.k.AddKey(tt.caller, tt.kid, tt.pub)
			switch {
			case tt.want == nil:
				checkErr(t, err)
			case tt.want == errAny:
				if err == nil {
					t.Fatal("got nil error, want one")
				}
			default:
				checkErr(t, err, tt.want)
			}
		})
	}
	// A refused registration changed nothing: 320404's key still verifies.
	body := []byte(`{"exchange_id":"x"}`)
	checkErr(t, f.k.VerifyBody("320404", "320404", body, f.sign(t, "320404", body)))
}

var errAny = errors.New("any error")

func TestSignAndHash(t *testing.T) {
	f := newFixture(t, nil)
	if got, want := f.k.SM3Hex([]byte("abc")), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"; got != want {
		t.Errorf("got SM3Hex(abc) %s, want %s", got, want)
	}
	body := []byte(`{"case":"demo"}`)
	sig, err := f.k.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	checkErr(t, signing.Verify(f.gw.Public(), body, sig))
	if got, want := f.k.KeyID(), "gateway"; got != want {
		t.Errorf("got key id %q, want %q", got, want)
	}
}

func TestVerifyBody(t *testing.T) {
	f := newFixture(t, nil)
	body := []byte(`{"exchange_id":"01890a5d-ac96-774b-bcce-b302099a8057"}`)
	sig := f.sign(t, "320404", body)
	changed := append(append([]byte(nil), body...), ' ')
	tests := []struct {
		name        string
		caller, kid string
		body, sig   []byte
		want        []error
	}{
		{"ok", "320404", "320404", body, sig, nil},
		{"second key of the caller", "320404", "320404-b", body, f.sign(t, "320404-b", body), nil},
		{"kid of another caller", "330702", "320404", body, sig, []error{keyring.ErrUnknownKey}},
		{"unknown kid", "320404", "999999", body, sig, []error{keyring.ErrUnknownKey}},
		{"other key of the same caller", "320404", "320404-b", body, sig, []error{keyring.ErrBadSignature, signing.ErrVerification}},
		{"changed body", "320404", "320404", changed, sig, []error{keyring.ErrBadSignature, signing.ErrVerification}},
		{"malformed signature", "320404", "320404", body, sig[:len(sig)-1], []error{keyring.ErrBadSignature, signing.ErrMalformedSignature}},
		{"empty signature", "320404", "320404", body, nil, []error{keyring.ErrBadSignature, signing.ErrMalformedSignature}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, f.k.VerifyBody(tt.caller, tt.kid, tt.body, tt.sig), tt.want...)
		})
	}
}

func TestVerifyToken(t *testing.T) {
	tests := []struct {
		name    string
		opts    func(*keyring.Options)
		kid     string
		mod     func(*signing.TokenRequest)
		advance time.Duration
		want    []error
	}{
		{name: "ok", kid: "320404"},
		{name: "ok near expiry", kid: "320404", advance: 5*time.Minute - time.Second},
		{name: "expired", kid: "320404", advance: 5 * time.Minute, want: []error{signing.ErrTokenExpired}},
		{name: "within leeway", opts: func(o *keyring.Options) { o.Leeway = time.Minute }, kid: "320404", advance: 5*time.Minute + 30*time.Second},
		{name: "past leeway", opts: func(o *keyring.Options) { o.Leeway = time.Minute }, kid: "320404", advance: 6 * time.Minute, want: []error{signing.ErrTokenExpired}},
		{name: "lifetime over max", kid: "320404", mod: func(r *signing.TokenRequest) { r.TTL = 10*time.Minute + time.Second }, want: []error{signing.ErrTokenExpired}},
		{name: "lifetime over configured max", opts: func(o *keyring.Options) { o.MaxTokenLifetime = 2 * time.Minute }, kid: "320404", want: []error{signing.ErrTokenExpired}},
		{name: "wrong aud", kid: "320404", mod: func(r *signing.TokenRequest) { r.Audience = "other-gateway" }, want: []error{signing.ErrTokenInvalid}},
		{name: "unknown kid", kid: "999999", mod: func(r *signing.TokenRequest) { r.Issuer = "320404" }, want: []error{keyring.ErrUnknownKey, signing.ErrTokenInvalid}},
		{name: "kid of another caller", kid: "330702", mod: func(r *signing.TokenRequest) { r.Issuer = "320404" }, want: []error{keyring.ErrUnknownKey, signing.ErrTokenInvalid}},
		{name: "signed by another key of the caller", kid: "320404-b", mod: func(r *signing.TokenRequest) { r.KeyID = "320404" }, want: []error{signing.ErrTokenInvalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			tok := f.token(t, tt.kid, tt.mod)
			f.clock.Advance(tt.advance)
			got, err := f.k.VerifyToken(tok)
			checkErr(t, err, tt.want...)
			if len(tt.want) > 0 {
				if got != (gateway.TokenInfo{}) {
					t.Errorf("got info %+v with an error, want none", got)
				}
				if n := f.k.CacheLen(); n != 0 {
					t.Errorf("got %d cached tokens after a failure, want 0", n)
				}
				return
			}
			want := gateway.TokenInfo{KeyID: "320404", Issuer: "320404", Subject: "window-320404", ID: "jti-320404", Expires: start.Add(5 * time.Minute)}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestVerifyTokenRefusesOtherAlgs(t *testing.T) {
	f := newFixture(t, nil)
	claims := jwt.RegisteredClaims{
		Issuer:    "320404",
		Audience:  jwt.ClaimStrings{gatewayID},
		IssuedAt:  jwt.NewNumericDate(start),
		ExpiresAt: jwt.NewNumericDate(start.Add(time.Minute)),
		ID:        "jti",
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	none.Header["kid"] = "320404"
	noneTok, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	hs.Header["kid"] = "320404"
	hsTok, err := hs.SignedString(f.keys["320404"].Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"none": noneTok, "HS256": hsTok, "garbage": "a.b.c", "empty": ""} {
		t.Run(name, func(t *testing.T) {
			_, err := f.k.VerifyToken(tok)
			checkErr(t, err, signing.ErrTokenInvalid)
		})
	}
}

func TestVerifyTokenCache(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(t, "320404", nil)
	first, err := f.k.VerifyToken(tok)
	checkErr(t, err)
	if got, want := f.k.CacheLen(), 1; got != want {
		t.Fatalf("got %d cached tokens, want %d", got, want)
	}
	f.clock.Advance(time.Minute)
	second, err := f.k.VerifyToken(tok)
	checkErr(t, err)
	if second != first {
		t.Errorf("got %+v from the cache, want %+v", second, first)
	}
	if got, want := f.k.CacheHits(), uint64(1); got != want {
		t.Errorf("got %d cache hits, want %d", got, want)
	}
}

func TestVerifyTokenExpiredWhileCached(t *testing.T) {
	for _, leeway := range []time.Duration{0, 30 * time.Second} {
		t.Run(fmt.Sprint("leeway ", leeway), func(t *testing.T) {
			f := newFixture(t, func(o *keyring.Options) { o.Leeway = leeway })
			tok := f.token(t, "320404", nil)
			_, err := f.k.VerifyToken(tok)
			checkErr(t, err)

			f.clock.Advance(5*time.Minute - time.Nanosecond) // just before exp: cached
			_, err = f.k.VerifyToken(tok)
			checkErr(t, err)
			if got, want := f.k.CacheHits(), uint64(1); got != want {
				t.Errorf("got %d cache hits, want %d", got, want)
			}

			f.clock.Advance(time.Nanosecond + leeway) // exp + leeway: expired
			_, err = f.k.VerifyToken(tok)
			checkErr(t, err, signing.ErrTokenExpired)
			if got, want := f.k.CacheHits(), uint64(1); got != want {
				t.Errorf("got %d cache hits after expiry, want %d", got, want)
			}
			if got := f.k.CacheLen(); got != 0 {
				t.Errorf("got %d cached tokens after expiry, want 0", got)
			}
		})
	}
}

func TestRemoveKeyInvalidatesCache(t *testing.T) {
	f := newFixture(t, nil)
	removed := f.token(t, "320404", nil)
	kept := f.token(t, "330702", nil)
	for _, tok := range []string{removed, kept} {
		_, err := f.k.VerifyToken(tok)
		checkErr(t, err)
	}
	body := []byte("body")
	sig := f.sign(t, "320404", body)

	checkErr(t, f.k.RemoveKey("330702", "320404"), keyring.ErrUnknownKey) // not its key
	checkErr(t, f.k.RemoveKey("320404", "999999"), keyring.ErrUnknownKey)
	checkErr(t, f.k.RemoveKey("320404", "320404"))

	_, err := f.k.VerifyToken(removed)
	checkErr(t, err, keyring.ErrUnknownKey)
	checkErr(t, f.k.VerifyBody("320404", "320404", body, sig), keyring.ErrUnknownKey)

	hits := f.k.CacheHits()
	_, err = f.k.VerifyToken(kept)
	checkErr(t, err)
	if got, want := f.k.CacheHits(), hits+1; got != want {
		t.Errorf("got %d cache hits, want %d: another key's token should stay cached", got, want)
	}

	// The key id can be registered again, with a new key; old tokens stay refused.
	checkErr(t, f.k.AddKey("320404", "320404", newKey(t).Public()))
	_, err = f.k.VerifyToken(removed)
	checkErr(t, err, signing.ErrTokenInvalid)
}

func TestTokenCacheBounded(t *testing.T) {
	tests := []struct {
		name string
		size int
		want int
	}{
		{"bounded", 4, 4},
		{"one", 1, 1},
		{"disabled", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(o *keyring.Options) { o.TokenCacheSize = tt.size })
			for i := range 10 {
				tok := f.token(t, "320404", func(r *signing.TokenRequest) { r.ID = fmt.Sprint("jti-", i) })
				info, err := f.k.VerifyToken(tok)
				checkErr(t, err)
				if got, want := info.ID, fmt.Sprint("jti-", i); got != want {
					t.Fatalf("got jti %q, want %q", got, want)
				}
			}
			if got := f.k.CacheLen(); got != tt.want {
				t.Errorf("got %d cached tokens, want %d", got, tt.want)
			}
		})
	}
}

func TestTokenCachePrefersExpiredVictims(t *testing.T) {
	f := newFixture(t, func(o *keyring.Options) { o.TokenCacheSize = 2 })
	short := f.token(t, "320404", func(r *signing.TokenRequest) { r.ID, r.TTL = "short", time.Minute })
	long := f.token(t, "320404", func(r *signing.TokenRequest) { r.ID = "long" })
	for _, tok := range []string{short, long} {
		_, err := f.k.VerifyToken(tok)
		checkErr(t, err)
	}
	f.clock.Advance(2 * time.Minute) // short has expired, long has not
	_, err := f.k.VerifyToken(f.token(t, "320404", func(r *signing.TokenRequest) { r.ID = "new" }))
	checkErr(t, err)
	hits := f.k.CacheHits()
	_, err = f.k.VerifyToken(long)
	checkErr(t, err)
	if got, want := f.k.CacheHits(), hits+1; got != want {
		t.Errorf("got %d cache hits, want %d: the expired entry should have been evicted", got, want)
	}
}

func TestIssueToken(t *testing.T) {
	f := newFixture(t, nil)
	tok, err := f.k.IssueToken("320404")
	checkErr(t, err)

	// The partner verifies it with a keyring of its own that knows the
	// gateway's key.
	partner, err := keyring.New(keyring.Options{
		GatewayID:   "320404",
		Signer:      signing.NewSigner(f.keys["320404"], nil),
		SignerKeyID: "320404",
		Clock:       f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkErr(t, partner.AddKey(gatewayID, "gateway", f.gw.Public()))
	info, err := partner.VerifyToken(tok)
	checkErr(t, err)
	if got, want := info.Issuer, gatewayID; got != want {
		t.Errorf("got iss %q, want %q", got, want)
	}
	if got, want := info.KeyID, "gateway"; got != want {
		t.Errorf("got kid %q, want %q", got, want)
	}
	if got, want := info.Expires, start.Add(keyring.IssuedTokenTTL); !got.Equal(want) {
		t.Errorf("got exp %s, want %s", got, want)
	}
	if err := contracts.ValidateUUID(info.ID); err != nil || info.ID[14] != '7' {
		t.Errorf("got jti %q, want a UUIDv7", info.ID)
	}
	// Reused while fresh, renewed after half its lifetime.
	again, err := f.k.IssueToken("320404")
	checkErr(t, err)
	if again != tok {
		t.Error("a fresh token was not reused")
	}
	f.clock.Advance(keyring.IssuedTokenTTL/2 + time.Second)
	other, err := f.k.IssueToken("320404")
	checkErr(t, err)
	if otherInfo, _ := partner.VerifyToken(other); otherInfo.ID == info.ID {
		t.Errorf("got the same jti %q after half the lifetime", info.ID)
	}

	// Addressed to someone else, it does not verify at this partner.
	wrong, err := f.k.IssueToken("330702")
	checkErr(t, err)
	_, err = partner.VerifyToken(wrong)
	checkErr(t, err, signing.ErrTokenInvalid)

	_, err = f.k.IssueToken("")
	if err == nil {
		t.Error("got a token with no audience, want an error")
	}
}

func TestLoadPublicKeyFile(t *testing.T) {
	key := newKey(t)
	pemBytes, err := signing.MarshalPublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "320404.pub")
	bad := filepath.Join(dir, "bad.pub")
	for path, data := range map[string][]byte{good: pemBytes, bad: []byte("not a key")} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := keyring.LoadPublicKeyFile(good)
	checkErr(t, err)
	if !got.Equal(key.Public()) {
		t.Error("got another key than the one written")
	}
	_, err = keyring.LoadPublicKeyFile(bad)
	checkErr(t, err, signing.ErrNoPEM)
	_, err = keyring.LoadPublicKeyFile(filepath.Join(dir, "missing.pub"))
	checkErr(t, err, os.ErrNotExist)
}

// TestConcurrentUse registers and removes keys while bodies and tokens are
// verified; run with -race.
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, func(o *keyring.Options) { o.TokenCacheSize = 16 })
	const writers, keysPerWriter, readers, rounds = 2, 8, 4, 40
	newKeys := make([][]*signing.PrivateKey, writers)
	for w := range newKeys {
		for range keysPerWriter {
			newKeys[w] = append(newKeys[w], newKey(t))
		}
	}
	body := []byte(`{"exchange_id":"concurrent"}`)
	sig := f.sign(t, "320404", body)
	tok := f.token(t, "330702", nil)

	var wg sync.WaitGroup
	errs := make(chan error, writers*keysPerWriter*2+readers*rounds*2)
	for w := range writers {
		wg.Go(func() {
			for i, key := range newKeys[w] {
				caller, kid := fmt.Sprint("caller-", w), fmt.Sprintf("kid-%d-%d", w, i)
				if err := f.k.AddKey(caller, kid, key.Public()); err != nil {
					errs <- err
				}
				if i%2 == 1 {
					if err := f.k.RemoveKey(caller, kid); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for range rounds {
				if err := f.k.VerifyBody("320404", "320404", body, sig); err != nil {
					errs <- err
				}
				if _, err := f.k.VerifyToken(tok); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		for i, key := range newKeys[w] {
			caller, kid := fmt.Sprint("caller-", w), fmt.Sprintf("kid-%d-%d", w, i)
			sig, err := signing.Sign(signing.NewSigner(key, nil), nil, body)
			if err != nil {
				t.Fatal(err)
			}
			err = f.k.VerifyBody(caller, kid, body, sig)
			if i%2 == 1 {
				checkErr(t, err, keyring.ErrUnknownKey)
			} else {
				checkErr(t, err)
			}
		}
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"cold", -1}, {"cached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, func(o *keyring.Options) { o.TokenCacheSize = bc.size })
			tok := f.token(b, "320404", nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.k.VerifyToken(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyTokenCachedParallel(b *testing.B) {
	f := newFixture(b, nil)
	tok := f.token(b, "320404", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.k.VerifyToken(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyBody(b *testing.B) {
	f := newFixture(b, nil)
	body := make([]byte, 1024)
	sig := f.sign(b, "320404", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := f.k.VerifyBody("320404", "320404", body, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// TestErrorsWrapCoreSentinels: the HTTP layer maps errors through the
// gateway sentinels only.
func TestErrorsWrapCoreSentinels(t *testing.T) {
	if !errors.Is(keyring.ErrUnknownKey, gateway.ErrUnknownKey) || !errors.Is(keyring.ErrBadSignature, gateway.ErrBadSignature) {
		t.Fatal("keyring sentinels do not wrap the gateway ones")
	}
}
