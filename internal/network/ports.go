package network

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Device owners Neutron's own ports carry.
const (
	ownerDHCP          = "network:dhcp"
	maxAddressPairs    = 10
	maxFixedIPs        = 5 // per port, Neutron's max_fixed_ips_per_port
	vifUnbound         = "unbound"
	vnicNormal         = "normal"
	fixedIPFilterField = "fixed_ips"
)

type fixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

type addressPair struct {
	IPAddress  string `json:"ip_address"`
	MACAddress string `json:"mac_address,omitempty"`
}

type port struct {
	ID, Project, Network, Name, Description string
	MAC                                     string
	AdminUp                                 bool
	Status, DeviceOwner, DeviceID           string
	PortSecurity                            bool
	Pairs                                   []addressPair
	Host, VNIC, Profile                     string
	DNSName                                 string
	Revision                                int
	Created, Updated                        int64

	// Read beside the row.
	IPs    []fixedIP
	Groups []string

	autoMAC bool // the MAC was drawn, not asked for: another is drawn if it is taken
}

const portColumns = `id, project_id, network_id, name, description, mac_address, admin_state_up, status, device_owner, device_id,
	port_security, allowed_address_pairs, binding_host, binding_vnic_type, binding_profile, dns_name, revision, created_at, updated_at`

func scanPort(row store.Scanner) (*port, error) {
	p := &port{}
	var pairs string
	if err := row.Scan(&p.ID, &p.Project, &p.Network, &p.Name, &p.Description, &p.MAC, &p.AdminUp, &p.Status, &p.DeviceOwner, &p.DeviceID,
		&p.PortSecurity, &pairs, &p.Host, &p.VNIC, &p.Profile, &p.DNSName, &p.Revision, &p.Created, &p.Updated); err != nil {
		return nil, err
	}
	unmarshalText(pairs, &p.Pairs)
	return p, nil
}

var portList = &listing{collection: "ports", table: "ports", columns: portColumns, spec: &httpapi.ListSpec{
	Ascending: true,
	Columns: map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "name": {SQL: "name", Filter: true, Sort: true},
		"tenant_id": {SQL: "project_id", Filter: true, Sort: true}, "project_id": {SQL: "project_id", Filter: true, Sort: true},
		"network_id": {SQL: "network_id", Filter: true, Sort: true}, "description": {SQL: "description", Filter: true},
		"mac_address": {SQL: "mac_address", Filter: true, Sort: true}, "admin_state_up": {SQL: "admin_state_up", Filter: true, Bool: true},
		"status": {SQL: "status", Filter: true, Sort: true}, "device_owner": {SQL: "device_owner", Filter: true, Sort: true},
		"device_id": {SQL: "device_id", Filter: true, Sort: true}, "port_security_enabled": {SQL: "port_security", Filter: true, Bool: true},
		"binding:host_id": {SQL: "binding_host", Filter: true}, "binding:vnic_type": {SQL: "binding_vnic_type", Filter: true},
		"dns_name": {SQL: "dns_name", Filter: true}, "revision_number": {SQL: "revision", Filter: true},
		"created_at": {SQL: "created_at", Sort: true}, "updated_at": {SQL: "updated_at", Sort: true},
	}}, extra: []string{fixedIPFilterField, "security_groups"}}

// portScope: a project sees its own ports and every port of its networks.
func (s *Service) portScope(q *request) (string, []any) {
	if q.admin() {
		return "1 = 1", nil
	}
	return `project_id = ? OR network_id IN (SELECT id FROM networks WHERE project_id = ?)`, []any{q.creds.ProjectID, q.creds.ProjectID}
}

func (s *Service) visiblePort(ctx context.Context, db store.Querier, q *request, id string) (*port, error) {
	scope, args := s.portScope(q)
	p, err := lookup(ctx, db, portList, scope, args, id, scanPort, notFound("Port", id))
	if err != nil {
		return nil, err
	}
	return p, s.loadPortLinks(ctx, db, []*port{p})
}

