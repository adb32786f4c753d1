package identity

import (
	"context"
	"encoding/base64"
	"github.com/sovcloud/sov/internal/identity/token"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/store"
)

// TestRetiredKeyVerifiesItsTokens: a key that signed tokens for a day is
// kept, after the rotation that retires it, until the last of those tokens
// has expired, and dropped at the first rotation after that.
func TestRetiredKeyVerifiesItsTokens(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "sov.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kek, err := secrets.Load(filepath.Join(t.TempDir(), "master.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	clock := t0
	k := &keyring{db: db, kek: kek, lifetime: time.Hour, now: func() time.Time { return clock }}
	if err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := k.primary()
	clock = t0.Add(24 * time.Hour) // a day of signing, then the daily rotation
	tok, err := k.sign(&Token{UserID: "u", AuditIDs: []string{"a"}, IssuedAt: clock.UnixMicro(), ExpiresAt: clock.Add(time.Hour).UnixMicro()})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(59 * time.Minute)
	if _, err := token.Parse(tok, k.keyFor); err != nil {
		t.Fatalf("a token of the retired key, 59 minutes after the rotation: %v", err)
	}
	second, _ := k.primary()
	clock = clock.Add(2 * time.Minute)
	if err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if k.keyFor(first) != nil {
		t.Error("the first key is kept after all its tokens expired")
	}
	if k.keyFor(second) == nil {
		t.Error("the second key, retired just now, is gone")
	}
}

// TestPlainSigningKeysResealed: signing keys stored in plain base64 by
// earlier versions keep verifying and are sealed under the master key.
func TestPlainSigningKeysResealed(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "sov.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kek, _ := secrets.Load(filepath.Join(t.TempDir(), "master.key"), "")
	secret := []byte("0123456789abcdef0123456789abcdef")
	if _, err := db.Exec(ctx, `INSERT INTO signing_keys (id, secret, created_at, primary_key) VALUES (?, ?, ?, ?)`,
		"oldkey", base64.StdEncoding.EncodeToString(secret), time.Now().Unix(), true); err != nil {
		t.Fatal(err)
	}
	k, err := newKeyring(ctx, db, kek, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.reseal(ctx); err != nil {
		t.Fatal(err)
	}
	var stored string
	db.QueryRow(ctx, `SELECT secret FROM signing_keys WHERE id = 'oldkey'`).Scan(&stored)
	if !kek.Current(stored) {
		t.Errorf("the plain key is stored as %q", stored)
	}
	if err := k.load(ctx); err != nil || string(k.keyFor("oldkey")) != string(secret) {
		t.Errorf("the resealed key = %q, %v", k.keyFor("oldkey"), err)
	}
}

// TestRetiredKeyMintsNothing: a retired key verifies the tokens it signed
// while primary, not tokens issued after it retired (by whoever has it).
func TestRetiredKeyMintsNothing(t *testing.T) {
	s := testService(t, Config{})
	ctx := context.Background()
	old, _ := s.keys.primary()
	now := time.Now()
	before := &Token{UserID: "u", AuditIDs: []string{"a"}, IssuedAt: now.UnixMicro(), ExpiresAt: now.Add(time.Hour).UnixMicro()}
	signedBefore, err := s.keys.sign(before)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ValidateToken(signedBefore); err != nil {
		t.Errorf("a token of the retired key from before its retirement: %v", err)
	}
	// Mint a token with the retired key, issued now.
	mint := &keyring{keys: map[string][]byte{old: s.keys.keyFor(old)}, primaryID: old}
	late := &Token{UserID: "u", AuditIDs: []string{"b"}, IssuedAt: now.Add(retiredGrace + 2*time.Second).UnixMicro(), ExpiresAt: now.Add(time.Hour).UnixMicro()}
	signedLate, err := mint.sign(late)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ValidateToken(signedLate); err == nil {
		t.Error("a token minted with a retired key after its retirement is valid")
	}
}
