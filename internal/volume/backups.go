package volume

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/store"
	"github.com/sovcloud/sov/internal/volume/backend"
	"github.com/sovcloud/sov/internal/volume/backup"
)

// Backups (scs-0117): a volume's data kept as objects in the backup
// repository (package backup), full or incremental to the volume's latest
// backup, restored to a new volume or over an available one. A volume is
// backing-up or restoring-backup meanwhile, so nothing else changes it.
// A volume in use (with force) is backed up from a copy its VM makes, as
// for a snapshot; a snapshot (snapshot_id) from a volume restored of it,
// as Cinder's temporary volumes do; the snapshot is backing-up meanwhile.

// volumeBackup is a row of volume_backups.
type volumeBackup struct {
	ID, Project, User, Volume, Name, Description string
	Size, Objects                                int
	Status, FailReason, Container, Parent        string
	Metadata                                     map[string]string
	KeyID                                        string // a copy of an encrypted volume's key
	Snapshot                                     string // the snapshot it was taken of, if any
	DataTimestamp, Created, Updated              int64
	Dependents                                   int // incremental backups on it
}

const backupColumns = `b.id, b.project_id, b.user_id, b.volume_id, b.name, b.description, b.size, b.object_count, b.status, b.fail_reason,
	b.container, b.parent_id, b.metadata, b.encryption_key_id, b.snapshot_id, b.data_timestamp, b.created_at, b.updated_at,
	(SELECT COUNT(*) FROM volume_backups c WHERE c.parent_id = b.id)`

func scanBackup(row store.Scanner) (*volumeBackup, error) {
	var b volumeBackup
	var meta string
	if err := row.Scan(&b.ID, &b.Project, &b.User, &b.Volume, &b.Name, &b.Description, &b.Size, &b.Objects, &b.Status, &b.FailReason,
		&b.Container, &b.Parent, &meta, &b.KeyID, &b.Snapshot, &b.DataTimestamp, &b.Created, &b.Updated, &b.Dependents); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(meta), &b.Metadata); err != nil || b.Metadata == nil {
		b.Metadata = map[string]string{}
	}
	return &b, nil
}

func (s *Service) backupLinks(id string) []map[string]string {
	return []map[string]string{{"rel": "self", "href": s.url + "/v3/backups/" + id}, {"rel": "bookmark", "href": s.url + "/backups/" + id}}
}

// backupView is a backup as Cinder shows it at the request's microversion.
func (s *Service) backupView(q *request, b *volumeBackup) map[string]any {
	m := map[string]any{"id": b.ID, "name": b.Name, "description": b.Description, "status": b.Status, "availability_zone": availabilityZone,
		"volume_id": b.Volume, "snapshot_id": nullable(b.Snapshot), "size": b.Size, "object_count": b.Objects, "container": b.Container,
		"created_at": cinderTime(b.Created), "updated_at": cinderTime(b.Updated), "data_timestamp": cinderTime(b.DataTimestamp),
		"fail_reason": nullable(b.FailReason), "has_dependent_backups": b.Dependents > 0, "is_incremental": b.Parent != "",
		"links": s.backupLinks(b.ID)}
	if q.atLeast(18) && q.admin() {
		m["os-backup-project-attr:project_id"] = b.Project
	}
	if q.atLeast(43) {
		m["metadata"] = b.Metadata
	}
	return m
}

// visibleBackup is a backup the caller may see (its project's; any for
// admins); another project's is not found.
func (s *Service) visibleBackup(ctx context.Context, db store.Querier, q *request, id string) (*volumeBackup, error) {
	b, err := scanBackup(db.QueryRow(ctx, `SELECT `+backupColumns+` FROM volume_backups b WHERE b.id = ?`, id))
	if err == nil && (b.Project == q.creds.ProjectID || q.admin()) {
		return b, nil
	}
	if err == nil || errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Backup %s could not be found.", id)
	}
	return nil, store.Row(err)
}

