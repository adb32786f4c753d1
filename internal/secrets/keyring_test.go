package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpenRotatePrune(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	k, err := Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	sealed := k.Seal([]byte("the secret"), "credential:1")
	if strings.Contains(sealed, "the secret") || !k.Current(sealed) {
		t.Fatalf("sealed = %q", sealed)
	}
	if got, err := k.Open(sealed, "credential:1"); err != nil || string(got) != "the secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open(sealed, "credential:2"); err == nil {
		t.Error("a value opened in another row's context")
	}
	tampered := sealed[:len(sealed)-4] + "AAA="
	if _, err := k.Open(tampered, "credential:1"); err == nil {
		t.Error("a tampered value opened")
	}
	first := k.current().Primary
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if f := k.current(); len(f.Keys) != 2 || f.Primary == first {
		t.Fatalf("after rotation keys = %v, primary %s", f.Keys, f.Primary)
	}
	if k.Current(sealed) {
		t.Error("a value of the old key counts as current")
	}
	if got, err := k.Open(sealed, "credential:1"); err != nil || string(got) != "the secret" {
		t.Errorf("old value after rotation = %q, %v", got, err)
	}
	resealed := k.Seal([]byte("the secret"), "credential:1")
	if err := k.Prune(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(sealed, "credential:1"); err == nil {
		t.Error("a value of a pruned key still opens")
	}
	// Another keyring on the same file (another sov) opens the new values.
	other, err := Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := other.Open(resealed, "credential:1"); err != nil || string(got) != "the secret" {
		t.Errorf("another keyring opens = %q, %v", got, err)
	}
}

// TestLegacyCredentialKey: values sealed by earlier versions with the single
// credential key (no key id, no context) still open, until Prune removes it.
func TestLegacyCredentialKey(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "credential.key")
	key := make([]byte, 32)
	rand.Read(key)
	os.WriteFile(legacy, key, 0o600)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	old := base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(`{"access":"a","secret":"s"}`), nil))
	k, err := Load(filepath.Join(dir, "master.key"), legacy)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(old, "credential:x"); err != nil || string(got) != `{"access":"a","secret":"s"}` || k.Current(old) {
		t.Fatalf("legacy value = %q, %v", got, err)
	}
	if err := k.Prune(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Error("the legacy key file is kept after Prune")
	}
}
