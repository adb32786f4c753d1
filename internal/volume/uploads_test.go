package volume_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/volume/backend/fake"
)

// waitImage waits for an image's status.
func waitImage(t *testing.T, ic *gophercloud.ServiceClient, id string, want images.ImageStatus) *images.Image {
	t.Helper()
	for end := time.Now().Add(3 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		img, err := images.Get(ctx, ic, id).Extract()
		if err == nil && img.Status == want {
			return img
		}
		if time.Now().After(end) {
			t.Fatalf("image %s is %+v, %v; want %s", id, img, err, want)
		}
	}
}

// TestVolumeUploadToImage uploads a volume to a new image of its project
// (openstack image create --volume): raw or qcow2, the volume's data and
// its image metadata; bad input, a volume in use and another project's
// volume make no image.
func TestVolumeUploadToImage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	pa := srv.Provider(t, alpha)
	a, b := volumeClient(t, pa), volumeClient(t, srv.Provider(t, beta))
	ic, err := openstack.NewImageV2(pa, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	backend := srv.Volumes().Backend().(*fake.Driver)
	raw := make([]byte, 2<<20)
	for i := 1 << 20; i < 2<<20; i++ {
		raw[i] = 0x5e
	}
	v, err := volumes.Create(ctx, a, volumes.CreateOpts{ImageID: uploadImage(t, pa, "disk", "raw", raw), Name: "src"}, nil).Extract()
	wantStatus(t, "volume", err, 0)
	waitVolume(t, a, v.ID, "available")
	if got, _ := backend.Read(v.ID); got != 0x5e {
		t.Fatalf("the volume holds %#x", got)
	}

	up, err := volumes.UploadImage(ctx, at(a, "1"), v.ID, volumes.UploadImageOpts{ImageName: "from-volume", Visibility: "private"}).Extract()
	wantStatus(t, "upload", err, 0)
	if up.Status != "uploading" || up.DiskFormat != "raw" || up.ContainerFormat != "bare" || up.ImageName != "from-volume" || up.ImageID == "" || up.Visibility != "private" {
		t.Errorf("upload answer %+v", up)
	}
	img := waitImage(t, ic, up.ImageID, images.ImageStatusActive)
	waitVolume(t, a, v.ID, "available")
	if img.Owner != alpha.ProjectID || img.Visibility != "private" || img.DiskFormat != "raw" || img.SizeBytes != 1<<30 ||
		img.Properties["os_distro"] != "debian" || img.Properties["image_id"] != nil {
		t.Errorf("the image %+v", img)
	}
	r, err := imagedata.Download(ctx, ic, up.ImageID).Extract()
	wantStatus(t, "download", err, 0)
	data, _ := io.ReadAll(r)
	r.Close()
	if len(data) != 1<<30 || data[1<<20] != 0x5e || data[0] != 0 {
		t.Errorf("the image's data: %d bytes, %#x at 1 MiB", len(data), data[1<<20])
	}

	// qcow2.
	up, err = volumes.UploadImage(ctx, a, v.ID, volumes.UploadImageOpts{ImageName: "as-qcow2", DiskFormat: "qcow2"}).Extract()
	wantStatus(t, "upload as qcow2", err, 0)
	img = waitImage(t, ic, up.ImageID, images.ImageStatusActive)
	r, _ = imagedata.Download(ctx, ic, up.ImageID).Extract()
	head := make([]byte, 4)
	io.ReadFull(r, head)
	r.Close()
	if img.DiskFormat != "qcow2" || !bytes.Equal(head, []byte("QFI\xfb")) {
		t.Errorf("the qcow2 image %+v starts %q", img, head)
	}
	waitVolume(t, a, v.ID, "available")

	// Refused: no image made.
	count := func() int {
		pages, _ := images.List(ic, images.ListOpts{Owner: alpha.ProjectID}).AllPages(ctx)
		list, _ := images.ExtractImages(pages)
		return len(list)
	}
	before := count()
	for name, opts := range map[string]volumes.UploadImageOpts{
		"no name":          {},
		"vmdk":             {ImageName: "x", DiskFormat: "vmdk"},
		"ovf":              {ImageName: "x", ContainerFormat: "ovf"},
		"public by member": {ImageName: "x", Visibility: "public"},
	} {
		_, err = volumes.UploadImage(ctx, at(a, "1"), v.ID, opts).Extract()
		if !servertest.IsStatus(err, http.StatusBadRequest) && !servertest.IsStatus(err, http.StatusForbidden) {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err = volumes.UploadImage(ctx, a, v.ID, volumes.UploadImageOpts{ImageName: "x", Visibility: "private"}).Extract()
	wantStatus(t, "visibility at 3.0", err, http.StatusBadRequest)
	_, err = volumes.UploadImage(ctx, b, v.ID, volumes.UploadImageOpts{ImageName: "stolen"}).Extract()
	wantStatus(t, "beta uploads alpha's volume", err, http.StatusNotFound)
	// In use (an attachment of Cinder's API): Cinder's default refuses even with force.
	_, err = attachments.Create(ctx, at(a, "27"), attachments.CreateOpts{VolumeUUID: v.ID, InstanceUUID: "11111111-2222-4333-8444-555555555555"}).Extract()
	wantStatus(t, "reserve", err, 0)
	_, err = volumes.UploadImage(ctx, a, v.ID, volumes.UploadImageOpts{ImageName: "x", Force: true}).Extract()
	wantStatus(t, "upload a reserved volume", err, http.StatusBadRequest)
	if n := count(); n != before {
		t.Errorf("refused uploads made %d images", n-before)
	}
}

// TestUploadRecovery: a restart ends an upload a stop interrupted: the
// volume is available again, its half-made image is gone.
func TestUploadRecovery(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	pa := srv.Provider(t, alpha)
	a := volumeClient(t, pa)
	ic, err := openstack.NewImageV2(pa, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	v := newVolume(t, a, "v", 1)
	waitVolume(t, a, v, "available")
	img, err := images.Create(ctx, ic, images.CreateOpts{Name: "half", DiskFormat: "raw", ContainerFormat: "bare"}).Extract()
	wantStatus(t, "image", err, 0)
	// As a stop in the middle of an upload leaves them.
	if _, err := srv.Store(t).Exec(ctx, `UPDATE volumes SET status = 'uploading', upload_image = ? WHERE id = ?`, img.ID, v); err != nil {
		t.Fatal(err)
	}
	srv = srv.Restart(t)
	pa = srv.Provider(t, alpha)
	waitVolume(t, volumeClient(t, pa), v, "available")
	ic, _ = openstack.NewImageV2(pa, gophercloud.EndpointOpts{})
	_, err = images.Get(ctx, ic, img.ID).Extract()
	wantStatus(t, "the half-made image", err, http.StatusNotFound)
}
