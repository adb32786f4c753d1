// Package dataplane is the seam between the Neutron model (package
// network) and what carries it on the wire: the Driver interface and the
// state it is given. The linux driver (package linux) is the real one for
// one host, package fake records the state for API tests.
package dataplane

import (
	"context"
	"net"
	"net/netip"
	"strings"
)

// Driver carries the Neutron model on the host. Each Set call gives the
// whole desired state of one object and the driver converges to it, so a
// call may repeat (at start, after a crash); removing a gone object
// succeeds. The linux driver (package linux) puts every network on one
// host; an OVN driver would map the same calls onto logical switches,
// ports and routers of many hosts.
type Driver interface {
	// SetNetwork makes a network's L2 domain and its DHCP service.
	SetNetwork(ctx context.Context, n *Network) error
	// RemoveNetwork takes them away.
	RemoveNetwork(ctx context.Context, id string) error
	// SetRouter makes a router: its interfaces on its networks, its
	// gateway on an external network with SNAT, its floating IPs and routes.
	SetRouter(ctx context.Context, r *Router) error
	// RemoveRouter takes it away.
	RemoveRouter(ctx context.Context, id string) error
	// Prune removes what the driver made for networks and routers not in keep.
	Prune(ctx context.Context, networks, routers []string) error
	// Close leaves the data plane running for the next start.
	Close() error
}

// Network is what a network's L2 domain and DHCP service need.
type Network struct {
	ID      string
	Segment int // the VLAN of the network on the tenant physical network
	MTU     int
	// DHCP is the network's DHCP port; nil when no subnet has DHCP.
	DHCP    *Endpoint
	Subnets []Subnet
	// Hosts are the addresses DHCP gives: every port's but the DHCP port's.
	Hosts []Host
	// Domain is the DNS domain of the hosts' names (Neutron's
	// openstacklocal), which the network's DNS server answers.
	Domain string
	// External is true for a network on the external physical network:
	// in the host-local mode the host takes its subnets' gateway
	// addresses and masquerades their traffic to its uplink.
	External bool
	// Uplink is the host interface a flat external network is bridged to,
	// instead of host-local; "" for none.
	Uplink string
	// Zone is the conntrack zone of the network's flows, unique per network.
	Zone int
	// Ports are the network's ports bound to VMs on this host, each with
	// the device its VM's NIC is on.
	Ports []Port
	// Groups are the addresses of the members of each security group
	// the rules of Ports name as their remote group (by group id).
	Groups map[string][]netip.Prefix
}

// Port is a VM's port: its device on the network's L2 domain (a tap the
// VM's NIC opens), its MAC and addresses, and, with port security, what
// it may send and receive.
type Port struct {
	ID     string
	Device string // DeviceName(ID)
	MAC    string
	Addrs  []netip.Addr
	// Secured is port security: the port sends only from its MAC and
	// addresses (and Pairs), and only traffic Rules allow passes, with
	// replies (stateful); no rule means nothing passes. Without it the
	// port is unfiltered.
	Secured bool
	Pairs   []Pair
	Rules   []Rule
	// Namespace is set for a port that is no VM's but an endpoint sov
	// runs itself (a load balancer's VIP): the driver makes the namespace,
	// Device outside on the bridge and its veth peer inside with the
	// port's MAC and Inside addresses, and a default route via Gateway
	// (if valid); the namespace goes with the port.
	Namespace string
	Inside    []netip.Prefix
	Gateway   netip.Addr
}

// PortNamespace is the namespace of a port with one (PortNamespace and
// the first 11 characters of its id, as its device).
func PortNamespace(portID string) string {
	return PortNamespacePrefix + DeviceName(portID)[len("tap"):]
}

// PortNamespacePrefix begins the names of ports' namespaces.
const PortNamespacePrefix = "sovp-"

// Pair is an allowed address pair: another address (or prefix) the port
// may send from, with its MAC ("" for the port's own).
type Pair struct {
	Prefix netip.Prefix
	MAC    string
}

