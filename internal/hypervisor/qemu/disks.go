package qemu

import (
	"encoding/json"
	"fmt"
)

// Disk is a disk image QEMU opens. Its format is always named, so QEMU
// never probes the data; its backing image, if any, is named too, so QEMU
// never follows a file name written in the image's header.
type Disk struct {
	Path string
	// Format is "qcow2" or "raw".
	Format   string
	ReadOnly bool
	// Backing is the image under a qcow2 overlay; nil means none, whatever
	// the image's header says.
	Backing *Disk
}

// blockdev is one block node: the object -blockdev and QMP's blockdev-add take.
type blockdev map[string]any

// nodes returns the block nodes of d, the ones it stands on first, the
// format node named name last.
func (d *Disk) nodes(name string) ([]blockdev, error) {
	if d.Format != "qcow2" && d.Format != "raw" {
		return nil, fmt.Errorf("qemu: disk format %q is not supported", d.Format)
	}
	file := blockdev{"driver": "file", "node-name": name + "-file", "filename": d.Path,
		"read-only": d.ReadOnly, "cache": map[string]bool{"direct": !d.ReadOnly}}
	format := blockdev{"driver": d.Format, "node-name": name, "file": name + "-file", "read-only": d.ReadOnly}
	if !d.ReadOnly {
		file["discard"], format["discard"] = "unmap", "unmap"
	}
	nodes := []blockdev{file}
	switch {
	case d.Backing != nil:
		if d.Format != "qcow2" {
			return nil, fmt.Errorf("qemu: a %s disk cannot have a backing image", d.Format)
		}
		under, err := d.Backing.nodes(name + "-base")
		if err != nil {
			return nil, err
		}
		nodes = append(under, file)
		format["backing"] = name + "-base"
	case d.Format == "qcow2":
		format["backing"] = nil // never the file named in the header
	}
	return append(nodes, format), nil
}

// diskArgs is the one place that turns disks into QEMU arguments: each
// disk's block nodes and a virtio-blk device on its top node.
func diskArgs(disks []*Disk) ([]string, error) {
	var a []string
	for i, d := range disks {
		name := fmt.Sprintf("disk%d", i)
		nodes, err := d.nodes(name)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			b, _ := json.Marshal(n)
			a = append(a, "-blockdev", string(b))
		}
		dev := "virtio-blk-pci,drive=" + name + ",id=" + name + "-dev"
		if !d.ReadOnly {
			dev += ",write-cache=on"
		}
		a = append(a, "-device", dev)
	}
	return a, nil
}
