package compute_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/volume/backend/fake"
)

// TestVolumeBackedServerImage: the image of a server booted from a volume
// is Nova's: no data, and the mapping of snapshots of its volumes (root
// and data, taken while the server runs); a server made from the image
// boots from volumes made of those snapshots, with their data, and the
// boot volume's image metadata. Another project can use neither the
// image nor the snapshots.
func TestVolumeBackedServerImage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	pa, pb := srv.Provider(t, alpha), srv.Provider(t, beta)
	c, cb := computeClient(t, pa, "2.79"), computeClient(t, pb, "2.79")
	vc, ic := volumeClient(t, pa), imageClient(t, pa)
	backend := srv.Volumes().Backend().(*fake.Driver)
	guest := servertest.UploadTestGuest(t, pa)
	flavor := flavorID(t, c, "SCS-1L-1")

	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "bfv", FlavorRef: flavor, Networks: "none",
		BlockDevice: []servers.BlockDevice{{SourceType: servers.SourceImage, DestinationType: servers.DestinationVolume, UUID: guest, BootIndex: 0,
			VolumeSize: 1, DeleteOnTermination: true}}}, nil).Extract()
	wantStatus(t, "boot from volume", err, 0)
	got := waitStatus(t, c, s.ID, "ACTIVE")
	root := got.AttachedVolumes[0].ID
	data := newVolume(t, vc, "data")
	_, err = volumeattach.Create(ctx, c, s.ID, volumeattach.CreateOpts{VolumeID: data}).Extract()
	wantStatus(t, "attach the data volume", err, 0)
	waitVolumeStatus(t, vc, data, "in-use")
	backend.Write(root, 0x71)
	backend.Write(data, 0x72)

	id, err := createImage(t, c, s.ID, map[string]any{"name": "bfv-image", "metadata": map[string]string{"purpose": "test"}})
	wantStatus(t, "image of the volume-backed server", err, 0)
	img := waitImage(t, ic, id, images.ImageStatusActive)
	waitStatus(t, c, s.ID, "ACTIVE")
	p := img.Properties
	if img.SizeBytes != 0 || img.DiskFormat != "raw" || p["bdm_v2"] != "True" || p["root_device_name"] != "/dev/vda" || p["purpose"] != "test" ||
		p["image_type"] != "snapshot" || p["instance_uuid"] != s.ID || p["kernel_id"] == nil {
		t.Errorf("the volume-backed server's image: %+v", img)
	}
	var maps []map[string]any
	if raw, _ := p["block_device_mapping"].(string); json.Unmarshal([]byte(raw), &maps) != nil || len(maps) != 2 {
		t.Fatalf("the image's block_device_mapping: %v", p["block_device_mapping"])
	}
	var snaps []string
	for _, m := range maps {
		snaps = append(snaps, m["snapshot_id"].(string))
		if m["source_type"] != "snapshot" || m["destination_type"] != "volume" {
			t.Errorf("a mapping: %v", m)
		}
	}
	pages, err := snapshots.List(vc, nil).AllPages(ctx)
	wantStatus(t, "list snapshots", err, 0)
	all, _ := snapshots.ExtractSnapshots(pages)
	var listed []string
	for _, sn := range all {
		listed = append(listed, sn.ID)
		if sn.Name != "snapshot for bfv-image" || sn.Status != "available" {
			t.Errorf("a snapshot of the server's volumes: %+v", sn)
		}
	}
	slices.Sort(listed)
	slices.Sort(snaps)
	if !slices.Equal(listed, snaps) {
		t.Errorf("the project's snapshots %v, the image maps %v", listed, snaps)
	}

	// A server from the image boots from volumes made of the snapshots.
	s2, err := servers.Create(ctx, c, servers.CreateOpts{Name: "from-image", ImageRef: id, FlavorRef: flavor, Networks: "none"}, nil).Extract()
	wantStatus(t, "a server from the image", err, 0)
	got = waitStatus(t, c, s2.ID, "ACTIVE")
	if len(got.AttachedVolumes) != 2 {
		t.Fatalf("the server from the image has volumes %+v", got.AttachedVolumes)
	}
	for _, av := range got.AttachedVolumes {
		v := waitVolumeStatus(t, vc, av.ID, "in-use")
		held, _ := backend.Read(v.ID)
		boot := v.Attachments[0].Device == "/dev/vda"
		switch {
		case !slices.Contains(snaps, v.SnapshotID):
			t.Errorf("a volume of the server from the image is not of its snapshots: %+v", v)
		case boot && (held != 0x71 || v.Bootable != "true" || v.VolumeImageMetadata["image_id"] != guest):
			t.Errorf("the boot volume of the server from the image: %+v, data %#x", v, held)
		case !boot && held != 0x72:
			t.Errorf("the data volume of the server from the image holds %#x", held)
		}
	}

	// Cinder makes a volume of the image from 3.46: of its boot snapshot.
	_, err = volumes.Create(ctx, vc, volumes.CreateOpts{ImageID: id, Size: 1}, nil).Extract()
	wantStatus(t, "a volume of the image before 3.46", err, http.StatusBadRequest)
	vc46 := *vc
	vc46.Microversion = "3.46"
	v, err := volumes.Create(ctx, &vc46, volumes.CreateOpts{ImageID: id}, nil).Extract()
	wantStatus(t, "a volume of the image", err, 0)
	v = waitVolumeStatus(t, vc, v.ID, "available")
	if held, _ := backend.Read(v.ID); !slices.Contains(snaps, v.SnapshotID) || held != 0x71 || v.Bootable != "true" {
		t.Errorf("the volume of the image: %+v, data %#x", v, held)
	}

	// Another project: neither the image nor the snapshots.
	_, err = servers.Create(ctx, cb, servers.CreateOpts{Name: "thief", ImageRef: id, FlavorRef: flavor, Networks: "none"}, nil).Extract()
	wantStatus(t, "another project boots from the image", err, http.StatusBadRequest)
	_, err = volumes.Create(ctx, volumeClient(t, pb), volumes.CreateOpts{SnapshotID: snaps[0]}, nil).Extract()
	wantStatus(t, "another project uses a snapshot", err, http.StatusNotFound)
}
