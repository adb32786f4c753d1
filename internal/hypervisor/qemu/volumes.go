package qemu

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// Volume hot-plug. QEMU runs chrooted without privileges, so it cannot
// open a volume's file: sov opens it and hands QEMU the descriptor over
// QMP (add-fd, into an fd set of the volume's slot), and the block node
// opens /dev/fdset/N, which QEMU resolves to a copy of that descriptor.
// The volume goes onto its own PCIe root port of those made at start.

// fdset is the QMP fd set that holds the descriptor of the volume on slot.
func fdset(slot string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(slot, "vp"))
	return 100 + n
}

// AttachVolume plugs v into the running VM and records it in the saved spec.
func (d *Driver) AttachVolume(id string, v hypervisor.Volume) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	spec, err := d.SavedSpec(id)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(spec.Volumes, func(o hypervisor.Volume) bool { return o.Serial == v.Serial }) {
		return nil
	}
	if v.Slot, err = freeVolumeSlot(spec.Volumes); err != nil {
		return err
	}
	if v.Disk.Backing != nil {
		return fmt.Errorf("qemu: a volume cannot have a backing image")
	}
	flags := os.O_RDWR
	if v.Disk.ReadOnly {
		flags = os.O_RDONLY
	}
	f, err := os.OpenFile(v.Disk.Path, flags, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	q, err := dialQMP(d.path(id, "qmp.sock"), 30*time.Second)
	if err != nil {
		return err
	}
	defer q.close()
	set := fdset(v.Slot)
	q.execute("remove-fd", map[string]any{"fdset-id": set}) // what a failed attach may have left
	if err := q.addFD(set, int(f.Fd())); err != nil {
		return err
	}
	opened := *v.Disk
	opened.Path = "/dev/fdset/" + strconv.Itoa(set)
	nodes, err := diskNodes(&opened, v.Slot)
	if err != nil {
		return err
	}
	undo := func() {
		for i := len(nodes) - 1; i >= 0; i-- {
			q.execute("blockdev-del", map[string]any{"node-name": nodes[i]["node-name"]})
		}
		q.execute("object-del", map[string]any{"id": keyID(v.Slot)})
		q.execute("object-del", map[string]any{"id": throttleID(v.Slot)})
		q.execute("remove-fd", map[string]any{"fdset-id": set})
	}
	if v.Disk.Throttle != nil {
		q.execute("object-del", map[string]any{"id": throttleID(v.Slot)}) // what a failed attach may have left
		if _, err := q.execute("object-add", throttleGroup(v.Disk.Throttle, v.Slot)); err != nil {
			undo()
			return err
		}
	}
	if v.Disk.Encrypted {
		// The passphrase goes over QMP's socket, which only sov opens.
		p, err := passphrase(v.Disk)
		if err != nil {
			undo()
			return err
		}
		q.execute("object-del", map[string]any{"id": keyID(v.Slot)}) // what a failed attach may have left
		if _, err := q.execute("object-add", map[string]any{"qom-type": "secret", "id": keyID(v.Slot), "data": string(p)}); err != nil {
			undo()
			return err
		}
	}
	for _, n := range nodes {
		if _, err := q.execute("blockdev-add", n); err != nil {
			undo()
			return err
		}
	}
	if _, err := q.execute("device_add", volumeDevice(v)); err != nil {
		undo()
		return err
	}
	spec.Volumes = append(spec.Volumes, v)
	return d.saveSpec(spec)
}

// DetachVolume unplugs the volume with serial, waits for the guest to let
// go of it, closes QEMU's descriptors of it and takes it from the saved spec.
func (d *Driver) DetachVolume(id, serial string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	spec, err := d.SavedSpec(id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(spec.Volumes, func(v hypervisor.Volume) bool { return v.Serial == serial })
	if i < 0 {
		return nil
	}
	v := spec.Volumes[i]
	if running, _ := d.Running(id); running {
		q, err := dialQMP(d.path(id, "qmp.sock"), 30*time.Second)
		if err != nil {
			return err
		}
		defer q.close()
		if err := q.unplug(v.Slot + "-dev"); err != nil {
			return err
		}
		// The top node first: it holds the nodes under it.
		for _, node := range []string{v.Slot, v.Slot + "-luks", v.Slot + "-data", v.Slot + "-file"} {
			if err := q.blockdevDel(node); err != nil {
				return err
			}
		}
		if v.Disk.Encrypted {
			q.execute("object-del", map[string]any{"id": keyID(v.Slot)})
		}
		if v.Disk.Throttle != nil {
			q.execute("object-del", map[string]any{"id": throttleID(v.Slot)})
		}
		// A volume plugged in at start was opened by path: no fd set.
		q.execute("remove-fd", map[string]any{"fdset-id": fdset(v.Slot)})
	}
	spec.Volumes = slices.Delete(spec.Volumes, i, i+1)
	return d.saveSpec(spec)
}

// unplug asks the guest to release a device and waits until it has; a
// device already gone is fine (an earlier unplug finished without us).
// As Nova does, it asks again when the guest does not answer (one busy
// or still booting may miss the request): eight times, 20 s each (Nova's
// device_detach_attempts and device_detach_timeout).
func (q *qmp) unplug(device string) error {
	var err error
	for range 8 {
		if _, err := q.execute("device_del", map[string]any{"id": device}); err != nil {
			if strings.Contains(err.Error(), "not found") {
				return nil
			}
			// Still pending from the last ask: wait on.
			if !strings.Contains(err.Error(), "process of unplug") && !strings.Contains(err.Error(), "guest is busy") {
				return err
			}
		}
		if err = q.waitGone(device, 20*time.Second); err == nil {
			return nil
		}
	}
	return err
}

// blockdevDel deletes a block node; one that is not there is fine. A
// device the guest has released may hold its node a moment longer (QEMU
// frees it after the device has left the machine's tree), so a node in
// use is asked for again, for up to ten seconds.
func (q *qmp) blockdevDel(node string) error {
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := q.execute("blockdev-del", map[string]any{"node-name": node})
		switch {
		case err == nil || strings.Contains(err.Error(), "Failed to find node"):
			return nil
		case !strings.Contains(err.Error(), "is in use") || time.Now().After(end):
			return err
		}
	}
}

