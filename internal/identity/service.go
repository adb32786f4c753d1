// Package identity is sov's Keystone v3-compatible identity service: tokens,
// the service catalog, domains, projects, users, groups, roles and role
// assignments, application credentials and EC2 credentials.
package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/sovcloud/sov/internal/identity/federation"
	"github.com/sovcloud/sov/internal/identity/token"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/secrets"
	svc "github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// Config configures the identity service.
type Config struct {
	// PublicURL is the base URL clients reach the API listener at, e.g. "http://127.0.0.1:5000".
	PublicURL string
	// Region is the region id published in the catalog.
	Region string
	// TokenLifetime is how long an issued token is valid.
	TokenLifetime time.Duration
	// LockoutAttempts locks a user after that many failed password
	// authentications in a row; 0 disables lockout.
	LockoutAttempts int
	// LockoutDuration is how long a locked user stays locked.
	LockoutDuration time.Duration
	// BcryptCost is the cost of new password hashes.
	BcryptCost int
	// LoginFailures is how many failed logins a user name, or a client
	// address, may have in a minute before further ones get 429 (without
	// any hashing); 0 means no limit.
	LoginFailures int
	// Admin is the cloud administrator Start makes sure of.
	Admin BootstrapConfig
	// KeyRotation is how often a new token signing key is made; 0 never.
	KeyRotation time.Duration
	// RefreshInterval is how often revocations, the catalog and keys are
	// reloaded from the store, for servers that share one; 0 never.
	RefreshInterval time.Duration
	// TrustedDashboards are the origins WebSSO may hand tokens to.
	TrustedDashboards []string
	// DirectorySync is how often LDAP domains are brought in step with
	// their directories; 0 means every minute.
	DirectorySync time.Duration
}

// Service serves the Keystone v3 API.
type Service struct {
	cfg     Config
	db      *store.DB
	log     *slog.Logger
	keys    *keyring
	revoked *revocations
	catalog *catalogCache
	pw      *passwordCache
	guard   *loginGuard
	kek     *secrets.Keyring
	ec2     ec2Cache
	fed     *federation.Federation
	codes   usedCodes // TOTP passcodes accepted lately
}

// New opens the identity service on db. kek, the master key, seals its
// secrets at rest (EC2 credential blobs, token signing keys); any sealed
// under an older master key are resealed under the current one.
func New(ctx context.Context, cfg Config, db *store.DB, kek *secrets.Keyring, log *slog.Logger) (*Service, error) {
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.Region == "" {
		cfg.Region = "RegionOne"
	}
	if cfg.DirectorySync == 0 {
		cfg.DirectorySync = time.Minute
	}
	if cfg.LockoutDuration == 0 {
		cfg.LockoutDuration = 5 * time.Minute
	}
	pw, err := newPasswordCache(cfg.BcryptCost)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, db: db, log: log, pw: pw, guard: newLoginGuard(cfg.LoginFailures), kek: kek}
	if s.keys, err = newKeyring(ctx, db, kek, cfg.TokenLifetime); err != nil {
		return nil, err
	}
	if err := s.keys.reseal(ctx); err != nil {
		return nil, err
	}
	if err := s.resealCredentials(ctx); err != nil {
		return nil, err
	}
	if s.revoked, err = loadRevocations(ctx, db, cfg.TokenLifetime); err != nil {
		return nil, err
	}
	s.fed = federation.New(db, kek, s, cfg.PublicURL, log)
	s.catalog = &catalogCache{db: db}
	if err := s.catalog.reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Name is the service's name.
func (s *Service) Name() string { return "identity" }

// Start makes sure of the default domain, the roles, the administrator
// and the identity service's catalog entries (Bootstrap).
func (s *Service) Start(ctx context.Context) error { return s.Bootstrap(ctx, s.cfg.Admin) }

