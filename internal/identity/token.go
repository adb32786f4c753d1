package identity

import "github.com/sovcloud/sov/internal/identity/token"

// Token is what a sov token carries (package token has its format).
type Token = token.Token

// FederationRef is where a federated token's user came from.
type FederationRef = token.FederationRef

// RoleRef names a role in a token.
type RoleRef = token.RoleRef

// sign signs t with the primary key of the keyring.
func (k *keyring) sign(t *Token) (string, error) {
	id, secret := k.primary()
	return token.Sign(t, id, secret)
}

// parseToken verifies the signature of s against the keyring's keys and
// decodes it. It does not check expiry or revocation.
func parseToken(s string, keyFor func(kid string) []byte) (*Token, error) {
	return token.Parse(s, keyFor)
}
