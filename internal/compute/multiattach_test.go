package compute_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestMultiattachVolumes: a volume of a multiattach type (multiattach
// "<is> True") is attached to two servers at once from compute API 2.60,
// each VM sharing its disk; it stays in use until the last detach; it is
// not attached twice to one server, nor to another project's, nor
// extended while in use; encrypted and multiattach do not mix; an
// available volume is retyped to and from multiattach (its backend data
// shared and not), an in-use one is not; a plain volume takes one server.
func TestMultiattachVolumes(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	pa, pb := srv.Provider(t, alpha), srv.Provider(t, beta)
	c, c59, cb := computeClient(t, pa, "2.60"), computeClient(t, pa, "2.59"), computeClient(t, pb, "2.60")
	vc, vcb := volumeClient(t, pa), volumeClient(t, pb)
	admin := volumeClient(t, srv.Admin(t).ProviderClient)
	hv := srv.Compute().Driver()

	multi, err := volumetypes.Create(ctx, admin, volumetypes.CreateOpts{Name: "multi", IsPublic: new(true),
		ExtraSpecs: map[string]string{"multiattach": "<is> True"}}).Extract()
	wantStatus(t, "create a multiattach type", err, 0)
	if seen, err := volumetypes.Get(ctx, vc, multi.ID).Extract(); err != nil || seen.ExtraSpecs["multiattach"] != "<is> True" {
		t.Errorf("a member sees the multiattach type as %+v (%v)", seen, err)
	}
	create := func(c *gophercloud.ServiceClient, opts volumes.CreateOpts) string {
		t.Helper()
		v, err := volumes.Create(ctx, c, opts, nil).Extract()
		wantStatus(t, "create volume "+opts.Name, err, 0)
		waitVolumeStatus(t, c, v.ID, "available")
		return v.ID
	}
	shared := create(vc, volumes.CreateOpts{Name: "shared", Size: 1, VolumeType: "multi"})
	plain := create(vc, volumes.CreateOpts{Name: "plain", Size: 1})
	if v, _ := volumes.Get(ctx, vc, shared).Extract(); !v.Multiattach {
		t.Errorf("a volume of a multiattach type: %+v", v)
	}
	if v, _ := volumes.Get(ctx, vc, plain).Extract(); v.Multiattach {
		t.Errorf("a plain volume is multiattach")
	}
	_, err = vc.Post(ctx, vc.ServiceURL("volumes"), map[string]any{"volume": map[string]any{"size": 1, "multiattach": true}}, nil, nil)
	wantStatus(t, "the removed multiattach flag", err, http.StatusBadRequest)

	boot := func(c *gophercloud.ServiceClient, p *gophercloud.ProviderClient, name string) string {
		t.Helper()
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: servertest.UploadTestGuest(t, p), FlavorRef: flavorID(t, c, "SCS-1L-1"),
			Networks: "none"}, nil).Extract()
		wantStatus(t, "create "+name, err, 0)
		waitStatus(t, c, s.ID, "ACTIVE")
		return s.ID
	}
	vm1, vm2, bvm := boot(c, pa, "vm1"), boot(c, pa, "vm2"), boot(cb, pb, "beta-vm")

	_, err = volumeattach.Create(ctx, c59, vm1, volumeattach.CreateOpts{VolumeID: shared}).Extract()
	wantStatus(t, "attach a multiattach volume before 2.60", err, http.StatusBadRequest)
	for _, vm := range []string{vm1, vm2} {
		_, err = volumeattach.Create(ctx, c, vm, volumeattach.CreateOpts{VolumeID: shared}).Extract()
		wantStatus(t, "attach the multiattach volume", err, 0)
	}
	v := waitVolumeStatus(t, vc, shared, "in-use")
	var on []string
	for _, a := range v.Attachments {
		on = append(on, a.ServerID)
	}
	want := []string{vm1, vm2}
	slices.Sort(on)
	slices.Sort(want)
	if !slices.Equal(on, want) {
		t.Errorf("the multiattach volume's attachments: %+v", v.Attachments)
	}
	for _, vm := range []string{vm1, vm2} {
		spec, err := hv.SavedSpec(vm)
		if err != nil || len(spec.Volumes) != 1 || !spec.Volumes[0].Disk.Shared {
			t.Errorf("server %s's VM does not share the volume: %+v %v", vm, spec, err)
		}
	}
	_, err = volumeattach.Create(ctx, c, vm1, volumeattach.CreateOpts{VolumeID: shared}).Extract()
	wantStatus(t, "attach to the same server twice", err, http.StatusBadRequest)
	_, err = volumeattach.Create(ctx, cb, bvm, volumeattach.CreateOpts{VolumeID: shared}).Extract()
	wantStatus(t, "another project attaches it", err, http.StatusNotFound)
	vc42 := *vc
	vc42.Microversion = "3.42"
	wantStatus(t, "extend the multiattach volume in use", volumes.ExtendSize(ctx, &vc42, shared, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr(), http.StatusBadRequest)
	wantStatus(t, "retype the in-use volume off multiattach", volumes.ChangeType(ctx, vc, shared, volumes.ChangeTypeOpts{NewType: "__DEFAULT__"}).ExtractErr(),
		http.StatusBadRequest)

	// A server is created with it while it is in use, from 2.60.
	bdm := []servers.BlockDevice{{SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: shared, BootIndex: -1}}
	_, err = servers.Create(ctx, c59, servers.CreateOpts{Name: "vm3", ImageRef: servertest.UploadTestGuest(t, pa), FlavorRef: flavorID(t, c, "SCS-1L-1"),
		Networks: "none", BlockDevice: bdm}, nil).Extract()
	wantStatus(t, "create a server with a multiattach volume before 2.60", err, http.StatusBadRequest)
	vm3, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm3", ImageRef: servertest.UploadTestGuest(t, pa), FlavorRef: flavorID(t, c, "SCS-1L-1"),
		Networks: "none", BlockDevice: bdm}, nil).Extract()
	wantStatus(t, "create a server with the multiattach volume in use", err, 0)
	waitStatus(t, c, vm3.ID, "ACTIVE")
	if v := waitVolumeStatus(t, vc, shared, "in-use"); len(v.Attachments) != 3 {
		t.Errorf("the multiattach volume's attachments with a third server: %+v", v.Attachments)
	}
	wantStatus(t, "delete the third server", servers.Delete(ctx, c, vm3.ID).ExtractErr(), 0)
	for end := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if v, _ := volumes.Get(ctx, vc, shared).Extract(); len(v.Attachments) == 2 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the deleted server still has the multiattach volume")
		}
	}

	// A plain volume takes one server.
	_, err = volumeattach.Create(ctx, c, vm1, volumeattach.CreateOpts{VolumeID: plain}).Extract()
	wantStatus(t, "attach the plain volume", err, 0)
	_, err = volumeattach.Create(ctx, c, vm2, volumeattach.CreateOpts{VolumeID: plain}).Extract()
	wantStatus(t, "attach the plain volume to a second server", err, http.StatusBadRequest)
	wantStatus(t, "detach the plain volume", volumeattach.Delete(ctx, c, vm1, plain).ExtractErr(), 0)
	waitDetached(t, c, vm1, plain)

	// In use until the last server lets go.
	wantStatus(t, "detach from vm1", volumeattach.Delete(ctx, c, vm1, shared).ExtractErr(), 0)
	waitDetached(t, c, vm1, shared)
	if v := waitVolumeStatus(t, vc, shared, "in-use"); len(v.Attachments) != 1 || v.Attachments[0].ServerID != vm2 {
		t.Errorf("after one detach: %+v", v.Attachments)
	}
	wantStatus(t, "detach from vm2", volumeattach.Delete(ctx, c, vm2, shared).ExtractErr(), 0)
	waitDetached(t, c, vm2, shared)
	waitVolumeStatus(t, vc, shared, "available")

	// Cinder's attachments API reserves it for two instances too.
	vc50 := *vc
	vc50.Microversion = "3.50"
	var reserved []string
	for _, vm := range []string{vm1, vm2} {
		a, err := attachments.Create(ctx, &vc50, attachments.CreateOpts{VolumeUUID: shared, InstanceUUID: vm}).Extract()
		wantStatus(t, "reserve the multiattach volume", err, 0)
		if err == nil {
			reserved = append(reserved, a.ID)
		}
	}
	_, err = attachments.Create(ctx, &vc50, attachments.CreateOpts{VolumeUUID: plain, InstanceUUID: vm1}).Extract()
	wantStatus(t, "reserve the plain volume", err, 0)
	_, err = attachments.Create(ctx, &vc50, attachments.CreateOpts{VolumeUUID: plain, InstanceUUID: vm2}).Extract()
	wantStatus(t, "reserve the plain volume twice", err, http.StatusBadRequest)
	for _, id := range reserved {
		wantStatus(t, "delete a reservation", attachments.Delete(ctx, &vc50, id).ExtractErr(), 0)
	}
	waitVolumeStatus(t, vc, shared, "available")

	// Retyped while available: the backend stops sharing, and starts again.
	wantStatus(t, "retype off multiattach", volumes.ChangeType(ctx, vc, shared, volumes.ChangeTypeOpts{NewType: "__DEFAULT__"}).ExtractErr(), 0)
	if v := waitVolumeStatus(t, vc, shared, "available"); v.Multiattach || v.VolumeType != "__DEFAULT__" {
		t.Errorf("retyped off multiattach: %+v", v)
	}
	if disk, err := srv.Volumes().Backend().Disk(ctx, shared); err != nil || disk.Shared {
		t.Errorf("the backend still shares the retyped volume: %+v %v", disk, err)
	}
	wantStatus(t, "retype to multiattach", volumes.ChangeType(ctx, vc, shared, volumes.ChangeTypeOpts{NewType: "multi"}).ExtractErr(), 0)
	if v := waitVolumeStatus(t, vc, shared, "available"); !v.Multiattach {
		t.Errorf("retyped to multiattach: %+v", v)
	}
	if disk, err := srv.Volumes().Backend().Disk(ctx, shared); err != nil || !disk.Shared {
		t.Errorf("the backend does not share the volume retyped to multiattach: %+v %v", disk, err)
	}

	// Reverted to a snapshot (3.40), its data is replaced and shared still.
	sn, err := snapshots.Create(ctx, vc, snapshots.CreateOpts{VolumeID: shared, Name: "before"}).Extract()
	wantStatus(t, "snapshot the multiattach volume", err, 0)
	waitSnapshotStatus(t, vc, sn.ID, "available")
	vc40 := *vc
	vc40.Microversion = "3.40"
	_, err = vc40.Post(ctx, vc40.ServiceURL("volumes", shared, "action"), map[string]any{"revert": map[string]any{"snapshot_id": sn.ID}}, nil,
		&gophercloud.RequestOpts{OkCodes: []int{http.StatusAccepted}})
	wantStatus(t, "revert the multiattach volume", err, 0)
	waitVolumeStatus(t, vc, shared, "available")
	if disk, err := srv.Volumes().Backend().Disk(ctx, shared); err != nil || !disk.Shared {
		t.Errorf("the backend does not share the reverted multiattach volume: %+v %v", disk, err)
	}

	// Encrypted and multiattach do not mix.
	luks := ""
	pg, _ := volumetypes.List(admin, nil).AllPages(ctx)
	types, _ := volumetypes.ExtractVolumeTypes(pg)
	for _, ty := range types {
		if ty.Name == "LUKS" {
			luks = ty.ID
		}
	}
	_, err = volumetypes.CreateExtraSpecs(ctx, admin, luks, volumetypes.ExtraSpecsOpts{"multiattach": "<is> True"}).Extract()
	wantStatus(t, "make the LUKS type multiattach", err, 0)
	_, err = volumes.Create(ctx, vc, volumes.CreateOpts{Name: "both", Size: 1, VolumeType: "LUKS"}, nil).Extract()
	wantStatus(t, "an encrypted multiattach volume", err, http.StatusBadRequest)

	// Other projects see none of it.
	_, err = volumes.Get(ctx, vcb, shared).Extract()
	wantStatus(t, "another project shows the volume", err, http.StatusNotFound)
	wantStatus(t, "another project retypes the volume", volumes.ChangeType(ctx, vcb, shared, volumes.ChangeTypeOpts{NewType: "__DEFAULT__"}).ExtractErr(),
		http.StatusNotFound)
}
