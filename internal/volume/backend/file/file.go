// Package file is the volume driver of an all-in-one sov: each volume is
// a qcow2 file (volumes/<id>.qcow2 under the data dir) made and grown by
// qemu-img, which QEMU opens when the volume is attached; each snapshot a
// qcow2 file of its own (volumes/snapshots/<id>.qcow2), a copy of the
// volume's data (sparse: only the clusters written), from which volumes
// are restored by copy too. An encrypted volume's qcow2 file holds a LUKS
// container (luks.go). A shared volume (multi-attach) is a sparse raw
// file instead (volumes/<id>.raw): a qcow2 file has one writer.
package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/volume/backend"
)

// Driver keeps volumes as qcow2 files in one directory, snapshots in
// another.
type Driver struct{ dir, snaps string }

// Open returns the driver of the volumes in dir, making it.
func Open(dir string) (*Driver, error) {
	snaps := filepath.Join(dir, "snapshots")
	if err := os.MkdirAll(snaps, 0o700); err != nil {
		return nil, err
	}
	return &Driver{dir: dir, snaps: snaps}, nil
}

// Path is the file of a volume.
func (d *Driver) Path(id string) string { return filepath.Join(d.dir, id+".qcow2") }

// sharedPath is the file of a shared volume.
func (d *Driver) sharedPath(id string) string { return filepath.Join(d.dir, id+".raw") }

// file is the file that holds a volume and its format: the raw file of a
// shared one if there is one, else the qcow2 file.
func (d *Driver) file(id string) (path, format string) {
	if _, err := os.Stat(d.sharedPath(id)); err == nil {
		return d.sharedPath(id), "raw"
	}
	return d.Path(id), "qcow2"
}

// Share converts a plain volume's file to a raw one, which several VMs
// may write at once (shared), or back to qcow2. A crash midway leaves
// the volume whole in one of them: the raw file is named only once
// written, and preferred while both are there.
func (d *Driver) Share(ctx context.Context, id string, shared bool) error {
	from, format := d.file(id)
	to, toFormat := d.sharedPath(id), "raw"
	if !shared {
		to, toFormat = d.Path(id), "qcow2"
	}
	if format != toFormat {
		if err := atomicFile(to, func(tmp string) error {
			return qemuImg(ctx, "convert", "-q", "-f", format, "-O", toFormat, from, tmp)
		}); err != nil {
			return err
		}
	}
	stale := d.Path(id)
	if !shared {
		stale = d.sharedPath(id)
	}
	if err := removeFiles(stale); err != nil {
		return err
	}
	return syncPath(d.dir)
}

// SnapshotPath is the file of a snapshot.
func (d *Driver) SnapshotPath(id string) string { return filepath.Join(d.snaps, id+".qcow2") }

