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

// Routers join a project's subnets (interfaces: ports with the subnet's
// gateway address) and reach an external network through a gateway port
// on it, with SNAT unless an admin turns it off; static routes go via
// addresses on the interfaces' subnets.

const (
	ownerRouterInterface = "network:router_interface"
	ownerRouterGateway   = "network:router_gateway"
	ownerFloatingIP      = "network:floatingip"
	maxRoutes            = 30
)

type router struct {
	ID, Project, Name, Description string
	AdminUp                        bool
	Gateway                        string // the external network, "" for none
	SNAT                           bool
	Routes                         []route
	Revision                       int
	Created, Updated               int64
}

const routerColumns = `id, project_id, name, description, admin_state_up, gateway_network, enable_snat, routes, revision, created_at, updated_at`

func scanRouter(row store.Scanner) (*router, error) {
	r := &router{}
	var routes string
	if err := row.Scan(&r.ID, &r.Project, &r.Name, &r.Description, &r.AdminUp, &r.Gateway, &r.SNAT, &routes, &r.Revision, &r.Created, &r.Updated); err != nil {
		return nil, err
	}
	unmarshalText(routes, &r.Routes)
	return r, nil
}

var routerList = &listing{collection: "routers", table: "routers", columns: routerColumns, spec: &httpapi.ListSpec{
	Ascending: true,
	Columns: map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "name": {SQL: "name", Filter: true, Sort: true},
		"tenant_id": {SQL: "project_id", Filter: true, Sort: true}, "project_id": {SQL: "project_id", Filter: true, Sort: true},
		"description": {SQL: "description", Filter: true}, "admin_state_up": {SQL: "admin_state_up", Filter: true, Bool: true},
		"status":          {SQL: "CASE WHEN admin_state_up THEN 'ACTIVE' ELSE 'DOWN' END", Filter: true},
		"revision_number": {SQL: "revision", Filter: true}, "created_at": {SQL: "created_at", Sort: true}, "updated_at": {SQL: "updated_at", Sort: true},
	}}, extra: []string{"distributed", "ha"}}

func (s *Service) routerScope(q *request) (string, []any) {
	if q.admin() {
		return "1 = 1", nil
	}
	return "project_id = ?", []any{q.creds.ProjectID}
}

func (s *Service) visibleRouter(ctx context.Context, db store.Querier, q *request, id string) (*router, error) {
	scope, args := s.routerScope(q)
	return lookup(ctx, db, routerList, scope, args, id, scanRouter, notFound("Router", id))
}

func (s *Service) routerViews(ctx context.Context, q *request, routers []*router) ([]map[string]any, error) {
	ids := make([]string, len(routers))
	for i, r := range routers {
		ids[i] = r.ID
	}
	tags, err := s.tagsOf(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	gw, err := s.childRows(ctx, s.db, `SELECT p.device_id, i.subnet_id, i.ip_address FROM ports p JOIN port_ips i ON i.port_id = p.id
		WHERE p.device_owner = '`+ownerRouterGateway+`' AND p.device_id IN `, ids)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(routers))
	for i, r := range routers {
		var info any
		if r.Gateway != "" {
			ips := []fixedIP{}
			for _, g := range gw {
				if g[0] == r.ID {
					ips = append(ips, fixedIP{SubnetID: g[1], IPAddress: g[2]})
				}
			}
			sortIPs(ips)
			info = map[string]any{"network_id": r.Gateway, "enable_snat": r.SNAT, "external_fixed_ips": ips}
		}
		status := "ACTIVE"
		if !r.AdminUp {
			status = "DOWN"
		}
		out[i] = standard(map[string]any{"admin_state_up": r.AdminUp, "status": status, "external_gateway_info": info,
			"routes": orEmpty(r.Routes), "distributed": false, "ha": false, "availability_zone_hints": []string{},
			"availability_zones": []string{availabilityZone}, "flavor_id": nil, "enable_ndp_proxy": false},
			r.ID, r.Project, r.Name, r.Description, tags[r.ID], r.Revision, r.Created, r.Updated)
	}
	return out, nil
}

