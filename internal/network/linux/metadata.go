package linux

import (
	"net"
	"net/netip"
	"runtime"

	"github.com/vishvananda/netns"
)

// The metadata service: on each network with DHCP, the DHCP namespace's
// interface also holds 169.254.169.254, DHCP hands the guests a route to
// it via the DHCP port, and the driver listens there on port 80 from
// inside the namespace; sov answers on that listener.

// MetadataAddr is the address of the metadata service.
var MetadataAddr = netip.MustParseAddr("169.254.169.254")

// Metadata serves the metadata service of a network on a listener the
// driver opened for it, until the listener closes.
type Metadata interface {
	ServeMetadata(networkID string, l net.Listener)
}

// listenMetadata opens the network's metadata listener in its DHCP
// namespace, unless it is open; the caller holds d.mu.
func (d *Driver) listenMetadata(id, ns string) error {
	if d.meta == nil || d.listeners[id] != nil {
		return nil
	}
	l, err := listenIn(ns, "tcp4", net.JoinHostPort(MetadataAddr.String(), "80"))
	if err != nil {
		return err
	}
	d.listeners[id] = l
	go d.meta.ServeMetadata(id, l)
	return nil
}

// closeMetadata closes the network's metadata listener; the caller holds d.mu.
func (d *Driver) closeMetadata(id string) {
	if l := d.listeners[id]; l != nil {
		l.Close()
		delete(d.listeners, id)
	}
}

// listenIn listens on addr from inside the named namespace: the socket is
// made there, on a thread that enters it and leaves it again.
func listenIn(ns, network, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return nil, err
	}
	defer netns.Set(orig)
	return net.Listen(network, addr)
}
