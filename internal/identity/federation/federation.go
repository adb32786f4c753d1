// Package federation is Keystone's OS-FEDERATION: identity providers,
// mappings and protocols (their API, at /identity/v3/OS-FEDERATION), and
// the validation of what a provider says about a user: for the "openid"
// protocol, an OAuth 2.0 access token, a JWT checked against the
// provider's published keys or an opaque token checked by introspection.
// Login (shadow users, groups, projects, the Keystone token) is the
// identity service's; this package tells it who the user is and what the
// provider's mapping makes of them.
package federation

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"

	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/store"
)

// Directory is what federation needs of the identity service.
type Directory interface {
	// DomainExists reports whether a domain of that id exists.
	DomainExists(ctx context.Context, id string) (bool, error)
	// CreateDomain makes a domain for an identity provider that names none.
	CreateDomain(ctx context.Context, name, description string) (string, error)
	// Authed adapts an API handler: Keystone token in, Keystone errors out.
	Authed(h func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error) http.Handler
}

// Federation holds the identity providers, mappings and protocols.
type Federation struct {
	db        *store.DB
	kek       *secrets.Keyring
	dir       Directory
	log       *slog.Logger
	publicURL string

	mu      sync.Mutex // protects issuers
	issuers map[string]*issuer
	sp      spIdentity
}

// New opens federation on db; kek seals the client secrets sov uses at
// identity providers.
func New(db *store.DB, kek *secrets.Keyring, dir Directory, publicURL string, log *slog.Logger) *Federation {
	return &Federation{db: db, kek: kek, dir: dir, log: log, publicURL: publicURL, issuers: map[string]*issuer{}}
}

// Settings are sov's own settings of an identity provider, for the
// "openid" protocol (Keystone keeps these in mod_auth_openidc's
// configuration; sov in the provider, under "oidc").
type Settings struct {
	// Audiences are the "aud" values an access token must carry one of
	// (the client ids at the provider whose tokens this cloud accepts).
	Audiences []string `json:"audiences"`
	// CACertificate is PEM of the CAs that sign the provider's TLS
	// certificate, when not the system's.
	CACertificate string `json:"ca_certificate,omitempty"`
	// ClientID and ClientSecret are sov's client at the provider: for its
	// introspection endpoint (opaque access tokens) and for WebSSO; tokens
	// issued to that client are accepted as if it were in Audiences.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes are what WebSSO asks the provider for (default openid,
	// profile and email).
	Scopes []string `json:"scopes,omitempty"`
}

// IdentityProvider is an identity provider as stored.
type IdentityProvider struct {
	ID, DomainID, Description string
	Enabled                   bool
	RemoteIDs                 []string
	Settings                  Settings
	SAML                      SAMLSettings
}

// storedSettings is the settings column: sov's settings for each protocol.
type storedSettings struct {
	OIDC Settings     `json:"oidc"`
	SAML SAMLSettings `json:"saml"`
}

func (f *Federation) secretContext(idp string) string { return "federation_client_secret:" + idp }

// provider returns an identity provider, its client secret opened.
func (f *Federation) provider(ctx context.Context, id string) (*IdentityProvider, error) {
	p := &IdentityProvider{ID: id}
	var settings string
	if err := f.db.QueryRow(ctx, `SELECT domain_id, description, enabled, settings FROM fed_identity_providers WHERE id = ?`, id).
		Scan(&p.DomainID, &p.Description, &p.Enabled, &settings); err != nil {
		return nil, store.Row(err)
	}
	var ss storedSettings
	if err := json.Unmarshal([]byte(settings), &ss); err != nil {
		return nil, err
	}
	p.Settings, p.SAML = ss.OIDC, ss.SAML
	if p.Settings.ClientSecret != "" {
		plain, err := f.kek.Open(p.Settings.ClientSecret, f.secretContext(id))
		if err != nil {
			return nil, err
		}
		p.Settings.ClientSecret = string(plain)
	}
	var err error
	p.RemoteIDs, err = store.Column(ctx, f.db, `SELECT remote_id FROM fed_remote_ids WHERE idp_id = ? ORDER BY remote_id`, id)
	return p, err
}

// pool is the trust store for a provider: its own CAs, or the system's.
func (s Settings) pool() (*x509.CertPool, error) {
	if s.CACertificate == "" {
		return x509.SystemCertPool()
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM([]byte(s.CACertificate)) {
		return nil, errBadCA
	}
	return p, nil
}
