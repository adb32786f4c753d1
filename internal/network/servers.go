package network

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// What compute asks of the network: the networks a project may boot on,
// ports for a new server (made, or the caller's own bound to it), their
// binding to this host (which puts their devices on the wire) and their
// release when the server goes. Compute keeps the order of a server's
// ports and which of them it made; the ports are the truth for the rest.

// ownerCompute is the device owner of servers' ports, as Nova sets it
// (compute:<availability zone>).
const ownerCompute = "compute:" + availabilityZone

// NIC is one network interface a server asks for: a new port on
// NetworkID (with FixedIP, if given), or the existing port PortID.
type NIC struct {
	// PortID is the existing port, or the id the new port gets (chosen by
	// compute and stored with the server first, so a crash in between
	// leaves no port the server does not name).
	PortID    string
	NetworkID string // "" for an existing port
	FixedIP   string
	// SecurityGroups of a new port, by name or id, in the caller's
	// project; none means the project's default group.
	SecurityGroups []string
}

// Attachment is a server's port as compute shows and plugs it.
type Attachment struct {
	PortID, ServerID       string
	NetworkID, NetworkName string
	MAC, Device, Status    string
	MTU                    int
	IPs                    []AttachedIP
	FloatingIPs            []string
	SecurityGroups         []string // names
	PortSecurity, AdminUp  bool
	Created                int64
}

// AttachedIP is one fixed address of a port with what its subnet tells a
// guest (network_data.json).
type AttachedIP struct {
	Address  netip.Addr
	SubnetID string
	CIDR     netip.Prefix
	Gateway  netip.Addr // invalid for none
	DHCP     bool
	IPv6Mode string // the subnet's ipv6_address_mode
	DNS      []netip.Addr
	Routes   []dataplane.HostRoute
}

// BootNetworks are the networks the caller's project may boot servers on
// without naming one: its own and those shared with it, not external ones.
func (s *Service) BootNetworks(ctx context.Context, c *policy.Credentials) ([]string, error) {
	return store.Column(ctx, s.db, `SELECT id FROM networks WHERE NOT external AND (project_id = ? OR shared OR id IN
		(SELECT object_id FROM network_rbac WHERE action = ? AND target_project IN (?, '*'))) ORDER BY created_at, id`,
		c.ProjectID, accessShared, c.ProjectID)
}

