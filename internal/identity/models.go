package identity

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

type domain struct {
	ID, Name, Description string
	Enabled               bool
}

type project struct {
	ID, DomainID, Name, Description string
	Enabled                         bool
}

type user struct {
	ID, DomainID, Name, DefaultProjectID, Email, Description string
	Enabled                                                  bool
	FailedLogins                                             int
	LockedUntil                                              int64
	Options                                                  userOptions
	passwordHash                                             string
}

type group struct {
	ID, DomainID, Name, Description string
}

type role struct {
	ID, Name, Description string
}

func notFoundAs(err error, kind, id string) error {
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return notFound(kind, id)
	}
	return store.Row(err)
}

const domainColumns = `id, name, description, enabled`

func scanDomain(row store.Scanner) (*domain, error) {
	d := &domain{}
	return d, row.Scan(&d.ID, &d.Name, &d.Description, &d.Enabled)
}

func (s *Service) getDomain(ctx context.Context, id string) (*domain, error) {
	d, err := scanDomain(s.db.QueryRow(ctx, `SELECT `+domainColumns+` FROM domains WHERE id = ?`, id))
	return d, notFoundAs(err, "domain", id)
}

func (s *Service) getDomainByName(ctx context.Context, name string) (*domain, error) {
	d, err := scanDomain(s.db.QueryRow(ctx, `SELECT `+domainColumns+` FROM domains WHERE name = ?`, name))
	return d, notFoundAs(err, "domain", name)
}

const projectColumns = `id, domain_id, name, description, enabled`

func scanProject(row store.Scanner) (*project, error) {
	p := &project{}
	return p, row.Scan(&p.ID, &p.DomainID, &p.Name, &p.Description, &p.Enabled)
}

func (s *Service) getProject(ctx context.Context, id string) (*project, error) {
	p, err := scanProject(s.db.QueryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	return p, notFoundAs(err, "project", id)
}

// findProject resolves a project by id, or by name within a domain.
func (s *Service) findProject(ctx context.Context, id, name string, dom *nameRef) (*project, error) {
	if id != "" {
		return s.getProject(ctx, id)
	}
	if name == "" || dom == nil {
		return nil, badRequest("A project needs an 'id', or a 'name' and a 'domain'.")
	}
	d, err := s.findDomain(ctx, dom)
	if err != nil {
		return nil, err
	}
	p, err := scanProject(s.db.QueryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE domain_id = ? AND name = ?`, d.ID, name))
	return p, notFoundAs(err, "project", name)
}

const userColumns = `id, domain_id, name, default_project_id, email, description, enabled, failed_logins, locked_until, password_hash, options`

func scanUser(row store.Scanner) (*user, error) {
	u := &user{}
	var options string
	if err := row.Scan(&u.ID, &u.DomainID, &u.Name, &u.DefaultProjectID, &u.Email, &u.Description, &u.Enabled,
		&u.FailedLogins, &u.LockedUntil, &u.passwordHash, &options); err != nil {
		return u, err
	}
	return u, json.Unmarshal([]byte(options), &u.Options)
}

func (s *Service) getUser(ctx context.Context, id string) (*user, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, notFoundAs(err, "user", id)
}

func (s *Service) getUserByName(ctx context.Context, domainID, name string) (*user, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE domain_id = ? AND name = ?`, domainID, name))
	return u, notFoundAs(err, "user", name)
}

const groupColumns = `id, domain_id, name, description`

func scanGroup(row store.Scanner) (*group, error) {
	g := &group{}
	return g, row.Scan(&g.ID, &g.DomainID, &g.Name, &g.Description)
}

func (s *Service) getGroup(ctx context.Context, id string) (*group, error) {
	g, err := scanGroup(s.db.QueryRow(ctx, `SELECT `+groupColumns+` FROM user_groups WHERE id = ?`, id))
	return g, notFoundAs(err, "group", id)
}

func (s *Service) getRole(ctx context.Context, id string) (*role, error) {
	r := &role{}
	err := s.db.QueryRow(ctx, `SELECT id, name, description FROM roles WHERE id = ?`, id).Scan(&r.ID, &r.Name, &r.Description)
	return r, notFoundAs(err, "role", id)
}

func (s *Service) allRoles(ctx context.Context) ([]role, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, description FROM roles ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return store.Collect(rows, func(row store.Scanner) (role, error) {
		var r role
		return r, row.Scan(&r.ID, &r.Name, &r.Description)
	})
}

// userRoles returns the effective roles of a user on a project or domain:
// direct and group assignments, for a project also the assignments on its
// domain inherited to projects, then the roles those imply.
func (s *Service) userRoles(ctx context.Context, userID, targetType, targetID, projectDomainID string) ([]RoleRef, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT a.role_id FROM role_assignments a
		WHERE ((a.actor_type = 'user' AND a.actor_id = ?)
		    OR (a.actor_type = 'group' AND a.actor_id IN (SELECT group_id FROM group_members WHERE user_id = ?)))
		  AND ((a.target_type = ? AND a.target_id = ? AND a.inherited = ?)
		    OR (a.target_type = 'domain' AND a.target_id = ? AND a.inherited = ?))`,
		userID, userID, targetType, targetID, false, projectDomainID, true)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return nil, err
	}
	all, err := s.allRoles(ctx)
	if err != nil {
		return nil, err
	}
	return expandRoles(all, ids), nil
}

// expandRoles returns the roles with the given ids plus the roles they imply.
func expandRoles(all []role, ids []string) []RoleRef {
	names := map[string]bool{}
	for _, r := range all {
		if slices.Contains(ids, r.ID) {
			names[r.Name] = true
			for _, implied := range policy.Implied[r.Name] {
				names[implied] = true
			}
		}
	}
	var out []RoleRef
	for _, r := range all {
		if names[r.Name] {
			out = append(out, RoleRef{ID: r.ID, Name: r.Name})
		}
	}
	return out
}
