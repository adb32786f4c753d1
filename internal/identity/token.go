package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Token is what a sov token carries. It is signed (HS256 JWS with the id of
// the signing key in "kid"), so validating it needs no database read.
type Token struct {
	Methods        []string `json:"m"`
	UserID         string   `json:"u"`
	UserName       string   `json:"un"`
	UserDomainID   string   `json:"ud"`
	UserDomainName string   `json:"udn"`
	// ProjectID is set for a project-scoped token.
	ProjectID         string `json:"p,omitempty"`
	ProjectName       string `json:"pn,omitempty"`
	ProjectDomainID   string `json:"pd,omitempty"`
	ProjectDomainName string `json:"pdn,omitempty"`
	// DomainID is set for a domain-scoped token.
	DomainID   string    `json:"d,omitempty"`
	DomainName string    `json:"dn,omitempty"`
	Roles      []RoleRef `json:"r,omitempty"`
	// AppCredID is set when the token was issued for an application credential.
	AppCredID string `json:"ac,omitempty"`
	// AppCredUnrestricted is set when that application credential may
	// manage credentials and other application credentials.
	AppCredUnrestricted bool `json:"acu,omitempty"`
	// AuditIDs holds the token's own audit id and, for a token obtained with
	// another token, the first audit id of that chain.
	AuditIDs  []string `json:"a"`
	IssuedAt  int64    `json:"iat"` // unix microseconds
	ExpiresAt int64    `json:"exp"` // unix microseconds

	keyID string // the signing key, from the JWS header (not in the payload)
}

// RoleRef names a role in a token.
type RoleRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Issued returns when the token was issued.
func (t *Token) Issued() time.Time { return time.UnixMicro(t.IssuedAt).UTC() }

// Expires returns when the token expires.
func (t *Token) Expires() time.Time { return time.UnixMicro(t.ExpiresAt).UTC() }

// errTokenInvalid is returned for any token that does not parse or verify.
var errTokenInvalid = errors.New("identity: invalid token")

// sign encodes and signs t with the primary key of the keyring.
func (k *keyring) sign(t *Token) (string, error) {
	id, secret := k.primary()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithHeader("kid", id))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// parseToken verifies the signature of s against the keyring and decodes it.
// It does not check expiry or revocation.
func parseToken(s string, keyFor func(kid string) []byte) (*Token, error) {
	if len(s) > 8192 {
		return nil, errTokenInvalid
	}
	obj, err := jose.ParseSigned(s, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil || len(obj.Signatures) != 1 {
		return nil, errTokenInvalid
	}
	secret := keyFor(obj.Signatures[0].Header.KeyID)
	if secret == nil {
		return nil, errTokenInvalid
	}
	payload, err := obj.Verify(secret)
	if err != nil {
		return nil, errTokenInvalid
	}
	var t Token
	if err := json.Unmarshal(payload, &t); err != nil {
		return nil, fmt.Errorf("%w: %v", errTokenInvalid, err)
	}
	if t.UserID == "" || len(t.AuditIDs) == 0 || t.ExpiresAt == 0 {
		return nil, errTokenInvalid
	}
	t.keyID = obj.Signatures[0].Header.KeyID
	return &t, nil
}