func qemuImg(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("file: qemu-img %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Create makes the volume's file.
func (d *Driver) Create(ctx context.Context, id string, size int64, enc *backend.Encryption) error {
	return d.write(id, func(tmp string) error {
		if enc != nil {
			return createLUKS(ctx, tmp, size, enc)
		}
		return qemuImg(ctx, "create", "-q", "-f", "qcow2", tmp, strconv.FormatInt(size, 10))
	})
}

// write makes (or replaces) volume id's data as an unshared qcow2 file
// that fill writes: the raw file of a shared volume goes once the new
// file is there.
func (d *Driver) write(id string, fill func(tmp string) error) error {
	if err := atomicFile(d.Path(id), fill); err != nil {
		return err
	}
	if err := removeFiles(d.sharedPath(id)); err != nil {
		return err
	}
	return syncPath(d.dir)
}

// atomicFile runs fill to write a file under a temporary name, then gives
// it its name, so a crash leaves no half-made file of that name; both are
// on disk before it returns (the store calls the volume available then).
func atomicFile(path string, fill func(tmp string) error) error {
	tmp := path + ".tmp"
	err := fill(tmp)
	if err == nil {
		err = syncPath(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncPath(filepath.Dir(path))
}

// copyTo writes a sparse qcow2 copy of the file src (of format) to the
// new file path, grown to size bytes (0: src's size); an encrypted
// volume's container is copied as it is and grown inside.
func copyTo(ctx context.Context, src, format, path string, size int64, enc *backend.Encryption) error {
	if err := qemuImg(ctx, "convert", "-q", "-f", format, "-O", "qcow2", src, path); err != nil {
		return err
	}
	if size == 0 {
		return nil
	}
	return resize(ctx, path, "qcow2", size, enc)
}

// resize grows the volume in the file path (of format) to size bytes
// (only ever grown: qemu-img refuses to shrink without --shrink); an
// encrypted one through its LUKS container, which grows the file by as
// much.
func resize(ctx context.Context, path, format string, size int64, enc *backend.Encryption) error {
	if enc == nil {
		return qemuImg(ctx, "resize", "-q", "-f", format, path, strconv.FormatInt(size, 10))
	}
	return qemuImgKey(ctx, enc, nil, "resize", "-q", "--object", keyObject, "--image-opts", luksOpts(path), strconv.FormatInt(size, 10))
}

// Import converts the image to the volume's qcow2 file. qemu-img reads it
// through the open file (inherited as fd 3: an image deleted meanwhile is
// still read whole) and, for qcow2, never opens a backing file.
//
// An encrypted volume gets a new container of its size first, into which
// qemu-img writes the image's data, encrypting it: every block of the
// image is written, zeros too (unwritten blocks of a container do not
// read as zeros), and the rest of the volume stays unwritten.
func (d *Driver) Import(ctx context.Context, id string, src *os.File, format string, size int64, enc *backend.Encryption) error {
	in := "/dev/fd/3"
	if format == "qcow2" {
		in = `json:{"driver": "qcow2", "backing": null, "file": {"driver": "file", "filename": "/dev/fd/3"}}`
	}
	inArgs := []string{in}
	if format == "raw" {
		inArgs = []string{"-f", "raw", in}
	}
	if format == "luks" {
		return d.importLUKS(ctx, id, src, size, enc)
	}
	return d.write(id, func(tmp string) error {
		if enc != nil {
			if err := createLUKS(ctx, tmp, size, enc); err != nil {
				return err
			}
			// The key is the first inherited descriptor after the image (fd 4).
			args := append(append([]string{"convert", "-q", "-n", "--object", "secret,id=key,file=/dev/fd/4"}, inArgs...),
				"--target-image-opts", luksOpts(tmp))
			return qemuImgKey(ctx, enc, src, args...)
		}
		args := append(append([]string{"convert", "-q"}, inArgs...), "-O", "qcow2", tmp)
		cmd := exec.CommandContext(ctx, "qemu-img", args...)
		cmd.ExtraFiles = []*os.File{src}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("file: qemu-img convert: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return qemuImg(ctx, "resize", "-q", "-f", "qcow2", tmp, strconv.FormatInt(size, 10))
	})
}

// Clone copies volume src's file to volume id's.
func (d *Driver) Clone(ctx context.Context, id, src string, size int64, enc *backend.Encryption) error {
	from, format := d.file(src)
	return d.write(id, func(tmp string) error { return copyTo(ctx, from, format, tmp, size, enc) })
}

// Snapshot copies the volume's file to the snapshot's.
func (d *Driver) Snapshot(ctx context.Context, snap, volume string) error {
	from, format := d.file(volume)
	return atomicFile(d.SnapshotPath(snap), func(tmp string) error { return copyTo(ctx, from, format, tmp, 0, nil) })
}

// SnapshotWith makes an empty qcow2 file of the volume's size for copy to
// fill, and names it the snapshot's once filled and on disk.
func (d *Driver) SnapshotWith(ctx context.Context, snap, volume string, copy func(target *hypervisor.Disk) error) error {
	path, format := d.file(volume)
	size, err := virtualSize(ctx, path, format)
	if err != nil {
		return err
	}
	return atomicFile(d.SnapshotPath(snap), func(tmp string) error {
		if err := qemuImg(ctx, "create", "-q", "-f", "qcow2", tmp, strconv.FormatInt(size, 10)); err != nil {
			return err
		}
		return copy(&hypervisor.Disk{Path: tmp, Format: "qcow2"})
	})
}

// virtualSize is the size of the disk a file of format holds (read
// without taking its lock, so also while a VM has the file open).
func virtualSize(ctx context.Context, path, format string) (int64, error) {
	out, err := exec.CommandContext(ctx, "qemu-img", "info", "-U", "--output=json", "-f", format, path).Output()
	if err != nil {
		return 0, fmt.Errorf("file: qemu-img info: %w", err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, err
	}
	return info.VirtualSize, nil
}

// Restore copies the snapshot's file to the volume's.
func (d *Driver) Restore(ctx context.Context, id, snap string, size int64, enc *backend.Encryption) error {
	return d.write(id, func(tmp string) error { return copyTo(ctx, d.SnapshotPath(snap), "qcow2", tmp, size, enc) })
}

// DeleteSnapshot removes the snapshot's file.
func (d *Driver) DeleteSnapshot(_ context.Context, snap string) error {
	return removeFiles(d.SnapshotPath(snap))
}

// Snapshots is the ids of the snapshot files there are.
func (d *Driver) Snapshots(context.Context) ([]string, error) { return ids(d.snaps) }

// syncPath flushes a file or directory to disk.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Extend grows the volume's file.
func (d *Driver) Extend(ctx context.Context, id string, size int64, enc *backend.Encryption) error {
	path, format := d.file(id)
	if err := resize(ctx, path, format, size, enc); err != nil {
		return err
	}
	return syncPath(path)
}

// Delete removes the volume's files (and temporary ones a crash left).
func (d *Driver) Delete(_ context.Context, id string) error {
	return errors.Join(removeFiles(d.Path(id)), removeFiles(d.sharedPath(id)))
}

// removeFiles removes a file and the temporary ones of it a crash left.
func removeFiles(path string) error {
	var errs []error
	for _, p := range []string{path, path + ".tmp", path + ".tmp" + luksSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Export converts the volume's file to a sparse raw file in dir.
func (d *Driver) Export(ctx context.Context, id, dir string) (*os.File, error) {
	tmp, err := os.CreateTemp(dir, id+".export-*")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // open, the data stays until closed
	path, format := d.file(id)
	if err := qemuImg(ctx, "convert", "-q", "-f", format, "-O", "raw", path, tmp.Name()); err != nil {
		return nil, err
	}
	return os.Open(tmp.Name())
}

// Disk is the volume's file, which a VM opens with no backing file: a
// qcow2 one, or the raw one of a shared volume, which VMs share.
func (d *Driver) Disk(_ context.Context, id string) (*hypervisor.Disk, error) {
	path, format := d.file(id)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return &hypervisor.Disk{Path: path, Format: format, Shared: format == "raw"}, nil
}

// List is the ids of the volume files there are, finished or not.
func (d *Driver) List(context.Context) ([]string, error) { return ids(d.dir) }

// ids are the ids of the qcow2 and raw files in dir, finished or not.
func ids(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimSuffix(e.Name(), luksSuffix), ".tmp")
		id, ok := strings.CutSuffix(name, ".qcow2")
		if !ok {
			id, ok = strings.CutSuffix(name, ".raw")
		}
		if ok && !e.IsDir() && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}