// Allocate gives a server the ports nics ask for, on behalf of the
// caller, all or none: new ports on networks it may use (and that are not
// external, unless it is an admin), or unbound ports of its own.
func (s *Service) Allocate(ctx context.Context, c *policy.Credentials, serverID string, nics []NIC) error {
	q := &request{creds: c}
	var networks []string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, nic := range nics {
			var n *network
			var err error
			if nic.NetworkID == "" {
				n, err = s.bindExisting(ctx, tx, q, serverID, nic.PortID)
			} else {
				n, err = s.newServerPort(ctx, tx, q, serverID, nic)
			}
			if err != nil {
				return err
			}
			networks = append(networks, n.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var ids []string
	for _, nic := range nics {
		ids = append(ids, nic.PortID)
	}
	s.groupsChanged(ctx, networks, s.groupsOfPorts(ctx, ids)...)
	return nil
}

// groupsOfPorts are the security groups of the ports (none on failure,
// which is logged).
func (s *Service) groupsOfPorts(ctx context.Context, ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	ph, args := placeholders(ids)
	groups, err := store.Column(ctx, s.db, `SELECT DISTINCT security_group_id FROM port_security_groups WHERE port_id IN `+ph, args...)
	if err != nil {
		s.log.Error("network: the groups of ports", "err", err)
	}
	return groups
}

// usableNetwork is a network the caller may put a server's port on.
func (s *Service) usableNetwork(ctx context.Context, tx *store.Tx, q *request, id string) (*network, error) {
	n, err := s.visibleNetwork(ctx, tx, q, id)
	if err != nil {
		return nil, err
	}
	ok, err := s.mayUseNetwork(ctx, tx, q, n)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("Network", id)
	}
	if n.External && !n.Shared && !q.admin() {
		return nil, fail(http.StatusForbidden, "ExternalNetworkAttachForbidden", "It is not allowed to create an interface on external network %s", n.ID)
	}
	return n, nil
}

func (s *Service) bindExisting(ctx context.Context, tx *store.Tx, q *request, serverID, portID string) (*network, error) {
	p, err := s.visiblePort(ctx, tx, q, portID)
	if err != nil {
		return nil, err
	}
	if p.Project != q.creds.ProjectID && !q.admin() {
		return nil, notFound("Port", portID)
	}
	if p.DeviceID != "" || p.DeviceOwner != "" {
		return nil, conflict("PortInUse", "Port %s is still in use.", p.ID)
	}
	n, err := s.usableNetwork(ctx, tx, q, p.Network)
	if err != nil {
		return nil, err
	}
	res, err := tx.Exec(ctx, `UPDATE ports SET device_id = ?, device_owner = ?, revision = revision + 1, updated_at = ?
		WHERE id = ? AND device_id = '' AND device_owner = ''`, serverID, ownerCompute, time.Now().Unix(), p.ID)
	if err != nil {
		return nil, err
	}
	if rows, err := res.RowsAffected(); err != nil || rows != 1 {
		return nil, conflict("PortInUse", "Port %s is still in use.", p.ID) // bound by another request meanwhile
	}
	return n, nil
}

func (s *Service) newServerPort(ctx context.Context, tx *store.Tx, q *request, serverID string, nic NIC) (*network, error) {
	n, err := s.usableNetwork(ctx, tx, q, nic.NetworkID)
	if err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	p := &port{ID: nic.PortID, Project: q.creds.ProjectID, Network: n.ID, MAC: newMAC(), autoMAC: true, AdminUp: true, Status: "DOWN",
		DeviceOwner: ownerCompute, DeviceID: serverID, PortSecurity: n.PortSecurity, VNIC: vnicNormal, Profile: "{}",
		Revision: 1, Created: now, Updated: now}
	if err := s.checkQuota(ctx, tx, p.Project, "port", 1); err != nil {
		return nil, err
	}
	if err := insertPort(ctx, tx, p); err != nil {
		return nil, err
	}
	want := []fixedIP{{IPAddress: nic.FixedIP}}
	if nic.FixedIP == "" {
		if want, err = defaultAddresses(ctx, tx, n.ID); err != nil {
			return nil, err
		}
	}
	if err := s.assignAddresses(ctx, tx, p, want); err != nil {
		return nil, err
	}
	if len(nic.SecurityGroups) == 0 {
		return n, s.assignGroups(ctx, tx, q, nil, p, true)
	}
	if !p.PortSecurity {
		return nil, conflict("PortSecurityAndIPRequiredForSecurityGroups", "Port security must be enabled and port must have an IP address in order to use security groups.")
	}
	for _, g := range nic.SecurityGroups {
		id, err := s.groupNamed(ctx, tx, p.Project, g)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO port_security_groups (port_id, security_group_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, p.ID, id); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// groupNamed is the id of the project's security group with the name or
// id; a name two of its groups have is a conflict.
func (s *Service) groupNamed(ctx context.Context, tx store.Querier, project, group string) (string, error) {
	ids, err := store.Column(ctx, tx, `SELECT id FROM security_groups WHERE project_id = ? AND (id = ? OR name = ?)`, project, group, group)
	switch {
	case err != nil:
		return "", err
	case len(ids) == 0:
		return "", notFound("SecurityGroup", group)
	case len(ids) > 1:
		return "", conflict("DuplicateSecurityGroup", "Multiple security groups named %s; use its id.", group)
	}
	return ids[0], nil
}

// hostName is the binding:host_id of ports bound here.
func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "sov"
	}
	return h
}

// Plug binds a server's ports to this host and sets their networks on
// the data plane, which makes their devices, and returns them in the
// order given. A port that is not the server's is left out.
func (s *Service) Plug(ctx context.Context, serverID string, portIDs []string) ([]Attachment, error) {
	if len(portIDs) == 0 {
		return nil, nil
	}
	ph, args := placeholders(portIDs)
	_, err := s.db.Exec(ctx, `UPDATE ports SET binding_host = ?, status = 'ACTIVE', revision = revision + 1, updated_at = ?
		WHERE device_id = ? AND id IN `+ph, append([]any{hostName(), time.Now().Unix(), serverID}, args...)...)
	if err != nil {
		return nil, err
	}
	atts, err := s.Attachments(ctx, serverID, portIDs)
	if err != nil {
		return nil, err
	}
	var errs []error
	var done []string
	for _, a := range atts {
		if slices.Contains(done, a.NetworkID) {
			continue
		}
		done = append(done, a.NetworkID)
		if err := s.apply(ctx, a.NetworkID); err != nil {
			s.pending.add(a.NetworkID)
			errs = append(errs, err)
		}
	}
	return atts, errors.Join(errs...)
}

// Release lets a server's ports go: those compute made are deleted, the
// others (given by the user) are unbound and stay.
func (s *Service) Release(ctx context.Context, serverID string, made, given []string) error {
	var networks []string
	groups := s.groupsOfPorts(ctx, append(slices.Clone(made), given...))
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		networks = nil
		all := append(slices.Clone(made), given...)
		if len(all) == 0 {
			return nil
		}
		ph, args := placeholders(all)
		var err error
		if networks, err = store.Column(ctx, tx, `SELECT DISTINCT network_id FROM ports WHERE device_id = ? AND id IN `+ph, append([]any{serverID}, args...)...); err != nil {
			return err
		}
		for _, id := range made {
			var owner string
			err := store.Row(tx.QueryRow(ctx, `SELECT device_id FROM ports WHERE id = ?`, id).Scan(&owner))
			if errors.Is(err, store.ErrNotFound) || owner != serverID {
				continue
			}
			if err != nil {
				return err
			}
			if err := deletePortRow(ctx, tx, id); err != nil {
				return err
			}
		}
		if len(given) == 0 {
			return nil
		}
		ph, args = placeholders(given)
		_, err = tx.Exec(ctx, `UPDATE ports SET device_id = '', device_owner = '', binding_host = '', status = 'DOWN',
			revision = revision + 1, updated_at = ? WHERE device_id = ? AND id IN `+ph, append([]any{time.Now().Unix(), serverID}, args...)...)
		return err
	})
	if err != nil {
		return err
	}
	s.groupsChanged(ctx, networks, groups...)
	return nil
}

