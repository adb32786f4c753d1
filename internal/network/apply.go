package network

import (
	"context"
	"errors"
	"net/netip"
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

// pending are the networks whose last apply failed.
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

// changed sets the networks on the data plane; failures are logged and
// retried (the API answer stands: the change is committed).
func (s *Service) changed(ctx context.Context, ids ...string) {
	for _, id := range ids {
		if err := s.apply(ctx, id); err != nil {
			s.log.Error("network: data plane", "network", id, "err", err)
			s.pending.add(id)
		}
	}
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

// Tasks retries the networks whose apply failed.
func (s *Service) Tasks() []service.Task {
	return []service.Task{{Name: "network data plane", Every: retryInterval, Run: func(ctx context.Context) error {
		var errs []error
		for _, id := range s.pending.take() {
			if err := s.apply(ctx, id); err != nil {
				s.pending.add(id)
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}}}
}

// reconcile sets every network and prunes what no network names; a
// network that fails is logged and retried, never a reason not to start.
func (s *Service) reconcile(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT id FROM networks`)
	if err != nil {
		return err
	}
	ids, err := store.Collect(rows, func(r store.Scanner) (string, error) { var id string; return id, r.Scan(&id) })
	if err != nil {
		return err
	}
	if err := s.dataplane.Prune(ctx, ids); err != nil {
		return err
	}
	s.changed(ctx, ids...)
	return nil
}

// networkState is what the data plane needs of a network; nil for a
// network that is gone. Only VLAN networks have one yet: flat (external)
// networks come with routers.
func (s *Service) networkState(ctx context.Context, id string) (*dataplane.Network, error) {
	n, err := scanNetwork(s.db.QueryRow(ctx, `SELECT `+networkColumns+` FROM networks WHERE id = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, store.Row(err)
	}
	st := &dataplane.Network{ID: n.ID, Segment: n.Segment, MTU: n.MTU}
	if n.Type != "vlan" {
		return st, nil
	}
	rows, err := s.db.Query(ctx, `SELECT `+subnetColumns+` FROM subnets WHERE network_id = ? ORDER BY created_at, id`, id)
	if err != nil {
		return nil, err
	}
	subnets, err := store.Collect(rows, scanSubnet)
	if err != nil {
		return nil, err
	}
	bits, dhcp := map[string]int{}, false
	for _, sn := range subnets {
		ss := subnetState(sn)
		bits[sn.ID] = ss.CIDR.Bits()
		dhcp = dhcp || sn.DHCP
		st.Subnets = append(st.Subnets, ss)
	}
	rows, err = s.db.Query(ctx, `SELECT `+portColumns+` FROM ports WHERE network_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	ports, err := store.Collect(rows, scanPort)
	if err != nil {
		return nil, err
	}
	if err := s.loadPortLinks(ctx, s.db, ports); err != nil {
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
				if h.Hostname == "" {
					h.Hostname = "host-" + strings.NewReplacer(".", "-", ":", "-").Replace(a.String())
				}
			}
		}
		st.Hosts = append(st.Hosts, h)
		if p.DeviceOwner == ownerCompute && p.Host != "" {
			st.Ports = append(st.Ports, dataplane.Port{ID: p.ID, Device: dataplane.DeviceName(p.ID), MAC: p.MAC, Addrs: h.Addrs})
		}
	}
	return st, nil
}

// subnetState is what DHCP (and a guest's network_data.json) tells of a subnet.
func subnetState(sn *subnet) dataplane.Subnet {
	ss := dataplane.Subnet{CIDR: sn.prefix(), Gateway: sn.gateway(), DHCP: sn.DHCP}
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
