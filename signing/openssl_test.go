package signing

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// openssl runs the openssl command line in dir. The tests use it as an
// independent SM2/SM3 implementation; they fail, never skip, without it.
func openssl(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is required for the interop tests (apt-get install openssl): %v", err)
	}
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func mustOpenSSL(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := openssl(t, dir, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var verifyArgs = []string{"pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-digest", "sm3", "-in", "body", "-sigfile", "sig.der", "-pkeyopt", "distid:" + DefaultID}

func TestOpenSSLKeysLoadHere(t *testing.T) {
	dir := t.TempDir()
	mustOpenSSL(t, dir, "genpkey", "-algorithm", "SM2", "-out", "k.pem")
	mustOpenSSL(t, dir, "pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem")
	mustOpenSSL(t, dir, "pkcs8", "-topk8", "-in", "k.pem", "-out", "enc.pem", "-v2", "aes-256-cbc", "-passout", "pass:s3cret")
	mustOpenSSL(t, dir, "ecparam", "-genkey", "-name", "SM2", "-out", "sec1.pem")
	mustOpenSSL(t, dir, "ec", "-in", "sec1.pem", "-pubout", "-out", "sec1pub.pem")

	key, err := ParsePrivateKeyPEM(readFile(t, dir, "k.pem"), nil)
	if err != nil {
		t.Fatalf("openssl genpkey key: %v", err)
	}
	pub, err := ParsePublicKeyPEM(readFile(t, dir, "pub.pem"))
	if err != nil {
		t.Fatalf("openssl public key: %v", err)
	}
	if !key.Public().Equal(pub) {
		t.Fatal("public key derived here differs from openssl's")
	}
	enc, err := ParsePrivateKeyPEM(readFile(t, dir, "enc.pem"), []byte("s3cret"))
	if err != nil {
		t.Fatalf("openssl encrypted PKCS#8: %v", err)
	}
	if !enc.Public().Equal(pub) {
		t.Fatal("encrypted key differs")
	}
	sec1, err := ParsePrivateKeyPEM(readFile(t, dir, "sec1.pem"), nil)
	if err != nil {
		t.Fatalf("openssl SEC 1 key: %v", err)
	}
	sec1pub, err := ParsePublicKeyPEM(readFile(t, dir, "sec1pub.pem"))
	if err != nil || !sec1.Public().Equal(sec1pub) {
		t.Fatalf("SEC 1 public key: %v", err)
	}
	// Our re-encoding of openssl's key is byte-identical to openssl's.
	mine, err := MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mine, readFile(t, dir, "pub.pem")) {
		t.Fatalf("SPKI differs:\n%s\nwant\n%s", mine, readFile(t, dir, "pub.pem"))
	}
}

func TestOurKeysLoadInOpenSSL(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	plain, _ := MarshalPrivateKeyPEM(key, nil)
	enc, _ := MarshalPrivateKeyPEM(key, []byte("s3cret"))
	pub, _ := MarshalPublicKeyPEM(key.Public())
	writeFile(t, dir, "k.pem", plain)
	writeFile(t, dir, "enc.pem", enc)
	writeFile(t, dir, "pub.pem", pub)

	fromPlain := mustOpenSSL(t, dir, "pkey", "-in", "k.pem", "-pubout")
	fromEnc := mustOpenSSL(t, dir, "pkey", "-in", "enc.pem", "-passin", "pass:s3cret", "-pubout")
	fromPub := mustOpenSSL(t, dir, "pkey", "-pubin", "-in", "pub.pem")
	for name, got := range map[string]string{"plain": fromPlain, "encrypted": fromEnc, "public": fromPub} {
		if got != string(pub) {
			t.Errorf("%s: openssl derived\n%s\nwant\n%s", name, got, pub)
		}
	}
	if out, err := openssl(t, dir, "pkey", "-in", "enc.pem", "-passin", "pass:wrong", "-noout"); err == nil {
		t.Fatalf("openssl loaded the encrypted key with a wrong password: %s", out)
	}
	text := mustOpenSSL(t, dir, "pkey", "-in", "k.pem", "-noout", "-text")
	if !strings.Contains(text, "SM2") {
		t.Fatalf("openssl does not see an SM2 key:\n%s", text)
	}
}

func TestSignHereVerifyInOpenSSL(t *testing.T) {
	key := newKey(t)
	body := []byte(`{"exchange_id":"0190b5d2-7c3e-7a1b-8f00-3a2b1c0d9e8f","from_region":"320404"}`)
	forEachEngine(t, func(t *testing.T, e *Engine) {
		dir := t.TempDir()
		pub, _ := MarshalPublicKeyPEM(key.Public())
		writeFile(t, dir, "pub.pem", pub)
		writeFile(t, dir, "body", body)
		sig, err := e.Sign(key, body)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "sig.der", sig)
		if out := mustOpenSSL(t, dir, verifyArgs...); !strings.Contains(out, "Signature Verified Successfully") {
			t.Fatalf("openssl: %s", out)
		}
		changed := append([]byte(nil), body...)
		changed[10] ^= 1
		writeFile(t, dir, "body", changed)
		if out, err := openssl(t, dir, verifyArgs...); err == nil {
			t.Fatalf("openssl verified a changed body: %s", out)
		}
	})
}