// loadPortLinks reads the ports' addresses and security groups.
func (s *Service) loadPortLinks(ctx context.Context, db store.Querier, ports []*port) error {
	byID := map[string]*port{}
	ids := make([]string, len(ports))
	for i, p := range ports {
		byID[p.ID], ids[i] = p, p.ID
		p.IPs = nil
	}
	ips, err := s.childRows(ctx, db, `SELECT port_id, subnet_id, ip_address FROM port_ips WHERE port_id IN `, ids)
	if err != nil {
		return err
	}
	for _, r := range ips {
		p := byID[r[0]]
		p.IPs = append(p.IPs, fixedIP{SubnetID: r[1], IPAddress: r[2]})
	}
	groups, err := s.childIDs(ctx, db, `SELECT port_id, security_group_id FROM port_security_groups WHERE port_id IN `, ids)
	if err != nil {
		return err
	}
	for _, p := range ports {
		p.Groups = groups[p.ID]
		sortIPs(p.IPs)
	}
	return nil
}

func sortIPs(ips []fixedIP) {
	for i := 1; i < len(ips); i++ {
		for j := i; j > 0 && ipLess(ips[j], ips[j-1]); j-- {
			ips[j], ips[j-1] = ips[j-1], ips[j]
		}
	}
}

func ipLess(a, b fixedIP) bool {
	x, _ := netip.ParseAddr(a.IPAddress)
	y, _ := netip.ParseAddr(b.IPAddress)
	return x.Less(y)
}

func (s *Service) portViews(ctx context.Context, q *request, ports []*port) ([]map[string]any, error) {
	if err := s.loadPortLinks(ctx, s.db, ports); err != nil {
		return nil, err
	}
	ids := make([]string, len(ports))
	for i, p := range ports {
		ids[i] = p.ID
	}
	tags, err := s.tagsOf(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(ports))
	for i, p := range ports {
		out[i] = s.portView(q, p, tags[p.ID])
	}
	return out, nil
}

func (s *Service) portView(q *request, p *port, tags []string) map[string]any {
	ips, groups, pairs := p.IPs, p.Groups, p.Pairs
	if ips == nil {
		ips = []fixedIP{}
	}
	if groups == nil {
		groups = []string{}
	}
	if pairs == nil {
		pairs = []addressPair{}
	}
	var dns []map[string]string
	for _, ip := range ips {
		host := p.DNSName
		if host == "" {
			host = "host-" + strings.NewReplacer(".", "-", ":", "-").Replace(ip.IPAddress)
		}
		dns = append(dns, map[string]string{"hostname": host, "ip_address": ip.IPAddress, "fqdn": host + "." + dnsDomain})
	}
	if dns == nil {
		dns = []map[string]string{}
	}
	v := standard(map[string]any{
		"network_id": p.Network, "mac_address": p.MAC, "admin_state_up": p.AdminUp, "status": p.Status,
		"device_owner": p.DeviceOwner, "device_id": p.DeviceID, "fixed_ips": ips, "security_groups": groups,
		"port_security_enabled": p.PortSecurity, "allowed_address_pairs": pairs, "extra_dhcp_opts": []any{},
		"binding:vnic_type": p.VNIC, "dns_name": p.DNSName, "dns_assignment": dns, "ip_allocation": "immediate",
		"propagate_uplink_status": false,
	}, p.ID, p.Project, p.Name, p.Description, tags, p.Revision, p.Created, p.Updated)
	if q.admin() {
		profile := map[string]any{}
		unmarshalText(p.Profile, &profile)
		vif := vifUnbound
		if p.Host != "" {
			vif = "tap"
		}
		v["binding:host_id"], v["binding:profile"], v["binding:vif_type"], v["binding:vif_details"] = p.Host, profile, vif, map[string]any{}
	}
	return v
}

func (s *Service) writePort(q *request, status int, p *port) error {
	views, err := s.portViews(q.r.Context(), q, []*port{p})
	if err != nil {
		return err
	}
	q.write(status, "port", views[0])
	return nil
}

