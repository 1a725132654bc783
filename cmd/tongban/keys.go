package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/signing"
)

// engineFlag returns the engine chosen with --engine.
func engineFlag(cmd *cobra.Command) (*signing.Engine, error) {
	name, _ := cmd.Flags().GetString("engine")
	if name == "" {
		return signing.Default, nil
	}
	return signing.EngineByName(name)
}

// openInput opens FILE, or standard input for "-".
func openInput(cmd *cobra.Command, name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(cmd.InOrStdin()), nil
	}
	return os.Open(name)
}

func newKeygenCmd() *cobra.Command {
	var out, passwordFile string
	c := &cobra.Command{
		Use:   "keygen --out NAME",
		Short: "Generate an SM2 key pair: NAME.key (PKCS#8) and NAME.pub (SPKI)",
		Long: `Generate an SM2 key pair and write NAME.key (PKCS#8 PEM, mode 0600) and
NAME.pub (SPKI PEM). Existing files are never overwritten. With
--password-file the private key is encrypted (PBES2, PBKDF2-SHA256,
AES-256-CBC). Both files load unchanged in OpenSSL:

  openssl pkey -in NAME.key -noout -text
  openssl pkey -pubin -in NAME.pub -noout -text`,
		Example: "  tongban keygen --out keys/320404",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out NAME is required")
			}
			pw, err := app.ReadPassword(passwordFile)
			if err != nil {
				return err
			}
			key, err := signing.GenerateKey(nil)
			if err != nil {
				return err
			}
			priv, err := signing.MarshalPrivateKeyPEM(key, pw)
			if err != nil {
				return err
			}
			pub, err := signing.MarshalPublicKeyPEM(key.Public())
			if err != nil {
				return err
			}
			for _, p := range []string{out + ".key", out + ".pub"} {
				if _, err := os.Lstat(p); err == nil {
					return fmt.Errorf("%s exists; refusing to overwrite it", p)
				}
			}
			if err := writeNew(out+".key", priv, 0o600); err != nil {
				return err
			}
			if err := writeNew(out+".pub", pub, 0o644); err != nil {
				os.Remove(out + ".key")
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s.key and %s.pub\n", out, out)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "path prefix of the key files (required)")
	c.Flags().StringVar(&passwordFile, "password-file", "", "encrypt the private key with the password in this file")
	return c
}

// writeNew creates path with data, failing if it exists, and syncs it.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newSignCmd() *cobra.Command {
	var keyPath, passwordFile string
	c := &cobra.Command{
		Use:   "sign --key KEY FILE",
		Short: "Print the SM2 signature (standard base64 of DER) of FILE's exact bytes",
		Long: `Sign FILE's exact bytes (SM3 with the Z value of the default ID
1234567812345678, GM/T 0009) and print the standard-base64 DER signature: the
value of the Gw-Signature header. FILE "-" reads standard input. The file is
hashed as a stream, so it may be larger than memory. To check it with OpenSSL:

  tongban sign --key k.key body | base64 -d > sig.der
  openssl pkeyutl -verify -pubin -inkey k.pub -rawin -digest sm3 \
    -in body -sigfile sig.der -pkeyopt distid:1234567812345678`,
		Example: "  tongban sign --key keys/320404.key examples/case.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyPath == "" {
				return errors.New("--key KEY is required")
			}
			e, err := engineFlag(cmd)
			if err != nil {
				return err
			}
			key, err := app.LoadPrivateKey(keyPath, passwordFile)
			if err != nil {
				return err
			}
			in, err := openInput(cmd, args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			sig, err := e.SignReader(key, in)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), base64.StdEncoding.EncodeToString(sig))
			return nil
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "PEM private key: PKCS#8, encrypted PKCS#8 or SEC 1 (required)")
	c.Flags().StringVar(&passwordFile, "password-file", "", "file holding the password of an encrypted key")
	return c
}

func newVerifyCmd() *cobra.Command {
	var pubPath, sigB64 string
	c := &cobra.Command{
		Use:   "verify --pub PUB --sig BASE64 FILE",
		Short: "Check an SM2 signature of FILE's exact bytes; prints valid or why not",
		Long: `Verify a standard-base64 DER SM2 signature (a Gw-Signature value) over FILE's
exact bytes with the public key in PUB (SPKI PEM, or an X.509 certificate).
Prints "valid" and exits 0, or prints why not and exits 1. FILE "-" reads
standard input. Exit status 2 means the command itself could not run
(unreadable key or file).`,
		Example: "  tongban verify --pub keys/320404.pub --sig \"$(cat body.sig)\" body",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pubPath == "" || sigB64 == "" {
				return errors.New("--pub PUB and --sig BASE64 are required")
			}
			e, err := engineFlag(cmd)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(pubPath)
			if err != nil {
				return fmt.Errorf("read public key: %w", err)
			}
			pub, err := signing.ParsePublicKeyPEM(data)
			if err != nil {
				return fmt.Errorf("%s: %w", pubPath, err)
			}
			sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sigB64))
			if err != nil {
				return &exitError{1, "invalid: signature is not standard base64"}
			}
			in, err := openInput(cmd, args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			switch err := e.VerifyReader(pub, in, sig); {
			case err == nil:
				fmt.Fprintln(cmd.OutOrStdout(), "valid")
				return nil
			case errors.Is(err, signing.ErrMalformedSignature):
				return &exitError{1, "invalid: signature is not a DER SEQUENCE{r, s} SM2 signature"}
			case errors.Is(err, signing.ErrVerification):
				return &exitError{1, "invalid: signature does not match these bytes and this key (changed content, another key, or signed without the default ID 1234567812345678)"}
			default:
				return err
			}
		},
	}
	c.Flags().StringVar(&pubPath, "pub", "", "PEM public key (SPKI) or certificate (required)")
	c.Flags().StringVar(&sigB64, "sig", "", "standard-base64 DER signature (required)")
	return c
}