var backupList = &httpapi.ListSpec{
	Columns: map[string]httpapi.Column{
		"name": {SQL: "b.name", Filter: true, Sort: true}, "status": {SQL: "b.status", Filter: true, Sort: true},
		"volume_id": {SQL: "b.volume_id", Filter: true}, "size": {SQL: "b.size", Sort: true},
		"created_at": {SQL: "b.created_at", Sort: true}, "updated_at": {SQL: "b.updated_at", Sort: true}, "id": {SQL: "b.id", Sort: true},
		"project_id": {SQL: "b.project_id", Filter: true},
	},
	DefaultSort: []httpapi.Sort{{Key: "created_at", Desc: true}},
}

func (s *Service) listBackups(detail bool) handler {
	return func(q *request) error {
		if err := q.enforce("backup:get_all", q.creds.ProjectID); err != nil {
			return err
		}
		if err := listParams(q.r, "name", "status", "volume_id"); err != nil {
			return err
		}
		lq, err := httpapi.ParseList(q.r, backupList)
		if err != nil {
			return err
		}
		scope, args, err := listScope(q, "b.project_id")
		if err != nil {
			return err
		}
		rows, err := lq.Query(q.r.Context(), s.db, "volume_backups b", backupColumns, scope, args...)
		if err != nil {
			return err
		}
		all, err := store.Collect(rows, scanBackup)
		if err != nil {
			return err
		}
		all, more := httpapi.More(lq, all)
		out := []map[string]any{}
		for _, b := range all {
			if detail {
				out = append(out, s.backupView(q, b))
			} else {
				out = append(out, map[string]any{"id": b.ID, "name": b.Name, "links": s.backupLinks(b.ID)})
			}
		}
		body := map[string]any{"backups": out}
		if more {
			body["backups_links"] = lq.Links(q.r, strings.TrimSuffix(s.url, "/volume"), more, all[len(all)-1].ID)
		}
		if err := s.addCount(q, lq, "volume_backups b", scope, args, body); err != nil {
			return err
		}
		httpapi.WriteJSON(q.w, http.StatusOK, body)
		return nil
	}
}

func (s *Service) showBackup(q *request) error {
	b, err := s.visibleBackup(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("backup:get", b.Project); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"backup": s.backupView(q, b)})
	return nil
}

