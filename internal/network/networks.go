package network

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Segments: tenant networks are VLANs of the tenant physical network,
// each its own L2 domain; admins may also create flat and VLAN provider
// networks on the physical networks the host has.
const (
	physTenant   = "tenant"
	physExternal = "external"
	defaultMTU   = 1500
	minMTU       = 68
)

type network struct {
	ID, Project, Name, Description string
	AdminUp, Shared, External      bool
	MTU                            int
	PortSecurity                   bool
	Type, Physnet                  string
	Segment                        int
	DNSDomain                      string
	Revision                       int
	Created, Updated               int64
}

const networkColumns = `id, project_id, name, description, admin_state_up, shared, external, mtu, port_security,
	network_type, physical_network, segmentation_id, dns_domain, revision, created_at, updated_at`

func scanNetwork(row store.Scanner) (*network, error) {
	n := &network{}
	return n, row.Scan(&n.ID, &n.Project, &n.Name, &n.Description, &n.AdminUp, &n.Shared, &n.External, &n.MTU, &n.PortSecurity,
		&n.Type, &n.Physnet, &n.Segment, &n.DNSDomain, &n.Revision, &n.Created, &n.Updated)
}

var networkList = &listing{collection: "networks", table: "networks", columns: networkColumns, spec: &httpapi.ListSpec{
	Ascending: true,
	Columns: map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "name": {SQL: "name", Filter: true, Sort: true},
		"tenant_id": {SQL: "project_id", Filter: true, Sort: true}, "project_id": {SQL: "project_id", Filter: true, Sort: true},
		"description": {SQL: "description", Filter: true}, "admin_state_up": {SQL: "admin_state_up", Filter: true, Bool: true, Sort: true},
		"shared": {SQL: "shared", Filter: true, Bool: true}, "router:external": {SQL: "external", Filter: true, Bool: true},
		"mtu": {SQL: "mtu", Filter: true, Sort: true}, "port_security_enabled": {SQL: "port_security", Filter: true, Bool: true},
		"provider:network_type": {SQL: "network_type", Filter: true}, "provider:physical_network": {SQL: "physical_network", Filter: true},
		"provider:segmentation_id": {SQL: "segmentation_id", Filter: true}, "revision_number": {SQL: "revision", Filter: true},
		"status":     {SQL: "CASE WHEN admin_state_up THEN 'ACTIVE' ELSE 'DOWN' END", Filter: true},
		"created_at": {SQL: "created_at", Sort: true}, "updated_at": {SQL: "updated_at", Sort: true},
	}}}

// visibleNetworks is the condition of the networks a project sees: its
// own, shared ones, external ones and those shared with it by RBAC.
const visibleNetworks = `project_id = ? OR shared OR external OR id IN
	(SELECT object_id FROM network_rbac WHERE target_project IN (?, '*'))`

func (s *Service) networkScope(q *request) (string, []any) {
	if q.admin() {
		return "1 = 1", nil
	}
	return visibleNetworks, []any{q.creds.ProjectID, q.creds.ProjectID}
}

// visibleNetwork returns a network the caller may see, else a 404.
func (s *Service) visibleNetwork(ctx context.Context, db store.Querier, q *request, id string) (*network, error) {
	scope, args := s.networkScope(q)
	return lookup(ctx, db, networkList, scope, args, id, scanNetwork, notFound("Network", id))
}

func (s *Service) networkViews(ctx context.Context, q *request, nets []*network) ([]map[string]any, error) {
	ids := make([]string, len(nets))
	for i, n := range nets {
		ids[i] = n.ID
	}
	subnets, err := s.childIDs(ctx, s.db, `SELECT network_id, id FROM subnets WHERE network_id IN `, ids)
	if err != nil {
		return nil, err
	}
	tags, err := s.tagsOf(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(nets))
	for i, n := range nets {
		out[i] = s.networkView(q, n, subnets[n.ID], tags[n.ID])
	}
	return out, nil
}

