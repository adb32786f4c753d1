package compute_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/sovcloud/sov/internal/servertest"
)

func waitImage(t *testing.T, ic *gophercloud.ServiceClient, id string, want images.ImageStatus) *images.Image {
	t.Helper()
	for end := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		img, err := images.Get(ctx, ic, id).Extract()
		if err == nil && img.Status == want {
			return img
		}
		if time.Now().After(end) {
			t.Fatalf("image %s: %+v %v, want %s", id, img, err, want)
		}
	}
}

// createImage asks for an image of a server (2.45: the answer names it).
func createImage(t *testing.T, c *gophercloud.ServiceClient, server string, body map[string]any) (string, error) {
	t.Helper()
	var out struct {
		ImageID string `json:"image_id"`
	}
	_, err := c.Post(ctx, c.ServiceURL("servers", server, "action"), map[string]any{"createImage": body}, &out,
		&gophercloud.RequestOpts{OkCodes: []int{http.StatusAccepted}})
	return out.ImageID, err
}

// TestServerImage: an image of a running and of a stopped server (fake
// drivers) is an active qcow2 image of the project, with the request's
// metadata, the boot properties of the server's image and Nova's
// image_type, instance_uuid and base_image_ref; before 2.45 the answer
// is a Location. Bad requests and another project make no image;
// another project does not see the image.
func TestServerImage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	pa, pb := srv.Provider(t, alpha), srv.Provider(t, srv.NewTenant(t, "beta", ""))
	c, cb := computeClient(t, pa, "2.45"), computeClient(t, pb, "2.45")
	ic, icb := imageClient(t, pa), imageClient(t, pb)
	guest := servertest.UploadTestGuest(t, pa)
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm", ImageRef: guest, FlavorRef: flavorID(t, c, "SCS-1L-1"), Networks: "none"}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	countImages := func() int {
		pages, err := images.List(ic, images.ListOpts{}).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all, _ := images.ExtractImages(pages)
		return len(all)
	}
	had := countImages()
	_, err = createImage(t, c, s.ID, map[string]any{})
	wantStatus(t, "an image without a name", err, http.StatusBadRequest)
	_, err = createImage(t, c, s.ID, map[string]any{"name": "x", "metadata": "no"})
	wantStatus(t, "metadata of the wrong type", err, http.StatusBadRequest)
	_, err = createImage(t, cb, s.ID, map[string]any{"name": "stolen"})
	wantStatus(t, "another project's server", err, http.StatusNotFound)
	if n := countImages(); n != had {
		t.Errorf("refused requests made images: %d, had %d", n, had)
	}

	id, err := createImage(t, c, s.ID, map[string]any{"name": "snap", "metadata": map[string]string{"purpose": "test"}})
	wantStatus(t, "image of the running server", err, 0)
	img := waitImage(t, ic, id, images.ImageStatusActive)
	waitStatus(t, c, s.ID, "ACTIVE")
	p := img.Properties
	if img.Name != "snap" || img.DiskFormat != "qcow2" || img.Owner != alpha.ProjectID || p["image_type"] != "snapshot" ||
		p["instance_uuid"] != s.ID || p["base_image_ref"] != guest || p["purpose"] != "test" || p["kernel_id"] == nil || p["os_command_line"] == nil {
		t.Errorf("the server's image: %+v", img)
	}
	if _, err := images.Get(ctx, icb, id).Extract(); err == nil {
		t.Error("another project sees the server's image")
	}

	// A stopped server's disk is converted; before 2.45 the answer is a Location.
	wantStatus(t, "stop", servers.Stop(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "SHUTOFF")
	old := computeClient(t, pa, "2.44")
	resp, err := old.Post(ctx, old.ServiceURL("servers", s.ID, "action"), map[string]any{"createImage": map[string]any{"name": "cold"}}, nil,
		&gophercloud.RequestOpts{OkCodes: []int{http.StatusAccepted}})
	wantStatus(t, "image of the stopped server", err, 0)
	loc := resp.Header.Get("Location")
	if !strings.Contains(loc, "/image/v2/images/") {
		t.Fatalf("Location %q", loc)
	}
	waitImage(t, ic, loc[strings.LastIndex(loc, "/")+1:], images.ImageStatusActive)
	waitStatus(t, c, s.ID, "SHUTOFF")
}

func imageClient(t *testing.T, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	ic, err := openstack.NewImageV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return ic
}

// TestServerImageKeepsData: a test guest writes a pattern to its root
// disk (1 MiB: the image's); an image of the server made while it runs boots a second server,
// whose guest reads the pattern.
func TestServerImageKeepsData(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	p := srv.Provider(t, srv.NewTenant(t, "alpha", ""))
	c, ic := computeClient(t, p, "2.45"), imageClient(t, p)
	guest := servertest.UploadTestGuest(t, p)
	flavor := flavorID(t, c, "SCS-1L-1")
	yes := true
	marker := "sov-server-image-" + guest[:8]
	boot := func(name, image, userData string) string {
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: image, FlavorRef: flavor, Networks: "none", ConfigDrive: &yes,
			UserData: []byte(userData)}, nil).Extract()
		wantStatus(t, "create "+name, err, 0)
		waitStatus(t, c, s.ID, "ACTIVE")
		return s.ID
	}
	first := boot("first", guest, "#!/bin/sh\necho "+marker+" | dd of=/dev/vda bs=512 seek=1024 conv=fsync 2>/dev/null && sync && echo vol-test: wrote\n")
	waitConsole(t, c, first, "vol-test: wrote")
	id, err := createImage(t, c, first, map[string]any{"name": "first-image"})
	wantStatus(t, "image of the running server", err, 0)
	waitImage(t, ic, id, images.ImageStatusActive)
	second := boot("second", id, "#!/bin/sh\necho \"vol-test: read $(dd if=/dev/vda bs=512 skip=1024 count=1 2>/dev/null | head -n 1)\"\n")
	waitConsole(t, c, second, "vol-test: read "+marker)
}
