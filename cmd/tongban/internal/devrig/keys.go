package devrig

import (
	"os"
	"path/filepath"
	"time"

	"github.com/tongban/tongban/signing"
)

// KeyDir is the directory, beside config.yaml, that holds the rig's keys:
// KeyDir/ID.key (PKCS#8 PEM) and KeyDir/ID.pub (SPKI PEM) for the gateway
// ("gateway") and every caller, each caller's key id being its id.
const KeyDir = "keys"

// GatewayKey is the name of the gateway's own key in KeyDir.
const GatewayKey = "gateway"

// PrivPath and PubPath are the paths, relative to the configuration's
// directory, of id's key files.
func PrivPath(id string) string { return filepath.Join(KeyDir, id+".key") }

// PubPath: see PrivPath.
func PubPath(id string) string { return filepath.Join(KeyDir, id+".pub") }

// Key loads NAME.key, or creates NAME.key and NAME.pub.
func Key(name string) (*signing.PrivateKey, error) {
	if data, err := os.ReadFile(name + ".key"); err == nil {
		return signing.ParsePrivateKeyPEM(data, nil)
	}
	k, err := signing.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	priv, err := signing.MarshalPrivateKeyPEM(k, nil)
	if err != nil {
		return nil, err
	}
	pub, err := signing.MarshalPublicKeyPEM(k.Public())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(name+".key", priv, 0o600); err != nil {
		return nil, err
	}
	return k, os.WriteFile(name+".pub", pub, 0o644)
}

// DataKeysPath is the path, relative to the configuration's directory,
// of the rig's data key file (the SM4 keys that seal personal data at
// rest).
var DataKeysPath = filepath.Join(KeyDir, "datakeys.json")

// DataKeys creates dir/DataKeysPath, one fresh data key current, unless
// it exists.
func DataKeys(dir string) error {
	path := filepath.Join(dir, DataKeysPath)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	kf, err := signing.NewKeyFile(time.Now().UTC().Format("2006-01"), time.Now())
	if err != nil {
		return err
	}
	return signing.WriteKeyFile(path, kf)
}

// Keys loads or creates the keys of ids under dir/KeyDir (created 0700
// if missing) and returns them by id; it creates the data key file
// (DataKeys) too.
func Keys(dir string, ids ...string) (map[string]*signing.PrivateKey, error) {
	if err := os.MkdirAll(filepath.Join(dir, KeyDir), 0o700); err != nil {
		return nil, err
	}
	if err := DataKeys(dir); err != nil {
		return nil, err
	}
	keys := make(map[string]*signing.PrivateKey, len(ids))
	for _, id := range ids {
		k, err := Key(filepath.Join(dir, KeyDir, id))
		if err != nil {
			return nil, err
		}
		keys[id] = k
	}
	return keys, nil
}
