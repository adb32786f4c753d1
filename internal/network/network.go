// Package network is the seam between compute and the host network its
// VMs are on: the Host interface, with the Linux bridge (package bridge)
// as the real driver and package fake for API tests. Tenant networks
// (Neutron) will replace this with a driver of desired network state.
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
