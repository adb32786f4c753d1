package network

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// What the load balancer service asks of the network, as Octavia asks
// Neutron: a VIP port on a subnet or network the caller may use (or the
// caller's own unbound port), in a security group of no project that
// opens the listeners' ports; the port bound here, where the data plane
// gives it a namespace of its own; and its release when the load balancer
// goes. The port belongs to the caller's project, so a floating IP can be
// put on it.

// ownerLoadBalancer is the device owner of load balancers' VIP ports, as
// Octavia sets it.
const ownerLoadBalancer = "Octavia"

// VIPRequest says where a load balancer's VIP goes: a subnet, a network
// (its first IPv4 subnet), or an existing port; Address picks the address.
type VIPRequest struct {
	LoadBalancerID                       string
	NetworkID, SubnetID, PortID, Address string
	// ProjectID is the load balancer's project when an admin makes it
	// for another ("" for the caller's): the port goes there.
	ProjectID string
}

// VIP is a load balancer's port.
type VIP struct {
	PortID, NetworkID, SubnetID string
	Address                     netip.Addr
	// Namespace is where the port's address lives once it is plugged.
	Namespace string
}

// VIPListener is a port a VIP's security group opens, to the CIDRs given
// (none: to everyone).
type VIPListener struct {
	Protocol string // tcp or udp
	Port     int
	CIDRs    []netip.Prefix
}

// vipGroupName is the name of a load balancer's security group, as Octavia's.
func vipGroupName(lb string) string { return "lb-" + lb }