// portFilters turns ?fixed_ips=ip_address=…|subnet_id=… and
// ?security_groups=… into conditions.
func portFilters(r *http.Request) (string, []any, error) {
	conds, args := []string{"1 = 1"}, []any{}
	for _, f := range r.URL.Query()[fixedIPFilterField] {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case ok && k == "ip_address":
			conds, args = append(conds, `id IN (SELECT port_id FROM port_ips WHERE ip_address = ?)`), append(args, v)
		case ok && k == "subnet_id":
			conds, args = append(conds, `id IN (SELECT port_id FROM port_ips WHERE subnet_id = ?)`), append(args, v)
		default:
			return "", nil, badRequest("Invalid fixed_ips filter %q: use ip_address=<address> or subnet_id=<id>.", f)
		}
	}
	for _, g := range r.URL.Query()["security_groups"] {
		conds, args = append(conds, `id IN (SELECT port_id FROM port_security_groups WHERE security_group_id = ?)`), append(args, g)
	}
	return strings.Join(conds, " AND "), args, nil
}

func (s *Service) listPorts(q *request) error {
	scope, args := s.portScope(q)
	extra, eargs, err := portFilters(q.r)
	if err != nil {
		return err
	}
	return list(s, q, portList, "("+scope+") AND "+extra, append(args, eargs...), scanPort, func(p *port) string { return p.ID },
		func(ctx context.Context, ports []*port) ([]map[string]any, error) { return s.portViews(ctx, q, ports) })
}