// Tasks are signing key rotation and the refresh from the store.
func (s *Service) Tasks() []svc.Task {
	return []svc.Task{
		{Name: "token signing key rotation", Every: s.cfg.KeyRotation, Run: s.RotateSigningKey},
		{Name: "refresh from store", Every: s.cfg.RefreshInterval, Run: s.Refresh},
		{Name: "LDAP directories", Every: s.cfg.DirectorySync, Run: s.SyncDirectories},
	}
}

// Refresh reloads what the service caches from the store (revocation
// events, the catalog), so that changes made by other servers sharing the
// store take effect here.
func (s *Service) Refresh(ctx context.Context) error {
	if err := s.revoked.refresh(ctx); err != nil {
		return err
	}
	if err := s.keys.load(ctx); err != nil { // a key another server rotated in
		return err
	}
	return s.catalog.reload(ctx)
}

// RotateSigningKey makes a new primary token signing key; tokens signed with
// the previous keys stay valid until they expire.
func (s *Service) RotateSigningKey(ctx context.Context) error { return s.keys.Rotate(ctx) }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error
type authedFunc func(w http.ResponseWriter, r *http.Request, tok *Token) error

// public adapts a handler that needs no token.
func (s *Service) public(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// authed adapts a handler that needs a valid X-Auth-Token.
func (s *Service) authed(h authedFunc) http.HandlerFunc {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		tok, err := s.ValidateToken(r.Header.Get("X-Auth-Token"))
		if err != nil {
			return err
		}
		return h(w, r, tok)
	})
}

// ValidateToken verifies a token string: signature, expiry and revocation.
// It reads no database.
// Authenticate validates the request's X-Auth-Token and returns its
// caller: identity is the httpapi.Authenticator of every other API.
func (s *Service) Authenticate(r *http.Request) (*policy.Credentials, error) {
	tok, err := s.ValidateToken(r.Header.Get("X-Auth-Token"))
	if err != nil {
		return nil, err
	}
	return tok.Credentials(), nil
}

// ValidateToken verifies a token string: signature, expiry and revocation.
func (s *Service) ValidateToken(raw string) (*Token, error) {
	if raw == "" {
		return nil, unauthorized("The request you have made requires authentication.")
	}
	tok, err := token.Parse(raw, s.keys.keyFor)
	if err != nil {
		return nil, unauthorized("The request you have made requires authentication.")
	}
	now := time.Now()
	if now.UnixMicro() >= tok.ExpiresAt {
		return nil, unauthorized("The token has expired.")
	}
	// Never longer-lived than the configured lifetime allows (a lifetime
	// lowered since, a token minted with a leaked key), nor from the future.
	if tok.ExpiresAt-tok.IssuedAt > s.cfg.TokenLifetime.Microseconds() || tok.IssuedAt > now.Add(time.Minute).UnixMicro() {
		return nil, unauthorized("The token's lifetime exceeds the maximum.")
	}
	if !s.keys.signedWhilePrimary(tok.KeyID(), tok.IssuedAt) {
		return nil, unauthorized("The request you have made requires authentication.")
	}
	if s.revoked.isRevoked(tok) {
		return nil, unauthorized("The token has been revoked.")
	}
	return tok, nil
}

func enforce(tok *Token, action string, t policy.Target) error {
	return policy.Enforce(tok.Credentials(), action, t)
}

// newID returns a Keystone-style id: 32 lowercase hex digits.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// url returns the public URL of an identity API path such as "/v3/projects/x".
func (s *Service) url(path string) string {
	return s.cfg.PublicURL + "/identity" + path
}

// boolQuery parses an optional boolean query parameter the way Keystone does.
func boolQuery(r *http.Request, name string) (value, present bool) {
	v, ok := r.URL.Query()[name]
	if !ok {
		return false, false
	}
	s := strings.ToLower(strings.Join(v, ""))
	return s == "" || s == "true" || s == "1" || s == "yes", true
}

// noTarget is the target of actions on global resources.
var noTarget = policy.Target{}
