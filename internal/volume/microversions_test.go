package volume_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"

	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/volume/backend/fake"
)

// at is a copy of c that asks for microversion 3.minor.
func at(c *gophercloud.ServiceClient, minor string) *gophercloud.ServiceClient {
	d := *c
	d.Microversion = "3." + minor
	return &d
}

func newVolume(t *testing.T, c *gophercloud.ServiceClient, name string, size int) string {
	t.Helper()
	v, err := volumes.Create(ctx, c, volumes.CreateOpts{Name: name, Size: size, Metadata: map[string]string{"tier": name}}, nil).Extract()
	wantStatus(t, "create "+name, err, 0)
	waitVolume(t, c, v.ID, "available")
	return v.ID
}

// TestAttachmentsAPI: with Cinder's attachments API (3.27, os-complete
// 3.44) a project reserves a volume for an instance, gives a connector
// and completes the attach; the volume is reserved, attaching, in-use
// (not deletable) and available again when the attachment goes. The
// connection info names no host path. Another project sees none of it,
// older microversions have no such API, and bad requests change nothing.
func TestAttachmentsAPI(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := at(volumeClient(t, srv.Provider(t, alpha)), "44"), at(volumeClient(t, srv.Provider(t, beta)), "44")
	vol := newVolume(t, a, "data", 1)
	instance := "5e0f8e52-7d4a-4c1e-9d6c-3f2b1a0e9d88"

	_, err := attachments.List(at(a, "26"), nil).AllPages(ctx)
	wantStatus(t, "list at 3.26", err, 404)
	for _, tc := range []struct {
		name string
		opts attachments.CreateOpts
		want int
	}{
		{"no volume", attachments.CreateOpts{InstanceUUID: instance}, 400},
		{"a volume that is not a uuid", attachments.CreateOpts{VolumeUUID: "data", InstanceUUID: instance}, 400},
		{"an unknown volume", attachments.CreateOpts{VolumeUUID: instance, InstanceUUID: instance}, 404},
		{"a mode before 3.54", attachments.CreateOpts{VolumeUUID: vol, InstanceUUID: instance, Mode: "ro"}, 400},
	} {
		_, err := attachments.Create(ctx, a, tc.opts).Extract()
		wantStatus(t, tc.name, err, tc.want)
	}
	_, err = attachments.Create(ctx, b, attachments.CreateOpts{VolumeUUID: vol, InstanceUUID: instance}).Extract()
	wantStatus(t, "the other project reserves the volume", err, 404)
	waitVolume(t, a, vol, "available")

	att, err := attachments.Create(ctx, a, attachments.CreateOpts{VolumeUUID: vol, InstanceUUID: instance}).Extract()
	wantStatus(t, "reserve", err, 0)
	if att.Status != "reserved" || att.Instance != instance || att.VolumeID != vol || att.ConnectionInfo != nil {
		t.Errorf("reserved attachment = %+v", att)
	}
	waitVolume(t, a, vol, "reserved")
	_, err = attachments.Create(ctx, a, attachments.CreateOpts{VolumeUUID: vol, InstanceUUID: instance}).Extract()
	wantStatus(t, "reserve a reserved volume", err, 400)
	wantStatus(t, "update without a connector", attachments.Update(ctx, a, att.ID, attachments.UpdateOpts{}).Err, 400)
	att, err = attachments.Update(ctx, a, att.ID, attachments.UpdateOpts{Connector: map[string]any{"host": "elsewhere", "initiator": "iqn.test"}}).Extract()
	wantStatus(t, "update with a connector", err, 0)
	if att.Status != "attaching" || att.ConnectionInfo["driver_volume_type"] != "file" || att.ConnectionInfo["format"] == nil {
		t.Errorf("connected attachment = %+v", att)
	}
	for k, v := range att.ConnectionInfo {
		if s, ok := v.(string); ok && strings.Contains(s, "/") {
			t.Errorf("the connection info shows a path: %s = %s", k, s)
		}
	}
	waitVolume(t, a, vol, "attaching")
	wantStatus(t, "complete at 3.43", attachments.Complete(ctx, at(a, "43"), att.ID).Err, 400)
	wantStatus(t, "complete", attachments.Complete(ctx, a, att.ID).Err, 0)
	v := waitVolume(t, a, vol, "in-use")
	if len(v.Attachments) != 1 || v.Attachments[0].ServerID != instance || v.Attachments[0].AttachmentID != att.ID {
		t.Errorf("the volume's attachments: %+v", v.Attachments)
	}
	got, err := attachments.Get(ctx, a, att.ID).Extract()
	if err != nil || got.Status != "attached" || got.AttachedAt.IsZero() {
		t.Errorf("show = %+v, %v", got, err)
	}
	pages, err := attachments.List(a, attachments.ListOpts{VolumeID: vol}).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	if all, _ := attachments.ExtractAttachments(pages); len(all) != 1 || all[0].ID != att.ID {
		t.Errorf("list = %+v", all)
	}

	// The other project: nothing to see or delete; the volume stays in use.
	_, err = attachments.Get(ctx, b, att.ID).Extract()
	wantStatus(t, "the other project shows it", err, 404)
	wantStatus(t, "the other project deletes it", attachments.Delete(ctx, b, att.ID).Err, 404)
	pages, err = attachments.List(b, nil).AllPages(ctx)
	wantStatus(t, "the other project lists", err, 0)
	if all, _ := attachments.ExtractAttachments(pages); len(all) != 0 {
		t.Errorf("the other project lists %+v", all)
	}
	wantStatus(t, "delete an in-use volume", volumes.Delete(ctx, a, vol, nil).ExtractErr(), 400)

	wantStatus(t, "delete the attachment", attachments.Delete(ctx, a, att.ID).Err, 0)
	if v := waitVolume(t, a, vol, "available"); len(v.Attachments) != 0 {
		t.Errorf("attachments after the delete: %+v", v.Attachments)
	}
	_, err = attachments.Get(ctx, a, att.ID).Extract()
	wantStatus(t, "show a deleted attachment", err, 404)
}