// addFD hands QEMU a descriptor into fd set set (add-fd).
func (q *qmp) addFD(set, fd int) error {
	_, err := q.send("add-fd", map[string]any{"fdset-id": set}, fd)
	return err
}

// ResizeVolume grows the volume with serial: QEMU grows its image
// (block_resize) and the guest sees the new capacity.
func (d *Driver) ResizeVolume(id, serial string, size int64) error {
	spec, err := d.SavedSpec(id)
	if err != nil {
		return err
	}
	node, _, err := volumeNode(spec, serial)
	if err != nil {
		return err
	}
	q, err := dialQMP(d.path(id, "qmp.sock"), 30*time.Second)
	if err != nil {
		return err
	}
	defer q.close()
	// The top node grows what it stands on (an encrypted disk's luks node
	// its container).
	_, err = q.execute("block_resize", map[string]any{"node-name": node, "size": size})
	return err
}

// volumeNode is the top block node of the volume with serial, the root
// disk's ("" for a root disk made of an image) or an attached volume's,
// and its disk.
func volumeNode(spec *hypervisor.Spec, serial string) (string, *hypervisor.Disk, error) {
	if serial == spec.RootSerial {
		return "disk0", spec.Disk, nil
	}
	i := slices.IndexFunc(spec.Volumes, func(v hypervisor.Volume) bool { return v.Serial == serial })
	if i < 0 {
		return "", nil, fmt.Errorf("qemu: %s has no volume %s", spec.ID, serial)
	}
	return spec.Volumes[i].Slot, spec.Volumes[i].Disk, nil
}

// CopyVolume copies the volume with serial into target with a backup job
// of QEMU's (blockdev-backup, sync full): the copy is of the moment the
// job starts, the guest's later writes first save the old data to it.
// sov opens the target and passes it as an fd set, as for hot-plug. Of an
// encrypted volume it copies the LUKS container, still encrypted.
func (d *Driver) CopyVolume(id, serial string, target *hypervisor.Disk) error {
	spec, err := d.SavedSpec(id)
	if err != nil {
		return err
	}
	node, disk, err := volumeNode(spec, serial)
	if err != nil {
		return err
	}
	set := 300 + fdset(node)%100
	if node == "disk0" {
		set = 299
	}
	node = dataNode(disk, node)
	f, err := os.OpenFile(target.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	q, err := dialQMP(d.path(id, "qmp.sock"), 30*time.Second)
	if err != nil {
		return err
	}
	defer q.close()
	job := "copy-" + node
	q.execute("remove-fd", map[string]any{"fdset-id": set})
	if err := q.addFD(set, int(f.Fd())); err != nil {
		return err
	}
	defer q.execute("remove-fd", map[string]any{"fdset-id": set})
	nodes, err := diskNodes(&hypervisor.Disk{Path: "/dev/fdset/" + strconv.Itoa(set), Format: target.Format}, job)
	if err != nil {
		return err
	}
	defer func() {
		for i := len(nodes) - 1; i >= 0; i-- {
			q.execute("blockdev-del", map[string]any{"node-name": nodes[i]["node-name"]})
		}
	}()
	for _, n := range nodes {
		if _, err := q.execute("blockdev-add", n); err != nil {
			return err
		}
	}
	if _, err := q.execute("blockdev-backup", map[string]any{"job-id": job, "device": node, "target": job, "sync": "full",
		"auto-dismiss": false}); err != nil {
		return err
	}
	defer q.execute("job-dismiss", map[string]any{"id": job})
	for {
		out, err := q.execute("query-jobs", nil)
		if err != nil {
			return err
		}
		var jobs []struct{ ID, Status, Error string }
		json.Unmarshal(out, &jobs)
		i := slices.IndexFunc(jobs, func(j struct{ ID, Status, Error string }) bool { return j.ID == job })
		switch {
		case i < 0:
			return fmt.Errorf("qemu: the copy job of %s is gone", serial)
		case jobs[i].Status == "concluded" && jobs[i].Error != "":
			return fmt.Errorf("qemu: copying %s: %s", serial, jobs[i].Error)
		case jobs[i].Status == "concluded":
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