func (s *Service) networkView(q *request, n *network, subnets, tags []string) map[string]any {
	if subnets == nil {
		subnets = []string{}
	}
	status := "ACTIVE"
	if !n.AdminUp {
		status = "DOWN"
	}
	v := standard(map[string]any{
		"admin_state_up": n.AdminUp, "status": status, "subnets": subnets, "shared": n.Shared, "router:external": n.External,
		"mtu": n.MTU, "port_security_enabled": n.PortSecurity, "availability_zone_hints": []string{}, "availability_zones": []string{availabilityZone},
		"ipv4_address_scope": nil, "ipv6_address_scope": nil, "l2_adjacency": true, "dns_domain": n.DNSDomain, "is_default": false,
	}, n.ID, n.Project, n.Name, n.Description, tags, n.Revision, n.Created, n.Updated)
	if q.admin() {
		v["provider:network_type"], v["provider:physical_network"] = n.Type, n.Physnet
		v["provider:segmentation_id"] = any(n.Segment)
		if n.Type == "flat" {
			v["provider:segmentation_id"] = nil
		}
	}
	return v
}

func (s *Service) listNetworks(q *request) error {
	if !q.admin() {
		for k := range q.r.URL.Query() {
			if strings.HasPrefix(k, "provider:") {
				return badRequest("[%s] is invalid attribute for filtering", k)
			}
		}
	}
	scope, args := s.networkScope(q)
	return list(s, q, networkList, scope, args, scanNetwork, func(n *network) string { return n.ID },
		func(ctx context.Context, nets []*network) ([]map[string]any, error) {
			return s.networkViews(ctx, q, nets)
		})
}

