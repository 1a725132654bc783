package app

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

// ReadPassword reads a key password from a file, trimming one trailing
// newline. An empty path is no password.
func ReadPassword(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read password file: %w", err)
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) == 0 {
		return nil, fmt.Errorf("password file %s is empty", path)
	}
	return b, nil
}

// LoadPrivateKey reads a PEM private key, asking for the password file when
// the key is encrypted and none was given.
func LoadPrivateKey(path, passwordFile string) (*signing.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	pw, err := ReadPassword(passwordFile)
	if err != nil {
		return nil, err
	}
	k, err := signing.ParsePrivateKeyPEM(data, pw)
	if errors.Is(err, signing.ErrPasswordRequired) {
		return nil, fmt.Errorf("%s is encrypted: pass --password-file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// PreviousKeys loads the gateway's earlier public keys
// (signing_key.previous).
func PreviousKeys(cfg *config.Config) (map[string]*signing.PublicKey, error) {
	out := map[string]*signing.PublicKey{}
	for kid, path := range cfg.SigningKey.Previous {
		pub, err := keyring.LoadPublicKeyFile(cfg.Resolve(path))
		if err != nil {
			return nil, fmt.Errorf("signing_key.previous.%s: %w", kid, err)
		}
		out[kid] = pub
	}
	return out, nil
}
