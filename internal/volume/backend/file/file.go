// Package file is the volume driver of an all-in-one sov: each volume is
// a qcow2 file (volumes/<id>.qcow2 under the data dir) made and grown by
// qemu-img, which QEMU opens when the volume is attached.
package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Driver keeps volumes as qcow2 files in one directory.
type Driver struct{ dir string }

// Open returns the driver of the volumes in dir, making it.
func Open(dir string) (*Driver, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Driver{dir: dir}, nil
}

// Path is the file of a volume.
func (d *Driver) Path(id string) string { return filepath.Join(d.dir, id+".qcow2") }

func qemuImg(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("file: qemu-img %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Create makes the volume's file under a temporary name and gives it its
// name when complete, so a crash leaves no half-made volume of that name.
func (d *Driver) Create(ctx context.Context, id string, size int64) error {
	tmp := d.Path(id) + ".tmp"
	err := qemuImg(ctx, "create", "-q", "-f", "qcow2", tmp, strconv.FormatInt(size, 10))
	if err == nil {
		err = syncPath(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, d.Path(id))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncPath(d.dir) // the name, before the store calls the volume available
}

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
func (d *Driver) Extend(ctx context.Context, id string, size int64) error {
	if err := qemuImg(ctx, "resize", "-q", "-f", "qcow2", d.Path(id), strconv.FormatInt(size, 10)); err != nil {
		return err
	}
	return syncPath(d.Path(id))
}

// Delete removes the volume's file (and a temporary one a crash left).
func (d *Driver) Delete(_ context.Context, id string) error {
	err := os.Remove(d.Path(id))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if terr := os.Remove(d.Path(id) + ".tmp"); terr != nil && !errors.Is(terr, os.ErrNotExist) {
		err = errors.Join(err, terr)
	}
	return err
}

// List is the ids of the volume files there are, finished or not.
func (d *Driver) List(context.Context) ([]string, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".tmp")
		if id, ok := strings.CutSuffix(name, ".qcow2"); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
