package loadbalancer

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/network"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/store"
)

// Octavia's statuses.
const (
	Active        = "ACTIVE"
	PendingCreate = "PENDING_CREATE"
	PendingUpdate = "PENDING_UPDATE"
	PendingDelete = "PENDING_DELETE"
	Error         = "ERROR"

	Online    = "ONLINE"
	Offline   = "OFFLINE"
	Degraded  = "DEGRADED"
	NoMonitor = "NO_MONITOR"
)

type loadBalancer struct {
	ID, Project, Name, Description string
	Network, Subnet, Port, Address string
	PortMade                       bool
	Namespace                      string
	AdminUp                        bool
	Provisioning, Operating        string
	Tags                           string
	Created, Updated               int64
}

var lbs = &kind[*loadBalancer]{single: "loadbalancer", collection: "loadbalancers", title: "Load Balancer", table: "lb_loadbalancers",
	columns: `id, project_id, name, description, vip_network_id, vip_subnet_id, vip_port_id, vip_address, vip_port_made, vip_namespace,
	admin_state_up, provisioning_status, operating_status, tags, created_at, updated_at`,
	spec: &httpapi.ListSpec{Ascending: true, DefaultSort: []httpapi.Sort{{Key: "created_at"}}, Columns: commonColumns(map[string]httpapi.Column{
		"description": {SQL: "description", Filter: true}, "vip_address": {SQL: "vip_address", Filter: true, Sort: true},
		"vip_network_id": {SQL: "vip_network_id", Filter: true}, "vip_subnet_id": {SQL: "vip_subnet_id", Filter: true},
		"vip_port_id": {SQL: "vip_port_id", Filter: true},
	})},
	scan: func(r store.Scanner) (*loadBalancer, error) {
		l := &loadBalancer{}
		return l, r.Scan(&l.ID, &l.Project, &l.Name, &l.Description, &l.Network, &l.Subnet, &l.Port, &l.Address, &l.PortMade, &l.Namespace,
			&l.AdminUp, &l.Provisioning, &l.Operating, &l.Tags, &l.Created, &l.Updated)
	}}

