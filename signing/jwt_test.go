package signing

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var tokenNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return tokenNow }

func issue(t *testing.T, s Signer, mod func(*TokenRequest)) string {
	t.Helper()
	req := TokenRequest{KeyID: "320404", Issuer: "320404", Subject: "window-320404", Audience: "tongban-demo", TTL: 5 * time.Minute, ID: "jti-1", Now: tokenNow}
	if mod != nil {
		mod(&req)
	}
	tok, err := IssueToken(s, req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenRoundTrip(t *testing.T) {
	key := newKey(t)
	lookup := func(kid, iss string) (*PublicKey, error) {
		if kid == "320404" && iss == "320404" {
			return key.Public(), nil
		}
		return nil, errors.New("unknown key")
	}
	forEachEngine(t, func(t *testing.T, e *Engine) {
		tok := issue(t, NewSigner(key, e), nil)
		vt, err := ParseToken(tok, lookup, TokenPolicy{Audience: "tongban-demo", Now: fixedClock})
		if err != nil {
			t.Fatal(err)
		}
		if vt.KeyID != "320404" || vt.Claims.Issuer != "320404" || vt.Claims.Subject != "window-320404" || vt.Claims.ID != "jti-1" {
			t.Fatalf("got %+v", vt)
		}
		// The raw signature is 64 bytes r ‖ s.
		parts := strings.Split(tok, ".")
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature: got %d bytes (%v), want 64", len(sig), err)
		}
		// Every engine verifies every engine's token.
		for _, v := range Engines() {
			if err := JWTMethod(v).Verify(parts[0]+"."+parts[1], sig, key.Public()); err != nil {
				t.Fatalf("%s verifying %s: %v", v.Name(), e.Name(), err)
			}
		}
	})
}

func TestTokenRejects(t *testing.T) {
	key, other := newKey(t), newKey(t)
	lookup := func(kid, iss string) (*PublicKey, error) {
		if kid == "320404" && iss == "320404" {
			return key.Public(), nil
		}
		return nil, errors.New("unknown key")
	}
	s := NewSigner(key, nil)
	good := issue(t, s, nil)
	parts := strings.Split(good, ".")

	hs256, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "320404", "aud": "tongban-demo", "exp": tokenNow.Add(time.Minute).Unix()}).SignedString([]byte("k"))
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"320404"}`))
	tamperedClaims := func() string {
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		m["sub"] = "someone-else"
		b, _ := json.Marshal(m)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}()

	tests := []struct {
		name   string
		token  string
		policy TokenPolicy
		want   error
	}{
		{"wrong audience", good, TokenPolicy{Audience: "other-gateway", Now: fixedClock}, ErrTokenInvalid},
		{"expired", good, TokenPolicy{Audience: "tongban-demo", Now: func() time.Time { return tokenNow.Add(6 * time.Minute) }}, ErrTokenExpired},
		{"lifetime over maximum", issue(t, s, func(r *TokenRequest) { r.TTL = time.Hour }), TokenPolicy{Audience: "tongban-demo", Now: fixedClock}, ErrTokenExpired},
		{"lifetime over custom maximum", good, TokenPolicy{Audience: "tongban-demo", MaxLifetime: time.Minute, Now: fixedClock}, ErrTokenExpired},
		{"issued in the future", issue(t, s, func(r *TokenRequest) { r.Now = tokenNow.Add(time.Hour) }), TokenPolicy{Audience: "tongban-demo", Now: fixedClock}, ErrTokenInvalid},
		{"unknown kid", issue(t, s, func(r *TokenRequest) { r.KeyID = "999999" }), TokenPolicy{Audience: "tongban-demo", Now: fixedClock}, ErrTokenInvalid},
		{"kid of another caller", issue(t, s, func(r *TokenRequest) { r.Issuer = "330702" }), TokenPolicy{Audience: "tongban-demo", Now: fixedClock}, ErrTokenInvalid},
		{"signed by another key", issue(t, NewSigner(other, nil), nil), TokenPolicy{Audience: "tongban-demo", Now: fixedClock}, ErrTokenInvalid},
		{"tampered claims", tamperedClaims, TokenPolicy{Audience: "tongban-demo", Now: fixedClock}, ErrTokenInvalid},
		{"alg HS256", hs256, TokenPolicy{Audience: "tongban-demo", Now: fixedClock}, ErrTokenInvalid},
		{"alg none", noneHdr + "." + parts[1] + ".", TokenPolicy{Audience: "tongban-demo", Now: fixedClock}, ErrTokenInvalid},
		{"garbage", "not.a.jwt", TokenPolicy{Audience: "tongban-demo", Now: fixedClock}, ErrTokenInvalid},
	}
	for _, tt := range tests {
		_, err := ParseToken(tt.token, lookup, tt.policy)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestIssueTokenRequiresClaims(t *testing.T) {
	s := NewSigner(newKey(t), nil)
	base := TokenRequest{KeyID: "k", Issuer: "i", Audience: "a", TTL: time.Minute, ID: "j"}
	mods := map[string]func(*TokenRequest){
		"kid": func(r *TokenRequest) { r.KeyID = "" },
		"iss": func(r *TokenRequest) { r.Issuer = "" },
		"aud": func(r *TokenRequest) { r.Audience = "" },
		"jti": func(r *TokenRequest) { r.ID = "" },
		"ttl": func(r *TokenRequest) { r.TTL = 0 },
	}
	for name, mod := range mods {
		req := base
		mod(&req)
		if _, err := IssueToken(s, req); err == nil {
			t.Errorf("missing %s: got a token", name)
		}
	}
}

// lookalikeMethod signs and verifies exactly as alg SM2 does (it takes the
// gateway's Signer and *PublicKey, and its signatures are SM2 r ‖ s) but
// registers under another alg name. A token made with it is well formed,
// names a registered alg and carries a signature that the caller's SM2 key
// verifies, so the only thing that can refuse it is ParseToken's alg
// allow-list.
type lookalikeMethod struct{ alg string }

func (m lookalikeMethod) Alg() string { return m.alg }

func (m lookalikeMethod) Sign(signingString string, key any) ([]byte, error) {
	return SigningMethodSM2.Sign(signingString, key)
}

func (m lookalikeMethod) Verify(signingString string, sig []byte, key any) error {
	return SigningMethodSM2.Verify(signingString, sig, key)
}

func TestTokenAlgAllowList(t *testing.T) {
	key := newKey(t)
	lookup := func(kid, iss string) (*PublicKey, error) {
		if kid == "320404" && iss == "320404" {
			return key.Public(), nil
		}
		return nil, errors.New("unknown key")
	}
	policy := TokenPolicy{Audience: "tongban-demo", Now: fixedClock}
	s := NewSigner(key, nil)
	claims := jwt.RegisteredClaims{
		Issuer:    "320404",
		Subject:   "window-320404",
		Audience:  jwt.ClaimStrings{"tongban-demo"},
		IssuedAt:  jwt.NewNumericDate(tokenNow),
		ExpiresAt: jwt.NewNumericDate(tokenNow.Add(5 * time.Minute)),
		ID:        "jti-1",
	}
	mint := func(m jwt.SigningMethod) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = "320404"
		out, err := tok.SignedString(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// Control: the same claims, key and kid under alg SM2 are accepted.
	if _, err := ParseToken(mint(SigningMethodSM2), lookup, policy); err != nil {
		t.Fatalf("alg SM2 control token refused: %v", err)
	}

	// "sm2" checks that the comparison is exact, not case-insensitive;
	// "ES256K" is a real alg name that golang-jwt does not register itself.
	for _, alg := range []string{"SM2X", "sm2", "ES256K"} {
		t.Run(alg, func(t *testing.T) {
			m := lookalikeMethod{alg: alg}
			jwt.RegisterSigningMethod(alg, func() jwt.SigningMethod { return m })
			tok := mint(m)

			// The token really is acceptable apart from its alg: a parser
			// with the same checks but no allow-list takes it.
			var got jwt.RegisteredClaims
			if _, err := jwt.NewParser(
				jwt.WithAudience(policy.Audience),
				jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(),
				jwt.WithTimeFunc(fixedClock),
			).ParseWithClaims(tok, &got, func(*jwt.Token) (any, error) { return key.Public(), nil }); err != nil {
				t.Fatalf("without an allow-list the %s token should verify (else this test proves nothing): %v", alg, err)
			}

			_, err := ParseToken(tok, lookup, policy)
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("ParseToken accepted alg %s: got %v, want %v", alg, err, ErrTokenInvalid)
			}
			if want := "signing method " + alg + " is invalid"; !strings.Contains(err.Error(), want) {
				t.Fatalf("alg %s refused for another reason: %v (want it to say %q)", alg, err, want)
			}
		})
	}
}
