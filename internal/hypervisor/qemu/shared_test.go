package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// TestSharedDisks: a raw disk marked shared (a multi-attach volume) is
// open in two VMs at once, one given it at start and one plugged in
// later, and what one writes the other reads; a VM that does not share
// is kept out by QEMU's image locking, and a qcow2 disk is never shared.
func TestSharedDisks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the QEMU driver tests need root (as sov does to run servers)")
	}
	d, err := New(filepath.Join(t.TempDir(), "instances"), "tcg", testEngines(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared.raw")
	qemuImg(t, "create", "-q", "-f", "raw", shared, "4M")
	serial := "7f8e0b44-0000-4000-8000-00000000005a"
	vm := func(n string, vols ...hypervisor.Volume) string {
		id := "00000000-0000-4000-8000-0000000000f" + n
		root := filepath.Join(dir, "root"+n+".qcow2")
		qemuImg(t, "create", "-q", "-f", "qcow2", root, "4M")
		os.MkdirAll(d.Dir(id), 0o700)
		if err := d.Start(&hypervisor.Spec{ID: id, VCPUs: 1, RAMMiB: 64, Disk: &hypervisor.Disk{Path: root, Format: "qcow2"}, Volumes: vols}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Destroy(id) })
		return id
	}
	a := vm("1", hypervisor.Volume{Serial: serial, Disk: &hypervisor.Disk{Path: shared, Format: "raw", Shared: true}})
	b := vm("2")
	if err := d.AttachVolume(b, hypervisor.Volume{Serial: serial, Disk: &hypervisor.Disk{Path: shared, Format: "raw", Shared: true}}); err != nil {
		t.Fatalf("plug the shared disk into a second VM: %v", err)
	}
	sa, _ := d.SavedSpec(a)
	sb, _ := d.SavedSpec(b)
	if out := qemuIO(t, d, a, sa.Volumes[0].Slot, "write -P 0x6b 0 64k", "wrote 65536/65536"); !strings.Contains(out, "wrote 65536/65536") {
		t.Fatalf("write in the first VM: %s", out)
	}
	if out := qemuIO(t, d, b, sb.Volumes[0].Slot, "read -P 0x6b 0 64k", "read 65536/65536"); !strings.Contains(out, "read 65536/65536") {
		t.Errorf("the second VM does not read what the first wrote: %s", out)
	}

	// Not shared by the third: the lock keeps it out, and it is left clean.
	c := vm("3")
	if err := d.AttachVolume(c, hypervisor.Volume{Serial: serial, Disk: &hypervisor.Disk{Path: shared, Format: "raw"}}); err == nil {
		t.Error("a VM that does not share the disk opened it while two others write it")
	} else if sc, _ := d.SavedSpec(c); len(sc.Volumes) != 0 {
		t.Errorf("the refused attach is in the saved spec: %+v", sc.Volumes)
	}
	qcow := filepath.Join(dir, "one-writer.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", qcow, "4M")
	if err := d.AttachVolume(c, hypervisor.Volume{Serial: serial, Disk: &hypervisor.Disk{Path: qcow, Format: "qcow2", Shared: true}}); err == nil {
		t.Error("a qcow2 disk was shared")
	}
}
