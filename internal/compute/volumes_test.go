package compute_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/backups"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/sovcloud/sov/internal/servertest"
)

func volumeClient(t testing.TB, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewBlockStorageV3(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newVolume creates a volume of 1 GiB and waits until it is available.
func newVolume(t testing.TB, c *gophercloud.ServiceClient, name string) string {
	t.Helper()
	v, err := volumes.Create(ctx, c, volumes.CreateOpts{Name: name, Size: 1}, nil).Extract()
	wantStatus(t, "create volume "+name, err, 0)
	waitVolumeStatus(t, c, v.ID, "available")
	return v.ID
}

func waitVolumeStatus(t testing.TB, c *gophercloud.ServiceClient, id, want string) *volumes.Volume {
	t.Helper()
	for end := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		v, err := volumes.Get(ctx, c, id).Extract()
		if want == "" && servertest.IsStatus(err, 404) {
			return nil
		}
		if err == nil && v.Status == want {
			return v
		}
		if time.Now().After(end) {
			t.Fatalf("volume %s: %+v %v, want status %q", id, v, err, want)
		}
	}
}

// waitDetached waits until a server no longer lists a volume it detaches
// in the background.
func waitDetached(t testing.TB, c *gophercloud.ServiceClient, server, volume string) {
	t.Helper()
	for end := time.Now().Add(4 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		_, err := volumeattach.Get(ctx, c, server, volume).Extract()
		if servertest.IsStatus(err, 404) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("volume %s is still attached to %s after 4 minutes: %v", volume, server, err)
		}
	}
}

func waitSnapshotStatus(t *testing.T, c *gophercloud.ServiceClient, id, want string) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		sn, err := snapshots.Get(ctx, c, id).Extract()
		if want == "" && servertest.IsStatus(err, 404) || err == nil && sn.Status == want {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("snapshot %s: %+v %v, want status %q", id, sn, err, want)
		}
	}
}

