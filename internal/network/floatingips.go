package network

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Floating IPs: an address of an external network (held by a port of no
// project), associated with a fixed IPv4 address of a port behind a router
// whose gateway is on that network.

type floatingIP struct {
	ID, Project, Network, PortID, Address string
	FixedPort, FixedIP, Router            string
	Description                           string
	Revision                              int
	Created, Updated                      int64
}

const floatingColumns = `id, project_id, network_id, port_id, address, fixed_port_id, fixed_ip, router_id, description, revision, created_at, updated_at`

func scanFloating(row store.Scanner) (*floatingIP, error) {
	f := &floatingIP{}
	return f, row.Scan(&f.ID, &f.Project, &f.Network, &f.PortID, &f.Address, &f.FixedPort, &f.FixedIP, &f.Router, &f.Description,
		&f.Revision, &f.Created, &f.Updated)
}

var floatingList = &listing{collection: "floatingips", table: "floating_ips", columns: floatingColumns, spec: &httpapi.ListSpec{
	Ascending: true,
	Columns: map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "tenant_id": {SQL: "project_id", Filter: true, Sort: true},
		"project_id": {SQL: "project_id", Filter: true, Sort: true}, "floating_network_id": {SQL: "network_id", Filter: true, Sort: true},
		"floating_ip_address": {SQL: "address", Filter: true, Sort: true}, "port_id": {SQL: "fixed_port_id", Filter: true},
		"fixed_ip_address": {SQL: "fixed_ip", Filter: true}, "router_id": {SQL: "router_id", Filter: true},
		"description":     {SQL: "description", Filter: true},
		"status":          {SQL: "CASE WHEN fixed_port_id <> '' THEN 'ACTIVE' ELSE 'DOWN' END", Filter: true},
		"revision_number": {SQL: "revision", Filter: true}, "created_at": {SQL: "created_at", Sort: true}, "updated_at": {SQL: "updated_at", Sort: true},
	}}}

func (s *Service) floatingScope(q *request) (string, []any) {
	if q.admin() {
		return "1 = 1", nil
	}
	return "project_id = ?", []any{q.creds.ProjectID}
}

func (s *Service) visibleFloating(ctx context.Context, db store.Querier, q *request, id string) (*floatingIP, error) {
	scope, args := s.floatingScope(q)
	return lookup(ctx, db, floatingList, scope, args, id, scanFloating, fail(http.StatusNotFound, "FloatingIPNotFound", "Floating IP %s could not be found", id))
}

