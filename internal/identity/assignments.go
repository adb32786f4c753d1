package identity

import (
	"context"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
)

// assignment is one row of GET /v3/role_assignments.
type assignment struct {
	actorType, actorID   string
	targetType, targetID string
	roleID               string
	inherited            bool
	viaGroup             string // for an effective assignment that came from a group
}

// names resolves ids to names (and domains) for include_names, loading each table once.
type names struct {
	users, groups, projects, domains, roles map[string][2]string // id -> {name, domain_id}
}

func (s *Service) loadNames(ctx context.Context) (*names, error) {
	n := &names{}
	load := func(q string) (map[string][2]string, error) {
		rows, err := s.db.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		m := map[string][2]string{}
		for rows.Next() {
			var id, name, dom string
			if err := rows.Scan(&id, &name, &dom); err != nil {
				return nil, err
			}
			m[id] = [2]string{name, dom}
		}
		return m, rows.Err()
	}
	var err error
	if n.users, err = load(`SELECT id, name, domain_id FROM users`); err != nil {
		return nil, err
	}
	if n.groups, err = load(`SELECT id, name, domain_id FROM user_groups`); err != nil {
		return nil, err
	}
	if n.projects, err = load(`SELECT id, name, domain_id FROM projects`); err != nil {
		return nil, err
	}
	if n.domains, err = load(`SELECT id, name, id FROM domains`); err != nil {
		return nil, err
	}
	if n.roles, err = load(`SELECT id, name, '' FROM roles`); err != nil {
		return nil, err
	}
	return n, nil
}

// listRoleAssignments serves GET /v3/role_assignments with Keystone's
// filters, effective and include_names. Callers other than admins see only
// assignments inside their own domain scope, or their own.
func (s *Service) listRoleAssignments(w http.ResponseWriter, r *http.Request, tok *Token) error {
	q := r.URL.Query()
	f := struct{ user, group, role, project, domain string }{q.Get("user.id"), q.Get("group.id"), q.Get("role.id"),
		q.Get("scope.project.id"), q.Get("scope.domain.id")}
	effective, _ := boolQuery(r, "effective")
	includeNames, _ := boolQuery(r, "include_names")
	inheritedOnly := q.Get("scope.OS-INHERIT:inherited_to") == "projects"
	if effective && f.group != "" {
		return badRequest("Combining effective and group filter will always result in an empty list.")
	}
	c := tok.Credentials()
	admin := c.HasRole(policy.Admin)
	if !admin && !policy.Allowed(c, "identity:list_role_assignments", policy.Target{DomainID: tok.DomainID}) {
		if err := policy.Enforce(c, "identity:list_role_assignments", policy.Target{UserID: f.user}); err != nil {
			return err
		}
	}
	ctx := r.Context()
	n, err := s.loadNames(ctx)
	if err != nil {
		return err
	}
	rows, err := s.db.Query(ctx, `SELECT actor_type, actor_id, target_type, target_id, role_id, inherited FROM role_assignments`)
	if err != nil {
		return err
	}
	var all []assignment
	for rows.Next() {
		var a assignment
		if err := rows.Scan(&a.actorType, &a.actorID, &a.targetType, &a.targetID, &a.roleID, &a.inherited); err != nil {
			rows.Close()
			return err
		}
		all = append(all, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if effective {
		if all, err = s.expandAssignments(ctx, all, n); err != nil {
			return err
		}
	}
	out := []map[string]any{}
	for _, a := range all {
		switch {
		case f.user != "" && (a.actorType != "user" || a.actorID != f.user),
			f.group != "" && (a.actorType != "group" || a.actorID != f.group),
			f.role != "" && a.roleID != f.role,
			f.project != "" && (a.targetType != "project" || a.targetID != f.project),
			f.domain != "" && (a.targetType != "domain" || a.targetID != f.domain),
			inheritedOnly && !a.inherited:
			continue
		}
		if !admin && !s.assignmentVisible(tok, a, n) {
			continue
		}
		out = append(out, s.assignmentJSON(a, n, includeNames))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"role_assignments": out, "links": s.listLinks(r)})
	return nil
}

// assignmentVisible reports whether a non-admin caller may see a.
func (s *Service) assignmentVisible(tok *Token, a assignment, n *names) bool {
	if tok.DomainID != "" {
		if a.targetType == "domain" {
			return a.targetID == tok.DomainID
		}
		return n.projects[a.targetID][1] == tok.DomainID
	}
	return a.actorType == "user" && a.actorID == tok.UserID
}

// expandAssignments replaces group assignments by one per member and domain
// assignments inherited to projects by one per project of the domain.
func (s *Service) expandAssignments(ctx context.Context, in []assignment, n *names) ([]assignment, error) {
	members := map[string][]string{}
	rows, err := s.db.Query(ctx, `SELECT group_id, user_id FROM group_members`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var g, u string
		if err := rows.Scan(&g, &u); err != nil {
			rows.Close()
			return nil, err
		}
		members[g] = append(members[g], u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var byUser []assignment
	for _, a := range in {
		if a.actorType != "group" {
			byUser = append(byUser, a)
			continue
		}
		for _, u := range members[a.actorID] {
			b := a
			b.actorType, b.actorID, b.viaGroup = "user", u, a.actorID
			byUser = append(byUser, b)
		}
	}
	var out []assignment
	for _, a := range byUser {
		if !a.inherited {
			out = append(out, a)
			continue
		}
		for pid, p := range n.projects {
			if p[1] == a.targetID {
				b := a
				b.targetType, b.targetID, b.inherited = "project", pid, false
				out = append(out, b)
			}
		}
	}
	return out, nil
}

func (s *Service) assignmentJSON(a assignment, n *names, withNames bool) map[string]any {
	ref := func(kind, id string, m map[string][2]string) map[string]any {
		out := map[string]any{"id": id}
		if withNames {
			out["name"] = m[id][0]
			if kind != "role" && kind != "domain" {
				d := m[id][1]
				out["domain"] = map[string]any{"id": d, "name": n.domains[d][0]}
			}
		}
		return out
	}
	actors := map[string]map[string][2]string{"user": n.users, "group": n.groups}
	targets := map[string]map[string][2]string{"project": n.projects, "domain": n.domains}
	scope := map[string]any{a.targetType: ref(a.targetType, a.targetID, targets[a.targetType])}
	path := "/v3/" + a.targetType + "s/" + a.targetID + "/" + a.actorType + "s/" + a.actorID + "/roles/" + a.roleID
	if a.inherited {
		scope["OS-INHERIT:inherited_to"] = "projects"
		path = "/v3/OS-INHERIT" + path + "/inherited_to_projects"
	}
	links := map[string]any{"assignment": s.url(path)}
	if a.viaGroup != "" {
		links["membership"] = s.url("/v3/groups/" + a.viaGroup + "/users/" + a.actorID)
	}
	return map[string]any{
		"role":      ref("role", a.roleID, n.roles),
		a.actorType: ref(a.actorType, a.actorID, actors[a.actorType]),
		"scope":     scope,
		"links":     links,
	}
}
