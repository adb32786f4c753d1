// Package openid is sov's OpenID Connect provider: discovery, the key set
// (RS256 and ES256 keys of its own, rotated with overlap and sealed under
// the master key), authorization code with PKCE, refresh tokens (rotating,
// with reuse detection), client credentials, device authorization, userinfo, introspection,
// revocation and end-session, on zitadel/oidc's OP package; a login page
// that authenticates Keystone users; and the API that manages its clients.
//
// The issuer is the identity endpoint (PublicURL + "/identity"): discovery
// answers at /identity/.well-known/openid-configuration, the protocol
// endpoints under /identity/oidc/.
package openid

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/secrets"
	svc "github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// Config configures the provider.
type Config struct {
	// Issuer is the provider's issuer URL; it must be https unless
	// Insecure is set.
	Issuer string
	// Insecure allows an http issuer (tests, a cloud on loopback only).
	Insecure bool
	// SigningAlgorithm signs ID and access tokens: RS256 (the default,
	// which every relying party supports) or ES256.
	SigningAlgorithm string
	// AccessTokenLifetime defaults to 15 minutes, IDTokenLifetime to an
	// hour, RefreshTokenLifetime to a day (each use makes a new one).
	AccessTokenLifetime, IDTokenLifetime, RefreshTokenLifetime time.Duration
	// KeyRotation is how often new signing keys are made; 0 never.
	KeyRotation time.Duration
	// RefreshInterval is how often keys are reloaded from the store, for
	// servers that share one; 0 never.
	RefreshInterval time.Duration
}

// Directory is what the provider needs of the identity service.
type Directory interface {
	// CheckPassword authenticates a user by name, domain name, password
	// and, for a user with a second factor, a TOTP passcode (with the
	// identity service's lockout and rate limits; source is the client's
	// address) and returns the user's id.
	CheckPassword(ctx context.Context, domain, name, password, passcode, source string) (string, error)
	// Person returns an enabled user's claims material.
	Person(ctx context.Context, userID string) (*Person, error)
	// Active reports whether a user exists and may sign in (enabled, in an
	// enabled domain).
	Active(ctx context.Context, userID string) (bool, error)
	// DomainExists reports whether a domain of that id exists.
	DomainExists(ctx context.Context, id string) (bool, error)
	// Authed adapts an API handler: it validates the request's Keystone
	// token, and writes the handler's error in Keystone's format.
	Authed(h func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error) http.Handler
}

// Provider is the OpenID Connect provider; it is the op.Storage of
// zitadel/oidc's OP, which serves the protocol.
type Provider struct {
	cfg       Config
	db        *store.DB
	dir       Directory
	log       *slog.Logger
	keys      *keyring
	alg       jose.SignatureAlgorithm
	op        *op.Provider
	base      string // the issuer's path, e.g. /identity
	loginPath string
	// devicePath is the page where users sign in for a device, consentPath
	// where they answer the consent page.
	devicePath, consentPath string
	now                     func() time.Time
	clients                 clientCache
}

// New makes the provider on db; kek seals its signing keys.
func New(ctx context.Context, cfg Config, db *store.DB, kek *secrets.Keyring, dir Directory, log *slog.Logger) (*Provider, error) {
	if cfg.AccessTokenLifetime == 0 {
		cfg.AccessTokenLifetime = 15 * time.Minute
	}
	if cfg.IDTokenLifetime == 0 {
		cfg.IDTokenLifetime = time.Hour
	}
	if cfg.RefreshTokenLifetime == 0 {
		cfg.RefreshTokenLifetime = 24 * time.Hour
	}
	alg := jose.SignatureAlgorithm(cfg.SigningAlgorithm)
	if alg == "" {
		alg = jose.RS256
	}
	if alg != jose.RS256 && alg != jose.ES256 {
		return nil, fmt.Errorf("openid: signing algorithm %q: want RS256 or ES256", alg)
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("openid: issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if u.Scheme == "http" && !cfg.Insecure {
		return nil, fmt.Errorf("openid: issuer %s must be https (or allowed insecure)", cfg.Issuer)
	}
	p := &Provider{cfg: cfg, db: db, dir: dir, log: log, alg: alg, base: strings.TrimSuffix(u.Path, "/"), now: time.Now}
	p.loginPath, p.devicePath, p.consentPath = p.base+"/oidc/login", p.base+"/oidc/device", p.base+"/oidc/consent"
	if p.keys, err = newKeyring(ctx, db, kek, max(cfg.AccessTokenLifetime, cfg.IDTokenLifetime)); err != nil {
		return nil, err
	}
	// The crypto key only encrypts the request id inside a code, which is
	// looked up by its hash in the store: a key of this process serves.
	var key [32]byte
	rand.Read(key[:])
	opts := []op.Option{
		op.WithCustomEndpoints(op.NewEndpoint("oidc/authorize"), op.NewEndpoint("oidc/token"), op.NewEndpoint("oidc/userinfo"),
			op.NewEndpoint("oidc/revoke"), op.NewEndpoint("oidc/end_session"), op.NewEndpoint("oidc/keys")),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint("oidc/introspect")),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint("oidc/device_authorization")),
	}
	if cfg.Insecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	p.op, err = op.NewProvider(&op.Config{
		CryptoKey:                key,
		DefaultLogoutRedirectURI: p.base + "/oidc/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		DeviceAuthorization: op.DeviceAuthorizationConfig{Lifetime: deviceLifetime, PollInterval: 5 * time.Second,
			UserFormPath: p.devicePath, UserCode: op.UserCodeBase20},
	}, p, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Name is the service's name.