func (s *Service) floatingViews(ctx context.Context, fs []*floatingIP) ([]map[string]any, error) {
	ids, fixed := make([]string, len(fs)), []string{}
	for i, f := range fs {
		ids[i] = f.ID
		if f.FixedPort != "" {
			fixed = append(fixed, f.FixedPort)
		}
	}
	tags, err := s.tagsOf(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	rows, err := s.childRows(ctx, s.db, `SELECT id, name, network_id, mac_address, status, device_id, device_owner FROM ports WHERE id IN `, fixed)
	if err != nil {
		return nil, err
	}
	details := map[string]map[string]any{}
	for _, r := range rows {
		details[r[0]] = map[string]any{"name": r[1], "network_id": r[2], "mac_address": r[3], "admin_state_up": true, "status": r[4], "device_id": r[5], "device_owner": r[6]}
	}
	out := make([]map[string]any, len(fs))
	for i, f := range fs {
		status := "DOWN"
		var pd any
		if f.FixedPort != "" {
			status, pd = "ACTIVE", details[f.FixedPort]
		}
		v := standard(map[string]any{"floating_ip_address": f.Address, "floating_network_id": f.Network,
			"router_id": nullable(f.Router), "port_id": nullable(f.FixedPort), "fixed_ip_address": nullable(f.FixedIP),
			"status": status, "port_details": pd, "port_forwardings": []any{}, "qos_policy_id": nil, "dns_name": "", "dns_domain": ""},
			f.ID, f.Project, "", f.Description, tags[f.ID], f.Revision, f.Created, f.Updated)
		delete(v, "name")
		out[i] = v
	}
	return out, nil
}

func (s *Service) writeFloating(q *request, status int, f *floatingIP) error {
	views, err := s.floatingViews(q.r.Context(), []*floatingIP{f})
	if err != nil {
		return err
	}
	q.write(status, "floatingip", views[0])
	return nil
}

func (s *Service) listFloating(q *request) error {
	scope, args := s.floatingScope(q)
	return list(s, q, floatingList, scope, args, scanFloating, func(f *floatingIP) string { return f.ID },
		func(ctx context.Context, fs []*floatingIP) ([]map[string]any, error) { return s.floatingViews(ctx, fs) })
}

func (s *Service) showFloating(q *request) error {
	f, err := s.visibleFloating(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeFloating(q, http.StatusOK, f)
}

func (s *Service) createFloating(q *request) error {
	a, err := readBody(q.r, "floatingip")
	if err != nil {
		return err
	}
	if err := a.allow("floating_network_id", "port_id", "fixed_ip_address", "floating_ip_address", "subnet_id", "description",
		"tags", "tenant_id", "project_id", "dns_name", "dns_domain", "qos_policy_id"); err != nil {
		return err
	}
	owner, err := ownerOf(q, a)
	if err != nil {
		return err
	}
	if err := q.enforce("create_floatingip", owner); err != nil {
		return err
	}
	now := time.Now().Unix()
	f := &floatingIP{ID: uuid.NewString(), Project: owner, Revision: 1, Created: now, Updated: now}
	var portID, fixed, address, subnetID string
	for name, dst := range map[string]*string{"floating_network_id": &f.Network, "description": &f.Description, "port_id": &portID,
		"fixed_ip_address": &fixed, "floating_ip_address": &address, "subnet_id": &subnetID} {
		if !a.null(name) {
			if err := a.str(name, dst, 255); err != nil {
				return err
			}
		}
	}
	if f.Network == "" {
		return badRequest("Failed to parse request. Required attribute 'floating_network_id' not specified")
	}
	if address != "" {
		if err := q.enforce("create_floatingip:floating_ip_address", owner); err != nil {
			return err
		}
	}
	tags, err := readTags(a)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		n, err := s.visibleNetwork(ctx, tx, q, f.Network)
		if err != nil {
			return err
		}
		if !n.External {
			return badRequest("Bad floatingip request: Network %s is not a valid external network.", n.ID)
		}
		if err := s.checkQuota(ctx, tx, owner, "floatingip", 1); err != nil {
			return err
		}
		var want []fixedIP
		if address != "" || subnetID != "" {
			want = []fixedIP{{SubnetID: subnetID, IPAddress: address}}
		}
		p, err := s.servicePort(ctx, tx, n.ID, ownerFloatingIP, f.ID, want)
		if err != nil {
			return err
		}
		f.PortID, f.Address = p.ID, p.IPs[0].IPAddress
		if err := store.Insert(ctx, tx, "floating_ips", store.Values{}.
			Set("id", f.ID).Set("project_id", f.Project).Set("network_id", f.Network).Set("port_id", f.PortID).
			Set("address", f.Address).Set("fixed_port_id", "").Set("fixed_ip", "").Set("router_id", "").
			Set("description", f.Description).Set("revision", f.Revision).Set("created_at", f.Created).Set("updated_at", f.Updated)); err != nil {
			return err
		}
		if portID != "" {
			if err := s.associate(ctx, tx, q, f, portID, fixed); err != nil {
				return err
			}
		}
		return setTags(ctx, tx, f.ID, tags)
	})
	if err != nil {
		return err
	}
	s.routersChanged(ctx, f.Router)
	return s.writeFloating(q, http.StatusCreated, f)
}

