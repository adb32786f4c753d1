package volume_test

import (
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/transfers"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestVolumeTransfers offers a volume with a snapshot to whoever has the
// key: the donor sees the offer, no one else does; a wrong key, a
// project without room and a withdrawn offer move nothing; the accepting
// project gets the volume and its snapshot, the donor loses them.
func TestVolumeTransfers(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta, gamma := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", ""), srv.NewTenant(t, "gamma", "")
	a, b, g := volumeClient(t, srv.Provider(t, alpha)), volumeClient(t, srv.Provider(t, beta)), volumeClient(t, srv.Provider(t, gamma))
	admin := volumeClient(t, srv.Admin(t).ProviderClient)
	v := newVolume(t, a, "gift", 2)
	waitVolume(t, a, v, "available")
	sn, err := snapshots.Create(ctx, a, snapshots.CreateOpts{VolumeID: v, Name: "with"}).Extract()
	wantStatus(t, "snapshot", err, 0)
	waitSnapshot(t, a, sn.ID, "available")

	tr, err := transfers.Create(ctx, a, transfers.CreateOpts{VolumeID: v, Name: "to-beta"}).Extract()
	wantStatus(t, "create transfer", err, 0)
	if len(tr.AuthKey) != 16 || tr.VolumeID != v {
		t.Fatalf("transfer %+v", tr)
	}
	waitVolume(t, a, v, "awaiting-transfer")
	wantStatus(t, "delete an offered volume", volumes.Delete(ctx, a, v, nil).ExtractErr(), http.StatusBadRequest)
	_, err = transfers.Create(ctx, a, transfers.CreateOpts{VolumeID: v}).Extract()
	wantStatus(t, "offer it twice", err, http.StatusBadRequest)
	_, err = transfers.Create(ctx, b, transfers.CreateOpts{VolumeID: newVolume(t, a, "other", 1)}).Extract()
	wantStatus(t, "beta offers alpha's volume", err, http.StatusNotFound)

	pages, err := transfers.List(a, nil).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	if all, _ := transfers.ExtractTransfers(pages); len(all) != 1 || all[0].AuthKey != "" {
		t.Errorf("alpha's transfers %+v", all)
	}
	pages, _ = transfers.List(b, nil).AllPages(ctx)
	if all, _ := transfers.ExtractTransfers(pages); len(all) != 0 {
		t.Errorf("beta lists alpha's transfers %+v", all)
	}
	_, err = transfers.Get(ctx, b, tr.ID).Extract()
	wantStatus(t, "beta shows the transfer", err, http.StatusNotFound)

	// A wrong key, a project without room: nothing moves.
	_, err = transfers.Accept(ctx, b, tr.ID, transfers.AcceptOpts{AuthKey: "0123456789abcdef"}).Extract()
	wantStatus(t, "accept with a wrong key", err, http.StatusBadRequest)
	one := 1
	_, err = quotasets.Update(ctx, admin, gamma.ProjectID, quotasets.UpdateOpts{Gigabytes: &one}).Extract()
	wantStatus(t, "gamma's quota", err, 0)
	_, err = transfers.Accept(ctx, g, tr.ID, transfers.AcceptOpts{AuthKey: tr.AuthKey}).Extract()
	wantStatus(t, "accept without room", err, http.StatusRequestEntityTooLarge)
	_, err = volumes.Get(ctx, b, v).Extract()
	wantStatus(t, "beta sees it before", err, http.StatusNotFound)

	// Accepted: beta's, with its snapshot.
	_, err = transfers.Accept(ctx, b, tr.ID, transfers.AcceptOpts{AuthKey: tr.AuthKey}).Extract()
	wantStatus(t, "accept", err, 0)
	got, err := volumes.Get(ctx, b, v).Extract()
	if err != nil || got.Status != "available" || got.UserID != beta.UserID {
		t.Errorf("beta's volume %+v, %v", got, err)
	}
	if s, err := snapshots.Get(ctx, b, sn.ID).Extract(); err != nil || s.VolumeID != v {
		t.Errorf("beta's snapshot %+v, %v", s, err)
	}
	_, err = volumes.Get(ctx, a, v).Extract()
	wantStatus(t, "alpha after the transfer", err, http.StatusNotFound)
	_, err = snapshots.Get(ctx, a, sn.ID).Extract()
	wantStatus(t, "alpha's snapshot after the transfer", err, http.StatusNotFound)
	_, err = transfers.Accept(ctx, g, tr.ID, transfers.AcceptOpts{AuthKey: tr.AuthKey}).Extract()
	wantStatus(t, "accept again", err, http.StatusNotFound)

	// Withdrawn: available again, nothing to accept.
	tr, err = transfers.Create(ctx, b, transfers.CreateOpts{VolumeID: v}).Extract()
	wantStatus(t, "offer again", err, 0)
	wantStatus(t, "withdraw", transfers.Delete(ctx, b, tr.ID).ExtractErr(), 0)
	waitVolume(t, b, v, "available")
	_, err = transfers.Accept(ctx, a, tr.ID, transfers.AcceptOpts{AuthKey: tr.AuthKey}).Extract()
	wantStatus(t, "accept a withdrawn offer", err, http.StatusNotFound)
}

// TestVolumeRetype changes a volume's type in place, and its bootable
// flag; the same type, an unknown or private one, a bad policy and
// another project's volume are refused.
func TestVolumeRetype(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := volumeClient(t, srv.Provider(t, alpha)), volumeClient(t, srv.Provider(t, beta))
	admin := volumeClient(t, srv.Admin(t).ProviderClient)
	public, private := true, false
	_, err := volumetypes.Create(ctx, admin, volumetypes.CreateOpts{Name: "gold", IsPublic: &public}).Extract()
	wantStatus(t, "gold", err, 0)
	_, err = volumetypes.Create(ctx, admin, volumetypes.CreateOpts{Name: "secret", IsPublic: &private}).Extract()
	wantStatus(t, "secret", err, 0)
	v := newVolume(t, a, "v", 1)
	waitVolume(t, a, v, "available")

	wantStatus(t, "retype", volumes.ChangeType(ctx, a, v, volumes.ChangeTypeOpts{NewType: "gold", MigrationPolicy: volumes.MigrationPolicyNever}).ExtractErr(), 0)
	if got, _ := volumes.Get(ctx, a, v).Extract(); got == nil || got.VolumeType != "gold" || got.Status != "available" {
		t.Errorf("retyped %+v", got)
	}
	for what, opts := range map[string]volumes.ChangeTypeOpts{
		"same type":  {NewType: "gold"},
		"bad policy": {NewType: "__DEFAULT__", MigrationPolicy: "sometimes"},
	} {
		wantStatus(t, what, volumes.ChangeType(ctx, a, v, opts).ExtractErr(), http.StatusBadRequest)
	}
	wantStatus(t, "unknown type", volumes.ChangeType(ctx, a, v, volumes.ChangeTypeOpts{NewType: "nope"}).ExtractErr(), http.StatusNotFound)
	wantStatus(t, "private type", volumes.ChangeType(ctx, a, v, volumes.ChangeTypeOpts{NewType: "secret"}).ExtractErr(), http.StatusNotFound)
	wantStatus(t, "beta retypes", volumes.ChangeType(ctx, b, v, volumes.ChangeTypeOpts{NewType: "__DEFAULT__"}).ExtractErr(), http.StatusNotFound)

	// Bootable, and not again; not by another project.
	wantStatus(t, "set bootable", volumes.SetBootable(ctx, a, v, volumes.BootableOpts{Bootable: true}).ExtractErr(), 0)
	if got, _ := volumes.Get(ctx, a, v).Extract(); got == nil || got.Bootable != "true" {
		t.Errorf("bootable %+v", got)
	}
	wantStatus(t, "beta sets bootable", volumes.SetBootable(ctx, b, v, volumes.BootableOpts{Bootable: false}).ExtractErr(), http.StatusNotFound)
	wantStatus(t, "set non-bootable", volumes.SetBootable(ctx, a, v, volumes.BootableOpts{Bootable: false}).ExtractErr(), 0)
	if got, _ := volumes.Get(ctx, a, v).Extract(); got == nil || got.Bootable != "false" {
		t.Errorf("non-bootable %+v", got)
	}
}

// TestVolumeMetadata reads and writes the metadata of a volume and of a
// snapshot as collections (openstack volume set --property): merged,
// replaced, one key at a time; another project reaches neither.
func TestVolumeMetadata(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := volumeClient(t, srv.Provider(t, alpha)), volumeClient(t, srv.Provider(t, beta))
	v := newVolume(t, a, "v", 1) // metadata tier=v
	waitVolume(t, a, v, "available")
	sn, err := snapshots.Create(ctx, a, snapshots.CreateOpts{VolumeID: v}).Extract()
	wantStatus(t, "snapshot", err, 0)
	waitSnapshot(t, a, sn.ID, "available")
	for _, path := range []string{"volumes/" + v, "snapshots/" + sn.ID} {
		var out struct{ Metadata map[string]string }
		_, err := a.Post(ctx, a.ServiceURL(path, "metadata"), map[string]any{"metadata": map[string]string{"team": "a"}}, &out, &gophercloud.RequestOpts{OkCodes: []int{200}})
		wantStatus(t, path+" merge", err, 0)
		if out.Metadata["team"] != "a" || (path[0] == 'v' && out.Metadata["tier"] != "v") {
			t.Errorf("%s merged: %v", path, out.Metadata)
		}
		_, err = a.Put(ctx, a.ServiceURL(path, "metadata", "team"), map[string]any{"meta": map[string]string{"team": "b"}}, nil, &gophercloud.RequestOpts{OkCodes: []int{200}})
		wantStatus(t, path+" set one", err, 0)
		var one struct{ Meta map[string]string }
		_, err = a.Get(ctx, a.ServiceURL(path, "metadata", "team"), &one, nil)
		if err != nil || one.Meta["team"] != "b" {
			t.Errorf("%s one: %v, %v", path, one.Meta, err)
		}
		_, err = b.Get(ctx, b.ServiceURL(path, "metadata"), &out, nil)
		wantStatus(t, path+" beta reads", err, http.StatusNotFound)
		_, err = b.Put(ctx, b.ServiceURL(path, "metadata"), map[string]any{"metadata": map[string]string{}}, nil, &gophercloud.RequestOpts{OkCodes: []int{200}})
		wantStatus(t, path+" beta replaces", err, http.StatusNotFound)
		var replaced struct{ Metadata map[string]string }
		_, err = a.Put(ctx, a.ServiceURL(path, "metadata"), map[string]any{"metadata": map[string]string{"only": "this"}}, &replaced, &gophercloud.RequestOpts{OkCodes: []int{200}})
		if err != nil || len(replaced.Metadata) != 1 || replaced.Metadata["only"] != "this" {
			t.Errorf("%s replaced: %v, %v", path, replaced.Metadata, err)
		}
		_, err = a.Delete(ctx, a.ServiceURL(path, "metadata", "only"), &gophercloud.RequestOpts{OkCodes: []int{200}})
		wantStatus(t, path+" delete one", err, 0)
		_, err = a.Delete(ctx, a.ServiceURL(path, "metadata", "only"), &gophercloud.RequestOpts{OkCodes: []int{200}})
		wantStatus(t, path+" delete it again", err, http.StatusNotFound)
	}
	if got, _ := volumes.Get(ctx, a, v).Extract(); got == nil || len(got.Metadata) != 0 {
		t.Errorf("the volume's metadata at the end: %+v", got)
	}
}
