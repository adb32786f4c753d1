package compute_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestServerGroups: a project makes server groups of each policy (as
// each microversion spells them; bad ones are 400s), servers join one at
// create; on sov's one host an anti-affinity group holds as many built
// members as its max_server_per_host, and the next fails to build with
// "No valid host was found"; affinity and soft policies always place. A
// deleted server leaves its group, a deleted group its servers. Another
// project can neither see, delete nor join a group; limits count groups.
func TestServerGroups(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	pa, pb := srv.Provider(t, srv.NewTenant(t, "alpha", "")), srv.Provider(t, srv.NewTenant(t, "beta", ""))
	c, c63, c14, cb := computeClient(t, pa, "2.71"), computeClient(t, pa, "2.63"), computeClient(t, pa, "2.14"), computeClient(t, pb, "2.71")
	imageID := servertest.UploadTestGuest(t, pa)
	flavor := flavorID(t, c, "SCS-1L-1")

	for name, tc := range map[string]struct {
		c    *gophercloud.ServiceClient
		opts servergroups.CreateOpts
	}{
		"no policy":             {c, servergroups.CreateOpts{Name: "g"}},
		"an unknown policy":     {c, servergroups.CreateOpts{Name: "g", Policy: "spread"}},
		"policies at 2.64":      {c, servergroups.CreateOpts{Name: "g", Policies: []string{"affinity"}}},
		"two policies":          {c63, servergroups.CreateOpts{Name: "g", Policies: []string{"affinity", "anti-affinity"}}},
		"a soft policy at 2.14": {c14, servergroups.CreateOpts{Name: "g", Policies: []string{"soft-affinity"}}},
		"rules of affinity":     {c, servergroups.CreateOpts{Name: "g", Policy: "affinity", Rules: &servergroups.Rules{MaxServerPerHost: 2}}},
		"rules before 2.64":     {c63, servergroups.CreateOpts{Name: "g", Policies: []string{"anti-affinity"}, Rules: &servergroups.Rules{MaxServerPerHost: 2}}},
	} {
		_, err := servergroups.Create(ctx, tc.c, tc.opts).Extract()
		wantStatus(t, "a group with "+name, err, http.StatusBadRequest)
	}
	_, err := c.Post(ctx, c.ServiceURL("os-server-groups"), map[string]any{"server_group": map[string]any{"name": "g", "policy": "anti-affinity",
		"rules": map[string]any{"max_server_per_host": 0}}}, nil, nil)
	wantStatus(t, "a rule of zero servers", err, http.StatusBadRequest)

	anti, err := servergroups.Create(ctx, c, servergroups.CreateOpts{Name: "anti", Policy: "anti-affinity", Rules: &servergroups.Rules{MaxServerPerHost: 2}}).Extract()
	wantStatus(t, "anti-affinity group", err, 0)
	if anti.Policy == nil || *anti.Policy != "anti-affinity" || anti.Rules == nil || anti.Rules.MaxServerPerHost != 2 || len(anti.Members) != 0 {
		t.Errorf("the anti-affinity group: %+v", anti)
	}
	aff, err := servergroups.Create(ctx, c63, servergroups.CreateOpts{Name: "aff", Policies: []string{"affinity"}}).Extract()
	wantStatus(t, "affinity group", err, 0)
	if !slices.Equal(aff.Policies, []string{"affinity"}) {
		t.Errorf("the affinity group at 2.63: %+v", aff)
	}
	_, err = servergroups.Get(ctx, cb, anti.ID).Extract()
	wantStatus(t, "another project shows the group", err, http.StatusNotFound)
	wantStatus(t, "another project deletes the group", servergroups.Delete(ctx, cb, anti.ID).ExtractErr(), http.StatusNotFound)
	_, err = servers.Create(ctx, cb, servers.CreateOpts{Name: "intruder", ImageRef: servertest.UploadTestGuest(t, pb), FlavorRef: flavor, Networks: "none"},
		servers.SchedulerHintOpts{Group: anti.ID}).Extract()
	wantStatus(t, "another project joins the group", err, http.StatusBadRequest)

	create := func(name, group string) string {
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: imageID, FlavorRef: flavor, Networks: "none"},
			servers.SchedulerHintOpts{Group: group}).Extract()
		wantStatus(t, "create "+name, err, 0)
		return s.ID
	}
	a1, a2 := create("a1", anti.ID), create("a2", anti.ID)
	waitStatus(t, c, a1, "ACTIVE")
	waitStatus(t, c, a2, "ACTIVE")
	a3 := create("a3", anti.ID)
	if s := waitStatus(t, c, a3, "ERROR"); !strings.Contains(s.Fault.Message, "No valid host was found") {
		t.Errorf("the third member of the anti-affinity group: %+v", s.Fault)
	}
	f1, f2 := create("f1", aff.ID), create("f2", aff.ID)
	waitStatus(t, c, f1, "ACTIVE")
	waitStatus(t, c, f2, "ACTIVE")
	var shown struct {
		Server struct {
			ServerGroups []string `json:"server_groups"`
		} `json:"server"`
	}
	if _, err := c.Get(ctx, c.ServiceURL("servers", a1), &shown, nil); err != nil || !slices.Equal(shown.Server.ServerGroups, []string{anti.ID}) {
		t.Errorf("a member's server_groups (2.71): %+v, %v", shown, err)
	}
	// A server refused at create (its network is unknown) is no member.
	_, err = servers.Create(ctx, c, servers.CreateOpts{Name: "lost", ImageRef: imageID, FlavorRef: flavor,
		Networks: []servers.Network{{UUID: "00000000-0000-4000-8000-000000000000"}}}, servers.SchedulerHintOpts{Group: anti.ID}).Extract()
	wantStatus(t, "a member on an unknown network", err, http.StatusBadRequest)
	if g, err := servergroups.Get(ctx, c, anti.ID).Extract(); err != nil || len(g.Members) != 3 {
		t.Errorf("the anti-affinity group's members: %+v, %v", g, err)
	}

	// A deleted member leaves, and makes room.
	deleteAndWait(t, srv, c, a1)
	deleteAndWait(t, srv, c, a3)
	if g, _ := servergroups.Get(ctx, c, anti.ID).Extract(); !slices.Equal(g.Members, []string{a2}) {
		t.Errorf("members after deletes: %v", g.Members)
	}
	waitStatus(t, c, create("a4", anti.ID), "ACTIVE")
	lim, err := limits.Get(ctx, c, nil).Extract()
	if err != nil || lim.Absolute.MaxServerGroups != 10 || lim.Absolute.TotalServerGroupsUsed != 2 || lim.Absolute.MaxServerGroupMembers != 10 {
		t.Errorf("limits: %+v, %v", lim, err)
	}
	wantStatus(t, "delete the group", servergroups.Delete(ctx, c, aff.ID).ExtractErr(), 0)
	if _, err := c.Get(ctx, c.ServiceURL("servers", f1), &shown, nil); err != nil || len(shown.Server.ServerGroups) != 0 {
		t.Errorf("a member of a deleted group: %+v, %v", shown, err)
	}
	pages, err := servergroups.List(c, nil).AllPages(ctx)
	if all, _ := servergroups.ExtractServerGroups(pages); err != nil || len(all) != 1 || all[0].ID != anti.ID {
		t.Errorf("group list: %+v, %v", all, err)
	}
	// Ten groups a project, as Nova's quota.
	for i := 0; i < 9; i++ {
		_, err := servergroups.Create(ctx, c, servergroups.CreateOpts{Name: "more", Policy: "soft-anti-affinity"}).Extract()
		wantStatus(t, "another group", err, 0)
	}
	_, err = servergroups.Create(ctx, c, servergroups.CreateOpts{Name: "eleventh", Policy: "soft-affinity"}).Extract()
	wantStatus(t, "the eleventh group", err, http.StatusForbidden)
}