// associate points f at a fixed IPv4 address of a port of f's project,
// through the router that joins the port's subnet to f's network.
func (s *Service) associate(ctx context.Context, tx *store.Tx, q *request, f *floatingIP, portID, fixed string) error {
	p, err := s.visiblePort(ctx, tx, q, portID)
	if err != nil {
		return err
	}
	if p.Project != f.Project {
		return notFound("Port", portID)
	}
	var ip *fixedIP
	for i, x := range p.IPs {
		a, _ := netip.ParseAddr(x.IPAddress)
		if a.Is4() && (fixed == "" || fixed == x.IPAddress) && ip == nil {
			ip = &p.IPs[i]
		}
	}
	if ip == nil {
		if fixed != "" {
			return badRequest("Bad floatingip request: Port %s does not have fixed ip %s.", portID, fixed)
		}
		return badRequest("Bad floatingip request: Port %s does not have any IPv4 address.", portID)
	}
	var router string
	err = store.Row(tx.QueryRow(ctx, `SELECT r.id FROM routers r JOIN ports p ON p.device_id = r.id AND p.device_owner = ?
		JOIN port_ips i ON i.port_id = p.id WHERE r.gateway_network = ? AND i.subnet_id = ? ORDER BY r.id LIMIT 1`,
		ownerRouterInterface, f.Network, ip.SubnetID).Scan(&router))
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, "ExternalGatewayForFloatingIPNotFound",
			"External network %s is not reachable from subnet %s. Therefore, cannot associate Port %s with a Floating IP.", f.Network, ip.SubnetID, portID)
	}
	if err != nil {
		return err
	}
	f.FixedPort, f.FixedIP, f.Router = p.ID, ip.IPAddress, router
	_, err = tx.Exec(ctx, `UPDATE floating_ips SET fixed_port_id = ?, fixed_ip = ?, router_id = ? WHERE id = ?`, f.FixedPort, f.FixedIP, f.Router, f.ID)
	if errors.Is(err, store.ErrConflict) {
		return conflict("FloatingIPPortAlreadyAssociated", "Cannot associate floating IP %s with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.",
			f.Address, p.ID, ip.IPAddress, f.Network)
	}
	return err
}

func (s *Service) updateFloating(q *request) error {
	a, err := readBody(q.r, "floatingip")
	if err != nil {
		return err
	}
	if err := a.allow("port_id", "fixed_ip_address", "description", "qos_policy_id"); err != nil {
		return err
	}
	ctx := q.r.Context()
	var f *floatingIP
	var before string // the router f went through
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if f, err = s.visibleFloating(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		before = f.Router
		if err := q.enforce("update_floatingip", f.Project); err != nil {
			return err
		}
		if err := a.str("description", &f.Description, 255); err != nil {
			return err
		}
		if a.has("port_id") {
			var portID, fixed string
			if !a.null("port_id") {
				if err := a.str("port_id", &portID, 64); err != nil {
					return err
				}
			}
			if !a.null("fixed_ip_address") {
				if err := a.str("fixed_ip_address", &fixed, 64); err != nil {
					return err
				}
			}
			f.FixedPort, f.FixedIP, f.Router = "", "", ""
			if _, err := tx.Exec(ctx, `UPDATE floating_ips SET fixed_port_id = '', fixed_ip = '', router_id = '' WHERE id = ?`, f.ID); err != nil {
				return err
			}
			if portID != "" {
				if err := s.associate(ctx, tx, q, f, portID, fixed); err != nil {
					return err
				}
			}
		}
		f.Revision++
		f.Updated = time.Now().Unix()
		_, err := tx.Exec(ctx, `UPDATE floating_ips SET description = ?, revision = ?, updated_at = ? WHERE id = ?`, f.Description, f.Revision, f.Updated, f.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.routersChanged(ctx, before, f.Router)
	return s.writeFloating(q, http.StatusOK, f)
}

func (s *Service) deleteFloating(q *request) error {
	ctx := q.r.Context()
	var router string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		f, err := s.visibleFloating(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		router = f.Router
		if err := q.enforce("delete_floatingip", f.Project); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM floating_ips WHERE id = ?`, f.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM network_tags WHERE resource_id = ?`, f.ID); err != nil {
			return err
		}
		return deletePortRow(ctx, tx, f.PortID)
	})
	if err != nil {
		return err
	}
	s.routersChanged(ctx, router)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
