package compute_test

import (
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestServerRebuild: a rebuild gives a server a new root disk of the
// image asked for (its backing file is the new image's), its new name,
// metadata and key; a stopped server stays stopped; bad requests, another
// project and a server booted from a volume change nothing; the actions
// Nova has and sov has not yet answer 501.
func TestServerRebuild(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	pa, pb := srv.Provider(t, srv.NewTenant(t, "alpha", "")), srv.Provider(t, srv.NewTenant(t, "beta", ""))
	c, cb := computeClient(t, pa, "2.57"), computeClient(t, pb, "2.57")
	first, second := servertest.UploadTestGuest(t, pa), servertest.UploadTestGuest(t, pa)
	flavor := flavorID(t, c, "SCS-1L-1")
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm", ImageRef: first, FlavorRef: flavor, Networks: "none",
		Metadata: map[string]string{"a": "1"}}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	hv := srv.Compute().Driver()
	before, err := hv.SavedSpec(s.ID)
	if err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		opts rebuildOpts
		want int
	}{
		"no image":          {rebuildOpts{"name": "x"}, http.StatusBadRequest},
		"an unknown image":  {rebuildOpts{"imageRef": "00000000-0000-4000-8000-000000000000"}, http.StatusBadRequest},
		"an unknown key":    {rebuildOpts{"imageRef": second, "key_name": "nope"}, http.StatusBadRequest},
		"bad user data":     {rebuildOpts{"imageRef": second, "user_data": "not base64!"}, http.StatusBadRequest},
		"an empty name":     {rebuildOpts{"imageRef": second, "name": ""}, http.StatusBadRequest},
		"personality, 2.57": {rebuildOpts{"imageRef": second, "personality": []any{}}, http.StatusBadRequest},
	} {
		_, err := servers.Rebuild(ctx, c, s.ID, tc.opts).Extract()
		wantStatus(t, "rebuild with "+name, err, tc.want)
	}
	_, err = servers.Rebuild(ctx, cb, s.ID, rebuildOpts{"imageRef": second}).Extract()
	wantStatus(t, "another project rebuilds", err, http.StatusNotFound)
	for _, action := range []string{"createBackup", "shelve", "pause"} {
		_, err := c.Post(ctx, c.ServiceURL("servers", s.ID, "action"), map[string]any{action: map[string]any{}}, nil, nil)
		wantStatus(t, action, err, http.StatusNotImplemented)
	}
	if got, _ := servers.Get(ctx, c, s.ID).Extract(); got.Name != "vm" || got.Image["id"] != first {
		t.Errorf("refused rebuilds changed the server: %+v", got)
	}

	r, err := servers.Rebuild(ctx, c, s.ID, rebuildOpts{"imageRef": second, "name": "vm-2", "metadata": map[string]string{"b": "2"}}).Extract()
	wantStatus(t, "rebuild", err, 0)
	if r.Status != "REBUILD" || r.Name != "vm-2" {
		t.Errorf("the rebuild's answer: %+v", r)
	}
	got := waitStatus(t, c, s.ID, "ACTIVE")
	if got.Image["id"] != second || got.Name != "vm-2" || got.Metadata["b"] != "2" || got.Metadata["a"] != "" {
		t.Errorf("the rebuilt server: %+v", got)
	}
	after, err := hv.SavedSpec(s.ID)
	if err != nil || after.Disk.Backing == nil || after.Disk.Backing.Path == before.Disk.Backing.Path {
		t.Errorf("the rebuilt VM's disk %+v (%v) stands on the old image's %+v", after.Disk, err, before.Disk.Backing)
	}

	// A stopped server stays stopped, and boots its new disk at its start.
	wantStatus(t, "stop", servers.Stop(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "SHUTOFF")
	_, err = servers.Rebuild(ctx, c, s.ID, rebuildOpts{"imageRef": first}).Extract()
	wantStatus(t, "rebuild a stopped server", err, 0)
	waitStatus(t, c, s.ID, "SHUTOFF")
	wantStatus(t, "start", servers.Start(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	if spec, err := hv.SavedSpec(s.ID); err != nil || spec.Disk.Backing.Path != before.Disk.Backing.Path {
		t.Errorf("after the rebuild of the stopped server, its disk: %+v (%v)", spec.Disk, err)
	}
}
