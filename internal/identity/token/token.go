// Package token is the format of sov's Keystone tokens: a Token's fields,
// signed as an HS256 JWS with the signing key's id in "kid" (go-jose), so
// validating one needs no database read. Keys, expiry and revocation are
// identity's; this package only signs and parses.
package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sovcloud/sov/internal/policy"
)

// Token is what a sov token carries.
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
	// Federation is set for a token a federated login issued.
	Federation *FederationRef `json:"f,omitempty"`
	// AuditIDs holds the token's own audit id and, for a token obtained with
	// another token, the first audit id of that chain.
	AuditIDs  []string `json:"a"`
	IssuedAt  int64    `json:"iat"` // unix microseconds
	ExpiresAt int64    `json:"exp"` // unix microseconds

	keyID string // the signing key, from the JWS header (not in the payload)
}

// FederationRef is where a federated user came from: the identity
// provider, the protocol, and the ids of the groups the mapping gave.
type FederationRef struct {
	IdP      string   `json:"i"`
	Protocol string   `json:"p"`
	Groups   []string `json:"g,omitempty"`
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

// KeyID is the id of the key the token was signed with (from its header).
func (t *Token) KeyID() string { return t.keyID }

// Credentials are what the policy decides on: the token's user, scope and roles.
func (t *Token) Credentials() *policy.Credentials {
	c := &policy.Credentials{UserID: t.UserID, UserDomainID: t.UserDomainID, ProjectID: t.ProjectID,
		ProjectDomainID: t.ProjectDomainID, DomainID: t.DomainID}
	for _, r := range t.Roles {
		c.Roles = append(c.Roles, r.Name)
	}
	return c
}

// ErrInvalid is returned for any token that does not parse or verify.
var ErrInvalid = errors.New("token: invalid token")

// Sign encodes t and signs it with key, naming keyID in the header.
func Sign(t *Token, keyID string, key []byte) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key},
		(&jose.SignerOptions{}).WithHeader("kid", keyID))
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

// Parse verifies the signature of s with the key keyFor names and decodes
// it. It does not check expiry or revocation.
func Parse(s string, keyFor func(kid string) []byte) (*Token, error) {
	if len(s) > 8192 {
		return nil, ErrInvalid
	}
	obj, err := jose.ParseSigned(s, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil || len(obj.Signatures) != 1 {
		return nil, ErrInvalid
	}
	secret := keyFor(obj.Signatures[0].Header.KeyID)
	if secret == nil {
		return nil, ErrInvalid
	}
	payload, err := obj.Verify(secret)
	if err != nil {
		return nil, ErrInvalid
	}
	var t Token
	if err := json.Unmarshal(payload, &t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if t.UserID == "" || len(t.AuditIDs) == 0 || t.ExpiresAt == 0 {
		return nil, ErrInvalid
	}
	t.keyID = obj.Signatures[0].Header.KeyID
	return &t, nil
}
