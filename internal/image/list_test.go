package image_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestImageListPaging: image lists are paged in the store (25 by default,
// gophercloud follows "next" to the end), sorted, filtered by tag and
// os_hidden; another project's private images never show.
func TestImageListPaging(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	c := imageClient(t, srv.Provider(t, alpha))
	for i := range 30 {
		opts := images.CreateOpts{Name: fmt.Sprintf("img-%02d", i), DiskFormat: "raw", ContainerFormat: "bare"}
		if i%10 == 0 {
			opts.Tags = []string{"tenth"}
		}
		_, err := images.Create(ctx, c, opts).Extract()
		wantStatus(t, "create", err, 0)
	}
	hidden := true
	_, err := images.Create(ctx, c, images.CreateOpts{Name: "secretive", DiskFormat: "raw", ContainerFormat: "bare", Hidden: &hidden}).Extract()
	wantStatus(t, "create hidden", err, 0)
	beta := srv.NewTenant(t, "beta", "")
	bc := imageClient(t, srv.Provider(t, beta))
	_, err = images.Create(ctx, bc, images.CreateOpts{Name: "betas-own", DiskFormat: "raw", ContainerFormat: "bare"}).Extract()
	wantStatus(t, "beta's image", err, 0)

	pages := 0
	var names []string
	err = images.List(c, images.ListOpts{SortKey: "name", SortDir: "asc"}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		list, err := images.ExtractImages(p)
		pages++
		for _, img := range list {
			names = append(names, img.Name)
		}
		return true, err
	})
	if err != nil || pages != 2 || len(names) != 30 || names[0] != "img-00" || names[29] != "img-29" {
		t.Fatalf("paged list: %d pages, %d names (%v…), %v", pages, len(names), names[:min(3, len(names))], err)
	}
	all, _ := images.List(c, images.ListOpts{Tags: []string{"tenth"}}).AllPages(ctx)
	if list, _ := images.ExtractImages(all); len(list) != 3 {
		t.Errorf("tag filter: %d images", len(list))
	}
	all, _ = images.List(c, images.ListOpts{Hidden: true}).AllPages(ctx)
	if list, _ := images.ExtractImages(all); len(list) != 1 || list[0].Name != "secretive" {
		t.Errorf("os_hidden=true: %v", list)
	}
	all, _ = images.List(bc, images.ListOpts{}).AllPages(ctx)
	if list, _ := images.ExtractImages(all); len(list) != 1 || list[0].Name != "betas-own" {
		t.Errorf("beta sees %d images", len(list))
	}
	// Images stored before the list columns existed get them at the next start, once.
	db := srv.Store(t)
	for _, q := range []string{`DELETE FROM image_tags`, `UPDATE images SET hidden = FALSE`, `DELETE FROM backfills`} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	srv = srv.Restart(t)
	c = imageClient(t, srv.Provider(t, alpha))
	all, _ = images.List(c, images.ListOpts{Tags: []string{"tenth"}}).AllPages(ctx)
	if list, _ := images.ExtractImages(all); len(list) != 3 {
		t.Errorf("tag filter after the backfill: %d images", len(list))
	}
	all, _ = images.List(c, images.ListOpts{}).AllPages(ctx)
	if list, _ := images.ExtractImages(all); len(list) != 30 {
		t.Errorf("list after the backfill: %d images (the hidden one must stay hidden)", len(list))
	}
	bc = imageClient(t, srv.Provider(t, beta))
	all, err = images.List(bc, images.ListOpts{}).AllPages(ctx)
	wantStatus(t, "beta's list", err, 0)
	// A marker of an image the caller cannot see is a 400; so is a bad sort key.
	betaImg, _ := images.ExtractImages(all)
	for q, want := range map[string]int{"marker=" + betaImg[0].ID: http.StatusBadRequest, "sort_key=checksum": http.StatusBadRequest, "limit=5": http.StatusOK} {
		req, _ := http.NewRequest("GET", c.ServiceURL("images")+"?"+q, nil)
		req.Header.Set("X-Auth-Token", srv.Provider(t, alpha).TokenID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("?%s = %d, want %d", q, resp.StatusCode, want)
		}
	}
}