func (s *Service) createBackup(q *request) error {
	var body struct {
		Backup *struct {
			VolumeID    *string           `json:"volume_id"`
			Name        *string           `json:"name"`
			Description *string           `json:"description"`
			Incremental bool              `json:"incremental"`
			Force       bool              `json:"force"`
			SnapshotID  *string           `json:"snapshot_id"`
			Container   *string           `json:"container"`
			Metadata    map[string]string `json:"metadata"`
			Zone        *string           `json:"availability_zone"`
		} `json:"backup"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	bb := body.Backup
	switch {
	case bb == nil:
		return errorf(http.StatusBadRequest, "Missing required element 'backup' in request body.")
	case bb.VolumeID == nil || *bb.VolumeID == "":
		return errorf(http.StatusBadRequest, "Invalid input received: 'volume_id' is a required property.")
	case bb.Container != nil && *bb.Container != "" && *bb.Container != s.backupContainer():
		return errorf(http.StatusBadRequest, "Invalid input received: backups go to the container %s.", s.backupContainer())
	case bb.Metadata != nil && !q.atLeast(43):
		return errorf(http.StatusBadRequest, "Invalid input received: metadata needs microversion 3.43.")
	case bb.Zone != nil && *bb.Zone != "" && *bb.Zone != availabilityZone:
		return errorf(http.StatusBadRequest, "Invalid input received: Availability zone '%s' is invalid.", *bb.Zone)
	}
	if err := checkText(bb.Name, bb.Description, bb.Metadata); err != nil {
		return err
	}
	if s.backups == nil {
		return errorf(http.StatusNotImplemented, "This cloud has no backup repository.")
	}
	now := time.Now().UnixMicro()
	b := &volumeBackup{ID: uuid.NewString(), User: q.creds.UserID, Status: "creating", Container: s.backupContainer(), Metadata: bb.Metadata,
		DataTimestamp: now, Created: now, Updated: now}
	if b.Metadata == nil {
		b.Metadata = map[string]string{}
	}
	if bb.Name != nil {
		b.Name = *bb.Name
	}
	if bb.Description != nil {
		b.Description = *bb.Description
	}
	ctx := q.r.Context()
	var v *volume
	onServer := "" // the server whose VM copies the volume in use
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "volume "+*bb.VolumeID); err != nil {
			return err
		}
		var err error
		if v, err = s.visibleVolume(ctx, tx, q, *bb.VolumeID); err != nil {
			return err
		}
		if err := q.enforce("backup:create", v.Project); err != nil {
			return err
		}
		b.Project, b.Volume, b.Size = v.Project, v.ID, v.Size
		if bb.SnapshotID != nil && *bb.SnapshotID != "" {
			if err := s.backupSnapshot(ctx, tx, q, b, *bb.SnapshotID); err != nil {
				return err
			}
		} else if onServer, err = backingUp(ctx, tx, v, bb.Force); err != nil {
			return err
		}
		if bb.Incremental {
			parent, err := store.Column(ctx, tx, `SELECT id FROM volume_backups WHERE volume_id = ? AND status = 'available' ORDER BY data_timestamp DESC, id LIMIT 1`, v.ID)
			if err != nil {
				return err
			}
			if len(parent) == 0 {
				return errorf(http.StatusBadRequest, "Invalid backup: No backups available to do an incremental backup.")
			}
			b.Parent = parent[0]
		}
		if err := s.checkBackupQuota(ctx, tx, v.Project, v.Size); err != nil {
			return err
		}
		// An encrypted volume's backup is of its container, opened by a
		// copy of its key.
		if v.KeyID != "" {
			if b.KeyID, err = s.keys.CopyKey(ctx, tx, v.KeyID, v.Project, b.User, "Encryption key of backup "+b.ID); err != nil {
				return err
			}
		}
		meta, _ := json.Marshal(b.Metadata)
		return store.Insert(ctx, tx, "volume_backups", store.Values{}.Set("id", b.ID).Set("project_id", b.Project).Set("user_id", b.User).
			Set("volume_id", b.Volume).Set("name", b.Name).Set("description", b.Description).Set("size", b.Size).Set("status", b.Status).
			Set("fail_reason", "").Set("container", b.Container).Set("parent_id", b.Parent).Set("object_count", 0).
			Set("metadata", string(meta)).Set("encryption_key_id", b.KeyID).Set("snapshot_id", b.Snapshot).Set("data_timestamp", b.DataTimestamp).
			Set("created_at", now).Set("updated_at", now))
	})
	if err != nil {
		return err
	}
	s.ops.Go(s.action(q, b.Volume, "backup"), "volume_backup", func(ctx context.Context) error {
		return s.runBackup(ctx, b, func(ctx context.Context) (*os.File, error) { return s.backupSource(ctx, v, b, onServer) })
	}, func(ctx context.Context, err error) {
		s.endBackingUp(ctx, b)
		if err != nil {
			s.log.Error("volume: backup", "backup", b.ID, "err", err)
			if derr := backup.Delete(ctx, s.backups, b.Volume, b.ID); derr != nil {
				s.log.Error("volume: removing a failed backup's objects", "backup", b.ID, "err", derr)
			}
			s.setBackup(ctx, b.ID, "error", "The backup failed; the cloud's operators find the cause in sov's log.", 0)
		}
	})
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"backup": map[string]any{"id": b.ID, "name": b.Name, "links": s.backupLinks(b.ID)}})
	return nil
}

// backupContainer is where backups go: the repository's bucket.
func (s *Service) backupContainer() string {
	if c, ok := s.backups.(interface{ Bucket() string }); ok {
		return c.Bucket()
	}
	return "backups"
}

// backupSnapshot makes b a backup of snapshot id, which must be one of
// b's volume and available: it is backing-up until the backup is made.
func (s *Service) backupSnapshot(ctx context.Context, tx *store.Tx, q *request, b *volumeBackup, id string) error {
	if err := tx.Lock(ctx, "snapshot "+id); err != nil {
		return err
	}
	sn, err := s.visibleSnapshot(ctx, tx, q, id)
	if err != nil {
		return err
	}
	if sn.Volume != b.Volume {
		return errorf(http.StatusBadRequest, "Invalid snapshot: snapshot %s is not of volume %s.", sn.ID, b.Volume)
	}
	if sn.Status != "available" {
		return errorf(http.StatusBadRequest, "Invalid snapshot: Snapshot to be backed up must be available, but the current status is \"%s\".", sn.Status)
	}
	b.Snapshot, b.Size, b.DataTimestamp = sn.ID, sn.Size, sn.Created
	_, err = tx.Exec(ctx, `UPDATE volume_snapshots SET status = 'backing-up', updated_at = ? WHERE id = ?`, time.Now().UnixMicro(), sn.ID)
	return err
}

// backingUp marks volume v, locked, backing-up for a backup of it, and
// returns the server whose VM copies it if it is in use (force needed).
func backingUp(ctx context.Context, tx *store.Tx, v *volume, force bool) (string, error) {
	if v.Status != "available" && !(v.Status == "in-use" && force) {
		return "", errorf(http.StatusBadRequest, "Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"%s\". (An in-use volume needs force.)", v.Status)
	}
	server, err := copyingServer(ctx, tx, v)
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `UPDATE volumes SET status = 'backing-up', updated_at = ? WHERE id = ?`, time.Now().UnixMicro(), v.ID)
	return server, err
}

// endBackingUp gives back what backup b held: its snapshot is available
// again, or its volume in use if it is attached, else available.
func (s *Service) endBackingUp(ctx context.Context, b *volumeBackup) {
	if b.Snapshot != "" {
		s.setSnapshotStatus(ctx, b.Snapshot, "available")
		return
	}
	if _, err := s.db.Exec(ctx, `UPDATE volumes SET status = `+idleStatus+`, updated_at = ? WHERE id = ? AND status = 'backing-up'`,
		time.Now().UnixMicro(), b.Volume); err != nil {
		s.log.Error("volume: status after a backup", "volume", b.Volume, "err", err)
	}
}

// idleStatus is the status of a volume a backup or a reimage let go of:
// in use if it is attached, else available (SQL, in an UPDATE of volumes).
const idleStatus = `CASE WHEN EXISTS (SELECT 1 FROM volume_attachments a WHERE a.volume_id = volumes.id) THEN 'in-use' ELSE 'available' END`

// backupSource exports what backup b is of, into scratch: the volume v's
// data; of a volume in use by server's VM, a copy the VM makes; of a
// snapshot, its data. The last two go through a temporary snapshot and
// volume of the backend, which a crash leaves to the next start's pruning.
func (s *Service) backupSource(ctx context.Context, v *volume, b *volumeBackup, server string) (*os.File, error) {
	if b.Snapshot == "" && (server == "" || s.hosts == nil) {
		return s.driver.Export(ctx, v.ID, s.scratch)
	}
	enc, err := s.backendEncryption(ctx, v.KeyID, v.TypeID)
	if err != nil {
		return nil, err
	}
	snap, tmp := b.Snapshot, uuid.NewString()
	cleanup := context.WithoutCancel(ctx)
	defer s.driver.Delete(cleanup, tmp)
	if snap == "" {
		snap = uuid.NewString()
		defer s.driver.DeleteSnapshot(cleanup, snap)
		err := s.hosts.SnapshotAttached(ctx, server, v.ID, func(copy func(*hypervisor.Disk) error) error {
			return s.driver.SnapshotWith(ctx, snap, v.ID, copy)
		}, func(ctx context.Context) error { return s.driver.Snapshot(ctx, snap, v.ID) })
		if err != nil {
			return nil, err
		}
	}
	if err := s.driver.Restore(ctx, tmp, snap, int64(b.Size)*gib, enc); err != nil {
		return nil, err
	}
	return s.driver.Export(ctx, tmp, s.scratch) // open: its data outlives the volume
}

// runBackup stores what source exports as backup b.
func (s *Service) runBackup(ctx context.Context, b *volumeBackup, source func(context.Context) (*os.File, error)) error {
	var parent *backup.Manifest
	if b.Parent != "" {
		var err error
		if parent, err = backup.Load(ctx, s.backups, b.Volume, b.Parent); err != nil {
			return err
		}
	}
	f, err := source(ctx)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	m, err := backup.Create(ctx, s.backups, f, fi.Size(), b.Volume, b.ID, parent)
	if err != nil {
		return err
	}
	return s.setBackup(ctx, b.ID, "available", "", m.Objects())
}

func (s *Service) setBackup(ctx context.Context, id, status, reason string, objects int) error {
	_, err := s.db.Exec(ctx, `UPDATE volume_backups SET status = ?, fail_reason = ?, object_count = CASE WHEN ? > 0 THEN ? ELSE object_count END,
		updated_at = ? WHERE id = ?`, status, reason, objects, objects, time.Now().UnixMicro(), id)
	if err != nil {
		s.log.Error("volume: backup status", "backup", id, "status", status, "err", err)
	}
	return err
}

func (s *Service) updateBackup(q *request) error {
	if !q.atLeast(9) {
		return errorf(http.StatusNotFound, "Updating a backup needs microversion 3.9.")
	}
	var body struct {
		Backup *struct {
			Name        *string           `json:"name"`
			Description *string           `json:"description"`
			Metadata    map[string]string `json:"metadata"`
		} `json:"backup"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	bb := body.Backup
	if bb == nil {
		return errorf(http.StatusBadRequest, "Missing required element 'backup' in request body.")
	}
	if bb.Metadata != nil && !q.atLeast(43) {
		return errorf(http.StatusBadRequest, "Invalid input received: metadata needs microversion 3.43.")
	}
	if err := checkText(bb.Name, bb.Description, bb.Metadata); err != nil {
		return err
	}
	ctx := q.r.Context()
	var b *volumeBackup
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if b, err = s.visibleBackup(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce("backup:update", b.Project); err != nil {
			return err
		}
		if bb.Name != nil {
			b.Name = *bb.Name
		}
		if bb.Description != nil {
			b.Description = *bb.Description
		}
		if bb.Metadata != nil {
			b.Metadata = bb.Metadata
		}
		b.Updated = time.Now().UnixMicro()
		meta, _ := json.Marshal(b.Metadata)
		_, err = tx.Exec(ctx, `UPDATE volume_backups SET name = ?, description = ?, metadata = ?, updated_at = ? WHERE id = ?`,
			b.Name, b.Description, string(meta), b.Updated, b.ID)
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"backup": s.backupView(q, b)})
	return nil
}

