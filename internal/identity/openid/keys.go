package openid

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/store"
)

// Key states: a next key is published before it signs, so that relying
// parties have it in their cached key set when it starts to; a retired key
// stays published until everything it signed has expired.
const (
	keyNext    = "next"
	keyPrimary = "primary"
	keyRetired = "retired"
)

// algorithms are the signature algorithms the provider keeps keys for.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// signingKey is one asymmetric key of the keyring.
type signingKey struct {
	id    string
	alg   jose.SignatureAlgorithm
	state string
	priv  crypto.Signer
}

func (k *signingKey) ID() string                                  { return k.id }
func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.priv }

// publicKey is a signing key as the key set publishes it.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return p.k.alg }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return p.k.priv.Public() }

// keyring holds the provider's signing keys (RS256 and ES256), sealed
// under the master key in the store; they are apart from Keystone's token
// keys.
type keyring struct {
	db  *store.DB
	kek *secrets.Keyring
	// keep is how long a retired key stays published: the longest any
	// token it signed lives.
	keep time.Duration
	now  func() time.Time

	mu   sync.RWMutex // protects keys
	keys []*signingKey
}

func newKeyring(ctx context.Context, db *store.DB, kek *secrets.Keyring, keep time.Duration) (*keyring, error) {
	k := &keyring{db: db, kek: kek, keep: keep, now: time.Now}
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		if err := k.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return k, k.kek.Reseal(ctx, db, secrets.Sealed{Table: "oidc_keys", Column: "private_key", Key: []string{"id"}, Bind: keyContext})
}

func keyContext(key []string) string { return "oidc_key:" + key[0] }

func (k *keyring) load(ctx context.Context) error {
	rows, err := k.db.Query(ctx, `SELECT id, algorithm, private_key, state FROM oidc_keys ORDER BY created_at, id`)
	if err != nil {
		return err
	}
	keys, err := store.Collect(rows, func(sc store.Scanner) (*signingKey, error) {
		var key signingKey
		var sealed string
		if err := sc.Scan(&key.id, &key.alg, &sealed, &key.state); err != nil {
			return nil, err
		}
		der, err := k.kek.Open(sealed, keyContext([]string{key.id}))
		if err != nil {
			return nil, fmt.Errorf("openid: key %s: %w", key.id, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("openid: key %s: %w", key.id, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("openid: key %s is not a signing key", key.id)
		}
		key.priv = signer
		return &key, nil
	})
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}

// Rotate retires each algorithm's primary key, makes its next key primary,
// and makes a new next key; retired keys whose tokens have all expired go.
// The first rotation makes both a primary and a next key.
func (k *keyring) Rotate(ctx context.Context) error {
	now := k.now()
	made := map[string][]byte{}
	var rows []store.Values
	for _, alg := range algorithms {
		for range 2 { // a primary when none is left, and a next key
			id, der, err := newKey(alg)
			if err != nil {
				return err
			}
			made[id] = der
			rows = append(rows, store.Values{}.Set("id", id).Set("algorithm", string(alg)).
				Set("private_key", k.kek.Seal(der, keyContext([]string{id}))).Set("created_at", now.UnixNano()).Set("retired_at", int64(0)))
		}
	}
	err := k.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "oidc_keys"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM oidc_keys WHERE state = ? AND retired_at < ?`, keyRetired, now.Add(-k.keep-time.Minute).Unix()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE oidc_keys SET state = ?, retired_at = ? WHERE state = ?`, keyRetired, now.Unix(), keyPrimary); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE oidc_keys SET state = ? WHERE state = ?`, keyPrimary, keyNext); err != nil {
			return err
		}
		for i, alg := range algorithms {
			var primaries int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM oidc_keys WHERE state = ? AND algorithm = ?`, keyPrimary, string(alg)).Scan(&primaries); err != nil {
				return err
			}
			first, second := rows[2*i], rows[2*i+1]
			if primaries == 0 {
				if err := store.Insert(ctx, tx, "oidc_keys", first.Set("state", keyPrimary)); err != nil {
					return err
				}
			}
			if err := store.Insert(ctx, tx, "oidc_keys", second.Set("state", keyNext)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return k.load(ctx)
}

func newKey(alg jose.SignatureAlgorithm) (id string, der []byte, err error) {
	var priv any
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return "", nil, fmt.Errorf("openid: no keys for %s", alg)
	}
	if err != nil {
		return "", nil, err
	}
	der, err = x509.MarshalPKCS8PrivateKey(priv)
	return randomID(), der, err
}

// primary is the key that signs with alg.
func (k *keyring) primary(alg jose.SignatureAlgorithm) (*signingKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, key := range k.keys {
		if key.alg == alg && key.state == keyPrimary {
			return key, nil
		}
	}
	return nil, fmt.Errorf("openid: no %s signing key", alg)
}

// published lists the public keys of every key: next, primary and retired.
func (k *keyring) published() []op.Key {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]op.Key, 0, len(k.keys))
	for _, key := range k.keys {
		out = append(out, publicKey{key})
	}
	return out
}
