package identity

import (
	"context"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/identity/openid"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// The identity service is the directory of the OpenID Connect provider
// (openid.Directory): it checks passwords and says who a user is.

// CheckPassword authenticates a user by name in the named domain, with the
// same lockout and rate limits as POST /v3/auth/tokens. A user with a TOTP
// credential (or multi-factor rules that need one) must give a current
// code too.
func (s *Service) CheckPassword(ctx context.Context, domainName, name, password, passcode, source string) (string, error) {
	if domainName == "" || name == "" {
		return "", unauthorized("The request you have made requires authentication.")
	}
	u, err := s.authPassword(ctx, &userRef{Name: name, Domain: &nameRef{Name: domainName}, Password: password}, addrKey(source))
	if err != nil {
		return "", err
	}
	d, err := s.getDomain(ctx, u.DomainID)
	if err != nil {
		return "", err
	}
	if !d.Enabled {
		return "", unauthorized("The domain of user %s is disabled.", u.ID)
	}
	secrets, err := s.totpSecrets(ctx, u.ID)
	if err != nil {
		return "", err
	}
	methods := []string{"password"}
	if len(secrets) > 0 {
		ok, err := s.secondFactor(ctx, u.ID, passcode, addrKey(source))
		if err != nil {
			return "", err
		}
		if !ok {
			return "", unauthorized("The request you have made requires authentication.")
		}
		methods = append(methods, "totp")
	}
	if !u.Options.satisfiesMFA(methods) {
		return "", unauthorized("The request you have made requires authentication.")
	}
	return u.ID, nil
}

// Person returns an enabled user with their groups and the enabled
// projects they have a role on, with those roles.
func (s *Service) Person(ctx context.Context, userID string) (*openid.Person, error) {
	u, err := s.getUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !u.Enabled {
		return nil, unauthorized("The account is disabled for user: %s.", u.ID)
	}
	d, err := s.getDomain(ctx, u.DomainID)
	if err != nil {
		return nil, err
	}
	p := &openid.Person{ID: u.ID, Name: u.Name, Email: u.Email, DomainID: d.ID, DomainName: d.Name}
	if p.Groups, err = store.Column(ctx, s.db, `SELECT g.name FROM user_groups g JOIN group_members m ON m.group_id = g.id
		WHERE m.user_id = ? ORDER BY g.name`, u.ID); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT p.id, p.name, d.id, d.name FROM projects p JOIN domains d ON d.id = p.domain_id
		WHERE p.enabled = ? AND d.enabled = ? AND p.id IN (`+userProjectIDs+`) ORDER BY d.name, p.name`, true, true, u.ID, u.ID, u.ID, u.ID)
	if err != nil {
		return nil, err
	}
	projects, err := store.Collect(rows, func(sc store.Scanner) (openid.ProjectRoles, error) {
		var pr openid.ProjectRoles
		return pr, sc.Scan(&pr.ID, &pr.Name, &pr.Domain.ID, &pr.Domain.Name)
	})
	if err != nil {
		return nil, err
	}
	for _, pr := range projects {
		roles, err := s.userRoles(ctx, u.ID, "project", pr.ID, pr.Domain.ID)
		if err != nil {
			return nil, err
		}
		for _, r := range roles {
			pr.Roles = append(pr.Roles, r.Name)
		}
		p.Projects = append(p.Projects, pr)
	}
	return p, nil
}

// Active reports whether a user exists, is enabled and is in an enabled domain.
func (s *Service) Active(ctx context.Context, userID string) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.id = ? AND u.enabled = ? AND d.enabled = ?`,
		userID, true, true).Scan(&n)
	return n == 1, err
}

// DomainExists reports whether a domain of that id exists.
func (s *Service) DomainExists(ctx context.Context, id string) (bool, error) {
	_, err := s.getDomain(ctx, id)
	if code, _, ok := httpapi.Status(err); ok && code == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// Authed adapts a handler of another part of identity (the OIDC clients
// API, federation): the request's token is validated, and errors are
// written in Keystone's format.
func (s *Service) Authed(h func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, tok *Token) error { return h(w, r, tok.Credentials()) })
}
