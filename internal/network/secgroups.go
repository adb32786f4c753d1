package network

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Security groups: every project has a "default" group, made on its first
// use with the default rules marked for it; new ports of the project are
// in it unless they name others.

const defaultGroupName = "default"

type group struct {
	ID, Project, Name, Description string
	Stateful, Default              bool
	Revision                       int
	Created, Updated               int64
}

const groupColumns = `id, project_id, name, description, stateful, is_default, revision, created_at, updated_at`

func scanGroup(row store.Scanner) (*group, error) {
	g := &group{}
	return g, row.Scan(&g.ID, &g.Project, &g.Name, &g.Description, &g.Stateful, &g.Default, &g.Revision, &g.Created, &g.Updated)
}

var groupList = &listing{collection: "security_groups", table: "security_groups", columns: groupColumns, spec: &httpapi.ListSpec{
	Ascending: true,
	Columns: map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "name": {SQL: "name", Filter: true, Sort: true},
		"tenant_id": {SQL: "project_id", Filter: true, Sort: true}, "project_id": {SQL: "project_id", Filter: true, Sort: true},
		"description": {SQL: "description", Filter: true}, "stateful": {SQL: "stateful", Filter: true, Bool: true},
		"revision_number": {SQL: "revision", Filter: true}, "created_at": {SQL: "created_at", Sort: true}, "updated_at": {SQL: "updated_at", Sort: true},
	}}, extra: []string{"shared"}}

func (s *Service) groupScope(q *request) (string, []any) {
	if q.admin() {
		return "1 = 1", nil
	}
	return "project_id = ?", []any{q.creds.ProjectID}
}

func (s *Service) visibleGroup(ctx context.Context, db store.Querier, q *request, id string) (*group, error) {
	scope, args := s.groupScope(q)
	return lookup(ctx, db, groupList, scope, args, id, scanGroup, notFound("SecurityGroup", id))
}

