package qemu

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// NIC hot-plug. QEMU runs without privileges, so it cannot open a tap:
// sov opens it (as QEMU did at start) and hands QEMU the descriptor over
// QMP (getfd); the NIC goes onto a free PCIe root port of those made at
// start. Unplugging waits for the guest to release the device.

// AttachNIC plugs nic into the running VM and records it in the saved spec.
func (d *Driver) AttachNIC(id string, nic hypervisor.NIC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	spec, err := d.SavedSpec(id)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(spec.NICs, func(n hypervisor.NIC) bool { return n.Tap == nic.Tap }) {
		return nil
	}
	nic.Slot = ""
	for i := range hypervisor.MaxHotplugNICs {
		port := "hp" + strconv.Itoa(i)
		if !slices.ContainsFunc(spec.NICs, func(n hypervisor.NIC) bool { return n.Slot == port }) {
			nic.Slot = port
			break
		}
	}
	if nic.Slot == "" {
		return fmt.Errorf("qemu: %d NICs are plugged in already, the most a running VM takes", hypervisor.MaxHotplugNICs)
	}
	tap, err := openTap(nic.Tap)
	if err != nil {
		return err
	}
	defer tap.Close()
	q, err := dialQMP(d.path(id, "qmp.sock"), 30*time.Second)
	if err != nil {
		return err
	}
	defer q.close()
	fdname := "fd-" + nic.Tap
	if err := q.sendFD(fdname, int(tap.Fd())); err != nil {
		return err
	}
	if _, err := q.execute("netdev_add", map[string]any{"type": "tap", "id": "net-" + nic.Tap, "fd": fdname}); err != nil {
		q.execute("closefd", map[string]any{"fdname": fdname})
		return err
	}
	// No option ROM: the chrooted QEMU could not read one, and only a boot
	// from the network would need it.
	if _, err := q.execute("device_add", map[string]any{"driver": "virtio-net-pci", "netdev": "net-" + nic.Tap, "mac": nic.MAC,
		"id": "nic-" + nic.Tap, "bus": nic.Slot, "romfile": ""}); err != nil {
		q.execute("netdev_del", map[string]any{"id": "net-" + nic.Tap})
		return err
	}
	spec.NICs = append(spec.NICs, nic)
	return d.saveSpec(spec)
}

// DetachNIC unplugs the NIC on tap and takes it from the saved spec; a
// NIC the VM does not have is fine.
func (d *Driver) DetachNIC(id, tap string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	spec, err := d.SavedSpec(id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(spec.NICs, func(n hypervisor.NIC) bool { return n.Tap == tap })
	if i < 0 {
		return nil
	}
	if running, _ := d.Running(id); running {
		q, err := dialQMP(d.path(id, "qmp.sock"), 30*time.Second)
		if err != nil {
			return err
		}
		defer q.close()
		if _, err := q.execute("device_del", map[string]any{"id": "nic-" + tap}); err != nil {
			return err
		}
		if err := q.waitGone("nic-"+tap, 20*time.Second); err != nil {
			return err
		}
		if _, err := q.execute("netdev_del", map[string]any{"id": "net-" + tap}); err != nil {
			return err
		}
	}
	spec.NICs = slices.Delete(spec.NICs, i, i+1)
	return d.saveSpec(spec)
}

// openTap opens an existing tap device as QEMU opens its own.
func openTap(name string) (*os.File, error) {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		f.Close()
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(int(f.Fd()), unix.TUNSETIFF, ifr); err != nil {
		f.Close()
		return nil, fmt.Errorf("qemu: open tap %s: %w", name, err)
	}
	return f, nil
}

// waitGone waits until the guest has released a device QEMU was asked to
// unplug (it is no longer among the machine's peripherals).
func (q *qmp) waitGone(device string, timeout time.Duration) error {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		out, err := q.execute("qom-list", map[string]any{"path": "/machine/peripheral"})
		if err != nil {
			return err
		}
		var props []struct{ Name string }
		json.Unmarshal(out, &props)
		if !slices.ContainsFunc(props, func(p struct{ Name string }) bool { return p.Name == device }) {
			return nil
		}
	}
	return fmt.Errorf("qemu: the guest did not release %s within %s", device, timeout)
}
