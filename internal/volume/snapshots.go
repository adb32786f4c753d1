package volume

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// snapshot is a row of volume_snapshots.
type snapshot struct {
	ID, Project, User, Volume, Name, Description string
	Size                                         int // GiB, the volume's when taken
	Status                                       string
	Metadata                                     map[string]string
	// ImageMeta is its volume's image metadata when it was taken (nil:
	// not recorded, for a snapshot older than the record).
	ImageMeta        map[string]string
	Created, Updated int64
}

const snapshotColumns = `id, project_id, user_id, volume_id, name, description, size, status, metadata, image_metadata, created_at, updated_at`

func scanSnapshot(row store.Scanner) (*snapshot, error) {
	var sn snapshot
	var meta, imageMeta string
	if err := row.Scan(&sn.ID, &sn.Project, &sn.User, &sn.Volume, &sn.Name, &sn.Description, &sn.Size, &sn.Status, &meta, &imageMeta,
		&sn.Created, &sn.Updated); err != nil {
		return nil, err
	}
	if imageMeta != "" {
		json.Unmarshal([]byte(imageMeta), &sn.ImageMeta)
		if sn.ImageMeta == nil {
			sn.ImageMeta = map[string]string{}
		}
	}
	if err := json.Unmarshal([]byte(meta), &sn.Metadata); err != nil || sn.Metadata == nil {
		sn.Metadata = map[string]string{}
	}
	return &sn, nil
}

// snapshotView is a snapshot as Cinder shows it: admins also see its
// project, and from 3.41 it names its user.
func snapshotView(q *request, sn *snapshot) map[string]any {
	m := map[string]any{"id": sn.ID, "name": sn.Name, "description": sn.Description, "volume_id": sn.Volume, "size": sn.Size,
		"status": sn.Status, "metadata": sn.Metadata, "created_at": cinderTime(sn.Created), "updated_at": cinderTime(sn.Updated),
		"os-extended-snapshot-attributes:progress": "100%"}
	if sn.Status == "creating" {
		m["os-extended-snapshot-attributes:progress"] = "0%"
	}
	if q.admin() {
		m["os-extended-snapshot-attributes:project_id"] = sn.Project
	}
	if q.atLeast(41) {
		m["user_id"] = sn.User
	}
	return m
}

// visibleSnapshot is a snapshot the caller may see (its project's; any
// for admins); another project's is not found.
func (s *Service) visibleSnapshot(ctx context.Context, db store.Querier, q *request, id string) (*snapshot, error) {
	sn, err := scanSnapshot(db.QueryRow(ctx, `SELECT `+snapshotColumns+` FROM volume_snapshots WHERE id = ?`, id))
	if err == nil && (sn.Project == q.creds.ProjectID || q.admin()) {
		return sn, nil
	}
	if err == nil || errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Snapshot %s could not be found.", id)
	}
	return nil, store.Row(err)
}

var snapshotList = &httpapi.ListSpec{
	Columns: map[string]httpapi.Column{
		"name": {SQL: "name", Filter: true, Sort: true}, "status": {SQL: "status", Filter: true, Sort: true},
		"volume_id": {SQL: "volume_id", Filter: true}, "size": {SQL: "size", Sort: true},
		"created_at": {SQL: "created_at", Sort: true}, "updated_at": {SQL: "updated_at", Sort: true}, "id": {SQL: "id", Sort: true},
		"project_id": {SQL: "project_id", Filter: true},
	},
	DefaultSort: []httpapi.Sort{{Key: "created_at", Desc: true}},
}