// ensureDefaultGroup makes the project's default group if it has none.
func (s *Service) ensureDefaultGroup(ctx context.Context, project string) error {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM security_groups WHERE project_id = ? AND is_default`, project).Scan(&n); err != nil || n > 0 || project == "" {
		return err
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error { _, err := s.defaultGroupIn(ctx, tx, project); return err })
	if errors.Is(err, store.ErrConflict) { // made at the same time by another request
		return nil
	}
	return err
}

// insertGroup stores a new group with the default rules meant for its kind.
func (s *Service) insertGroup(ctx context.Context, tx *store.Tx, g *group) error {
	now := time.Now().Unix()
	g.Revision, g.Created, g.Updated = 1, now, now
	if err := store.Insert(ctx, tx, "security_groups", store.Values{}.
		Set("id", g.ID).Set("project_id", g.Project).Set("name", g.Name).Set("description", g.Description).
		Set("stateful", g.Stateful).Set("is_default", g.Default).Set("revision", g.Revision).
		Set("created_at", g.Created).Set("updated_at", g.Updated)); err != nil {
		return err
	}
	col := "used_in_non_default_sg"
	if g.Default {
		col = "used_in_default_sg"
	}
	rows, err := tx.Query(ctx, `SELECT `+defaultRuleColumns+` FROM default_security_group_rules WHERE `+col+` ORDER BY id`)
	if err != nil {
		return err
	}
	templates, err := store.Collect(rows, scanDefaultRule)
	if err != nil {
		return err
	}
	for _, t := range templates {
		r := t.rule
		r.ID, r.Project, r.Group = uuid.NewString(), g.Project, g.ID
		if r.RemoteGroup == remoteParent {
			r.RemoteGroup = g.ID
		}
		if err := insertRule(ctx, tx, &r); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) groupViews(ctx context.Context, groups []*group) ([]map[string]any, error) {
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	tags, err := s.tagsOf(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	rules := map[string][]map[string]any{}
	if len(ids) > 0 {
		rows, err := s.db.Query(ctx, `SELECT `+ruleColumns+` FROM security_group_rules WHERE security_group_id IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) ORDER BY created_at, id`, anys(ids)...)
		if err != nil {
			return nil, err
		}
		all, err := store.Collect(rows, scanRule)
		if err != nil {
			return nil, err
		}
		for _, r := range all {
			rules[r.Group] = append(rules[r.Group], r.view(nil))
		}
	}
	out := make([]map[string]any, len(groups))
	for i, g := range groups {
		rs := rules[g.ID]
		if rs == nil {
			rs = []map[string]any{}
		}
		for _, r := range rs {
			r["belongs_to_default_sg"] = g.Default
		}
		out[i] = standard(map[string]any{"security_group_rules": rs, "stateful": g.Stateful, "shared": false},
			g.ID, g.Project, g.Name, g.Description, tags[g.ID], g.Revision, g.Created, g.Updated)
	}
	return out, nil
}

func anys(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

func (s *Service) writeGroup(q *request, status int, g *group) error {
	views, err := s.groupViews(q.r.Context(), []*group{g})
	if err != nil {
		return err
	}
	q.write(status, "security_group", views[0])
	return nil
}

func (s *Service) listGroups(q *request) error {
	if err := s.ensureDefaultGroup(q.r.Context(), q.creds.ProjectID); err != nil {
		return err
	}
	scope, args := s.groupScope(q)
	if vs := q.r.URL.Query()["shared"]; len(vs) > 0 {
		if b, ok := httpapi.ParseBool(vs[0]); ok && b {
			scope = "1 = 0" // sov has no groups shared by RBAC
		}
	}
	return list(s, q, groupList, scope, args, scanGroup, func(g *group) string { return g.ID },
		func(ctx context.Context, gs []*group) ([]map[string]any, error) { return s.groupViews(ctx, gs) })
}

func (s *Service) showGroup(q *request) error {
	if err := s.ensureDefaultGroup(q.r.Context(), q.creds.ProjectID); err != nil {
		return err
	}
	g, err := s.visibleGroup(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeGroup(q, http.StatusOK, g)
}

func (s *Service) createGroup(q *request) error {
	a, err := readBody(q.r, "security_group")
	if err != nil {
		return err
	}
	if err := a.allow("name", "description", "stateful", "tags", "tenant_id", "project_id"); err != nil {
		return err
	}
	owner, err := ownerOf(q, a)
	if err != nil {
		return err
	}
	if err := q.enforce("create_security_group", owner); err != nil {
		return err
	}
	g := &group{ID: uuid.NewString(), Project: owner, Stateful: true}
	if err := groupBody(a, g); err != nil {
		return err
	}
	if g.Name == defaultGroupName {
		return conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	}
	tags, err := readTags(a)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	if err := s.ensureDefaultGroup(ctx, owner); err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkQuota(ctx, tx, owner, "security_group", 1); err != nil {
			return err
		}
		if err := s.insertGroup(ctx, tx, g); err != nil {
			return err
		}
		return setTags(ctx, tx, g.ID, tags)
	})
	if err != nil {
		return err
	}
	return s.writeGroup(q, http.StatusCreated, g)
}

func groupBody(a attrs, g *group) error {
	if err := a.str("name", &g.Name, 255); err != nil {
		return err
	}
	if err := a.str("description", &g.Description, 255); err != nil {
		return err
	}
	if err := a.boolean("stateful", &g.Stateful); err != nil {
		return err
	}
	if !g.Stateful {
		return badRequest("Stateless security groups are not supported.")
	}
	return nil
}

func (s *Service) updateGroup(q *request) error {
	a, err := readBody(q.r, "security_group")
	if err != nil {
		return err
	}
	if err := a.allow("name", "description", "stateful"); err != nil {
		return err
	}
	ctx := q.r.Context()
	var g *group
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if g, err = s.visibleGroup(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce("update_security_group", g.Project); err != nil {
			return err
		}
		name := g.Name
		if err := groupBody(a, g); err != nil {
			return err
		}
		if g.Default && g.Name != name {
			return conflict("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
		}
		if !g.Default && g.Name == defaultGroupName && name != defaultGroupName {
			return conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
		}
		g.Revision++
		g.Updated = time.Now().Unix()
		_, err := tx.Exec(ctx, `UPDATE security_groups SET name = ?, description = ?, revision = ?, updated_at = ? WHERE id = ?`,
			g.Name, g.Description, g.Revision, g.Updated, g.ID)
		return err
	})
	if err != nil {
		return err
	}
	return s.writeGroup(q, http.StatusOK, g)
}

func (s *Service) deleteGroup(q *request) error {
	ctx := q.r.Context()
	var referring []string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		g, err := s.visibleGroup(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := q.enforce("delete_security_group", g.Project); err != nil {
			return err
		}
		if g.Default && !q.admin() {
			return conflict("SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
		}
		var inUse int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM port_security_groups WHERE security_group_id = ?`, g.ID).Scan(&inUse); err != nil {
			return err
		}
		if inUse > 0 {
			return conflict("SecurityGroupInUse", "Security Group %s in use.", g.ID)
		}
		// The groups whose rules name it as remote lose those rules.
		if referring, err = store.Column(ctx, tx, `SELECT DISTINCT security_group_id FROM security_group_rules WHERE remote_group_id = ?`, g.ID); err != nil {
			return err
		}
		for _, stmt := range []string{
			`DELETE FROM security_group_rules WHERE remote_group_id = ?`,
			`DELETE FROM network_tags WHERE resource_id = ?`,
			`DELETE FROM security_groups WHERE id = ?`,
		} {
			if _, err := tx.Exec(ctx, stmt, g.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.groupsChanged(ctx, nil, referring...)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// assignGroups sets the groups of a port from the request: those it
// names (of the port's project), or on create the project's default
// group for a port with port security that is not Neutron's own.
func (s *Service) assignGroups(ctx context.Context, tx *store.Tx, q *request, a attrs, p *port, create bool) error {
	var ids []string
	switch {
	case a.has("security_groups") && !a.null("security_groups"):
		if err := a.decode("security_groups", &ids); err != nil {
			return err
		}
	case a.has("security_groups"):
	case create && p.PortSecurity && !strings.HasPrefix(p.DeviceOwner, "network:"):
		id, err := s.defaultGroupIn(ctx, tx, p.Project)
		if err != nil {
			return err
		}
		ids = []string{id}
	case create:
	default:
		if !p.PortSecurity && len(p.Groups) > 0 {
			return conflict("PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or ip address until security group is removed")
		}
		return nil
	}
	if len(ids) > 0 && !p.PortSecurity {
		return conflict("PortSecurityAndIPRequiredForSecurityGroups", "Port security must be enabled and port must have an IP address in order to use security groups.")
	}
	if _, err := tx.Exec(ctx, `DELETE FROM port_security_groups WHERE port_id = ?`, p.ID); err != nil {
		return err
	}
	p.Groups = nil
	for _, id := range ids {
		if slices.Contains(p.Groups, id) {
			continue
		}
		g, err := s.visibleGroup(ctx, tx, q, id)
		if err != nil {
			return err
		}
		if g.Project != p.Project {
			return notFound("SecurityGroup", id)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO port_security_groups (port_id, security_group_id) VALUES (?, ?)`, p.ID, id); err != nil {
			return err
		}
		p.Groups = append(p.Groups, id)
	}
	return nil
}

// defaultGroupIn is the project's default group, made in tx if it has none.
func (s *Service) defaultGroupIn(ctx context.Context, tx *store.Tx, project string) (string, error) {
	var id string
	err := store.Row(tx.QueryRow(ctx, `SELECT id FROM security_groups WHERE project_id = ? AND is_default`, project).Scan(&id))
	if !errors.Is(err, store.ErrNotFound) {
		return id, err
	}
	g := &group{ID: uuid.NewString(), Project: project, Name: defaultGroupName, Description: "Default security group", Stateful: true, Default: true}
	return g.ID, s.insertGroup(ctx, tx, g)
}