func (s *Service) showPort(q *request) error {
	p, err := s.visiblePort(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writePort(q, http.StatusOK, p)
}

var portAttrs = []string{"name", "description", "network_id", "admin_state_up", "mac_address", "fixed_ips", "device_id", "device_owner",
	"security_groups", "port_security_enabled", "allowed_address_pairs", "binding:host_id", "binding:vnic_type", "binding:profile",
	"dns_name", "tags", "tenant_id", "project_id", "extra_dhcp_opts", "propagate_uplink_status"}

var dnsLabel = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$`)

// portBody reads what a create or update sets on p; the links (addresses,
// groups) are read by the caller.
func portBody(q *request, a attrs, p *port, networkOwner bool) error {
	for name, dst := range map[string]*string{"name": &p.Name, "description": &p.Description, "device_id": &p.DeviceID, "device_owner": &p.DeviceOwner, "dns_name": &p.DNSName} {
		if err := a.str(name, dst, 255); err != nil {
			return err
		}
	}
	if !dnsLabel.MatchString(strings.ToLower(p.DNSName)) {
		return invalid("dns_name", "'%s' is not a valid hostname", p.DNSName)
	}
	p.DNSName = strings.ToLower(p.DNSName)
	// Neutron's own ports (DHCP, router interfaces and gateways, floating
	// IPs) and load balancers' VIPs say what they belong to by device_owner and device_id; only
	// admins set or change those on them through the port API, else a
	// project could join another's router to its subnet.
	if (a.has("device_owner") || a.has("device_id")) && serviceOwner(p.DeviceOwner) && !q.admin() {
		return q.enforce("create_port:device_owner", "")
	}
	if err := a.boolean("admin_state_up", &p.AdminUp); err != nil {
		return err
	}
	if err := a.boolean("port_security_enabled", &p.PortSecurity); err != nil {
		return err
	}
	// Without port security or with address pairs a port may send as
	// others: on another project's network only admins allow that.
	if (a.has("port_security_enabled") || a.has("allowed_address_pairs")) && !networkOwner && !q.admin() {
		return q.enforce("create_port:port_security", "")
	}
	if a.has("mac_address") {
		if !networkOwner && !q.admin() {
			return q.enforce("create_port:mac_address", "")
		}
		if err := a.str("mac_address", &p.MAC, 32); err != nil {
			return err
		}
		hw, err := net.ParseMAC(p.MAC)
		if err != nil || len(hw) != 6 || hw[0]&1 == 1 || hw.String() == "00:00:00:00:00:00" {
			return invalid("mac_address", "'%s' is not a valid MAC address", p.MAC)
		}
		p.MAC = hw.String()
	}
	if a.has("allowed_address_pairs") {
		p.Pairs = nil
		if err := a.decode("allowed_address_pairs", &p.Pairs); err != nil {
			return err
		}
		if len(p.Pairs) > maxAddressPairs {
			return badRequest("Exceeded maximum amount of allowed address pairs %d", maxAddressPairs)
		}
		for i, pr := range p.Pairs {
			if _, err := netip.ParseAddr(pr.IPAddress); err != nil {
				if _, err := netip.ParsePrefix(pr.IPAddress); err != nil {
					return invalid("allowed_address_pairs", "'%s' is not a valid IP address", pr.IPAddress)
				}
			}
			if pr.MACAddress != "" {
				hw, err := net.ParseMAC(pr.MACAddress)
				if err != nil || len(hw) != 6 {
					return invalid("allowed_address_pairs", "'%s' is not a valid MAC address", pr.MACAddress)
				}
				p.Pairs[i].MACAddress = hw.String()
			}
		}
	}
	if len(p.Pairs) > 0 && !p.PortSecurity {
		return conflict("AddressPairAndPortSecurityRequired", "Port Security must be enabled in order to have allowed address pairs on a port.")
	}
	binding := a.has("binding:host_id") || a.has("binding:profile")
	if binding && !q.admin() {
		return q.enforce("create_port:binding", "")
	}
	if err := a.str("binding:host_id", &p.Host, 255); err != nil {
		return err
	}
	if a.has("binding:profile") {
		var profile map[string]any
		if err := a.decode("binding:profile", &profile); err != nil {
			return err
		}
		p.Profile = jsonText(profile)
	}
	if err := a.str("binding:vnic_type", &p.VNIC, 64); err != nil {
		return err
	}
	if p.VNIC != vnicNormal {
		return invalid("binding:vnic_type", "'%s' is not supported: sov binds only normal ports", p.VNIC)
	}
	if o := string(a["extra_dhcp_opts"]); o != "" && o != "[]" && o != "null" {
		return badRequest("extra_dhcp_opts are not supported.")
	}
	if string(a["propagate_uplink_status"]) == "true" {
		return badRequest("propagate_uplink_status is not supported.")
	}
	return nil
}

// mayUseNetwork reports whether the caller's project may put ports on n:
// its own, a shared one, one shared with it by RBAC; admins any.
func (s *Service) mayUseNetwork(ctx context.Context, db store.Querier, q *request, n *network) (bool, error) {
	if q.admin() || n.Project == q.creds.ProjectID || n.Shared {
		return true, nil
	}
	var shared int
	err := db.QueryRow(ctx, `SELECT COUNT(*) FROM network_rbac WHERE object_id = ? AND action = ? AND target_project IN (?, '*')`,
		n.ID, accessShared, q.creds.ProjectID).Scan(&shared)
	return shared > 0, err
}

func (s *Service) createPort(q *request) error {
	a, err := readBody(q.r, "port")
	if err != nil {
		return err
	}
	if err := a.allow(portAttrs...); err != nil {
		return err
	}
	owner, err := ownerOf(q, a)
	if err != nil {
		return err
	}
	if err := q.enforce("create_port", owner); err != nil {
		return err
	}
	now := time.Now().Unix()
	p := &port{ID: uuid.NewString(), Project: owner, AdminUp: true, Status: "DOWN", VNIC: vnicNormal, Profile: "{}", Revision: 1, Created: now, Updated: now}
	if err := a.str("network_id", &p.Network, 64); err != nil {
		return err
	}
	if p.Network == "" {
		return badRequest("Failed to parse request. Required attribute 'network_id' not specified")
	}
	tags, err := readTags(a)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		n, err := s.visibleNetwork(ctx, tx, q, p.Network)
		if err != nil {
			return err
		}
		ok, err := s.mayUseNetwork(ctx, tx, q, n)
		if err != nil {
			return err
		}
		if !ok {
			return fail(http.StatusForbidden, "HTTPForbidden", "Tenant %s not allowed to create port on this network", q.creds.ProjectID)
		}
		p.PortSecurity = n.PortSecurity
		if err := portBody(q, a, p, n.Project == q.creds.ProjectID); err != nil {
			return err
		}
		if p.MAC == "" {
			p.MAC, p.autoMAC = newMAC(), true
		}
		if err := s.checkQuota(ctx, tx, owner, "port", 1); err != nil {
			return err
		}
		if err := insertPort(ctx, tx, p); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", p.Network, p.MAC)
			}
			return err
		}
		var want []fixedIP
		if a.has("fixed_ips") {
			if err := a.decode("fixed_ips", &want); err != nil {
				return err
			}
			if len(want) > 0 && n.Project != q.creds.ProjectID && !q.admin() {
				return q.enforce("create_port:fixed_ips", "")
			}
		} else {
			if want, err = defaultAddresses(ctx, tx, n.ID); err != nil {
				return err
			}
		}
		if err := s.assignAddresses(ctx, tx, p, want); err != nil {
			return err
		}
		if err := s.assignGroups(ctx, tx, q, a, p, true); err != nil {
			return err
		}
		return setTags(ctx, tx, p.ID, tags)
	})
	if err != nil {
		return err
	}
	s.groupsChanged(ctx, []string{p.Network}, p.Groups...)
	return s.writePort(q, http.StatusCreated, p)
}

func insertPort(ctx context.Context, tx *store.Tx, p *port) error {
	// A drawn MAC taken on the network (3 random bytes: likely among
	// thousands of ports) is drawn again, as Neutron does.
	for try := 0; p.autoMAC && try < 16; try++ {
		var taken int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM ports WHERE network_id = ? AND mac_address = ?`, p.Network, p.MAC).Scan(&taken); err != nil {
			return err
		}
		if taken == 0 {
			break
		}
		p.MAC = newMAC()
	}
	return store.Insert(ctx, tx, "ports", store.Values{}.
		Set("id", p.ID).Set("project_id", p.Project).Set("network_id", p.Network).Set("name", p.Name).Set("description", p.Description).
		Set("mac_address", p.MAC).Set("admin_state_up", p.AdminUp).Set("status", p.Status).Set("device_owner", p.DeviceOwner).
		Set("device_id", p.DeviceID).Set("port_security", p.PortSecurity).Set("allowed_address_pairs", jsonText(orEmpty(p.Pairs))).
		Set("binding_host", p.Host).Set("binding_vnic_type", p.VNIC).Set("binding_profile", p.Profile).Set("dns_name", p.DNSName).
		Set("revision", p.Revision).Set("created_at", p.Created).Set("updated_at", p.Updated))
}

