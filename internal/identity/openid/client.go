package openid

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// client is a relying party registered with the provider.
type client struct {
	ID, DomainID, Name string
	// secretHash is the SHA-256 of the secret; "" for a public client.
	secretHash      string
	AppType         string // web, native or user_agent
	Redirects       []string
	LogoutRedirects []string
	Grants          []oidc.GrantType
	// Scopes are the scopes beyond openid the client may ask for.
	Scopes []string
	// RequireConsent shows users the consent page after they sign in.
	RequireConsent bool
	CreatedAt      time.Time

	// loginPath is the provider's login page; devMode lets http redirect
	// URIs pass for any client (an insecure issuer).
	loginPath string
	devMode   bool
	idTTL     time.Duration
}

const clientColumns = `id, domain_id, name, secret_hash, application_type, redirect_uris, post_logout_redirect_uris, grant_types, scopes, require_consent, created_at`

func scanClient(sc interface{ Scan(...any) error }) (*client, error) {
	var c client
	var redirects, logout, grants, scopes string
	var created int64
	if err := sc.Scan(&c.ID, &c.DomainID, &c.Name, &c.secretHash, &c.AppType, &redirects, &logout, &grants, &scopes, &c.RequireConsent, &created); err != nil {
		return nil, err
	}
	c.CreatedAt = time.Unix(created, 0).UTC()
	for _, l := range []struct {
		s   string
		dst any
	}{{redirects, &c.Redirects}, {logout, &c.LogoutRedirects}, {grants, &c.Grants}, {scopes, &c.Scopes}} {
		if err := json.Unmarshal([]byte(l.s), l.dst); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// errNoClient is what an unknown client id gets: a plain error, which the
// provider answers as invalid_client.
var errNoClient = errors.New("openid: no such client")

// clientCache keeps clients read from the store for a short while: every
// token request reads its client several times. Changes made here drop
// the entry at once; those of other servers sharing the store show after
// at most clientTTL.
type clientCache struct {
	mu      sync.Mutex
	entries map[string]cachedClient
}

type cachedClient struct {
	c    *client
	read time.Time
}

// clientTTL is how long a cached client is used.
const clientTTL = 2 * time.Second

// maxCachedClients bounds the cache; past it, it starts over.
const maxCachedClients = 10_000

func (cc *clientCache) get(id string, now time.Time) *client {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.entries[id]
	if !ok || now.Sub(e.read) > clientTTL {
		return nil
	}
	return e.c
}

func (cc *clientCache) put(c *client, now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.entries == nil || len(cc.entries) >= maxCachedClients {
		cc.entries = map[string]cachedClient{}
	}
	cc.entries[c.ID] = cachedClient{c: c, read: now}
}

func (cc *clientCache) drop(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.entries, id)
}

// client returns a registered client (a copy the caller may keep).
func (p *Provider) client(ctx context.Context, id string) (*client, error) {
	now := p.now()
	if c := p.clients.get(id, now); c != nil {
		cp := *c
		return &cp, nil
	}
	c, err := scanClient(p.db.QueryRow(ctx, `SELECT `+clientColumns+` FROM oidc_clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoClient
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	c.loginPath, c.devMode, c.idTTL = p.loginPath, false, p.cfg.IDTokenLifetime
	p.clients.put(c, now)
	cp := *c
	return &cp, nil
}

// GetClientByClientID returns a registered client.
func (p *Provider) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	return p.client(ctx, id)
}

// AuthorizeClientIDSecret checks a confidential client's secret.
func (p *Provider) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := p.client(ctx, id)
	if err != nil {
		return err
	}
	if c.public() || subtle.ConstantTimeCompare([]byte(c.secretHash), []byte(hash(secret))) != 1 {
		return errors.New("openid: wrong client secret")
	}
	return nil
}

func (c *client) public() bool { return c.secretHash == "" }

func (c *client) GetID() string                    { return c.ID }
func (c *client) RedirectURIs() []string           { return c.Redirects }
func (c *client) PostLogoutRedirectURIs() []string { return c.LogoutRedirects }
func (c *client) ApplicationType() op.ApplicationType {
	switch c.AppType {
	case "native":
		return op.ApplicationTypeNative
	case "user_agent":
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType { return c.Grants }
func (c *client) LoginURL(id string) string    { return c.loginPath + "?authRequestID=" + id }

// AccessTokenType is JWT: a relying party, or a cloud that trusts this
// one, validates access tokens with the published keys.
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration      { return c.idTTL }
func (c *client) DevMode() bool                       { return c.devMode }
func (c *client) ClockSkew() time.Duration            { return 0 }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed allows the scopes the client was registered with.
func (c *client) IsScopeAllowed(scope string) bool { return slices.Contains(c.Scopes, scope) }

// IDTokenUserinfoClaimsAssertion puts the userinfo claims into ID tokens.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
