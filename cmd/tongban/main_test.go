package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tongban/tongban/signing"
)

// bin is the tongban binary built once for the command tests.
var bin string

// testVersion is the version the tests stamp into bin.
const testVersion = "v0.0.0-test"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tongban-bin")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "tongban")
	// Built as the Makefile builds it: the version stamped with -ldflags.
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", bin, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// run executes the binary (or another program when name is not "") in dir.
func runIn(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	if name == "" {
		name = bin
	} else if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is required by this test: %v", name, err)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return r
}

func must(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

func TestHelpOnEveryCommand(t *testing.T) {
	dir := t.TempDir()
	for _, c := range newRootCmd().Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		r := must(t, runIn(t, dir, "", c.Name(), "--help"))
		want := c.Short // cobra shows Long instead when there is one
		if c.Long != "" {
			want = strings.SplitN(c.Long, "\n", 2)[0]
		}
		if !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, want) {
			t.Errorf("%s --help: got %q, want usage and %q", c.Name(), r.stdout, want)
		}
	}
}

func TestKeygenWritesOpenSSLKeysAndRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	must(t, runIn(t, dir, "", "keygen", "--out", "k"))
	info, err := os.Stat(filepath.Join(dir, "k.key"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("k.key mode: got %o, want 600", perm)
	}
	derived := must(t, runIn(t, dir, "openssl", "pkey", "-in", "k.key", "-pubout")).stdout
	pub, _ := os.ReadFile(filepath.Join(dir, "k.pub"))
	if derived != string(pub) {
		t.Fatalf("openssl derived\n%s\nwant k.pub\n%s", derived, pub)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "k.key"))
	r := runIn(t, dir, "", "keygen", "--out", "k")
	if r.code == 0 || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Fatalf("second keygen: got exit %d, stderr %q; want refusal", r.code, r.stderr)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "k.key"))
	if !bytes.Equal(before, after) {
		t.Fatal("keygen changed an existing key")
	}

	// An encrypted key needs its password to sign.
	os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600)
	must(t, runIn(t, dir, "", "keygen", "--out", "enc", "--password-file", "pw"))
	must(t, runIn(t, dir, "openssl", "pkey", "-in", "enc.key", "-passin", "pass:s3cret", "-noout"))
	os.WriteFile(filepath.Join(dir, "body"), []byte("x"), 0o600)
	if r := runIn(t, dir, "", "sign", "--key", "enc.key", "body"); r.code == 0 || !strings.Contains(r.stderr, "--password-file") {
		t.Fatalf("sign with encrypted key and no password: exit %d, %q", r.code, r.stderr)
	}
	must(t, runIn(t, dir, "", "sign", "--key", "enc.key", "--password-file", "pw", "body"))
}

func TestSignAndVerifyInteropWithOpenSSL(t *testing.T) {
	for _, engine := range signing.EngineNames() {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			must(t, runIn(t, dir, "", "keygen", "--out", "k"))
			body := []byte(`{"exchange_id":"0193a5b0-0000-7000-8000-000000000001","to_region":"330702"}`)
			os.WriteFile(filepath.Join(dir, "body"), body, 0o600)
			changed := append([]byte(nil), body...)
			changed[5] ^= 1
			os.WriteFile(filepath.Join(dir, "changed"), changed, 0o600)

			// tongban sign → openssl verify.
			sigB64 := strings.TrimSpace(must(t, runIn(t, dir, "", "--engine", engine, "sign", "--key", "k.key", "body")).stdout)
			der, err := base64.StdEncoding.DecodeString(sigB64)
			if err != nil {
				t.Fatalf("sign output is not standard base64: %q", sigB64)
			}
			os.WriteFile(filepath.Join(dir, "sig.der"), der, 0o600)
			osVerify := func(in string) result {
				return runIn(t, dir, "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "k.pub", "-rawin", "-digest", "sm3",
					"-in", in, "-sigfile", "sig.der", "-pkeyopt", "distid:1234567812345678")
			}
			if r := osVerify("body"); r.code != 0 || !strings.Contains(r.stdout, "Signature Verified Successfully") {
				t.Fatalf("openssl rejected tongban's signature: %+v", r)
			}
			if r := osVerify("changed"); r.code == 0 {
				t.Fatal("openssl accepted tongban's signature over changed bytes")
			}

			// openssl sign → tongban verify.
			must(t, runIn(t, dir, "openssl", "pkeyutl", "-sign", "-inkey", "k.key", "-rawin", "-digest", "sm3",
				"-in", "body", "-out", "os.der", "-pkeyopt", "distid:1234567812345678"))
			osDER, _ := os.ReadFile(filepath.Join(dir, "os.der"))
			osB64 := base64.StdEncoding.EncodeToString(osDER)
			if r := must(t, runIn(t, dir, "", "--engine", engine, "verify", "--pub", "k.pub", "--sig", osB64, "body")); r.stdout != "valid\n" {
				t.Fatalf("verify: got %q, want valid", r.stdout)
			}
			r := runIn(t, dir, "", "--engine", engine, "verify", "--pub", "k.pub", "--sig", osB64, "changed")
			if r.code != 1 || !strings.Contains(r.stderr, "does not match") {
				t.Fatalf("verify changed bytes: got exit %d %q, want 1 and a reason", r.code, r.stderr)
			}
		})
	}
}

