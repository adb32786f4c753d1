package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/store"
)

// keyring holds the token signing keys: one primary that signs, and older
// ones that still verify until every token they signed has expired.
type keyring struct {
	db  *store.DB
	kek *secrets.Keyring // seals the keys in the store
	// lifetime is the longest a token lives: a retired key verifies that long.
	lifetime time.Duration
	now      func() time.Time

	mu         sync.RWMutex // protects following
	keys       map[string][]byte
	retired    map[string]int64 // key id -> unix seconds it stopped signing
	primaryID  string
	lastReload time.Time
}

func newKeyring(ctx context.Context, db *store.DB, kek *secrets.Keyring, lifetime time.Duration) (*keyring, error) {
	k := &keyring{db: db, kek: kek, lifetime: lifetime, now: time.Now}
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	if k.primaryID == "" {
		if err := k.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *keyring) load(ctx context.Context) error {
	rows, err := k.db.Query(ctx, `SELECT id, secret, primary_key, retired_at FROM signing_keys`)
	if err != nil {
		return err
	}
	defer rows.Close()
	keys, retired := map[string][]byte{}, map[string]int64{}
	primary := ""
	for rows.Next() {
		var id, secret string
		var isPrimary bool
		var retiredAt int64
		if err := rows.Scan(&id, &secret, &isPrimary, &retiredAt); err != nil {
			return err
		}
		if !isPrimary && retiredAt != 0 {
			retired[id] = retiredAt
		}
		b, err := k.open(id, secret)
		if err != nil {
			return fmt.Errorf("identity: signing key %s: %w", id, err)
		}
		keys[id] = b
		if isPrimary {
			primary = id
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	k.mu.Lock()
	k.keys, k.retired, k.primaryID, k.lastReload = keys, retired, primary, k.now()
	k.mu.Unlock()
	return nil
}

// Rotate makes a new primary key; the one it replaces is retired and
// verifies until every token it signed has expired, then it is dropped.
func (k *keyring) Rotate(ctx context.Context) error {
	secret := make([]byte, 32)
	rand.Read(secret)
	id := newID()[:12]
	now := k.now()
	err := k.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET primary_key = ?, retired_at = ? WHERE primary_key = ?`, false, now.Unix(), true); err != nil {
			return err
		}
		// Rounded up a second: created and retired times are whole seconds.
		if _, err := tx.Exec(ctx, `DELETE FROM signing_keys WHERE primary_key = ? AND retired_at < ?`, false, now.Add(-k.lifetime-time.Second).Unix()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO signing_keys (id, secret, created_at, primary_key) VALUES (?, ?, ?, ?)`,
			id, k.kek.Seal(secret, signingKeyContext(id)), now.Unix(), true)
		return err
	})
	if err != nil {
		return err
	}
	return k.load(ctx)
}

func signingKeyContext(id string) string { return "signing_key:" + id }

// open returns a stored signing key: sealed under the master key, or in
// plain base64 as versions before master keys stored it.
func (k *keyring) open(id, stored string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(stored); err == nil && len(b) == 32 {
		return b, nil
	}
	return k.kek.Open(stored, signingKeyContext(id))
}

// reseal seals under the primary master key every stored signing key
// that is not: plain ones of earlier versions, and ones sealed under a
// retired master key.
func (k *keyring) reseal(ctx context.Context) error {
	return k.kek.Reseal(ctx, k.db, secrets.Sealed{Table: "signing_keys", Column: "secret", Key: []string{"id"},
		Bind: func(key []string) string { return signingKeyContext(key[0]) },
		Open: func(key []string, stored string) ([]byte, error) { return k.open(key[0], stored) }})
}

// retiredGrace is how long after its retirement a key may still have
// signed: other servers on the store pick up the new primary key when they
// next refresh (every few seconds).
const retiredGrace = 30 * time.Second

// signedWhilePrimary reports whether a token issued at iat (unix
// microseconds) with key id could have been signed by sov: a retired key
// verifies only tokens issued before it retired, so a leaked old key
// cannot mint new ones.
func (k *keyring) signedWhilePrimary(id string, iat int64) bool {
	k.mu.RLock()
	retiredAt, ok := k.retired[id]
	k.mu.RUnlock()
	return !ok || iat <= time.Unix(retiredAt, 0).Add(retiredGrace).UnixMicro()
}

func (k *keyring) primary() (string, []byte) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primaryID, k.keys[k.primaryID]
}

// keyFor returns the key with the given id. An unknown id makes the keyring
// reload from the store, at most once a second, so that keys rotated by
// another server are found.
func (k *keyring) keyFor(id string) []byte {
	k.mu.RLock()
	key, stale := k.keys[id], k.now().Sub(k.lastReload) > time.Second
	k.mu.RUnlock()
	if key != nil || !stale {
		return key
	}
	if err := k.load(context.Background()); err != nil {
		return nil
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[id]
}
