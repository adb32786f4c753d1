package volume_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/volume/backend/fake"
)

var ctx = context.Background()

var wantStatus = servertest.WantStatus

func volumeClient(t *testing.T, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewBlockStorageV3(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatalf("block storage endpoint from the catalog: %v", err)
	}
	return c
}

func waitVolume(t *testing.T, c *gophercloud.ServiceClient, id, want string) *volumes.Volume {
	t.Helper()
	for end := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		v, err := volumes.Get(ctx, c, id).Extract()
		if want == "" && err != nil {
			var e gophercloud.ErrUnexpectedResponseCode
			if errors.As(err, &e) && e.Actual == http.StatusNotFound {
				return nil
			}
		}
		if err != nil && want != "" {
			t.Fatalf("get volume %s: %v", id, err)
		}
		if err == nil && v.Status == want {
			return v
		}
		if time.Now().After(end) {
			t.Fatalf("volume %s: %+v %v, want status %q", id, v, err, want)
		}
	}
}

// TestVolumeLifecycle: a project creates, lists, updates, extends and
// deletes a volume with gophercloud; the backend holds its data at each
// size; the default type __DEFAULT__ and the encrypted LUKS are there,
// only admins make types;
// another project can neither see nor touch the volume.
func TestVolumeLifecycle(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := volumeClient(t, srv.Provider(t, alpha)), volumeClient(t, srv.Provider(t, beta))
	admin := volumeClient(t, srv.Admin(t).ProviderClient)
	backend := srv.Volumes().Backend().(*fake.Driver)

	pg, err := volumetypes.List(a, nil).AllPages(ctx)
	wantStatus(t, "type list", err, 0)
	types, _ := volumetypes.ExtractVolumeTypes(pg)
	if len(types) != 2 || types[0].Name != "LUKS" || !strings.HasPrefix(types[0].Description, "[scs:encrypted] ") || types[1].Name != "__DEFAULT__" {
		t.Fatalf("volume types of a new cloud: %+v", types)
	}
	_, err = volumetypes.Create(ctx, a, volumetypes.CreateOpts{Name: "mine"}).Extract()
	wantStatus(t, "member creates a type", err, http.StatusForbidden)
	fast, err := volumetypes.Create(ctx, admin, volumetypes.CreateOpts{Name: "fast", Description: "[scs:replicated] fast disks",
		ExtraSpecs: map[string]string{"volume_backend_name": "file"}}).Extract()
	wantStatus(t, "admin creates a type", err, 0)
	_, err = volumetypes.Create(ctx, admin, volumetypes.CreateOpts{Name: "fast"}).Extract()
	wantStatus(t, "a type's name twice", err, http.StatusConflict)
	if seen, err := volumetypes.Get(ctx, a, fast.ID).Extract(); err != nil || len(seen.ExtraSpecs) != 0 || seen.Description != "[scs:replicated] fast disks" {
		t.Errorf("a member sees the type as %+v (%v), without the admin's extra specs", seen, err)
	}
	if seen, _ := volumetypes.Get(ctx, admin, fast.ID).Extract(); seen.ExtraSpecs["volume_backend_name"] != "file" {
		t.Errorf("the admin sees the type as %+v", seen)
	}

	v, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 2, Name: "data", Description: "my data", VolumeType: "fast",
		Metadata: map[string]string{"team": "a"}}, nil).Extract()
	wantStatus(t, "create", err, 0)
	if v.Status != "creating" || v.Size != 2 || v.VolumeType != "fast" || v.AvailabilityZone != "nova" {
		t.Errorf("created: %+v", v)
	}
	v = waitVolume(t, a, v.ID, "available")
	if n, ok := backend.Size(v.ID); !ok || n != 2<<30 {
		t.Errorf("the backend holds %d bytes (%v), want 2 GiB", n, ok)
	}
	if v.Name != "data" || v.Metadata["team"] != "a" || v.Bootable != "false" {
		t.Errorf("shown: %+v", v)
	}
	plain, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 1}, nil).Extract()
	wantStatus(t, "create without a type", err, 0)
	if plain.VolumeType != "__DEFAULT__" {
		t.Errorf("a volume without a type has %q", plain.VolumeType)
	}
	waitVolume(t, a, plain.ID, "available")

	pg, err = volumes.List(a, volumes.ListOpts{Name: "data"}).AllPages(ctx)
	wantStatus(t, "list by name", err, 0)
	if vs, _ := volumes.ExtractVolumes(pg); len(vs) != 1 || vs[0].ID != v.ID {
		t.Errorf("list by name: %+v", vs)
	}
	pg, err = volumes.List(a, volumes.ListOpts{Limit: 1}).AllPages(ctx)
	wantStatus(t, "paged list", err, 0)
	if vs, _ := volumes.ExtractVolumes(pg); len(vs) != 2 {
		t.Errorf("paged list of one per page: %d volumes", len(vs))
	}
	name := "renamed"
	u, err := volumes.Update(ctx, a, v.ID, volumes.UpdateOpts{Name: &name}).Extract()
	wantStatus(t, "update", err, 0)
	if u.Name != "renamed" {
		t.Errorf("updated: %+v", u)
	}
	wantStatus(t, "extend", volumes.ExtendSize(ctx, a, v.ID, volumes.ExtendSizeOpts{NewSize: 5}).ExtractErr(), 0)
	if v = waitVolume(t, a, v.ID, "available"); v.Size != 5 {
		t.Errorf("size after extend: %d", v.Size)
	}
	if n, _ := backend.Size(v.ID); n != 5<<30 {
		t.Errorf("the backend holds %d bytes after extend", n)
	}
	wantStatus(t, "extend to a smaller size", volumes.ExtendSize(ctx, a, v.ID, volumes.ExtendSizeOpts{NewSize: 3}).ExtractErr(), http.StatusBadRequest)

	// Beta sees none of it and changes nothing.
	pg, err = volumes.List(b, nil).AllPages(ctx)
	wantStatus(t, "beta's list", err, 0)
	if vs, _ := volumes.ExtractVolumes(pg); len(vs) != 0 {
		t.Errorf("beta lists %d volumes", len(vs))
	}
	_, err = volumes.Get(ctx, b, v.ID).Extract()
	wantStatus(t, "beta shows alpha's volume", err, http.StatusNotFound)
	_, err = volumes.Update(ctx, b, v.ID, volumes.UpdateOpts{Name: &name}).Extract()
	wantStatus(t, "beta updates alpha's volume", err, http.StatusNotFound)
	wantStatus(t, "beta extends alpha's volume", volumes.ExtendSize(ctx, b, v.ID, volumes.ExtendSizeOpts{NewSize: 9}).ExtractErr(), http.StatusNotFound)
	wantStatus(t, "beta deletes alpha's volume", volumes.Delete(ctx, b, v.ID, nil).ExtractErr(), http.StatusNotFound)
	// The admin sees every project's volumes with all_tenants.
	pg, err = volumes.List(admin, volumes.ListOpts{AllTenants: true}).AllPages(ctx)
	wantStatus(t, "admin's list", err, 0)
	if vs, _ := volumes.ExtractVolumes(pg); len(vs) != 2 || vs[0].TenantID != alpha.ProjectID {
		t.Errorf("admin's list of all tenants: %+v", vs)
	}

	// A type in use stays; deleting the volume frees it.
	wantStatus(t, "delete a type in use", volumetypes.Delete(ctx, admin, fast.ID).ExtractErr(), http.StatusBadRequest)
	wantStatus(t, "delete", volumes.Delete(ctx, a, v.ID, nil).ExtractErr(), 0)
	waitVolume(t, a, v.ID, "")
	if _, ok := backend.Size(v.ID); ok {
		t.Error("the backend still holds a deleted volume")
	}
	wantStatus(t, "delete the type", volumetypes.Delete(ctx, admin, fast.ID).ExtractErr(), 0)
	if got, _ := backend.List(ctx); len(got) != 1 || got[0] != plain.ID {
		t.Errorf("the backend holds %v, want only %s", got, plain.ID)
	}
}