func (s *Service) listSnapshots(detail bool) handler {
	return func(q *request) error {
		if err := q.enforce("volume:get_all_snapshots", q.creds.ProjectID); err != nil {
			return err
		}
		if err := listParams(q.r, "name", "status", "volume_id"); err != nil {
			return err
		}
		lq, err := httpapi.ParseList(q.r, snapshotList)
		if err != nil {
			return err
		}
		scope, args, err := listScope(q, "project_id")
		if err != nil {
			return err
		}
		rows, err := lq.Query(q.r.Context(), s.db, "volume_snapshots", snapshotColumns, scope, args...)
		if err != nil {
			return err
		}
		snaps, err := store.Collect(rows, scanSnapshot)
		if err != nil {
			return err
		}
		snaps, more := httpapi.More(lq, snaps)
		out := []map[string]any{}
		for _, sn := range snaps {
			v := snapshotView(q, sn)
			if !detail {
				delete(v, "os-extended-snapshot-attributes:progress")
				delete(v, "os-extended-snapshot-attributes:project_id")
			}
			out = append(out, v)
		}
		body := map[string]any{"snapshots": out}
		if more {
			body["snapshots_links"] = lq.Links(q.r, strings.TrimSuffix(s.url, "/volume"), more, snaps[len(snaps)-1].ID)
		}
		if err := s.addCount(q, lq, "volume_snapshots", scope, args, body); err != nil {
			return err
		}
		httpapi.WriteJSON(q.w, http.StatusOK, body)
		return nil
	}
}

func (s *Service) showSnapshot(q *request) error {
	sn, err := s.visibleSnapshot(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("volume:get_snapshot", sn.Project); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"snapshot": snapshotView(q, sn)})
	return nil
}

// snapshotBody is what create and update read.
type snapshotBody struct {
	Snapshot *struct {
		VolumeID    *string           `json:"volume_id"`
		Name        *string           `json:"name"`
		DisplayName *string           `json:"display_name"`
		Description *string           `json:"description"`
		DisplayDesc *string           `json:"display_description"`
		Metadata    map[string]string `json:"metadata"`
		Force       json.RawMessage   `json:"force"`
	} `json:"snapshot"`
}

func readSnapshot(q *request) (*snapshotBody, error) {
	var b snapshotBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return nil, err
	}
	if b.Snapshot == nil {
		return nil, errorf(http.StatusBadRequest, "Missing required element 'snapshot' in request body.")
	}
	sb := b.Snapshot
	if err := checkText(firstOf(sb.Name, sb.DisplayName), firstOf(sb.Description, sb.DisplayDesc), sb.Metadata); err != nil {
		return nil, err
	}
	return &b, nil
}

func (s *Service) createSnapshot(q *request) error {
	b, err := readSnapshot(q)
	if err != nil {
		return err
	}
	sb := b.Snapshot
	if sb.VolumeID == nil || *sb.VolumeID == "" {
		return errorf(http.StatusBadRequest, "Invalid input received: 'volume_id' is a required property.")
	}
	force, ok := boolValue(sb.Force)
	if !ok {
		return errorf(http.StatusBadRequest, "Invalid input received: force must be a boolean.")
	}
	sn := newSnapshot(q, firstOf(sb.Name, sb.DisplayName), firstOf(sb.Description, sb.DisplayDesc), sb.Metadata)
	if err := s.takeSnapshot(q, *sb.VolumeID, force, sn); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"snapshot": snapshotView(q, sn)})
	return nil
}

// newSnapshot is a snapshot the caller of q is about to take.
func newSnapshot(q *request, name, description *string, meta map[string]string) *snapshot {
	now := time.Now().UnixMicro()
	sn := &snapshot{ID: uuid.NewString(), User: q.creds.UserID, Status: "creating", Metadata: meta, Created: now, Updated: now}
	if sn.Metadata == nil {
		sn.Metadata = map[string]string{}
	}
	if name != nil {
		sn.Name = *name
	}
	if description != nil {
		sn.Description = *description
	}
	return sn
}

// SnapshotFor snapshots a volume c may snapshot, in use too (force), as
// name: compute's images of volume-backed servers. It returns the
// snapshot's id; the snapshot is creating until its data is copied.
func (s *Service) SnapshotFor(ctx context.Context, c *policy.Credentials, volume, name string) (string, error) {
	q := callerRequest(ctx, c)
	sn := newSnapshot(q, &name, nil, nil)
	return sn.ID, s.takeSnapshot(q, volume, true, sn)
}

// SnapshotStatus is the status of a snapshot c may see.
func (s *Service) SnapshotStatus(ctx context.Context, c *policy.Credentials, id string) (string, error) {
	q := callerRequest(ctx, c)
	sn, err := s.visibleSnapshot(ctx, s.db, q, id)
	if err != nil {
		return "", err
	}
	return sn.Status, nil
}

