package httpapi_test

import (
	"bytes"
	"encoding/base64"
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
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is required to check receipts independently (apt-get install openssl): %v", err)
	}
	e := newEnv(t)
	r := e.post(zhonglou, "/v1/cases", submission(t))
	if r.status != http.StatusAccepted {
		t.Fatalf("submit: got %d %s, want 202", r.status, r.body)
	}
	sig, err := base64.StdEncoding.DecodeString(r.header.Get(httpapi.HeaderSignature))
	if err != nil {
		t.Fatalf("Gw-Signature: %v", err)
	}
	pub, err := signing.MarshalPublicKeyPEM(e.gwKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"gw.pub": pub, "receipt": r.body, "sig.der": sig, "tampered": append(bytes.Clone(r.body), ' ')} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(in string) (string, error) {
		cmd := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "gw.pub", "-rawin", "-digest", "sm3",
			"-in", in, "-sigfile", "sig.der", "-pkeyopt", "distid:1234567812345678")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify("receipt"); err != nil {
		t.Errorf("openssl verify of the receipt: got %v\n%s, want success", err, out)
	}
	if out, err := verify("tampered"); err == nil {
		t.Errorf("openssl verify of a tampered receipt: got success\n%s, want failure", out)
	}
}
