package compute_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestServerListPaging: server lists are paged in the store and
// gophercloud follows servers_links to the end; sorting, filters and bad
// list parameters; another project's server is no marker.
func TestServerListPaging(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "")
	imageID := servertest.UploadTestGuest(t, p)
	small := flavorID(t, c, "SCS-1L-1")
	var ids []string
	for _, name := range []string{"e", "b", "d", "a", "c"} {
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: imageID, FlavorRef: small}, nil).Extract()
		wantStatus(t, "create "+name, err, 0)
		ids = append(ids, s.ID)
	}
	for _, id := range ids {
		waitStatus(t, c, id, "ACTIVE")
	}
	var names []string
	pages := 0
	err := servers.List(c, rawQuery("limit=2&sort_key=name&sort_dir=asc")).EachPage(ctx, func(_ context.Context, pg pagination.Page) (bool, error) {
		list, err := servers.ExtractServers(pg)
		pages++
		for _, s := range list {
			names = append(names, s.Name)
		}
		return true, err
	})
	if err != nil || pages != 3 || len(names) != 5 || names[0] != "a" || names[4] != "e" {
		t.Fatalf("paged by name: %d pages %v, %v", pages, names, err)
	}
	// The default order is newest first.
	all, _ := servers.List(c, servers.ListOpts{Limit: 1}).AllPages(ctx)
	list, _ := servers.ExtractServers(all)
	if len(list) != 5 || list[0].ID != ids[4] || list[4].ID != ids[0] {
		t.Errorf("default order: %d servers", len(list))
	}
	if all, _ := servers.List(c, servers.ListOpts{Status: "active"}).AllPages(ctx); all != nil {
		if l, _ := servers.ExtractServers(all); len(l) != 5 {
			t.Errorf("status filter: %d", len(l))
		}
	}
	for q, want := range map[string]int{"sort_key=flavor": http.StatusBadRequest, "sort_key=name&sort_dir=up": http.StatusBadRequest,
		"limit=-1": http.StatusBadRequest, "marker=00000000-0000-4000-8000-000000000000": http.StatusBadRequest, "limit=2": http.StatusOK} {
		req, _ := http.NewRequest("GET", c.ServiceURL("servers")+"?"+q, nil)
		req.Header.Set("X-Auth-Token", p.TokenID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("?%s = %d, want %d", q, resp.StatusCode, want)
		}
	}
	// Another project's server id is not a marker here.
	beta := srv.NewTenant(t, "beta", "")
	bc := computeClient(t, srv.Provider(t, beta), "")
	_, err = servers.List(bc, servers.ListOpts{Marker: ids[0]}).AllPages(ctx)
	wantStatus(t, "another project's marker", err, http.StatusBadRequest)
}

// rawQuery is a server list query as it stands (ListOpts has no sort keys).
type rawQuery string

func (q rawQuery) ToServerListQuery() (string, error) { return "?" + string(q), nil }
