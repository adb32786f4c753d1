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
// inside the namespace; sov answers on that listener. Each router holds
// it too (on its loopback) and listens in its namespace, for guests that
// send it to their default gateway (they ignore the DHCP route, or have
// no DHCP); the router takes such requests only on its interfaces, each
// from the subnets of the interface it came in on.

// MetadataAddr is the address of the metadata service.
var MetadataAddr = netip.MustParseAddr("169.254.169.254")

// Metadata serves the metadata service of a network, or of a router, on
// a listener the driver opened for it, until the listener closes.
type Metadata interface {
	ServeMetadata(networkID string, l net.Listener)
	ServeRouterMetadata(routerID string, l net.Listener)
}

// listenMetadata opens the network's metadata listener in its DHCP
// namespace, unless it is open; the caller holds d.mu.
func (d *Driver) listenMetadata(id, ns string) error {
	return d.listen(id, ns, func(l net.Listener) { d.meta.ServeMetadata(id, l) })
}

// listenRouterMetadata opens the router's metadata listener in its
// namespace, unless it is open; the caller holds d.mu.
func (d *Driver) listenRouterMetadata(id, ns string) error {
	return d.listen(routerKey(id), ns, func(l net.Listener) { d.meta.ServeRouterMetadata(id, l) })
}

// routerKey is a router's key among the listeners (a network's is its id).
func routerKey(id string) string { return "router/" + id }

func (d *Driver) listen(key, ns string, serve func(net.Listener)) error {
	if d.meta == nil || d.listeners[key] != nil {
		return nil
	}
	l, err := listenIn(ns, "tcp4", net.JoinHostPort(MetadataAddr.String(), "80"))
	if err != nil {
		return err
	}
	d.listeners[key] = l
	go serve(l)
	return nil
}

// closeMetadata closes the network's metadata listener; the caller holds d.mu.
func (d *Driver) closeMetadata(id string) {
	if l := d.listeners[id]; l != nil {
		l.Close()
		delete(d.listeners, id)
	}
}

// listenIn listens on addr from inside the named namespace.
func listenIn(ns, network, addr string) (l net.Listener, err error) {
	err = InNamespace(ns, func() error { l, err = net.Listen(network, addr); return err })
	return l, err
}

// InNamespace runs fn on a thread inside the named network namespace
// (and back in its own after): the sockets fn makes live there.
func InNamespace(ns string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	// A thread that could not go back stays locked, so it ends with the
	// goroutine instead of serving others in the wrong namespace.
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	target, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return err
	}
	return fn()
}
