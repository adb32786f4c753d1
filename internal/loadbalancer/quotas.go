package loadbalancer

import (
	"context"
	"errors"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// quotaResources are the resources Octavia's quotas count, with their
// tables and titles.
var quotaResources = []struct{ name, table, title string }{
	{"load_balancer", "lb_loadbalancers", "Load Balancer"}, {"listener", "lb_listeners", "Listener"},
	{"pool", "lb_pools", "Pool"}, {"member", "lb_members", "Member"}, {"health_monitor", "lb_healthmonitors", "Health Monitor"},
	{"l7policy", "lb_l7policies", "L7 Policy"}, {"l7rule", "lb_l7rules", "L7 Rule"},
}

// defaultQuotas are every project's quotas until an admin sets others
// (Octavia's default is none; each load balancer here is a process and a
// port on the host, so a project gets a bounded share).
var defaultQuotas = map[string]int{"load_balancer": 20, "listener": 100, "pool": 100, "member": 1000, "health_monitor": 100,
	"l7policy": 200, "l7rule": 1000}

func (s *Service) quotaOf(ctx context.Context, db store.Querier, project string) (map[string]int, error) {
	q := map[string]int{}
	for _, r := range quotaResources {
		q[r.name] = defaultQuotas[r.name]
	}
	rows, err := db.Query(ctx, `SELECT resource, quota_limit FROM lb_quotas WHERE project_id = ?`, project)
	if err != nil {
		return nil, err
	}
	kv, err := store.Collect(rows, func(r store.Scanner) (struct {
		k string
		v int
	}, error) {
		var x struct {
			k string
			v int
		}
		return x, r.Scan(&x.k, &x.v)
	})
	if err != nil {
		return nil, err
	}
	for _, x := range kv {
		q[x.k] = x.v
	}
	return q, nil
}

// checkQuota refuses one more resource of the project beyond its quota,
// as Octavia: 403 "Quota has been met for resources: ...".
func (s *Service) checkQuota(ctx context.Context, tx *store.Tx, project, resource string) error {
	q, err := s.quotaOf(ctx, tx, project)
	if err != nil {
		return err
	}
	limit := q[resource]
	if limit < 0 {
		return nil
	}
	for _, r := range quotaResources {
		if r.name != resource {
			continue
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+r.table+` WHERE project_id = ? AND provisioning_status <> ?`, project, PendingDelete).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return errorf(http.StatusForbidden, "Quota has been met for resources: %s", r.title)
		}
	}
	return nil
}

func quotaView(q map[string]int) map[string]any {
	v := map[string]any{}
	for k, n := range q {
		v[k] = n
	}
	// Octavia still writes the old names beside the new ones.
	v["loadbalancer"], v["healthmonitor"] = q["load_balancer"], q["health_monitor"]
	return v
}

func (s *Service) showQuota(q *request) error {
	project := q.r.PathValue("project")
	if err := q.enforce("quota:get_one", project); err != nil {
		return err
	}
	quota, err := s.quotaOf(q.ctx(), s.db, project)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"quota": quotaView(quota)})
	return nil
}

func (s *Service) defaultQuotas(q *request) error {
	if err := q.enforce("quota:get_defaults", q.creds.ProjectID); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"quota": quotaView(defaultQuotas)})
	return nil
}

func (s *Service) listQuotas(q *request) error {
	if err := q.enforce("quota:get_all", q.creds.ProjectID); err != nil {
		return err
	}
	projects := []string{q.creds.ProjectID}
	if q.admin() {
		var err error
		if projects, err = store.Column(q.ctx(), s.db, `SELECT DISTINCT project_id FROM lb_quotas ORDER BY project_id`); err != nil {
			return err
		}
	}
	out := []map[string]any{}
	for _, p := range projects {
		quota, err := s.quotaOf(q.ctx(), s.db, p)
		if err != nil {
			return err
		}
		v := quotaView(quota)
		v["project_id"] = p
		out = append(out, v)
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"quotas": out, "quotas_links": []any{}})
	return nil
}

func (s *Service) updateQuota(q *request) error {
	project := q.r.PathValue("project")
	if err := q.enforce("quota:put", project); err != nil {
		return err
	}
	var names []string
	for _, r := range quotaResources {
		names = append(names, r.name)
	}
	a, err := decode(q, "quota", append(names, "loadbalancer", "healthmonitor")...)
	if err != nil {
		return err
	}
	for old, name := range map[string]string{"loadbalancer": "load_balancer", "healthmonitor": "health_monitor"} {
		if a.has(old) && !a.has(name) {
			a[name] = a[old]
		}
	}
	set := map[string]int{}
	for _, n := range names {
		if !a.has(n) || a.null(n) {
			continue
		}
		v := 0
		if err := a.integer(n, &v, -1, 2000000000); err != nil {
			return err
		}
		set[n] = v
	}
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		for n, v := range set {
			if _, err := tx.Exec(q.ctx(), `INSERT INTO lb_quotas (project_id, resource, quota_limit) VALUES (?, ?, ?)
				ON CONFLICT (project_id, resource) DO UPDATE SET quota_limit = excluded.quota_limit`, project, n, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	quota, err := s.quotaOf(q.ctx(), s.db, project)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"quota": quotaView(quota)})
	return nil
}

func (s *Service) deleteQuota(q *request) error {
	project := q.r.PathValue("project")
	if err := q.enforce("quota:delete", project); err != nil {
		return err
	}
	if _, err := s.db.Exec(q.ctx(), `DELETE FROM lb_quotas WHERE project_id = ?`, project); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}