// Attachments are the ports of portIDs that serverID holds, in that order.
func (s *Service) Attachments(ctx context.Context, serverID string, portIDs []string) ([]Attachment, error) {
	all, err := s.ServerAttachments(ctx, map[string][]string{serverID: portIDs})
	return all[serverID], err
}

// ServerAttachments are Attachments of many servers at once (for lists),
// keyed by server.
func (s *Service) ServerAttachments(ctx context.Context, ports map[string][]string) (map[string][]Attachment, error) {
	var ids []string
	for _, p := range ports {
		ids = append(ids, p...)
	}
	out := map[string][]Attachment{}
	if len(ids) == 0 {
		return out, nil
	}
	ph, args := placeholders(ids)
	rows, err := s.db.Query(ctx, `SELECT `+portColumns+` FROM ports WHERE id IN `+ph, args...)
	if err != nil {
		return nil, err
	}
	list, err := store.Collect(rows, scanPort)
	if err != nil {
		return nil, err
	}
	if err := s.loadPortLinks(ctx, s.db, list); err != nil {
		return nil, err
	}
	byID := map[string]*port{}
	var networkIDs, subnetIDs, groupIDs []string
	for _, p := range list {
		byID[p.ID] = p
		networkIDs = append(networkIDs, p.Network)
		groupIDs = append(groupIDs, p.Groups...)
		for _, ip := range p.IPs {
			subnetIDs = append(subnetIDs, ip.SubnetID)
		}
	}
	nets, err := byIDs(ctx, s.db, `SELECT `+networkColumns+` FROM networks WHERE id IN `, networkIDs, scanNetwork, func(n *network) string { return n.ID })
	if err != nil {
		return nil, err
	}
	subnets, err := byIDs(ctx, s.db, `SELECT `+subnetColumns+` FROM subnets WHERE id IN `, subnetIDs, scanSubnet, func(sn *subnet) string { return sn.ID })
	if err != nil {
		return nil, err
	}
	groups, err := s.childRows(ctx, s.db, `SELECT id, name FROM security_groups WHERE id IN `, groupIDs)
	if err != nil {
		return nil, err
	}
	groupNames := map[string]string{}
	for _, g := range groups {
		groupNames[g[0]] = g[1]
	}
	floating, err := s.childIDs(ctx, s.db, `SELECT fixed_port_id, address FROM floating_ips WHERE fixed_port_id IN `, ids)
	if err != nil {
		return nil, err
	}
	for server, want := range ports {
		for _, id := range want {
			p := byID[id]
			if p == nil || p.DeviceID != server {
				continue
			}
			a := Attachment{PortID: p.ID, ServerID: server, NetworkID: p.Network, MAC: p.MAC, Device: dataplane.DeviceName(p.ID),
				Status: p.Status, PortSecurity: p.PortSecurity, AdminUp: p.AdminUp, Created: p.Created, FloatingIPs: floating[p.ID]}
			if n := nets[p.Network]; n != nil {
				a.NetworkName, a.MTU = n.Name, n.MTU
			}
			for _, g := range p.Groups {
				if name := groupNames[g]; name != "" && !slices.Contains(a.SecurityGroups, name) {
					a.SecurityGroups = append(a.SecurityGroups, name)
				}
			}
			for _, ip := range p.IPs {
				a.IPs = append(a.IPs, attachedIP(ip, subnets[ip.SubnetID]))
			}
			out[server] = append(out[server], a)
		}
	}
	return out, nil
}

