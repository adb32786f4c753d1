package network

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Limits of a subnet's lists, as Neutron's defaults.
const (
	maxDNSNameservers = 5
	maxHostRoutes     = 20
	maxPools          = 20
	minIPv6MTU        = 1280 // IPv6's minimum link MTU
)

type route struct {
	Destination string `json:"destination"`
	Nexthop     string `json:"nexthop"`
}

type subnet struct {
	ID, Project, Network, Name, Description string
	IPVersion                               int
	CIDR, Gateway                           string // Gateway "" for none
	DHCP                                    bool
	RAMode, AddrMode                        string
	Pools                                   []pool
	DNS                                     []string
	Routes                                  []route
	Revision                                int
	Created, Updated                        int64
}

func (sn *subnet) prefix() netip.Prefix { p, _ := netip.ParsePrefix(sn.CIDR); return p }

func (sn *subnet) gateway() netip.Addr { a, _ := netip.ParseAddr(sn.Gateway); return a }

// autoAddress reports whether the subnet's ports get addresses from SLAAC.
func (sn *subnet) autoAddress() bool {
	return sn.AddrMode == "slaac" || sn.AddrMode == "dhcpv6-stateless"
}

const subnetColumns = `id, project_id, network_id, name, description, ip_version, cidr, gateway_ip, enable_dhcp,
	ipv6_ra_mode, ipv6_address_mode, allocation_pools, dns_nameservers, host_routes, revision, created_at, updated_at`

func scanSubnet(row store.Scanner) (*subnet, error) {
	sn := &subnet{}
	var pools, dns, routes string
	if err := row.Scan(&sn.ID, &sn.Project, &sn.Network, &sn.Name, &sn.Description, &sn.IPVersion, &sn.CIDR, &sn.Gateway, &sn.DHCP,
		&sn.RAMode, &sn.AddrMode, &pools, &dns, &routes, &sn.Revision, &sn.Created, &sn.Updated); err != nil {
		return nil, err
	}
	json.Unmarshal([]byte(pools), &sn.Pools)
	json.Unmarshal([]byte(dns), &sn.DNS)
	json.Unmarshal([]byte(routes), &sn.Routes)
	return sn, nil
}

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

var subnetList = &listing{collection: "subnets", table: "subnets", columns: subnetColumns, spec: &httpapi.ListSpec{
	Ascending: true,
	Columns: map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "name": {SQL: "name", Filter: true, Sort: true},
		"tenant_id": {SQL: "project_id", Filter: true, Sort: true}, "project_id": {SQL: "project_id", Filter: true, Sort: true},
		"network_id": {SQL: "network_id", Filter: true, Sort: true}, "description": {SQL: "description", Filter: true},
		"ip_version": {SQL: "ip_version", Filter: true, Sort: true}, "cidr": {SQL: "cidr", Filter: true, Sort: true},
		"gateway_ip": {SQL: "gateway_ip", Filter: true}, "enable_dhcp": {SQL: "enable_dhcp", Filter: true, Bool: true},
		"ipv6_ra_mode": {SQL: "ipv6_ra_mode", Filter: true}, "ipv6_address_mode": {SQL: "ipv6_address_mode", Filter: true},
		"revision_number": {SQL: "revision", Filter: true}, "created_at": {SQL: "created_at", Sort: true}, "updated_at": {SQL: "updated_at", Sort: true},
	}}, extra: []string{"subnetpool_id", "segment_id"}}

// subnetScope: a project sees its subnets and those of networks it sees.
func (s *Service) subnetScope(q *request) (string, []any) {
	if q.admin() {
		return "1 = 1", nil
	}
	scope, args := s.networkScope(q)
	return `project_id = ? OR network_id IN (SELECT id FROM networks WHERE ` + scope + `)`, append([]any{q.creds.ProjectID}, args...)
}