func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// defaultAddresses is what a port gets without fixed_ips: an address of
// the first IPv4 subnet and of the first stateful IPv6 subnet, and one of
// every SLAAC subnet.
func defaultAddresses(ctx context.Context, tx *store.Tx, network string) ([]fixedIP, error) {
	rows, err := tx.Query(ctx, `SELECT `+subnetColumns+` FROM subnets WHERE network_id = ? ORDER BY created_at, id`, network)
	if err != nil {
		return nil, err
	}
	subnets, err := store.Collect(rows, scanSubnet)
	if err != nil {
		return nil, err
	}
	var out []fixedIP
	v4, v6 := false, false
	for _, sn := range subnets {
		switch {
		case sn.autoAddress():
			out = append(out, fixedIP{SubnetID: sn.ID})
		case sn.IPVersion == 4 && !v4:
			v4 = true
			out = append(out, fixedIP{SubnetID: sn.ID})
		case sn.IPVersion == 6 && !v6:
			v6 = true
			out = append(out, fixedIP{SubnetID: sn.ID})
		}
	}
	return out, nil
}

// assignAddresses gives p the addresses want asks for (a subnet, an
// address, or both), replacing those it had.
func (s *Service) assignAddresses(ctx context.Context, tx *store.Tx, p *port, want []fixedIP) error {
	if _, err := tx.Exec(ctx, `DELETE FROM port_ips WHERE port_id = ?`, p.ID); err != nil {
		return err
	}
	p.IPs = nil
	if len(want) > maxFixedIPs {
		return badRequest("Exceeded maximum amount of fixed ips per port.")
	}
	rows, err := tx.Query(ctx, `SELECT `+subnetColumns+` FROM subnets WHERE network_id = ?`, p.Network)
	if err != nil {
		return err
	}
	subnets, err := store.Collect(rows, scanSubnet)
	if err != nil {
		return err
	}
	byID := map[string]*subnet{}
	for _, sn := range subnets {
		byID[sn.ID] = sn
	}
	for _, w := range want {
		var sn *subnet
		var addr netip.Addr
		if w.IPAddress != "" {
			a, err := netip.ParseAddr(w.IPAddress)
			if err != nil {
				return invalid("fixed_ips", "'%s' is not a valid IP address", w.IPAddress)
			}
			addr = a
		}
		switch {
		case w.SubnetID != "":
			if sn = byID[w.SubnetID]; sn == nil {
				return invalidInput("Failed to create port on network %s, because fixed_ips included invalid subnet %s.", p.Network, w.SubnetID)
			}
		case addr.IsValid():
			for _, c := range subnets {
				if c.prefix().Contains(addr) {
					sn = c
				}
			}
			if sn == nil {
				return invalidInput("IP address %s is not a valid IP for any of the subnets on the specified network.", addr)
			}
		default:
			return invalid("fixed_ips", "each entry needs a subnet_id or an ip_address")
		}
		if addr.IsValid() {
			if err := checkAddress(sn, addr); err != nil {
				return err
			}
		} else if addr, err = allocate(ctx, tx, sn, p.MAC); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO port_ips (port_id, subnet_id, ip_address) VALUES (?, ?, ?)`, p.ID, sn.ID, addr.String()); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", addr, sn.ID)
			}
			return err
		}
		p.IPs = append(p.IPs, fixedIP{SubnetID: sn.ID, IPAddress: addr.String()})
	}
	// A floating IP whose address the port no longer holds lets go of it.
	held := []any{p.ID}
	ph := ""
	for _, ip := range p.IPs {
		held, ph = append(held, ip.IPAddress), ph+", ?"
	}
	_, err = tx.Exec(ctx, `UPDATE floating_ips SET fixed_port_id = '', fixed_ip = '', router_id = '' WHERE fixed_port_id = ? AND fixed_ip NOT IN (''`+ph+`)`, held...)
	return err
}

var portUpdateAttrs = []string{"name", "description", "admin_state_up", "mac_address", "fixed_ips", "device_id", "device_owner",
	"security_groups", "port_security_enabled", "allowed_address_pairs", "binding:host_id", "binding:vnic_type", "binding:profile",
	"dns_name", "extra_dhcp_opts", "propagate_uplink_status"}

func (s *Service) updatePort(q *request) error {
	a, err := readBody(q.r, "port")
	if err != nil {
		return err
	}
	if err := a.allow(portUpdateAttrs...); err != nil {
		return err
	}
	ctx := q.r.Context()
	var p *port
	var before []string // the port's groups before
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if p, err = s.visiblePort(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		before = p.Groups
		if err := q.enforce("update_port", p.Project); err != nil {
			return err
		}
		n, err := scanNetwork(tx.QueryRow(ctx, `SELECT `+networkColumns+` FROM networks WHERE id = ?`, p.Network))
		if err != nil {
			return store.Row(err)
		}
		networkOwner := n.Project == q.creds.ProjectID
		if serviceOwner(p.DeviceOwner) && (a.has("device_owner") || a.has("device_id")) && !q.admin() {
			return q.enforce("create_port:device_owner", "")
		}
		// A load balancer's VIP port changes with its load balancer.
		if p.DeviceOwner == ownerLoadBalancer && !q.admin() {
			for _, k := range []string{"fixed_ips", "mac_address", "port_security_enabled", "security_groups", "allowed_address_pairs", "admin_state_up"} {
				if a.has(k) {
					return conflict("ServicePortInUse", "Port %s is the VIP of load balancer %s: %s changes with the load balancer.", p.ID,
						strings.TrimPrefix(p.DeviceID, "lb-"), k)
				}
			}
		}
		if a.has("mac_address") && p.Host != "" {
			return conflict("PortBound", "Unable to complete operation on port %s, port is already bound, port type: tap, old_mac %s, new_mac %s.", p.ID, p.MAC, strings.Trim(string(a["mac_address"]), `"`))
		}
		if err := portBody(q, a, p, networkOwner); err != nil {
			return err
		}
		if a.has("fixed_ips") {
			var want []fixedIP
			if err := a.decode("fixed_ips", &want); err != nil {
				return err
			}
			if !networkOwner && !q.admin() {
				return q.enforce("update_port:fixed_ips", "")
			}
			if err := s.assignAddresses(ctx, tx, p, want); err != nil {
				return err
			}
		}
		if err := s.assignGroups(ctx, tx, q, a, p, false); err != nil {
			return err
		}
		p.Revision++
		p.Updated = time.Now().Unix()
		_, err = tx.Exec(ctx, `UPDATE ports SET name = ?, description = ?, mac_address = ?, admin_state_up = ?, device_owner = ?, device_id = ?,
			port_security = ?, allowed_address_pairs = ?, binding_host = ?, binding_vnic_type = ?, binding_profile = ?, dns_name = ?,
			revision = ?, updated_at = ? WHERE id = ?`,
			p.Name, p.Description, p.MAC, p.AdminUp, p.DeviceOwner, p.DeviceID, p.PortSecurity, jsonText(orEmpty(p.Pairs)), p.Host, p.VNIC,
			p.Profile, p.DNSName, p.Revision, p.Updated, p.ID)
		if errors.Is(err, store.ErrConflict) {
			return conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", p.Network, p.MAC)
		}
		return err
	})
	if err != nil {
		return err
	}
	s.groupsChanged(ctx, []string{p.Network}, append(before, p.Groups...)...)
	return s.writePort(q, http.StatusOK, p)
}

