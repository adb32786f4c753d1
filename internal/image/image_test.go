package image_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/members"

	"github.com/sovcloud/sov/internal/servertest"
)

var ctx = context.Background()

func imageClient(t *testing.T, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewImageV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatalf("image endpoint from the catalog: %v", err)
	}
	return c
}

// wantStatus checks the HTTP status of a gophercloud error.
var wantStatus = servertest.WantStatus

// qcow2 returns the first bytes of a qcow2 image of the given virtual size.
func qcow2(virtual uint64) []byte {
	h := make([]byte, 1024)
	copy(h, "QFI\xfb")
	binary.BigEndian.PutUint32(h[4:], 3)
	binary.BigEndian.PutUint32(h[20:], 16) // 64 KiB clusters
	binary.BigEndian.PutUint64(h[24:], virtual)
	binary.BigEndian.PutUint32(h[100:], 104) // header length; no extensions follow
	return h
}

func TestImageLifecycle(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	c := imageClient(t, srv.Provider(t, alpha))
	protected := false
	img, err := images.Create(ctx, c, images.CreateOpts{Name: "debian", ContainerFormat: "bare", DiskFormat: "qcow2",
		Tags: []string{"os"}, Protected: &protected, MinDisk: 1,
		Properties: map[string]string{"os_distro": "debian", "architecture": "x86_64", "hw_disk_bus": "virtio"}}).Extract()
	wantStatus(t, "create", err, 0)
	if img.Status != images.ImageStatusQueued || img.Owner != alpha.ProjectID || img.Visibility != images.ImageVisibilityShared || img.Properties["os_distro"] != "debian" {
		t.Fatalf("created = %+v", img)
	}
	// Timestamps exactly as Glance writes them.
	req, _ := http.NewRequest("GET", c.ServiceURL("images", img.ID), nil)
	req.Header.Set("X-Auth-Token", c.Token())
	resp, err := http.DefaultClient.Do(req)
	wantStatus(t, "raw get", err, 0)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`"created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"`).Match(raw) || !regexp.MustCompile(`"updated_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"`).Match(raw) {
		t.Errorf("timestamps not in Glance's format: %s", raw)
	}
	if !bytes.Contains(raw, []byte(`"architecture":"x86_64"`)) {
		t.Errorf("properties are not top-level attributes: %s", raw)
	}

	// Upload: checksum, os_hash, size, virtual size; then download.
	data := append(qcow2(10<<30), bytes.Repeat([]byte("x"), 100000)...)
	wantStatus(t, "upload", imagedata.Upload(ctx, c, img.ID, bytes.NewReader(data)).ExtractErr(), 0)
	img, err = images.Get(ctx, c, img.ID).Extract()
	wantStatus(t, "get", err, 0)
	sum, sha := md5.Sum(data), sha512.Sum512(data)
	if img.Status != images.ImageStatusActive || img.Checksum != hex.EncodeToString(sum[:]) || img.SizeBytes != int64(len(data)) ||
		img.VirtualSize != 10<<30 || img.Properties["os_hash_algo"] != "sha512" || img.Properties["os_hash_value"] != hex.EncodeToString(sha[:]) {
		t.Errorf("after upload = %+v", img)
	}
	dl, err := imagedata.Download(ctx, c, img.ID).Extract()
	wantStatus(t, "download", err, 0)
	got, _ := io.ReadAll(dl)
	dl.Close()
	if !bytes.Equal(got, data) {
		t.Errorf("downloaded %d bytes, want %d", len(got), len(data))
	}
	wantStatus(t, "second upload", imagedata.Upload(ctx, c, img.ID, bytes.NewReader(data)).ExtractErr(), http.StatusConflict)

	// JSON patch: rename, add and remove properties, protect.
	img, err = images.Update(ctx, c, img.ID, images.UpdateOpts{
		images.ReplaceImageName{NewName: "debian-12"},
		images.UpdateImageProperty{Op: images.AddOp, Name: "os_version", Value: "12"},
		images.UpdateImageProperty{Op: images.RemoveOp, Name: "hw_disk_bus"},
		images.ReplaceImageProtected{NewProtected: true},
	}).Extract()
	wantStatus(t, "update", err, 0)
	if img.Name != "debian-12" || img.Properties["os_version"] != "12" || img.Properties["hw_disk_bus"] != nil || !img.Protected {
		t.Errorf("after update = %+v", img)
	}
	wantStatus(t, "delete protected", images.Delete(ctx, c, img.ID).ExtractErr(), http.StatusForbidden)
	_, err = images.Update(ctx, c, img.ID, images.UpdateOpts{images.ReplaceImageProtected{NewProtected: false}}).Extract()
	wantStatus(t, "unprotect", err, 0)

	// A qcow2 image whose data is not qcow2 is refused.
	bad, _ := images.Create(ctx, c, images.CreateOpts{Name: "liar", ContainerFormat: "bare", DiskFormat: "qcow2"}).Extract()
	wantStatus(t, "upload raw as qcow2", imagedata.Upload(ctx, c, bad.ID, strings.NewReader(strings.Repeat("raw", 100))).ExtractErr(), http.StatusBadRequest)
	bad, _ = images.Get(ctx, c, bad.ID).Extract()
	if bad.Status != images.ImageStatusQueued {
		t.Errorf("after a refused upload the image is %s", bad.Status)
	}

	pages, err := images.List(c, images.ListOpts{}).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	all, _ := images.ExtractImages(pages)
	if len(all) != 2 {
		t.Errorf("list = %d images, want 2", len(all))
	}
	pages, _ = images.List(c, images.ListOpts{Name: "debian-12"}).AllPages(ctx)
	if byName, _ := images.ExtractImages(pages); len(byName) != 1 {
		t.Errorf("list by name = %d", len(byName))
	}
	wantStatus(t, "delete", images.Delete(ctx, c, img.ID).ExtractErr(), 0)
	_, err = images.Get(ctx, c, img.ID).Extract()
	wantStatus(t, "get deleted", err, http.StatusNotFound)
}

