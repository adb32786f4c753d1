package compute_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestEncryptedVolumesInGuest: a test guest boots from an encrypted
// volume (of the type LUKS, made from its image: the image's data
// encrypted into it) and gets an encrypted data volume plugged in; it
// writes a pattern to each, and reads both back after a stop and a start
// (QEMU given the passphrases again), while neither volume's file on the
// host holds them. The data volume grows and is snapshotted while the
// guest runs (the snapshot's file encrypted too), then is unplugged.
// Another project sees neither volume.
func TestEncryptedVolumesInGuest(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	p := srv.Provider(t, alpha)
	c, vc, vcb := computeClient(t, p, "2.79"), volumeClient(t, p), volumeClient(t, srv.Provider(t, beta))
	imageID := servertest.UploadTestGuest(t, p)
	encrypted := func(opts volumes.CreateOpts) string {
		opts.VolumeType, opts.Size = "LUKS", 1
		v, err := volumes.Create(ctx, vc, opts, nil).Extract()
		wantStatus(t, "create encrypted volume "+opts.Name, err, 0)
		if got := waitVolumeStatus(t, vc, v.ID, "available"); !got.Encrypted {
			t.Fatalf("volume %s is not encrypted: %+v", opts.Name, got)
		}
		return v.ID
	}
	root := encrypted(volumes.CreateOpts{Name: "root", ImageID: imageID})
	data := encrypted(volumes.CreateOpts{Name: "data"})
	rootMarker, dataMarker := "sov-encrypted-root-"+root[:8], "sov-encrypted-data-"+data[:8]
	// At each boot the guest reads what its disks hold, then writes the
	// patterns (the data volume's once it is there) and waits for the
	// data volume to grow.
	userData := volumeScript(data, `echo "vol-test: read $(dd if=$dev bs=512 skip=2048 count=1 2>/dev/null | head -n 1)"
echo `+dataMarker+` | dd of=$dev bs=512 seek=2048 conv=fsync 2>/dev/null && sync && echo "vol-test: wrote"
size=/sys/block/${dev#/dev/}/size
was=$(cat $size)
while [ "$(cat $size)" = "$was" ]; do sleep 1; done
echo "vol-test: size $(cat $size)"
`)
	userData = []byte(strings.Replace(string(userData), "\nserial=", `
echo "vol-test: root $(dd if=/dev/vda bs=512 skip=4096 count=1 2>/dev/null | head -n 1)"
echo `+rootMarker+` | dd of=/dev/vda bs=512 seek=4096 conv=fsync 2>/dev/null && sync && echo "vol-test: root written"
serial=`, 1))
	yes := true
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vault", FlavorRef: flavorID(t, c, "SCS-1L-1"), Networks: "none", ConfigDrive: &yes,
		BlockDevice: []servers.BlockDevice{{SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: root, BootIndex: 0}},
		UserData:    userData}, nil).Extract()
	wantStatus(t, "boot from the encrypted volume", err, 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	waitConsole(t, c, s.ID, "vol-test: root written")
	_, err = volumeattach.Create(ctx, c, s.ID, volumeattach.CreateOpts{VolumeID: data}).Extract()
	wantStatus(t, "plug in the encrypted volume", err, 0)
	waitConsole(t, c, s.ID, "vol-test: wrote")

	plaintext := func(when string) {
		t.Helper()
		for id, marker := range map[string]string{root: rootMarker, data: dataMarker} {
			file, err := os.ReadFile(filepath.Join(srv.DataDir(), "volumes", id+".qcow2"))
			if err != nil || len(file) < 64<<10 || strings.Contains(string(file), marker) {
				t.Errorf("%s: the file of volume %s (%d bytes, %v) holds its pattern", when, id, len(file), err)
			}
		}
	}
	plaintext("written")

	// Started again, QEMU is given the passphrases again; the guest reads
	// what it wrote.
	wantStatus(t, "stop", servers.Stop(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "SHUTOFF")
	wantStatus(t, "start", servers.Start(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	waitConsole(t, c, s.ID, "vol-test: root "+rootMarker)
	waitConsole(t, c, s.ID, "vol-test: read "+dataMarker)

	// Grown while attached (3.42): the guest sees the new size.
	vc42 := *vc
	vc42.Microversion = "3.42"
	wantStatus(t, "extend the attached volume", volumes.ExtendSize(ctx, &vc42, data, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr(), 0)
	waitConsole(t, c, s.ID, "vol-test: size 4194304")
	// A snapshot while the guest runs on it: QEMU copies the container.
	snap, err := snapshots.Create(ctx, vc, snapshots.CreateOpts{VolumeID: data, Force: true}).Extract()
	wantStatus(t, "snapshot the attached volume", err, 0)
	waitSnapshotStatus(t, vc, snap.ID, "available")
	if file, err := os.ReadFile(filepath.Join(srv.DataDir(), "volumes", "snapshots", snap.ID+".qcow2")); err != nil || len(file) < 64<<10 || strings.Contains(string(file), dataMarker) {
		t.Errorf("the snapshot's file (%d bytes, %v) holds the pattern", len(file), err)
	}
	wantStatus(t, "unplug the encrypted volume", volumeattach.Delete(ctx, c, s.ID, data).ExtractErr(), 0)
	waitDetached(t, c, s.ID, data)
	waitVolumeStatus(t, vc, data, "available")
	plaintext("at the end")
	for _, id := range []string{root, data} {
		_, err := volumes.Get(ctx, vcb, id).Extract()
		wantStatus(t, "another project shows volume "+id, err, http.StatusNotFound)
	}
}