// CreateVIP makes (or takes) the port of load balancer req.LoadBalancerID
// for the caller. Another project's network, subnet or port is not found;
// an external network is refused as for servers' ports.
func (s *Service) CreateVIP(ctx context.Context, c *policy.Credentials, req VIPRequest) (*VIP, error) {
	q := &request{creds: c}
	var vip *VIP
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		vip, err = s.vipPort(ctx, tx, q, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return vip, nil
}

func (s *Service) vipPort(ctx context.Context, tx *store.Tx, q *request, req VIPRequest) (*VIP, error) {
	var p *port
	var err error
	if req.PortID != "" {
		if p, err = s.visiblePort(ctx, tx, q, req.PortID); err != nil {
			return nil, err
		}
		if p.Project != q.creds.ProjectID && !q.admin() {
			return nil, notFound("Port", req.PortID)
		}
		if p.DeviceID != "" || p.DeviceOwner != "" {
			return nil, conflict("PortInUse", "Port %s is still in use.", p.ID)
		}
		if _, err := s.usableNetwork(ctx, tx, q, p.Network); err != nil {
			return nil, err
		}
	} else {
		network := req.NetworkID
		var want []fixedIP
		if req.SubnetID != "" {
			sn, err := s.visibleSubnet(ctx, tx, q, req.SubnetID)
			if err != nil {
				return nil, err
			}
			if network != "" && network != sn.Network {
				return nil, badRequest("Subnet %s is not on network %s.", sn.ID, network)
			}
			network = sn.Network
			want = []fixedIP{{SubnetID: sn.ID, IPAddress: req.Address}}
		}
		n, err := s.usableNetwork(ctx, tx, q, network)
		if err != nil {
			return nil, err
		}
		// As for ports: only the network's owner picks an address on it.
		if req.Address != "" && n.Project != q.creds.ProjectID && !q.admin() {
			return nil, q.enforce("create_port:fixed_ips", "")
		}
		if want == nil {
			if want, err = vipAddressOn(ctx, tx, n.ID, req.Address); err != nil {
				return nil, err
			}
		}
		now := time.Now().Unix()
		project := q.creds.ProjectID
		if req.ProjectID != "" && q.admin() {
			project = req.ProjectID
		}
		p = &port{ID: uuid.NewString(), Project: project, Network: n.ID, Name: "octavia-lb-" + req.LoadBalancerID,
			MAC: newMAC(), autoMAC: true, AdminUp: true, Status: "DOWN", PortSecurity: n.PortSecurity, VNIC: vnicNormal, Profile: "{}",
			Revision: 1, Created: now, Updated: now}
		if err := s.checkQuota(ctx, tx, p.Project, "port", 1); err != nil {
			return nil, err
		}
		if err := insertPort(ctx, tx, p); err != nil {
			return nil, err
		}
		if err := s.assignAddresses(ctx, tx, p, want); err != nil {
			return nil, err
		}
	}
	res, err := tx.Exec(ctx, `UPDATE ports SET device_id = ?, device_owner = ?, revision = revision + 1, updated_at = ?
		WHERE id = ? AND device_id = '' AND device_owner = ''`, "lb-"+req.LoadBalancerID, ownerLoadBalancer, time.Now().Unix(), p.ID)
	if err != nil {
		return nil, err
	}
	if rows, err := res.RowsAffected(); err != nil || rows != 1 {
		return nil, conflict("PortInUse", "Port %s is still in use.", p.ID)
	}
	rows, err := tx.Query(ctx, `SELECT subnet_id, ip_address FROM port_ips WHERE port_id = ? ORDER BY ip_address`, p.ID)
	if err != nil {
		return nil, err
	}
	ips, err := store.Collect(rows, func(r store.Scanner) (fixedIP, error) { var ip fixedIP; return ip, r.Scan(&ip.SubnetID, &ip.IPAddress) })
	if err != nil {
		return nil, err
	}
	vip := &VIP{PortID: p.ID, NetworkID: p.Network, Namespace: dataplane.PortNamespace(p.ID)}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IPAddress)
		if err == nil && (req.SubnetID == "" || ip.SubnetID == req.SubnetID) && (req.Address == "" || a.String() == req.Address) {
			vip.Address, vip.SubnetID = a, ip.SubnetID
			break
		}
	}
	if !vip.Address.IsValid() {
		return nil, badRequest("Port %s has no fixed IP address for the VIP.", p.ID)
	}
	if p.PortSecurity {
		g := &group{ID: uuid.NewString(), Name: vipGroupName(req.LoadBalancerID), Description: "The VIP of load balancer " + req.LoadBalancerID, Stateful: true}
		if err := s.insertBareGroup(ctx, tx, g); err != nil {
			return nil, err
		}
		// A port made for the load balancer has only its group; a port
		// of the caller's keeps its own beside it (they go back to being
		// its only ones when the load balancer lets it go).
		if req.PortID == "" {
			if _, err := tx.Exec(ctx, `DELETE FROM port_security_groups WHERE port_id = ?`, p.ID); err != nil {
				return nil, err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO port_security_groups (port_id, security_group_id) VALUES (?, ?)`, p.ID, g.ID); err != nil {
			return nil, err
		}
		for _, eth := range []string{"IPv4", "IPv6"} {
			if err := insertRule(ctx, tx, &rule{ID: uuid.NewString(), Group: g.ID, Direction: "egress", Ethertype: eth}); err != nil {
				return nil, err
			}
		}
	}
	return vip, nil
}

// vipAddressOn is what a VIP on a network gets: the address asked for on
// the subnet that holds it, else an address of the first IPv4 subnet.
func vipAddressOn(ctx context.Context, tx *store.Tx, network, address string) ([]fixedIP, error) {
	rows, err := tx.Query(ctx, `SELECT id, cidr FROM subnets WHERE network_id = ? ORDER BY created_at, id`, network)
	if err != nil {
		return nil, err
	}
	subnets, err := store.Collect(rows, func(r store.Scanner) ([2]string, error) { var v [2]string; return v, r.Scan(&v[0], &v[1]) })
	if err != nil {
		return nil, err
	}
	var a netip.Addr
	if address != "" {
		if a, err = netip.ParseAddr(address); err != nil {
			return nil, badRequest("Invalid input for vip_address: %q is not a valid IP address.", address)
		}
	}
	for _, sn := range subnets {
		p, err := netip.ParsePrefix(sn[1])
		if err != nil || (a.IsValid() && !p.Contains(a)) || (!a.IsValid() && !p.Addr().Is4()) {
			continue
		}
		return []fixedIP{{SubnetID: sn[0], IPAddress: address}}, nil
	}
	return nil, badRequest("Network %s has no subnet for the VIP.", network)
}

// insertBareGroup stores a group without the default rules (a VIP's,
// whose rules the load balancer sets).
func (s *Service) insertBareGroup(ctx context.Context, tx *store.Tx, g *group) error {
	now := time.Now().Unix()
	g.Revision, g.Created, g.Updated = 1, now, now
	return store.Insert(ctx, tx, "security_groups", store.Values{}.
		Set("id", g.ID).Set("project_id", g.Project).Set("name", g.Name).Set("description", g.Description).
		Set("stateful", g.Stateful).Set("is_default", g.Default).Set("revision", g.Revision).
		Set("created_at", g.Created).Set("updated_at", g.Updated))
}

// PlugVIP binds a VIP's port to this host with the ingress its listeners
// need, and sets its network on the data plane, which makes its namespace.
func (s *Service) PlugVIP(ctx context.Context, lb string, listeners []VIPListener) error {
	var network, portID string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		err := store.Row(tx.QueryRow(ctx, `SELECT id, network_id FROM ports WHERE device_owner = ? AND device_id = ?`,
			ownerLoadBalancer, "lb-"+lb).Scan(&portID, &network))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE ports SET binding_host = ?, status = 'ACTIVE', revision = revision + 1, updated_at = ?
			WHERE id = ?`, hostName(), time.Now().Unix(), portID); err != nil {
			return err
		}
		return s.setVIPRules(ctx, tx, lb, listeners)
	})
	if err != nil {
		return err
	}
	if err := s.apply(ctx, network); err != nil {
		s.pending.add(network)
		return err
	}
	return nil
}

