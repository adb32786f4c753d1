package identity

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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
	t0 := time.Now()
	clock := t0
	k := &keyring{db: db, lifetime: time.Hour, now: func() time.Time { return clock }}
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
	if _, err := parseToken(tok, k.keyFor); err != nil {
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
