package network

import (
	"context"
	"errors"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// The model is the truth and the data plane follows it: after a change
// commits, the networks it touched are set on the data plane; one that
// fails is tried again by a background task, and at every start every
// network is set again and what no network names is pruned.

// pending are the networks (or routers) whose last apply failed.
type pending struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (p *pending) add(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ids == nil {
		p.ids = map[string]bool{}
	}
	p.ids[id] = true
}

func (p *pending) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for id := range p.ids {
		out = append(out, id)
	}
	p.ids = nil
	return out
}

// coalescer lets the requests that change one network at the same time
// share applies: each waits for an apply that began after its change
// committed, and one apply carries all the changes before it began.
type coalescer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	asked   map[string]uint64 // changes asked for, by network
	done    map[string]uint64 // the last change an apply has carried
	running map[string]bool
	callers map[string]int // in do
}

func newCoalescer() *coalescer {
	c := &coalescer{asked: map[string]uint64{}, done: map[string]uint64{}, running: map[string]bool{}, callers: map[string]int{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// do runs apply for id, or waits for a run that begins after this call.
func (c *coalescer) do(id string, apply func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.callers[id]++
	c.asked[id]++
	mine := c.asked[id]
	for c.done[id] < mine {
		if c.running[id] {
			c.cond.Wait()
			continue
		}
		c.running[id] = true
		upTo := c.asked[id]
		c.mu.Unlock()
		apply()
		c.mu.Lock()
		c.running[id], c.done[id] = false, upTo
		c.cond.Broadcast()
	}
	if c.callers[id]--; c.callers[id] == 0 { // nobody waits: forget the network
		delete(c.asked, id)
		delete(c.done, id)
		delete(c.running, id)
		delete(c.callers, id)
	}
}

// changed sets the networks on the data plane, then the routers on
// them; failures are logged and retried (the API answer stands: the
// change is committed).
func (s *Service) changed(ctx context.Context, ids ...string) {
	for _, id := range ids {
		s.applies.do(id, func() {
			if err := s.apply(ctx, id); err != nil {
				s.log.Error("network: data plane", "network", id, "err", err)
				s.pending.add(id)
			}
		})
	}
	if len(ids) == 0 {
		return
	}
	ph, args := placeholders(ids)
	routers, err := store.Column(ctx, s.db, `SELECT DISTINCT device_id FROM ports WHERE device_owner IN (?, ?) AND network_id IN `+ph,
		append([]any{ownerRouterInterface, ownerRouterGateway}, args...)...)
	if err != nil {
		s.log.Error("network: the routers of networks", "err", err)
		return
	}
	s.routersChanged(ctx, routers...)
}

// routersChanged sets the routers on the data plane (removes gone ones);
// failures are logged and retried.
func (s *Service) routersChanged(ctx context.Context, ids ...string) {
	for _, id := range ids {
		if id == "" {
			continue
		}
		if err := s.applyRouter(ctx, id); err != nil {
			s.log.Error("network: data plane", "router", id, "err", err)
			s.pendingRouters.add(id)
		}
	}
}

func (s *Service) applyRouter(ctx context.Context, id string) error {
	st, err := s.routerState(ctx, id)
	if err != nil {
		return err
	}
	if st == nil {
		return s.dataplane.RemoveRouter(ctx, id)
	}
	return s.dataplane.SetRouter(ctx, st)
}

func (s *Service) apply(ctx context.Context, id string) error {
	st, err := s.networkState(ctx, id)
	if err != nil {
		return err
	}
	if st == nil {
		return s.dataplane.RemoveNetwork(ctx, id)
	}
	return s.dataplane.SetNetwork(ctx, st)
}

// Tasks retries the networks and routers whose apply failed.
func (s *Service) Tasks() []service.Task {
	return []service.Task{{Name: "network data plane", Every: retryInterval, Run: func(ctx context.Context) error {
		var errs []error
		for _, id := range s.pending.take() {
			if err := s.apply(ctx, id); err != nil {
				s.pending.add(id)
				errs = append(errs, err)
			}
		}
		for _, id := range s.pendingRouters.take() {
			if err := s.applyRouter(ctx, id); err != nil {
				s.pendingRouters.add(id)
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}}}
}

// reconcile sets every network and router and prunes what none names; a
// network or router that fails is logged and retried, never a reason not
// to start.
func (s *Service) reconcile(ctx context.Context) error {
	ids, err := store.Column(ctx, s.db, `SELECT id FROM networks`)
	if err != nil {
		return err
	}
	routers, err := store.Column(ctx, s.db, `SELECT id FROM routers`)
	if err != nil {
		return err
	}
	if err := s.dataplane.Prune(ctx, ids, routers); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.apply(ctx, id); err != nil {
			s.log.Error("network: data plane", "network", id, "err", err)
			s.pending.add(id)
		}
	}
	s.routersChanged(ctx, routers...)
	return nil
}

// networkState is what the data plane needs of a network; nil for a
// network that is gone.
func (s *Service) networkState(ctx context.Context, id string) (*dataplane.Network, error) {
	n, err := scanNetwork(s.db.QueryRow(ctx, `SELECT `+networkColumns+` FROM networks WHERE id = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, store.Row(err)
	}
	st := &dataplane.Network{ID: n.ID, Segment: n.Segment, MTU: n.MTU, External: n.Physnet == physExternal, Zone: zone(n),
		Domain: strings.TrimSuffix(dnsDomain, ".")}
	if st.External && n.Type == "flat" {
		// (VLANs of the uplink need 802.1Q, which the kernels sov is
		// tested on lack: VLAN networks on it stay host-local.)
		st.Uplink = s.cfg.ExternalInterface
	}
	rows, err := s.db.Query(ctx, `SELECT `+subnetColumns+` FROM subnets WHERE network_id = ? ORDER BY created_at, id`, id)
	if err != nil {
		return nil, err
	}
	subnets, err := store.Collect(rows, scanSubnet)
	if err != nil {
		return nil, err
	}
	bits, gateways, dhcp := map[string]int{}, map[string]netip.Addr{}, false
	for _, sn := range subnets {
		ss := subnetState(sn)
		bits[sn.ID], gateways[sn.ID] = ss.CIDR.Bits(), ss.Gateway
		dhcp = dhcp || sn.DHCP
		st.Subnets = append(st.Subnets, ss)
	}
	ports, err := s.portsWhere(ctx, `network_id = ?`, id)
	if err != nil {
		return nil, err
	}
	for _, p := range ports {
		if p.DeviceOwner == ownerDHCP && dhcp {
			ep := &dataplane.Endpoint{MAC: p.MAC}
			for _, ip := range p.IPs {
				if a, err := netip.ParseAddr(ip.IPAddress); err == nil {
					ep.Addrs = append(ep.Addrs, netip.PrefixFrom(a, bits[ip.SubnetID]))
				}
			}
			st.DHCP = ep
			continue
		}
		h := dataplane.Host{MAC: p.MAC, Hostname: p.DNSName}
		for _, ip := range p.IPs {
			if a, err := netip.ParseAddr(ip.IPAddress); err == nil {
				h.Addrs = append(h.Addrs, a)
			}
		}
		st.Hosts = append(st.Hosts, h)
		if (p.DeviceOwner == ownerCompute || p.DeviceOwner == ownerLoadBalancer) && p.Host != "" {
			dp := dataplane.Port{ID: p.ID, Device: dataplane.DeviceName(p.ID), MAC: p.MAC, Addrs: h.Addrs,
				Secured: p.PortSecurity, Pairs: pairsState(p.Pairs)}
			if p.DeviceOwner == ownerLoadBalancer {
				dp.Namespace = dataplane.PortNamespace(p.ID)
				for _, ip := range p.IPs {
					if a, err := netip.ParseAddr(ip.IPAddress); err == nil {
						dp.Inside = append(dp.Inside, netip.PrefixFrom(a, bits[ip.SubnetID]))
						if gw := gateways[ip.SubnetID]; a.Is4() && gw.IsValid() && !dp.Gateway.IsValid() {
							dp.Gateway = gw
						}
					}
				}
			}
			st.Ports = append(st.Ports, dp)
		}
	}
	return st, s.filterState(ctx, st, ports)
}

func pairsState(pairs []addressPair) []dataplane.Pair {
	var out []dataplane.Pair
	for _, pr := range pairs {
		if pfx, err := parsePrefixOrAddr(pr.IPAddress); err == nil {
			out = append(out, dataplane.Pair{Prefix: pfx, MAC: pr.MACAddress})
		}
	}
	return out
}

// parsePrefixOrAddr reads "10.0.0.5" or "10.0.0.0/24".
func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

// filterState gives the secured ports of st the rules of their groups,
// and st the members of the groups those rules name as remote.
func (s *Service) filterState(ctx context.Context, st *dataplane.Network, ports []*port) error {
	groupsOf := map[string][]string{}
	var groups []string
	for _, p := range ports {
		groupsOf[p.ID] = p.Groups
		groups = append(groups, p.Groups...)
	}
	rows, err := s.childRows(ctx, s.db, `SELECT security_group_id, direction, ethertype, protocol, COALESCE(port_range_min, -1),
		COALESCE(port_range_max, -1), remote_ip_prefix, remote_group_id FROM security_group_rules WHERE security_group_id IN `, groups)
	if err != nil {
		return err
	}
	rulesOf := map[string][]dataplane.Rule{}
	var remotes []string
	for _, r := range rows {
		min, _ := strconv.Atoi(r[4])
		max, _ := strconv.Atoi(r[5])
		rule := dataplane.Rule{Ingress: r[1] == "ingress", IPv6: r[2] == "IPv6", Protocol: r[3], PortMin: min, PortMax: max, RemoteGroup: r[7]}
		if r[6] != "" {
			if rule.Remote, err = netip.ParsePrefix(r[6]); err != nil {
				continue
			}
		}
		if rule.RemoteGroup != "" && !slices.Contains(remotes, rule.RemoteGroup) {
			remotes = append(remotes, rule.RemoteGroup)
		}
		rulesOf[r[0]] = append(rulesOf[r[0]], rule)
	}
	for i, p := range st.Ports {
		for _, g := range groupsOf[p.ID] {
			st.Ports[i].Rules = append(st.Ports[i].Rules, rulesOf[g]...)
		}
	}
	members, err := s.childRows(ctx, s.db, `SELECT pg.security_group_id, pi.ip_address FROM port_security_groups pg
		JOIN port_ips pi ON pi.port_id = pg.port_id WHERE pg.security_group_id IN `, remotes)
	if err != nil {
		return err
	}
	pairs, err := s.childRows(ctx, s.db, `SELECT pg.security_group_id, p.allowed_address_pairs FROM port_security_groups pg
		JOIN ports p ON p.id = pg.port_id WHERE pg.security_group_id IN `, remotes)
	if err != nil {
		return err
	}
	st.Groups = map[string][]netip.Prefix{}
	for _, g := range remotes {
		st.Groups[g] = []netip.Prefix{}
	}
	for _, m := range members {
		if a, err := netip.ParseAddr(m[1]); err == nil {
			st.Groups[m[0]] = append(st.Groups[m[0]], netip.PrefixFrom(a, a.BitLen()))
		}
	}
	for _, m := range pairs {
		var list []addressPair
		unmarshalText(m[1], &list)
		for _, pr := range pairsState(list) {
			st.Groups[m[0]] = append(st.Groups[m[0]], pr.Prefix)
		}
	}
	return nil
}

// groupsChanged sets again the networks a change touched and those whose
// filters a change of the groups' rules or members touches: with ports in
// the groups or in groups whose rules name them as their remote group.
// Each network is set once.
func (s *Service) groupsChanged(ctx context.Context, networks []string, groups ...string) {
	if len(groups) == 0 {
		s.changed(ctx, networks...)
		return
	}
	ph, args := placeholders(groups)
	ids, err := store.Column(ctx, s.db, `SELECT DISTINCT p.network_id FROM ports p JOIN port_security_groups pg ON pg.port_id = p.id
		WHERE pg.security_group_id IN `+ph+` OR pg.security_group_id IN
		(SELECT security_group_id FROM security_group_rules WHERE remote_group_id IN `+ph+`)`, append(args, args...)...)
	if err != nil {
		s.log.Error("network: the networks a group change touches", "err", err)
	}
	for _, id := range ids {
		if !slices.Contains(networks, id) {
			networks = append(networks, id)
		}
	}
	s.changed(ctx, networks...)
}

// subnetState is what DHCP (and a guest's network_data.json) tells of a subnet.
func subnetState(sn *subnet) dataplane.Subnet {
	ss := dataplane.Subnet{CIDR: sn.prefix(), Gateway: sn.gateway(), DHCP: sn.DHCP, AddressMode: sn.AddrMode, RAMode: sn.RAMode}
	for _, d := range sn.DNS {
		if a, err := netip.ParseAddr(d); err == nil {
			ss.DNS = append(ss.DNS, a)
		}
	}
	for _, r := range sn.Routes {
		d, err1 := netip.ParsePrefix(r.Destination)
		h, err2 := netip.ParseAddr(r.Nexthop)
		if err1 == nil && err2 == nil {
			ss.Routes = append(ss.Routes, dataplane.HostRoute{Destination: d, Nexthop: h})
		}
	}
	return ss
}

// zone is a network's conntrack zone: its VLAN, or above the VLANs one
// of a flat network's id.
func zone(n *network) int {
	if n.Type == "vlan" {
		return n.Segment
	}
	h := fnv.New32a()
	h.Write([]byte(n.ID))
	return 4096 + int(h.Sum32()%60000)
}

// routerState is what the data plane needs of a router; nil for one that
// is gone.
func (s *Service) routerState(ctx context.Context, id string) (*dataplane.Router, error) {
	r, err := scanRouter(s.db.QueryRow(ctx, `SELECT `+routerColumns+` FROM routers WHERE id = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, store.Row(err)
	}
	st := &dataplane.Router{ID: r.ID, SNAT: r.SNAT}
	ports, err := s.portsWhere(ctx, `device_id = ? AND device_owner IN (?, ?)`, r.ID, ownerRouterInterface, ownerRouterGateway)
	if err != nil {
		return nil, err
	}
	for _, p := range ports {
		rp := dataplane.RouterPort{ID: p.ID, Network: p.Network, MAC: p.MAC, MTU: 1500}
		if n, err := scanNetwork(s.db.QueryRow(ctx, `SELECT `+networkColumns+` FROM networks WHERE id = ?`, p.Network)); err == nil {
			rp.MTU = n.MTU
		}
		for _, ip := range p.IPs {
			sn, err := scanSubnet(s.db.QueryRow(ctx, `SELECT `+subnetColumns+` FROM subnets WHERE id = ?`, ip.SubnetID))
			a, aerr := netip.ParseAddr(ip.IPAddress)
			if err != nil || aerr != nil {
				continue
			}
			rp.Addrs = append(rp.Addrs, netip.PrefixFrom(a, sn.prefix().Bits()))
			rp.Subnets = append(rp.Subnets, sn.prefix())
			if p.DeviceOwner == ownerRouterInterface && a.Is6() && sn.RAMode != "" {
				rp.Advertise = append(rp.Advertise, subnetState(sn))
			}
			if p.DeviceOwner == ownerRouterGateway && a.Is4() && !st.NextHop.IsValid() {
				st.NextHop = sn.gateway()
			}
		}
		if p.DeviceOwner == ownerRouterGateway {
			st.Gateway = &rp
		} else {
			st.Interfaces = append(st.Interfaces, rp)
		}
	}
	for _, rt := range r.Routes {
		d, err1 := netip.ParsePrefix(rt.Destination)
		h, err2 := netip.ParseAddr(rt.Nexthop)
		if err1 == nil && err2 == nil {
			st.Routes = append(st.Routes, dataplane.HostRoute{Destination: d, Nexthop: h})
		}
	}
	fips, err := s.childRows(ctx, s.db, `SELECT address, fixed_ip FROM floating_ips WHERE fixed_ip <> '' AND router_id IN `, []string{r.ID})
	if err != nil {
		return nil, err
	}
	for _, f := range fips {
		a, err1 := netip.ParseAddr(f[0])
		fixed, err2 := netip.ParseAddr(f[1])
		if err1 == nil && err2 == nil {
			st.Floating = append(st.Floating, dataplane.FloatingIP{Address: a, Fixed: fixed})
		}
	}
	return st, nil
}

// portsWhere are the ports the condition selects, by id, with their
// addresses and groups.
func (s *Service) portsWhere(ctx context.Context, where string, args ...any) ([]*port, error) {
	rows, err := s.db.Query(ctx, `SELECT `+portColumns+` FROM ports WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	ports, err := store.Collect(rows, scanPort)
	if err != nil {
		return nil, err
	}
	return ports, s.loadPortLinks(ctx, s.db, ports)
}