func (s *Service) visibleSubnet(ctx context.Context, db store.Querier, q *request, id string) (*subnet, error) {
	scope, args := s.subnetScope(q)
	return lookup(ctx, db, subnetList, scope, args, id, scanSubnet, notFound("Subnet", id))
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Service) subnetViews(ctx context.Context, subnets []*subnet) ([]map[string]any, error) {
	ids := make([]string, len(subnets))
	for i, sn := range subnets {
		ids[i] = sn.ID
	}
	tags, err := s.tagsOf(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(subnets))
	for i, sn := range subnets {
		pools, dns, routes := sn.Pools, sn.DNS, sn.Routes
		if pools == nil {
			pools = []pool{}
		}
		if dns == nil {
			dns = []string{}
		}
		if routes == nil {
			routes = []route{}
		}
		out[i] = standard(map[string]any{
			"network_id": sn.Network, "ip_version": sn.IPVersion, "cidr": sn.CIDR, "gateway_ip": nullable(sn.Gateway),
			"enable_dhcp": sn.DHCP, "ipv6_ra_mode": nullable(sn.RAMode), "ipv6_address_mode": nullable(sn.AddrMode),
			"allocation_pools": pools, "dns_nameservers": dns, "host_routes": routes, "subnetpool_id": nil,
			"service_types": []string{}, "segment_id": nil, "dns_publish_fixed_ip": false,
		}, sn.ID, sn.Project, sn.Name, sn.Description, tags[sn.ID], sn.Revision, sn.Created, sn.Updated)
	}
	return out, nil
}

func (s *Service) writeSubnet(q *request, status int, sn *subnet) error {
	views, err := s.subnetViews(q.r.Context(), []*subnet{sn})
	if err != nil {
		return err
	}
	q.write(status, "subnet", views[0])
	return nil
}

func (s *Service) listSubnets(q *request) error {
	scope, args := s.subnetScope(q)
	return list(s, q, subnetList, scope, args, scanSubnet, func(sn *subnet) string { return sn.ID },
		func(ctx context.Context, sns []*subnet) ([]map[string]any, error) { return s.subnetViews(ctx, sns) })
}

func (s *Service) showSubnet(q *request) error {
	sn, err := s.visibleSubnet(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeSubnet(q, http.StatusOK, sn)
}

var ipv6Modes = map[string]bool{"": true, "slaac": true, "dhcpv6-stateful": true, "dhcpv6-stateless": true}

// subnetBody reads the attributes a create or update sets on sn and
// checks them together; create tells the attributes only a create sets.
func subnetBody(a attrs, sn *subnet, create bool) error {
	if err := a.str("name", &sn.Name, 255); err != nil {
		return err
	}
	if err := a.str("description", &sn.Description, 255); err != nil {
		return err
	}
	if err := a.boolean("enable_dhcp", &sn.DHCP); err != nil {
		return err
	}
	if create {
		if err := a.integer("ip_version", &sn.IPVersion); err != nil {
			return err
		}
		if sn.IPVersion != 4 && sn.IPVersion != 6 {
			return invalid("ip_version", "%d is not in [4, 6]", sn.IPVersion)
		}
		if !a.has("cidr") {
			return badRequest("A cidr must be specified in the absence of a subnet pool")
		}
		if err := a.str("cidr", &sn.CIDR, 64); err != nil {
			return err
		}
		p, err := netip.ParsePrefix(sn.CIDR)
		if err != nil {
			return invalid("cidr", "'%s' is not a valid IP subnet", sn.CIDR)
		}
		if p != p.Masked() {
			return invalid("cidr", "'%s' isn't a recommended CIDR, '%s' is recommended", sn.CIDR, p.Masked())
		}
		if p.Addr().Is4() != (sn.IPVersion == 4) {
			return invalidInput("Cidr %s does not match the IP version %d.", sn.CIDR, sn.IPVersion)
		}
		if u := usable(p); u.start.Compare(u.end) > 0 {
			return invalidInput("Subnet %s has no address to allocate.", sn.CIDR)
		}
		for name, dst := range map[string]*string{"ipv6_ra_mode": &sn.RAMode, "ipv6_address_mode": &sn.AddrMode} {
			if a.has(name) && !a.null(name) {
				if err := a.str(name, dst, 32); err != nil {
					return err
				}
				if !ipv6Modes[*dst] {
					return invalid(name, "'%s' is not in ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac']", *dst)
				}
			}
		}
		if sn.IPVersion == 4 && (sn.RAMode != "" || sn.AddrMode != "") {
			return invalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version is 4")
		}
		if sn.RAMode != "" && sn.AddrMode != "" && sn.RAMode != sn.AddrMode {
			return invalidInput("ipv6_ra_mode set to '%s' with ipv6_address_mode set to '%s' is not valid. If both attributes are set, they must be the same value", sn.RAMode, sn.AddrMode)
		}
		if sn.autoAddress() && p.Bits() != 64 {
			return invalidInput("Invalid CIDR %s for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64", sn.CIDR)
		}
		sn.Gateway = usable(p).start.String()
	}
	p := sn.prefix()
	if a.has("gateway_ip") {
		sn.Gateway = ""
		if !a.null("gateway_ip") {
			if err := a.str("gateway_ip", &sn.Gateway, 64); err != nil {
				return err
			}
			g, err := netip.ParseAddr(sn.Gateway)
			if err != nil || !usable(p).contains(g) {
				return invalidInput("Gateway is not valid on subnet %s.", sn.CIDR)
			}
			sn.Gateway = g.String()
		}
	}
	if a.has("allocation_pools") {
		if err := a.decode("allocation_pools", &sn.Pools); err != nil {
			return err
		}
	} else if create {
		sn.Pools = defaultPools(p, sn.gateway())
	}
	if _, err := parsePools(sn.Pools, p, sn.gateway()); err != nil {
		return err
	}
	if err := a.decode("dns_nameservers", &sn.DNS); err != nil {
		return err
	}
	if len(sn.DNS) > maxDNSNameservers {
		return badRequest("Number of DNS nameservers exceeds the limit %d.", maxDNSNameservers)
	}
	seen := map[string]bool{}
	for _, d := range sn.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return invalid("dns_nameservers", "'%s' is not a valid nameserver", d)
		}
		if seen[d] {
			return invalid("dns_nameservers", "Duplicate nameserver '%s'", d)
		}
		seen[d] = true
	}
	if err := a.decode("host_routes", &sn.Routes); err != nil {
		return err
	}
	if len(sn.Pools) > maxPools {
		return badRequest("Number of allocation pools exceeds the limit %d.", maxPools)
	}
	if len(sn.Routes) > maxHostRoutes {
		return badRequest("Number of host routes exceeds the limit %d.", maxHostRoutes)
	}
	for _, rt := range sn.Routes {
		d, err1 := netip.ParsePrefix(rt.Destination)
		h, err2 := netip.ParseAddr(rt.Nexthop)
		if err1 != nil || err2 != nil || d.Addr().Is4() != p.Addr().Is4() || h.Is4() != p.Addr().Is4() {
			return invalid("host_routes", "Invalid data format for hostroute: '%s via %s'", rt.Destination, rt.Nexthop)
		}
	}
	return nil
}

