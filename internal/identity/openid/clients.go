package openid

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// The clients API, at /identity/oidc/clients: admins manage every
// client, a domain manager the clients of its domain. A client of a domain
// signs in only that domain's users; an admin's client with no domain
// (the default for admins) signs in anyone's. Bodies are in
// Keystone's style ({"client": {...}}); the secret of a confidential
// client is shown once, when it is made.

// grants are the grant types a client may be given.
var grants = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode}

// clientBody is a client as the API reads it.
type clientBody struct {
	Name            *string   `json:"name"`
	DomainID        *string   `json:"domain_id"`
	Public          *bool     `json:"public"`
	AppType         *string   `json:"application_type"`
	Redirects       *[]string `json:"redirect_uris"`
	LogoutRedirects *[]string `json:"post_logout_redirect_uris"`
	Grants          *[]string `json:"grant_types"`
	Scopes          *[]string `json:"scopes"`
	RequireConsent  *bool     `json:"require_consent"`
}

func (p *Provider) registerClients(mux *http.ServeMux) {
	base := p.base + "/oidc/clients"
	mux.Handle("GET "+base, p.dir.Authed(p.listClients))
	mux.Handle("POST "+base, p.dir.Authed(p.createClient))
	mux.Handle("GET "+base+"/{client_id}", p.dir.Authed(p.showClient))
	mux.Handle("PATCH "+base+"/{client_id}", p.dir.Authed(p.updateClient))
	mux.Handle("DELETE "+base+"/{client_id}", p.dir.Authed(p.deleteClient))
}

// view is a client as the API shows it.
func (c *client) view(secret string) map[string]any {
	v := map[string]any{"id": c.ID, "name": c.Name, "domain_id": c.DomainID, "public": c.public(),
		"application_type": c.AppType, "redirect_uris": nonNil(c.Redirects), "post_logout_redirect_uris": nonNil(c.LogoutRedirects),
		"grant_types": grantStrings(c.Grants), "scopes": nonNil(c.Scopes), "require_consent": c.RequireConsent, "created_at": c.CreatedAt.Format(time.RFC3339)}
	if secret != "" {
		v["secret"] = secret
	}
	return v
}

func (p *Provider) listClients(w http.ResponseWriter, r *http.Request, cred *policy.Credentials) error {
	domain := r.URL.Query().Get("domain_id")
	if domain == "" && !cred.HasRole(policy.Admin) {
		domain = cred.DomainID
	}
	if err := policy.Enforce(cred, "identity:list_oidc_clients", policy.Target{DomainID: domain}); err != nil {
		return err
	}
	q, args := `SELECT `+clientColumns+` FROM oidc_clients`, []any{}
	if domain != "" {
		q, args = q+` WHERE domain_id = ?`, append(args, domain)
	}
	rows, err := p.db.Query(r.Context(), q+` ORDER BY name, id`, args...)
	if err != nil {
		return err
	}
	clients, err := store.Collect(rows, func(sc store.Scanner) (*client, error) { return scanClient(sc) })
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(clients))
	for i, c := range clients {
		out[i] = c.view("")
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"clients": out})
	return nil
}

// owned returns a client the caller may act on with action.
func (p *Provider) owned(r *http.Request, cred *policy.Credentials, action string) (*client, error) {
	c, err := p.client(r.Context(), r.PathValue("client_id"))
	if err == errNoClient {
		return nil, httpapi.Errorf(http.StatusNotFound, "Could not find OIDC client: %s.", r.PathValue("client_id"))
	}
	if err != nil {
		return nil, err
	}
	if err := policy.Enforce(cred, action, policy.Target{DomainID: c.DomainID}); err != nil {
		if !cred.HasRole(policy.Manager) || cred.DomainID == c.DomainID {
			return nil, err
		}
		// Another domain's client is no business of a manager's: 404.
		return nil, httpapi.Errorf(http.StatusNotFound, "Could not find OIDC client: %s.", c.ID)
	}
	return c, nil
}

func (p *Provider) showClient(w http.ResponseWriter, r *http.Request, cred *policy.Credentials) error {
	c, err := p.owned(r, cred, "identity:get_oidc_client")
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"client": c.view("")})
	return nil
}