// TestServerVolumes: a project attaches a volume to a running server and
// to a stopped one, sees it in both APIs and in the VM's spec, cannot
// attach it twice, delete or extend it while it is attached (snapshot it
// only with force), and detaches it; a volume with delete_on_termination goes with its server. Another
// project can neither attach this project's volumes nor touch its
// attachments, and bad requests change nothing.
func TestServerVolumes(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	pa, pb := srv.Provider(t, alpha), srv.Provider(t, beta)
	c, cb := computeClient(t, pa, "2.79"), computeClient(t, pb, "2.79")
	vc, vcb := volumeClient(t, pa), volumeClient(t, pb)
	hv := srv.Compute().Driver()
	boot := func(c *gophercloud.ServiceClient, p *gophercloud.ProviderClient, name, cidr string) string {
		imageID := servertest.UploadTestGuest(t, p)
		net := servertest.TenantNetwork(t, p, name+"-net", cidr)
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1"),
			Networks: []servers.Network{{UUID: net}}}, nil).Extract()
		wantStatus(t, "create "+name, err, 0)
		waitStatus(t, c, s.ID, "ACTIVE")
		return s.ID
	}
	vm1 := boot(c, pa, "vm1", "10.97.0.0/24")
	vm2, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm2", ImageRef: servertest.UploadTestGuest(t, pa), FlavorRef: flavorID(t, c, "SCS-1L-1"),
		Networks: "none"}, nil).Extract()
	wantStatus(t, "create vm2", err, 0)
	waitStatus(t, c, vm2.ID, "ACTIVE")
	bvm := boot(cb, pb, "beta-vm", "10.98.0.0/24")
	data := newVolume(t, vc, "data")
	betaVol := newVolume(t, vcb, "beta-data")

	specVolumes := func(id string) []string {
		t.Helper()
		spec, err := hv.SavedSpec(id)
		if err != nil {
			t.Fatal(err)
		}
		var serials []string
		for _, v := range spec.Volumes {
			serials = append(serials, v.Serial)
		}
		return serials
	}

	// Bad requests, and other projects' volumes and servers.
	for _, tc := range []struct {
		name   string
		c      *gophercloud.ServiceClient
		server string
		opts   volumeattach.CreateOpts
		want   int
	}{
		{"not a uuid", c, vm1, volumeattach.CreateOpts{VolumeID: "data"}, 400},
		{"unknown volume", c, vm1, volumeattach.CreateOpts{VolumeID: "0b6c5d2e-1111-4222-8333-444455556666"}, 404},
		{"bad device", c, vm1, volumeattach.CreateOpts{VolumeID: data, Device: "/etc/passwd"}, 400},
		{"the root disk's device", c, vm1, volumeattach.CreateOpts{VolumeID: data, Device: "/dev/vda"}, 400},
		{"another project's volume", c, vm1, volumeattach.CreateOpts{VolumeID: betaVol}, 404},
		{"to another project's server", cb, vm1, volumeattach.CreateOpts{VolumeID: betaVol}, 404},
		{"this project's volume to its own server, by the other", cb, bvm, volumeattach.CreateOpts{VolumeID: data}, 404},
	} {
		_, err := volumeattach.Create(ctx, tc.c, tc.server, tc.opts).Extract()
		wantStatus(t, tc.name, err, tc.want)
	}
	old := computeClient(t, pa, "2.48")
	_, err = volumeattach.Create(ctx, old, vm1, volumeattach.CreateOpts{VolumeID: data, Tag: "db"}).Extract()
	wantStatus(t, "a tag before 2.49", err, 400)
	// An admin cannot attach a project's volume to another project's server.
	_, err = volumeattach.Create(ctx, computeClient(t, srv.Admin(t).ProviderClient, "2.79"), bvm, volumeattach.CreateOpts{VolumeID: data}).Extract()
	wantStatus(t, "admin: a volume to another project's server", err, 400)
	if v := waitVolumeStatus(t, vc, data, "available"); len(v.Attachments) != 0 {
		t.Fatalf("refused attaches left attachments: %+v", v.Attachments)
	}

	// Attached to the running vm1: in both APIs and in its VM.
	att, err := volumeattach.Create(ctx, c, vm1, volumeattach.CreateOpts{VolumeID: data, Tag: "db"}).Extract()
	wantStatus(t, "attach", err, 0)
	if att.VolumeID != data || att.ServerID != vm1 || att.Device != "/dev/vdb" || att.Tag == nil || *att.Tag != "db" || att.DeleteOnTermination == nil || *att.DeleteOnTermination {
		t.Errorf("attachment = %+v", att)
	}
	v := waitVolumeStatus(t, vc, data, "in-use")
	if len(v.Attachments) != 1 || v.Attachments[0].ServerID != vm1 || v.Attachments[0].Device != "/dev/vdb" || v.Attachments[0].AttachmentID == "" {
		t.Errorf("volume attachments = %+v", v.Attachments)
	}
	if got := specVolumes(vm1); len(got) != 1 || got[0] != data {
		t.Errorf("vm1's VM has volumes %v", got)
	}
	s, err := servers.Get(ctx, c, vm1).Extract()
	wantStatus(t, "show vm1", err, 0)
	if len(s.AttachedVolumes) != 1 || s.AttachedVolumes[0].ID != data {
		t.Errorf("volumes_attached = %+v", s.AttachedVolumes)
	}
	pages, err := volumeattach.List(c, vm1).AllPages(ctx)
	wantStatus(t, "list attachments", err, 0)
	if all, _ := volumeattach.ExtractVolumeAttachments(pages); len(all) != 1 || all[0].VolumeID != data {
		t.Errorf("attachments = %+v", all)
	}
	if got, err := volumeattach.Get(ctx, c, vm1, data).Extract(); err != nil || got.Device != "/dev/vdb" {
		t.Errorf("show attachment = %+v, %v", got, err)
	}

	// In use: not attached again, deleted or extended; the other project sees nothing.
	_, err = volumeattach.Create(ctx, c, vm2.ID, volumeattach.CreateOpts{VolumeID: data}).Extract()
	wantStatus(t, "attach an in-use volume", err, 400)
	_, err = volumeattach.Create(ctx, c, vm1, volumeattach.CreateOpts{VolumeID: data}).Extract()
	wantStatus(t, "attach it twice", err, 400)
	wantStatus(t, "delete an in-use volume", volumes.Delete(ctx, vc, data, nil).ExtractErr(), 400)
	wantStatus(t, "extend an in-use volume", volumes.ExtendSize(ctx, vc, data, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr(), 400)
	_, err = snapshots.Create(ctx, vc, snapshots.CreateOpts{VolumeID: data, Name: "live"}).Extract()
	wantStatus(t, "snapshot an in-use volume without force", err, 400)
	live, err := snapshots.Create(ctx, vc, snapshots.CreateOpts{VolumeID: data, Name: "live", Force: true}).Extract()
	wantStatus(t, "snapshot an in-use volume with force", err, 0)
	waitSnapshotStatus(t, vc, live.ID, "available")
	wantStatus(t, "delete the snapshot", snapshots.Delete(ctx, vc, live.ID).ExtractErr(), 0)
	waitSnapshotStatus(t, vc, live.ID, "")
	_, err = volumeattach.Get(ctx, cb, vm1, data).Extract()
	wantStatus(t, "the other project shows the attachment", err, 404)
	wantStatus(t, "the other project detaches", volumeattach.Delete(ctx, cb, vm1, data).ExtractErr(), 404)
	_, err = volumes.Get(ctx, vcb, data).Extract()
	wantStatus(t, "the other project shows the volume", err, 404)
	waitVolumeStatus(t, vc, data, "in-use")
	// Compute's attachment is not let go through Cinder's attachments API
	// (the disk would stay in the VM).
	vc44 := *vc
	vc44.Microversion = "3.44"
	pages, err = attachments.List(&vc44, attachments.ListOpts{VolumeID: data}).AllPages(ctx)
	wantStatus(t, "Cinder's attachment list", err, 0)
	cinderAtts, _ := attachments.ExtractAttachments(pages)
	if len(cinderAtts) != 1 || cinderAtts[0].Instance != vm1 || cinderAtts[0].Status != "attached" {
		t.Fatalf("Cinder's attachments = %+v", cinderAtts)
	}
	wantStatus(t, "delete compute's attachment in Cinder", attachments.Delete(ctx, &vc44, cinderAtts[0].ID).Err, 400)
	waitVolumeStatus(t, vc, data, "in-use")

	// Detached: available, out of the VM.
	wantStatus(t, "detach", volumeattach.Delete(ctx, c, vm1, data).ExtractErr(), 0)
	waitDetached(t, c, vm1, data)
	if v := waitVolumeStatus(t, vc, data, "available"); len(v.Attachments) != 0 {
		t.Errorf("attachments after the detach: %+v", v.Attachments)
	}
	if got := specVolumes(vm1); len(got) != 0 {
		t.Errorf("vm1's VM still has volumes %v", got)
	}
	wantStatus(t, "detach again", volumeattach.Delete(ctx, c, vm1, data).ExtractErr(), 404)

	// A stopped server takes the volume at its next start.
	wantStatus(t, "stop vm2", servers.Stop(ctx, c, vm2.ID).ExtractErr(), 0)
	waitStatus(t, c, vm2.ID, "SHUTOFF")
	_, err = volumeattach.Create(ctx, c, vm2.ID, volumeattach.CreateOpts{VolumeID: data, Device: "/dev/vdc"}).Extract()
	wantStatus(t, "attach to a stopped server", err, 0)
	if v := waitVolumeStatus(t, vc, data, "in-use"); v.Attachments[0].Device != "/dev/vdc" {
		t.Errorf("device = %q, want the one asked for", v.Attachments[0].Device)
	}
	wantStatus(t, "start vm2", servers.Start(ctx, c, vm2.ID).ExtractErr(), 0)
	waitStatus(t, c, vm2.ID, "ACTIVE")
	if got := specVolumes(vm2.ID); len(got) != 1 || got[0] != data {
		t.Errorf("vm2 started with volumes %v", got)
	}
	// Its deletion lets the volume go; one with delete_on_termination goes with it.
	scratch := newVolume(t, vc, "scratch")
	_, err = volumeattach.Create(ctx, c, vm2.ID, volumeattach.CreateOpts{VolumeID: scratch, DeleteOnTermination: true}).Extract()
	wantStatus(t, "attach with delete_on_termination", err, 0)
	deleteAndWait(t, srv, c, vm2.ID)
	waitVolumeStatus(t, vc, data, "available")
	waitVolumeStatus(t, vc, scratch, "")
	waitVolumeStatus(t, vcb, betaVol, "available")
}

