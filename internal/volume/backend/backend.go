// Package backend is the seam between the Cinder model (package volume)
// and what holds volumes' data: the Driver interface. The file driver
// (package file) keeps each volume as a qcow2 file on local disk, package
// fake keeps sizes in memory for API tests; a Ceph RBD driver would keep
// each volume as an RBD image of a pool (see docs/volume.md).
package backend

import (
	"context"
	"os"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// Encryption is how an encrypted volume's data is kept: a LUKS container
// (QEMU's luks format) on what the driver holds, opened with Passphrase.
// The volume's size is its plaintext's; the container is a little larger.
type Encryption struct {
	// Passphrase opens the container: the hex of the volume's key in the
	// key manager, as os-brick's encryptors use Cinder's keys.
	Passphrase []byte
	// Cipher and KeyBits are the volume type's, as dm-crypt names them:
	// aes-xts-plain64 with 256 bits (AES-128 in XTS mode) or 512 (AES-256).
	Cipher  string
	KeyBits int
}

// Driver holds the data of volumes. Each call names a volume by its id;
// calls for one volume never run at the same time (the service's runner
// orders them), and deleting a gone volume succeeds. Calls that take an
// Encryption take nil for a volume that is not encrypted; a copy of an
// encrypted volume (clone, snapshot, restore, export) copies its
// container as it is, opened by the same passphrase.
type Driver interface {
	// Create makes an empty volume of size bytes.
	Create(ctx context.Context, id string, size int64, enc *Encryption) error
	// Extend grows a volume to size bytes.
	Extend(ctx context.Context, id string, size int64, enc *Encryption) error
	// Clone makes volume id a copy of volume src's data, of size bytes (at
	// least src's).
	Clone(ctx context.Context, id, src string, size int64, enc *Encryption) error
	// Import makes volume id of size bytes holding the disk image src (an
	// open file, raw or qcow2 as format says, already inspected); with
	// enc, the image's data is encrypted into a new container. Format
	// "luks" is an export of an encrypted volume (its container, raw),
	// imported as it is and grown to size with enc, which opens it.
	Import(ctx context.Context, id string, src *os.File, format string, size int64, enc *Encryption) error
	// Delete removes a volume and its data.
	Delete(ctx context.Context, id string) error
	// List is the ids of the volumes the driver holds, for the service to
	// remove what a crash left of volumes it does not know.
	List(ctx context.Context) ([]string, error)
	// Export writes the volume's data, raw, to a new file in dir, which it
	// returns open and already unlinked (for a backup to read); of an
	// encrypted volume, its container.
	Export(ctx context.Context, id, dir string) (*os.File, error)
	// Disk is how a VM opens the volume: what the hypervisor attaches.
	Disk(ctx context.Context, id string) (*hypervisor.Disk, error)
	// Share makes a plain volume's data one that several VMs may write at
	// once (a multi-attach volume; its Disk is then Shared), or (shared
	// false) one VM at a time again. The data stays as it is. What makes or
	// replaces a volume's data (Create, Clone, Import, Restore) makes it
	// unshared: the caller shares it again.
	Share(ctx context.Context, id string, shared bool) error

	// Snapshot keeps the data volume has now as snapshot snap, which
	// outlives later writes to the volume (not the volume itself).
	Snapshot(ctx context.Context, snap, volume string) error
	// SnapshotWith makes snapshot snap of a volume a running VM holds:
	// the driver makes an empty disk of the volume's size and copy fills
	// it (the hypervisor copies the volume while the guest runs); the
	// snapshot exists only once copy succeeded.
	SnapshotWith(ctx context.Context, snap, volume string, copy func(target *hypervisor.Disk) error) error
	// Restore makes volume id a copy of snapshot snap's data, of size bytes.
	Restore(ctx context.Context, id, snap string, size int64, enc *Encryption) error
	// DeleteSnapshot removes a snapshot's data.
	DeleteSnapshot(ctx context.Context, snap string) error
	// Snapshots is the ids of the snapshots the driver holds.
	Snapshots(ctx context.Context) ([]string, error)
}
