package openid

import (
	"context"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// sov's scopes beyond the standard ones, and the claims they release.
const (
	// ScopeGroups releases the "groups" claim: the names of the user's groups.
	ScopeGroups = "groups"
	// ScopeProjects releases the "projects" claim: each project the user
	// has a role on, with its domain and the user's roles there.
	ScopeProjects = "projects"
)

// Scopes are the scopes beyond openid a client may be allowed.
var Scopes = []string{oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, ScopeGroups, ScopeProjects}

// Person is what the directory knows of a user that claims are made of.
type Person struct {
	ID, Name, Email      string
	DomainID, DomainName string
	// Groups are the names of the user's groups.
	Groups []string
	// Projects are the enabled projects the user has a role on.
	Projects []ProjectRoles
}

// ProjectRoles is a project and the user's roles on it.
type ProjectRoles struct {
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	Domain DomainRef `json:"domain"`
	Roles  []string  `json:"roles"`
}

// DomainRef names a domain in claims.
type DomainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// claims are the claims the scopes release about a subject: a user, or a
// client (client credentials), which has no claims beyond its id.
func (p *Provider) claims(ctx context.Context, subject, clientID string, scopes []string) (map[string]any, error) {
	if subject == clientID || !slices.ContainsFunc(scopes, func(s string) bool {
		return s == oidc.ScopeProfile || s == oidc.ScopeEmail || s == ScopeGroups || s == ScopeProjects
	}) {
		return map[string]any{}, nil // nothing to say beyond sub
	}
	u, err := p.dir.Person(ctx, subject)
	if err != nil {
		return nil, err
	}
	c := map[string]any{}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		c["name"], c["preferred_username"] = u.Name, u.Name
		c["domain"] = DomainRef{ID: u.DomainID, Name: u.DomainName}
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		c["email"], c["email_verified"] = u.Email, false
	}
	if slices.Contains(scopes, ScopeGroups) {
		c[ScopeGroups] = nonNil(u.Groups)
	}
	if slices.Contains(scopes, ScopeProjects) {
		c[ScopeProjects] = nonNil(u.Projects)
	}
	return c, nil
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// setUserinfo fills a userinfo answer (and ID token claims).
func (p *Provider) setUserinfo(ctx context.Context, info *oidc.UserInfo, subject, clientID string, scopes []string) error {
	c, err := p.claims(ctx, subject, clientID, scopes)
	if err != nil {
		return err
	}
	info.Subject = subject
	for k, v := range c {
		switch k {
		case "name":
			info.Name = v.(string)
		case "preferred_username":
			info.PreferredUsername = v.(string)
		case "email":
			info.Email = v.(string)
		case "email_verified":
			info.EmailVerified = oidc.Bool(v.(bool))
		default:
			info.AppendClaims(k, v)
		}
	}
	return nil
}

// SetUserinfoFromScopes is left empty, as the library asks: claims come
// from SetUserinfoFromRequest.
func (p *Provider) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the claims of an ID token.
func (p *Provider) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return p.setUserinfo(ctx, info, req.GetSubject(), req.GetClientID(), scopes)
}

// GetPrivateClaimsFromScopes is the fallback of GetPrivateClaimsFromRequest.
func (p *Provider) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	return p.claims(ctx, userID, clientID, scopes)
}

// GetPrivateClaimsFromRequest fills the claims of a JWT access token: the
// same claims the request's scopes release in userinfo, so that a cloud
// trusting this one maps users from the token alone.
func (p *Provider) GetPrivateClaimsFromRequest(ctx context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	return p.claims(ctx, req.GetSubject(), clientOf(req), req.GetScopes())
}