func (s *Service) deleteBackup(q *request) error {
	if force, _ := httpapi.ParseBool(q.r.URL.Query().Get("force")); force {
		return errorf(http.StatusNotImplemented, "Force-deleting a backup is not implemented yet.")
	}
	ctx := q.r.Context()
	var b *volumeBackup
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "backup "+q.r.PathValue("id")); err != nil {
			return err
		}
		var err error
		if b, err = s.visibleBackup(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce("backup:delete", b.Project); err != nil {
			return err
		}
		if b.Dependents > 0 {
			return errorf(http.StatusBadRequest, "Invalid backup: Incremental backups exist for this backup.")
		}
		err = store.Affected(tx.Exec(ctx, `UPDATE volume_backups SET status = 'deleting', updated_at = ? WHERE id = ? AND status IN ('available', 'error')`,
			time.Now().UnixMicro(), b.ID))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusBadRequest, "Invalid backup: Backup status must be available or error, but current status is: %s.", b.Status)
		}
		return err
	})
	if err != nil {
		return err
	}
	s.removeBackup(b.ID, b.Volume)
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// removeBackup deletes a deleting backup's objects in the background,
// then its row.
func (s *Service) removeBackup(id, volumeID string) {
	s.ops.Go(ops.Action{ResourceID: id}, "", func(ctx context.Context) error {
		return backup.Delete(ctx, s.backups, volumeID, id)
	}, func(ctx context.Context, err error) {
		if err != nil {
			s.log.Error("volume: deleting a backup", "backup", id, "err", err)
			s.setBackup(ctx, id, "error_deleting", "The backup's objects could not be deleted.", 0)
			return
		}
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			var key string
			if err := tx.QueryRow(ctx, `SELECT encryption_key_id FROM volume_backups WHERE id = ?`, id).Scan(&key); err != nil {
				return store.Row(err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM volume_backups WHERE id = ?`, id); err != nil {
				return err
			}
			return s.deleteKey(ctx, tx, key)
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("volume: deleting a backup", "backup", id, "err", err)
		}
	})
}

// restoreBackup restores a backup to a new volume or over an available
// volume of at least its size.
func (s *Service) restoreBackup(q *request) error {
	var body struct {
		Restore *struct {
			VolumeID *string `json:"volume_id"`
			Name     *string `json:"name"`
		} `json:"restore"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	if body.Restore == nil {
		return errorf(http.StatusBadRequest, "Missing required element 'restore' in request body.")
	}
	ctx := q.r.Context()
	b, err := s.visibleBackup(ctx, s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("backup:restore", b.Project); err != nil {
		return err
	}
	if b.Status != "available" {
		return errorf(http.StatusBadRequest, "Invalid backup: Backup status must be available, but current status is: %s.", b.Status)
	}
	var v *volume
	if body.Restore.VolumeID == nil || *body.Restore.VolumeID == "" {
		// A new volume of the backup's size, made from it.
		name := "restore_backup_" + b.ID
		if body.Restore.Name != nil {
			name = *body.Restore.Name
		}
		size := json.RawMessage(jsonInt(b.Size))
		if v, err = s.create(q, &volumeFields{Size: size, Name: &name, BackupID: &b.ID}); err != nil {
			return err
		}
	} else {
		if v, err = s.restoreOver(q, b, *body.Restore.VolumeID); err != nil {
			return err
		}
	}
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"restore": map[string]any{"backup_id": b.ID, "volume_id": v.ID, "volume_name": v.Name}})
	return nil
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

// restoreOver restores backup b over the available volume id.
func (s *Service) restoreOver(q *request, b *volumeBackup, id string) (*volume, error) {
	ctx := q.r.Context()
	var v *volume
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "volume "+id); err != nil {
			return err
		}
		var err error
		if v, err = s.visibleVolume(ctx, tx, q, id); err != nil {
			return err
		}
		if err := q.enforce("volume:update", v.Project); err != nil {
			return err
		}
		if v.Project != b.Project {
			return errorf(http.StatusBadRequest, "Invalid volume: a backup restores to volumes of its own project.")
		}
		if v.Size < b.Size {
			return errorf(http.StatusBadRequest, "Invalid volume: volume size %d is too small to restore backup of size %d.", v.Size, b.Size)
		}
		if err := notCopied(ctx, tx, v.ID, "restore to"); err != nil {
			return err
		}
		// A plain backup restores over a plain volume; an encrypted one over
		// a volume of the same key (its own volume, or a copy of it): a
		// volume's key never changes.
		if same, err := s.sameKey(ctx, tx, v.KeyID, b.KeyID); err != nil {
			return err
		} else if !same {
			return errorf(http.StatusBadRequest, "Invalid volume: a backup restores over a plain volume if it is plain, over the volume it was taken of (or a copy of it) if it is encrypted; restore an encrypted backup to a new volume.")
		}
		err = store.Affected(tx.Exec(ctx, `UPDATE volumes SET status = 'restoring-backup', updated_at = ? WHERE id = ? AND status = 'available'`, time.Now().UnixMicro(), v.ID))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume to be restored to must be available, but the current status is \"%s\".", v.Status)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE volume_backups SET status = 'restoring', updated_at = ? WHERE id = ?`, time.Now().UnixMicro(), b.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.ops.Go(s.action(q, v.ID, "restore"), "volume_restore_backup", func(ctx context.Context) error {
		enc, err := s.backendEncryption(ctx, v.KeyID, v.TypeID)
		if err != nil {
			return err
		}
		return s.reshare(ctx, v, s.restoreInto(ctx, b, v.ID, int64(v.Size)*gib, enc))
	}, func(ctx context.Context, err error) {
		s.setBackup(ctx, b.ID, "available", "", 0)
		if err != nil {
			s.log.Error("volume: restoring a backup", "backup", b.ID, "volume", v.ID, "err", err)
		}
		s.setStatus(ctx, v.ID, map[bool]string{true: "available", false: "error_restoring"}[err == nil])
	})
	return v, nil
}

// restoreInto writes a backup's data to volume id of size bytes: into a
// sparse raw file first, checked chunk by chunk, which the backend then
// imports (a volume restored over keeps its data until that succeeds).
// An encrypted backup holds the volume's container, imported as it is
// and grown to size with enc (the volume's key, of the same material as
// the backup's).
func (s *Service) restoreInto(ctx context.Context, b *volumeBackup, id string, size int64, enc *backend.Encryption) error {
	m, err := backup.Load(ctx, s.backups, b.Volume, b.ID)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.scratch, id+".restore-*")
	if err != nil {
		return err
	}
	os.Remove(f.Name())
	defer f.Close()
	if err := f.Truncate(m.Size); err != nil {
		return err
	}
	if err := backup.Restore(ctx, s.backups, m, f); err != nil {
		return err
	}
	if b.KeyID == "" {
		return s.driver.Import(ctx, id, f, "raw", max(size, m.Size), nil)
	}
	return s.driver.Import(ctx, id, f, "luks", max(size, int64(b.Size)*gib), enc)
}

// recoverBackups settles what a stop of sov interrupted: a backup being
// made is an error (its objects go) and its volume available again; a
// restore over a volume leaves it error_restoring (its data is the old or
// the restored, whole: the backend replaces it at once) and the backup
// available; deletions go on.
func (s *Service) recoverBackups(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT `+backupColumns+` FROM volume_backups b WHERE b.status IN ('creating', 'restoring', 'deleting')`)
	if err != nil {
		return err
	}
	all, err := store.Collect(rows, scanBackup)
	if err != nil {
		return err
	}
	for _, b := range all {
		switch b.Status {
		case "creating":
			if s.backups != nil {
				if err := backup.Delete(ctx, s.backups, b.Volume, b.ID); err != nil {
					s.log.Error("volume: removing an interrupted backup's objects", "backup", b.ID, "err", err)
				}
			}
			s.setBackup(ctx, b.ID, "error", "The backup was interrupted by a restart of sov.", 0)
		case "restoring":
			s.setBackup(ctx, b.ID, "available", "", 0)
		case "deleting":
			if s.backups != nil {
				s.removeBackup(b.ID, b.Volume)
			}
		}
	}
	if _, err := s.db.Exec(ctx, `UPDATE volumes SET status = `+idleStatus+` WHERE status IN ('backing-up', 'downloading')`); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `UPDATE volume_snapshots SET status = 'available' WHERE status = 'backing-up'`); err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `UPDATE volumes SET status = 'error_restoring' WHERE status = 'restoring-backup'`)
	return err
}
