package httpapi_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/signing"
)

// hostileMaxBody is the body bound of the hostile suite's gateway: large
// enough for every contract body it sends, small enough to cross cheaply.
const hostileMaxBody = 64 << 10

// hostile is one input the gateway must refuse at its edge.
type hostile struct {
	class, name string
	// needCase: the environment gets one case (zhonglou → wucheng) first;
	// its id is passed to req.
	needCase bool
	req      func(e *env, caseID string) *http.Request
	status   int
	code     contracts.Code
	// native: the refusal is rendered by the caller's translator (TB1:
	// "ERROR <code> <message>"), not as the JSON error.
	native bool
	// msg, when set, must be in the refusal's message.
	msg string
	// denial is the actor of the access.denied record the refusal must
	// leave ("anonymous" when no token verified); "" means the refusal is
	// not a denial and leaves no evidence at all.
	denial string
}

// signedReq builds a POST of body to path signed and authenticated as
// caller, the way a well-behaved caller sends it.
func signedReq(e *env, caller, path string, body []byte) *http.Request {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.tokenFor(caller))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpapi.HeaderSignature, e.sign(caller, body))
	req.Header.Set(httpapi.HeaderKeyID, caller)
	return req
}

// getReq builds an authenticated GET of the raw path (escapes kept).
func getReq(e *env, caller, rawPath string) *http.Request {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodGet, e.srv.URL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := url.Parse(e.srv.URL + rawPath)
	if err != nil {
		e.t.Fatalf("%s: %v", rawPath, err)
	}
	req.URL = u
	if caller != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokenFor(caller))
	}
	return req
}

