// Package secrets encrypts sov's secrets at rest under one master key (a
// key-encryption key) kept in a file apart from the database: EC2
// credential blobs and token signing keys today; object, volume and key
// manager keys later. A sealed value names the master key that sealed it
// and is bound to the context it belongs to (a row's kind and id), so a
// sealed value copied to another row does not open. The master key
// rotates: a new key seals, older ones still open until every value has
// been resealed, then they are dropped.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// prefix starts every sealed value: "sov1:<key id>:<base64 nonce+ciphertext>".
const prefix = "sov1:"

// ErrCannotOpen is returned for a value no known master key opens.
var ErrCannotOpen = errors.New("secrets: no master key opens the sealed value")

// Keyring holds the master keys. It is safe for concurrent use.
type Keyring struct {
	path   string
	legacy string // the credential key of earlier versions, or ""

	mu      sync.RWMutex
	keys    map[string]cipher.AEAD
	raw     map[string][]byte
	primary string
	old     cipher.AEAD // opens values sealed before master keys existed
}

// keyFile is the master key file: the primary key's id and every key.
type keyFile struct {
	Primary string            `json:"primary"`
	Keys    map[string]string `json:"keys"` // id -> base64 key
}

// Load reads the master key file at path, creating it with a first key
// (mode 0600) when missing. legacyPath names the single credential key of
// earlier versions, which still opens values sealed before; "" for none.
func Load(path, legacyPath string) (*Keyring, error) {
	k := &Keyring{path: path, legacy: legacyPath}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := k.write(&keyFile{Keys: map[string]string{}}, true); err != nil {
			return nil, err
		}
	}
	if err := k.load(); err != nil {
		return nil, err
	}
	if legacyPath != "" {
		b, err := os.ReadFile(legacyPath)
		if err == nil {
			if k.old, err = newAEAD(b); err != nil {
				return nil, fmt.Errorf("secrets: %s: %w", legacyPath, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return k, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("a master key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (k *Keyring) load() error {
	b, err := os.ReadFile(k.path)
	if err != nil {
		return err
	}
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("secrets: %s: %w", k.path, err)
	}
	keys, raw := map[string]cipher.AEAD{}, map[string][]byte{}
	for id, s := range f.Keys {
		key, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("secrets: %s: key %s: %w", k.path, id, err)
		}
		if keys[id], err = newAEAD(key); err != nil {
			return fmt.Errorf("secrets: %s: key %s: %w", k.path, id, err)
		}
		raw[id] = key
	}
	if keys[f.Primary] == nil {
		return fmt.Errorf("secrets: %s names no primary key", k.path)
	}
	k.mu.Lock()
	k.keys, k.raw, k.primary = keys, raw, f.Primary
	k.mu.Unlock()
	return nil
}

// write stores the key file atomically, adding a new primary key when addKey.
func (k *Keyring) write(f *keyFile, addKey bool) error {
	if addKey {
		key := make([]byte, 32)
		rand.Read(key)
		id := make([]byte, 6)
		rand.Read(id)
		f.Primary = hex.EncodeToString(id)
		f.Keys[f.Primary] = base64.StdEncoding.EncodeToString(key)
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(k.path), ".master-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), k.path)
}

func (k *Keyring) current() *keyFile {
	k.mu.RLock()
	defer k.mu.RUnlock()
	f := &keyFile{Primary: k.primary, Keys: map[string]string{}}
	for id, key := range k.raw {
		f.Keys[id] = base64.StdEncoding.EncodeToString(key)
	}
	return f
}

// Seal encrypts plain for the context it belongs to (such as
// "credential:<id>") under the primary master key.
func (k *Keyring) Seal(plain []byte, context string) string {
	k.mu.RLock()
	id, aead := k.primary, k.keys[k.primary]
	k.mu.RUnlock()
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return prefix + id + ":" + base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(context)))
}

// Open decrypts a value sealed for context. Values sealed before master
// keys existed open with the legacy credential key, without a context. A
// key id it does not know makes it read the key file again (another sov
// may have rotated).
func (k *Keyring) Open(sealed, context string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return k.openLegacy(sealed)
	}
	id, body, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, ErrCannotOpen
	}
	k.mu.RLock()
	aead := k.keys[id]
	k.mu.RUnlock()
	if aead == nil {
		if err := k.load(); err != nil {
			return nil, err
		}
		k.mu.RLock()
		aead = k.keys[id]
		k.mu.RUnlock()
		if aead == nil {
			return nil, ErrCannotOpen
		}
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil || len(b) < aead.NonceSize() {
		return nil, ErrCannotOpen
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(context))
	if err != nil {
		return nil, ErrCannotOpen
	}
	return plain, nil
}

func (k *Keyring) openLegacy(sealed string) ([]byte, error) {
	if k.old == nil {
		return nil, ErrCannotOpen
	}
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < k.old.NonceSize() {
		return nil, ErrCannotOpen
	}
	plain, err := k.old.Open(nil, b[:k.old.NonceSize()], b[k.old.NonceSize():], nil)
	if err != nil {
		return nil, ErrCannotOpen
	}
	return plain, nil
}

// Current reports whether a sealed value is sealed under the primary key;
// values that are not should be resealed.
func (k *Keyring) Current(sealed string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return strings.HasPrefix(sealed, prefix+k.primary+":")
}

// Rotate makes a new primary master key; the older ones still open.
func (k *Keyring) Rotate() error {
	if err := k.write(k.current(), true); err != nil {
		return err
	}
	return k.load()
}

// Prune drops every master key but the primary, and the legacy credential
// key: call it once every value has been resealed.
func (k *Keyring) Prune() error {
	f := k.current()
	for id := range f.Keys {
		if id != f.Primary {
			delete(f.Keys, id)
		}
	}
	if err := k.write(f, false); err != nil {
		return err
	}
	if k.legacy != "" {
		if err := os.Remove(k.legacy); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		k.mu.Lock()
		k.old = nil
		k.mu.Unlock()
	}
	return k.load()
}