// Rule is one security group rule of a port.
type Rule struct {
	Ingress     bool         // else egress
	IPv6        bool         // the ethertype; else IPv4
	Protocol    string       // "" for any, else a name (tcp, udp, icmp, ...) or an IP protocol number
	PortMin     int          // -1: any; for ICMP the type
	PortMax     int          // -1: any; for ICMP the code
	Remote      netip.Prefix // the remote addresses; invalid for any
	RemoteGroup string       // a key of Network.Groups, "" for none
}

// DeviceName is the host device of a port, as Neutron names taps: "tap"
// and the first 11 characters of the port's id.
func DeviceName(portID string) string {
	if len(portID) > 11 {
		portID = portID[:11]
	}
	return "tap" + portID
}

// Endpoint is a port as the data plane sees it: its MAC and addresses.
type Endpoint struct {
	MAC   string
	Addrs []netip.Prefix // each address with its subnet's prefix length
}

// Subnet is what DHCP (and, for IPv6, a router's advertisements) tells
// the hosts of one subnet.
type Subnet struct {
	CIDR    netip.Prefix
	Gateway netip.Addr // invalid for none
	DHCP    bool
	DNS     []netip.Addr
	Routes  []HostRoute
	// AddressMode and RAMode are an IPv6 subnet's ipv6_address_mode and
	// ipv6_ra_mode (IPv6SLAAC, IPv6Stateful, IPv6Stateless or "").
	AddressMode, RAMode string
}

// The IPv6 modes of a subnet: addresses by SLAAC from router
// advertisements, by DHCPv6, or by SLAAC with the other settings by DHCPv6.
const (
	IPv6SLAAC     = "slaac"
	IPv6Stateful  = "dhcpv6-stateful"
	IPv6Stateless = "dhcpv6-stateless"
)

// HostRoute is a route DHCP hands out.
type HostRoute struct {
	Destination netip.Prefix
	Nexthop     netip.Addr
}

// Host is one reservation: a MAC and its addresses, and the port's DNS
// name ("" for the default: host-<address with dashes> for each address).
type Host struct {
	MAC      string
	Addrs    []netip.Addr
	Hostname string
}

// HostName is the DNS name of a host's address: its Hostname, or
// host-<address with dashes>, as Neutron names ports without a dns_name.
func (h Host) HostName(a netip.Addr) string {
	if h.Hostname != "" {
		return h.Hostname
	}
	return "host-" + strings.NewReplacer(".", "-", ":", "-").Replace(a.String())
}

// EUI64 is the address of mac in the /64 of p (SLAAC, and with fe80::/64
// the link-local address of a port); false for a MAC that is not 48 bits.
func EUI64(p netip.Prefix, mac string) (netip.Addr, bool) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return netip.Addr{}, false
	}
	b := p.Masked().Addr().As16()
	copy(b[8:], []byte{hw[0] ^ 2, hw[1], hw[2], 0xff, 0xfe, hw[3], hw[4], hw[5]})
	return netip.AddrFrom16(b), true
}

// Router is what a router needs on the host.
type Router struct {
	ID string
	// Gateway is the router's port on an external network, nil for none;
	// its default route goes via NextHop, that network's gateway.
	Gateway *RouterPort
	NextHop netip.Addr
	// SNAT translates the interfaces' subnets to the gateway's address.
	SNAT       bool
	Interfaces []RouterPort
	Routes     []HostRoute
	Floating   []FloatingIP
}

// RouterPort is one of a router's ports on a network.
type RouterPort struct {
	ID, Network, MAC string
	MTU              int
	Addrs            []netip.Prefix // each address with its subnet's prefix length
	Subnets          []netip.Prefix // the port's subnets
	// Advertise are the port's IPv6 subnets with an RAMode: the router
	// sends router advertisements of them on this port.
	Advertise []Subnet
}

// FloatingIP maps an address of the external network to a fixed one.
type FloatingIP struct {
	Address, Fixed netip.Addr
}
