package network

import (
	"context"
	"net/http"
	"sort"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Quotas per project, as Neutron's: an admin sets them with
// `openstack quota set`; -1 is unlimited.

// defaultQuotas are Neutron's defaults.
var defaultQuotas = map[string]int{
	"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
	"security_group": 10, "security_group_rule": 100, "rbac_policy": 10, "subnetpool": -1,
}

// usageQueries count what a project uses of each resource.
var usageQueries = map[string]string{
	"network":             `SELECT COUNT(*) FROM networks WHERE project_id = ?`,
	"subnet":              `SELECT COUNT(*) FROM subnets WHERE project_id = ?`,
	"port":                `SELECT COUNT(*) FROM ports WHERE project_id = ? AND device_owner <> 'network:dhcp'`,
	"security_group":      `SELECT COUNT(*) FROM security_groups WHERE project_id = ?`,
	"security_group_rule": `SELECT COUNT(*) FROM security_group_rules WHERE project_id = ?`,
	"rbac_policy":         `SELECT COUNT(*) FROM network_rbac WHERE project_id = ?`,
	"router":              `SELECT COUNT(*) FROM routers WHERE project_id = ?`,
	"floatingip":          `SELECT COUNT(*) FROM floating_ips WHERE project_id = ?`,
}

// quotas returns a project's limits: the defaults with an admin's changes.
func quotas(ctx context.Context, db store.Querier, project string) (map[string]int, error) {
	out := map[string]int{}
	for k, v := range defaultQuotas {
		out[k] = v
	}
	rows, err := db.Query(ctx, `SELECT resource, quota_limit FROM network_quotas WHERE project_id = ?`, project)
	if err != nil {
		return nil, err
	}
	type limit struct {
		resource string
		n        int
	}
	set, err := store.Collect(rows, func(r store.Scanner) (limit, error) { var l limit; return l, r.Scan(&l.resource, &l.n) })
	for _, l := range set {
		out[l.resource] = l.n
	}
	return out, err
}

func usage(ctx context.Context, db store.Querier, project, resource string) (int, error) {
	q, ok := usageQueries[resource]
	if !ok {
		return 0, nil
	}
	var n int
	return n, db.QueryRow(ctx, q, project).Scan(&n)
}

// checkQuota refuses more of resource than the project's quota allows.
func (s *Service) checkQuota(ctx context.Context, tx *store.Tx, project, resource string, more int) error {
	limits, err := quotas(ctx, tx, project)
	if err != nil {
		return err
	}
	limit := limits[resource]
	if limit < 0 {
		return nil
	}
	used, err := usage(ctx, tx, project, resource)
	if err != nil {
		return err
	}
	if used+more > limit {
		return conflict("OverQuota", "Quota exceeded for resources: ['%s'].", resource)
	}
	return nil
}

// quotaProject is the project a quota request names: the caller's own
// (readers may look) or, for an admin, any.
func (q *request) quotaProject(action string) (string, error) {
	project := q.r.PathValue("project")
	return project, q.enforce(action, project)
}

func (s *Service) showQuota(q *request) error {
	project, err := q.quotaProject("get_quota")
	if err != nil {
		return err
	}
	limits, err := quotas(q.r.Context(), s.db, project)
	if err != nil {
		return err
	}
	q.write(http.StatusOK, "quota", anyMap(limits))
	return nil
}

func (s *Service) showDefaultQuota(q *request) error {
	if _, err := q.quotaProject("get_quota"); err != nil {
		return err
	}
	q.write(http.StatusOK, "quota", anyMap(defaultQuotas))
	return nil
}

func anyMap(m map[string]int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// showQuotaDetails answers limit, used and reserved per resource (what
// `openstack quota show` and `quota list --detail` read).
func (s *Service) showQuotaDetails(q *request) error {
	project, err := q.quotaProject("get_quota")
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	limits, err := quotas(ctx, s.db, project)
	if err != nil {
		return err
	}
	out := map[string]any{}
	for k, limit := range limits {
		used, err := usage(ctx, s.db, project, k)
		if err != nil {
			return err
		}
		out[k] = map[string]int{"limit": limit, "used": used, "reserved": 0}
	}
	q.write(http.StatusOK, "quota", out)
	return nil
}

func (s *Service) updateQuota(q *request) error {
	project, err := q.quotaProject("update_quota")
	if err != nil {
		return err
	}
	a, err := readBody(q.r, "quota")
	if err != nil {
		return err
	}
	names := make([]string, 0, len(defaultQuotas)+1)
	for k := range defaultQuotas {
		names = append(names, k)
	}
	sort.Strings(names)
	if err := a.allow(append(names, "force", "check_limit")...); err != nil {
		return err
	}
	set := map[string]int{}
	for _, k := range names {
		if a.has(k) {
			var n int
			if err := a.integer(k, &n); err != nil {
				return err
			}
			if n < -1 {
				return invalid(k, "'%d' should be greater than or equal to -1", n)
			}
			set[k] = n
		}
	}
	ctx := q.r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for k, n := range set {
			if _, err := tx.Exec(ctx, `DELETE FROM network_quotas WHERE project_id = ? AND resource = ?`, project, k); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO network_quotas (project_id, resource, quota_limit) VALUES (?, ?, ?)`, project, k, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	limits, err := quotas(ctx, s.db, project)
	if err != nil {
		return err
	}
	q.write(http.StatusOK, "quota", anyMap(limits))
	return nil
}

func (s *Service) deleteQuota(q *request) error {
	project, err := q.quotaProject("update_quota")
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(q.r.Context(), `DELETE FROM network_quotas WHERE project_id = ?`, project); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listQuotas is every project an admin set quotas for, with its quotas.
func (s *Service) listQuotas(q *request) error {
	if err := q.enforce("list_quotas", ""); err != nil {
		return err
	}
	projects, err := store.Column(q.r.Context(), s.db, `SELECT DISTINCT project_id FROM network_quotas ORDER BY project_id`)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, p := range projects {
		limits, err := quotas(q.r.Context(), s.db, p)
		if err != nil {
			return err
		}
		m := anyMap(limits)
		m["tenant_id"], m["project_id"] = p, p
		out = append(out, m)
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"quotas": out})
	return nil
}