// TestVolumeQuotas: the defaults, an admin's change, creates and extends
// over the gigabytes or volumes quota refused with 413 and nothing made
// (an extension in flight counting at its new size, the size per volume
// applying to extensions too), and the limits OSC's limits show reads.
func TestVolumeQuotas(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	a := volumeClient(t, srv.Provider(t, alpha))
	admin := volumeClient(t, srv.Admin(t).ProviderClient)
	qs, err := quotasets.Get(ctx, a, alpha.ProjectID).Extract()
	wantStatus(t, "quota show", err, 0)
	if qs.Volumes != 10 || qs.Gigabytes != 1000 || qs.Snapshots != 10 || qs.PerVolumeGigabytes != -1 {
		t.Errorf("default quotas: %+v", qs)
	}
	four, two := 4, 2
	_, err = quotasets.Update(ctx, a, alpha.ProjectID, quotasets.UpdateOpts{Gigabytes: &four}).Extract()
	wantStatus(t, "member sets its quota", err, http.StatusForbidden)
	_, err = quotasets.Update(ctx, admin, alpha.ProjectID, quotasets.UpdateOpts{Gigabytes: &four, Volumes: &two}).Extract()
	wantStatus(t, "admin sets the quota", err, 0)

	_, err = volumes.Create(ctx, a, volumes.CreateOpts{Size: 5}, nil).Extract()
	wantStatus(t, "a volume over the gigabytes quota", err, http.StatusRequestEntityTooLarge)
	v, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 3}, nil).Extract()
	wantStatus(t, "a volume within the quota", err, 0)
	waitVolume(t, a, v.ID, "available")
	wantStatus(t, "extend over the quota", volumes.ExtendSize(ctx, a, v.ID, volumes.ExtendSizeOpts{NewSize: 5}).ExtractErr(), http.StatusRequestEntityTooLarge)
	w, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 1}, nil).Extract()
	wantStatus(t, "second volume", err, 0)
	waitVolume(t, a, w.ID, "available")
	_, err = volumes.Create(ctx, a, volumes.CreateOpts{Size: 1}, nil).Extract()
	wantStatus(t, "a third volume over the volumes quota", err, http.StatusRequestEntityTooLarge)

	// An extension in flight counts at its new size: a second one that
	// would pass only while the first is unfinished is refused.
	backend := srv.Volumes().Backend().(*fake.Driver)
	ten := 10
	_, err = quotasets.Update(ctx, admin, alpha.ProjectID, quotasets.UpdateOpts{Gigabytes: &ten}).Extract()
	wantStatus(t, "admin raises the quota", err, 0)
	release := backend.Hold()
	wantStatus(t, "extend in flight", volumes.ExtendSize(ctx, a, v.ID, volumes.ExtendSizeOpts{NewSize: 8}).ExtractErr(), 0)
	wantStatus(t, "another extend beside it", volumes.ExtendSize(ctx, a, w.ID, volumes.ExtendSizeOpts{NewSize: 3}).ExtractErr(), http.StatusRequestEntityTooLarge)
	wantStatus(t, "extend the volume in flight again", volumes.ExtendSize(ctx, a, v.ID, volumes.ExtendSizeOpts{NewSize: 9}).ExtractErr(), http.StatusBadRequest)
	release()
	if got := waitVolume(t, a, v.ID, "available"); got.Size != 8 {
		t.Errorf("size after the extension: %d", got.Size)
	}
	three := 3
	_, err = quotasets.Update(ctx, admin, alpha.ProjectID, quotasets.UpdateOpts{PerVolumeGigabytes: &three, Gigabytes: &four}).Extract()
	wantStatus(t, "admin sets a size per volume", err, 0)
	wantStatus(t, "extend over the size per volume", volumes.ExtendSize(ctx, a, w.ID, volumes.ExtendSizeOpts{NewSize: 4}).ExtractErr(), http.StatusRequestEntityTooLarge)
	wantStatus(t, "shrink the volume back", volumes.Delete(ctx, a, v.ID, nil).ExtractErr(), 0)
	waitVolume(t, a, v.ID, "")
	v, err = volumes.Create(ctx, a, volumes.CreateOpts{Size: 3}, nil).Extract()
	wantStatus(t, "a volume within the quota again", err, 0)
	waitVolume(t, a, v.ID, "available")

	usage, err := quotasets.GetUsage(ctx, a, alpha.ProjectID).Extract()
	wantStatus(t, "quota usage", err, 0)
	if usage.Volumes.InUse != 2 || usage.Gigabytes.InUse != 4 || usage.Gigabytes.Limit != 4 {
		t.Errorf("quota usage: %+v", usage)
	}
	l, err := limits.Get(ctx, a).Extract()
	wantStatus(t, "limits", err, 0)
	if l.Absolute.MaxTotalVolumes != 2 || l.Absolute.TotalVolumesUsed != 2 || l.Absolute.TotalGigabytesUsed != 4 {
		t.Errorf("limits: %+v", l.Absolute)
	}
	pg, _ := volumes.List(a, nil).AllPages(ctx)
	if vs, _ := volumes.ExtractVolumes(pg); len(vs) != 2 {
		t.Errorf("refused creates made volumes: %d", len(vs))
	}
}