var subnetCreateAttrs = []string{"name", "description", "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp",
	"ipv6_ra_mode", "ipv6_address_mode", "allocation_pools", "dns_nameservers", "host_routes", "tags", "tenant_id", "project_id",
	"subnetpool_id", "use_default_subnetpool", "prefixlen", "service_types", "segment_id", "dns_publish_fixed_ip"}

func (s *Service) createSubnet(q *request) error {
	a, err := readBody(q.r, "subnet")
	if err != nil {
		return err
	}
	if err := a.allow(subnetCreateAttrs...); err != nil {
		return err
	}
	for _, k := range []string{"subnetpool_id", "use_default_subnetpool", "prefixlen", "segment_id"} {
		if a.has(k) && !a.null(k) && string(a[k]) != "false" {
			return badRequest("%s is not supported: sov has no subnet pools or segments; give a cidr.", k)
		}
	}
	if st := string(a["service_types"]); st != "" && st != "[]" {
		return badRequest("service_types are not supported.")
	}
	owner, err := ownerOf(q, a)
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	sn := &subnet{ID: uuid.NewString(), Project: owner, DHCP: true, Revision: 1, Created: now, Updated: now}
	if err := a.str("network_id", &sn.Network, 64); err != nil {
		return err
	}
	if sn.Network == "" {
		return badRequest("Failed to parse request. Required attribute 'network_id' not specified")
	}
	if err := subnetBody(a, sn, true); err != nil {
		return err
	}
	tags, err := readTags(a)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		n, err := s.visibleNetwork(ctx, tx, q, sn.Network)
		if err != nil {
			return err
		}
		if err := q.enforce("create_subnet", n.Project); err != nil {
			return err
		}
		if sn.IPVersion == 6 && n.MTU < minIPv6MTU {
			return invalidInput("IPv6 subnet %s configured to receive RAs from interface on network %s with MTU %d, less than 1280", sn.CIDR, n.ID, n.MTU)
		}
		if err := s.checkQuota(ctx, tx, owner, "subnet", 1); err != nil {
			return err
		}
		if err := checkOverlap(ctx, tx, sn); err != nil {
			return err
		}
		if err := insertSubnet(ctx, tx, sn); err != nil {
			return err
		}
		if err := setTags(ctx, tx, sn.ID, tags); err != nil {
			return err
		}
		return s.syncDHCPPort(ctx, tx, n, sn)
	})
	if err != nil {
		return err
	}
	s.changed(ctx, sn.Network)
	return s.writeSubnet(q, http.StatusCreated, sn)
}