func (s *Service) showNetwork(q *request) error {
	n, err := s.visibleNetwork(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeNetwork(q, http.StatusOK, n)
}

func (s *Service) writeNetwork(q *request, status int, n *network) error {
	views, err := s.networkViews(q.r.Context(), q, []*network{n})
	if err != nil {
		return err
	}
	q.write(status, "network", views[0])
	return nil
}

var networkAttrs = []string{"name", "description", "admin_state_up", "shared", "router:external", "mtu", "port_security_enabled",
	"dns_domain", "availability_zone_hints", "tags", "tenant_id", "project_id",
	"provider:network_type", "provider:physical_network", "provider:segmentation_id"}

// networkBody reads the attributes a create or an update sets on n.
func networkBody(a attrs, n *network) error {
	if err := a.str("name", &n.Name, 255); err != nil {
		return err
	}
	if err := a.str("description", &n.Description, 255); err != nil {
		return err
	}
	if err := a.str("dns_domain", &n.DNSDomain, 255); err != nil {
		return err
	}
	for name, dst := range map[string]*bool{"admin_state_up": &n.AdminUp, "shared": &n.Shared, "router:external": &n.External, "port_security_enabled": &n.PortSecurity} {
		if err := a.boolean(name, dst); err != nil {
			return err
		}
	}
	if err := a.integer("mtu", &n.MTU); err != nil {
		return err
	}
	if n.MTU < minMTU || n.MTU > defaultMTU {
		return invalid("mtu", "%d is not in range %d through %d", n.MTU, minMTU, defaultMTU)
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

// ownerOf is the project a create makes the resource for: the caller's,
// or one an admin names in tenant_id/project_id.
func ownerOf(q *request, a attrs) (string, error) {
	owner := q.creds.ProjectID
	for _, k := range []string{"project_id", "tenant_id"} {
		var p string
		if err := a.str(k, &p, 255); err != nil {
			return "", err
		}
		if p == "" || p == owner {
			continue
		}
		if !q.admin() {
			return "", badRequest("Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges")
		}
		owner = p
	}
	return owner, nil
}

func (s *Service) createNetwork(q *request) error {
	a, err := readBody(q.r, "network")
	if err != nil {
		return err
	}
	if err := a.allow(networkAttrs...); err != nil {
		return err
	}
	owner, err := ownerOf(q, a)
	if err != nil {
		return err
	}
	if err := q.enforce("create_network", owner); err != nil {
		return err
	}
	now := time.Now().Unix()
	n := &network{ID: uuid.NewString(), Project: owner, AdminUp: true, MTU: defaultMTU, PortSecurity: true, Revision: 1, Created: now, Updated: now}
	if err := networkBody(a, n); err != nil {
		return err
	}
	for attr, set := range map[string]bool{"shared": n.Shared, "router:external": n.External} {
		if set {
			if err := q.enforce("create_network:"+attr, owner); err != nil {
				return err
			}
		}
	}
	provider := a.has("provider:network_type") || a.has("provider:physical_network") || a.has("provider:segmentation_id")
	if provider {
		if err := q.enforce("create_network:provider", owner); err != nil {
			return err
		}
		if err := a.str("provider:network_type", &n.Type, 64); err != nil {
			return err
		}
		if err := a.str("provider:physical_network", &n.Physnet, 64); err != nil {
			return err
		}
		if err := a.integer("provider:segmentation_id", &n.Segment); err != nil {
			return err
		}
	}
	tags, err := readTags(a)
	if err != nil {
		return err
	}
	err = s.db.InTx(q.r.Context(), func(tx *store.Tx) error {
		if err := s.checkQuota(q.r.Context(), tx, owner, "network", 1); err != nil {
			return err
		}
		if err := s.segment(q.r.Context(), tx, n, provider); err != nil {
			return err
		}
		if err := insertNetwork(q.r.Context(), tx, n); err != nil {
			return err
		}
		if n.Shared {
			if err := insertRBAC(q.r.Context(), tx, &rbac{ID: uuid.NewString(), Project: owner, Object: n.ID, Action: accessShared, Target: "*"}); err != nil {
				return err
			}
		}
		return setTags(q.r.Context(), tx, n.ID, tags)
	})
	if err != nil {
		return err
	}
	return s.writeNetwork(q, http.StatusCreated, n)
}

func insertNetwork(ctx context.Context, tx *store.Tx, n *network) error {
	return store.Insert(ctx, tx, "networks", store.Values{}.
		Set("id", n.ID).Set("project_id", n.Project).Set("name", n.Name).Set("description", n.Description).
		Set("admin_state_up", n.AdminUp).Set("shared", n.Shared).Set("external", n.External).Set("mtu", n.MTU).
		Set("port_security", n.PortSecurity).Set("network_type", n.Type).Set("physical_network", n.Physnet).
		Set("segmentation_id", n.Segment).Set("dns_domain", n.DNSDomain).Set("revision", n.Revision).
		Set("created_at", n.Created).Set("updated_at", n.Updated))
}

// segment picks the network's L2 segment: the lowest free VLAN of the
// tenant physical network, or checks the one an admin asked for.
func (s *Service) segment(ctx context.Context, tx *store.Tx, n *network, provider bool) error {
	if !provider {
		n.Type, n.Physnet = "vlan", physTenant
	}
	switch n.Type {
	case "flat":
		if n.Physnet == "" {
			n.Physnet = physExternal
		}
		if n.Segment != 0 {
			return invalidInput("segmentation_id requires VLAN provider network")
		}
	case "vlan":
		if n.Physnet == "" {
			n.Physnet = physTenant
		}
	case "":
		return invalidInput("provider:network_type required")
	default:
		return invalidInput("network_type value '%s' not supported", n.Type)
	}
	if n.Physnet != physTenant && n.Physnet != physExternal {
		return invalidInput("physical_network '%s' unknown for %s provider network", n.Physnet, n.Type)
	}
	var taken int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM networks WHERE network_type = ? AND physical_network = ? AND segmentation_id = ?`,
		n.Type, n.Physnet, n.Segment).Scan(&taken); err != nil {
		return err
	}
	if n.Type == "flat" || n.Segment != 0 {
		if taken > 0 && n.Type == "flat" {
			return conflict("FlatNetworkInUse", "Unable to create the flat network. Physical network %s is in use.", n.Physnet)
		}
		if taken > 0 {
			return conflict("VlanIdInUse", "Unable to create the network. The VLAN %d on physical network %s is in use.", n.Segment, n.Physnet)
		}
		if n.Type == "vlan" && (n.Segment < 1 || n.Segment > 4094) {
			return invalidInput("provider:segmentation_id out of range (1 through 4094)")
		}
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT segmentation_id FROM networks WHERE network_type = 'vlan' AND physical_network = ? ORDER BY segmentation_id`, n.Physnet)
	if err != nil {
		return err
	}
	used, err := store.Collect(rows, func(r store.Scanner) (int, error) { var v int; return v, r.Scan(&v) })
	if err != nil {
		return err
	}
	n.Segment = 1
	for _, v := range used {
		if v == n.Segment {
			n.Segment++
		}
	}
	if n.Segment > 4094 {
		return fail(http.StatusServiceUnavailable, "NoNetworkAvailable", "Unable to create the network. No tenant network is available for allocation.")
	}
	return nil
}

func (s *Service) updateNetwork(q *request) error {
	a, err := readBody(q.r, "network")
	if err != nil {
		return err
	}
	if err := a.allow("name", "description", "admin_state_up", "shared", "router:external", "mtu", "port_security_enabled", "dns_domain"); err != nil {
		return err
	}
	var n *network
	err = s.db.InTx(q.r.Context(), func(tx *store.Tx) error {
		if n, err = s.visibleNetwork(q.r.Context(), tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce("update_network", n.Project); err != nil {
			return err
		}
		wasShared, wasExternal := n.Shared, n.External
		if err := networkBody(a, n); err != nil {
			return err
		}
		if n.Shared != wasShared {
			if err := q.enforce("update_network:shared", n.Project); err != nil {
				return err
			}
			if err := s.setShared(q.r.Context(), tx, n); err != nil {
				return err
			}
		}
		if n.MTU < minIPv6MTU {
			var v6 int
			if err := tx.QueryRow(q.r.Context(), `SELECT COUNT(*) FROM subnets WHERE network_id = ? AND ip_version = 6`, n.ID).Scan(&v6); err != nil {
				return err
			}
			if v6 > 0 {
				return invalidInput("network %s has IPv6 subnets; its MTU cannot be less than %d", n.ID, minIPv6MTU)
			}
		}
		if n.External != wasExternal {
			if err := q.enforce("update_network:router:external", n.Project); err != nil {
				return err
			}
		}
		n.Revision++
		n.Updated = time.Now().Unix()
		_, err := tx.Exec(q.r.Context(), `UPDATE networks SET name = ?, description = ?, admin_state_up = ?, shared = ?, external = ?, mtu = ?,
			port_security = ?, dns_domain = ?, revision = ?, updated_at = ? WHERE id = ?`,
			n.Name, n.Description, n.AdminUp, n.Shared, n.External, n.MTU, n.PortSecurity, n.DNSDomain, n.Revision, n.Updated, n.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.changed(q.r.Context(), n.ID)
	return s.writeNetwork(q, http.StatusOK, n)
}

// setShared keeps the '*' RBAC entry in step with a network's shared flag;
// unsharing fails while another project has a port on it.
func (s *Service) setShared(ctx context.Context, tx *store.Tx, n *network) error {
	if n.Shared {
		return insertRBAC(ctx, tx, &rbac{ID: uuid.NewString(), Project: n.Project, Object: n.ID, Action: accessShared, Target: "*"})
	}
	if err := s.checkUnshare(ctx, tx, n.ID, "*"); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM network_rbac WHERE object_id = ? AND action = ? AND target_project = '*'`, n.ID, accessShared)
	return err
}

func (s *Service) deleteNetwork(q *request) error {
	id := q.r.PathValue("id")
	err := s.db.InTx(q.r.Context(), func(tx *store.Tx) error {
		n, err := s.visibleNetwork(q.r.Context(), tx, q, id)
		if err != nil {
			return err
		}
		if err := q.enforce("delete_network", n.Project); err != nil {
			return err
		}
		var inUse int
		if err := tx.QueryRow(q.r.Context(), `SELECT COUNT(*) FROM ports WHERE network_id = ? AND device_owner <> ?`, id, ownerDHCP).Scan(&inUse); err != nil {
			return err
		}
		if inUse > 0 {
			return conflict("NetworkInUse", "Unable to complete operation on network %s. There are one or more ports still in use on the network.", id)
		}
		for _, stmt := range []string{
			`DELETE FROM network_tags WHERE resource_id IN (SELECT id FROM ports WHERE network_id = ?)`,
			`DELETE FROM ports WHERE network_id = ?`,
			`DELETE FROM network_tags WHERE resource_id IN (SELECT id FROM subnets WHERE network_id = ?)`,
			`DELETE FROM subnets WHERE network_id = ?`,
			`DELETE FROM network_tags WHERE resource_id = ?`,
			`DELETE FROM networks WHERE id = ?`,
		} {
			if _, err := tx.Exec(q.r.Context(), stmt, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.changed(q.r.Context(), id)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
