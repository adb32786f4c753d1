package network

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Network RBAC: a network's owner shares it with one project (or every
// project, '*': the same as shared=True), which may then put ports on it.

const (
	accessShared   = "access_as_shared"
	accessExternal = "access_as_external"
)

type rbac struct {
	ID, Project, Object, Action, Target string
}

const rbacColumns = `id, project_id, object_id, action, target_project`

func scanRBAC(row store.Scanner) (*rbac, error) {
	r := &rbac{}
	return r, row.Scan(&r.ID, &r.Project, &r.Object, &r.Action, &r.Target)
}

func insertRBAC(ctx context.Context, tx *store.Tx, r *rbac) error {
	err := store.Insert(ctx, tx, "network_rbac", store.Values{}.
		Set("id", r.ID).Set("project_id", r.Project).Set("object_id", r.Object).Set("action", r.Action).Set("target_project", r.Target))
	if errors.Is(err, store.ErrConflict) {
		return conflict("DuplicateRbacPolicy", "An RBAC policy already exists with those values.")
	}
	return err
}

func (r *rbac) view() map[string]any {
	return map[string]any{"id": r.ID, "tenant_id": r.Project, "project_id": r.Project, "object_type": "network",
		"object_id": r.Object, "action": r.Action, "target_tenant": r.Target, "target_project": r.Target}
}

var rbacList = &listing{collection: "rbac_policies", table: "network_rbac", columns: rbacColumns, spec: &httpapi.ListSpec{
	Ascending: true,
	Columns: map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "tenant_id": {SQL: "project_id", Filter: true}, "project_id": {SQL: "project_id", Filter: true},
		"object_id": {SQL: "object_id", Filter: true}, "action": {SQL: "action", Filter: true},
		"target_tenant": {SQL: "target_project", Filter: true}, "target_project": {SQL: "target_project", Filter: true},
	}}, extra: []string{"object_type"}}

// rbacScope: a project sees the policies it made and those that target it.
func (s *Service) rbacScope(q *request) (string, []any) {
	if q.admin() {
		return "1 = 1", nil
	}
	return "project_id = ? OR target_project = ?", []any{q.creds.ProjectID, q.creds.ProjectID}
}

func (s *Service) listRBAC(q *request) error {
	scope, args := s.rbacScope(q)
	if t := q.r.URL.Query().Get("object_type"); t != "" && t != "network" {
		scope = "1 = 0"
	}
	return list(s, q, rbacList, scope, args, scanRBAC, func(r *rbac) string { return r.ID },
		func(_ context.Context, rs []*rbac) ([]map[string]any, error) {
			out := make([]map[string]any, len(rs))
			for i, r := range rs {
				out[i] = r.view()
			}
			return out, nil
		})
}

func (s *Service) visibleRBAC(ctx context.Context, db store.Querier, q *request, id string) (*rbac, error) {
	scope, args := s.rbacScope(q)
	return lookup(ctx, db, rbacList, scope, args, id, scanRBAC, notFound("RbacPolicy", id))
}

func (s *Service) showRBAC(q *request) error {
	r, err := s.visibleRBAC(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	q.write(http.StatusOK, "rbac_policy", r.view())
	return nil
}

func (s *Service) createRBAC(q *request) error {
	a, err := readBody(q.r, "rbac_policy")
	if err != nil {
		return err
	}
	if err := a.allow("object_type", "object_id", "action", "target_tenant", "target_project", "tenant_id", "project_id"); err != nil {
		return err
	}
	r := &rbac{ID: uuid.NewString()}
	var objectType string
	for name, dst := range map[string]*string{"object_type": &objectType, "object_id": &r.Object, "action": &r.Action, "target_tenant": &r.Target, "target_project": &r.Target} {
		if err := a.str(name, dst, 255); err != nil {
			return err
		}
	}
	if objectType != "network" {
		return invalid("object_type", "'%s' is not in ['network']", objectType)
	}
	if r.Action != accessShared && r.Action != accessExternal {
		return invalid("action", "'%s' is not in ['access_as_shared', 'access_as_external']", r.Action)
	}
	if r.Target == "" {
		return badRequest("Failed to parse request. Required attribute 'target_tenant' not specified")
	}
	ctx := q.r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		n, err := s.visibleNetwork(ctx, tx, q, r.Object)
		if err != nil {
			return err
		}
		if n.Project != q.creds.ProjectID && !q.admin() {
			return notFound("Network", r.Object)
		}
		if err := q.enforce("create_rbac_policy", n.Project); err != nil {
			return err
		}
		if r.Action == accessExternal || r.Target == "*" {
			if err := q.enforce("create_rbac_policy:target_tenant", n.Project); err != nil {
				return err
			}
		}
		r.Project = n.Project
		if err := s.checkQuota(ctx, tx, n.Project, "rbac_policy", 1); err != nil {
			return err
		}
		if err := insertRBAC(ctx, tx, r); err != nil {
			return err
		}
		if r.Target == "*" {
			column := map[string]string{accessShared: "shared", accessExternal: "external"}[r.Action]
			_, err := tx.Exec(ctx, `UPDATE networks SET `+column+` = TRUE WHERE id = ?`, n.ID)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.write(http.StatusCreated, "rbac_policy", r.view())
	return nil
}

func (s *Service) deleteRBAC(q *request) error {
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := s.visibleRBAC(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		if r.Project != q.creds.ProjectID && !q.admin() {
			return notFound("RbacPolicy", r.ID)
		}
		if err := q.enforce("delete_rbac_policy", r.Project); err != nil {
			return err
		}
		if r.Action == accessShared {
			if err := s.checkUnshare(ctx, tx, r.Object, r.Target); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM network_rbac WHERE id = ?`, r.ID); err != nil {
			return err
		}
		if r.Target == "*" {
			column := map[string]string{accessShared: "shared", accessExternal: "external"}[r.Action]
			_, err := tx.Exec(ctx, `UPDATE networks SET `+column+` = FALSE WHERE id = ?`, r.Object)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkUnshare refuses to take a network away from a project (or from
// everyone, '*') that has ports on it, unless another entry still shares it.
func (s *Service) checkUnshare(ctx context.Context, tx *store.Tx, network, target string) error {
	var ports int
	q := `SELECT COUNT(*) FROM ports p WHERE p.network_id = ? AND p.project_id <> (SELECT project_id FROM networks WHERE id = ?)
		AND p.device_owner <> ? AND NOT EXISTS (SELECT 1 FROM network_rbac r WHERE r.object_id = p.network_id AND r.action = ?
		AND r.target_project IN (p.project_id, '*') AND r.target_project <> ?)`
	args := []any{network, network, ownerDHCP, accessShared, target}
	if target != "*" {
		q += ` AND p.project_id = ?`
		args = append(args, target)
	}
	if err := tx.QueryRow(ctx, q, args...).Scan(&ports); err != nil {
		return err
	}
	if ports > 0 {
		return conflict("InUse", "RBAC policy on object %s cannot be removed because other objects depend on it.", network)
	}
	return nil
}