// idRefs are [{"id": ...}] of the rows of table whose column is in parents, by parent.
func idRefs(ctx context.Context, db store.Querier, table, column string, parents []string) (map[string][]map[string]string, error) {
	out := map[string][]map[string]string{}
	if len(parents) == 0 {
		return out, nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(parents)), ", ")
	args := make([]any, len(parents))
	for i, p := range parents {
		args[i] = p
	}
	rows, err := db.Query(ctx, `SELECT id, `+column+` FROM `+table+` WHERE `+column+` IN (`+ph+`) ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	pairs, err := store.Collect(rows, func(r store.Scanner) ([2]string, error) { var v [2]string; return v, r.Scan(&v[0], &v[1]) })
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		out[p[1]] = append(out[p[1]], map[string]string{"id": p[0]})
	}
	return out, nil
}

func (s *Service) lbViews(ctx context.Context, list []*loadBalancer) ([]map[string]any, error) {
	var ids []string
	for _, l := range list {
		ids = append(ids, l.ID)
	}
	listeners, err := idRefs(ctx, s.db, "lb_listeners", "loadbalancer_id", ids)
	if err != nil {
		return nil, err
	}
	pools, err := idRefs(ctx, s.db, "lb_pools", "loadbalancer_id", ids)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, l := range list {
		out = append(out, map[string]any{"id": l.ID, "name": l.Name, "description": l.Description, "project_id": l.Project, "tenant_id": l.Project,
			"vip_address": l.Address, "vip_port_id": l.Port, "vip_subnet_id": l.Subnet, "vip_network_id": l.Network, "vip_qos_policy_id": nil,
			"vip_sg_ids": nil, "additional_vips": []any{}, "vip_vnic_type": "normal",
			"provider": providerName, "flavor_id": nil, "availability_zone": nil, "admin_state_up": l.AdminUp,
			"provisioning_status": l.Provisioning, "operating_status": l.Operating,
			"listeners": orEmpty(listeners[l.ID]), "pools": orEmpty(pools[l.ID]), "tags": fromJSON[[]string](l.Tags),
			"created_at": octaviaTime(l.Created), "updated_at": octaviaTime(l.Updated)})
	}
	return out, nil
}

func (s *Service) writeLB(q *request, status int, id string) error {
	l, err := lbs.get(q.ctx(), s.db, q, id)
	if err != nil {
		return err
	}
	v, err := s.lbViews(q.ctx(), []*loadBalancer{l})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, status, map[string]any{"loadbalancer": v[0]})
	return nil
}

func (s *Service) listLBs(q *request) error {
	if err := q.enforce("loadbalancer:get_all", q.creds.ProjectID); err != nil {
		return err
	}
	return lbs.list(q, "1 = 1", nil, func(l []*loadBalancer) ([]map[string]any, error) { return s.lbViews(q.ctx(), l) })
}

func (s *Service) showLB(q *request) error {
	l, err := lbs.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("loadbalancer:get_one", l.Project); err != nil {
		return err
	}
	return s.writeLB(q, http.StatusOK, l.ID)
}

// project is the project a new resource goes to: the caller's, or the one
// it names if it is an admin.
func project(q *request, a attrs) (string, error) {
	p := q.creds.ProjectID
	for _, k := range []string{"project_id", "tenant_id"} {
		var v string
		if err := a.str(k, &v, 36); err != nil {
			return "", err
		}
		if v != "" && v != q.creds.ProjectID {
			if !q.admin() {
				return "", errorf(http.StatusForbidden, "Policy does not allow this request to be performed.")
			}
			p = v
		}
	}
	return p, nil
}

func (s *Service) createLB(q *request) error {
	a, err := decode(q, "loadbalancer", "name", "description", "vip_subnet_id", "vip_network_id", "vip_port_id", "vip_address",
		"vip_qos_policy_id", "admin_state_up", "provider", "flavor_id", "availability_zone", "project_id", "tenant_id", "tags",
		"listeners", "pools", "additional_vips", "vip_sg_ids")
	if err != nil {
		return err
	}
	l := &loadBalancer{ID: uuid.NewString(), AdminUp: true, Provisioning: PendingCreate, Operating: Offline, Tags: "[]"}
	if l.Project, err = project(q, a); err != nil {
		return err
	}
	if err := q.enforce("loadbalancer:post", l.Project); err != nil {
		return err
	}
	var prov, flavor, zone, qos string
	var req network.VIPRequest
	var graph, extra []string
	for _, f := range []func() error{
		func() error { return a.str("name", &l.Name, 255) }, func() error { return a.str("description", &l.Description, 255) },
		func() error { return a.str("vip_subnet_id", &req.SubnetID, 36) }, func() error { return a.str("vip_network_id", &req.NetworkID, 36) },
		func() error { return a.str("vip_port_id", &req.PortID, 36) }, func() error { return a.str("vip_address", &req.Address, 64) },
		func() error { return a.str("vip_qos_policy_id", &qos, 36) }, func() error { return a.boolean("admin_state_up", &l.AdminUp) },
		func() error { return a.str("provider", &prov, 64) }, func() error { return a.str("flavor_id", &flavor, 36) },
		func() error { return a.str("availability_zone", &zone, 255) }, func() error { return a.tags(&l.Tags) },
		func() error { return a.strs("vip_sg_ids", &extra) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	for _, k := range []string{"listeners", "pools", "additional_vips"} {
		if a.has(k) && !a.null(k) && string(a[k]) != "[]" {
			graph = append(graph, k)
		}
	}
	switch {
	case req.SubnetID == "" && req.NetworkID == "" && req.PortID == "":
		return errorf(http.StatusBadRequest, "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
	case prov != "" && prov != providerName:
		return errorf(http.StatusBadRequest, "Provider '%s' is not enabled.", prov)
	case flavor != "":
		return errorf(http.StatusBadRequest, "Validation failure: Invalid flavor_id.")
	case zone != "":
		return errorf(http.StatusBadRequest, "Validation failure: Invalid availability zone.")
	case qos != "":
		return errorf(http.StatusBadRequest, "Validation failure: QoS policy %s is not supported.", qos)
	case len(extra) > 0:
		return errorf(http.StatusBadRequest, "Validation failure: vip_sg_ids is not supported.")
	case len(graph) > 0:
		return s.unsupported("creating " + strings.Join(graph, " and ") + " with the load balancer")(q)
	}
	now := time.Now().Unix()
	l.Created, l.Updated, l.PortMade = now, now, req.PortID == ""
	// The row first (without its VIP), then the port: a crash in between
	// leaves a load balancer that names its port by id, which goes with it.
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		if err := s.checkQuota(q.ctx(), tx, l.Project, "load_balancer"); err != nil {
			return err
		}
		return insertLB(q.ctx(), tx, l)
	})
	if err != nil {
		return err
	}
	// From here the request finishes even if its client goes away.
	ctx := context.WithoutCancel(q.ctx())
	req.LoadBalancerID, req.ProjectID = l.ID, l.Project
	vip, err := s.net.CreateVIP(ctx, q.creds, req)
	if err != nil {
		if _, derr := s.db.Exec(ctx, `DELETE FROM lb_loadbalancers WHERE id = ?`, l.ID); derr != nil {
			s.log.Error("load-balancer: remove a load balancer whose VIP failed", "id", l.ID, "err", derr)
		}
		return vipError(err)
	}
	s.record(q, l.ID, "create")
	// Scheduled whatever follows: a load balancer whose VIP could not be
	// recorded goes to ERROR (and its port with it when deleted).
	defer s.schedule(q, l.ID, "create")
	if _, err := s.db.Exec(ctx, `UPDATE lb_loadbalancers SET vip_network_id = ?, vip_subnet_id = ?, vip_port_id = ?, vip_address = ?,
		vip_namespace = ? WHERE id = ?`, vip.NetworkID, vip.SubnetID, vip.PortID, vip.Address.String(), vip.Namespace, l.ID); err != nil {
		return err
	}
	return s.writeLB(q, http.StatusCreated, l.ID)
}

// vipError turns the network's refusal into Octavia's words.
func vipError(err error) error {
	p := httpapi.Classify(err)
	switch {
	case p.Status == http.StatusNotFound || p.Status == http.StatusForbidden:
		return errorf(http.StatusBadRequest, "Validation failure: %s", strings.TrimSpace(p.Message+" The VIP's network, subnet or port is not one this project may use."))
	case p.Status == http.StatusBadRequest || p.Status == http.StatusConflict:
		return errorf(http.StatusBadRequest, "Validation failure: %s", p.Message)
	}
	return err
}

func insertLB(ctx context.Context, tx *store.Tx, l *loadBalancer) error {
	return store.Insert(ctx, tx, "lb_loadbalancers", store.Values{}.Set("id", l.ID).Set("project_id", l.Project).Set("name", l.Name).
		Set("description", l.Description).Set("vip_network_id", l.Network).Set("vip_subnet_id", l.Subnet).Set("vip_port_id", l.Port).
		Set("vip_address", l.Address).Set("vip_port_made", l.PortMade).Set("vip_namespace", l.Namespace).Set("admin_state_up", l.AdminUp).
		Set("provisioning_status", l.Provisioning).Set("operating_status", l.Operating).Set("tags", l.Tags).
		Set("created_at", l.Created).Set("updated_at", l.Updated))
}

func (s *Service) updateLB(q *request) error {
	a, err := decode(q, "loadbalancer", "name", "description", "admin_state_up", "tags", "vip_qos_policy_id")
	if err != nil {
		return err
	}
	id := q.r.PathValue("id")
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		l, err := lbs.get(q.ctx(), tx, q, id)
		if err != nil {
			return err
		}
		if err := q.enforce("loadbalancer:put", l.Project); err != nil {
			return err
		}
		var qos string
		for _, f := range []func() error{
			func() error { return a.str("name", &l.Name, 255) }, func() error { return a.str("description", &l.Description, 255) },
			func() error { return a.boolean("admin_state_up", &l.AdminUp) }, func() error { return a.tags(&l.Tags) },
			func() error { return a.str("vip_qos_policy_id", &qos, 36) },
		} {
			if err := f(); err != nil {
				return err
			}
		}
		if qos != "" {
			return errorf(http.StatusBadRequest, "Validation failure: QoS policy %s is not supported.", qos)
		}
		if err := lockLB(q.ctx(), tx, l.ID); err != nil {
			return err
		}
		_, err = tx.Exec(q.ctx(), `UPDATE lb_loadbalancers SET name = ?, description = ?, admin_state_up = ?, tags = ?, updated_at = ? WHERE id = ?`,
			l.Name, l.Description, l.AdminUp, l.Tags, time.Now().Unix(), l.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.record(q, id, "update")
	defer s.schedule(q, id, "update") // also when the answer cannot be written: the change is committed
	return s.writeLB(q, http.StatusOK, id)
}

// lockLB takes an ACTIVE load balancer to PENDING_UPDATE for a change of
// it or its children: with a change in flight (or in ERROR) it is a 409.
func lockLB(ctx context.Context, tx *store.Tx, id string) error {
	res, err := tx.Exec(ctx, `UPDATE lb_loadbalancers SET provisioning_status = ?, updated_at = ? WHERE id = ? AND provisioning_status = ?`,
		PendingUpdate, time.Now().Unix(), id, Active)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return immutable(id)
	}
	return nil
}

func (s *Service) deleteLB(q *request) error {
	id := q.r.PathValue("id")
	cascade, _ := httpapi.ParseBool(q.r.URL.Query().Get("cascade"))
	err := s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		l, err := lbs.get(q.ctx(), tx, q, id)
		if err != nil {
			return err
		}
		if err := q.enforce("loadbalancer:delete", l.Project); err != nil {
			return err
		}
		var children int
		if err := tx.QueryRow(q.ctx(), `SELECT (SELECT COUNT(*) FROM lb_listeners WHERE loadbalancer_id = ?) +
			(SELECT COUNT(*) FROM lb_pools WHERE loadbalancer_id = ?)`, id, id).Scan(&children); err != nil {
			return err
		}
		if children > 0 && !cascade {
			return errorf(http.StatusBadRequest, "Validation failure: Cannot delete Load Balancer %s - it has children", id)
		}
		res, err := tx.Exec(q.ctx(), `UPDATE lb_loadbalancers SET provisioning_status = ?, updated_at = ? WHERE id = ? AND provisioning_status IN (?, ?)`,
			PendingDelete, time.Now().Unix(), id, Active, Error)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return immutable(id)
		}
		for _, t := range childTables {
			if _, err := tx.Exec(q.ctx(), `UPDATE `+t+` SET provisioning_status = ? WHERE loadbalancer_id = ?`, PendingDelete, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.record(q, id, "delete")
	q.w.WriteHeader(http.StatusNoContent)
	s.schedule(q, id, "delete")
	return nil
}

// child is what a request about a child of a load balancer (a listener,
// pool, member, monitor, policy or rule) found: its id, load balancer and
// project, and the writes the change makes (reading the request's body
// first when it has one).
type child struct {
	id, lb, project string
	apply           func() error
}

// changeChild changes a child of a load balancer as Octavia does: in one
// transaction find reads it, the rule (action) is enforced, the load
// balancer taken to PENDING_UPDATE and the child's writes made. The change
// is recorded and scheduled as event; the answer is the child as show
// writes it with status, or 204 without show.
func (s *Service) changeChild(q *request, action, event string, status int, show func(q *request, status int, id string) error,
	find func(tx *store.Tx) (child, error)) error {
	var c child
	err := s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		var err error
		if c, err = find(tx); err != nil {
			return err
		}
		if err := q.enforce(action, c.project); err != nil {
			return err
		}
		if err := lockLB(q.ctx(), tx, c.lb); err != nil {
			return err
		}
		return c.apply()
	})
	if err != nil {
		return err
	}
	s.record(q, c.lb, event)
	defer s.schedule(q, c.lb, event) // also when the answer cannot be written: the change is committed
	if show == nil {
		q.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return show(q, status, c.id)
}

// deleteChild deletes a child of a load balancer (see changeChild): its
// apply marks it (and what goes with it) PENDING_DELETE.
func (s *Service) deleteChild(q *request, action, event string, find func(tx *store.Tx) (child, error)) error {
	return s.changeChild(q, action, event, http.StatusNoContent, nil, find)
}

// markDeleted marks the rows of table where (with args) holds PENDING_DELETE.
func markDeleted(ctx context.Context, tx *store.Tx, table, where string, args ...any) error {
	_, err := tx.Exec(ctx, `UPDATE `+table+` SET provisioning_status = ? WHERE `+where, append([]any{PendingDelete}, args...)...)
	return err
}

// childTables are the tables of a load balancer's children, leaves first.
var childTables = []string{"lb_l7rules", "lb_l7policies", "lb_healthmonitors", "lb_members", "lb_pools", "lb_listeners"}

func (s *Service) failoverLB(q *request) error {
	id := q.r.PathValue("id")
	err := s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		l, err := lbs.get(q.ctx(), tx, q, id)
		if err != nil {
			return err
		}
		if err := q.enforce("loadbalancer:put_failover", l.Project); err != nil {
			return err
		}
		res, err := tx.Exec(q.ctx(), `UPDATE lb_loadbalancers SET provisioning_status = ?, updated_at = ? WHERE id = ? AND provisioning_status IN (?, ?)`,
			PendingUpdate, time.Now().Unix(), id, Active, Error)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return immutable(id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.record(q, id, "failover")
	q.w.WriteHeader(http.StatusAccepted)
	s.scheduleFailover(q, id)
	return nil
}

// record records the action a request asks of a load balancer.
func (s *Service) record(q *request, id, name string) {
	if err := s.ops.Record(q.ctx(), ops.Action{ResourceID: id, RequestID: httpapi.RequestID(q.ctx()), Name: name,
		UserID: q.creds.UserID, ProjectID: q.creds.ProjectID, Start: time.Now()}); err != nil {
		s.log.Error("load-balancer: record an action", "id", id, "err", err)
	}
}