// volumeScript is user data for the test guest: it waits for the disk
// whose serial is the volume's (its first 20 characters, as virtio-blk
// shows it), then runs then (with $dev the disk's device) and prints
// what it did to the console.
func volumeScript(volumeID, then string) []byte {
	return []byte(`#!/bin/sh
serial=` + volumeID[:20] + `
find_disk() {
	for s in /sys/block/vd*/serial; do
		if [ "$(cat "$s" 2>/dev/null)" = "$serial" ]; then d=${s%/serial}; echo "/dev/${d##*/}"; return 0; fi
	done
	return 1
}
i=0
until dev=$(find_disk); do sleep 1; i=$((i+1)); [ $i -gt 900 ] && exit 1; done
echo "vol-test: found $dev"
` + then)
}

// TestVolumeMovesBetweenGuests: a volume hot-plugged into a running test
// guest appears there (found by its serial), the guest writes a pattern to
// it, and the volume is hot-unplugged (the guest sees it go); attached to
// a second server while it is stopped, the volume is there when it boots,
// and the second guest reads the first one's pattern. The volume's file
// on the host holds it too. Extended while attached, the volume grows in
// the guest; snapshotted while attached, QEMU copies it. Then a
// multiattach volume is plugged into both running guests at once: what
// the first writes, the second reads (past its page cache).
func TestVolumeMovesBetweenGuests(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c, vc := computeClient(t, p, "2.79"), volumeClient(t, p)
	imageID := servertest.UploadTestGuest(t, p)
	flavor := flavorID(t, c, "SCS-1L-1")
	vol := newVolume(t, vc, "moving")
	marker := "sov-volume-pattern-" + vol[:8]
	_, err := volumetypes.Create(ctx, volumeClient(t, srv.Admin(t).ProviderClient), volumetypes.CreateOpts{Name: "multi", IsPublic: new(true),
		ExtraSpecs: map[string]string{"multiattach": "<is> True"}}).Extract()
	wantStatus(t, "create a multiattach type", err, 0)
	sv, err := volumes.Create(ctx, vc, volumes.CreateOpts{Name: "shared", Size: 1, VolumeType: "multi"}, nil).Extract()
	wantStatus(t, "create a multiattach volume", err, 0)
	waitVolumeStatus(t, vc, sv.ID, "available")
	sharedMarker := "sov-shared-pattern-" + sv.ID[:8]
	// Then each guest waits for the multiattach volume.
	findShared := `serial=` + sv.ID[:20] + `
until dev=$(find_disk); do sleep 1; done
echo "vol-test: found shared $dev"
`
	yes := true
	create := func(name string, userData []byte) string {
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: imageID, FlavorRef: flavor, Networks: "none",
			ConfigDrive: &yes, UserData: userData}, nil).Extract()
		wantStatus(t, "create "+name, err, 0)
		waitStatus(t, c, s.ID, "ACTIVE")
		return s.ID
	}
	writer := create("writer", volumeScript(vol, `echo `+marker+` | dd of=$dev bs=512 seek=2048 conv=fsync 2>/dev/null && sync && echo "vol-test: wrote"
while [ -e /sys/block/${dev#/dev/} ]; do sleep 1; done
echo "vol-test: disk gone"
`+findShared+`echo `+sharedMarker+` | dd of=$dev bs=512 seek=4096 conv=fsync 2>/dev/null && sync && echo "vol-test: wrote shared"
`))
	reader := create("reader", volumeScript(vol, `echo "vol-test: read $(dd if=$dev bs=512 skip=2048 count=1 2>/dev/null | head -n 1)"
size=/sys/block/${dev#/dev/}/size
was=$(cat $size)
while [ "$(cat $size)" = "$was" ]; do sleep 1; done
echo "vol-test: size $(cat $size)"
`+findShared+`until dd if=$dev bs=512 skip=4096 count=1 2>/dev/null | grep -q `+sharedMarker+`; do sleep 1; echo 3 > /proc/sys/vm/drop_caches; done
echo "vol-test: read shared `+sharedMarker+`"
`))
	waitConsole(t, c, writer, "sov-guest: running user_data")
	waitConsole(t, c, reader, "sov-guest: running user_data")
	wantStatus(t, "stop the reader", servers.Stop(ctx, c, reader).ExtractErr(), 0)
	waitStatus(t, c, reader, "SHUTOFF")

	_, err = volumeattach.Create(ctx, c, writer, volumeattach.CreateOpts{VolumeID: vol}).Extract()
	wantStatus(t, "attach to the writer", err, 0)
	waitConsole(t, c, writer, "vol-test: wrote")
	wantStatus(t, "detach from the writer", volumeattach.Delete(ctx, c, writer, vol).ExtractErr(), 0)
	waitDetached(t, c, writer, vol)
	waitVolumeStatus(t, vc, vol, "available")
	waitConsole(t, c, writer, "vol-test: disk gone")

	_, err = volumeattach.Create(ctx, c, reader, volumeattach.CreateOpts{VolumeID: vol}).Extract()
	wantStatus(t, "attach to the stopped reader", err, 0)
	wantStatus(t, "start the reader", servers.Start(ctx, c, reader).ExtractErr(), 0)
	waitStatus(t, c, reader, "ACTIVE")
	waitConsole(t, c, reader, "vol-test: read "+marker)

	file, err := os.ReadFile(filepath.Join(srv.DataDir(), "volumes", vol+".qcow2"))
	if err != nil || !strings.Contains(string(file), marker) {
		t.Errorf("the volume's file (%d bytes, %v) lacks the pattern", len(file), err)
	}
	// Extended while attached (3.42): the guest sees the new size.
	vc42 := *vc
	vc42.Microversion = "3.42"
	wantStatus(t, "extend the attached volume", volumes.ExtendSize(ctx, &vc42, vol, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr(), 0)
	if v := waitVolumeStatus(t, vc, vol, "in-use"); v.Size != 2 {
		t.Errorf("the extended volume has size %d", v.Size)
	}
	waitConsole(t, c, reader, "vol-test: size 4194304")
	// A snapshot while the guest runs on it (force): QEMU copies it.
	snap, err := snapshots.Create(ctx, vc, snapshots.CreateOpts{VolumeID: vol, Force: true}).Extract()
	wantStatus(t, "snapshot the attached volume", err, 0)
	waitSnapshotStatus(t, vc, snap.ID, "available")
	if file, err := os.ReadFile(filepath.Join(srv.DataDir(), "volumes", "snapshots", snap.ID+".qcow2")); err != nil || !strings.Contains(string(file), marker) {
		t.Errorf("the snapshot's file (%d bytes, %v) lacks the pattern", len(file), err)
	}
	// A backup while the guest runs on it (force): from a copy QEMU makes;
	// the volume is in use again after.
	bk, err := backups.Create(ctx, vc, backups.CreateOpts{VolumeID: vol, Force: true}).Extract()
	wantStatus(t, "back up the attached volume", err, 0)
	for end := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		b, err := backups.Get(ctx, vc, bk.ID).Extract()
		if err == nil && b.Status == "available" {
			break
		}
		if err != nil || b.Status == "error" || time.Now().After(end) {
			t.Fatalf("the attached volume's backup: %+v %v", b, err)
		}
	}
	waitVolumeStatus(t, vc, vol, "in-use")
	restored, err := backups.RestoreFromBackup(ctx, vc, bk.ID, backups.RestoreOpts{Name: "restored"}).Extract()
	wantStatus(t, "restore the attached volume's backup", err, 0)
	waitVolumeStatus(t, vc, restored.VolumeID, "available")
	if file, err := os.ReadFile(filepath.Join(srv.DataDir(), "volumes", restored.VolumeID+".qcow2")); err != nil || !strings.Contains(string(file), marker) {
		t.Errorf("the volume restored from the attached volume's backup (%d bytes, %v) lacks the pattern", len(file), err)
	}
	wantStatus(t, "detach from the running reader", volumeattach.Delete(ctx, c, reader, vol).ExtractErr(), 0)
	waitDetached(t, c, reader, vol)
	waitVolumeStatus(t, vc, vol, "available")

	// The multiattach volume in both at once: the reader reads what the
	// writer writes.
	for _, s := range []string{reader, writer} {
		_, err = volumeattach.Create(ctx, c, s, volumeattach.CreateOpts{VolumeID: sv.ID}).Extract()
		wantStatus(t, "attach the multiattach volume", err, 0)
	}
	waitConsole(t, c, writer, "vol-test: wrote shared")
	waitConsole(t, c, reader, "vol-test: read shared "+sharedMarker)
	if v := waitVolumeStatus(t, vc, sv.ID, "in-use"); len(v.Attachments) != 2 {
		t.Errorf("the multiattach volume's attachments: %+v", v.Attachments)
	}
	if file, err := os.ReadFile(filepath.Join(srv.DataDir(), "volumes", sv.ID+".raw")); err != nil || !strings.Contains(string(file), sharedMarker) {
		t.Errorf("the multiattach volume's raw file (%d bytes, %v) lacks the pattern", len(file), err)
	}
	for _, s := range []string{writer, reader} {
		wantStatus(t, "detach the multiattach volume", volumeattach.Delete(ctx, c, s, sv.ID).ExtractErr(), 0)
		waitDetached(t, c, s, sv.ID)
	}
	waitVolumeStatus(t, vc, sv.ID, "available")
}

