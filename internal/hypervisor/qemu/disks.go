package qemu

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// blockdev is one block node: the object -blockdev and QMP's blockdev-add take.
type blockdev map[string]any

// diskNodes returns the block nodes of d, the ones it stands on first, the
// top node named name last: the format node; or, when there are nodes on
// it, the top one of these (the format node is then dataNode(name)): the
// luks node of an encrypted disk, which opens the LUKS container with the
// secret object keyID(name), and the throttle node of a disk with I/O
// limits, in the throttle group throttleID(name).
func diskNodes(d *hypervisor.Disk, name string) ([]blockdev, error) {
	if d.Format != "qcow2" && d.Format != "raw" {
		return nil, fmt.Errorf("qemu: disk format %q is not supported", d.Format)
	}
	if d.Shared && (d.Format != "raw" || d.Encrypted) {
		return nil, fmt.Errorf("qemu: only a plain raw disk can be shared")
	}
	formatName := dataNode(d, name)
	if d.Encrypted && d.Backing != nil {
		return nil, fmt.Errorf("qemu: an encrypted disk cannot have a backing image")
	}
	file := blockdev{"driver": "file", "node-name": name + "-file", "filename": d.Path,
		"read-only": d.ReadOnly, "cache": map[string]bool{"direct": !d.ReadOnly}}
	format := blockdev{"driver": d.Format, "node-name": formatName, "file": name + "-file", "read-only": d.ReadOnly}
	if !d.ReadOnly {
		file["discard"], format["discard"] = "unmap", "unmap"
	}
	nodes := []blockdev{file}
	switch {
	case d.Backing != nil:
		if d.Format != "qcow2" {
			return nil, fmt.Errorf("qemu: a %s disk cannot have a backing image", d.Format)
		}
		under, err := diskNodes(d.Backing, name+"-base")
		if err != nil {
			return nil, err
		}
		nodes = append(under, file)
		format["backing"] = name + "-base"
	case d.Format == "qcow2":
		format["backing"] = nil // never the file named in the header
	}
	nodes = append(nodes, format)
	under := formatName
	if d.Encrypted {
		luks := name
		if d.Throttle != nil {
			luks = name + "-luks"
		}
		nodes = append(nodes, blockdev{"driver": "luks", "node-name": luks, "file": formatName, "key-secret": keyID(name), "read-only": d.ReadOnly})
		under = luks
	}
	if d.Throttle != nil {
		nodes = append(nodes, blockdev{"driver": "throttle", "node-name": name, "file": under, "throttle-group": throttleID(name)})
	}
	return nodes, nil
}

// dataNode is the format node of the disk d whose top node is name: name
// itself, or name-data under an encrypted disk's luks node or a throttle
// node. It holds the disk's data as the image has it (an encrypted
// disk's LUKS container), which copies take as it is.
func dataNode(d *hypervisor.Disk, name string) string {
	if d.Encrypted || d.Throttle != nil {
		return name + "-data"
	}
	return name
}

// throttleID is the id of the throttle group of the disk whose top node
// is name.
func throttleID(name string) string { return name + "-tg" }

// throttleGroup is the throttle-group object of a disk's limits, as
// -object and QMP's object-add take it.
func throttleGroup(t *hypervisor.Throttle, name string) map[string]any {
	limits := map[string]int64{}
	for k, v := range map[string]int64{"bps-total": t.BPS, "bps-read": t.BPSRead, "bps-write": t.BPSWrite,
		"iops-total": t.IOPS, "iops-read": t.IOPSRead, "iops-write": t.IOPSWrite,
		"bps-total-max": t.BPSMax, "bps-read-max": t.BPSReadMax, "bps-write-max": t.BPSWriteMax,
		"iops-total-max": t.IOPSMax, "iops-read-max": t.IOPSReadMax, "iops-write-max": t.IOPSWriteMax, "iops-size": t.SizeIOPS} {
		if v > 0 {
			limits[k] = v
		}
	}
	return map[string]any{"qom-type": "throttle-group", "id": throttleID(name), "limits": limits}
}

// keyID is the id of the secret object that opens the encrypted disk
// whose top node is name.
func keyID(name string) string { return name + "-key" }

// passphrase is an encrypted disk's passphrase, which must be given.
func passphrase(d *hypervisor.Disk) ([]byte, error) {
	if len(d.Passphrase) == 0 {
		return nil, fmt.Errorf("qemu: encrypted disk %s has no passphrase", d.Path)
	}
	return d.Passphrase, nil
}

// diskArgs is the one place that turns disks into QEMU arguments: each
// disk's block nodes and a virtio-blk device on its top node; the first
// (the root disk) has rootSerial as its serial, if any.
func diskArgs(disks []*hypervisor.Disk, rootSerial string, keys *secretFiles) ([]string, error) {
	var a []string
	for i, d := range disks {
		name := fmt.Sprintf("disk%d", i)
		nodes, err := blockdevArgs(d, name, keys)
		if err != nil {
			return nil, err
		}
		a = append(a, nodes...)
		dev := "virtio-blk-pci,drive=" + name + ",id=" + name + "-dev"
		if !d.ReadOnly {
			dev += ",write-cache=on"
		}
		if d.Shared {
			dev += ",share-rw=on"
		}
		if i == 0 && rootSerial != "" {
			dev += ",serial=" + rootSerial
		}
		a = append(a, "-device", dev)
	}
	return a, nil
}

