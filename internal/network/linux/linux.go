// Package linux is the data plane of an all-in-one sov: every network is
// a Linux bridge of its own (its own L2 domain, so two projects may use
// one CIDR), and each network's DHCP server is a dnsmasq in a network
// namespace of its own, on a veth port of the network's bridge, answering
// from the network's DHCP port. (One VLAN-aware bridge with a VLAN per
// network would do as well where the kernel has bridge VLAN filtering;
// the machines sov is tested on do not.)
package linux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/sovcloud/sov/internal/network/dataplane"
)

// Engines records the dnsmasq processes, so that they outlive sov (VMs
// keep their leases while sov restarts), are adopted by the next start
// and are stopped by sov down (see package engines).
type Engines interface {
	Start(ctx context.Context, kind, name string, cmd *exec.Cmd) error
	Running(ctx context.Context, kind, name string) (int, bool)
	Stop(ctx context.Context, kind, name string, grace time.Duration) error
}

// Driver is the linux data plane. It changes only what its state
// directory names (one subdirectory per network, made before anything on
// the host), so clouds sharing a host never touch each other's networks.
type Driver struct {
	dir     string
	engines Engines
	meta    Metadata
	mu      sync.Mutex // one change of the host at a time, and the following
	// listeners are the metadata service's, by network.
	listeners map[string]net.Listener
}

// Open returns the driver; state files go to dir; meta (if not nil)
// serves the networks' metadata service.
func Open(dir string, engines Engines, meta Metadata) (*Driver, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Driver{dir: dir, engines: engines, meta: meta, listeners: map[string]net.Listener{}}, nil
}

// Close stops the metadata service and leaves networks and DHCP servers
// running for the next start.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.listeners {
		d.closeMetadata(id)
	}
	return nil
}

// ensureBridge makes (or finds) the network's bridge and brings it up.
func ensureBridge(id string, mtu int) (netlink.Link, error) {
	name := bridgeName(id)
	link, err := netlink.LinkByName(name)
	if err != nil {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}}); err != nil {
			return nil, fmt.Errorf("linux: create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return nil, err
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("linux: bridge %s up: %w", name, err)
	}
	// The bridge hands IP traffic to the inet hooks, where security groups are.
	for _, opt := range []string{"nf_call_iptables", "nf_call_ip6tables"} {
		if err := os.WriteFile(filepath.Join("/sys/class/net", name, "bridge", opt), []byte("1"), 0o644); err != nil {
			return nil, fmt.Errorf("linux: bridge %s: %w", name, err)
		}
	}
	return link, nil
}

// plug puts a link on a network's bridge.
func plug(link netlink.Link, network string) error {
	br, err := netlink.LinkByName(bridgeName(network))
	if err != nil {
		return fmt.Errorf("linux: network %s has no bridge: %w", network, err)
	}
	if err := netlink.LinkSetMaster(link, br); err != nil {
		return fmt.Errorf("linux: %s on %s: %w", link.Attrs().Name, br.Attrs().Name, err)
	}
	return netlink.LinkSetUp(link)
}

// namespace runs fn with the named namespace and a netlink handle inside
// it, making the namespace first if it does not exist.
func namespace(name string, fn func(ns netns.NsHandle, h *netlink.Handle) error) error {
	ns, err := netns.GetFromName(name)
	if err != nil {
		if ns, err = newNamespace(name); err != nil {
			return fmt.Errorf("linux: namespace %s: %w", name, err)
		}
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(ns, h)
}

// newNamespace makes a named namespace with iproute2, so that it is
// mounted where and as `ip netns` keeps them (/run/netns, shared), and
// returns a handle to it.
func newNamespace(name string) (netns.NsHandle, error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return netns.None(), fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	return netns.GetFromName(name)
}

// removeNamespace deletes a named namespace; a gone one is fine.
func removeNamespace(name string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns delete %s: %v: %s", name, err, out)
	}
	return nil
}

// RemoveAll removes what a driver with this state dir made on the host —
// namespaces, veths, bridges, taps, filter tables — once its processes
// are gone (sov down, a test's end); it needs no store.
func RemoveAll(dir string) error {
	d := &Driver{dir: dir}
	var errs []error
	for _, id := range d.stateDirs(routersDir) {
		errs = append(errs, removeRouter(filepath.Join(dir, routersDir, id), id))
	}
	for _, id := range d.stateDirs("") {
		sub := filepath.Join(dir, id)
		errs = append(errs, removeHostObjects(context.Background(), sub, id), os.RemoveAll(sub))
	}
	return errors.Join(errs...)
}

// endpoint makes (or finds) a veth pair whose outside end is on a
// network's bridge and whose inside end, in the namespace, has the MAC,
// the MTU and exactly the addresses given (link-local ones aside), up.
func endpoint(nsh netns.NsHandle, h *netlink.Handle, outside, insideName, network, mac string, mtu int, addrs []netip.Prefix) error {
	inside, err := h.LinkByName(insideName)
	if err != nil {
		if old, err := netlink.LinkByName(outside); err == nil {
			netlink.LinkDel(old) // half of an earlier pair
		}
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: outside, MTU: mtu}, PeerName: insideName}
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("linux: veth %s: %w", outside, err)
		}
		peer, err := netlink.LinkByName(insideName)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetNsFd(peer, int(nsh)); err != nil {
			return fmt.Errorf("linux: move %s: %w", insideName, err)
		}
		if inside, err = h.LinkByName(insideName); err != nil {
			return err
		}
	}
	out, err := netlink.LinkByName(outside)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMTU(out, mtu); err != nil {
		return err
	}
	if err := plug(out, network); err != nil {
		return err
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return err
	}
	if err := h.LinkSetHardwareAddr(inside, hw); err != nil {
		return err
	}
	if err := h.LinkSetMTU(inside, mtu); err != nil {
		return err
	}
	if err := setAddrs(h, inside, addrs); err != nil {
		return err
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		h.LinkSetUp(lo)
	}
	return h.LinkSetUp(inside)
}

// setAddrs gives a link exactly addrs, link-local ones aside.
func setAddrs(h *netlink.Handle, link netlink.Link, addrs []netip.Prefix) error {
	have, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	for _, a := range have {
		p, _ := netip.ParsePrefix(a.IPNet.String())
		if !slices.Contains(addrs, p) && !p.Addr().IsLinkLocalUnicast() {
			h.AddrDel(link, &a)
		}
	}
	for _, p := range addrs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if err := h.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("linux: address %s on %s: %w", p, link.Attrs().Name, err)
		}
	}
	return nil
}

// hostGateway gives the bridge of an external network (host-local) its
// subnets' gateway addresses, so the host reaches the network and routes
// its traffic on, and takes them from any other network's bridge.
func hostGateway(br netlink.Link, n *dataplane.Network) error {
	var addrs []netip.Prefix
	if n.External && n.Uplink == "" {
		for _, sn := range n.Subnets {
			if sn.Gateway.IsValid() {
				addrs = append(addrs, netip.PrefixFrom(sn.Gateway, sn.CIDR.Bits()))
			}
		}
		if len(addrs) > 0 {
			if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
				return fmt.Errorf("linux: forwarding: %w", err)
			}
		}
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	return setAddrs(h, br, addrs)
}