// mutated returns the golden submission (fresh exchange_id) with old
// replaced by new once; the test fails if old is not there.
func mutated(t *testing.T, old, new string) []byte {
	t.Helper()
	b := submission(t)
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("golden submission lacks %q", old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// submit is a hostile submission signed correctly by zhonglou.
func submit(body func(t *testing.T) []byte) func(e *env, _ string) *http.Request {
	return func(e *env, _ string) *http.Request { return signedReq(e, zhonglou, "/v1/cases", body(e.t)) }
}

// sub is submit of the golden submission with one replacement.
func sub(old, new string) func(e *env, _ string) *http.Request {
	return submit(func(t *testing.T) []byte { return mutated(t, old, new) })
}

// report is a status update of the case by its owner, wucheng, with one
// replacement in its JSON.
func report(state contracts.CaseState, old, new string) func(e *env, caseID string) *http.Request {
	return func(e *env, caseID string) *http.Request {
		b := statusUpdate(e.t, caseID, state)
		if state == contracts.CaseStateCorrectionRequired {
			b = bytes.Replace(b, []byte(`"state"`), []byte(`"reason":"材料不全","correction_items":["补正"],"state"`), 1)
		}
		if !bytes.Contains(b, []byte(old)) {
			e.t.Fatalf("status update %s lacks %q", b, old)
		}
		return signedReq(e, wucheng, "/v1/cases/"+caseID+"/status", bytes.Replace(b, []byte(old), []byte(new), 1))
	}
}

// withHeader sends a good submission with one header changed ("" removes it).
func withHeader(name, value string) func(e *env, _ string) *http.Request {
	return func(e *env, _ string) *http.Request {
		req := signedReq(e, zhonglou, "/v1/cases", submission(e.t))
		if value == "" {
			req.Header.Del(name)
		} else {
			req.Header.Set(name, value)
		}
		return req
	}
}

// withToken sends a good submission under the token tok(e).
func withToken(tok func(e *env) string) func(e *env, _ string) *http.Request {
	return withTokenOn(http.MethodPost, "/v1/cases", tok)
}

func withTokenOn(method, path string, tok func(e *env) string) func(e *env, _ string) *http.Request {
	return func(e *env, _ string) *http.Request {
		req := signedReq(e, zhonglou, path, submission(e.t))
		req.Method = method
		req.Header.Set("Authorization", "Bearer "+tok(e))
		return req
	}
}

// foreignJWT signs zhonglou's claims with another algorithm and key.
func foreignJWT(m jwt.SigningMethod, key func(e *env) any) func(e *env) string {
	return func(e *env) string {
		now := e.Now()
		tk := jwt.NewWithClaims(m, jwt.MapClaims{
			"iss": zhonglou, "aud": gatewayID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": newUUID(e.t),
		})
		tk.Header["kid"] = zhonglou
		s, err := tk.SignedString(key(e))
		if err != nil {
			e.t.Fatalf("sign %s token: %v", m.Alg(), err)
		}
		return s
	}
}

// minted is a token by zhonglou's key from req (kid, iss, aud filled in
// when empty).
func minted(mod func(e *env, r *signing.TokenRequest)) func(e *env) string {
	return func(e *env) string {
		r := signing.TokenRequest{KeyID: zhonglou, Issuer: zhonglou, Audience: gatewayID, TTL: 5 * time.Minute, Now: e.Now()}
		mod(e, &r)
		return e.mint(e.keys[zhonglou], r)
	}
}

func withSignature(sig func(e *env, body []byte) string, kid string) func(e *env, _ string) *http.Request {
	return func(e *env, _ string) *http.Request {
		body := submission(e.t)
		req := signedReq(e, zhonglou, "/v1/cases", body)
		req.Header.Set(httpapi.HeaderSignature, sig(e, body))
		req.Header.Set(httpapi.HeaderKeyID, kid)
		return req
	}
}

func hostileInputs(t *testing.T) []hostile {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	deepForm := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	veryDeep := strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000)
	const (
		s400, s401, s403, s404, s413, s415 = 400, 401, 403, 404, 413, 415
		anon                               = "anonymous"
	)
	bad, vf, br, nf := contracts.CodeInvalidJSON, contracts.CodeValidationFailed, contracts.CodeBadRequest, contracts.CodeNotFound
	return []hostile{
		// Ambiguous JSON.
		{class: "duplicate keys", name: "top level", req: sub(`"to_region": "330702",`, `"to_region": "330702", "to_region": "371523",`), status: s400, code: bad},
		{class: "duplicate keys", name: "nested", req: sub(`"name": "个体工商户设立登记",`, `"name": "个体工商户设立登记", "name": "另一事项",`), status: s400, code: bad},
		{class: "duplicate keys", name: "inside the form", req: sub(`"employees": 2,`, `"employees": 2, "employees": 200,`), status: s400, code: bad},
		{class: "duplicate keys", name: "inside a material", req: sub(`"material_id": "M02",`, `"material_id": "M02", "material_id": "M01",`), status: s400, code: bad},
		{class: "duplicate keys", name: "status update", needCase: true, req: report(contracts.CaseStateAccepted, `"state":`, `"state":"rejected","state":`), status: s400, code: bad},
		{class: "case-folded keys", name: "upper-case top-level key", req: sub(`"to_region"`, `"TO_REGION"`), status: s400, code: bad},
		{class: "case-folded keys", name: "beside the exact key", req: sub(`"remark":`, `"Remark": "x", "remark":`), status: s400, code: bad},
		{class: "case-folded keys", name: "nested", req: sub(`"id_number"`, `"Id_Number"`), status: s400, code: bad},
		{class: "case-folded keys", name: "long s (U+017F) folds to s", req: sub(`"materials"`, "\"material\u017f\""), status: s400, code: bad},
		{class: "case-folded keys", name: "long s in a status update's state", needCase: true, req: report(contracts.CaseStateAccepted, `"state"`, "\"\u017ftate\""), status: s400, code: bad},
		{class: "invalid UTF-8", name: "raw 0xFF in a name", req: sub("王秀英", "王\xff英"), status: s400, code: bad},
		{class: "invalid UTF-8", name: "overlong encoding of /", req: sub("钟楼区政务", "\xc0\xaf"), status: s400, code: bad},
		{class: "invalid UTF-8", name: "truncated multibyte sequence", req: sub("王秀英", "王\xe7英"), status: s400, code: bad},
		{class: "invalid UTF-8", name: "lone high surrogate escape", req: sub(`"remark": "`, `"remark": "\ud83d`), status: s400, code: bad},
		{class: "invalid UTF-8", name: "lone low surrogate escape", req: sub(`"remark": "`, `"remark": "\udc00`), status: s400, code: bad},
		{class: "invalid UTF-8", name: "UTF-8 byte order mark", req: submit(func(t *testing.T) []byte { return append([]byte("\xef\xbb\xbf"), submission(t)...) }), status: s400, code: bad},
		{class: "invalid UTF-8", name: "native call", native: true, req: func(e *env, _ string) *http.Request {
			req := signedReq(e, chiping, "/v1/inbound/371523/case", []byte("TB1 \xff\xfe"))
			req.Header.Set("Content-Type", "text/plain; charset=utf-8")
			return req
		}, status: s400, code: bad, msg: "not valid UTF-8"},
		{class: "invalid UTF-8", name: "UTF-16 body", req: submit(func(t *testing.T) []byte {
			b := submission(t)
			out := []byte{0xff, 0xfe}
			for _, c := range b[:64] {
				out = append(out, c, 0)
			}
			return out
		}), status: s400, code: bad},
		// Control characters and blank text.
		{class: "control characters", name: "NUL in window_id", req: sub(`"window_id": "window-320404"`, `"window_id": "window\u0000-320404"`), status: s400, code: vf},
		{class: "control characters", name: "ESC in the applicant's name", req: sub(`"name": "王秀英"`, `"name": "王\u001b[2J秀英"`), status: s400, code: vf},
		{class: "control characters", name: "newline in a material id", req: sub(`"material_id": "M01"`, `"material_id": "M01\nM02"`), status: s400, code: vf},
		{class: "control characters", name: "C1 NEL in the service name", req: sub(`"name": "个体工商户设立登记"`, `"name": "个体工商户设立登记\u0085"`), status: s400, code: vf},
		{class: "control characters", name: "BEL in the remark", req: sub(`"remark": "`, `"remark": "\u0007`), status: s400, code: vf},
		{class: "control characters", name: "NUL in an owner's reason", needCase: true, req: report(contracts.CaseStateCorrectionRequired, `"reason":"材料不全"`, `"reason":"材料\u0000不全"`), status: s400, code: vf},
		{class: "whitespace-only fields", name: "service_item.name", req: sub(`"name": "个体工商户设立登记"`, `"name": "   "`), status: s400, code: vf},
		{class: "whitespace-only fields", name: "window.operator_id ideographic space", req: sub(`"operator_id": "zl-0231"`, `"operator_id": "\u3000"`), status: s400, code: vf},
		{class: "whitespace-only fields", name: "post address of newlines", req: sub(`"address": "江苏省常州市钟楼区南大街街道延陵西路88号3幢201室"`, `"address": "\n\r\n"`), status: s400, code: vf},
		{class: "whitespace-only fields", name: "correction item", needCase: true, req: report(contracts.CaseStateCorrectionRequired, `"correction_items":["补正"]`, `"correction_items":["\t "]`), status: s400, code: vf},
		{class: "material URLs", name: "file URL", req: sub(`"url": "https://`, `"url": "file:///etc/passwd#https://`), status: s400, code: vf},
		{class: "material URLs", name: "http URL (not allowed by default)", req: sub(`"url": "https://`, `"url": "http://`), status: s400, code: vf},
		{class: "material URLs", name: "gopher URL", req: sub(`"url": "https://zwfw.zhonglou.example.gov.cn/materials/ZL-KSTB-20250314-0017/M02.jpg"`, `"url": "gopher://127.0.0.1:6379/_FLUSHALL"`), status: s400, code: vf},
		// Size and shape.
		{class: "oversize and deep bodies", name: "Content-Length over the bound", req: submit(func(t *testing.T) []byte {
			return append(submission(t), bytes.Repeat([]byte(" "), hostileMaxBody)...)
		}), status: s413, code: contracts.CodeBodyTooLarge},
		{class: "oversize and deep bodies", name: "chunked over the bound", req: func(e *env, _ string) *http.Request {
			body := append(submission(e.t), bytes.Repeat([]byte(" "), hostileMaxBody)...)
			req := signedReq(e, zhonglou, "/v1/cases", body)
			req.Body, req.ContentLength, req.TransferEncoding = struct{ readCloser }{readCloser{bytes.NewReader(body)}}, -1, []string{"chunked"}
			req.GetBody = nil
			return req
		}, status: s413, code: contracts.CodeBodyTooLarge},
		{class: "oversize and deep bodies", name: "form nested 100 deep", req: sub(`"employees": 2,`, `"employees": 2, "nest": `+deepForm+`,`), status: s400, code: bad},
		{class: "oversize and deep bodies", name: "array nested 20000 deep", req: submit(func(*testing.T) []byte { return []byte(veryDeep) }), status: s400, code: bad},
		{class: "truncated bodies", name: "cut in the middle", req: submit(func(t *testing.T) []byte { b := submission(t); return b[:bytes.Index(b, []byte(`"materials"`))] }), status: s400, code: bad},
		{class: "truncated bodies", name: "empty", req: submit(func(*testing.T) []byte { return nil }), status: s400, code: bad},
		{class: "truncated bodies", name: "trailing second value", req: submit(func(t *testing.T) []byte { return append(submission(t), `{}`...) }), status: s400, code: bad},
		// Media type and coding.
		{class: "content type and encoding", name: "text/plain", req: withHeader("Content-Type", "text/plain"), status: s415, code: contracts.CodeUnsupportedMedia},
		{class: "content type and encoding", name: "no Content-Type", req: withHeader("Content-Type", ""), status: s415, code: contracts.CodeUnsupportedMedia},
		{class: "content type and encoding", name: "charset latin1", req: withHeader("Content-Type", "application/json; charset=latin1"), status: s415, code: contracts.CodeUnsupportedMedia},
		{class: "content type and encoding", name: "charset utf-16", req: withHeader("Content-Type", "application/json; charset=utf-16"), status: s415, code: contracts.CodeUnsupportedMedia},
		{class: "content type and encoding", name: "Content-Encoding gzip", req: withHeader("Content-Encoding", "gzip"), status: s415, code: contracts.CodeUnsupportedMedia},
		{class: "content type and encoding", name: "Content-Encoding deflate", req: withHeader("Content-Encoding", "deflate"), status: s415, code: contracts.CodeUnsupportedMedia},
		{class: "content type and encoding", name: "multipart", req: withHeader("Content-Type", "multipart/form-data; boundary=x"), status: s415, code: contracts.CodeUnsupportedMedia},
		// Body signatures.
		{class: "signatures", name: "no signature", req: withHeader(httpapi.HeaderSignature, ""), status: s401, code: contracts.CodeBadSignature, denial: zhonglou},
		{class: "signatures", name: "not base64", req: withHeader(httpapi.HeaderSignature, "%%%not-base64%%%"), status: s401, code: contracts.CodeBadSignature, denial: zhonglou},
		{class: "signatures", name: "raw r||s, not DER", req: withSignature(func(e *env, _ []byte) string {
			b := make([]byte, 64)
			_, _ = rand.Read(b)
			return base64.StdEncoding.EncodeToString(b)
		}, zhonglou), status: s401, code: contracts.CodeBadSignature, denial: zhonglou},
		{class: "signatures", name: "DER with a trailing byte", req: withSignature(func(e *env, body []byte) string {
			sig, _ := base64.StdEncoding.DecodeString(e.sign(zhonglou, body))
			return base64.StdEncoding.EncodeToString(append(sig, 0))
		}, zhonglou), status: s401, code: contracts.CodeBadSignature, denial: zhonglou},
		{class: "signatures", name: "another caller's key under the caller's key id", req: withSignature(func(e *env, body []byte) string { return e.sign(wucheng, body) }, zhonglou), status: s401, code: contracts.CodeBadSignature, denial: zhonglou},
		{class: "signatures", name: "another caller's key id", req: withSignature(func(e *env, body []byte) string { return e.sign(wucheng, body) }, wucheng), status: s401, code: contracts.CodeUnknownKey, denial: zhonglou},
		{class: "signatures", name: "signature over other bytes", req: withSignature(func(e *env, body []byte) string { return e.sign(zhonglou, append(body, ' ')) }, zhonglou), status: s401, code: contracts.CodeBadSignature, denial: zhonglou},
		// Bearer tokens.
		{class: "tokens", name: "alg none", req: withToken(foreignJWT(jwt.SigningMethodNone, func(*env) any { return jwt.UnsafeAllowNoneSignatureType })), status: s401, code: contracts.CodeUnauthenticated, denial: anon},
		{class: "tokens", name: "HS256 keyed with the caller's public key", req: withToken(foreignJWT(jwt.SigningMethodHS256, func(e *env) any {
			der, err := signing.MarshalPublicKeyPEM(e.keys[zhonglou].Public())
			if err != nil {
				e.t.Fatal(err)
			}
			return der
		})), status: s401, code: contracts.CodeUnauthenticated, denial: anon},
		{class: "tokens", name: "RS256", req: withToken(foreignJWT(jwt.SigningMethodRS256, func(*env) any { return rsaKey })), status: s401, code: contracts.CodeUnauthenticated, denial: anon},
		{class: "tokens", name: "ES256", req: withToken(foreignJWT(jwt.SigningMethodES256, func(*env) any { return ecKey })), status: s401, code: contracts.CodeUnauthenticated, denial: anon},
		{class: "tokens", name: "expired", req: withToken(minted(func(e *env, r *signing.TokenRequest) { r.Now = e.Now().Add(-time.Hour) })), status: s401, code: contracts.CodeTokenExpired, denial: anon},
		{class: "tokens", name: "not yet valid (iat in the future)", req: withToken(minted(func(e *env, r *signing.TokenRequest) { r.Now = e.Now().Add(time.Hour) })), status: s401, code: contracts.CodeUnauthenticated, denial: anon},
		{class: "tokens", name: "lifetime over the maximum", req: withToken(minted(func(e *env, r *signing.TokenRequest) { r.TTL = 24 * time.Hour })), status: s401, code: contracts.CodeTokenExpired, denial: anon},
		{class: "tokens", name: "over-long token (32 KiB)", req: withToken(func(e *env) string { return strings.Repeat("A", 32<<10) + "." + "B" + "." + "C" }), status: s401, code: contracts.CodeUnauthenticated, denial: anon},
		{class: "tokens", name: "wrong audience", req: withToken(minted(func(e *env, r *signing.TokenRequest) { r.Audience = "another-gateway" })), status: s401, code: contracts.CodeUnauthenticated, denial: anon},
		{class: "tokens", name: "unknown key id", req: withToken(minted(func(e *env, r *signing.TokenRequest) { r.KeyID = "no-such-kid" })), status: s401, code: contracts.CodeUnknownKey, denial: anon},
		{class: "tokens", name: "issuer not in the directory", req: withToken(func(e *env) string { return e.tokenFor(stranger) }), status: s401, code: contracts.CodeUnauthenticated, denial: anon},
		{class: "tokens", name: "token on a GET", req: withTokenOn(http.MethodGet, "/v1/admin/deliveries", foreignJWT(jwt.SigningMethodHS256, func(*env) any { return []byte("guess") })), status: s401, code: contracts.CodeUnauthenticated, denial: anon},
		// Authorization.
		{class: "region claims", name: "sender claims the owner's region", req: sub(`"from_region": "320404"`, `"from_region": "371523"`), status: s403, code: contracts.CodeForbidden, denial: zhonglou},
		{class: "region claims", name: "window submits a case", req: func(e *env, _ string) *http.Request { return signedReq(e, window, "/v1/cases", submission(e.t)) }, status: s403, code: contracts.CodeForbidden, denial: window},
		{class: "region claims", name: "partner reports on a case it does not own", needCase: true, req: func(e *env, caseID string) *http.Request {
			return signedReq(e, chiping, "/v1/cases/"+caseID+"/status", statusUpdate(e.t, caseID, contracts.CaseStateAccepted))
		}, status: s404, code: nf, denial: chiping}, // a cross-tenant probe: 404, and recorded
		{class: "region claims", name: "sender reports on its own case", needCase: true, req: func(e *env, caseID string) *http.Request {
			return signedReq(e, zhonglou, "/v1/cases/"+caseID+"/status", statusUpdate(e.t, caseID, contracts.CaseStateAccepted))
		}, status: s403, code: contracts.CodeForbidden, denial: zhonglou},
		// Identifiers in paths.
		{class: "path identifiers", name: "dot-dot in case id", req: func(e *env, _ string) *http.Request { return getReq(e, zhonglou, "/v1/cases/..%2F..%2Fetc%2Fpasswd") }, status: s404, code: nf},
		{class: "path identifiers", name: "literal dot-dot segments", req: func(e *env, _ string) *http.Request { return getReq(e, zhonglou, "/v1/cases/../../etc/passwd") }, status: s404, code: nf},
		{class: "path identifiers", name: "NUL in case id", req: func(e *env, _ string) *http.Request { return getReq(e, zhonglou, "/v1/cases/%00") }, status: s404, code: nf},
		{class: "path identifiers", name: "newline in a trace's case id", req: func(e *env, _ string) *http.Request { return getReq(e, auditor, "/v1/audit/cases/x%0Ay/trace") }, status: s400, code: vf},
		{class: "path identifiers", name: "dot-dot in an export's case id", req: func(e *env, _ string) *http.Request {
			return getReq(e, auditor, "/v1/audit/cases/..%2F..%2Fgateway.db/export")
		}, status: s400, code: vf},
		{class: "path identifiers", name: "control character in a status report's case id", needCase: true, req: func(e *env, caseID string) *http.Request {
			b := statusUpdate(e.t, caseID, contracts.CaseStateAccepted)
			req := signedReq(e, wucheng, "/v1/cases/"+caseID+"/status", b)
			req.URL.Path, req.URL.RawPath = "/v1/cases/"+caseID+"\x01/status", "/v1/cases/"+caseID+"%01/status"
			return req
		}, status: s400, code: vf},
		{class: "path identifiers", name: "other partner's inbound route", req: func(e *env, _ string) *http.Request {
			return signedReq(e, chiping, "/v1/inbound/..%2F"+zhonglou, submission(e.t))
		}, status: s403, code: contracts.CodeForbidden, denial: chiping},
		{class: "path identifiers", name: "dot-dot in a delivery id", req: func(e *env, _ string) *http.Request {
			req := signedReq(e, operator, "/v1/admin/deliveries/..%2F..%2F/redeliver", nil)
			return req
		}, status: s404, code: nf},
		// Audit search filters.
		{class: "SQL in audit filters", name: "case_id quote-or", req: func(e *env, _ string) *http.Request {
			return getReq(e, auditor, "/v1/audit/exchanges?case_id="+url.QueryEscape("' OR '1'='1"))
		}, status: s400, code: vf},
		{class: "SQL in audit filters", name: "partner stacked query", req: func(e *env, _ string) *http.Request {
			return getReq(e, auditor, "/v1/audit/exchanges?partner="+url.QueryEscape("x'; DROP TABLE cases; --"))
		}, status: s400, code: vf},
		{class: "SQL in audit filters", name: "region union", req: func(e *env, _ string) *http.Request {
			return getReq(e, auditor, "/v1/audit/exchanges?region="+url.QueryEscape("320404 UNION SELECT * FROM evidence"))
		}, status: s400, code: contracts.CodeInvalidRegion},
		{class: "SQL in audit filters", name: "kind comment", req: func(e *env, _ string) *http.Request {
			return getReq(e, auditor, "/v1/audit/exchanges?kind="+url.QueryEscape("case'--"))
		}, status: s400, code: vf},
		{class: "SQL in audit filters", name: "cursor expression", req: func(e *env, _ string) *http.Request {
			return getReq(e, auditor, "/v1/audit/exchanges?cursor="+url.QueryEscape("1 OR 1=1"))
		}, status: s400, code: vf},
		{class: "SQL in audit filters", name: "limit expression", req: func(e *env, _ string) *http.Request {
			return getReq(e, auditor, "/v1/audit/exchanges?limit="+url.QueryEscape("1;--"))
		}, status: s400, code: br},
		{class: "SQL in audit filters", name: "exchange_id wildcard", req: func(e *env, _ string) *http.Request {
			return getReq(e, auditor, "/v1/audit/exchanges?exchange_id="+url.QueryEscape("%"))
		}, status: s400, code: vf},
		{class: "SQL in audit filters", name: "usage caller quote", req: func(e *env, _ string) *http.Request {
			return getReq(e, auditor, "/v1/licenses/usage?caller="+url.QueryEscape("' OR 1=1 --"))
		}, status: s400, code: br},
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestHostileInputs sends every hostile input to a gateway of its own on
// loopback and checks that it is refused with its documented code, that
// nothing is stored (no exchange, so no case; no evidence but the denial),
// and that a denial leaves exactly one access.denied record naming the
// actor and the code.
func TestHostileInputs(t *testing.T) {
	t.Parallel()
	inputs := hostileInputs(t)
	classes := map[string]int{}
	for _, h := range inputs {
		classes[h.class]++
		t.Run(h.class+"/"+h.name, func(t *testing.T) {
			e := newEnv(t, func(o *httpapi.Options) { o.MaxBody = hostileMaxBody })
			caseID := ""
			if h.needCase {
				caseID = e.newCase().CaseID
			}
			exchanges, head := storeMarks(t, e)
			r := e.send(h.req(e, caseID))
			if h.native {
				wantNativeError(t, r, h.status, h.code)
			} else {
				wantError(t, r, h.status, h.code)
			}
			if !bytes.Contains(r.body, []byte(h.msg)) {
				t.Errorf("refusal %s does not say %q", r.body, h.msg)
			}
			if got, _ := storeMarks(t, e); got != exchanges {
				t.Errorf("exchanges: %d after the request, %d before: something was stored", got, exchanges)
			}
			recs := evidenceAfter(t, e, head)
			if h.denial == "" {
				if len(recs) != 0 {
					t.Errorf("evidence: %d records written, want none: %+v", len(recs), recs)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("evidence: %d records written, want the one access.denied: %+v", len(recs), recs)
			}
			var d contracts.EvidenceDetail
			if err := json.Unmarshal(recs[0].Detail, &d); err != nil {
				t.Fatal(err)
			}
			if recs[0].Event != contracts.EventAccessDenied || recs[0].Actor != h.denial || d.Code != h.code {
				t.Errorf("evidence: %s by %s (%s), want access.denied by %s (%s)", recs[0].Event, recs[0].Actor, d.Code, h.denial, h.code)
			}
		})
	}
	t.Logf("hostile inputs tried: %d in %d classes", len(inputs), len(classes))
}

// storeMarks returns how many exchanges the store holds and the evidence
// log's head.
func storeMarks(t *testing.T, e *env) (exchanges int, head int64) {
	t.Helper()
	found, _, err := e.store.SearchExchanges(t.Context(), gateway.ExchangeQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	head, _, err = e.store.EvidenceHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return len(found), head
}

// evidenceAfter returns the records after seq after.
func evidenceAfter(t *testing.T, e *env, after int64) []contracts.EvidenceRecord {
	t.Helper()
	var recs []contracts.EvidenceRecord
	if err := e.store.ScanEvidence(t.Context(), after+1, 0, func(r gateway.EvidenceRow) error {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(r.Record, &rec); err != nil {
			return err
		}
		recs = append(recs, rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}