// TestVolumeBadInput: malformed and wrong requests get Cinder's faults
// and change nothing; features sov lacks answer 501.
func TestVolumeBadInput(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	a := volumeClient(t, srv.Provider(t, alpha))
	v, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 1, Name: "keep"}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitVolume(t, a, v.ID, "available")
	token := a.Token()
	base := a.Endpoint
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		fault                    string
	}{
		{"malformed JSON", "POST", "volumes", `{"volume": {"size": 1`, 400, "badRequest"},
		{"no volume", "POST", "volumes", `{"size": 1}`, 400, "badRequest"},
		{"size zero", "POST", "volumes", `{"volume": {"size": 0}}`, 400, "badRequest"},
		{"size negative", "POST", "volumes", `{"volume": {"size": -3}}`, 400, "badRequest"},
		{"size a word", "POST", "volumes", `{"volume": {"size": "big"}}`, 400, "badRequest"},
		{"size a float", "POST", "volumes", `{"volume": {"size": 1.5}}`, 400, "badRequest"},
		{"unknown type", "POST", "volumes", `{"volume": {"size": 1, "volume_type": "nope"}}`, 404, "itemNotFound"},
		{"unknown zone", "POST", "volumes", `{"volume": {"size": 1, "availability_zone": "mars"}}`, 400, "badRequest"},
		{"long name", "POST", "volumes", `{"volume": {"size": 1, "name": "` + strings.Repeat("n", 256) + `"}}`, 400, "badRequest"},
		{"from an unknown snapshot", "POST", "volumes", `{"volume": {"size": 1, "snapshot_id": "` + v.ID + `"}}`, 404, "itemNotFound"},
		{"from a snapshot and a volume", "POST", "volumes", `{"volume": {"snapshot_id": "` + v.ID + `", "source_volid": "` + v.ID + `"}}`, 400, "badRequest"},
		{"snapshot without a volume", "POST", "snapshots", `{"snapshot": {"name": "x"}}`, 400, "badRequest"},
		{"snapshot of an unknown volume", "POST", "snapshots", `{"snapshot": {"volume_id": "00000000-0000-0000-0000-000000000000"}}`, 404, "itemNotFound"},
		{"from an unknown image", "POST", "volumes", `{"volume": {"size": 1, "imageRef": "` + v.ID + `"}}`, 404, "itemNotFound"},
		{"from a backup before 3.47", "POST", "volumes", `{"volume": {"size": 1, "backup_id": "` + v.ID + `"}}`, 400, "badRequest"},
		{"unknown id", "GET", "volumes/00000000-0000-0000-0000-000000000000", "", 404, "itemNotFound"},
		{"unknown action", "POST", "volumes/" + v.ID + "/action", `{"os-fly": {}}`, 400, "badRequest"},
		{"attach", "POST", "volumes/" + v.ID + "/action", `{"os-attach": {"mountpoint": "/dev/vdb"}}`, 501, "notImplemented"},
		{"extend without size", "POST", "volumes/" + v.ID + "/action", `{"os-extend": {}}`, 400, "badRequest"},
		{"unknown filter", "GET", "volumes?colour=red", "", 400, "badRequest"},
		{"metadata filter", "GET", "volumes?metadata=%7B%22a%22%3A%22b%22%7D", "", 501, "notImplemented"},
		{"qos specs, by a member", "GET", "qos-specs", "", 403, "forbidden"},
		{"groups", "GET", "groups", "", 501, "notImplemented"},
		{"volume metadata without metadata", "PUT", "volumes/" + v.ID + "/metadata", `{"meta": {"a": "b"}}`, 400, "badRequest"},
		{"metadatum of another key", "PUT", "volumes/" + v.ID + "/metadata/a", `{"meta": {"b": "c"}}`, 400, "badRequest"},
		{"unknown metadatum", "GET", "volumes/" + v.ID + "/metadata/nope", "", 404, "itemNotFound"},
		{"transfer without a volume", "POST", "os-volume-transfer", `{"transfer": {"name": "t"}}`, 400, "badRequest"},
		{"accept without a key", "POST", "os-volume-transfer/00000000-0000-0000-0000-000000000000/accept", `{"accept": {}}`, 400, "badRequest"},
		{"cascade delete", "DELETE", "volumes/" + v.ID + "?cascade=true", "", 501, "notImplemented"},
		{"backup of an unknown snapshot", "POST", "backups", `{"backup": {"volume_id": "` + v.ID + `", "snapshot_id": "` + v.ID + `"}}`, 404, "itemNotFound"},
		{"backup without a volume", "POST", "backups", `{"backup": {"name": "b"}}`, 400, "badRequest"},
		{"bad sort key", "GET", "volumes?sort=colour:asc", "", 400, "badRequest"},
		{"unknown marker", "GET", "volumes?marker=00000000-0000-0000-0000-000000000000", "", 400, "badRequest"},
		{"another project in the path", "GET", "../v3/00000000000000000000000000000000/volumes", "", 400, "badRequest"},
		{"microversion too new", "GET", "volumes", "", 406, "notAcceptable"},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, bytes.NewBufferString(tc.body))
		req.Header.Set("X-Auth-Token", token)
		req.Header.Set("Content-Type", "application/json")
		if tc.status == 406 {
			req.Header.Set("OpenStack-API-Version", "volume 3.99")
		}
		resp, err := srv.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var fault map[string]struct {
			Code    int
			Message string
		}
		json.Unmarshal(body, &fault)
		if resp.StatusCode != tc.status || fault[tc.fault].Code != tc.status || fault[tc.fault].Message == "" {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, resp.StatusCode, body, tc.status, tc.fault)
		}
	}
	// The project's own id in the path works as the catalog's URL does.
	req, _ := http.NewRequest("GET", base+"../v3/"+alpha.ProjectID+"/volumes/"+v.ID, nil)
	req.Header.Set("X-Auth-Token", token)
	if resp, err := srv.HTTPClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("the volume under the project's own id: %v %v", resp, err)
	}
	pg, _ := volumes.List(a, nil).AllPages(ctx)
	if vs, _ := volumes.ExtractVolumes(pg); len(vs) != 1 || vs[0].Name != "keep" || vs[0].Size != 1 {
		t.Errorf("after the bad requests: %+v", vs)
	}
}