// DeleteSnapshotFor deletes a snapshot on behalf of c (as the API would).
func (s *Service) DeleteSnapshotFor(ctx context.Context, c *policy.Credentials, id string) error {
	return s.removeSnapshot(callerRequest(ctx, c), id)
}

// takeSnapshot records sn, of volume, for the caller of q and has the
// backend (or the VM that has the volume in use, with force) copy it.
func (s *Service) takeSnapshot(q *request, volume string, force bool, sn *snapshot) error {
	onServer := "" // the server whose VM may hold the volume
	ctx := q.r.Context()
	now := sn.Created
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "volume "+volume); err != nil { // against its deletion or extension
			return err
		}
		v, err := s.visibleVolume(ctx, tx, q, volume)
		if err != nil {
			return err
		}
		if err := q.enforce("volume:create_snapshot", v.Project); err != nil {
			return err
		}
		// An attached volume only with force (Cinder's rule before 3.66).
		if v.Status != "available" && !(v.Status == "in-use" && force) {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume %s status must be available, but current status is: %s (an in-use volume needs force).", v.ID, v.Status)
		}
		if onServer, err = copyingServer(ctx, tx, v); err != nil {
			return err
		}
		sn.Project, sn.Volume, sn.Size = v.Project, v.ID, v.Size
		if err := s.checkSnapshotQuota(ctx, tx, v.Project, v.Size); err != nil {
			return err
		}
		meta, _ := json.Marshal(sn.Metadata)
		return store.Insert(ctx, tx, "volume_snapshots", store.Values{}.Set("id", sn.ID).Set("project_id", sn.Project).
			Set("user_id", sn.User).Set("volume_id", sn.Volume).Set("name", sn.Name).Set("description", sn.Description).
			Set("size", sn.Size).Set("status", sn.Status).Set("metadata", string(meta)).Set("image_metadata", jsonText(v.ImageMeta)).
			Set("created_at", now).Set("updated_at", now))
	})
	if err != nil {
		return err
	}
	// Under the volume's lock: its extension waits for the copy.
	a := s.action(q, sn.Volume, "snapshot")
	s.ops.Go(a, "volume_snapshot", func(ctx context.Context) error {
		offline := func(ctx context.Context) error { return s.driver.Snapshot(ctx, sn.ID, sn.Volume) }
		if onServer != "" && s.hosts != nil {
			return s.hosts.SnapshotAttached(ctx, onServer, sn.Volume, func(copy func(*hypervisor.Disk) error) error {
				return s.driver.SnapshotWith(ctx, sn.ID, sn.Volume, copy)
			}, offline)
		}
		return offline(ctx)
	}, func(ctx context.Context, err error) {
		s.setSnapshotStatus(ctx, sn.ID, map[bool]string{true: "available", false: "error"}[err == nil])
	})
	return nil
}

