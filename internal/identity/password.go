package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
)

// maxPasswordBytes is the longest password (or application credential
// secret) bcrypt takes whole.
const maxPasswordBytes = 72

// hashPassword returns the bcrypt hash of a password; a longer one than
// bcrypt reads is a 400, never silently truncated.
func hashPassword(password string, cost int) (string, error) {
	if len(password) > maxPasswordBytes {
		return "", badRequest("Invalid input for field 'password': at most %d bytes.", maxPasswordBytes)
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(h), err
}

// passwordCache remembers, in memory only, that a password matched a stored
// hash, so that repeated authentications of the same user skip bcrypt. It
// stores keyed MACs of (hash, password) under a per-process random key, never
// passwords; a changed hash no longer matches.
type passwordCache struct {
	key []byte
	// decoy is a hash of a random password at the cost of stored ones.
	decoy []byte
	// hashes counts the bcrypt comparisons made.
	hashes atomic.Int64

	mu      sync.RWMutex // protects entries
	entries map[string][32]byte
}

const passwordCacheMax = 100_000

func newPasswordCache(cost int) (*passwordCache, error) {
	key := make([]byte, 32)
	rand.Read(key)
	decoy, err := hashPassword(rand.Text(), cost)
	if err != nil {
		return nil, err
	}
	return &passwordCache{key: key, decoy: []byte(decoy), entries: map[string][32]byte{}}, nil
}

func (c *passwordCache) mac(hash, password string) [32]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

// check reports whether password matches the bcrypt hash stored under id;
// the bcrypt work runs in a slot of guard. An empty hash (an unknown user
// or credential) is compared with a decoy of the same cost, so that the
// answer takes as long as for a known one and tells nothing.
func (c *passwordCache) check(ctx context.Context, guard *loginGuard, id, hash, password string) (bool, error) {
	if hash == "" {
		_, err := guard.hash(ctx, func() bool { return bcrypt.CompareHashAndPassword(c.decoy, []byte(password)) == nil })
		c.hashes.Add(1)
		return false, err
	}
	mac := c.mac(hash, password)
	c.mu.RLock()
	known, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && hmac.Equal(known[:], mac[:]) {
		return true, nil
	}
	match, err := guard.hash(ctx, func() bool { return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil })
	c.hashes.Add(1)
	if err != nil || !match {
		return false, err
	}
	c.mu.Lock()
	if len(c.entries) >= passwordCacheMax {
		clear(c.entries)
	}
	c.entries[id] = mac
	c.mu.Unlock()
	return true, nil
}