// TestMicroversions: what sov adds from 3.1 to 3.44 beside attachments —
// the volume summary (3.12, metadata 3.36), the group filter (3.10),
// another project's limits for admins (3.39), revert to the latest
// snapshot (3.40), the snapshot's user (3.41), extending an in-use volume
// (3.42) — each refused before its version.
func TestMicroversions(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a := volumeClient(t, srv.Provider(t, alpha))
	admin := volumeClient(t, srv.Admin(t).ProviderClient)
	backend := srv.Volumes().Backend().(*fake.Driver)
	one, two := newVolume(t, a, "one", 1), newVolume(t, a, "two", 2)
	newVolume(t, volumeClient(t, srv.Provider(t, beta)), "beta", 3)

	var summary struct {
		Summary struct {
			TotalSize  int                 `json:"total_size"`
			TotalCount int                 `json:"total_count"`
			Metadata   map[string][]string `json:"metadata"`
		} `json:"volume-summary"`
	}
	_, err := at(a, "36").Get(ctx, a.ServiceURL("volumes", "summary"), &summary, nil)
	wantStatus(t, "summary", err, 0)
	if s := summary.Summary; s.TotalCount != 2 || s.TotalSize != 3 || len(s.Metadata["tier"]) != 2 {
		t.Errorf("summary = %+v", s)
	}
	_, err = at(a, "11").Get(ctx, a.ServiceURL("volumes", "summary"), &summary, nil)
	wantStatus(t, "summary at 3.11", err, 404)

	pages, err := volumes.List(at(a, "10"), volumes.ListOpts{}).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	if all, _ := volumes.ExtractVolumes(pages); len(all) != 2 {
		t.Errorf("list = %d volumes", len(all))
	}
	var list struct{ Volumes []any }
	_, err = at(a, "10").Get(ctx, a.ServiceURL("volumes")+"?group_id=6a1f1c38-0d7c-4c1b-8a3e-0d5b8a6c2f10", &list, nil)
	if err != nil || len(list.Volumes) != 0 {
		t.Errorf("volumes of a group: %+v, %v", list, err)
	}
	_, err = at(a, "9").Get(ctx, a.ServiceURL("volumes")+"?group_id=6a1f1c38-0d7c-4c1b-8a3e-0d5b8a6c2f10", &list, nil)
	wantStatus(t, "group filter at 3.9", err, 400)

	l, err := limits.Get(ctx, at(admin, "39")).Extract()
	wantStatus(t, "admin's limits", err, 0)
	var other struct {
		Limits struct {
			Absolute struct{ TotalVolumesUsed int }
		} `json:"limits"`
	}
	_, err = at(admin, "39").Get(ctx, admin.ServiceURL("limits")+"?project_id="+alpha.ProjectID, &other, nil)
	wantStatus(t, "alpha's limits for the admin", err, 0)
	if other.Limits.Absolute.TotalVolumesUsed != 2 || l.Absolute.TotalVolumesUsed != 0 {
		t.Errorf("alpha's volumes in its limits: %d; in the admin's own: %d", other.Limits.Absolute.TotalVolumesUsed, l.Absolute.TotalVolumesUsed)
	}
	_, err = at(a, "39").Get(ctx, a.ServiceURL("limits")+"?project_id="+beta.ProjectID, &other, nil)
	if err != nil || other.Limits.Absolute.TotalVolumesUsed != 2 {
		t.Errorf("a member asking for another project's limits gets its own: %+v, %v", other, err)
	}

	// Revert to the latest snapshot: the data of its moment comes back.
	backend.Write(one, 0x11)
	first, err := snapshots.Create(ctx, a, snapshots.CreateOpts{VolumeID: one, Name: "first"}).Extract()
	wantStatus(t, "snapshot", err, 0)
	waitSnapshot(t, a, first.ID, "available")
	backend.Write(one, 0x22)
	second, err := snapshots.Create(ctx, at(a, "41"), snapshots.CreateOpts{VolumeID: one, Name: "second"}).Extract()
	wantStatus(t, "second snapshot", err, 0)
	if second.UserID != alpha.UserID {
		t.Errorf("the snapshot's user at 3.41: %q", second.UserID)
	}
	waitSnapshot(t, a, second.ID, "available")
	backend.Write(one, 0x33)
	revert := func(c *gophercloud.ServiceClient, snap string) error {
		_, err := c.Post(ctx, c.ServiceURL("volumes", one, "action"), map[string]any{"revert": map[string]string{"snapshot_id": snap}}, nil,
			&gophercloud.RequestOpts{OkCodes: []int{http.StatusAccepted}})
		return err
	}
	wantStatus(t, "revert at 3.39", revert(at(a, "39"), second.ID), 400)
	wantStatus(t, "revert to a snapshot not the latest", revert(at(a, "40"), first.ID), 400)
	wantStatus(t, "revert", revert(at(a, "40"), second.ID), 0)
	waitVolume(t, a, one, "available")
	if data, _ := backend.Read(one); data != 0x22 {
		t.Errorf("the reverted volume holds %#x, want the snapshot's 0x22", data)
	}
	waitSnapshot(t, a, second.ID, "available")

	// An in-use volume grows from 3.42.
	att, err := attachments.Create(ctx, at(a, "44"), attachments.CreateOpts{VolumeUUID: two, InstanceUUID: "5e0f8e52-7d4a-4c1e-9d6c-3f2b1a0e9d88",
		Connector: map[string]any{"host": "h"}}).Extract()
	wantStatus(t, "attach", err, 0)
	wantStatus(t, "complete", attachments.Complete(ctx, at(a, "44"), att.ID).Err, 0)
	waitVolume(t, a, two, "in-use")
	wantStatus(t, "extend in-use at 3.41", volumes.ExtendSize(ctx, at(a, "41"), two, volumes.ExtendSizeOpts{NewSize: 3}).ExtractErr(), 400)
	wantStatus(t, "extend in-use at 3.42", volumes.ExtendSize(ctx, at(a, "42"), two, volumes.ExtendSizeOpts{NewSize: 3}).ExtractErr(), 0)
	if v := waitVolume(t, a, two, "in-use"); v.Size != 3 {
		t.Errorf("the extended in-use volume has size %d", v.Size)
	}
	if n, _ := backend.Size(two); n != 3<<30 {
		t.Errorf("the backend holds %d bytes", n)
	}
}
