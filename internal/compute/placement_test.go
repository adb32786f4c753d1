package compute_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/allocations"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/traits"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestServersClaimPlacement: a server takes its flavor's resources of the
// host in placement while it exists; one the host has no room for fails
// as Nova's do ("No valid host was found") and holds nothing; a restart
// heals placement's record to match the servers.
func TestServersClaimPlacement(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "2.47")
	imageID := servertest.UploadTestGuest(t, p)
	small, big := flavorID(t, c, "SCS-1L-1"), flavorID(t, c, "SCS-2V-4")
	pc := func() *gophercloud.ServiceClient {
		pc, err := openstack.NewPlacementV1(srv.Admin(t).ProviderClient, gophercloud.EndpointOpts{})
		if err != nil {
			t.Fatal(err)
		}
		pc.Microversion = "1.28"
		return pc
	}
	admin := pc()
	pages, err := resourceproviders.List(admin, nil).AllPages(ctx)
	wantStatus(t, "providers", err, 0)
	rps, _ := resourceproviders.ExtractResourceProviders(pages)
	if len(rps) != 1 {
		t.Fatalf("providers %+v", rps)
	}
	host := rps[0].UUID
	// A host of two vCPUs (no overcommit).
	invs, err := resourceproviders.GetInventories(ctx, admin, host).Extract()
	wantStatus(t, "inventories", err, 0)
	invs.Inventories["VCPU"] = resourceproviders.Inventory{Total: 2, AllocationRatio: 1, MinUnit: 1, MaxUnit: 2, StepSize: 1}
	_, err = resourceproviders.UpdateInventories(ctx, admin, host, resourceproviders.UpdateInventoriesOpts{
		ResourceProviderGeneration: invs.ResourceProviderGeneration, Inventories: invs.Inventories}).Extract()
	wantStatus(t, "shrink the host", err, 0)

	held := func(id string) map[string]int {
		t.Helper()
		a, err := allocations.Get(ctx, admin, id).Extract()
		wantStatus(t, "allocations", err, 0)
		return a.Allocations[host].Resources
	}
	one, err := servers.Create(ctx, c, servers.CreateOpts{Name: "one", ImageRef: imageID, FlavorRef: small, Networks: "none"}, nil).Extract()
	wantStatus(t, "create one", err, 0)
	waitStatus(t, c, one.ID, "ACTIVE")
	if r := held(one.ID); r["VCPU"] != 1 || r["MEMORY_MB"] != 1024 {
		t.Errorf("one holds %v", r)
	}
	two, err := servers.Create(ctx, c, servers.CreateOpts{Name: "two", ImageRef: imageID, FlavorRef: big, Networks: "none"}, nil).Extract()
	wantStatus(t, "create two", err, 0)
	s := waitStatus(t, c, two.ID, "ERROR")
	if !strings.Contains(s.Fault.Message, "No valid host was found") {
		t.Errorf("the fault of a server with no room: %+v", s.Fault)
	}
	if r := held(two.ID); len(r) != 0 {
		t.Errorf("a server that found no room holds %v", r)
	}

	// A restart puts back what a server holds and drops what no server does.
	wantStatus(t, "drop one's allocations", allocations.Delete(ctx, admin, one.ID).ExtractErr(), 0)
	stray := "0badc0de-0000-4000-8000-000000000001"
	err = allocations.Update(ctx, admin, stray, allocations.UpdateOpts{ProjectID: alpha.ProjectID, UserID: alpha.UserID,
		Allocations: map[string]allocations.ProviderAllocationsOpts{host: {Resources: map[string]int{"VCPU": 1}}}}).ExtractErr()
	wantStatus(t, "a stray allocation", err, 0)
	// What an operator set stays: a custom trait; a provider that took
	// the host's name makes the host's provider another.
	wantStatus(t, "custom trait", traits.Create(ctx, admin, "CUSTOM_RACK_7").ExtractErr(), 0)
	tr, err := resourceproviders.GetTraits(ctx, admin, host).Extract()
	wantStatus(t, "traits", err, 0)
	_, err = resourceproviders.UpdateTraits(ctx, admin, host, resourceproviders.UpdateTraitsOpts{ResourceProviderGeneration: tr.ResourceProviderGeneration,
		Traits: append(tr.Traits, "CUSTOM_RACK_7")}).Extract()
	wantStatus(t, "give the host a custom trait", err, 0)
	_, err = resourceproviders.Update(ctx, admin, host, resourceproviders.UpdateOpts{Name: ptr("renamed")}).Extract()
	wantStatus(t, "rename the host", err, 0)
	_, err = resourceproviders.Create(ctx, admin, resourceproviders.CreateOpts{Name: "fake-host"}).Extract()
	wantStatus(t, "take the host's name", err, 0)
	srv = srv.Restart(t)
	admin = pc()
	if tr, err := resourceproviders.GetTraits(ctx, admin, host).Extract(); err != nil || !slices.Contains(tr.Traits, "CUSTOM_RACK_7") || !slices.Contains(tr.Traits, "COMPUTE_NODE") {
		t.Errorf("the host's traits after a restart: %+v, %v", tr, err)
	}
	if rp, err := resourceproviders.Get(ctx, admin, host).Extract(); err != nil || rp.Name != "fake-host-"+host[:8] {
		t.Errorf("the host's provider after a restart: %+v, %v", rp, err)
	}
	if r := held(one.ID); r["VCPU"] != 1 {
		t.Errorf("after the restart one holds %v", r)
	}
	if r := held(stray); len(r) != 0 {
		t.Errorf("after the restart the stray consumer holds %v", r)
	}

	c = computeClient(t, srv.Provider(t, alpha), "2.47")
	deleteAndWait(t, srv, c, one.ID)
	if r := held(one.ID); len(r) != 0 {
		t.Errorf("a deleted server holds %v", r)
	}
}

func ptr[T any](v T) *T { return &v }
