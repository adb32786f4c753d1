package identity_test

import (
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

func TestServicesAndEndpoints(t *testing.T) {
	c := newCloud(t)
	svc, err := services.Create(ctx, c.admin, services.CreateOpts{Type: "compute", Extra: map[string]any{"name": "nova"}}).Extract()
	wantStatus(t, "create service", err, 0)
	ep, err := endpoints.Create(ctx, c.admin, endpoints.CreateOpts{Availability: gophercloud.AvailabilityPublic, Name: "nova",
		Region: "RegionOne", URL: "http://compute.example/v2.1", ServiceID: svc.ID}).Extract()
	wantStatus(t, "create endpoint", err, 0)

	// New tokens carry the new catalog entry.
	res := tokens.Create(ctx, c.admin, &tokens.AuthOptions{TokenID: c.admin.Token(), Scope: tokens.Scope{ProjectName: "admin", DomainID: "default"}})
	catalog, err := res.ExtractServiceCatalog()
	wantStatus(t, "token", err, 0)
	found := false
	for _, e := range catalog.Entries {
		for _, x := range e.Endpoints {
			found = found || (e.Type == "compute" && x.URL == ep.URL)
		}
	}
	if !found {
		t.Errorf("catalog %+v lacks the compute endpoint", catalog.Entries)
	}

	// A member may read the catalog but not change it.
	p := c.project("p", "default")
	u := c.user("eve", "default")
	c.grant("member", roles.AssignOpts{UserID: u.ID, ProjectID: p.ID})
	m := c.loginProject(u, p.ID)
	_, err = services.List(m, nil).AllPages(ctx)
	wantStatus(t, "member lists services", err, 0)
	_, err = services.Create(ctx, m, services.CreateOpts{Type: "evil"}).Extract()
	wantStatus(t, "member creates service", err, http.StatusForbidden)
	wantStatus(t, "member deletes endpoint", endpoints.Delete(ctx, m, ep.ID).ExtractErr(), http.StatusForbidden)

	wantStatus(t, "delete endpoint", endpoints.Delete(ctx, c.admin, ep.ID).ExtractErr(), 0)
	wantStatus(t, "delete service", services.Delete(ctx, c.admin, svc.ID).ExtractErr(), 0)
	wantStatus(t, "delete again", services.Delete(ctx, c.admin, svc.ID).ExtractErr(), http.StatusNotFound)
}

func TestDomainLifecycle(t *testing.T) {
	c := newCloud(t)
	d := c.domain("life")
	p := c.project("p", d.ID)
	u := c.user("lu", d.ID)
	c.grant("member", roles.AssignOpts{UserID: u.ID, ProjectID: p.ID})
	tok := c.loginProject(u, p.ID).Token()
	_, err := domains.Create(ctx, c.admin, domains.CreateOpts{Name: "life"}).Extract()
	wantStatus(t, "duplicate name", err, http.StatusConflict)
	wantStatus(t, "delete enabled domain", domains.Delete(ctx, c.admin, d.ID).ExtractErr(), http.StatusForbidden)
	off := false
	_, err = domains.Update(ctx, c.admin, d.ID, domains.UpdateOpts{Enabled: &off}).Extract()
	wantStatus(t, "disable", err, 0)
	wantStatus(t, "token after domain disable", tokens.Get(ctx, c.admin, tok).Err, http.StatusNotFound)
	_, err = c.TryLogin(gophercloudPassword(u, p.ID))
	wantStatus(t, "login in disabled domain", err, http.StatusUnauthorized)
	wantStatus(t, "delete", domains.Delete(ctx, c.admin, d.ID).ExtractErr(), 0)
	_, err = domains.Get(ctx, c.admin, d.ID).Extract()
	wantStatus(t, "get deleted", err, http.StatusNotFound)
}

func TestSigningKeyRotation(t *testing.T) {
	c := newCloud(t)
	old := c.admin.Token()
	if err := c.Identity().RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	// Tokens signed with the previous key stay valid.
	wantStatus(t, "old token after rotation", tokens.Get(ctx, c.admin, old).Err, 0)
	fresh := c.Admin(t).Token()
	if fresh[:40] == old[:40] {
		t.Errorf("new token has the same header (key id) as the old one: %s", fresh[:40])
	}
	wantStatus(t, "new token", tokens.Get(ctx, c.admin, fresh).Err, 0)
}

func TestAuthCatalogProjectsDomains(t *testing.T) {
	c := newCloud(t)
	status, body, _ := c.rawCall("GET", "/regions", "")
	if rs, _ := body["regions"].([]any); status != 200 || len(rs) != 1 || rs[0].(map[string]any)["id"] != "RegionOne" {
		t.Errorf("regions = %d %v", status, body)
	}
	if status, _, _ := c.rawCall("GET", "/regions/RegionOne", ""); status != 200 {
		t.Errorf("region RegionOne = %d", status)
	}
	if status, _, _ := c.rawCall("GET", "/regions/Atlantis", ""); status != 404 {
		t.Errorf("unknown region = %d", status)
	}
	status, body, _ = c.rawCall("GET", "/auth/catalog", "")
	if cat, _ := body["catalog"].([]any); status != 200 || len(cat) < 2 {
		t.Errorf("auth/catalog = %d %v", status, body)
	}
	status, body, _ = c.rawCall("GET", "/auth/domains", "")
	if ds, _ := body["domains"].([]any); status != 200 || len(ds) != 1 || ds[0].(map[string]any)["id"] != "default" {
		t.Errorf("auth/domains = %d %v", status, body)
	}
	status, body, _ = c.rawCall("GET", "/auth/projects", "")
	if ps, _ := body["projects"].([]any); status != 200 || len(ps) != 1 || ps[0].(map[string]any)["name"] != "admin" {
		t.Errorf("auth/projects = %d %v", status, body)
	}
}
