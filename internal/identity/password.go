package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"

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

	mu      sync.RWMutex // protects entries
	entries map[string][32]byte
}

const passwordCacheMax = 100_000

func newPasswordCache() *passwordCache {
	key := make([]byte, 32)
	rand.Read(key)
	return &passwordCache{key: key, entries: map[string][32]byte{}}
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

// check reports whether password matches the bcrypt hash stored under id.
func (c *passwordCache) check(id, hash, password string) bool {
	if hash == "" {
		return false
	}
	mac := c.mac(hash, password)
	c.mu.RLock()
	known, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && hmac.Equal(known[:], mac[:]) {
		return true
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return false
	}
	c.mu.Lock()
	if len(c.entries) >= passwordCacheMax {
		clear(c.entries)
	}
	c.entries[id] = mac
	c.mu.Unlock()
	return true
}
