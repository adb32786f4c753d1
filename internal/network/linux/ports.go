package linux

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

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
	}
	return setDevices(dir, now, func() error {
		var errs []error
		for _, p := range n.Ports {
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

// removeLink deletes a link; a gone one is fine.
func removeLink(name string) error {
	if link, err := netlink.LinkByName(name); err == nil {
		return netlink.LinkDel(link)
	}
	return nil
}