func (s *Service) setSnapshotStatus(ctx context.Context, id, status string) {
	if _, err := s.db.Exec(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ? WHERE id = ?`, status, time.Now().UnixMicro(), id); err != nil {
		s.log.Error("volume: snapshot status", "snapshot", id, "status", status, "err", err)
	}
}

func (s *Service) updateSnapshot(q *request) error {
	b, err := readSnapshot(q)
	if err != nil {
		return err
	}
	sb := b.Snapshot
	ctx := q.r.Context()
	var sn *snapshot
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if sn, err = s.visibleSnapshot(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce("volume:update_snapshot", sn.Project); err != nil {
			return err
		}
		if name := firstOf(sb.Name, sb.DisplayName); name != nil {
			sn.Name = *name
		}
		if desc := firstOf(sb.Description, sb.DisplayDesc); desc != nil {
			sn.Description = *desc
		}
		if sb.Metadata != nil {
			sn.Metadata = sb.Metadata
		}
		sn.Updated = time.Now().UnixMicro()
		meta, _ := json.Marshal(sn.Metadata)
		_, err := tx.Exec(ctx, `UPDATE volume_snapshots SET name = ?, description = ?, metadata = ?, updated_at = ? WHERE id = ?`,
			sn.Name, sn.Description, string(meta), sn.Updated, sn.ID)
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"snapshot": snapshotView(q, sn)})
	return nil
}

func (s *Service) deleteSnapshot(q *request) error {
	if err := s.removeSnapshot(q, q.r.PathValue("id")); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// removeSnapshot starts the deletion of snapshot id for the caller of q.
func (s *Service) removeSnapshot(q *request, id string) error {
	ctx := q.r.Context()
	var sn *snapshot
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "snapshot "+id); err != nil { // against a restore from it
			return err
		}
		var err error
		if sn, err = s.visibleSnapshot(ctx, tx, q, id); err != nil {
			return err
		}
		if err := q.enforce("volume:delete_snapshot", sn.Project); err != nil {
			return err
		}
		var restoring int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM volumes WHERE snapshot_id = ? AND status = 'creating'`, sn.ID).Scan(&restoring); err != nil {
			return err
		}
		if restoring > 0 {
			return errorf(http.StatusBadRequest, "Invalid snapshot: Snapshot is being copied to %d new volumes.", restoring)
		}
		err = store.Affected(tx.Exec(ctx, `UPDATE volume_snapshots SET status = 'deleting', updated_at = ? WHERE id = ? AND status IN ('available', 'error', 'error_deleting')`,
			time.Now().UnixMicro(), sn.ID))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusBadRequest, "Invalid snapshot: Snapshot status must be available or error and must not be part of a group, but current status is: %s.", sn.Status)
		}
		return err
	})
	if err != nil {
		return err
	}
	a := s.action(q, sn.Volume, "snapshot_delete")
	s.ops.Go(a, "volume_snapshot_delete", func(ctx context.Context) error {
		return s.driver.DeleteSnapshot(ctx, sn.ID)
	}, func(ctx context.Context, err error) {
		if err != nil {
			s.setSnapshotStatus(ctx, sn.ID, "error_deleting")
			return
		}
		if _, err := s.db.Exec(ctx, `DELETE FROM volume_snapshots WHERE id = ?`, sn.ID); err != nil {
			s.log.Error("volume: snapshot delete", "snapshot", sn.ID, "err", err)
		}
	})
	return nil
}

// copyingServer is the server whose VM copies volume v while it is in
// use ("" for a volume not in use, or in use by no compute server): a
// multiattach volume's copy is made by the VM attached first, of its
// moment for that VM's writes (keeping the others' consistent is their
// cluster file system's business).
func copyingServer(ctx context.Context, tx *store.Tx, v *volume) (string, error) {
	if v.Status != "in-use" {
		return "", nil
	}
	servers, err := store.Column(ctx, tx, `SELECT instance_uuid FROM volume_attachments WHERE volume_id = ? AND made_by = 'compute' AND status = 'attached'
		ORDER BY created_at`, v.ID)
	if err != nil || len(servers) == 0 {
		return "", err
	}
	return servers[0], nil
}

// recoverSnapshots does for snapshots what recover does for volumes.
func (s *Service) recoverSnapshots(ctx context.Context) error {
	creating, err := store.Column(ctx, s.db, `SELECT id FROM volume_snapshots WHERE status = 'creating'`)
	if err != nil {
		return err
	}
	for _, id := range creating {
		if err := s.driver.DeleteSnapshot(ctx, id); err != nil {
			s.log.Error("volume: removing the data of an interrupted snapshot", "snapshot", id, "err", err)
		}
		s.setSnapshotStatus(ctx, id, "error")
	}
	// A revert cut short leaves its volume whole (its file is replaced at
	// once, or not): the snapshot is available again.
	if _, err := s.db.Exec(ctx, `UPDATE volume_snapshots SET status = 'available' WHERE status = 'restoring'`); err != nil {
		return err
	}
	deleting, err := store.Column(ctx, s.db, `SELECT id FROM volume_snapshots WHERE status = 'deleting'`)
	if err != nil {
		return err
	}
	for _, id := range deleting {
		if err := s.driver.DeleteSnapshot(ctx, id); err != nil {
			s.log.Error("volume: deleting a snapshot", "snapshot", id, "err", err)
			s.setSnapshotStatus(ctx, id, "error_deleting")
			continue
		}
		if _, err := s.db.Exec(ctx, `DELETE FROM volume_snapshots WHERE id = ?`, id); err != nil {
			return err
		}
	}
	held, err := s.driver.Snapshots(ctx)
	if err != nil {
		return err
	}
	return s.pruneUnknown(ctx, "volume_snapshots", held, s.driver.DeleteSnapshot)
}
