package compute_test

import (
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/volume/backend/fake"
)

// TestServerRebuild: a rebuild gives a server a new root disk of the
// image asked for (its backing file is the new image's), its new name,
// metadata and key; a stopped server stays stopped; bad requests and
// another project change nothing; the actions
// Nova has and sov has not yet answer 501.
func TestServerRebuild(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	pa, pb := srv.Provider(t, srv.NewTenant(t, "alpha", "")), srv.Provider(t, srv.NewTenant(t, "beta", ""))
	c, cb := computeClient(t, pa, "2.57"), computeClient(t, pb, "2.57")
	first, second := servertest.UploadTestGuest(t, pa), servertest.UploadTestGuest(t, pa)
	flavor := flavorID(t, c, "SCS-1L-1")
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm", ImageRef: first, FlavorRef: flavor, Networks: "none",
		Metadata: map[string]string{"a": "1"}}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	hv := srv.Compute().Driver()
	before, err := hv.SavedSpec(s.ID)
	if err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		opts rebuildOpts
		want int
	}{
		"no image":          {rebuildOpts{"name": "x"}, http.StatusBadRequest},
		"an unknown image":  {rebuildOpts{"imageRef": "00000000-0000-4000-8000-000000000000"}, http.StatusBadRequest},
		"an unknown key":    {rebuildOpts{"imageRef": second, "key_name": "nope"}, http.StatusBadRequest},
		"bad user data":     {rebuildOpts{"imageRef": second, "user_data": "not base64!"}, http.StatusBadRequest},
		"an empty name":     {rebuildOpts{"imageRef": second, "name": ""}, http.StatusBadRequest},
		"personality, 2.57": {rebuildOpts{"imageRef": second, "personality": []any{}}, http.StatusBadRequest},
	} {
		_, err := servers.Rebuild(ctx, c, s.ID, tc.opts).Extract()
		wantStatus(t, "rebuild with "+name, err, tc.want)
	}
	_, err = servers.Rebuild(ctx, cb, s.ID, rebuildOpts{"imageRef": second}).Extract()
	wantStatus(t, "another project rebuilds", err, http.StatusNotFound)
	for _, action := range []string{"createBackup", "shelve", "pause"} {
		_, err := c.Post(ctx, c.ServiceURL("servers", s.ID, "action"), map[string]any{action: map[string]any{}}, nil, nil)
		wantStatus(t, action, err, http.StatusNotImplemented)
	}
	if got, _ := servers.Get(ctx, c, s.ID).Extract(); got.Name != "vm" || got.Image["id"] != first {
		t.Errorf("refused rebuilds changed the server: %+v", got)
	}

	r, err := servers.Rebuild(ctx, c, s.ID, rebuildOpts{"imageRef": second, "name": "vm-2", "metadata": map[string]string{"b": "2"}}).Extract()
	wantStatus(t, "rebuild", err, 0)
	if r.Status != "REBUILD" || r.Name != "vm-2" {
		t.Errorf("the rebuild's answer: %+v", r)
	}
	got := waitStatus(t, c, s.ID, "ACTIVE")
	if got.Image["id"] != second || got.Name != "vm-2" || got.Metadata["b"] != "2" || got.Metadata["a"] != "" {
		t.Errorf("the rebuilt server: %+v", got)
	}
	after, err := hv.SavedSpec(s.ID)
	if err != nil || after.Disk.Backing == nil || after.Disk.Backing.Path == before.Disk.Backing.Path {
		t.Errorf("the rebuilt VM's disk %+v (%v) stands on the old image's %+v", after.Disk, err, before.Disk.Backing)
	}

	// A stopped server stays stopped, and boots its new disk at its start.
	wantStatus(t, "stop", servers.Stop(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "SHUTOFF")
	_, err = servers.Rebuild(ctx, c, s.ID, rebuildOpts{"imageRef": first}).Extract()
	wantStatus(t, "rebuild a stopped server", err, 0)
	waitStatus(t, c, s.ID, "SHUTOFF")
	wantStatus(t, "start", servers.Start(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	if spec, err := hv.SavedSpec(s.ID); err != nil || spec.Disk.Backing.Path != before.Disk.Backing.Path {
		t.Errorf("after the rebuild of the stopped server, its disk: %+v (%v)", spec.Disk, err)
	}
}

// TestVolumeBackedRebuild: a server booted from a volume is rebuilt with
// its own image before 2.93 (its volume's data kept) and not with
// another; from 2.93 its boot volume is reimaged: the image's data and
// metadata, in use by the server again, which boots from it still.
func TestVolumeBackedRebuild(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	pa, pb := srv.Provider(t, srv.NewTenant(t, "alpha", "")), srv.Provider(t, srv.NewTenant(t, "beta", ""))
	c92, c93, cb := computeClient(t, pa, "2.92"), computeClient(t, pa, "2.93"), computeClient(t, pb, "2.93")
	vc := volumeClient(t, pa)
	backend := srv.Volumes().Backend().(*fake.Driver)
	first, second := servertest.UploadTestGuest(t, pa), servertest.UploadTestGuest(t, pa)
	flavor := flavorID(t, c93, "SCS-1L-1")
	s, err := servers.Create(ctx, c93, servers.CreateOpts{Name: "bfv", FlavorRef: flavor, Networks: "none",
		BlockDevice: []servers.BlockDevice{{SourceType: servers.SourceImage, DestinationType: servers.DestinationVolume, UUID: first, BootIndex: 0,
			VolumeSize: 1}}}, nil).Extract()
	wantStatus(t, "boot from volume", err, 0)
	root := waitStatus(t, c93, s.ID, "ACTIVE").AttachedVolumes[0].ID
	imageByte, _ := backend.Read(root)
	backend.Write(root, 0x71)

	_, err = servers.Rebuild(ctx, c92, s.ID, rebuildOpts{"imageRef": second}).Extract()
	wantStatus(t, "rebuild with another image before 2.93", err, http.StatusBadRequest)
	_, err = servers.Rebuild(ctx, cb, s.ID, rebuildOpts{"imageRef": second}).Extract()
	wantStatus(t, "another project rebuilds", err, http.StatusNotFound)
	_, err = servers.Rebuild(ctx, c92, s.ID, rebuildOpts{"imageRef": first, "name": "bfv-2"}).Extract()
	wantStatus(t, "rebuild with its own image before 2.93", err, 0)
	if got := waitStatus(t, c92, s.ID, "ACTIVE"); got.Name != "bfv-2" {
		t.Errorf("rebuilt: %+v", got)
	}
	if held, _ := backend.Read(root); held != 0x71 {
		t.Errorf("a rebuild before 2.93 changed the boot volume's data to %#x", held)
	}

	// A snapshot of the volume as it was keeps its image metadata then.
	sn, err := snapshots.Create(ctx, vc, snapshots.CreateOpts{VolumeID: root, Force: true}).Extract()
	wantStatus(t, "snapshot the boot volume", err, 0)
	waitSnapshotStatus(t, vc, sn.ID, "available")

	_, err = servers.Rebuild(ctx, c93, s.ID, rebuildOpts{"imageRef": second}).Extract()
	wantStatus(t, "rebuild with another image from 2.93", err, 0)
	got := waitStatus(t, c93, s.ID, "ACTIVE")
	if len(got.AttachedVolumes) != 1 || got.AttachedVolumes[0].ID != root {
		t.Errorf("the rebuilt server's volumes: %+v", got.AttachedVolumes)
	}
	v := waitVolumeStatus(t, vc, root, "in-use")
	if held, _ := backend.Read(root); held != imageByte || v.VolumeImageMetadata["image_id"] != second || v.Bootable != "true" {
		t.Errorf("the reimaged boot volume: %+v, data %#x (the image's %#x)", v, held, imageByte)
	}
	spec, err := srv.Compute().Driver().SavedSpec(s.ID)
	if err != nil || spec.RootSerial != root || spec.Disk.Path != "fake-volume:"+root {
		t.Errorf("the rebuilt VM's spec: %+v, %v", spec, err)
	}
	old, err := volumes.Create(ctx, vc, volumes.CreateOpts{SnapshotID: sn.ID}, nil).Extract()
	wantStatus(t, "a volume of the snapshot taken before the reimage", err, 0)
	old = waitVolumeStatus(t, vc, old.ID, "available")
	if held, _ := backend.Read(old.ID); held != 0x71 || old.VolumeImageMetadata["image_id"] != first {
		t.Errorf("the volume of the snapshot taken before the reimage: %+v, data %#x", old, held)
	}
}