func (p *Provider) Name() string { return "openid" }

// Tasks are key rotation, the reload of keys from the store, and the
// purge of expired requests and tokens.
func (p *Provider) Tasks() []svc.Task {
	return []svc.Task{
		{Name: "OIDC signing key rotation", Every: p.cfg.KeyRotation, Run: p.keys.Rotate},
		{Name: "OIDC keys from store", Every: p.cfg.RefreshInterval, Run: p.keys.load},
		{Name: "OIDC expired tokens", Every: time.Minute, Run: p.purge},
	}
}

// RotateKeys makes new signing keys now (see keyring.Rotate).
func (p *Provider) RotateKeys(ctx context.Context) error { return p.keys.Rotate(ctx) }

// purge deletes expired authorization requests and tokens.
func (p *Provider) purge(ctx context.Context) error {
	now := p.now()
	for _, q := range []struct {
		sql string
		at  int64
	}{
		{`DELETE FROM oidc_auth_requests WHERE created_at < ?`, now.Add(-authRequestLifetime).Unix()},
		{`DELETE FROM oidc_access_tokens WHERE expires_at < ?`, now.Unix()},
		{`DELETE FROM oidc_refresh_tokens WHERE expires_at < ?`, now.Unix()},
		{`DELETE FROM oidc_device_codes WHERE expires_at < ?`, now.Unix()},
	} {
		if _, err := p.db.Exec(ctx, q.sql, q.at); err != nil {
			return err
		}
	}
	return nil
}

// Register adds the provider's routes: discovery, the protocol endpoints,
// the login page and the clients API.
func (p *Provider) Register(mux *http.ServeMux) {
	proto := http.StripPrefix(p.base, p.op)
	mux.Handle(p.base+"/.well-known/openid-configuration", proto)
	mux.Handle(p.base+"/oidc/", proto)
	mux.Handle("GET "+p.loginPath, http.HandlerFunc(p.loginPage))
	mux.Handle("POST "+p.loginPath, http.HandlerFunc(p.login))
	mux.Handle("POST "+p.consentPath, http.HandlerFunc(p.consent))
	mux.Handle("GET "+p.devicePath, http.HandlerFunc(p.devicePage))
	mux.Handle("POST "+p.devicePath, http.HandlerFunc(p.device))
	mux.Handle("GET "+p.base+"/oidc/logged-out", http.HandlerFunc(p.loggedOut))
	p.registerClients(mux)
}

// SigningKey is the primary key of the configured algorithm.
func (p *Provider) SigningKey(context.Context) (op.SigningKey, error) { return p.keys.primary(p.alg) }

// SignatureAlgorithms are the algorithms the provider signs with.
func (p *Provider) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{p.alg}, nil
}

// KeySet is the published key set: every algorithm's next, primary and
// retired keys.
func (p *Provider) KeySet(context.Context) ([]op.Key, error) { return p.keys.published(), nil }

var errJWTProfile = errors.New("openid: the JWT profile grant is not supported")

// GetKeyByIDAndClientID would find a client's key for the JWT profile
// grant, which the provider does not offer.
func (p *Provider) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errJWTProfile
}

// ValidateJWTProfileScopes belongs to the JWT profile grant too.
func (p *Provider) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errJWTProfile
}

// Health reports whether the store answers.
func (p *Provider) Health(ctx context.Context) error {
	var one int
	return p.db.QueryRow(ctx, `SELECT 1`).Scan(&one)
}