// checkOverlap refuses a subnet that overlaps another of its network.
func checkOverlap(ctx context.Context, tx *store.Tx, sn *subnet) error {
	cidrs, err := store.Column(ctx, tx, `SELECT cidr FROM subnets WHERE network_id = ? AND id <> ?`, sn.Network, sn.ID)
	if err != nil {
		return err
	}
	for _, c := range cidrs {
		if o, err := netip.ParsePrefix(c); err == nil && o.Overlaps(sn.prefix()) {
			return invalidInput("Requested subnet with cidr: %s for network: %s overlaps with another subnet", sn.CIDR, sn.Network)
		}
	}
	return nil
}

func insertSubnet(ctx context.Context, tx *store.Tx, sn *subnet) error {
	return store.Insert(ctx, tx, "subnets", store.Values{}.
		Set("id", sn.ID).Set("project_id", sn.Project).Set("network_id", sn.Network).Set("name", sn.Name).
		Set("description", sn.Description).Set("ip_version", sn.IPVersion).Set("cidr", sn.CIDR).Set("gateway_ip", sn.Gateway).
		Set("enable_dhcp", sn.DHCP).Set("ipv6_ra_mode", sn.RAMode).Set("ipv6_address_mode", sn.AddrMode).
		Set("allocation_pools", jsonText(sn.Pools)).Set("dns_nameservers", jsonText(sn.DNS)).Set("host_routes", jsonText(sn.Routes)).
		Set("revision", sn.Revision).Set("created_at", sn.Created).Set("updated_at", sn.Updated))
}

func (s *Service) updateSubnet(q *request) error {
	a, err := readBody(q.r, "subnet")
	if err != nil {
		return err
	}
	if err := a.allow("name", "description", "gateway_ip", "enable_dhcp", "allocation_pools", "dns_nameservers", "host_routes", "dns_publish_fixed_ip"); err != nil {
		return err
	}
	ctx := q.r.Context()
	var sn *subnet
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if sn, err = s.visibleSubnet(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce("update_subnet", sn.Project); err != nil {
			return err
		}
		if err := subnetBody(a, sn, false); err != nil {
			return err
		}
		if g := sn.gateway(); a.has("gateway_ip") && g.IsValid() {
			var held int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM port_ips WHERE subnet_id = ? AND ip_address = ?`, sn.ID, g.String()).Scan(&held); err != nil {
				return err
			}
			if held > 0 {
				return conflict("IpAddressInUse", "Unable to complete operation for network %s. The IP address %s is in use.", sn.Network, g)
			}
		}
		sn.Revision++
		sn.Updated = time.Now().Unix()
		if _, err := tx.Exec(ctx, `UPDATE subnets SET name = ?, description = ?, gateway_ip = ?, enable_dhcp = ?, allocation_pools = ?,
			dns_nameservers = ?, host_routes = ?, revision = ?, updated_at = ? WHERE id = ?`,
			sn.Name, sn.Description, sn.Gateway, sn.DHCP, jsonText(sn.Pools), jsonText(sn.DNS), jsonText(sn.Routes), sn.Revision, sn.Updated, sn.ID); err != nil {
			return err
		}
		n, err := scanNetwork(tx.QueryRow(ctx, `SELECT `+networkColumns+` FROM networks WHERE id = ?`, sn.Network))
		if err != nil {
			return store.Row(err)
		}
		return s.syncDHCPPort(ctx, tx, n, sn)
	})
	if err != nil {
		return err
	}
	s.changed(ctx, sn.Network)
	return s.writeSubnet(q, http.StatusOK, sn)
}

func (s *Service) deleteSubnet(q *request) error {
	ctx := q.r.Context()
	var network string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		sn, err := s.visibleSubnet(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		network = sn.Network
		if err := q.enforce("delete_subnet", sn.Project); err != nil {
			return err
		}
		var inUse int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM port_ips i JOIN ports p ON p.id = i.port_id WHERE i.subnet_id = ? AND p.device_owner <> ?`,
			sn.ID, ownerDHCP).Scan(&inUse); err != nil {
			return err
		}
		if inUse > 0 {
			return conflict("SubnetInUse", "Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", sn.ID)
		}
		sn.DHCP = false
		n, err := scanNetwork(tx.QueryRow(ctx, `SELECT `+networkColumns+` FROM networks WHERE id = ?`, sn.Network))
		if err != nil {
			return store.Row(err)
		}
		if err := s.syncDHCPPort(ctx, tx, n, sn); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM network_tags WHERE resource_id = ?`, sn.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM subnets WHERE id = ?`, sn.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.changed(ctx, network)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