func (s *Service) writeRouter(q *request, status int, r *router) error {
	views, err := s.routerViews(q.r.Context(), q, []*router{r})
	if err != nil {
		return err
	}
	q.write(status, "router", views[0])
	return nil
}

func (s *Service) listRouters(q *request) error {
	scope, args := s.routerScope(q)
	return list(s, q, routerList, scope, args, scanRouter, func(r *router) string { return r.ID },
		func(ctx context.Context, rs []*router) ([]map[string]any, error) { return s.routerViews(ctx, q, rs) })
}

func (s *Service) showRouter(q *request) error {
	r, err := s.visibleRouter(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeRouter(q, http.StatusOK, r)
}

func routerBody(a attrs, r *router) error {
	for name, dst := range map[string]*string{"name": &r.Name, "description": &r.Description} {
		if err := a.str(name, dst, 255); err != nil {
			return err
		}
	}
	if err := a.boolean("admin_state_up", &r.AdminUp); err != nil {
		return err
	}
	for _, k := range []string{"distributed", "ha"} {
		var b bool
		if err := a.boolean(k, &b); err != nil {
			return err
		}
		if b {
			return badRequest("%s routers are not supported: sov's routers run on one host.", k)
		}
	}
	var hints []string
	if err := a.decode("availability_zone_hints", &hints); err != nil {
		return err
	}
	for _, h := range hints {
		if h != availabilityZone {
			return fail(http.StatusNotFound, "AvailabilityZoneNotFound", "AvailabilityZone %s could not be found.", h)
		}
	}
	return nil
}

func (s *Service) createRouter(q *request) error {
	a, err := readBody(q.r, "router")
	if err != nil {
		return err
	}
	if err := a.allow("name", "description", "admin_state_up", "external_gateway_info", "distributed", "ha",
		"availability_zone_hints", "flavor_id", "tags", "tenant_id", "project_id", "enable_ndp_proxy"); err != nil {
		return err
	}
	if a.has("flavor_id") && !a.null("flavor_id") {
		return badRequest("Router flavors are not supported.")
	}
	owner, err := ownerOf(q, a)
	if err != nil {
		return err
	}
	if err := q.enforce("create_router", owner); err != nil {
		return err
	}
	now := time.Now().Unix()
	r := &router{ID: uuid.NewString(), Project: owner, AdminUp: true, Revision: 1, Created: now, Updated: now}
	if err := routerBody(a, r); err != nil {
		return err
	}
	tags, err := readTags(a)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkQuota(ctx, tx, owner, "router", 1); err != nil {
			return err
		}
		if err := store.Insert(ctx, tx, "routers", store.Values{}.
			Set("id", r.ID).Set("project_id", r.Project).Set("name", r.Name).Set("description", r.Description).
			Set("admin_state_up", r.AdminUp).Set("gateway_network", "").Set("enable_snat", false).Set("routes", "[]").
			Set("revision", r.Revision).Set("created_at", r.Created).Set("updated_at", r.Updated)); err != nil {
			return err
		}
		if a.has("external_gateway_info") {
			if err := s.setGateway(ctx, tx, q, a, r); err != nil {
				return err
			}
		}
		return setTags(ctx, tx, r.ID, tags)
	})
	if err != nil {
		return err
	}
	s.routersChanged(ctx, r.ID)
	return s.writeRouter(q, http.StatusCreated, r)
}

// gatewayInfo is a request's external_gateway_info.
type gatewayInfo struct {
	NetworkID  string    `json:"network_id"`
	EnableSNAT *bool     `json:"enable_snat"`
	FixedIPs   []fixedIP `json:"external_fixed_ips"`
}

