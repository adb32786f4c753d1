package compute_test

import (
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestInstanceActions: every action asked of a server is recorded with
// who asked, when, and how its event ended (os-instance-actions, as
// gophercloud and `openstack server event list` read it); another project
// sees none of it; the record goes with the server.
func TestInstanceActions(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "")
	imageID := servertest.UploadTestGuest(t, p)
	created, err := servers.Create(ctx, c, servers.CreateOpts{Name: "acted", ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1")}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, created.ID, "ACTIVE")
	wantStatus(t, "stop", servers.Stop(ctx, c, created.ID).ExtractErr(), 0)
	waitStatus(t, c, created.ID, "SHUTOFF")

	pages, err := instanceactions.List(c, created.ID, nil).AllPages(ctx)
	wantStatus(t, "list actions", err, 0)
	actions, err := instanceactions.ExtractInstanceActions(pages)
	if err != nil || len(actions) != 2 || actions[0].Action != "stop" || actions[1].Action != "create" {
		t.Fatalf("actions = %+v, %v", actions, err)
	}
	for _, a := range actions {
		if a.UserID != alpha.UserID || a.ProjectID != alpha.ProjectID || a.InstanceUUID != created.ID || a.RequestID == "" || a.StartTime.IsZero() {
			t.Errorf("action %+v", a)
		}
	}
	detail, err := instanceactions.Get(ctx, c, created.ID, actions[1].RequestID).Extract()
	if err != nil || detail.Events == nil || len(*detail.Events) != 1 {
		t.Fatalf("create action = %+v, %v", detail, err)
	}
	ev := (*detail.Events)[0]
	if ev.Event != "compute__do_build_and_run_instance" || ev.Result != "Success" || ev.FinishTime.Before(ev.StartTime) {
		t.Errorf("create event = %+v", ev)
	}
	_, err = instanceactions.Get(ctx, c, created.ID, "req-00000000-0000-0000-0000-000000000000").Extract()
	wantStatus(t, "an unknown request id", err, http.StatusNotFound)

	// Another project: the server is not there for it.
	bc := computeClient(t, srv.Provider(t, srv.NewTenant(t, "beta", "")), "")
	_, err = instanceactions.List(bc, created.ID, nil).AllPages(ctx)
	wantStatus(t, "another project's list", err, http.StatusNotFound)
	_, err = instanceactions.Get(ctx, bc, created.ID, actions[1].RequestID).Extract()
	wantStatus(t, "another project's action", err, http.StatusNotFound)

	// The record goes with the server.
	deleteAndWait(t, srv, c, created.ID)
	var n int
	if err := srv.Store(t).QueryRow(ctx, `SELECT COUNT(*) FROM actions WHERE resource_id = ?`, created.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("actions of a deleted server: %d, %v", n, err)
	}
}
