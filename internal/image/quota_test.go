package image_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/registeredlimits"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestImageQuotas: Glance's unified limits image_count_total and
// image_size_total, with their registered defaults, per-project limits an
// admin sets, Glance's 413 when exceeded, and no effect on other projects.
func TestImageQuotas(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	admin := srv.Admin(t)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	pages, err := services.List(admin, services.ListOpts{ServiceType: "image"}).AllPages(ctx)
	wantStatus(t, "list services", err, 0)
	svc, _ := services.ExtractServices(pages)
	pages, err = registeredlimits.List(admin, registeredlimits.ListOpts{ServiceID: svc[0].ID}).AllPages(ctx)
	wantStatus(t, "list registered limits", err, 0)
	defaults, _ := registeredlimits.ExtractRegisteredLimits(pages)
	got := map[string]int{}
	for _, l := range defaults {
		got[l.ResourceName] = l.DefaultLimit
	}
	if got["image_count_total"] != 100 || got["image_size_total"] != 102400 {
		t.Errorf("registered limits = %v", got)
	}
	_, err = limits.BatchCreate(ctx, admin, limits.BatchCreateOpts{
		{ServiceID: svc[0].ID, ProjectID: alpha.ProjectID, ResourceName: "image_count_total", ResourceLimit: 2},
		{ServiceID: svc[0].ID, ProjectID: alpha.ProjectID, ResourceName: "image_size_total", ResourceLimit: 1},
	}).Extract()
	wantStatus(t, "admin sets alpha's limits", err, 0)

	// Bad input changes nothing.
	for name, opts := range map[string]limits.CreateOpts{
		"negative limit":  {ServiceID: svc[0].ID, ProjectID: beta.ProjectID, ResourceName: "image_count_total", ResourceLimit: -5},
		"unknown project": {ServiceID: svc[0].ID, ProjectID: "0123456789abcdef0123456789abcdef", ResourceName: "image_count_total", ResourceLimit: 1},
		"unknown service": {ServiceID: "nope", ProjectID: beta.ProjectID, ResourceName: "image_count_total", ResourceLimit: 1},
	} {
		_, err := limits.BatchCreate(ctx, admin, limits.BatchCreateOpts{opts}).Extract()
		wantStatus(t, name, err, http.StatusBadRequest)
	}
	_, err = limits.BatchCreate(ctx, admin, limits.BatchCreateOpts{{ServiceID: svc[0].ID, ProjectID: beta.ProjectID, ResourceName: "unregistered", ResourceLimit: 1}}).Extract()
	wantStatus(t, "a limit with no registered limit", err, http.StatusForbidden)
	_, err = limits.BatchCreate(ctx, admin, limits.BatchCreateOpts{{ServiceID: svc[0].ID, ProjectID: alpha.ProjectID, ResourceName: "image_count_total", ResourceLimit: 5}}).Extract()
	wantStatus(t, "a second limit for the same resource", err, http.StatusConflict)

	ac, bc := imageClient(t, srv.Provider(t, alpha)), imageClient(t, srv.Provider(t, beta))
	// A member can neither set limits nor see another project's.
	idAlpha := srv.Login(t, gophercloudAuth(alpha))
	_, err = limits.BatchCreate(ctx, idAlpha, limits.BatchCreateOpts{{ServiceID: svc[0].ID, ProjectID: alpha.ProjectID, ResourceName: "image_count_total", ResourceLimit: 1000}}).Extract()
	wantStatus(t, "member raises its limit", err, http.StatusForbidden)
	pages, err = limits.List(srv.Login(t, gophercloudAuth(beta)), nil).AllPages(ctx)
	wantStatus(t, "beta lists limits", err, 0)
	if ls, _ := limits.ExtractLimits(pages); len(ls) != 0 {
		t.Errorf("beta sees %d limits of alpha", len(ls))
	}

	first, err := images.Create(ctx, ac, images.CreateOpts{Name: "one", DiskFormat: "raw", ContainerFormat: "bare"}).Extract()
	wantStatus(t, "first image", err, 0)
	wantStatus(t, "upload within 1 MiB", imagedata.Upload(ctx, ac, first.ID, bytes.NewReader(make([]byte, 600<<10))).ExtractErr(), 0)
	second, err := images.Create(ctx, ac, images.CreateOpts{Name: "two", DiskFormat: "raw", ContainerFormat: "bare"}).Extract()
	wantStatus(t, "second image", err, 0)
	_, err = images.Create(ctx, ac, images.CreateOpts{Name: "three", DiskFormat: "raw", ContainerFormat: "bare"}).Extract()
	wantStatus(t, "third image over image_count_total", err, http.StatusRequestEntityTooLarge)
	wantStatus(t, "upload over image_size_total", imagedata.Upload(ctx, ac, second.ID, bytes.NewReader(make([]byte, 600<<10))).ExtractErr(), http.StatusRequestEntityTooLarge)
	if img, _ := images.Get(ctx, ac, second.ID).Extract(); img.Status != images.ImageStatusQueued {
		t.Errorf("the refused upload left the image %s", img.Status)
	}
	for i := range 3 {
		b, err := images.Create(ctx, bc, images.CreateOpts{Name: "b", DiskFormat: "raw", ContainerFormat: "bare"}).Extract()
		wantStatus(t, "beta's image", err, 0)
		if i == 0 {
			wantStatus(t, "beta uploads 2 MiB", imagedata.Upload(ctx, bc, b.ID, bytes.NewReader(make([]byte, 2<<20))).ExtractErr(), 0)
		}
	}
}

func gophercloudAuth(tn servertest.Tenant) gophercloud.AuthOptions {
	return gophercloud.AuthOptions{UserID: tn.UserID, Password: tn.Password, Scope: &gophercloud.AuthScope{ProjectID: tn.ProjectID}}
}
