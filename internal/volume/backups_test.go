package volume_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/backups"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/volume/backend/fake"
)

func waitBackup(t *testing.T, c *gophercloud.ServiceClient, id, want string) *backups.Backup {
	t.Helper()
	for end := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		b, err := backups.Get(ctx, c, id).Extract()
		if want == "" && servertest.IsStatus(err, 404) {
			return nil
		}
		if err == nil && b.Status == want {
			return b
		}
		if err == nil && b.Status == "error" && want != "error" {
			t.Fatalf("backup %s failed: %s", id, b.FailReason)
		}
		if time.Now().After(end) {
			t.Fatalf("backup %s: %+v %v, want status %q", id, b, err, want)
		}
	}
}

// TestBackups: a project backs up a volume in full and incrementally into
// sov's S3, restores each (to a new volume, and over an available one)
// with the data of its moment, cannot delete a backup another builds on,
// and deletes them; quotas and limits count backups. Another project can
// neither see, restore nor delete them, nor reach their bucket with its
// S3 keys; bad requests change nothing.
func TestBackups(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := volumeClient(t, srv.Provider(t, alpha)), volumeClient(t, srv.Provider(t, beta))
	admin := volumeClient(t, srv.Admin(t).ProviderClient)
	backend := srv.Volumes().Backend().(*fake.Driver)
	vol := newVolume(t, a, "data", 2)
	other := newVolume(t, a, "other", 3)
	betaVol := newVolume(t, b, "beta", 2)

	for _, tc := range []struct {
		name string
		c    *gophercloud.ServiceClient
		opts backups.CreateOpts
		want int
	}{
		{"an unknown volume", a, backups.CreateOpts{VolumeID: "3f8e0b44-0000-4000-8000-000000000001"}, 404},
		{"another project's volume", b, backups.CreateOpts{VolumeID: vol}, 404},
		{"incremental without a full one", a, backups.CreateOpts{VolumeID: vol, Incremental: true}, 400},
		{"of an unknown snapshot", a, backups.CreateOpts{VolumeID: vol, SnapshotID: "3f8e0b44-0000-4000-8000-000000000002"}, 404},
		{"to another container", a, backups.CreateOpts{VolumeID: vol, Container: "elsewhere"}, 400},
	} {
		_, err := backups.Create(ctx, tc.c, tc.opts).Extract()
		wantStatus(t, tc.name, err, tc.want)
	}

	backend.Write(vol, 0x5a)
	full, err := backups.Create(ctx, a, backups.CreateOpts{VolumeID: vol, Name: "full"}).Extract()
	wantStatus(t, "full backup", err, 0)
	waitVolume(t, a, vol, "available")
	f := waitBackup(t, a, full.ID, "available")
	if f.IsIncremental || f.Size != 2 || f.ObjectCount != 2 || f.Container != server.VolumeBackupBucket || f.VolumeID != vol {
		t.Errorf("full backup = %+v", f)
	}
	backend.Write(vol, 0x6b)
	incr, err := backups.Create(ctx, a, backups.CreateOpts{VolumeID: vol, Name: "incr", Incremental: true}).Extract()
	wantStatus(t, "incremental backup", err, 0)
	if i := waitBackup(t, a, incr.ID, "available"); !i.IsIncremental {
		t.Errorf("incremental backup = %+v", i)
	}
	if f := waitBackup(t, a, full.ID, "available"); !f.HasDependentBackups {
		t.Error("the full backup has no dependent backups")
	}
	wantStatus(t, "delete a backup with dependents", backups.Delete(ctx, a, full.ID).ExtractErr(), 400)

	// Restores: to a new volume, and over an available one.
	r, err := backups.RestoreFromBackup(ctx, a, incr.ID, backups.RestoreOpts{Name: "restored"}).Extract()
	wantStatus(t, "restore to a new volume", err, 0)
	if v := waitVolume(t, a, r.VolumeID, "available"); v.Size != 2 || v.Name != "restored" {
		t.Errorf("restored volume = %+v", v)
	}
	if got, _ := backend.Read(r.VolumeID); got != 0x6b {
		t.Errorf("the volume restored from the incremental backup holds %#x, want 0x6b", got)
	}
	r, err = backups.RestoreFromBackup(ctx, a, full.ID, backups.RestoreOpts{VolumeID: other}).Extract()
	wantStatus(t, "restore over a volume", err, 0)
	if r.VolumeID != other {
		t.Errorf("restore = %+v", r)
	}
	waitVolume(t, a, other, "available")
	if got, _ := backend.Read(other); got != 0x5a {
		t.Errorf("the volume restored over from the full backup holds %#x, want 0x5a", got)
	}
	waitBackup(t, a, full.ID, "available")

	// The other project.
	pages, err := backups.List(b, nil).AllPages(ctx)
	wantStatus(t, "the other project lists", err, 0)
	if all, _ := backups.ExtractBackups(pages); len(all) != 0 {
		t.Errorf("the other project lists %+v", all)
	}
	_, err = backups.Get(ctx, b, full.ID).Extract()
	wantStatus(t, "the other project shows", err, 404)
	wantStatus(t, "the other project deletes", backups.Delete(ctx, b, incr.ID).ExtractErr(), 404)
	_, err = backups.RestoreFromBackup(ctx, b, full.ID, backups.RestoreOpts{VolumeID: betaVol}).Extract()
	wantStatus(t, "the other project restores", err, 404)
	_, err = backups.RestoreFromBackup(ctx, a, full.ID, backups.RestoreOpts{VolumeID: betaVol}).Extract()
	wantStatus(t, "restore over another project's volume", err, 404)
	waitVolume(t, b, betaVol, "available")
	u, _ := url.Parse(srv.S3URL)
	s3, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(beta.Access, beta.Secret, ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.MakeBucket(ctx, server.VolumeBackupBucket, minio.MakeBucketOptions{}); minio.ToErrorResponse(err).Code != "BucketAlreadyExists" {
		t.Errorf("a tenant makes the backups' bucket: %v", err)
	}
	for o := range s3.ListObjects(ctx, server.VolumeBackupBucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err == nil || minio.ToErrorResponse(o.Err).Code != "AccessDenied" {
			t.Errorf("a tenant lists the backups' bucket: %+v", o)
		}
	}

	// Quotas and limits count backups.
	l, err := limits.Get(ctx, a).Extract()
	if err != nil || l.Absolute.TotalBackupsUsed != 2 || l.Absolute.TotalBackupGigabytesUsed != 4 {
		t.Errorf("limits = %+v, %v", l.Absolute, err)
	}
	_, err = quotasets.Update(ctx, admin, alpha.ProjectID, quotasets.UpdateOpts{Backups: gophercloud.IntToPointer(2)}).Extract()
	wantStatus(t, "backups quota", err, 0)
	_, err = backups.Create(ctx, a, backups.CreateOpts{VolumeID: other}).Extract()
	wantStatus(t, "a backup over quota", err, 413)
	waitVolume(t, a, other, "available")

	wantStatus(t, "delete the incremental backup", backups.Delete(ctx, a, incr.ID).ExtractErr(), 0)
	waitBackup(t, a, incr.ID, "")
	wantStatus(t, "delete the full backup", backups.Delete(ctx, a, full.ID).ExtractErr(), 0)
	waitBackup(t, a, full.ID, "")
	if l, _ := limits.Get(ctx, a).Extract(); l.Absolute.TotalBackupsUsed != 0 {
		t.Errorf("backups used after the deletes: %d", l.Absolute.TotalBackupsUsed)
	}
	var list struct{ Volumes []volumes.Volume }
	_, err = a.Get(ctx, a.ServiceURL("volumes"), &list, nil)
	wantStatus(t, "volume list", err, 0)
}

// TestVolumeFromBackup (3.47): a new volume holds a backup's data, at
// least the backup's size; before 3.47, or of another project's backup,
// it is refused; 3.45 counts what a list matches.
func TestVolumeFromBackup(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := volumeClient(t, srv.Provider(t, alpha)), volumeClient(t, srv.Provider(t, beta))
	backend := srv.Volumes().Backend().(*fake.Driver)
	vol := newVolume(t, a, "data", 2)
	waitVolume(t, a, vol, "available")
	backend.Write(vol, 0x47)
	bk, err := backups.Create(ctx, a, backups.CreateOpts{VolumeID: vol}).Extract()
	wantStatus(t, "backup", err, 0)
	waitBackup(t, a, bk.ID, "available")

	_, err = volumes.Create(ctx, at(a, "46"), volumes.CreateOpts{BackupID: bk.ID}, nil).Extract()
	wantStatus(t, "from a backup at 3.46", err, http.StatusBadRequest)
	_, err = volumes.Create(ctx, at(b, "47"), volumes.CreateOpts{BackupID: bk.ID}, nil).Extract()
	wantStatus(t, "from another project's backup", err, http.StatusNotFound)
	_, err = volumes.Create(ctx, at(a, "47"), volumes.CreateOpts{BackupID: bk.ID, Size: 1}, nil).Extract()
	wantStatus(t, "smaller than the backup", err, http.StatusBadRequest)
	v, err := volumes.Create(ctx, at(a, "47"), volumes.CreateOpts{BackupID: bk.ID, Name: "restored"}, nil).Extract()
	wantStatus(t, "from the backup", err, 0)
	got := waitVolume(t, a, v.ID, "available")
	if data, _ := backend.Read(v.ID); data != 0x47 || got.Size != 2 {
		t.Errorf("the volume from the backup: %+v holds %#x", got, data)
	}
	waitBackup(t, a, bk.ID, "available")

	// with_count (3.45): every page's count of what matches.
	var page struct {
		Volumes []any
		Count   *int
	}
	_, err = at(a, "45").Get(ctx, a.ServiceURL("volumes")+"?with_count=true&limit=1", &page, nil)
	if err != nil || len(page.Volumes) != 1 || page.Count == nil || *page.Count != 2 {
		t.Errorf("with_count at 3.45: %+v, %v", page, err)
	}
	_, err = at(a, "44").Get(ctx, a.ServiceURL("volumes")+"?with_count=true", &page, nil)
	wantStatus(t, "with_count at 3.44", err, http.StatusBadRequest)
}

// TestBackupsOfSnapshotsAndVolumesInUse: a backup of a snapshot holds the
// snapshot's data, not the volume's since, and leaves both as they were;
// only a snapshot of the volume named, of the project's, and available;
// a volume in use is backed up only with force, and is in use again
// after.
func TestBackupsOfSnapshotsAndVolumesInUse(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := volumeClient(t, srv.Provider(t, alpha)), volumeClient(t, srv.Provider(t, beta))
	backend := srv.Volumes().Backend().(*fake.Driver)
	vol, other := newVolume(t, a, "data", 2), newVolume(t, a, "other", 1)
	betaVol := newVolume(t, b, "beta", 1)

	backend.Write(vol, 0x11)
	sn, err := snapshots.Create(ctx, a, snapshots.CreateOpts{VolumeID: vol, Name: "then"}).Extract()
	wantStatus(t, "snapshot", err, 0)
	waitSnapshot(t, a, sn.ID, "available")
	backend.Write(vol, 0x22)
	betaSnap, err := snapshots.Create(ctx, b, snapshots.CreateOpts{VolumeID: betaVol}).Extract()
	wantStatus(t, "the other project's snapshot", err, 0)
	waitSnapshot(t, b, betaSnap.ID, "available")
	for _, tc := range []struct {
		name string
		opts backups.CreateOpts
		want int
	}{
		{"a snapshot of another volume", backups.CreateOpts{VolumeID: other, SnapshotID: sn.ID}, 400},
		{"another project's snapshot", backups.CreateOpts{VolumeID: vol, SnapshotID: betaSnap.ID}, 404},
	} {
		_, err := backups.Create(ctx, a, tc.opts).Extract()
		wantStatus(t, tc.name, err, tc.want)
	}
	bk, err := backups.Create(ctx, a, backups.CreateOpts{VolumeID: vol, SnapshotID: sn.ID, Name: "of-snap"}).Extract()
	wantStatus(t, "back up the snapshot", err, 0)
	got := waitBackup(t, a, bk.ID, "available")
	if got.SnapshotID != sn.ID || got.VolumeID != vol || got.Size != 2 {
		t.Errorf("the snapshot's backup: %+v", got)
	}
	waitSnapshot(t, a, sn.ID, "available")
	if v := waitVolume(t, a, vol, "available"); v.Status != "available" {
		t.Errorf("the volume: %+v", v)
	}
	r, err := backups.RestoreFromBackup(ctx, a, bk.ID, backups.RestoreOpts{Name: "from-snap-backup"}).Extract()
	wantStatus(t, "restore the snapshot's backup", err, 0)
	waitVolume(t, a, r.VolumeID, "available")
	if data, _ := backend.Read(r.VolumeID); data != 0x11 {
		t.Errorf("the snapshot's backup restores %#x, want the snapshot's 0x11", data)
	}

	// In use (reserved and completed through the attachments API).
	att, err := attachments.Create(ctx, at(a, "44"), attachments.CreateOpts{VolumeUUID: other, InstanceUUID: "3f8e0b44-0000-4000-8000-0000000000aa",
		Connector: map[string]any{"host": "h"}}).Extract()
	wantStatus(t, "attach", err, 0)
	wantStatus(t, "complete", attachments.Complete(ctx, at(a, "44"), att.ID).ExtractErr(), 0)
	waitVolume(t, a, other, "in-use")
	_, err = backups.Create(ctx, a, backups.CreateOpts{VolumeID: other}).Extract()
	wantStatus(t, "back up a volume in use without force", err, http.StatusBadRequest)
	backend.Write(other, 0x33)
	bk, err = backups.Create(ctx, a, backups.CreateOpts{VolumeID: other, Force: true}).Extract()
	wantStatus(t, "back up a volume in use with force", err, 0)
	waitBackup(t, a, bk.ID, "available")
	waitVolume(t, a, other, "in-use")
	r, err = backups.RestoreFromBackup(ctx, a, bk.ID, backups.RestoreOpts{}).Extract()
	wantStatus(t, "restore the in-use volume's backup", err, 0)
	waitVolume(t, a, r.VolumeID, "available")
	if data, _ := backend.Read(r.VolumeID); data != 0x33 {
		t.Errorf("the in-use volume's backup restores %#x, want 0x33", data)
	}
}
