package compute_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestServerResize: a server resized to a larger flavor runs with its
// vCPUs and memory and a root disk grown to its disk (VERIFY_RESIZE), and
// confirmed stays so; resized again and reverted, it is back at its old
// flavor with its old disk. While unconfirmed, the host holds both
// flavors' vCPUs in placement (the migration the old); confirmed or
// reverted, one. A stopped server stays stopped. Bad requests and another
// project change nothing.
func TestServerResize(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	pa, pb := srv.Provider(t, srv.NewTenant(t, "alpha", "")), srv.Provider(t, srv.NewTenant(t, "beta", ""))
	c, cb := computeClient(t, pa, "2.47"), computeClient(t, pb, "2.47")
	hv := srv.Compute().Driver()
	small, medium, large := flavorID(t, c, "SCS-1L-1"), flavorID(t, c, "SCS-2V-4-20s"), flavorID(t, c, "SCS-4V-16-100s")
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm", ImageRef: servertest.UploadTestGuest(t, pa), FlavorRef: small, Networks: "none"}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	action := func(c *gophercloud.ServiceClient, body map[string]any) error {
		_, err := c.Post(ctx, c.ServiceURL("servers", s.ID, "action"), body, nil, &gophercloud.RequestOpts{OkCodes: []int{202, 204}})
		return err
	}
	diskSize := func() int64 {
		out, err := exec.Command("qemu-img", "info", "-U", "--output=json", filepath.Join(hv.Dir(s.ID), "disk.qcow2")).Output()
		var info struct {
			VirtualSize int64 `json:"virtual-size"`
		}
		if err != nil || json.Unmarshal(out, &info) != nil {
			t.Fatalf("the disk's info: %v", err)
		}
		return info.VirtualSize
	}
	vmSize := func(when string, vcpus, ram int) {
		t.Helper()
		spec, err := hv.SavedSpec(s.ID)
		if err != nil || spec.VCPUs != vcpus || spec.RAMMiB != ram {
			t.Errorf("%s: the VM has %d vCPUs and %d MiB (%v), want %d and %d", when, spec.VCPUs, spec.RAMMiB, err, vcpus, ram)
		}
	}
	before := diskSize()
	pc, err := openstack.NewPlacementV1(srv.Admin(t).ProviderClient, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := resourceproviders.List(pc, nil).AllPages(ctx)
	wantStatus(t, "providers", err, 0)
	rps, _ := resourceproviders.ExtractResourceProviders(pages)
	vcpusUsed := func(when string, want int) {
		t.Helper()
		u, err := resourceproviders.GetUsages(ctx, pc, rps[0].UUID).Extract()
		if err != nil || u.Usages["VCPU"] != want {
			t.Errorf("%s: the host's vCPUs used: %+v %v, want %d", when, u, err, want)
		}
	}
	vcpusUsed("created", 1)

	for _, tc := range []struct {
		name string
		c    *gophercloud.ServiceClient
		body map[string]any
		want int
	}{
		{"no flavor", c, map[string]any{"resize": map[string]any{}}, http.StatusBadRequest},
		{"an unknown one", c, map[string]any{"resize": map[string]any{"flavorRef": "nope"}}, http.StatusBadRequest},
		{"the same flavor", c, map[string]any{"resize": map[string]any{"flavorRef": small}}, http.StatusBadRequest},
		{"another project", cb, map[string]any{"resize": map[string]any{"flavorRef": medium}}, http.StatusNotFound},
		{"a confirm", c, map[string]any{"confirmResize": nil}, http.StatusConflict},
		{"a revert", c, map[string]any{"revertResize": nil}, http.StatusConflict},
	} {
		wantStatus(t, tc.name, action(tc.c, tc.body), tc.want)
	}

	// Resized and confirmed.
	wantStatus(t, "resize", action(c, map[string]any{"resize": map[string]any{"flavorRef": medium}}), 0)
	got := waitStatus(t, c, s.ID, "VERIFY_RESIZE")
	if got.Flavor["original_name"] != "SCS-2V-4-20s" {
		t.Errorf("the resized server's flavor: %v", got.Flavor)
	}
	vmSize("resized", 2, 4096)
	vcpusUsed("resized, unconfirmed", 1+2)
	if n := diskSize(); n != 20<<30 {
		t.Errorf("the resized disk has %d bytes", n)
	}
	wantStatus(t, "resize while unconfirmed", action(c, map[string]any{"resize": map[string]any{"flavorRef": large}}), http.StatusConflict)
	wantStatus(t, "confirm", action(c, map[string]any{"confirmResize": nil}), 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	vcpusUsed("confirmed", 2)
	wantStatus(t, "a disk resized down", action(c, map[string]any{"resize": map[string]any{"flavorRef": small}}), http.StatusBadRequest)

	// Stopped, resized, reverted: back at the old flavor and disk, still stopped.
	wantStatus(t, "stop", servers.Stop(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "SHUTOFF")
	wantStatus(t, "resize the stopped server", action(c, map[string]any{"resize": map[string]any{"flavorRef": large}}), 0)
	waitStatus(t, c, s.ID, "VERIFY_RESIZE")
	vcpusUsed("resized again, unconfirmed", 2+4)
	if n := diskSize(); n != 100<<30 {
		t.Errorf("the resized disk has %d bytes", n)
	}
	wantStatus(t, "revert", action(c, map[string]any{"revertResize": nil}), 0)
	got = waitStatus(t, c, s.ID, "SHUTOFF")
	vcpusUsed("reverted", 2)
	if got.Flavor["original_name"] != "SCS-2V-4-20s" || diskSize() != 20<<30 {
		t.Errorf("the reverted server: flavor %v, disk %d", got.Flavor, diskSize())
	}
	wantStatus(t, "start", servers.Start(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	vmSize("started after the revert", 2, 4096)
	if before >= 20<<30 {
		t.Errorf("the first disk had %d bytes", before)
	}
}
