package compute_test

import (
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/qos"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/servertest"
)

// TestVolumeQoS: admins make QoS specs (members can neither read nor make
// them; specs sov would not enforce, and limits QEMU refuses, are 400s),
// change them, associate them with a volume type (one set per type) and
// delete them (not while a type uses them, unless forced); a volume of
// the type attached to a server, plugged in or at the server's start,
// has the front-end limits in its VM (a _per_gb limit times its size);
// back-end specs reach no VM.
func TestVolumeQoS(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	pa := srv.Provider(t, srv.NewTenant(t, "alpha", ""))
	c, vc := computeClient(t, pa, "2.79"), volumeClient(t, pa)
	admin := volumeClient(t, srv.Admin(t).ProviderClient)

	_, err := qos.Create(ctx, vc, qos.CreateOpts{Name: "mine", Consumer: qos.ConsumerFront, Specs: map[string]string{"total_iops_sec": "100"}}).Extract()
	wantStatus(t, "a member makes QoS specs", err, http.StatusForbidden)
	_, err = qos.List(vc, nil).AllPages(ctx)
	wantStatus(t, "a member lists QoS specs", err, http.StatusForbidden)
	for name, specs := range map[string]map[string]string{
		"an unknown key":        {"disk_speed": "fast"},
		"a negative limit":      {"total_iops_sec": "-1"},
		"not a number":          {"read_bytes_sec": "lots"},
		"total beside read":     {"total_bytes_sec": "1000", "read_bytes_sec": "500"},
		"a burst without limit": {"total_iops_sec_max": "1000"},
		"a burst below limit":   {"total_iops_sec": "1000", "total_iops_sec_max": "500"},
	} {
		_, err := qos.Create(ctx, admin, qos.CreateOpts{Name: "bad", Consumer: qos.ConsumerFront, Specs: specs}).Extract()
		wantStatus(t, "QoS specs with "+name, err, http.StatusBadRequest)
	}
	fast, err := qos.Create(ctx, admin, qos.CreateOpts{Name: "fast", Consumer: qos.ConsumerBoth,
		Specs: map[string]string{"total_iops_sec_per_gb": "100", "read_bytes_sec": "10485760", "write_bytes_sec": "1"}}).Extract()
	wantStatus(t, "create QoS specs", err, 0)
	_, err = qos.Create(ctx, admin, qos.CreateOpts{Name: "fast", Consumer: qos.ConsumerFront}).Extract()
	wantStatus(t, "QoS specs of a name twice", err, http.StatusConflict)
	backEnd, err := qos.Create(ctx, admin, qos.CreateOpts{Name: "array", Consumer: qos.ConsumerBack, Specs: map[string]string{"vendor:tier": "gold"}}).Extract()
	wantStatus(t, "create back-end QoS specs", err, 0)
	_, err = qos.Update(ctx, admin, fast.ID, qos.UpdateOpts{Specs: map[string]string{"write_bytes_sec": "5242880"}}).Extract()
	wantStatus(t, "update QoS specs", err, 0)
	wantStatus(t, "delete a QoS key", qos.DeleteKeys(ctx, admin, backEnd.ID, qos.DeleteKeysOpts{"vendor:tier"}).ExtractErr(), 0)
	wantStatus(t, "delete an unknown QoS key", qos.DeleteKeys(ctx, admin, backEnd.ID, qos.DeleteKeysOpts{"vendor:tier"}).ExtractErr(), http.StatusNotFound)
	if got, err := qos.Get(ctx, admin, fast.ID).Extract(); err != nil || got.Consumer != "both" || got.Specs["write_bytes_sec"] != "5242880" {
		t.Errorf("the QoS specs: %+v, %v", got, err)
	}

	limited, err := volumetypes.Create(ctx, admin, volumetypes.CreateOpts{Name: "limited"}).Extract()
	wantStatus(t, "create type", err, 0)
	wantStatus(t, "associate", qos.Associate(ctx, admin, fast.ID, qos.AssociateOpts{VolumeTypeID: limited.ID}).ExtractErr(), 0)
	wantStatus(t, "associate other specs", qos.Associate(ctx, admin, backEnd.ID, qos.AssociateOpts{VolumeTypeID: limited.ID}).ExtractErr(), http.StatusBadRequest)
	if got, err := volumetypes.Get(ctx, admin, limited.ID).Extract(); err != nil || got.QosSpecID != fast.ID {
		t.Errorf("the type's QoS specs: %+v, %v", got, err)
	}
	pages, err := qos.ListAssociations(admin, fast.ID).AllPages(ctx)
	wantStatus(t, "associations", err, 0)
	if assoc, _ := qos.ExtractAssociations(pages); len(assoc) != 1 || assoc[0].ID != limited.ID || assoc[0].AssociationType != "volume_type" {
		t.Errorf("associations: %+v", assoc)
	}
	wantStatus(t, "delete QoS specs in use", qos.Delete(ctx, admin, fast.ID, qos.DeleteOpts{}).ExtractErr(), http.StatusBadRequest)

	// A 2 GiB volume of the type has 200 IOPS and 10 MiB/s of reads, in its VM.
	vol, err := volumes.Create(ctx, vc, volumes.CreateOpts{Name: "limited", Size: 2, VolumeType: "limited"}, nil).Extract()
	wantStatus(t, "create volume", err, 0)
	waitVolumeStatus(t, vc, vol.ID, "available")
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm", ImageRef: servertest.UploadTestGuest(t, pa), FlavorRef: flavorID(t, c, "SCS-1L-1"),
		Networks: "none"}, nil).Extract()
	wantStatus(t, "create server", err, 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	_, err = volumeattach.Create(ctx, c, s.ID, volumeattach.CreateOpts{VolumeID: vol.ID}).Extract()
	wantStatus(t, "attach", err, 0)
	waitVolumeStatus(t, vc, vol.ID, "in-use")
	want := hypervisor.Throttle{IOPS: 200, BPSRead: 10 << 20, BPSWrite: 5 << 20}
	limits := func(when string) {
		t.Helper()
		spec, err := srv.Compute().Driver().SavedSpec(s.ID)
		if err != nil || len(spec.Volumes) != 1 || spec.Volumes[0].Disk.Throttle == nil || *spec.Volumes[0].Disk.Throttle != want {
			t.Errorf("%s: the VM's volumes %+v (%v), want limits %+v", when, spec.Volumes, err, want)
		}
	}
	limits("plugged in")
	// At the next start the limits are read again.
	wantStatus(t, "update QoS specs", qos.DeleteKeys(ctx, admin, fast.ID, qos.DeleteKeysOpts{"write_bytes_sec"}).ExtractErr(), 0)
	wantStatus(t, "stop", servers.Stop(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "SHUTOFF")
	wantStatus(t, "start", servers.Start(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	want.BPSWrite = 0
	limits("started again")

	// Back-end specs reach no VM; forced, specs in use go with their associations.
	wantStatus(t, "disassociate", qos.Disassociate(ctx, admin, fast.ID, qos.DisassociateOpts{VolumeTypeID: limited.ID}).ExtractErr(), 0)
	wantStatus(t, "associate back-end specs", qos.Associate(ctx, admin, backEnd.ID, qos.AssociateOpts{VolumeTypeID: limited.ID}).ExtractErr(), 0)
	wantStatus(t, "stop", servers.Stop(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "SHUTOFF")
	wantStatus(t, "start", servers.Start(ctx, c, s.ID).ExtractErr(), 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	if spec, err := srv.Compute().Driver().SavedSpec(s.ID); err != nil || spec.Volumes[0].Disk.Throttle != nil {
		t.Errorf("back-end specs gave the VM limits: %+v (%v)", spec.Volumes, err)
	}
	wantStatus(t, "force-delete specs in use", qos.Delete(ctx, admin, backEnd.ID, qos.DeleteOpts{Force: true}).ExtractErr(), 0)
	if got, err := volumetypes.Get(ctx, admin, limited.ID).Extract(); err != nil || got.QosSpecID != "" {
		t.Errorf("the type keeps deleted QoS specs: %+v, %v", got, err)
	}
	wantStatus(t, "delete QoS specs", qos.Delete(ctx, admin, fast.ID, qos.DeleteOpts{}).ExtractErr(), 0)
	_, err = qos.Get(ctx, admin, fast.ID).Extract()
	wantStatus(t, "deleted QoS specs", err, http.StatusNotFound)
}
