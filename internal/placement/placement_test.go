package placement_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/allocationcandidates"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/allocations"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceclasses"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/traits"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/usages"

	"github.com/sovcloud/sov/internal/servertest"
)

var ctx = context.Background()

func placementClient(t *testing.T, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewPlacementV1(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	c.Microversion = "1.28"
	return c
}

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	servertest.WantStatus(t, what, err, status)
}

// errorCode is the code of Placement's error body in err.
func errorCode(err error) string {
	var e gophercloud.ErrUnexpectedResponseCode
	if !asUnexpected(err, &e) {
		return ""
	}
	var body struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	json.Unmarshal(e.Body, &body)
	if len(body.Errors) == 0 {
		return ""
	}
	return body.Errors[0].Code
}

func asUnexpected(err error, e *gophercloud.ErrUnexpectedResponseCode) bool {
	for err != nil {
		if u, ok := err.(gophercloud.ErrUnexpectedResponseCode); ok {
			*e = u
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// TestPlacement drives providers, inventories, classes, traits,
// aggregates, allocations, usages and candidates as an admin, with
// gophercloud at 1.28: capacity is enforced, generations guard every
// write, things in use cannot go, and a project member is refused.
func TestPlacement(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	admin := placementClient(t, srv.Admin(t).ProviderClient)
	alpha := srv.NewTenant(t, "alpha", "")
	member := placementClient(t, srv.Provider(t, alpha))

	// The compute host is there, with its inventories and traits.
	pages, err := resourceproviders.List(admin, nil).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	rps, _ := resourceproviders.ExtractResourceProviders(pages)
	if len(rps) != 1 || rps[0].Name != "fake-host" {
		t.Fatalf("providers %+v", rps)
	}
	host := rps[0].UUID
	invs, err := resourceproviders.GetInventories(ctx, admin, host).Extract()
	if err != nil || invs.Inventories["VCPU"].Total != 1024 || invs.Inventories["VCPU"].AllocationRatio != 4 || invs.Inventories["MEMORY_MB"].Reserved != 512 || invs.Inventories["DISK_GB"].Total == 0 {
		t.Errorf("host inventories %+v, %v", invs, err)
	}
	if tr, err := resourceproviders.GetTraits(ctx, admin, host).Extract(); err != nil || !contains(tr.Traits, "COMPUTE_VOLUME_ATTACH") {
		t.Errorf("host traits %+v, %v", tr, err)
	}

	// A member sees nothing of it.
	_, err = resourceproviders.List(member, nil).AllPages(ctx)
	wantStatus(t, "member lists", err, 403)

	// A provider of our own.
	rack, err := resourceproviders.Create(ctx, admin, resourceproviders.CreateOpts{Name: "rack"}).Extract()
	wantStatus(t, "create", err, 0)
	if rack.Generation != 0 || rack.RootProviderUUID != rack.UUID {
		t.Errorf("created %+v", rack)
	}
	_, err = resourceproviders.Create(ctx, admin, resourceproviders.CreateOpts{Name: "rack"}).Extract()
	wantStatus(t, "same name", err, 409)
	child, err := resourceproviders.Create(ctx, admin, resourceproviders.CreateOpts{Name: "gpu", ParentProviderUUID: rack.UUID}).Extract()
	if err != nil || child.RootProviderUUID != rack.UUID || child.ParentProviderUUID != rack.UUID {
		t.Errorf("child %+v, %v", child, err)
	}

	// Custom classes, inventories at the generation read.
	wantStatus(t, "custom class", resourceclasses.Update(ctx, admin, "CUSTOM_GPU").Err, 0)
	err = resourceclasses.Create(ctx, admin, resourceclasses.CreateOpts{Name: "GPU"}).Err
	wantStatus(t, "class not CUSTOM_", err, 400)
	invs, err = resourceproviders.UpdateInventories(ctx, admin, rack.UUID, resourceproviders.UpdateInventoriesOpts{ResourceProviderGeneration: 0,
		Inventories: map[string]resourceproviders.Inventory{"VCPU": {Total: 4, AllocationRatio: 1, MaxUnit: 4, MinUnit: 1, StepSize: 1},
			"CUSTOM_GPU": {Total: 2, AllocationRatio: 1, MaxUnit: 2, MinUnit: 1, StepSize: 1}}}).Extract()
	if err != nil || invs.ResourceProviderGeneration != 1 || len(invs.Inventories) != 2 {
		t.Fatalf("inventories %+v, %v", invs, err)
	}
	_, err = resourceproviders.UpdateInventories(ctx, admin, rack.UUID, resourceproviders.UpdateInventoriesOpts{ResourceProviderGeneration: 0,
		Inventories: map[string]resourceproviders.Inventory{"VCPU": {Total: 8, AllocationRatio: 1, MaxUnit: 8, MinUnit: 1, StepSize: 1}}}).Extract()
	wantStatus(t, "a stale generation", err, 409)
	if code := errorCode(err); code != "placement.concurrent_update" {
		t.Errorf("stale generation code %q", code)
	}
	for _, bad := range []resourceproviders.Inventory{
		{Total: 4, Reserved: 5, AllocationRatio: 1, MaxUnit: 4, MinUnit: 1, StepSize: 1},
		{Total: 0, AllocationRatio: 1, MaxUnit: 4, MinUnit: 1, StepSize: 1},
		{Total: 4, AllocationRatio: 1, MaxUnit: 4, MinUnit: 1, StepSize: 0},
	} {
		_, err = resourceproviders.UpdateInventories(ctx, admin, rack.UUID, resourceproviders.UpdateInventoriesOpts{ResourceProviderGeneration: 1,
			Inventories: map[string]resourceproviders.Inventory{"VCPU": bad}}).Extract()
		wantStatus(t, "a bad inventory", err, 400)
	}
	_, err = resourceproviders.UpdateInventories(ctx, admin, rack.UUID, resourceproviders.UpdateInventoriesOpts{ResourceProviderGeneration: 1,
		Inventories: map[string]resourceproviders.Inventory{"CUSTOM_NOPE": {Total: 1, AllocationRatio: 1, MaxUnit: 1, MinUnit: 1, StepSize: 1}}}).Extract()
	wantStatus(t, "an unknown class", err, 400)

	// Allocations within capacity, and no further.
	one, two := uuid.NewString(), uuid.NewString()
	err = allocations.Update(ctx, admin, one, allocations.UpdateOpts{ProjectID: alpha.ProjectID, UserID: "u1",
		Allocations: map[string]allocations.ProviderAllocationsOpts{rack.UUID: {Resources: map[string]int{"VCPU": 3, "CUSTOM_GPU": 1}}}}).ExtractErr()
	wantStatus(t, "allocate", err, 0)
	err = allocations.Update(ctx, admin, two, allocations.UpdateOpts{ProjectID: alpha.ProjectID, UserID: "u2",
		Allocations: map[string]allocations.ProviderAllocationsOpts{rack.UUID: {Resources: map[string]int{"VCPU": 2}}}}).ExtractErr()
	wantStatus(t, "beyond capacity", err, 409)
	err = allocations.Update(ctx, admin, two, allocations.UpdateOpts{ProjectID: alpha.ProjectID, UserID: "u2",
		Allocations: map[string]allocations.ProviderAllocationsOpts{rack.UUID: {Resources: map[string]int{"VCPU": 5}}}}).ExtractErr()
	wantStatus(t, "beyond max_unit", err, 409)
	got, err := allocations.Get(ctx, admin, one).Extract()
	if err != nil || got.Allocations[rack.UUID].Resources["VCPU"] != 3 || got.ProjectID == nil || *got.ProjectID != alpha.ProjectID || got.ConsumerGeneration == nil || *got.ConsumerGeneration != 0 {
		t.Errorf("allocations of one %+v, %v", got, err)
	}
	stale := 7
	err = allocations.Update(ctx, admin, one, allocations.UpdateOpts{ProjectID: alpha.ProjectID, UserID: "u1", ConsumerGeneration: &stale,
		Allocations: map[string]allocations.ProviderAllocationsOpts{rack.UUID: {Resources: map[string]int{"VCPU": 1}}}}).ExtractErr()
	wantStatus(t, "a stale consumer generation", err, 409)
	u, err := resourceproviders.GetUsages(ctx, admin, rack.UUID).Extract()
	if err != nil || u.Usages["VCPU"] != 3 || u.Usages["CUSTOM_GPU"] != 1 {
		t.Errorf("usages %+v, %v", u, err)
	}
	var pu struct{ Usages map[string]int }
	err = usages.Get(ctx, admin, usages.GetOpts{ProjectID: alpha.ProjectID}).ExtractInto(&pu)
	if err != nil || pu.Usages["VCPU"] != 3 {
		t.Errorf("project usages %+v, %v", pu, err)
	}
	ra, err := resourceproviders.GetAllocations(ctx, admin, rack.UUID).Extract()
	if err != nil || ra.Allocations[one].Resources["CUSTOM_GPU"] != 1 {
		t.Errorf("the rack's allocations %+v, %v", ra, err)
	}

	// In use: the inventory of a class and the provider stay.
	err = resourceproviders.DeleteInventory(ctx, admin, rack.UUID, "VCPU").ExtractErr()
	wantStatus(t, "delete an inventory in use", err, 409)
	if code := errorCode(err); code != "placement.concurrent_update" { // sic, as Placement answers
		t.Errorf("delete of an inventory in use: code %q", code)
	}
	cur, _ := resourceproviders.GetInventories(ctx, admin, rack.UUID).Extract()
	_, err = resourceproviders.UpdateInventories(ctx, admin, rack.UUID, resourceproviders.UpdateInventoriesOpts{ResourceProviderGeneration: cur.ResourceProviderGeneration,
		Inventories: map[string]resourceproviders.Inventory{"CUSTOM_GPU": {Total: 2, AllocationRatio: 1, MaxUnit: 2, MinUnit: 1, StepSize: 1}}}).Extract()
	wantStatus(t, "inventories without a class in use", err, 409)
	if code := errorCode(err); code != "placement.inventory.inuse" {
		t.Errorf("inventories without a class in use: code %q", code)
	}
	wantStatus(t, "delete a provider with allocations", resourceproviders.Delete(ctx, admin, rack.UUID).ExtractErr(), 409)

	// Traits and aggregates narrow candidates.
	wantStatus(t, "custom trait", traits.Create(ctx, admin, "CUSTOM_FAST").ExtractErr(), 0)
	rt, err := resourceproviders.GetTraits(ctx, admin, rack.UUID).Extract()
	if err != nil || rt.ResourceProviderGeneration != 2 { // made, inventories, one allocation
		t.Errorf("the rack's traits %+v, %v", rt, err)
	}
	if _, err := resourceproviders.UpdateTraits(ctx, admin, rack.UUID, resourceproviders.UpdateTraitsOpts{ResourceProviderGeneration: 2,
		Traits: []string{"CUSTOM_FAST"}}).Extract(); err != nil {
		t.Fatalf("put traits: %v", err)
	}
	wantStatus(t, "delete a trait in use", traits.Delete(ctx, admin, "CUSTOM_FAST").ExtractErr(), 409)
	candidates := func(opts allocationcandidates.ListOpts) map[string]bool {
		t.Helper()
		pages, err := allocationcandidates.List(admin, opts).AllPages(ctx)
		wantStatus(t, "candidates", err, 0)
		ac, err := allocationcandidates.ExtractAllocationCandidates(pages)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, r := range ac.AllocationRequests {
			for p := range r.Allocations {
				out[p] = true
			}
		}
		return out
	}
	if c := candidates(allocationcandidates.ListOpts{Resources: "VCPU:1"}); !c[host] || !c[rack.UUID] {
		t.Errorf("candidates for one VCPU %v", c)
	}
	if c := candidates(allocationcandidates.ListOpts{Resources: "VCPU:2"}); !c[host] || c[rack.UUID] {
		t.Errorf("candidates for two VCPUs %v (the rack has one left)", c)
	}
	if c := candidates(allocationcandidates.ListOpts{Resources: "VCPU:1", Required: []string{"CUSTOM_FAST"}}); len(c) != 1 || !c[rack.UUID] {
		t.Errorf("candidates with CUSTOM_FAST %v", c)
	}

	// Released, the provider goes (after its child).
	wantStatus(t, "delete allocations", allocations.Delete(ctx, admin, one).ExtractErr(), 0)
	wantStatus(t, "delete allocations again", allocations.Delete(ctx, admin, one).ExtractErr(), 404)
	wantStatus(t, "delete a parent", resourceproviders.Delete(ctx, admin, rack.UUID).ExtractErr(), 409)
	wantStatus(t, "delete the child", resourceproviders.Delete(ctx, admin, child.UUID).ExtractErr(), 0)
	wantStatus(t, "delete the rack", resourceproviders.Delete(ctx, admin, rack.UUID).ExtractErr(), 0)
	_, err = resourceproviders.Get(ctx, admin, rack.UUID).Extract()
	wantStatus(t, "get deleted", err, 404)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestVersions answers Placement's root document without a token, and
// refuses versions it does not speak in Placement's error format.
func TestVersions(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	resp, err := http.Get(srv.URL + "/placement")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"max_version":"1.29"`) {
		t.Errorf("GET /placement = %d %s", resp.StatusCode, b)
	}
	admin := placementClient(t, srv.Admin(t).ProviderClient)
	// osc-placement asks the root at 1.29 and reads max_version from a 406.
	req, _ := http.NewRequest("GET", srv.URL+"/placement/", nil)
	req.Header.Set("OpenStack-API-Version", "placement 1.99")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Errors []struct {
			Status     int
			MaxVersion string `json:"max_version"`
		}
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 406 || len(e.Errors) != 1 || e.Errors[0].MaxVersion != "1.29" {
		t.Errorf("version 1.99: %d %+v", resp.StatusCode, e)
	}
	admin.Microversion = "1.0"
	_, err = traits.List(admin, nil).AllPages(ctx)
	wantStatus(t, "traits at 1.0", err, 404)
}