func (p *Provider) createClient(w http.ResponseWriter, r *http.Request, cred *policy.Credentials) error {
	var req struct {
		Client *clientBody `json:"client"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Client == nil {
		return httpapi.Errorf(http.StatusBadRequest, "Expecting to find 'client' in the request body.")
	}
	b := req.Client
	// A domain manager's client serves its domain; an admin's, by default,
	// the whole cloud (domain_id "").
	c := &client{ID: randomID(), DomainID: cred.DomainID, AppType: "web", Scopes: Scopes, CreatedAt: p.now().UTC().Truncate(time.Second),
		Grants: []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}}
	if b.DomainID != nil {
		c.DomainID = *b.DomainID
	}
	public := b.Public != nil && *b.Public
	if public {
		c.AppType = "native"
	}
	if err := p.apply(c, b, public); err != nil {
		return err
	}
	if err := policy.Enforce(cred, "identity:create_oidc_client", policy.Target{DomainID: c.DomainID}); err != nil {
		return err
	}
	if ok, err := p.dir.DomainExists(r.Context(), c.DomainID); c.DomainID != "" && (err != nil || !ok) {
		if err != nil {
			return err
		}
		return httpapi.Errorf(http.StatusBadRequest, "Could not find domain: %s.", c.DomainID)
	}
	secret := ""
	if !public {
		secret = randomSecret()
		c.secretHash = hash(secret)
	}
	err := store.Insert(r.Context(), p.db, "oidc_clients", store.Values{}.Set("id", c.ID).Set("domain_id", c.DomainID).
		Set("name", c.Name).Set("secret_hash", c.secretHash).Set("application_type", c.AppType).
		Set("redirect_uris", jsonList(c.Redirects)).Set("post_logout_redirect_uris", jsonList(c.LogoutRedirects)).
		Set("grant_types", jsonList(grantStrings(c.Grants))).Set("scopes", jsonList(c.Scopes)).Set("require_consent", c.RequireConsent).
		Set("created_at", c.CreatedAt.Unix()))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"client": c.view(secret)})
	return nil
}

func (p *Provider) updateClient(w http.ResponseWriter, r *http.Request, cred *policy.Credentials) error {
	c, err := p.owned(r, cred, "identity:update_oidc_client")
	if err != nil {
		return err
	}
	var req struct {
		Client *clientBody `json:"client"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Client == nil {
		return httpapi.Errorf(http.StatusBadRequest, "Expecting to find 'client' in the request body.")
	}
	if req.Client.DomainID != nil || req.Client.Public != nil {
		return httpapi.Errorf(http.StatusBadRequest, "A client's domain and whether it is public cannot change; make a new client.")
	}
	if err := p.apply(c, req.Client, c.public()); err != nil {
		return err
	}
	defer p.clients.drop(c.ID)
	_, err = p.db.Exec(r.Context(), `UPDATE oidc_clients SET name = ?, application_type = ?, redirect_uris = ?, post_logout_redirect_uris = ?,
		grant_types = ?, scopes = ?, require_consent = ? WHERE id = ?`, c.Name, c.AppType, jsonList(c.Redirects), jsonList(c.LogoutRedirects),
		jsonList(grantStrings(c.Grants)), jsonList(c.Scopes), c.RequireConsent, c.ID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"client": c.view("")})
	return nil
}

// deleteClient removes a client with every request and token made for it.
func (p *Provider) deleteClient(w http.ResponseWriter, r *http.Request, cred *policy.Credentials) error {
	c, err := p.owned(r, cred, "identity:delete_oidc_client")
	if err != nil {
		return err
	}
	defer p.clients.drop(c.ID)
	err = p.db.InTx(r.Context(), func(tx *store.Tx) error {
		for _, table := range []string{"oidc_auth_requests", "oidc_access_tokens", "oidc_refresh_tokens", "oidc_clients"} {
			col := "client_id"
			if table == "oidc_clients" {
				col = "id"
			}
			if _, err := tx.Exec(r.Context(), `DELETE FROM `+table+` WHERE `+col+` = ?`, c.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apply validates b and sets what it gives on c.
func (p *Provider) apply(c *client, b *clientBody, public bool) error {
	bad := func(format string, a ...any) error { return httpapi.Errorf(http.StatusBadRequest, format, a...) }
	if b.Name != nil {
		c.Name = strings.TrimSpace(*b.Name)
	}
	if c.Name == "" || len(c.Name) > 255 {
		return bad("A client needs a 'name' of 1 to 255 characters.")
	}
	if b.AppType != nil {
		if !slices.Contains([]string{"web", "native", "user_agent"}, *b.AppType) {
			return bad("Invalid 'application_type' %q: want web, native or user_agent.", *b.AppType)
		}
		c.AppType = *b.AppType
	}
	for _, l := range []struct {
		name string
		in   *[]string
		dst  *[]string
	}{{"redirect_uris", b.Redirects, &c.Redirects}, {"post_logout_redirect_uris", b.LogoutRedirects, &c.LogoutRedirects}} {
		if l.in == nil {
			continue
		}
		if len(*l.in) > 32 {
			return bad("At most 32 '%s'.", l.name)
		}
		for _, u := range *l.in {
			if err := checkRedirect(u); err != nil {
				return bad("Invalid '%s' entry %q: %v.", l.name, u, err)
			}
		}
		*l.dst = slices.Clone(*l.in)
	}
	if b.Grants != nil {
		c.Grants = nil
		for _, g := range *b.Grants {
			if !slices.Contains(grants, oidc.GrantType(g)) {
				return bad("Invalid grant type %q: want authorization_code, refresh_token, client_credentials or %s.", g, oidc.GrantTypeDeviceCode)
			}
			c.Grants = append(c.Grants, oidc.GrantType(g))
		}
	}
	if b.Scopes != nil {
		for _, s := range *b.Scopes {
			if !slices.Contains(Scopes, s) {
				return bad("Invalid scope %q: want some of %s.", s, strings.Join(Scopes, ", "))
			}
		}
		c.Scopes = slices.Clone(*b.Scopes)
	}
	if b.RequireConsent != nil {
		c.RequireConsent = *b.RequireConsent
	}
	if public && slices.Contains(c.Grants, oidc.GrantTypeClientCredentials) {
		return bad("A public client cannot use the client_credentials grant: it has no secret.")
	}
	if slices.Contains(c.Grants, oidc.GrantTypeCode) && len(c.Redirects) == 0 {
		return bad("A client with the authorization_code grant needs 'redirect_uris'.")
	}
	return nil
}

// checkRedirect allows absolute URIs without a fragment: https, http
// (for loopback and development), or an app's own scheme.
func checkRedirect(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return err
	case u.Scheme == "" || !u.IsAbs():
		return errors.New("not an absolute URI")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("a redirect URI has no fragment")
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return errors.New("no host")
	case len(raw) > 2048:
		return errors.New("longer than 2048 characters")
	}
	return nil
}

func grantStrings(g []oidc.GrantType) []string {
	out := make([]string, len(g))
	for i, v := range g {
		out[i] = string(v)
	}
	return out
}
