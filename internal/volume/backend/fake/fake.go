// Package fake is a volume driver in memory, for tests of the API's
// behaviour: it records each volume's and snapshot's size and a byte of
// data (what a test wrote), can be told to fail, and can hold operations.
package fake

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/volume/backend"
)

// disk is what the fake keeps of a volume or snapshot: with the
// passphrase of an encrypted one, which later calls must give again.
type disk struct {
	size       int64
	data       byte
	passphrase string
	shared     bool
}

// opens checks that enc opens v: the passphrase v was made with, if any.
func (v disk) opens(id string, enc *backend.Encryption) error {
	if v.passphrase != "" && (enc == nil || string(enc.Passphrase) != v.passphrase) {
		return fmt.Errorf("fake: volume %s is not opened by the passphrase given", id)
	}
	return nil
}

func passphrase(enc *backend.Encryption) string {
	if enc == nil {
		return ""
	}
	return string(enc.Passphrase)
}

// Driver records volumes and snapshots.
type Driver struct {
	mu        sync.Mutex
	volumes   map[string]disk
	snapshots map[string]disk
	fail      error
	held      chan struct{} // while not nil, operations that make data wait for it to close
}

// New returns an empty driver.
func New() *Driver { return &Driver{volumes: map[string]disk{}, snapshots: map[string]disk{}} }

// Fail makes every later call fail with err (nil: succeed again).
func (d *Driver) Fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = err
}

// Hold makes the operations that make data wait until release is called,
// so a test can act while one is in flight.
func (d *Driver) Hold() (release func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := make(chan struct{})
	d.held = ch
	return func() {
		d.mu.Lock()
		d.held = nil
		d.mu.Unlock()
		close(ch)
	}
}

// begin waits while the driver is held, then locks it; it fails as told.
func (d *Driver) begin() error {
	d.mu.Lock()
	ch := d.held
	d.mu.Unlock()
	if ch != nil {
		<-ch
	}
	d.mu.Lock()
	if d.fail != nil {
		d.mu.Unlock()
		return d.fail
	}
	return nil
}

// Size is a volume's size, and whether it is there.
func (d *Driver) Size(id string) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.volumes[id]
	return v.size, ok
}

// Write sets a volume's data, as a guest would write it.
func (d *Driver) Write(id string, data byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.volumes[id]
	v.data = data
	d.volumes[id] = v
}

// Passphrase is the passphrase an encrypted volume was made with ("" for
// a plain one).
func (d *Driver) Passphrase(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.volumes[id].passphrase
}

// Read is a volume's data.
func (d *Driver) Read(id string) (byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.volumes[id]
	return v.data, ok
}

// Create records the volume.
func (d *Driver) Create(_ context.Context, id string, size int64, enc *backend.Encryption) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	d.volumes[id] = disk{size: size, passphrase: passphrase(enc)}
	return nil
}

// Extend records the volume's new size.
func (d *Driver) Extend(_ context.Context, id string, size int64, enc *backend.Encryption) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	v, ok := d.volumes[id]
	if !ok {
		return fmt.Errorf("fake: no volume %s", id)
	}
	if err := v.opens(id, enc); err != nil {
		return err
	}
	v.size = size
	d.volumes[id] = v
	return nil
}

// Clone copies a volume.
func (d *Driver) Clone(_ context.Context, id, src string, size int64, enc *backend.Encryption) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	v, ok := d.volumes[src]
	if !ok {
		return fmt.Errorf("fake: no volume %s", src)
	}
	if err := v.opens(src, enc); err != nil {
		return err
	}
	if size < v.size {
		return fmt.Errorf("fake: a clone of %d bytes cannot hold %d", size, v.size)
	}
	d.volumes[id] = disk{size: size, data: v.data, passphrase: v.passphrase}
	return nil
}

// Import records the volume with the byte the image holds at 1 MiB.
func (d *Driver) Import(_ context.Context, id string, src *os.File, format string, size int64, enc *backend.Encryption) error {
	var b [1]byte
	src.ReadAt(b[:], 1<<20)
	if err := d.begin(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	if format == "luks" && enc == nil {
		return fmt.Errorf("fake: a container is imported with its passphrase")
	}
	d.volumes[id] = disk{size: size, data: b[0], passphrase: passphrase(enc)}
	return nil
}

// Delete forgets the volume.
func (d *Driver) Delete(_ context.Context, id string) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	delete(d.volumes, id)
	return nil
}

// Export writes a sparse file of the volume's size in dir with its byte
// of data at 1 MiB (where Import reads it).
func (d *Driver) Export(_ context.Context, id, dir string) (*os.File, error) {
	if err := d.begin(); err != nil {
		return nil, err
	}
	v, ok := d.volumes[id]
	d.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("fake: no volume %s", id)
	}
	f, err := os.CreateTemp(dir, id+".export-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if err := f.Truncate(v.size); err == nil && v.size > 1<<20 {
		_, err = f.WriteAt([]byte{v.data}, 1<<20)
	}
	return f, err
}

// Disk names the volume as a raw disk the fake hypervisor takes; no VM
// could open it.
func (d *Driver) Disk(_ context.Context, id string) (*hypervisor.Disk, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.volumes[id]
	if !ok {
		return nil, fmt.Errorf("fake: no volume %s", id)
	}
	return &hypervisor.Disk{Path: "fake-volume:" + id, Format: "raw", Shared: v.shared}, nil
}

// Share records whether the volume is shared.
func (d *Driver) Share(_ context.Context, id string, shared bool) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	v, ok := d.volumes[id]
	if !ok {
		return fmt.Errorf("fake: no volume %s", id)
	}
	if v.passphrase != "" {
		return fmt.Errorf("fake: an encrypted volume is not shared")
	}
	v.shared = shared
	d.volumes[id] = v
	return nil
}

// List is the volumes' ids.
func (d *Driver) List(context.Context) ([]string, error) { return d.keys(d.volumes), nil }

// Snapshot copies the volume to the snapshot.
func (d *Driver) Snapshot(_ context.Context, snap, volume string) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	v, ok := d.volumes[volume]
	if !ok {
		return fmt.Errorf("fake: no volume %s", volume)
	}
	d.snapshots[snap] = v
	return nil
}

// SnapshotWith runs copy on a disk named after the snapshot, then copies
// the volume to the snapshot, as the hypervisor would have.
func (d *Driver) SnapshotWith(ctx context.Context, snap, volume string, copy func(target *hypervisor.Disk) error) error {
	if err := copy(&hypervisor.Disk{Path: "fake-snapshot:" + snap, Format: "raw"}); err != nil {
		return err
	}
	return d.Snapshot(ctx, snap, volume)
}

// Restore copies the snapshot to a new volume.
func (d *Driver) Restore(_ context.Context, id, snap string, size int64, enc *backend.Encryption) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	s, ok := d.snapshots[snap]
	if !ok {
		return fmt.Errorf("fake: no snapshot %s", snap)
	}
	if err := s.opens(snap, enc); err != nil {
		return err
	}
	if size < s.size {
		return fmt.Errorf("fake: a volume of %d bytes cannot hold snapshot %s of %d", size, snap, s.size)
	}
	d.volumes[id] = disk{size: size, data: s.data, passphrase: s.passphrase}
	return nil
}

// DeleteSnapshot forgets the snapshot.
func (d *Driver) DeleteSnapshot(_ context.Context, snap string) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	delete(d.snapshots, snap)
	return nil
}

// Snapshots is the snapshots' ids.
func (d *Driver) Snapshots(context.Context) ([]string, error) { return d.keys(d.snapshots), nil }

func (d *Driver) keys(m map[string]disk) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
