package linux

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/sovcloud/sov/internal/network/dataplane"
)

// devicesFile lists, in a network's state directory, the port devices
// the driver put on the network, so that those of ports gone are removed.
const devicesFile = "devices"

// setPorts puts each port's device on the network's bridge (a missing
// one is made as a tap, which the VM's QEMU opens by name) and removes
// the devices of ports no longer on the network.
func setPorts(dir string, n *dataplane.Network) error {
	var now []string
	for _, p := range n.Ports {
		now = append(now, p.Device)
		if p.Namespace != "" {
			now = append(now, p.Namespace)
		}
	}
	return setDevices(dir, now, func() error {
		var errs []error
		for _, p := range n.Ports {
			if p.Namespace != "" {
				errs = append(errs, ensureNamespacedPort(p, n))
				continue
			}
			errs = append(errs, ensureDevice(p.Device, n.ID, n.MTU))
		}
		return errors.Join(append(errs, setUplink(n))...)
	})
}

// setUplink puts a network's uplink, a host interface, on its bridge.
// The interface is the operator's: sov never deletes it, and it leaves the
// bridge when the bridge goes.
func setUplink(n *dataplane.Network) error {
	if n.Uplink == "" {
		return nil
	}
	link, err := netlink.LinkByName(n.Uplink)
	if err != nil {
		return fmt.Errorf("linux: uplink %s of network %s: %w", n.Uplink, n.ID, err)
	}
	return plug(link, n.ID)
}

// setDevices keeps the devices file of a state directory (a network's,
// a router's) in step with apply, which puts the devices now on the host:
// now is recorded beside the devices there were before apply runs (so a
// crash in between leaves every device named), those not in now are
// removed after it, and now alone is recorded once all went well.
func setDevices(dir string, now []string, apply func() error) error {
	old := readDevices(dir)
	if err := writeFile(filepath.Join(dir, devicesFile), strings.Join(append(slices.Clone(now), old...), "\n")); err != nil {
		return err
	}
	errs := []error{apply()}
	for _, name := range old {
		if !slices.Contains(now, name) {
			errs = append(errs, removeLink(name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, devicesFile), strings.Join(now, "\n"))
}

// ensureDevice makes (or finds) a port's device and puts it on the
// network's bridge with the network's MTU.
func ensureDevice(name, network string, mtu int) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		tap := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}, Mode: netlink.TUNTAP_MODE_TAP,
			Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR}
		if err := netlink.LinkAdd(tap); err != nil {
			return fmt.Errorf("linux: create tap %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return fmt.Errorf("linux: %s mtu: %w", name, err)
	}
	return plug(link, network)
}

func readDevices(dir string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, devicesFile))
	return strings.Fields(string(b))
}

// ensureNamespacedPort makes a port's namespace with its veth: the
// device outside on the network's bridge, the inside end ("in" and the
// port's 11 characters, a name no host device has while the pair is made
// there) with the port's MAC and addresses, and the default route via its
// gateway.
func ensureNamespacedPort(p dataplane.Port, n *dataplane.Network) error {
	return namespace(p.Namespace, func(nsh netns.NsHandle, h *netlink.Handle) error {
		if err := endpoint(nsh, h, p.Device, "in"+strings.TrimPrefix(p.Device, "tap"), n.ID, p.MAC, n.MTU, p.Inside); err != nil {
			return err
		}
		def := &netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}}
		if !p.Gateway.IsValid() {
			if err := h.RouteDel(def); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("linux: default route of port %s: %w", p.ID, err)
			}
			return nil
		}
		def.Gw = p.Gateway.AsSlice()
		if err := h.RouteReplace(def); err != nil {
			return fmt.Errorf("linux: default route of port %s via %s: %w", p.ID, p.Gateway, err)
		}
		return nil
	})
}

// removeLink deletes a link, or the namespace of a port (whose name the
// devices file lists beside its device); a gone one is fine.
func removeLink(name string) error {
	if strings.HasPrefix(name, dataplane.PortNamespacePrefix) {
		return removeNamespace(name)
	}
	if link, err := netlink.LinkByName(name); err == nil {
		return netlink.LinkDel(link)
	}
	return nil
}
