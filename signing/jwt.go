package signing

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AlgSM2 is the JWS alg of Tongban's caller tokens: SM2 with SM3 and the
// default ID, signature as 64 bytes r ‖ s (like ES256).
const AlgSM2 = "SM2"

// jwtMethod implements jwt.SigningMethod for alg SM2 with one engine.
type jwtMethod struct{ engine *Engine }

// SigningMethodSM2 is the registered jwt.SigningMethod for alg "SM2"; it uses
// the Default engine. Sign takes a Signer (or a *PrivateKey); Verify takes a
// *PublicKey.
var SigningMethodSM2 jwt.SigningMethod = JWTMethod(nil)

func init() {
	jwt.RegisterSigningMethod(AlgSM2, func() jwt.SigningMethod { return SigningMethodSM2 })
}

// JWTMethod returns the SM2 JWT method bound to engine (Default when nil).
// Only SigningMethodSM2 is registered with the jwt package; this exists so
// tests and benchmarks can use each engine.
func JWTMethod(engine *Engine) jwt.SigningMethod {
	if engine == nil {
		engine = Default
	}
	return jwtMethod{engine: engine}
}

// Alg returns "SM2".
func (jwtMethod) Alg() string { return AlgSM2 }

// Sign returns the 64-byte r ‖ s signature of signingString.
func (m jwtMethod) Sign(signingString string, key any) ([]byte, error) {
	var s Signer
	switch k := key.(type) {
	case Signer:
		s = k
	case *PrivateKey:
		s = NewSigner(k, m.engine)
	default:
		return nil, fmt.Errorf("signing: jwt SM2 needs a signing.Signer or *signing.PrivateKey, got %T: %w", key, jwt.ErrInvalidKeyType)
	}
	der, err := Sign(s, m.engine, []byte(signingString))
	if err != nil {
		return nil, err
	}
	sig, err := ParseSignature(der)
	if err != nil {
		return nil, err
	}
	return sig.Raw(), nil
}

// Verify checks a 64-byte r ‖ s signature of signingString under a *PublicKey.
func (m jwtMethod) Verify(signingString string, sig []byte, key any) error {
	pub, ok := key.(*PublicKey)
	if !ok {
		return fmt.Errorf("signing: jwt SM2 needs a *signing.PublicKey, got %T: %w", key, jwt.ErrInvalidKeyType)
	}
	rs, err := ParseRawSignature(sig)
	if err != nil {
		return err
	}
	return m.engine.Verify(pub, []byte(signingString), rs.DER())
}

// TokenRequest describes a caller token to mint.
type TokenRequest struct {
	KeyID    string // header kid: the key id registered with the gateway
	Issuer   string // iss: the caller id
	Subject  string // sub: the operator or window acting, optional
	Audience string // aud: the gateway id
	TTL      time.Duration
	ID       string    // jti; required
	Now      time.Time // iat; zero means time.Now
}

// IssueToken mints a caller JWT signed with s.
func IssueToken(s Signer, req TokenRequest) (string, error) {
	switch {
	case req.KeyID == "":
		return "", errors.New("signing: token needs a key id (kid)")
	case req.Issuer == "":
		return "", errors.New("signing: token needs an issuer (iss)")
	case req.Audience == "":
		return "", errors.New("signing: token needs an audience (aud)")
	case req.ID == "":
		return "", errors.New("signing: token needs an id (jti)")
	case req.TTL <= 0:
		return "", errors.New("signing: token lifetime must be positive")
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	claims := jwt.RegisteredClaims{
		Issuer:    req.Issuer,
		Subject:   req.Subject,
		Audience:  jwt.ClaimStrings{req.Audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(req.TTL)),
		ID:        req.ID,
	}
	t := jwt.NewWithClaims(SigningMethodSM2, claims)
	t.Header["kid"] = req.KeyID
	return t.SignedString(s)
}

// Token errors; ParseToken wraps one of them.
var (
	// ErrTokenExpired means the token is past exp, or its lifetime exceeds the maximum.
	ErrTokenExpired = errors.New("signing: token expired")
	// ErrTokenInvalid means anything else is wrong with the token.
	ErrTokenInvalid = errors.New("signing: token invalid")
)

// VerifiedToken is what a verified caller token says.
type VerifiedToken struct {
	KeyID  string
	Claims jwt.RegisteredClaims
}

// TokenPolicy says what ParseToken accepts.
type TokenPolicy struct {
	// Audience is the gateway id the token must name.
	Audience string
	// MaxLifetime bounds exp − iat; zero means 10 minutes.
	MaxLifetime time.Duration
	// Leeway tolerates clock skew on exp, iat and nbf.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// KeyLookup returns the public key registered under kid for the caller iss,
// or an error when there is none.
type KeyLookup func(kid, iss string) (*PublicKey, error)

// ParseToken verifies a caller token: alg must be SM2 (no other alg is
// accepted), kid must resolve through keys, the signature must verify, aud
// must name the gateway, exp, iat, iss and jti must be present, and the
// lifetime must not exceed the policy's maximum. Errors wrap ErrTokenExpired
// or ErrTokenInvalid.
func ParseToken(token string, keys KeyLookup, p TokenPolicy) (*VerifiedToken, error) {
	maxLife := p.MaxLifetime
	if maxLife <= 0 {
		maxLife = 10 * time.Minute
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	var kid string
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{AlgSM2}),
		jwt.WithAudience(p.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(p.Leeway),
		jwt.WithTimeFunc(now),
	)
	var claims jwt.RegisteredClaims
	_, err := parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		k, _ := t.Header["kid"].(string)
		if k == "" {
			return nil, errors.New("no kid in header")
		}
		kid = k
		iss, _ := t.Claims.GetIssuer()
		if iss == "" {
			return nil, errors.New("no iss claim")
		}
		return keys(k, iss)
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: %v", ErrTokenExpired, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	if claims.ID == "" {
		return nil, fmt.Errorf("%w: no jti claim", ErrTokenInvalid)
	}
	if claims.IssuedAt == nil {
		return nil, fmt.Errorf("%w: no iat claim", ErrTokenInvalid)
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > maxLife {
		return nil, fmt.Errorf("%w: lifetime exceeds %s", ErrTokenExpired, maxLife)
	}
	return &VerifiedToken{KeyID: kid, Claims: claims}, nil
}