func TestImageVisibilityAndIsolation(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := imageClient(t, srv.Provider(t, alpha)), imageClient(t, srv.Provider(t, beta))
	admin := imageClient(t, srv.Admin(t).ProviderClient)
	mk := func(name string, vis images.ImageVisibility) *images.Image {
		img, err := images.Create(ctx, a, images.CreateOpts{Name: name, Visibility: &vis, ContainerFormat: "bare", DiskFormat: "raw"}).Extract()
		wantStatus(t, "create "+name, err, 0)
		return img
	}
	private, shared, community := mk("private", images.ImageVisibilityPrivate), mk("shared", images.ImageVisibilityShared), mk("community", images.ImageVisibilityCommunity)
	pub := images.ImageVisibilityPublic
	_, err := images.Create(ctx, a, images.CreateOpts{Name: "public", Visibility: &pub}).Extract()
	wantStatus(t, "member makes a public image", err, http.StatusForbidden)
	public, err := images.Create(ctx, admin, images.CreateOpts{Name: "public", Visibility: &pub}).Extract()
	wantStatus(t, "admin makes a public image", err, 0)

	names := func(c *gophercloud.ServiceClient, opts images.ListOpts) string {
		pages, err := images.List(c, opts).AllPages(ctx)
		wantStatus(t, "list", err, 0)
		imgs, _ := images.ExtractImages(pages)
		var out []string
		for _, i := range imgs {
			out = append(out, i.Name)
		}
		return strings.Join(out, ",")
	}
	// beta sees the public image only; community images only when asked.
	if got := names(b, images.ListOpts{}); got != "public" {
		t.Errorf("beta lists %q", got)
	}
	if got := names(b, images.ListOpts{Visibility: images.ImageVisibilityCommunity}); got != "community" {
		t.Errorf("beta lists community %q", got)
	}
	_, err = images.Get(ctx, b, private.ID).Extract()
	wantStatus(t, "beta gets private", err, http.StatusNotFound)
	_, err = images.Get(ctx, b, shared.ID).Extract()
	wantStatus(t, "beta gets shared before membership", err, http.StatusNotFound)
	_, err = images.Get(ctx, b, community.ID).Extract()
	wantStatus(t, "beta gets community", err, 0)
	_, err = images.Update(ctx, b, community.ID, images.UpdateOpts{images.ReplaceImageName{NewName: "mine"}}).Extract()
	wantStatus(t, "beta renames community", err, http.StatusForbidden)
	wantStatus(t, "beta deletes community", images.Delete(ctx, b, community.ID).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "beta uploads to community", imagedata.Upload(ctx, b, community.ID, strings.NewReader("x")).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "beta deletes private", images.Delete(ctx, b, private.ID).ExtractErr(), http.StatusNotFound)

	// Sharing: pending images are reachable but not listed until accepted.
	_, err = members.Create(ctx, a, shared.ID, beta.ProjectID).Extract()
	wantStatus(t, "add member", err, 0)
	_, err = members.Create(ctx, b, shared.ID, beta.ProjectID).Extract()
	wantStatus(t, "member adds itself", err, http.StatusForbidden)
	_, err = images.Get(ctx, b, shared.ID).Extract()
	wantStatus(t, "beta gets pending shared", err, 0)
	if got := names(b, images.ListOpts{}); got != "public" {
		t.Errorf("beta lists before accepting: %q", got)
	}
	_, err = members.Update(ctx, a, shared.ID, beta.ProjectID, members.UpdateOpts{Status: "accepted"}).Extract()
	wantStatus(t, "owner accepts for the member", err, http.StatusForbidden)
	_, err = members.Update(ctx, b, shared.ID, beta.ProjectID, members.UpdateOpts{Status: "accepted"}).Extract()
	wantStatus(t, "member accepts", err, 0)
	if got := names(b, images.ListOpts{}); !strings.Contains(got, "shared") {
		t.Errorf("beta lists after accepting: %q", got)
	}
	wantStatus(t, "remove member", members.Delete(ctx, a, shared.ID, beta.ProjectID).ExtractErr(), 0)
	_, err = images.Get(ctx, b, shared.ID).Extract()
	wantStatus(t, "beta gets shared after removal", err, http.StatusNotFound)

	// A reader may look but not create.
	reader := imageClient(t, srv.Provider(t, srv.NewTenantUser(t, "alpha", "reader")))
	_, err = images.Get(ctx, reader, private.ID).Extract()
	wantStatus(t, "reader gets", err, 0)
	_, err = images.Create(ctx, reader, images.CreateOpts{Name: "nope"}).Extract()
	wantStatus(t, "reader creates", err, http.StatusForbidden)
	_ = public
}

