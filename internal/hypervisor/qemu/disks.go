package qemu

import (
	"encoding/json"
	"fmt"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// blockdev is one block node: the object -blockdev and QMP's blockdev-add take.
type blockdev map[string]any

// diskNodes returns the block nodes of d, the ones it stands on first, the
// format node named name last.
func diskNodes(d *hypervisor.Disk, name string) ([]blockdev, error) {
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
		under, err := diskNodes(d.Backing, name+"-base")
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
func diskArgs(disks []*hypervisor.Disk) ([]string, error) {
	var a []string
	for i, d := range disks {
		name := fmt.Sprintf("disk%d", i)
		nodes, err := diskNodes(d, name)
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
