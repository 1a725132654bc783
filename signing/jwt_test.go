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
