// Package network is sov's Neutron v2.0 API (service.go and the files
// beside it: networks, subnets and ports with IP address management,
// security groups, RBAC, quotas, tags), and, for now, the seam between
// compute and the host network its VMs are on: the Host interface, with
// the Linux bridge (package bridge) as the real driver and package fake
// for API tests. When compute moves onto ports, a driver of the desired
// network state (tenant L2 domains, DHCP, security groups, routers)
// replaces Host.
package network

import "net/netip"

// Host gives VMs their NIC: a tap device on the host network and the
// address DHCP hands out to the NIC's MAC. Attach of an attached tap and
// Detach of a gone one succeed.
type Host interface {
	// Attach creates (or reuses) the tap and reserves ip for mac.
	Attach(tap, mac string, ip netip.Addr) error
	// Detach removes the tap and the reservation.
	Detach(tap, mac string) error
	// Close leaves the network to the next start; with remove it goes.
	Close(remove bool) error
}