func (s *Service) deletePort(q *request) error {
	ctx := q.r.Context()
	var network string
	var groups []string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.visiblePort(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		network, groups = p.Network, p.Groups
		if err := q.enforce("delete_port", p.Project); err != nil {
			return err
		}
		switch p.DeviceOwner {
		case ownerRouterInterface, ownerRouterGateway, ownerFloatingIP, ownerLoadBalancer:
			return conflict("ServicePortInUse", "Port %s cannot be deleted directly via the port API: has device owner %s.", p.ID, p.DeviceOwner)
		}
		return deletePortRow(ctx, tx, p.ID)
	})
	if err != nil {
		return err
	}
	s.groupsChanged(ctx, []string{network}, groups...)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// deletePortRow removes a port; floating IPs on its addresses stay, unassociated.
func deletePortRow(ctx context.Context, tx *store.Tx, id string) error {
	if _, err := tx.Exec(ctx, `UPDATE floating_ips SET fixed_port_id = '', fixed_ip = '', router_id = '' WHERE fixed_port_id = ?`, id); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM network_tags WHERE resource_id = ?`, id); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM ports WHERE id = ?`, id)
	return err
}

// syncDHCPPort keeps the network's DHCP port (one per network, the
// address its DHCP server answers from) holding an address on every
// subnet with DHCP, and none on the others; it goes with its last address.
func (s *Service) syncDHCPPort(ctx context.Context, tx *store.Tx, n *network, sn *subnet) error {
	p, err := scanPort(tx.QueryRow(ctx, `SELECT `+portColumns+` FROM ports WHERE network_id = ? AND device_owner = ?`, n.ID, ownerDHCP))
	if err = store.Row(err); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	var held int
	if p != nil && err == nil {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM port_ips WHERE port_id = ? AND subnet_id = ?`, p.ID, sn.ID).Scan(&held); err != nil {
			return err
		}
	} else {
		p = nil
	}
	switch {
	case sn.DHCP && held == 0:
		if p == nil {
			now := time.Now().Unix()
			p = &port{ID: uuid.NewString(), Project: n.Project, Network: n.ID, MAC: newMAC(), autoMAC: true, AdminUp: true, Status: "ACTIVE",
				DeviceOwner: ownerDHCP, DeviceID: "dhcp-" + n.ID, VNIC: vnicNormal, Profile: "{}", Revision: 1, Created: now, Updated: now}
			if err := insertPort(ctx, tx, p); err != nil {
				return err
			}
		}
		addr, err := allocate(ctx, tx, sn, p.MAC)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO port_ips (port_id, subnet_id, ip_address) VALUES (?, ?, ?)`, p.ID, sn.ID, addr.String())
		return err
	case !sn.DHCP && held > 0:
		if _, err := tx.Exec(ctx, `DELETE FROM port_ips WHERE port_id = ? AND subnet_id = ?`, p.ID, sn.ID); err != nil {
			return err
		}
		var left int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM port_ips WHERE port_id = ?`, p.ID).Scan(&left); err != nil || left > 0 {
			return err
		}
		return deletePortRow(ctx, tx, p.ID)
	}
	return nil
}

// serviceOwner reports whether a device owner is a service's (Neutron's
// own, or the load balancer's), which only admins set or change.
func serviceOwner(owner string) bool {
	return strings.HasPrefix(owner, "network:") || owner == ownerLoadBalancer
}