// TestBootFromVolume: servers boot from a volume made from an image
// (block_device_mapping_v2, as `server create --boot-from-volume`), from
// an existing volume (`--volume`) and with a data volume from a snapshot;
// the root volume is the VM's disk, cannot be detached, outlives its
// server without delete_on_termination and boots another one, and goes
// with its server with it (unless it has snapshots, as in Cinder). Another project's volume and bad mappings are
// refused at create.
func TestBootFromVolume(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	pa := srv.Provider(t, alpha)
	c, vc := computeClient(t, pa, "2.79"), volumeClient(t, pa)
	hv := srv.Compute().Driver()
	imageID := servertest.UploadTestGuest(t, pa)
	flavor := flavorID(t, c, "SCS-1L-1")
	betaVol := newVolume(t, volumeClient(t, srv.Provider(t, beta)), "beta")
	create := func(name string, bdms []servers.BlockDevice) (string, error) {
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, FlavorRef: flavor, Networks: "none", BlockDevice: bdms}, nil).Extract()
		if err != nil {
			return "", err
		}
		return s.ID, nil
	}
	for _, tc := range []struct {
		name string
		bdms []servers.BlockDevice
		want int
	}{
		{"no root", nil, 400},
		{"another project's volume", []servers.BlockDevice{{SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: betaVol, BootIndex: 0}}, 400},
		{"an unknown image", []servers.BlockDevice{{SourceType: servers.SourceImage, DestinationType: servers.DestinationVolume, UUID: betaVol, BootIndex: 0, VolumeSize: 1}}, 400},
		{"an image without a size", []servers.BlockDevice{{SourceType: servers.SourceImage, DestinationType: servers.DestinationVolume, UUID: imageID, BootIndex: 0}}, 400},
		{"two roots", []servers.BlockDevice{{SourceType: servers.SourceImage, DestinationType: servers.DestinationVolume, UUID: imageID, BootIndex: 0, VolumeSize: 1},
			{SourceType: servers.SourceBlank, DestinationType: servers.DestinationVolume, BootIndex: 0, VolumeSize: 1}}, 400},
		{"a swap disk", []servers.BlockDevice{{SourceType: servers.SourceImage, DestinationType: servers.DestinationLocal, UUID: imageID, BootIndex: 0},
			{SourceType: servers.SourceBlank, DestinationType: servers.DestinationLocal, BootIndex: -1, VolumeSize: 1, GuestFormat: "swap"}}, 501},
	} {
		_, err := create(tc.name, tc.bdms)
		wantStatus(t, tc.name, err, tc.want)
	}

	// From an image, kept after its server.
	first, err := create("bfv", []servers.BlockDevice{{SourceType: servers.SourceImage, DestinationType: servers.DestinationVolume, UUID: imageID, BootIndex: 0, VolumeSize: 1}})
	wantStatus(t, "boot from a new volume", err, 0)
	s := waitStatus(t, c, first, "ACTIVE")
	if s.Image != nil && len(s.Image) != 0 || len(s.AttachedVolumes) != 1 {
		t.Fatalf("server booted from a volume: image %v, volumes %+v", s.Image, s.AttachedVolumes)
	}
	root := s.AttachedVolumes[0].ID
	v := waitVolumeStatus(t, vc, root, "in-use")
	if v.Bootable != "true" || v.VolumeImageMetadata["image_id"] != imageID || v.Attachments[0].Device != "/dev/vda" {
		t.Errorf("the boot volume: %+v", v)
	}
	spec, err := hv.SavedSpec(first)
	if err != nil || spec.Disk.Path != "fake-volume:"+root || spec.RootSerial != root || spec.Kernel == "" || len(spec.Volumes) != 0 {
		t.Errorf("the VM's spec: %+v, %v", spec, err)
	}
	vc42 := *vc
	vc42.Microversion = "3.42"
	wantStatus(t, "extend the root volume", volumes.ExtendSize(ctx, &vc42, root, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr(), 0)
	if v := waitVolumeStatus(t, vc, root, "in-use"); v.Size != 2 {
		t.Errorf("the extended root volume has size %d", v.Size)
	}
	wantStatus(t, "detach the root volume", volumeattach.Delete(ctx, c, first, root).ExtractErr(), 400)
	deleteAndWait(t, srv, c, first)
	waitVolumeStatus(t, vc, root, "available")

	// From that volume again, with a data volume from a snapshot; both go with the server.
	snap, err := snapshots.Create(ctx, vc, snapshots.CreateOpts{VolumeID: root, Name: "snap"}).Extract()
	wantStatus(t, "snapshot", err, 0)
	waitSnapshotStatus(t, vc, snap.ID, "available")
	second, err := create("again", []servers.BlockDevice{
		{SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: root, BootIndex: 0, DeleteOnTermination: true},
		{SourceType: servers.SourceSnapshot, DestinationType: servers.DestinationVolume, UUID: snap.ID, BootIndex: -1, DeleteOnTermination: true}})
	wantStatus(t, "boot from the volume again", err, 0)
	s = waitStatus(t, c, second, "ACTIVE")
	if len(s.AttachedVolumes) != 2 {
		t.Fatalf("volumes = %+v", s.AttachedVolumes)
	}
	data := s.AttachedVolumes[1].ID
	if spec, _ := hv.SavedSpec(second); spec.Disk.Path != "fake-volume:"+root || len(spec.Volumes) != 1 || spec.Volumes[0].Serial != data {
		t.Errorf("the VM's spec: %+v", spec)
	}
	_, err = create("busy", []servers.BlockDevice{{SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: root, BootIndex: 0}})
	wantStatus(t, "boot from an in-use volume", err, 400)
	deleteAndWait(t, srv, c, second)
	waitVolumeStatus(t, vc, data, "")
	// The root volume has a snapshot, which Cinder does not delete with it:
	// the volume stays, available.
	waitVolumeStatus(t, vc, root, "available")
	wantStatus(t, "delete the snapshot", snapshots.Delete(ctx, vc, snap.ID).ExtractErr(), 0)
	third, err := create("third", []servers.BlockDevice{{SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: root, BootIndex: 0, DeleteOnTermination: true}})
	wantStatus(t, "boot from the volume a third time", err, 0)
	waitStatus(t, c, third, "ACTIVE")
	deleteAndWait(t, srv, c, third)
	waitVolumeStatus(t, vc, root, "")
}