// TestVolumeBackendFailure: a backend that fails leaves a volume in error
// (or error_deleting), which can be deleted once the backend works again.
func TestVolumeBackendFailure(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	a := volumeClient(t, srv.Provider(t, srv.NewTenant(t, "alpha", "")))
	backend := srv.Volumes().Backend().(*fake.Driver)
	backend.Fail(errors.New("disk on fire"))
	v, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 1}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitVolume(t, a, v.ID, "error")
	backend.Fail(nil)
	w, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 1}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitVolume(t, a, w.ID, "available")
	backend.Fail(errors.New("disk on fire"))
	wantStatus(t, "delete on a failing backend", volumes.Delete(ctx, a, w.ID, nil).ExtractErr(), 0)
	waitVolume(t, a, w.ID, "error_deleting")
	backend.Fail(nil)
	for _, id := range []string{v.ID, w.ID} {
		wantStatus(t, "delete", volumes.Delete(ctx, a, id, nil).ExtractErr(), 0)
		waitVolume(t, a, id, "")
	}
}

func waitSnapshot(t *testing.T, c *gophercloud.ServiceClient, id, want string) *snapshots.Snapshot {
	t.Helper()
	for end := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		sn, err := snapshots.Get(ctx, c, id).Extract()
		if want == "" && err != nil {
			return nil
		}
		if err == nil && sn.Status == want {
			return sn
		}
		if time.Now().After(end) {
			t.Fatalf("snapshot %s: %+v %v, want status %q", id, sn, err, want)
		}
	}
}

