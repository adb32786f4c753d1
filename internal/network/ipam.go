package network

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/store"
)

// IP address management: a subnet's allocation pools, and the lowest free
// address of them for a port. The store's key on (subnet, address) makes
// two ports holding one address impossible, whoever writes first.

type pool struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// addrRange is a pool parsed.
type addrRange struct{ start, end netip.Addr }

func (r addrRange) contains(a netip.Addr) bool {
	return r.start.Compare(a) <= 0 && a.Compare(r.end) <= 0
}

// lastAddr is the last address of prefix (v4: the broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// usable is the range of a prefix's host addresses: v4 without the
// network and broadcast addresses, v6 without the subnet-router anycast.
func usable(p netip.Prefix) addrRange {
	first, last := p.Masked().Addr().Next(), lastAddr(p)
	if p.Addr().Is4() && p.Bits() < 31 {
		last = last.Prev()
	}
	return addrRange{first, last}
}

// defaultPools are the usable addresses without the gateway.
func defaultPools(p netip.Prefix, gateway netip.Addr) []pool {
	u := usable(p)
	if !gateway.IsValid() || !u.contains(gateway) {
		return []pool{{u.start.String(), u.end.String()}}
	}
	var out []pool
	if gateway != u.start {
		out = append(out, pool{u.start.String(), gateway.Prev().String()})
	}
	if gateway != u.end {
		out = append(out, pool{gateway.Next().String(), u.end.String()})
	}
	return out
}

// parsePools checks pools against the subnet: inside its usable range,
// ordered, apart from each other and from the gateway.
func parsePools(pools []pool, p netip.Prefix, gateway netip.Addr) ([]addrRange, error) {
	u := usable(p)
	var out []addrRange
	for _, pl := range pools {
		s, err1 := netip.ParseAddr(pl.Start)
		e, err2 := netip.ParseAddr(pl.End)
		if err1 != nil || err2 != nil || s.Is4() != p.Addr().Is4() || s.Compare(e) > 0 {
			return nil, badRequest("The allocation pool %s-%s is not valid.", pl.Start, pl.End)
		}
		if !u.contains(s) || !u.contains(e) {
			return nil, badRequest("The allocation pool %s-%s spans beyond the subnet cidr %s.", pl.Start, pl.End, p)
		}
		r := addrRange{s, e}
		for _, o := range out {
			if r.contains(o.start) || o.contains(r.start) {
				return nil, badRequest("Found overlapping allocation pools: %s-%s and %s-%s for subnet %s.", o.start, o.end, s, e, p)
			}
		}
		if gateway.IsValid() && r.contains(gateway) {
			return nil, conflict("GatewayConflictWithAllocationPools", "Gateway ip %s conflicts with allocation pool %s-%s.", gateway, s, e)
		}
		out = append(out, r)
	}
	return out, nil
}

// allocate returns the lowest address of the subnet's pools that no port
// holds (or, for an IPv6 subnet whose addresses come from SLAAC, the one
// the MAC makes).
func allocate(ctx context.Context, tx *store.Tx, sn *subnet, mac string) (netip.Addr, error) {
	if sn.autoAddress() {
		return eui64(sn.prefix(), mac)
	}
	held, err := store.Column(ctx, tx, `SELECT ip_address FROM port_ips WHERE subnet_id = ?`, sn.ID)
	if err != nil {
		return netip.Addr{}, err
	}
	used := make(map[netip.Addr]bool, len(held))
	for _, h := range held {
		if a, err := netip.ParseAddr(h); err == nil {
			used[a] = true
		}
	}
	ranges, err := parsePools(sn.Pools, sn.prefix(), netip.Addr{})
	if err != nil {
		return netip.Addr{}, err
	}
	for _, r := range ranges {
		// At most len(used)+1 steps: past them the address is free.
		for a, n := r.start, 0; r.contains(a) && n <= len(used); a, n = a.Next(), n+1 {
			if !used[a] && a != sn.gateway() {
				return a, nil
			}
		}
	}
	return netip.Addr{}, conflict("IpAddressGenerationFailure", "No more IP addresses available on network %s.", sn.Network)
}

// eui64 is the SLAAC address of mac in a /64.
func eui64(p netip.Prefix, mac string) (netip.Addr, error) {
	a, ok := dataplane.EUI64(p, mac)
	if !ok {
		return netip.Addr{}, badRequest("Invalid MAC address %s.", mac)
	}
	return a, nil
}

// newMAC is a random address under Neutron's base, fa:16:3e.
func newMAC() string {
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// checkAddress refuses an address a port asks for that is not a usable
// address of the subnet, or is its gateway.
func checkAddress(sn *subnet, a netip.Addr) error {
	if !sn.prefix().Contains(a) || !usable(sn.prefix()).contains(a) {
		return badRequest("IP address %s is not a valid IP for the specified subnet.", a)
	}
	if a == sn.gateway() {
		return conflict("IpAddressInUse", "Unable to complete operation for network %s. The IP address %s is in use.", sn.Network, a)
	}
	return nil
}