// TestBootFromVolumeKeepsData: a test guest booted from a volume made
// from its image writes a pattern to its root disk; its server is deleted
// (the volume stays, delete_on_termination false), and a new server booted
// from the same volume reads the pattern back.
func TestBootFromVolumeKeepsData(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c, vc := computeClient(t, p, "2.79"), volumeClient(t, p)
	imageID := servertest.UploadTestGuest(t, p)
	flavor := flavorID(t, c, "SCS-1L-1")
	yes := true
	boot := func(name string, bdm servers.BlockDevice, userData string) string {
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, FlavorRef: flavor, Networks: "none", ConfigDrive: &yes,
			BlockDevice: []servers.BlockDevice{bdm}, UserData: []byte(userData)}, nil).Extract()
		wantStatus(t, "create "+name, err, 0)
		waitStatus(t, c, s.ID, "ACTIVE")
		return s.ID
	}
	marker := "sov-boot-volume-" + imageID[:8]
	first := boot("first", servers.BlockDevice{SourceType: servers.SourceImage, DestinationType: servers.DestinationVolume, UUID: imageID, BootIndex: 0, VolumeSize: 1},
		"#!/bin/sh\necho "+marker+" | dd of=/dev/vda bs=512 seek=4096 conv=fsync 2>/dev/null && sync && echo vol-test: wrote\n")
	waitConsole(t, c, first, "vol-test: wrote")
	s, err := servers.Get(ctx, c, first).Extract()
	wantStatus(t, "show", err, 0)
	root := s.AttachedVolumes[0].ID
	deleteAndWait(t, srv, c, first)
	waitVolumeStatus(t, vc, root, "available")

	second := boot("second", servers.BlockDevice{SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: root, BootIndex: 0},
		"#!/bin/sh\necho \"vol-test: read $(dd if=/dev/vda bs=512 skip=4096 count=1 2>/dev/null | head -n 1)\"\n")
	waitConsole(t, c, second, "vol-test: read "+marker)
}
