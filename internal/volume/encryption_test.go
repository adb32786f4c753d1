package volume_test

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/backups"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/transfers"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"

	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/volume/backend/fake"
)

// projectKeys are the ids and payloads of a project's secrets.
func projectKeys(t *testing.T, p *gophercloud.ProviderClient) map[string]string {
	t.Helper()
	c, err := openstack.NewKeyManagerV1(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := secrets.List(c, secrets.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatalf("secret list: %v", err)
	}
	all, _ := secrets.ExtractSecrets(pages)
	keys := map[string]string{}
	for _, x := range all {
		id := x.SecretRef[len(x.SecretRef)-36:]
		payload, err := secrets.GetPayload(ctx, c, id, secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract()
		if err != nil {
			t.Fatalf("payload of %s: %v", id, err)
		}
		if x.Algorithm != "aes" || x.SecretType != "symmetric" {
			t.Errorf("secret %s: %+v", id, x)
		}
		keys[id] = hex.EncodeToString(payload)
	}
	return keys
}

// onlyNew is the one key of after not in before.
func onlyNew(t *testing.T, before, after map[string]string) (id, passphrase string) {
	t.Helper()
	for k, v := range after {
		if _, ok := before[k]; !ok {
			if id != "" {
				t.Fatalf("more than one new key: %v", after)
			}
			id, passphrase = k, v
		}
	}
	if id == "" {
		t.Fatalf("no new key: %v", after)
	}
	return id, passphrase
}

// TestEncryptedVolumes: admins give a volume type encryption specs
// (members can neither read nor set them; bad specs are refused, and
// specs of a type in use cannot change); each volume of it gets a key of
// its own in its project's key manager, whose hex opens its container;
// clones, volumes from snapshots and backups, and backups hold copies of
// the key; plain and encrypted volumes do not turn into each other
// (clones, retypes, restores); a transfer moves the key to the new
// project; deleting a volume or backup deletes its key. Another project
// sees neither the keys nor the volume's encryption.
func TestEncryptedVolumes(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	pa, pb := srv.Provider(t, alpha), srv.Provider(t, beta)
	a, b := volumeClient(t, pa), volumeClient(t, pb)
	admin := volumeClient(t, srv.Admin(t).ProviderClient)
	backend := srv.Volumes().Backend().(*fake.Driver)

	secure, err := volumetypes.Create(ctx, admin, volumetypes.CreateOpts{Name: "secure", Description: "[scs:encrypted] secure"}).Extract()
	wantStatus(t, "create type", err, 0)
	for _, tc := range []struct {
		name  string
		c     *gophercloud.ServiceClient
		type_ string
		opts  volumetypes.CreateEncryptionOpts
		want  int
	}{
		{"a member", a, secure.ID, volumetypes.CreateEncryptionOpts{Provider: "luks", ControlLocation: "front-end"}, http.StatusForbidden},
		{"plain dm-crypt", admin, secure.ID, volumetypes.CreateEncryptionOpts{Provider: "plain", ControlLocation: "front-end"}, http.StatusBadRequest},
		{"back-end", admin, secure.ID, volumetypes.CreateEncryptionOpts{Provider: "luks", ControlLocation: "back-end"}, http.StatusBadRequest},
		{"elsewhere", admin, secure.ID, volumetypes.CreateEncryptionOpts{Provider: "luks", ControlLocation: "somewhere"}, http.StatusBadRequest},
		{"a small key", admin, secure.ID, volumetypes.CreateEncryptionOpts{Provider: "luks", ControlLocation: "front-end", KeySize: 128}, http.StatusBadRequest},
		{"CBC", admin, secure.ID, volumetypes.CreateEncryptionOpts{Provider: "luks", ControlLocation: "front-end", Cipher: "aes-cbc-essiv:sha256"}, http.StatusBadRequest},
		{"no type", admin, "4f6c3a58-0000-4000-8000-000000000000", volumetypes.CreateEncryptionOpts{Provider: "luks", ControlLocation: "front-end"}, http.StatusNotFound},
	} {
		_, err := volumetypes.CreateEncryption(ctx, tc.c, tc.type_, tc.opts).Extract()
		wantStatus(t, "encryption by "+tc.name, err, tc.want)
	}
	if e, err := volumetypes.GetEncryption(ctx, admin, secure.ID).Extract(); err != nil || e.EncryptionID != "" {
		t.Errorf("a type without encryption has %+v, %v", e, err)
	}
	spec, err := volumetypes.CreateEncryption(ctx, admin, secure.ID, volumetypes.CreateEncryptionOpts{Provider: "luks", ControlLocation: "front-end",
		Cipher: "aes-xts-plain64", KeySize: 512}).Extract()
	wantStatus(t, "create encryption", err, 0)
	_, err = volumetypes.CreateEncryption(ctx, admin, secure.ID, volumetypes.CreateEncryptionOpts{Provider: "luks", ControlLocation: "front-end"}).Extract()
	wantStatus(t, "encryption twice", err, http.StatusBadRequest)
	if e, err := volumetypes.GetEncryption(ctx, admin, secure.ID).Extract(); err != nil || e.Provider != "luks" || e.KeySize != 512 ||
		e.EncryptionID != spec.EncryptionID || e.ControlLocation != "front-end" || e.Cipher != "aes-xts-plain64" {
		t.Errorf("encryption specs: %+v, %v", e, err)
	}
	if m, err := volumetypes.GetEncryptionSpec(ctx, admin, secure.ID, "cipher").Extract(); err != nil || m["cipher"] != "aes-xts-plain64" {
		t.Errorf("the cipher spec: %v, %v", m, err)
	}
	_, err = volumetypes.GetEncryption(ctx, a, secure.ID).Extract()
	wantStatus(t, "a member reads encryption specs", err, http.StatusForbidden)

	before := projectKeys(t, pa)
	vol, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 1, Name: "secret-data", VolumeType: "secure"}, nil).Extract()
	wantStatus(t, "create encrypted volume", err, 0)
	if got := waitVolume(t, a, vol.ID, "available"); !got.Encrypted {
		t.Errorf("the volume is not encrypted: %+v", got)
	}
	key, passphrase := onlyNew(t, before, projectKeys(t, pa))
	if len(passphrase) != 128 || backend.Passphrase(vol.ID) != passphrase {
		t.Errorf("the volume's container is opened by %q, its key is %q", backend.Passphrase(vol.ID), passphrase)
	}
	if keys := projectKeys(t, pb); len(keys) != 0 {
		t.Errorf("another project sees keys %v", keys)
	}
	meta := map[string]any{}
	_, err = a.Get(ctx, a.ServiceURL("volumes", vol.ID, "encryption"), &meta, nil)
	if err != nil || meta["encryption_key_id"] != key || meta["provider"] != "luks" || fmt.Sprint(meta["key_size"]) != "512" {
		t.Errorf("the volume's encryption metadata: %#v, %v; its key %s", meta, err, key)
	}
	_, err = b.Get(ctx, b.ServiceURL("volumes", vol.ID, "encryption"), &meta, nil)
	wantStatus(t, "another project reads the volume's encryption", err, http.StatusNotFound)
	plain := newVolume(t, a, "plain", 1)
	if got, _ := volumes.Get(ctx, a, plain).Extract(); got.Encrypted || backend.Passphrase(plain) != "" {
		t.Errorf("a plain volume is encrypted: %+v", got)
	}

	// The specs of a type in use stay.
	_, err = volumetypes.UpdateEncryption(ctx, admin, secure.ID, spec.EncryptionID, volumetypes.UpdateEncryptionOpts{Provider: "luks",
		ControlLocation: "front-end", KeySize: 256}).Extract()
	wantStatus(t, "update the encryption of a type in use", err, http.StatusBadRequest)
	wantStatus(t, "delete the encryption of a type in use", volumetypes.DeleteEncryption(ctx, admin, secure.ID, spec.EncryptionID).ExtractErr(), http.StatusBadRequest)

	// Copies hold copies of the key; plain and encrypted stay apart.
	known := projectKeys(t, pa)
	clone, err := volumes.Create(ctx, a, volumes.CreateOpts{SourceVolID: vol.ID, Name: "clone"}, nil).Extract()
	wantStatus(t, "clone", err, 0)
	waitVolume(t, a, clone.ID, "available")
	cloneKey, clonePass := onlyNew(t, known, projectKeys(t, pa))
	if cloneKey == key || clonePass != passphrase || backend.Passphrase(clone.ID) != passphrase {
		t.Errorf("the clone's key %s (%s), the volume's %s", cloneKey, clonePass, key)
	}
	_, err = volumes.Create(ctx, a, volumes.CreateOpts{SourceVolID: vol.ID, VolumeType: "__DEFAULT__"}, nil).Extract()
	wantStatus(t, "a plain clone of an encrypted volume", err, http.StatusBadRequest)
	_, err = volumes.Create(ctx, a, volumes.CreateOpts{SourceVolID: plain, VolumeType: "secure"}, nil).Extract()
	wantStatus(t, "an encrypted clone of a plain volume", err, http.StatusBadRequest)
	_, err = volumes.Create(ctx, a, volumes.CreateOpts{SourceVolID: vol.ID, VolumeType: "LUKS"}, nil).Extract()
	wantStatus(t, "a clone into a type of other encryption specs", err, http.StatusBadRequest)
	snap, err := snapshots.Create(ctx, a, snapshots.CreateOpts{VolumeID: vol.ID}).Extract()
	wantStatus(t, "snapshot", err, 0)
	waitSnapshot(t, a, snap.ID, "available")
	known = projectKeys(t, pa)
	fromSnap, err := volumes.Create(ctx, a, volumes.CreateOpts{SnapshotID: snap.ID, Size: 2}, nil).Extract()
	wantStatus(t, "volume from the snapshot", err, 0)
	if got := waitVolume(t, a, fromSnap.ID, "available"); !got.Encrypted || got.VolumeType != "secure" {
		t.Errorf("the volume from the snapshot: %+v", got)
	}
	if _, p := onlyNew(t, known, projectKeys(t, pa)); p != passphrase || backend.Passphrase(fromSnap.ID) != passphrase {
		t.Errorf("the volume from the snapshot is opened by %s", p)
	}

	// Retypes and uploads keep the data as it is.
	wantStatus(t, "retype to plain", volumes.ChangeType(ctx, a, clone.ID, volumes.ChangeTypeOpts{NewType: "__DEFAULT__"}).ExtractErr(), http.StatusBadRequest)
	wantStatus(t, "retype to encrypted", volumes.ChangeType(ctx, a, plain, volumes.ChangeTypeOpts{NewType: "secure"}).ExtractErr(), http.StatusBadRequest)
	twin, err := volumetypes.Create(ctx, admin, volumetypes.CreateOpts{Name: "secure-twin"}).Extract()
	wantStatus(t, "create a twin type", err, 0)
	_, err = volumetypes.CreateEncryption(ctx, admin, twin.ID, volumetypes.CreateEncryptionOpts{Provider: "luks", ControlLocation: "front-end",
		Cipher: "aes-xts-plain64", KeySize: 512}).Extract()
	wantStatus(t, "twin encryption", err, 0)
	wantStatus(t, "retype to an alike encrypted type", volumes.ChangeType(ctx, a, clone.ID, volumes.ChangeTypeOpts{NewType: "secure-twin"}).ExtractErr(), 0)
	_, err = volumes.UploadImage(ctx, a, vol.ID, volumes.UploadImageOpts{ImageName: "leak"}).Extract()
	wantStatus(t, "upload an encrypted volume", err, http.StatusBadRequest)

	// A backup holds a copy of the key; a volume restored from it another.
	known = projectKeys(t, pa)
	bk, err := backups.Create(ctx, a, backups.CreateOpts{VolumeID: vol.ID, Name: "secure-backup"}).Extract()
	wantStatus(t, "backup", err, 0)
	waitBackup(t, a, bk.ID, "available")
	waitVolume(t, a, vol.ID, "available")
	backupKey, p := onlyNew(t, known, projectKeys(t, pa))
	if p != passphrase {
		t.Errorf("the backup's key %s is not a copy of the volume's", backupKey)
	}
	known = projectKeys(t, pa)
	restored, err := backups.RestoreFromBackup(ctx, a, bk.ID, backups.RestoreOpts{Name: "restored"}).Extract()
	wantStatus(t, "restore to a new volume", err, 0)
	if got := waitVolume(t, a, restored.VolumeID, "available"); !got.Encrypted {
		t.Errorf("the restored volume: %+v", got)
	}
	waitBackup(t, a, bk.ID, "available")
	// (The backend gets the container as it is, opened by a copy of the key.)
	if _, p := onlyNew(t, known, projectKeys(t, pa)); p != passphrase {
		t.Errorf("the restored volume's key is %s", p)
	}
	_, err = backups.RestoreFromBackup(ctx, a, bk.ID, backups.RestoreOpts{VolumeID: plain}).Extract()
	wantStatus(t, "restore an encrypted backup over a plain volume", err, http.StatusBadRequest)
	// Over another encrypted volume only if it has the same key (a copy of
	// the backed-up volume): a volume's key never changes.
	other, err := volumes.Create(ctx, a, volumes.CreateOpts{Size: 1, Name: "other", VolumeType: "secure"}, nil).Extract()
	wantStatus(t, "create another encrypted volume", err, 0)
	waitVolume(t, a, other.ID, "available")
	_, err = backups.RestoreFromBackup(ctx, a, bk.ID, backups.RestoreOpts{VolumeID: other.ID}).Extract()
	wantStatus(t, "restore an encrypted backup over a volume of another key", err, http.StatusBadRequest)
	_, err = backups.RestoreFromBackup(ctx, a, bk.ID, backups.RestoreOpts{VolumeID: clone.ID}).Extract()
	wantStatus(t, "restore an encrypted backup over a copy of its volume", err, 0)
	waitVolume(t, a, clone.ID, "available")
	waitBackup(t, a, bk.ID, "available")
	if backend.Passphrase(clone.ID) != passphrase {
		t.Errorf("the volume restored over is opened by %q", backend.Passphrase(clone.ID))
	}
	wantStatus(t, "delete the other", volumes.Delete(ctx, a, other.ID, nil).ExtractErr(), 0)
	waitVolume(t, a, other.ID, "")

	// Deleting a backup or volume deletes its key.
	wantStatus(t, "delete backup", backups.Delete(ctx, a, bk.ID).ExtractErr(), 0)
	waitBackup(t, a, bk.ID, "")
	wantStatus(t, "delete restored", volumes.Delete(ctx, a, restored.VolumeID, nil).ExtractErr(), 0)
	waitVolume(t, a, restored.VolumeID, "")
	if keys := projectKeys(t, pa); keys[backupKey] != "" || len(keys) != len(known)-1 {
		t.Errorf("keys after the deletes: %v, before the backup's restore %v", keys, known)
	}

	// A transfer moves the key into the new project.
	tr, err := transfers.Create(ctx, a, transfers.CreateOpts{VolumeID: fromSnap.ID}).Extract()
	wantStatus(t, "transfer", err, 0)
	_, err = transfers.Accept(ctx, b, tr.ID, transfers.AcceptOpts{AuthKey: tr.AuthKey}).Extract()
	wantStatus(t, "accept", err, 0)
	moved := projectKeys(t, pb)
	if len(moved) != 1 || !slices.Contains(mapValues(moved), passphrase) {
		t.Errorf("the new project's keys: %v", moved)
	}
	if got, err := volumes.Get(ctx, b, fromSnap.ID).Extract(); err != nil || !got.Encrypted {
		t.Errorf("the transferred volume: %+v, %v", got, err)
	}
	if keys := projectKeys(t, pa); len(keys) != len(known)-2 {
		t.Errorf("the donor keeps keys %v", keys)
	}
	wantStatus(t, "delete transferred", volumes.Delete(ctx, b, fromSnap.ID, nil).ExtractErr(), 0)
	waitVolume(t, b, fromSnap.ID, "")
	if keys := projectKeys(t, pb); len(keys) != 0 {
		t.Errorf("keys after the transferred volume's delete: %v", keys)
	}
	wantStatus(t, "delete snapshot", snapshots.Delete(ctx, a, snap.ID).ExtractErr(), 0)
	waitSnapshot(t, a, snap.ID, "")
	for _, id := range []string{vol.ID, clone.ID} {
		wantStatus(t, "delete", volumes.Delete(ctx, a, id, nil).ExtractErr(), 0)
		waitVolume(t, a, id, "")
	}
	if keys := projectKeys(t, pa); len(keys) != 0 {
		t.Errorf("keys left: %v", keys)
	}
	wantStatus(t, "delete the twin's encryption", volumetypes.DeleteEncryption(ctx, admin, twin.ID, "x").ExtractErr(), 0)
	wantStatus(t, "delete an encrypted type", volumetypes.Delete(ctx, admin, secure.ID).ExtractErr(), 0)
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