func TestVerifyExitCodes(t *testing.T) {
	dir := t.TempDir()
	must(t, runIn(t, dir, "", "keygen", "--out", "k"))
	os.WriteFile(filepath.Join(dir, "body"), []byte("b"), 0o600)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"not base64", []string{"verify", "--pub", "k.pub", "--sig", "!!", "body"}, 1, "base64"},
		{"not DER", []string{"verify", "--pub", "k.pub", "--sig", "AAAA", "body"}, 1, "DER"},
		{"missing file", []string{"verify", "--pub", "k.pub", "--sig", "AAAA", "nope"}, 2, "nope"},
		{"missing key", []string{"verify", "--pub", "none.pub", "--sig", "AAAA", "body"}, 2, "none.pub"},
		{"no flags", []string{"verify", "body"}, 2, "required"},
		{"unknown engine", []string{"--engine", "x", "verify", "--pub", "k.pub", "--sig", "AAAA", "body"}, 2, "emmansun, tjfoc"},
	}
	for _, tt := range tests {
		r := runIn(t, dir, "", tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("%s: got exit %d stderr %q, want %d containing %q", tt.name, r.code, r.stderr, tt.code, tt.msg)
		}
	}
}

// TestTokenVerifiesWithOpenSSL checks the JWT's r‖s signature with an
// independent SM2 implementation: OpenSSL, after re-encoding r‖s as DER.
func TestTokenVerifiesWithOpenSSL(t *testing.T) {
	dir := t.TempDir()
	must(t, runIn(t, dir, "", "keygen", "--out", "c"))
	tok := strings.TrimSpace(must(t, runIn(t, dir, "", "token", "--key", "c.key", "--kid", "320404", "--iss", "320404",
		"--aud", "tongban-demo", "--sub", "window-320404", "--ttl", "2m")).stdout)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h map[string]string
	if err := json.Unmarshal(hdr, &h); err != nil || h["alg"] != "SM2" || h["kid"] != "320404" {
		t.Fatalf("header: got %s, want alg SM2 and kid 320404", hdr)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing from %s", k, payload)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 120 {
		t.Errorf("lifetime: got %vs, want 120s", exp-iat)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 64 {
		t.Fatalf("signature: %d bytes (%v), want 64", len(raw), err)
	}
	sig, err := signing.ParseRawSignature(raw)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "sig.der"), sig.DER(), 0o600)
	os.WriteFile(filepath.Join(dir, "input"), []byte(parts[0]+"."+parts[1]), 0o600)
	args := []string{"pkeyutl", "-verify", "-pubin", "-inkey", "c.pub", "-rawin", "-digest", "sm3", "-in", "input", "-sigfile", "sig.der", "-pkeyopt", "distid:1234567812345678"}
	if r := runIn(t, dir, "openssl", args...); r.code != 0 {
		t.Fatalf("openssl rejected the token signature: %+v", r)
	}
	os.WriteFile(filepath.Join(dir, "input"), []byte(parts[0]+"."+parts[1]+"x"), 0o600)
	if r := runIn(t, dir, "openssl", args...); r.code == 0 {
		t.Fatal("openssl accepted the token signature over a changed signing input")
	}
}

func TestVersion(t *testing.T) {
	r := must(t, runIn(t, t.TempDir(), "", "version"))
	if !strings.HasPrefix(r.stdout, "tongban ") {
		t.Fatalf("got %q", r.stdout)
	}
	// The stamped version, by the command and by the flag, never "(devel)".
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := must(t, runIn(t, t.TempDir(), "", args...))
		if !strings.HasPrefix(r.stdout, "tongban "+testVersion+" go") {
			t.Errorf("tongban %v: %q, want the stamped version %s", args, r.stdout, testVersion)
		}
	}
}
