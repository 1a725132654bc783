package signing

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
)

// Data keys: SM4-GCM keys that seal personal data at rest (exchange
// bodies, delivery payloads, usage records) and a key for the blind index
// of holder ids. They live in a key file, JSON, mode 0600:
//
//	{
//	  "current": "2026-12",
//	  "index_key": "<base64 of 32 bytes>",
//	  "keys": {
//	    "2026-11": {"key": "<base64 of 16 bytes>", "created": "2026-11-01T00:00:00Z", "retired": "2026-12-01T00:00:00Z"},
//	    "2026-12": {"key": "<base64 of 16 bytes>", "created": "2026-12-01T00:00:00Z"}
//	  },
//	  "shredded": {"2026-10": "2026-12-06T13:00:00Z"}
//	}
//
// New rows are sealed under current; a row keeps the id of the key that
// sealed it, so rows sealed under any key still in keys stay readable
// after a rotation. Shredding a key deletes it from keys and names it
// under shredded (id → when): the rows sealed under it can never be read
// again, and reading one fails with ErrDataKeyShredded.

// DataKeySize is the size of an SM4 data key in bytes (128 bits).
const DataKeySize = sm4.BlockSize

// indexKeySize is the size of the blind-index key in bytes.
const indexKeySize = 32

// Errors of the Sealer.
var (
	// ErrDataKeyShredded means the row was sealed under a key that was
	// shredded: its plaintext is gone for good.
	ErrDataKeyShredded = errors.New("signing: data key shredded")
	// ErrUnknownDataKey means the key file has no key of that id, and
	// does not record it as shredded either (a wrong key file).
	ErrUnknownDataKey = errors.New("signing: unknown data key")
	// ErrOpen means the ciphertext does not open under its key and
	// associated data: it was altered, or belongs to another row.
	ErrOpen = errors.New("signing: sealed data does not open (altered, or another row's)")
)

// DataKey is one data key as the key file holds it.
type DataKey struct {
	Key     string    `json:"key"` // base64 of DataKeySize bytes
	Created time.Time `json:"created"`
	// Retired is when the key stopped being current (a rotation); zero
	// while it is current.
	Retired time.Time `json:"retired,omitzero"`
}

// KeyFile is the data key file's content.
type KeyFile struct {
	Current  string               `json:"current"`
	IndexKey string               `json:"index_key"`
	Keys     map[string]DataKey   `json:"keys"`
	Shredded map[string]time.Time `json:"shredded,omitempty"`
}

// NewKeyFile returns a key file with one fresh data key, id keyID,
// current since now, and a fresh index key.
func NewKeyFile(keyID string, now time.Time) (*KeyFile, error) {
	idx := make([]byte, indexKeySize)
	if _, err := rand.Read(idx); err != nil {
		return nil, err
	}
	kf := &KeyFile{IndexKey: base64.StdEncoding.EncodeToString(idx), Keys: map[string]DataKey{}}
	if err := kf.Rotate(keyID, now); err != nil {
		return nil, err
	}
	return kf, nil
}

// Rotate adds a fresh data key under keyID and makes it current; the
// previous current key is marked retired at now and stays for reading.
// It fails when keyID is empty or already used (held or shredded).
func (kf *KeyFile) Rotate(keyID string, now time.Time) error {
	if keyID == "" {
		return errors.New("data key id is empty")
	}
	if _, ok := kf.Keys[keyID]; ok {
		return fmt.Errorf("data key %q already exists", keyID)
	}
	if _, ok := kf.Shredded[keyID]; ok {
		return fmt.Errorf("data key %q was shredded; ids are never reused", keyID)
	}
	k := make([]byte, DataKeySize)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	if cur, ok := kf.Keys[kf.Current]; ok {
		cur.Retired = now.UTC()
		kf.Keys[kf.Current] = cur
	}
	if kf.Keys == nil {
		kf.Keys = map[string]DataKey{}
	}
	kf.Keys[keyID] = DataKey{Key: base64.StdEncoding.EncodeToString(k), Created: now.UTC()}
	kf.Current = keyID
	return nil
}

// ShredBefore destroys every retired key whose Retired time is not after
// before: every row sealed under one was written before before. It never
// shreds the current key. It returns the ids shredded, sorted.
func (kf *KeyFile) ShredBefore(before, now time.Time) []string {
	var ids []string
	for id, k := range kf.Keys {
		if id != kf.Current && !k.Retired.IsZero() && !k.Retired.After(before) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		delete(kf.Keys, id)
		if kf.Shredded == nil {
			kf.Shredded = map[string]time.Time{}
		}
		kf.Shredded[id] = now.UTC()
	}
	return ids
}

