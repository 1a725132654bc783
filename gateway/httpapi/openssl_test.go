package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/signing"
)

// TestReceiptVerifiesWithOpenSSL checks, with OpenSSL as an independent SM2
// implementation, that a receipt's Gw-Signature verifies over the exact
// receipt bytes with the gateway's public key and the default ID, as the
// design's wire conventions promise. It fails, never skips, without openssl.
func TestReceiptVerifiesWithOpenSSL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.post(zhonglou, "/v1/cases", submission(t))
	if r.status != http.StatusAccepted {
		t.Fatalf("submit: got %d %s, want 202", r.status, r.body)
	}
	if err := opensslVerify(t, e.gwKey.Public(), r); err != nil {
		t.Errorf("openssl verify of the receipt: %v", err)
	}
	tampered := r
	tampered.body = append(bytes.Clone(r.body), ' ')
	if err := opensslVerify(t, e.gwKey.Public(), tampered); err == nil {
		t.Error("openssl verify of a tampered receipt: got success, want failure")
	}
}

// opensslVerify checks with OpenSSL that r's Gw-Signature verifies over its
// exact body with pub and the default ID. It fails the test, never skips,
// when openssl is missing.
func opensslVerify(t *testing.T, pub *signing.PublicKey, r response) error {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is required to check signatures independently (apt-get install openssl): %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(r.header.Get(httpapi.HeaderSignature))
	if err != nil {
		t.Fatalf("Gw-Signature: %v", err)
	}
	pem, err := signing.MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"gw.pub": pem, "body": r.body, "sig.der": sig} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "gw.pub", "-rawin", "-digest", "sm3",
		"-in", "body", "-sigfile", "sig.der", "-pkeyopt", "distid:1234567812345678")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}