func attachedIP(ip fixedIP, sn *subnet) AttachedIP {
	a := AttachedIP{SubnetID: ip.SubnetID}
	a.Address, _ = netip.ParseAddr(ip.IPAddress)
	if sn == nil {
		return a
	}
	st := subnetState(sn)
	a.CIDR, a.Gateway, a.DHCP, a.DNS, a.Routes, a.IPv6Mode = st.CIDR, st.Gateway, st.DHCP, st.DNS, st.Routes, sn.AddrMode
	return a
}

// byIDs reads the rows of ids (query ends in "IN ") keyed by key.
func byIDs[T any](ctx context.Context, db store.Querier, query string, ids []string, scan func(store.Scanner) (T, error), key func(T) string) (map[string]T, error) {
	out := map[string]T{}
	if len(ids) == 0 {
		return out, nil
	}
	ph, args := placeholders(ids)
	rows, err := db.Query(ctx, query+ph, args...)
	if err != nil {
		return nil, err
	}
	list, err := store.Collect(rows, scan)
	for _, v := range list {
		out[key(v)] = v
	}
	return out, err
}

// SetServerGroup adds the security group named (or with the id) group
// to every port of the server, or removes it (Nova's addSecurityGroup and
// removeSecurityGroup). The group is the server's project's; a name two
// of its groups have is a conflict; a port without port security cannot
// take a group; removing a group none of the ports has is not found.
func (s *Service) SetServerGroup(ctx context.Context, serverID, project string, portIDs []string, group string, add bool) error {
	var networks, changedGroups []string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		gid, err := s.groupNamed(ctx, tx, project, group)
		if err != nil {
			return err
		}
		changedGroups = []string{gid}
		if len(portIDs) == 0 {
			return nil
		}
		ph, args := placeholders(portIDs)
		rows, err := tx.Query(ctx, `SELECT `+portColumns+` FROM ports WHERE device_id = ? AND id IN `+ph, append([]any{serverID}, args...)...)
		if err != nil {
			return err
		}
		list, err := store.Collect(rows, scanPort)
		if err != nil {
			return err
		}
		held := 0
		for _, p := range list {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM port_security_groups WHERE port_id = ? AND security_group_id = ?`, p.ID, gid).Scan(&n); err != nil {
				return err
			}
			held += n
			switch {
			case add && n == 0:
				if !p.PortSecurity {
					return badRequest("Port %s has no port security: it takes no security group.", p.ID)
				}
				_, err = tx.Exec(ctx, `INSERT INTO port_security_groups (port_id, security_group_id) VALUES (?, ?)`, p.ID, gid)
			case !add && n > 0:
				_, err = tx.Exec(ctx, `DELETE FROM port_security_groups WHERE port_id = ? AND security_group_id = ?`, p.ID, gid)
			default:
				continue
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE ports SET revision = revision + 1, updated_at = ? WHERE id = ?`, time.Now().Unix(), p.ID); err != nil {
				return err
			}
			if !slices.Contains(networks, p.Network) {
				networks = append(networks, p.Network)
			}
		}
		if !add && held == 0 {
			return fail(http.StatusNotFound, "SecurityGroupNotFound", "Security group %s not associated with the instance %s", group, serverID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.groupsChanged(ctx, networks, changedGroups...)
	return nil
}