// blockdevArgs are the -blockdev arguments of a disk's nodes, after the
// -object of its secret if it is encrypted.
func blockdevArgs(d *hypervisor.Disk, name string, keys *secretFiles) ([]string, error) {
	nodes, err := diskNodes(d, name)
	if err != nil {
		return nil, err
	}
	var a []string
	if d.Encrypted {
		p, err := passphrase(d)
		if err != nil {
			return nil, err
		}
		path, err := keys.add(p)
		if err != nil {
			return nil, err
		}
		a = append(a, "-object", "secret,id="+keyID(name)+",file="+path)
	}
	if d.Throttle != nil {
		b, _ := json.Marshal(throttleGroup(d.Throttle, name))
		a = append(a, "-object", string(b))
	}
	for _, n := range nodes {
		b, _ := json.Marshal(n)
		a = append(a, "-blockdev", string(b))
	}
	return a, nil
}

// volumeSlot is the name of the i-th root port for volumes, which is also
// the name of the block node of the volume on it.
func volumeSlot(i int) string { return "vp" + strconv.Itoa(i) }

// volumeDevice is the virtio-blk device of a volume on its slot: the guest
// sees the serial in /sys/block/vdX/serial (and /dev/disk/by-id).
func volumeDevice(v hypervisor.Volume) map[string]any {
	dev := map[string]any{"driver": "virtio-blk-pci", "drive": v.Slot, "id": v.Slot + "-dev", "bus": v.Slot, "serial": v.Serial}
	if !v.Disk.ReadOnly {
		dev["write-cache"] = "on"
	}
	if v.Disk.Shared {
		// Other VMs' writers are let in (QEMU's image locking keeps them
		// out otherwise).
		dev["share-rw"] = true
	}
	return dev
}

// freeVolumeSlot is the first volume root port no volume of vols is on.
func freeVolumeSlot(vols []hypervisor.Volume) (string, error) {
	for i := range hypervisor.MaxVolumes {
		if !slices.ContainsFunc(vols, func(v hypervisor.Volume) bool { return v.Slot == volumeSlot(i) }) {
			return volumeSlot(i), nil
		}
	}
	return "", fmt.Errorf("qemu: a VM has at most %d volumes", hypervisor.MaxVolumes)
}

// volumeArgs places the spec's volumes on root ports (a volume keeps the
// one it was plugged into) and returns the ports, all of them made so
// that volumes can be plugged in later, and the volumes' nodes and devices.
func volumeArgs(s *hypervisor.Spec, keys *secretFiles) ([]string, error) {
	var a []string
	for i := range hypervisor.MaxVolumes {
		// No I/O ports: virtio devices on PCIe need none, and 16 ports
		// reserving 4 KiB each would take the machine's whole I/O space.
		a = append(a, "-device", fmt.Sprintf("pcie-root-port,id=%s,chassis=%d,bus=pcie.0,io-reserve=0", volumeSlot(i), 200+i))
	}
	for i := range s.Volumes {
		v := &s.Volumes[i]
		if v.Slot == "" || slices.ContainsFunc(s.Volumes[:i], func(o hypervisor.Volume) bool { return o.Slot == v.Slot }) {
			slot, err := freeVolumeSlot(s.Volumes)
			if err != nil {
				return nil, err
			}
			v.Slot = slot
		}
		nodes, err := blockdevArgs(v.Disk, v.Slot, keys)
		if err != nil {
			return nil, err
		}
		dev, _ := json.Marshal(volumeDevice(*v))
		a = append(append(a, nodes...), "-device", string(dev))
	}
	return a, nil
}

// secretFiles hands QEMU the passphrases of a VM's encrypted disks at
// start, never on its command line (which every user of the host can
// read) nor in a file: each is written into a pipe whose read end QEMU
// inherits, and a secret object reads it from /dev/fd/N (before QEMU
// drops its privileges and enters its empty root).
type secretFiles struct{ files []*os.File }

// add makes the pipe of a passphrase and returns the path QEMU reads it
// from, the pipe's read end as QEMU's descriptor 3+i (cmd.ExtraFiles).
func (k *secretFiles) add(passphrase []byte) (string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	// A pipe holds 64 KiB: the write does not wait for a reader.
	_, err = w.Write(passphrase)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return "", err
	}
	k.files = append(k.files, r)
	return "/dev/fd/" + strconv.Itoa(2+len(k.files)), nil
}

// close closes the read ends (QEMU has its copies once started).
func (k *secretFiles) close() {
	for _, f := range k.files {
		f.Close()
	}
}