// ReadKeyFile reads a data key file. It refuses a file that others may
// read, or anyone but its owner write: mode 0600, or 0640/0440 where the
// file's group is the gateway's alone (a Kubernetes Secret mounted with
// fsGroup, whose files root owns).
func ReadKeyFile(path string) (*KeyFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if m := fi.Mode().Perm(); m&0o037 != 0 {
		return nil, fmt.Errorf("data key file %s has mode %#o; it must be 0600 (chmod 600 %s), or 0640/0440 with a group only the gateway is in", path, m, path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kf KeyFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		return nil, fmt.Errorf("data key file %s: %w", path, err)
	}
	if _, err := kf.Sealer(); err != nil {
		return nil, fmt.Errorf("data key file %s: %w", path, err)
	}
	return &kf, nil
}

// WriteKeyFile writes kf to path with mode 0600, atomically: a
// temporary file in the same directory, synced, then renamed over path,
// so a crash leaves either the old file or the new one. A shredded key
// is gone from the new file; copies of the old file (backups) still hold
// it and must be destroyed too.
func WriteKeyFile(path string, kf *KeyFile) error {
	if _, err := kf.Sealer(); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".datakeys-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(raw, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Sealer seals and opens personal data at rest with SM4-GCM: a random
// 96-bit nonce per seal, the 128-bit tag appended. It is safe for
// concurrent use.
type Sealer struct {
	current  string
	aeads    map[string]cipher.AEAD
	shredded map[string]bool
	index    []byte
}

// Sealer checks kf (a current key that exists, every key 128 bits, an
// index key of 32 bytes, no id both held and shredded) and returns the
// sealer over its keys.
func (kf *KeyFile) Sealer() (*Sealer, error) {
	s := &Sealer{current: kf.Current, aeads: map[string]cipher.AEAD{}, shredded: map[string]bool{}}
	for id := range kf.Shredded {
		s.shredded[id] = true
	}
	for id, k := range kf.Keys {
		if s.shredded[id] {
			return nil, fmt.Errorf("data key %q is both held and shredded", id)
		}
		raw, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil || len(raw) != DataKeySize {
			return nil, fmt.Errorf("data key %q: want the base64 of %d bytes", id, DataKeySize)
		}
		block, err := sm4.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("data key %q: %w", id, err)
		}
		a, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("data key %q: %w", id, err)
		}
		s.aeads[id] = a
	}
	if _, ok := s.aeads[kf.Current]; !ok {
		return nil, fmt.Errorf("current data key %q is not among the keys", kf.Current)
	}
	idx, err := base64.StdEncoding.DecodeString(kf.IndexKey)
	if err != nil || len(idx) != indexKeySize {
		return nil, fmt.Errorf("index_key: want the base64 of %d bytes", indexKeySize)
	}
	s.index = idx
	return s, nil
}

// LoadSealer reads the key file at path (see ReadKeyFile) and returns its
// sealer.
func LoadSealer(path string) (*Sealer, error) {
	kf, err := ReadKeyFile(path)
	if err != nil {
		return nil, err
	}
	return kf.Sealer()
}

// CurrentKey returns the id of the key new seals use.
func (s *Sealer) CurrentKey() string { return s.current }

// Seal encrypts plaintext under the current key, binding aad (which is
// not stored: Open must be given the same), and returns the key's id and
// nonce‖ciphertext‖tag.
func (s *Sealer) Seal(plaintext, aad []byte) (keyID string, sealed []byte, err error) {
	a := s.aeads[s.current]
	out := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	if _, err := rand.Read(out); err != nil {
		return "", nil, err
	}
	return s.current, a.Seal(out, out, plaintext, aad), nil
}

// Open decrypts what Seal returned under keyID with the same aad. It
// fails with ErrDataKeyShredded when keyID was shredded, ErrUnknownDataKey
// when the key file never had it, and ErrOpen when the data or aad differ
// from what was sealed.
func (s *Sealer) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	return s.open(keyID, sealed, aad, false)
}

// OpenInPlace is Open decrypting into sealed's own memory: the plaintext
// it returns shares sealed's backing array, and sealed no longer holds
// the ciphertext afterwards, whether or not it opened (a failed open
// clears it). It spares a copy the size of the data to a caller that
// owns sealed and drops it once opened, such as a payload just read from
// the store.
func (s *Sealer) OpenInPlace(keyID string, sealed, aad []byte) ([]byte, error) {
	return s.open(keyID, sealed, aad, true)
}

func (s *Sealer) open(keyID string, sealed, aad []byte, inPlace bool) ([]byte, error) {
	a, ok := s.aeads[keyID]
	if !ok {
		if s.shredded[keyID] {
			return nil, fmt.Errorf("%w: %q", ErrDataKeyShredded, keyID)
		}
		return nil, fmt.Errorf("%w: %q", ErrUnknownDataKey, keyID)
	}
	n := a.NonceSize()
	if len(sealed) < n+a.Overhead() {
		return nil, ErrOpen
	}
	var dst []byte
	if inPlace {
		dst = sealed[n:n] // exactly the ciphertext's start, as cipher.AEAD allows
	}
	pt, err := a.Open(dst, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Shredded reports whether keyID names a shredded key.
func (s *Sealer) Shredded(keyID string) bool { return s.shredded[keyID] }

// Index returns the blind index of value: lowercase hex HMAC-SM3 under the
// index key. Equal values give equal indexes, so a store can match an
// exact value it never holds; without the index key nobody can test a
// guess. The index key is not rotated with the data keys.
func (s *Sealer) Index(value string) string {
	m := hmac.New(sm3.New, s.index)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// KeyIDs returns the ids of the keys the sealer holds, sorted.
func (s *Sealer) KeyIDs() []string {
	ids := make([]string, 0, len(s.aeads))
	for id := range s.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