func TestImageBadInput(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	c := imageClient(t, srv.Provider(t, alpha))
	img, _ := images.Create(ctx, c, images.CreateOpts{Name: "target"}).Extract()
	raw := func(method, path, ct, body string) int {
		req, _ := http.NewRequest(method, c.ServiceURL(path), strings.NewReader(body))
		req.Header.Set("X-Auth-Token", c.Token())
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const patch = "application/openstack-images-v2.1-json-patch"
	for _, tc := range []struct {
		name, method, path, ct, body string
		status                       int
	}{
		{"malformed-json", "POST", "images", "application/json", `{"name": `, 400},
		{"wrong-type", "POST", "images", "application/json", `{"name": 5}`, 400},
		{"bad-disk-format", "POST", "images", "application/json", `{"disk_format": "floppy"}`, 400},
		{"read-only", "POST", "images", "application/json", `{"status": "active"}`, 403},
		{"non-string-property", "POST", "images", "application/json", `{"foo": {"bar": 1}}`, 400},
		{"bad-id", "POST", "images", "application/json", `{"id": "not-a-uuid"}`, 400},
		{"duplicate-id", "POST", "images", "application/json", `{"id": "` + img.ID + `"}`, 409},
		{"patch-content-type", "PATCH", "images/" + img.ID, "application/json", `[]`, 415},
		{"patch-bad-op", "PATCH", "images/" + img.ID, patch, `[{"op": "move", "path": "/name"}]`, 400},
		{"patch-readonly", "PATCH", "images/" + img.ID, patch, `[{"op": "replace", "path": "/size", "value": 1}]`, 403},
		{"patch-remove-missing", "PATCH", "images/" + img.ID, patch, `[{"op": "remove", "path": "/nope"}]`, 409},
		{"unknown-image", "GET", "images/00000000-0000-0000-0000-000000000000", "", "", 404},
		{"upload-without-formats", "PUT", "images/" + img.ID + "/file", "application/octet-stream", "data", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := raw(tc.method, tc.path, tc.ct, tc.body); got != tc.status {
				t.Errorf("%s %s = %d, want %d", tc.method, tc.path, got, tc.status)
			}
		})
	}
	got, _ := images.Get(ctx, c, img.ID).Extract()
	if got.Name != "target" || got.Status != images.ImageStatusQueued {
		t.Errorf("image after bad requests = %+v", got)
	}
}

// TestInterruptedUploadsCleanedAtStart: a start of sov removes the
// temporary files that interrupted uploads left, and keeps the one an
// upload of another live server on the same directory is writing.
func TestInterruptedUploadsCleanedAtStart(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	c := imageClient(t, srv.Provider(t, srv.NewTenant(t, "alpha", "")))
	tmp := filepath.Join(srv.DataDir(), "images", "tmp")
	abandoned := filepath.Join(tmp, "left-by-a-crash")
	if err := os.WriteFile(abandoned, []byte("half an image"), 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := images.Create(ctx, c, images.CreateOpts{Name: "slow", DiskFormat: "raw", ContainerFormat: "bare"}).Extract()
	wantStatus(t, "create", err, 0)
	body, feed := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- imagedata.Upload(ctx, c, img.ID, body).ExtractErr() }()
	feed.Write(bytes.Repeat([]byte("a"), 1<<16))
	var live []string
	for end := time.Now().Add(10 * time.Second); len(live) < 2 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		live, _ = filepath.Glob(filepath.Join(tmp, "*"))
	}
	if len(live) != 2 {
		t.Fatalf("temporary files = %v", live)
	}
	srv.Twin(t) // a second server starts on the same data dir
	left, _ := filepath.Glob(filepath.Join(tmp, "*"))
	if len(left) != 1 || left[0] == abandoned {
		t.Fatalf("after a start the temporary files are %v, want only the live upload's", left)
	}
	feed.Write([]byte("end"))
	feed.Close()
	wantStatus(t, "upload", <-done, 0)
	got, _ := images.Get(ctx, c, img.ID).Extract()
	if got.Status != images.ImageStatusActive || got.SizeBytes != 1<<16+3 {
		t.Errorf("image after upload = %+v", got)
	}
}