// setVIPRules replaces the ingress rules of a VIP's group by one per
// listener and CIDR.
func (s *Service) setVIPRules(ctx context.Context, tx *store.Tx, lb string, listeners []VIPListener) error {
	var g string
	err := store.Row(tx.QueryRow(ctx, `SELECT id FROM security_groups WHERE project_id = '' AND name = ?`, vipGroupName(lb)).Scan(&g))
	if errors.Is(err, store.ErrNotFound) {
		return nil // the port has no port security
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM security_group_rules WHERE security_group_id = ? AND direction = 'ingress'`, g); err != nil {
		return err
	}
	for _, l := range listeners {
		cidrs := l.CIDRs
		if len(cidrs) == 0 {
			cidrs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		}
		for _, c := range cidrs {
			port := l.Port
			r := &rule{ID: uuid.NewString(), Group: g, Direction: "ingress", Ethertype: "IPv4", Protocol: l.Protocol,
				PortMin: &port, PortMax: &port, Description: "listener port " + strconv.Itoa(port)}
			if c.Addr().Is6() {
				r.Ethertype = "IPv6"
			}
			if c.Bits() > 0 {
				r.RemoteIP = c.Masked().String()
			}
			if err := insertRule(ctx, tx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReleaseVIP lets a load balancer's port go (the one its device id
// names, so also one a crash left before the load balancer knew it):
// deleted when made for it, else unbound; its group goes too.
func (s *Service) ReleaseVIP(ctx context.Context, lb string, made bool) error {
	var network, portID string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		err := store.Row(tx.QueryRow(ctx, `SELECT id, network_id FROM ports WHERE device_owner = ? AND device_id = ?`,
			ownerLoadBalancer, "lb-"+lb).Scan(&portID, &network))
		switch {
		case errors.Is(err, store.ErrNotFound):
			network = ""
		case err != nil:
			return err
		case made:
			if err := deletePortRow(ctx, tx, portID); err != nil {
				return err
			}
		default:
			if _, err := tx.Exec(ctx, `UPDATE ports SET device_id = '', device_owner = '', binding_host = '', status = 'DOWN',
				revision = revision + 1, updated_at = ? WHERE id = ?`, time.Now().Unix(), portID); err != nil {
				return err
			}
		}
		var g string
		err = store.Row(tx.QueryRow(ctx, `SELECT id FROM security_groups WHERE project_id = '' AND name = ?`, vipGroupName(lb)).Scan(&g))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM port_security_groups WHERE security_group_id = ?`, g); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM security_group_rules WHERE security_group_id = ?`, g); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM security_groups WHERE id = ?`, g)
		return err
	})
	if err != nil || network == "" {
		return err
	}
	if err := s.apply(ctx, network); err != nil {
		s.pending.add(network)
		return err
	}
	return nil
}

// SubnetUsable reports whether the caller may put members on the subnet:
// one it sees on a network it may use (not another project's).
func (s *Service) SubnetUsable(ctx context.Context, c *policy.Credentials, id string) error {
	q := &request{creds: c}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		sn, err := s.visibleSubnet(ctx, tx, q, id)
		if err != nil {
			return err
		}
		_, err = s.usableNetwork(ctx, tx, q, sn.Network)
		return err
	})
}