// TestVolumeSnapshots: a snapshot keeps a volume's data of its moment; a
// volume made from it has that data (at its size, or larger), a volume
// cloned from another has the other's data now; a volume with snapshots
// cannot go; snapshots count in the quotas; another project can neither
// see the snapshot nor make volumes from it or from the volume.
func TestVolumeSnapshots(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := volumeClient(t, srv.Provider(t, alpha)), volumeClient(t, srv.Provider(t, beta))
	backend := srv.Volumes().Backend().(*fake.Driver)

	v, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 2, Name: "origin"}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitVolume(t, a, v.ID, "available")
	backend.Write(v.ID, 0x11)
	sn, err := snapshots.Create(ctx, a, snapshots.CreateOpts{VolumeID: v.ID, Name: "before", Metadata: map[string]string{"k": "v"}}).Extract()
	wantStatus(t, "snapshot", err, 0)
	sn = waitSnapshot(t, a, sn.ID, "available")
	if sn.Size != 2 || sn.VolumeID != v.ID || sn.Name != "before" || sn.Metadata["k"] != "v" {
		t.Errorf("snapshot: %+v", sn)
	}
	backend.Write(v.ID, 0x22)
	// While a snapshot copies the volume it is not extended.
	release := backend.Hold()
	held, err := snapshots.Create(ctx, a, snapshots.CreateOpts{VolumeID: v.ID, Name: "held"}).Extract()
	wantStatus(t, "snapshot in flight", err, 0)
	wantStatus(t, "extend while a snapshot copies", volumes.ExtendSize(ctx, a, v.ID, volumes.ExtendSizeOpts{NewSize: 4}).ExtractErr(), http.StatusBadRequest)
	release()
	waitSnapshot(t, a, held.ID, "available")
	wantStatus(t, "delete the second snapshot", snapshots.Delete(ctx, a, held.ID).ExtractErr(), 0)
	waitSnapshot(t, a, held.ID, "")

	restored, err := volumes.Create(ctx, a, volumes.CreateOpts{SnapshotID: sn.ID, Name: "restored"}, nil).Extract()
	wantStatus(t, "volume from the snapshot", err, 0)
	restored = waitVolume(t, a, restored.ID, "available")
	if got, _ := backend.Read(restored.ID); got != 0x11 || restored.Size != 2 || restored.SnapshotID != sn.ID {
		t.Errorf("the volume from the snapshot holds %#x, %+v", got, restored)
	}
	clone, err := volumes.Create(ctx, a, volumes.CreateOpts{SourceVolID: v.ID, Size: 3}, nil).Extract()
	wantStatus(t, "clone", err, 0)
	clone = waitVolume(t, a, clone.ID, "available")
	if got, _ := backend.Read(clone.ID); got != 0x22 || clone.Size != 3 || clone.SourceVolID != v.ID {
		t.Errorf("the clone holds %#x, %+v", got, clone)
	}
	_, err = volumes.Create(ctx, a, volumes.CreateOpts{SnapshotID: sn.ID, Size: 1}, nil).Extract()
	wantStatus(t, "a volume smaller than its snapshot", err, http.StatusBadRequest)
	// cinderclient sends "size": null for a copy at its source's size.
	var copied struct{ Volume volumes.Volume }
	resp, err := a.Post(ctx, a.ServiceURL("volumes"), map[string]any{"volume": map[string]any{"size": nil, "source_volid": v.ID}}, &copied,
		&gophercloud.RequestOpts{OkCodes: []int{202}})
	wantStatus(t, "a copy with size null", err, 0)
	resp.Body.Close()
	if got := waitVolume(t, a, copied.Volume.ID, "available"); got.Size != 2 {
		t.Errorf("a copy with size null has size %d", got.Size)
	}
	wantStatus(t, "delete the copy", volumes.Delete(ctx, a, copied.Volume.ID, nil).ExtractErr(), 0)
	waitVolume(t, a, copied.Volume.ID, "")

	pg, err := snapshots.List(a, snapshots.ListOpts{VolumeID: v.ID}).AllPages(ctx)
	wantStatus(t, "snapshot list", err, 0)
	if all, _ := snapshots.ExtractSnapshots(pg); len(all) != 1 || all[0].ID != sn.ID {
		t.Errorf("snapshots of the volume: %+v", all)
	}
	usage, err := quotasets.GetUsage(ctx, a, alpha.ProjectID).Extract()
	wantStatus(t, "quota usage", err, 0)
	if usage.Snapshots.InUse != 1 || usage.Gigabytes.InUse != 2+2+3+2 {
		t.Errorf("usage with a snapshot: snapshots %+v gigabytes %+v", usage.Snapshots, usage.Gigabytes)
	}

	// Beta sees none of it and makes nothing of it.
	_, err = snapshots.Get(ctx, b, sn.ID).Extract()
	wantStatus(t, "beta shows alpha's snapshot", err, http.StatusNotFound)
	_, err = volumes.Create(ctx, b, volumes.CreateOpts{SnapshotID: sn.ID}, nil).Extract()
	wantStatus(t, "beta restores alpha's snapshot", err, http.StatusNotFound)
	_, err = volumes.Create(ctx, b, volumes.CreateOpts{SourceVolID: v.ID}, nil).Extract()
	wantStatus(t, "beta clones alpha's volume", err, http.StatusNotFound)
	_, err = snapshots.Create(ctx, b, snapshots.CreateOpts{VolumeID: v.ID}).Extract()
	wantStatus(t, "beta snapshots alpha's volume", err, http.StatusNotFound)
	wantStatus(t, "beta deletes alpha's snapshot", snapshots.Delete(ctx, b, sn.ID).ExtractErr(), http.StatusNotFound)
	pg, _ = snapshots.List(b, nil).AllPages(ctx)
	if all, _ := snapshots.ExtractSnapshots(pg); len(all) != 0 {
		t.Errorf("beta lists %d snapshots", len(all))
	}

	// A volume with a snapshot stays; the snapshot goes first.
	wantStatus(t, "delete a volume with a snapshot", volumes.Delete(ctx, a, v.ID, nil).ExtractErr(), http.StatusBadRequest)
	wantStatus(t, "delete the snapshot", snapshots.Delete(ctx, a, sn.ID).ExtractErr(), 0)
	waitSnapshot(t, a, sn.ID, "")
	if held, _ := backend.Snapshots(ctx); len(held) != 0 {
		t.Errorf("the backend still holds snapshots %v", held)
	}
	wantStatus(t, "delete the volume", volumes.Delete(ctx, a, v.ID, nil).ExtractErr(), 0)
	waitVolume(t, a, v.ID, "")
	if got, _ := backend.Read(restored.ID); got != 0x11 {
		t.Errorf("the restored volume lost its data with its snapshot: %#x", got)
	}
}