func TestSignInOpenSSLVerifyHere(t *testing.T) {
	dir := t.TempDir()
	mustOpenSSL(t, dir, "genpkey", "-algorithm", "SM2", "-out", "k.pem")
	mustOpenSSL(t, dir, "pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem")
	body := bytes.Repeat([]byte("状态更新 status update\n"), 1000)
	writeFile(t, dir, "body", body)
	mustOpenSSL(t, dir, "pkeyutl", "-sign", "-inkey", "k.pem", "-rawin", "-digest", "sm3", "-in", "body", "-out", "sig.der", "-pkeyopt", "distid:"+DefaultID)
	// Without distid OpenSSL 3.0 uses an empty id: that must not verify here.
	mustOpenSSL(t, dir, "pkeyutl", "-sign", "-inkey", "k.pem", "-rawin", "-digest", "sm3", "-in", "body", "-out", "sig-noid.der")
	pub, err := ParsePublicKeyPEM(readFile(t, dir, "pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	sig, noid := readFile(t, dir, "sig.der"), readFile(t, dir, "sig-noid.der")
	forEachEngine(t, func(t *testing.T, e *Engine) {
		if err := e.Verify(pub, body, sig); err != nil {
			t.Fatalf("openssl signature: got %v, want valid", err)
		}
		if err := e.VerifyReader(pub, bytes.NewReader(body), sig); err != nil {
			t.Fatalf("openssl signature, streamed: got %v, want valid", err)
		}
		changed := append([]byte(nil), body...)
		changed[len(changed)-1] ^= 1
		if err := e.Verify(pub, changed, sig); err == nil {
			t.Fatal("changed body verified")
		}
		if err := e.Verify(pub, body, noid); err == nil {
			t.Fatal("signature made with an empty id verified under the default id")
		}
	})
}

func TestCertificatesInteropWithOpenSSL(t *testing.T) {
	dir := t.TempDir()
	caKey, leafKey := newKey(t), newKey(t)
	caDER, err := CreateCertificate(CertificateRequest{CommonName: "Tongban CA", IsCA: true}, caKey.Public(), nil, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := ParseCertificate(caDER)
	leafDER, err := CreateCertificate(CertificateRequest{CommonName: "gateway"}, leafKey.Public(), ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "ca.pem", MarshalCertificatePEM(caDER))
	writeFile(t, dir, "leaf.pem", MarshalCertificatePEM(leafDER))
	// OpenSSL 3.0 checks certificate signatures with an empty id unless told
	// the default one; Tongban's certificates use the default id.
	if out := mustOpenSSL(t, dir, "verify", "-vfyopt", "distid:"+DefaultID, "-CAfile", "ca.pem", "leaf.pem"); !strings.Contains(out, "leaf.pem: OK") {
		t.Fatalf("openssl verify: %s", out)
	}
	if out, err := openssl(t, dir, "verify", "-vfyopt", "distid:"+DefaultID, "-CAfile", "leaf.pem", "ca.pem"); err == nil {
		t.Fatalf("openssl verified the CA under the leaf: %s", out)
	}
	text := mustOpenSSL(t, dir, "x509", "-in", "leaf.pem", "-noout", "-text")
	if !strings.Contains(text, "SM2-with-SM3") {
		t.Fatalf("signature algorithm not SM2-with-SM3:\n%s", text)
	}

	// An openssl-made self-signed SM2 certificate loads and checks here.
	mustOpenSSL(t, dir, "genpkey", "-algorithm", "SM2", "-out", "os.key")
	mustOpenSSL(t, dir, "req", "-new", "-x509", "-key", "os.key", "-sm3", "-sigopt", "distid:"+DefaultID, "-subj", "/CN=openssl-ca", "-days", "30", "-out", "os.pem")
	osCert, err := ParseCertificatePEM(readFile(t, dir, "os.pem"))
	if err != nil {
		t.Fatalf("openssl certificate: %v", err)
	}
	if err := osCert.CheckSignatureFrom(osCert); err != nil {
		t.Fatalf("openssl self-signed certificate: got %v, want valid", err)
	}
	if err := osCert.CheckSignatureFrom(ca); err == nil {
		t.Fatal("openssl certificate verified under our CA")
	}
}