// setGateway puts the router's gateway on the external network the body
// names (a port of no project, as Neutron's), or takes it away.
func (s *Service) setGateway(ctx context.Context, tx *store.Tx, q *request, a attrs, r *router) error {
	var info gatewayInfo
	if !a.null("external_gateway_info") {
		if err := a.decode("external_gateway_info", &info); err != nil {
			return err
		}
	}
	if info.EnableSNAT != nil && !*info.EnableSNAT || len(info.FixedIPs) > 0 {
		if err := q.enforce("create_router:external_gateway_info", r.Project); err != nil {
			return err
		}
	}
	var old *port
	old, err := scanPort(tx.QueryRow(ctx, `SELECT `+portColumns+` FROM ports WHERE device_owner = ? AND device_id = ?`, ownerRouterGateway, r.ID))
	switch err = store.Row(err); {
	case errors.Is(err, store.ErrNotFound):
		old = nil
	case err != nil:
		return err
	}
	if old != nil && (info.NetworkID != r.Gateway || len(info.FixedIPs) > 0) {
		var through int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM floating_ips WHERE router_id = ?`, r.ID).Scan(&through); err != nil {
			return err
		}
		if through > 0 && info.NetworkID != r.Gateway {
			return conflict("RouterExternalGatewayInUseByFloatingIp", "Gateway cannot be updated for router %s, since a gateway to external network %s is required by one or more floating IPs.", r.ID, r.Gateway)
		}
		if err := deletePortRow(ctx, tx, old.ID); err != nil {
			return err
		}
		old = nil
	}
	r.Gateway, r.SNAT = info.NetworkID, info.NetworkID != ""
	if info.EnableSNAT != nil && r.Gateway != "" {
		r.SNAT = *info.EnableSNAT
	}
	if r.Gateway != "" && old == nil {
		n, err := s.visibleNetwork(ctx, tx, q, r.Gateway)
		if err != nil {
			return err
		}
		if !n.External {
			return badRequest("Bad router request: Network %s is not an external network.", n.ID)
		}
		if _, err := s.servicePort(ctx, tx, n.ID, ownerRouterGateway, r.ID, info.FixedIPs); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `UPDATE routers SET gateway_network = ?, enable_snat = ? WHERE id = ?`, r.Gateway, r.SNAT, r.ID)
	return err
}

// servicePort makes one of Neutron's own ports (a router's gateway, a
// floating IP's address) on network: no project, no security groups.
func (s *Service) servicePort(ctx context.Context, tx *store.Tx, network, owner, device string, want []fixedIP) (*port, error) {
	now := time.Now().Unix()
	p := &port{ID: uuid.NewString(), Network: network, MAC: newMAC(), autoMAC: true, AdminUp: true, Status: "ACTIVE", DeviceOwner: owner,
		DeviceID: device, VNIC: vnicNormal, Profile: "{}", Revision: 1, Created: now, Updated: now}
	if err := insertPort(ctx, tx, p); err != nil {
		return nil, err
	}
	if len(want) == 0 {
		var err error
		if want, err = defaultAddresses(ctx, tx, network); err != nil {
			return nil, err
		}
		var v4 []fixedIP
		for _, w := range want {
			if sn, err := scanSubnet(tx.QueryRow(ctx, `SELECT `+subnetColumns+` FROM subnets WHERE id = ?`, w.SubnetID)); err == nil && sn.IPVersion == 4 {
				v4 = append(v4, w)
			}
		}
		if owner == ownerFloatingIP {
			want = v4
		}
	}
	if len(want) == 0 {
		return nil, badRequest("Bad request: the external network %s has no subnet to take an address from.", network)
	}
	return p, s.assignAddresses(ctx, tx, p, want)
}

func (s *Service) updateRouter(q *request) error {
	a, err := readBody(q.r, "router")
	if err != nil {
		return err
	}
	if err := a.allow("name", "description", "admin_state_up", "external_gateway_info", "routes", "distributed", "ha", "enable_ndp_proxy"); err != nil {
		return err
	}
	ctx := q.r.Context()
	var r *router
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if r, err = s.visibleRouter(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce("update_router", r.Project); err != nil {
			return err
		}
		if err := routerBody(a, r); err != nil {
			return err
		}
		if a.has("external_gateway_info") {
			if err := s.setGateway(ctx, tx, q, a, r); err != nil {
				return err
			}
		}
		if a.has("routes") {
			r.Routes = nil
			if err := a.decode("routes", &r.Routes); err != nil {
				return err
			}
			if err := s.checkRoutes(ctx, tx, r); err != nil {
				return err
			}
		}
		r.Revision++
		r.Updated = time.Now().Unix()
		_, err := tx.Exec(ctx, `UPDATE routers SET name = ?, description = ?, admin_state_up = ?, routes = ?, revision = ?, updated_at = ? WHERE id = ?`,
			r.Name, r.Description, r.AdminUp, jsonText(orEmpty(r.Routes)), r.Revision, r.Updated, r.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.routersChanged(ctx, r.ID)
	return s.writeRouter(q, http.StatusOK, r)
}

// checkRoutes refuses routes that are malformed or whose next hop is not
// on a subnet of the router's interfaces.
func (s *Service) checkRoutes(ctx context.Context, tx *store.Tx, r *router) error {
	if len(r.Routes) > maxRoutes {
		return badRequest("Number of routes exceeds the limit %d.", maxRoutes)
	}
	cidrs, err := routerSubnets(ctx, tx, r.ID)
	if err != nil {
		return err
	}
	for _, rt := range r.Routes {
		d, err1 := netip.ParsePrefix(rt.Destination)
		h, err2 := netip.ParseAddr(rt.Nexthop)
		if err1 != nil || err2 != nil || d.Addr().Is4() != h.Is4() {
			return fail(http.StatusBadRequest, "InvalidRoutes", "Invalid format for routes: %v, the route is not valid.", rt)
		}
		connected := false
		for _, c := range cidrs {
			connected = connected || c.Contains(h)
		}
		if !connected {
			return fail(http.StatusBadRequest, "InvalidRoutes", "Invalid format for routes: %v, the nexthop is not connected with router.", rt)
		}
	}
	return nil
}

// routerSubnets are the CIDRs of the subnets a router has interfaces on.
func routerSubnets(ctx context.Context, tx *store.Tx, router string) ([]netip.Prefix, error) {
	rows, err := tx.Query(ctx, `SELECT s.cidr FROM subnets s JOIN port_ips i ON i.subnet_id = s.id JOIN ports p ON p.id = i.port_id
		WHERE p.device_owner = ? AND p.device_id = ?`, ownerRouterInterface, router)
	if err != nil {
		return nil, err
	}
	return store.Collect(rows, func(row store.Scanner) (netip.Prefix, error) {
		var c string
		if err := row.Scan(&c); err != nil {
			return netip.Prefix{}, err
		}
		return netip.ParsePrefix(c)
	})
}

func (s *Service) deleteRouter(q *request) error {
	ctx := q.r.Context()
	id := q.r.PathValue("id")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := s.visibleRouter(ctx, tx, q, id)
		if err != nil {
			return err
		}
		if err := q.enforce("delete_router", r.Project); err != nil {
			return err
		}
		var ifaces int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM ports WHERE device_owner = ? AND device_id = ?`, ownerRouterInterface, r.ID).Scan(&ifaces); err != nil {
			return err
		}
		if ifaces > 0 {
			return conflict("RouterInUse", "Router %s still has ports", r.ID)
		}
		for _, stmt := range []string{
			`DELETE FROM port_ips WHERE port_id IN (SELECT id FROM ports WHERE device_owner = '` + ownerRouterGateway + `' AND device_id = ?)`,
			`DELETE FROM ports WHERE device_owner = '` + ownerRouterGateway + `' AND device_id = ?`,
			`DELETE FROM network_tags WHERE resource_id = ?`,
			`DELETE FROM routers WHERE id = ?`,
		} {
			if _, err := tx.Exec(ctx, stmt, r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.routersChanged(ctx, id)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// interfaceBody is the body of add_router_interface and remove_router_interface.
type interfaceBody struct {
	SubnetID string `json:"subnet_id"`
	PortID   string `json:"port_id"`
}

func readInterface(q *request) (*interfaceBody, error) {
	var b interfaceBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return nil, badRequest("%s", err.Error())
	}
	if (b.SubnetID == "") == (b.PortID == "") {
		return nil, badRequest("Bad router request: Either subnet_id or port_id must be specified.")
	}
	return &b, nil
}

// addInterface attaches a subnet (a new port with its gateway address)
// or a port of the router's project to the router.
func (s *Service) addInterface(q *request) error {
	b, err := readInterface(q)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	var out map[string]any
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := s.visibleRouter(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := q.enforce("add_router_interface", r.Project); err != nil {
			return err
		}
		var p *port
		if b.PortID != "" {
			if p, err = s.visiblePort(ctx, tx, q, b.PortID); err != nil {
				return err
			}
			if p.Project != r.Project {
				return notFound("Port", b.PortID)
			}
			if p.DeviceID != "" || p.DeviceOwner != "" {
				return conflict("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.", p.ID, p.Network, p.DeviceID)
			}
			if len(p.IPs) == 0 {
				return badRequest("Bad router request: Router port must have at least one fixed IP.")
			}
			var owner string
			if err := tx.QueryRow(ctx, `SELECT project_id FROM networks WHERE id = ?`, p.Network).Scan(&owner); err != nil {
				return err
			}
			if owner != r.Project && !q.admin() {
				return fail(http.StatusForbidden, "HTTPForbidden", "Router %s cannot use port %s: its network belongs to another project.", r.ID, p.ID)
			}
		} else {
			sn, err := s.visibleSubnet(ctx, tx, q, b.SubnetID)
			if err != nil {
				return err
			}
			n, err := scanNetwork(tx.QueryRow(ctx, `SELECT `+networkColumns+` FROM networks WHERE id = ?`, sn.Network))
			if err != nil {
				return store.Row(err)
			}
			if n.Project != r.Project && !q.admin() {
				return fail(http.StatusForbidden, "HTTPForbidden", "Router %s cannot use subnet %s: its network belongs to another project.", r.ID, sn.ID)
			}
			if sn.Gateway == "" {
				return badRequest("Bad router request: Subnet for router interface must have a gateway IP.")
			}
			var on int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM port_ips i JOIN ports p ON p.id = i.port_id WHERE i.subnet_id = ? AND p.device_owner = ? AND p.device_id = ?`,
				sn.ID, ownerRouterInterface, r.ID).Scan(&on); err != nil {
				return err
			}
			if on > 0 {
				return badRequest("Bad router request: Router already has a port on subnet %s.", sn.ID)
			}
			now := time.Now().Unix()
			p = &port{ID: uuid.NewString(), Project: r.Project, Network: sn.Network, MAC: newMAC(), autoMAC: true, AdminUp: true, Status: "ACTIVE",
				VNIC: vnicNormal, Profile: "{}", Revision: 1, Created: now, Updated: now}
			if err := insertPort(ctx, tx, p); err != nil {
				return err
			}
			var held int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM port_ips WHERE subnet_id = ? AND ip_address = ?`, sn.ID, sn.Gateway).Scan(&held); err != nil {
				return err
			}
			if held > 0 {
				return conflict("IpAddressInUse", "Unable to complete operation for network %s. The IP address %s is in use.", sn.Network, sn.Gateway)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO port_ips (port_id, subnet_id, ip_address) VALUES (?, ?, ?)`, p.ID, sn.ID, sn.Gateway); err != nil {
				return err
			}
			p.IPs = []fixedIP{{SubnetID: sn.ID, IPAddress: sn.Gateway}}
		}
		if err := s.checkInterfaceOverlap(ctx, tx, r.ID, p); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM port_security_groups WHERE port_id = ?`, p.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE ports SET device_owner = ?, device_id = ?, status = 'ACTIVE', port_security = FALSE, revision = revision + 1 WHERE id = ?`,
			ownerRouterInterface, r.ID, p.ID); err != nil {
			return err
		}
		out = interfaceInfo(r, p)
		return nil
	})
	if err != nil {
		return err
	}
	s.changed(ctx, out["network_id"].(string))
	httpapi.WriteJSON(q.w, http.StatusOK, out)
	return nil
}

// interfaceInfo is the answer of add_router_interface and remove_router_interface.
func interfaceInfo(r *router, p *port) map[string]any {
	subnets := []string{}
	for _, ip := range p.IPs {
		subnets = append(subnets, ip.SubnetID)
	}
	first := ""
	if len(subnets) > 0 {
		first = subnets[0]
	}
	return map[string]any{"id": r.ID, "tenant_id": r.Project, "project_id": r.Project, "port_id": p.ID,
		"network_id": p.Network, "subnet_id": first, "subnet_ids": subnets}
}

// checkInterfaceOverlap refuses a port whose subnets overlap those the
// router is already on.
func (s *Service) checkInterfaceOverlap(ctx context.Context, tx *store.Tx, router string, p *port) error {
	existing, err := routerSubnets(ctx, tx, router)
	if err != nil {
		return err
	}
	for _, ip := range p.IPs {
		sn, err := scanSubnet(tx.QueryRow(ctx, `SELECT `+subnetColumns+` FROM subnets WHERE id = ?`, ip.SubnetID))
		if err != nil {
			return store.Row(err)
		}
		for _, c := range existing {
			if c.Overlaps(sn.prefix()) {
				return badRequest("Bad router request: Cidr %s of subnet %s overlaps with cidr %s of subnet on router %s.", sn.CIDR, sn.ID, c, router)
			}
		}
	}
	return nil
}

func (s *Service) removeInterface(q *request) error {
	b, err := readInterface(q)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	var out map[string]any
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := s.visibleRouter(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := q.enforce("remove_router_interface", r.Project); err != nil {
			return err
		}
		query, arg := `SELECT `+portColumns+` FROM ports WHERE device_owner = ? AND device_id = ? AND id = ?`, b.PortID
		if b.SubnetID != "" {
			query, arg = `SELECT `+portColumns+` FROM ports WHERE device_owner = ? AND device_id = ? AND id IN (SELECT port_id FROM port_ips WHERE subnet_id = ?)`, b.SubnetID
		}
		p, err := scanPort(tx.QueryRow(ctx, query, ownerRouterInterface, r.ID, arg))
		if errors.Is(store.Row(err), store.ErrNotFound) {
			if b.SubnetID != "" {
				return fail(http.StatusNotFound, "RouterInterfaceNotFoundForSubnet", "Router %s has no interface on subnet %s", r.ID, b.SubnetID)
			}
			return fail(http.StatusNotFound, "RouterInterfaceNotFound", "Router %s does not have an interface with id %s", r.ID, b.PortID)
		}
		if err != nil {
			return store.Row(err)
		}
		if err := s.loadPortLinks(ctx, tx, []*port{p}); err != nil {
			return err
		}
		var used int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM floating_ips f JOIN port_ips i ON i.port_id = f.fixed_port_id AND i.ip_address = f.fixed_ip
			WHERE f.router_id = ? AND i.subnet_id IN (SELECT subnet_id FROM port_ips WHERE port_id = ?)`, r.ID, p.ID).Scan(&used); err != nil {
			return err
		}
		if used > 0 {
			return conflict("RouterInterfaceInUseByFloatingIP", "Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more floating IPs.", p.IPs[0].SubnetID, r.ID)
		}
		if err := deletePortRow(ctx, tx, p.ID); err != nil {
			return err
		}
		out = interfaceInfo(r, p)
		return nil
	})
	if err != nil {
		return err
	}
	s.changed(ctx, out["network_id"].(string))
	httpapi.WriteJSON(q.w, http.StatusOK, out)
	return nil
}