// uploadImage uploads data as an image of the format and returns its id.
func uploadImage(t *testing.T, p *gophercloud.ProviderClient, name, format string, data []byte) string {
	t.Helper()
	ic, err := openstack.NewImageV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	container := "bare"
	if format == "aki" {
		container = "aki"
	}
	img, err := images.Create(ctx, ic, images.CreateOpts{Name: name, DiskFormat: format, ContainerFormat: container,
		Properties: map[string]string{"os_distro": "debian"}}).Extract()
	wantStatus(t, "image create", err, 0)
	wantStatus(t, "image upload", imagedata.Upload(ctx, ic, img.ID, bytes.NewReader(data)).ExtractErr(), 0)
	return img.ID
}

// TestVolumeFromImage: a volume made from an image holds the image's data,
// is bootable and carries the image's metadata, at least the image's size;
// another project's private image is not found, a kernel image is refused.
// (Data not of its declared format never becomes an image: the image
// service inspects uploads, and the volume service inspects again.)
func TestVolumeFromImage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	pa := srv.Provider(t, alpha)
	a, b := volumeClient(t, pa), volumeClient(t, srv.Provider(t, beta))
	backend := srv.Volumes().Backend().(*fake.Driver)
	raw := make([]byte, 3<<20)
	for i := 1 << 20; i < 2<<20; i++ {
		raw[i] = 0xa3
	}
	imageID := uploadImage(t, pa, "disk", "raw", raw)

	v, err := volumes.Create(ctx, a, volumes.CreateOpts{ImageID: imageID, Name: "bootable"}, nil).Extract()
	wantStatus(t, "volume from the image", err, 0)
	v = waitVolume(t, a, v.ID, "available")
	if got, _ := backend.Read(v.ID); got != 0xa3 || v.Bootable != "true" || v.Size != 1 ||
		v.VolumeImageMetadata["image_id"] != imageID || v.VolumeImageMetadata["os_distro"] != "debian" {
		t.Errorf("the volume from the image holds %#x: %+v", got, v)
	}
	_, err = volumes.Create(ctx, b, volumes.CreateOpts{ImageID: imageID, Size: 1}, nil).Extract()
	wantStatus(t, "beta from alpha's private image", err, http.StatusNotFound)
	kernel := uploadImage(t, pa, "kernel", "aki", raw)
	_, err = volumes.Create(ctx, a, volumes.CreateOpts{ImageID: kernel, Size: 1}, nil).Extract()
	wantStatus(t, "volume from a kernel image", err, http.StatusBadRequest)
	_, err = volumes.Create(ctx, a, volumes.CreateOpts{ImageID: imageID, Size: 1, SnapshotID: v.ID}, nil).Extract()
	wantStatus(t, "volume from an image and a snapshot", err, http.StatusBadRequest)
	pg, _ := volumes.List(a, nil).AllPages(ctx)
	if vs, _ := volumes.ExtractVolumes(pg); len(vs) != 1 {
		t.Errorf("refused volumes were made: %d volumes", len(vs))
	}
}
