// Package backendtest is the behaviour every volume driver shows, run by
// each driver's own tests against its real engine.
package backendtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/volume/backend"
)

// Probe reads and writes a driver's volumes as a guest would, through
// the driver's engine.
type Probe interface {
	// Size is a volume's size (false when the driver holds no such volume).
	Size(id string) (int64, bool)
	// Write writes a pattern of the byte into the volume.
	Write(id string, pattern byte)
	// Read is the pattern the volume holds (false when there is none).
	Read(id string) (byte, bool)
}

// Run checks d through p, with every volume encrypted by enc (nil: none;
// p then reads and writes through the containers' passphrase).
func Run(t *testing.T, d backend.Driver, p Probe, enc *backend.Encryption) {
	ctx := context.Background()
	const a, b, c = "0a0a0a0a-0000-4000-8000-00000000000a", "0b0b0b0b-0000-4000-8000-00000000000b", "0c0c0c0c-0000-4000-8000-00000000000c"
	const clone, snap = "0d0d0d0d-0000-4000-8000-00000000000d", "05050505-0000-4000-8000-000000000005"
	const imported = "0e0e0e0e-0000-4000-8000-00000000000e"
	const gib = int64(1) << 30
	for _, id := range []string{a, b} {
		if err := d.Create(ctx, id, gib, enc); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	if n, ok := p.Size(a); !ok || n != gib {
		t.Errorf("size after create: %d %v, want %d", n, ok, gib)
	}
	p.Write(a, 0xa1)
	if err := d.Extend(ctx, a, 3*gib, enc); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if n, ok := p.Size(a); !ok || n != 3*gib {
		t.Errorf("size after extend: %d %v, want %d", n, ok, 3*gib)
	}
	if got, ok := p.Read(a); !ok || got != 0xa1 {
		t.Errorf("data after extend: %#x %v", got, ok)
	}
	if n, _ := p.Size(b); n != gib {
		t.Errorf("the other volume's size changed to %d", n)
	}
	ids, err := d.List(ctx)
	if err != nil || !slices.Equal(ids, []string{a, b}) && !slices.Equal(ids, []string{b, a}) {
		t.Errorf("list: %v %v", ids, err)
	}
	if err := d.Extend(ctx, c, gib, enc); err == nil {
		t.Error("extending a volume that is not there succeeded")
	}
	exported, err := d.Export(ctx, a, t.TempDir())
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	// An export is the volume's data, or an encrypted one's container
	// (its header before the data, a few MiB).
	fi, err := exported.Stat()
	if err != nil || fi.Size() != 3*gib && (enc == nil || fi.Size() < 3*gib || fi.Size() > 3*gib+32<<20) {
		t.Errorf("the export is %v bytes, %v; the volume's %d", fi.Size(), err, 3*gib)
	}
	// An export imports to a volume with the same data (an encrypted
	// one's container as it is, grown by a GiB).
	const copied = "0f0f0f0f-0000-4000-8000-00000000000f"
	format, size := "raw", 3*gib
	if enc != nil {
		format, size = "luks", 4*gib
	}
	if err := d.Import(ctx, copied, exported, format, size, enc); err != nil {
		t.Fatalf("import of an export: %v", err)
	}
	exported.Close()
	if got, ok := p.Read(copied); !ok || got != 0xa1 {
		t.Errorf("the volume imported from an export holds %#x %v, want 0xa1", got, ok)
	}
	if n, _ := p.Size(copied); n != size {
		t.Errorf("the volume imported from an export has %d bytes, want %d", n, size)
	}
	if err := d.Delete(ctx, copied); err != nil {
		t.Fatal(err)
	}
	if disk, err := d.Disk(ctx, a); err != nil || disk.Path == "" || disk.Backing != nil || (disk.Format != "qcow2" && disk.Format != "raw") {
		t.Errorf("the disk of a volume: %+v, %v", disk, err)
	}
	if disk, err := d.Disk(ctx, c); err == nil {
		t.Errorf("a volume that is not there has a disk: %+v", disk)
	}

	// A snapshot keeps the data of its moment; a restore and a clone copy it.
	if err := d.Snapshot(ctx, snap, a); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	p.Write(a, 0xa2)
	if err := d.Restore(ctx, c, snap, 4*gib, enc); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got, ok := p.Read(c); !ok || got != 0xa1 {
		t.Errorf("the restored volume holds %#x %v, want the snapshot's 0xa1", got, ok)
	}
	if n, _ := p.Size(c); n != 4*gib {
		t.Errorf("the restored volume's size: %d", n)
	}
	if got, _ := p.Read(a); got != 0xa2 {
		t.Errorf("the volume holds %#x after the restore, want its own 0xa2", got)
	}
	if err := d.Clone(ctx, clone, a, 5*gib, enc); err != nil {
		t.Fatalf("clone: %v", err)
	}
	if got, ok := p.Read(clone); !ok || got != 0xa2 {
		t.Errorf("the clone holds %#x %v, want its source's 0xa2", got, ok)
	}
	if n, _ := p.Size(clone); n != 5*gib {
		t.Errorf("the clone's size: %d", n)
	}
	if snaps, err := d.Snapshots(ctx); err != nil || !slices.Equal(snaps, []string{snap}) {
		t.Errorf("snapshots: %v %v", snaps, err)
	}
	// A snapshot a hypervisor fills: none when the copy fails; one whose
	// target the copy was given otherwise.
	const live = "06060606-0000-4000-8000-000000000006"
	if err := d.SnapshotWith(ctx, live, b, func(*hypervisor.Disk) error { return errors.New("the copy failed") }); err == nil {
		t.Error("SnapshotWith succeeded though the copy failed")
	}
	if snaps, _ := d.Snapshots(ctx); !slices.Equal(snaps, []string{snap}) {
		t.Errorf("a failed copy left snapshots %v", snaps)
	}
	var target *hypervisor.Disk
	if err := d.SnapshotWith(ctx, live, b, func(d *hypervisor.Disk) error { target = d; return nil }); err != nil || target == nil || target.Path == "" {
		t.Errorf("SnapshotWith: %v, target %+v", err, target)
	}
	if snaps, _ := d.Snapshots(ctx); len(snaps) != 2 {
		t.Errorf("snapshots after SnapshotWith: %v", snaps)
	}
	if err := d.DeleteSnapshot(ctx, live); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // deleting a gone snapshot succeeds
		if err := d.DeleteSnapshot(ctx, snap); err != nil {
			t.Fatalf("delete snapshot (%d): %v", i, err)
		}
	}
	if snaps, _ := d.Snapshots(ctx); len(snaps) != 0 {
		t.Errorf("snapshots after delete: %v", snaps)
	}
	if got, _ := p.Read(c); got != 0xa1 {
		t.Errorf("the restored volume lost its data with the snapshot: %#x", got)
	}

	if enc == nil {
		runShared(t, d, p)
	}

	// An image (raw, the pattern 0xa3 at 1 MiB) becomes a volume.
	raw := make([]byte, 3<<20)
	for i := 1 << 20; i < 2<<20; i++ {
		raw[i] = 0xa3
	}
	img := filepath.Join(t.TempDir(), "image.raw")
	if err := os.WriteFile(img, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := d.Import(ctx, imported, f, "raw", gib, enc); err != nil {
		t.Fatalf("import: %v", err)
	}
	if got, ok := p.Read(imported); !ok || got != 0xa3 {
		t.Errorf("the imported volume holds %#x %v, want the image's 0xa3", got, ok)
	}
	if n, _ := p.Size(imported); n != gib {
		t.Errorf("the imported volume's size: %d", n)
	}

	for i := 0; i < 2; i++ { // deleting a gone volume succeeds
		if err := d.Delete(ctx, a); err != nil {
			t.Fatalf("delete (%d): %v", i, err)
		}
	}
	if _, ok := p.Size(a); ok {
		t.Error("a deleted volume is still there")
	}
	ids, _ = d.List(ctx)
	slices.Sort(ids)
	if !slices.Equal(ids, []string{b, c, clone, imported}) {
		t.Errorf("list after delete: %v", ids)
	}
}

// runShared checks a shared volume: Share keeps its data and makes its
// disk shared, the driver's other calls work on it as on any volume, the
// volumes made of it are not shared, and it is unshared again.
func runShared(t *testing.T, d backend.Driver, p Probe) {
	ctx := context.Background()
	const id, clone = "5a5a5a5a-0000-4000-8000-00000000005a", "5b5b5b5b-0000-4000-8000-00000000005b"
	const snap, live = "5c5c5c5c-0000-4000-8000-00000000005c", "5d5d5d5d-0000-4000-8000-00000000005d"
	const gib = int64(1) << 30
	if err := d.Create(ctx, id, gib, nil); err != nil {
		t.Fatal(err)
	}
	p.Write(id, 0xa1)
	for range 2 { // sharing a shared volume changes nothing
		if err := d.Share(ctx, id, true); err != nil {
			t.Fatalf("share: %v", err)
		}
	}
	if disk, err := d.Disk(ctx, id); err != nil || !disk.Shared || disk.Format != "raw" {
		t.Errorf("the disk of a shared volume: %+v, %v", disk, err)
	}
	if got, ok := p.Read(id); !ok || got != 0xa1 {
		t.Errorf("the shared volume holds %#x %v, want 0xa1", got, ok)
	}
	p.Write(id, 0xa2)
	if err := d.Extend(ctx, id, 2*gib, nil); err != nil {
		t.Fatalf("extend a shared volume: %v", err)
	}
	if n, _ := p.Size(id); n != 2*gib {
		t.Errorf("the shared volume's size after extend: %d", n)
	}
	if err := d.Snapshot(ctx, snap, id); err != nil {
		t.Fatalf("snapshot a shared volume: %v", err)
	}
	if err := d.SnapshotWith(ctx, live, id, func(*hypervisor.Disk) error { return nil }); err != nil {
		t.Fatalf("snapshot a shared volume in use: %v", err)
	}
	if err := d.Clone(ctx, clone, id, 2*gib, nil); err != nil {
		t.Fatalf("clone a shared volume: %v", err)
	}
	if disk, err := d.Disk(ctx, clone); err != nil || disk.Shared {
		t.Errorf("the clone of a shared volume: %+v, %v", disk, err)
	}
	if got, ok := p.Read(clone); !ok || got != 0xa2 {
		t.Errorf("the clone of a shared volume holds %#x %v, want 0xa2", got, ok)
	}
	if f, err := d.Export(ctx, id, t.TempDir()); err != nil {
		t.Errorf("export a shared volume: %v", err)
	} else if fi, _ := f.Stat(); fi.Size() != 2*gib {
		t.Errorf("the export of a shared volume has %d bytes", fi.Size())
	} else {
		f.Close()
	}
	// A restore replaces the data of a shared volume by an unshared copy.
	p.Write(id, 0xa1)
	if err := d.Restore(ctx, id, snap, 2*gib, nil); err != nil {
		t.Fatalf("restore over a shared volume: %v", err)
	}
	if disk, err := d.Disk(ctx, id); err != nil || disk.Shared {
		t.Errorf("the disk of a shared volume restored over: %+v, %v", disk, err)
	}
	if got, ok := p.Read(id); !ok || got != 0xa2 {
		t.Errorf("the shared volume restored over holds %#x %v, want the snapshot's 0xa2", got, ok)
	}
	if err := d.Share(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if err := d.Share(ctx, id, false); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	if disk, err := d.Disk(ctx, id); err != nil || disk.Shared {
		t.Errorf("the disk of an unshared volume: %+v, %v", disk, err)
	}
	if got, ok := p.Read(id); !ok || got != 0xa2 {
		t.Errorf("the unshared volume holds %#x %v, want 0xa2", got, ok)
	}
	if n, _ := p.Size(id); n != 2*gib {
		t.Errorf("the unshared volume's size: %d", n)
	}
	d.Share(ctx, id, true)
	for _, v := range []string{id, clone} {
		if err := d.Delete(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, sn := range []string{snap, live} {
		if err := d.DeleteSnapshot(ctx, sn); err != nil {
			t.Fatal(err)
		}
	}
	if ids, _ := d.List(ctx); slices.Contains(ids, id) || slices.Contains(ids, clone) {
		t.Errorf("deleted volumes are still listed: %v", ids)
	}
}
