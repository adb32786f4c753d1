package volume

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

const gib = int64(1) << 30

// serviceUUID names the one volume service of an all-in-one sov (3.48's
// service_uuid of volumes).
const serviceUUID = "5f0c5a1e-7d4b-4f41-9f2e-000000000001"

// volume is a row of volumes, with its type's name.
type volume struct {
	ID, Project, User, Name, Description string
	Size                                 int // GiB
	Status, TypeID, TypeName, Zone       string
	Bootable                             bool
	Snapshot, Source                     string            // what it was made from, if anything
	ImageMeta                            map[string]string // of the image it was made from
	Metadata                             map[string]string
	KeyID                                string // of an encrypted volume, in the key manager
	Multiattach                          bool   // whether several servers may have it at once
	Created, Updated                     int64
	Attachments                          []attachment // loaded by attachmentsOf
}

const volumeColumns = `v.id, v.project_id, v.user_id, v.name, v.description, v.size, v.status, v.volume_type_id, v.type_name,
	v.availability_zone, v.bootable, v.snapshot_id, v.source_volid, v.image_metadata, v.metadata, v.encryption_key_id, v.multiattach, v.created_at, v.updated_at`

// volumeTable is volumes with their type's name, as one table v (whose
// columns lists may name unqualified).
const volumeTable = `(SELECT v.*, t.name AS type_name FROM volumes v JOIN volume_types t ON t.id = v.volume_type_id) v`

func scanVolume(row store.Scanner) (*volume, error) {
	var v volume
	var meta, imageMeta string
	if err := row.Scan(&v.ID, &v.Project, &v.User, &v.Name, &v.Description, &v.Size, &v.Status, &v.TypeID, &v.TypeName,
		&v.Zone, &v.Bootable, &v.Snapshot, &v.Source, &imageMeta, &meta, &v.KeyID, &v.Multiattach, &v.Created, &v.Updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(meta), &v.Metadata); err != nil || v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	json.Unmarshal([]byte(imageMeta), &v.ImageMeta)
	return &v, nil
}

func jsonText(m map[string]string) string {
	if m == nil {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (s *Service) links(id string) []map[string]string {
	return []map[string]string{{"rel": "self", "href": s.url + "/v3/volumes/" + id}, {"rel": "bookmark", "href": s.url + "/volumes/" + id}}
}

// view is a volume as Cinder shows it; admins also see its project and
// host (and from 3.21 its provider id).
func (s *Service) view(q *request, v *volume) map[string]any {
	m := map[string]any{"id": v.ID, "name": v.Name, "description": v.Description, "size": v.Size, "status": v.Status,
		"volume_type": v.TypeName, "availability_zone": v.Zone, "bootable": strconv.FormatBool(v.Bootable), "encrypted": v.KeyID != "",
		"multiattach": v.Multiattach, "metadata": v.Metadata, "attachments": attachmentsView(v), "links": s.links(v.ID), "user_id": v.User,
		"created_at": cinderTime(v.Created), "updated_at": cinderTime(v.Updated), "source_volid": nullable(v.Source), "snapshot_id": nullable(v.Snapshot),
		"replication_status": nil, "consistencygroup_id": nil}
	if len(v.ImageMeta) > 0 {
		m["volume_image_metadata"] = v.ImageMeta
	}
	if q.admin() {
		m["os-vol-tenant-attr:tenant_id"] = v.Project
		m["os-vol-host-attr:host"] = "sov@file#file"
		m["os-vol-mig-status-attr:migstat"] = nil
		m["os-vol-mig-status-attr:name_id"] = nil
		if q.atLeast(21) {
			m["provider_id"] = nil
		}
	}
	if q.atLeast(48) {
		// No target is shared between volumes; one volume service.
		m["shared_targets"], m["service_uuid"] = false, serviceUUID
	}
	return m
}

// visibleVolume is a volume the caller may see (its project's; any for
// admins); another project's is not found.
func (s *Service) visibleVolume(ctx context.Context, db store.Querier, q *request, id string) (*volume, error) {
	return s.volumeVisibleTo(ctx, db, q.creds, id)
}

// volumeVisibleTo is a volume c may see.
func (s *Service) volumeVisibleTo(ctx context.Context, db store.Querier, c *policy.Credentials, id string) (*volume, error) {
	v, err := scanVolume(db.QueryRow(ctx, `SELECT `+volumeColumns+` FROM `+volumeTable+` WHERE v.id = ?`, id))
	if err == nil && (v.Project == c.ProjectID || c.HasRole(policy.Admin)) {
		return v, nil
	}
	if err == nil || errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Volume %s could not be found.", id)
	}
	return nil, store.Row(err)
}

var volumeList = &httpapi.ListSpec{
	Columns: map[string]httpapi.Column{
		"name": {SQL: "v.name", Filter: true, Sort: true}, "status": {SQL: "v.status", Filter: true, Sort: true},
		"size": {SQL: "v.size", Sort: true}, "created_at": {SQL: "v.created_at", Sort: true}, "updated_at": {SQL: "v.updated_at", Sort: true},
		"availability_zone": {SQL: "v.availability_zone", Filter: true, Sort: true}, "bootable": {SQL: "v.bootable", Filter: true, Bool: true},
		"id": {SQL: "v.id", Sort: true}, "project_id": {SQL: "v.project_id", Filter: true}, "user_id": {SQL: "v.user_id", Filter: true},
	},
	DefaultSort: []httpapi.Sort{{Key: "created_at", Desc: true}},
}

// listParams turns Cinder's sort=k1:dir,k2 into sort_key/sort_dir pairs
// and refuses parameters no list knows (filters: those given).
func listParams(r *http.Request, filters ...string) error {
	v := r.URL.Query()
	if sortParam := v.Get("sort"); sortParam != "" {
		if v.Has("sort_key") {
			return errorf(http.StatusBadRequest, "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.")
		}
		v.Del("sort")
		for _, part := range strings.Split(sortParam, ",") {
			key, dir, _ := strings.Cut(strings.TrimSpace(part), ":")
			if dir == "" {
				dir = "desc"
			}
			v.Add("sort_key", key)
			v.Add("sort_dir", dir)
		}
	}
	for k := range v {
		switch {
		case slices.Contains(filters, k):
		case k == "sort_key", k == "sort_dir", k == "limit", k == "marker", k == "all_tenants", k == "project_id", k == "with_count":
		case strings.HasSuffix(k, "~"):
			return errorf(http.StatusNotImplemented, "Filtering by %s (inexact match) is not implemented yet.", k)
		case k == "metadata", k == "glance_metadata":
			return errorf(http.StatusNotImplemented, "Filtering by %s is not implemented yet.", k)
		case k == "offset":
			return errorf(http.StatusBadRequest, "The offset parameter is not supported; page with marker.")
		default:
			return errorf(http.StatusBadRequest, "Invalid filter keys: %s", k)
		}
	}
	r.URL.RawQuery = v.Encode()
	return nil
}

// addCount adds to a list's body the number of rows it matches on every
// page, when with_count asks (3.45; before, asking is a 400).
func (s *Service) addCount(q *request, lq *httpapi.ListQuery, table, scope string, args []any, body map[string]any) error {
	with, _ := httpapi.ParseBool(q.r.URL.Query().Get("with_count"))
	if !with {
		return nil
	}
	if !q.atLeast(45) {
		return errorf(http.StatusBadRequest, "with_count needs microversion 3.45.")
	}
	n, err := lq.Count(q.r.Context(), s.db, table, scope, args...)
	body["count"] = n
	return err
}

// listScope is the condition on column of the rows a list shows: the
// caller's project's, or every project's for an admin with all_tenants.
func listScope(q *request, column string) (string, []any, error) {
	if all, _ := httpapi.ParseBool(q.r.URL.Query().Get("all_tenants")); all && q.admin() {
		return `1 = 1`, nil, nil
	}
	if q.r.URL.Query().Has("project_id") && !q.admin() {
		return "", nil, errorf(http.StatusBadRequest, "Invalid filter keys: project_id")
	}
	return column + ` = ?`, []any{q.creds.ProjectID}, nil
}

func (s *Service) listVolumes(detail bool) handler {
	return func(q *request) error {
		if err := q.enforce("volume:get_all", q.creds.ProjectID); err != nil {
			return err
		}
		// From 3.10 volumes filter by group; no volume is in one.
		query := q.r.URL.Query()
		inGroup := q.atLeast(10) && query.Has("group_id")
		if inGroup {
			query.Del("group_id")
			q.r.URL.RawQuery = query.Encode()
		}
		if err := listParams(q.r, "name", "status", "availability_zone", "bootable", "user_id"); err != nil {
			return err
		}
		lq, err := httpapi.ParseList(q.r, volumeList)
		if err != nil {
			return err
		}
		scope, args, err := listScope(q, "v.project_id")
		if err != nil {
			return err
		}
		if inGroup {
			scope, args = "1 = 0", nil
		}
		ctx := q.r.Context()
		rows, err := lq.Query(ctx, s.db, volumeTable, volumeColumns, scope, args...)
		if err != nil {
			return err
		}
		vols, err := store.Collect(rows, scanVolume)
		if err != nil {
			return err
		}
		vols, more := httpapi.More(lq, vols)
		if detail {
			if err := s.attachmentsOf(ctx, s.db, vols...); err != nil {
				return err
			}
		}
		out := []map[string]any{}
		for _, v := range vols {
			if detail {
				out = append(out, s.view(q, v))
			} else {
				out = append(out, map[string]any{"id": v.ID, "name": v.Name, "links": s.links(v.ID)})
			}
		}
		body := map[string]any{"volumes": out}
		if more {
			body["volumes_links"] = lq.Links(q.r, strings.TrimSuffix(s.url, "/volume"), more, vols[len(vols)-1].ID)
		}
		if err := s.addCount(q, lq, volumeTable, scope, args, body); err != nil {
			return err
		}
		httpapi.WriteJSON(q.w, http.StatusOK, body)
		return nil
	}
}

// volumeSummary is the count and total size of the volumes a list would
// show (3.12), and their metadata's values by key (3.36).
func (s *Service) volumeSummary(q *request) error {
	if !q.atLeast(12) {
		return errorf(http.StatusNotFound, "Volume summary could not be found.")
	}
	if err := q.enforce("volume:get_all", q.creds.ProjectID); err != nil {
		return err
	}
	scope, args, err := listScope(q, "project_id")
	if err != nil {
		return err
	}
	rows, err := s.db.Query(q.r.Context(), `SELECT size, metadata FROM volumes WHERE `+scope, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	count, size, meta := 0, 0, map[string][]string{}
	for rows.Next() {
		var n int
		var text string
		if err := rows.Scan(&n, &text); err != nil {
			return err
		}
		count, size = count+1, size+n
		var m map[string]string
		json.Unmarshal([]byte(text), &m)
		for k, v := range m {
			if !slices.Contains(meta[k], v) {
				meta[k] = append(meta[k], v)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	summary := map[string]any{"total_size": size, "total_count": count}
	if q.atLeast(36) {
		summary["metadata"] = meta
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volume-summary": summary})
	return nil
}

func (s *Service) showVolume(q *request) error {
	v, err := s.visibleVolume(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("volume:get", v.Project); err != nil {
		return err
	}
	if err := s.attachmentsOf(q.r.Context(), s.db, v); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volume": s.view(q, v)})
	return nil
}

// volumeBody is what create and update read.
type volumeBody struct {
	Volume *volumeFields `json:"volume"`
}

type volumeFields struct {
	Size             json.RawMessage   `json:"size"`
	Name             *string           `json:"name"`
	DisplayName      *string           `json:"display_name"`
	Description      *string           `json:"description"`
	DisplayDesc      *string           `json:"display_description"`
	Metadata         map[string]string `json:"metadata"`
	VolumeType       *string           `json:"volume_type"`
	AvailabilityZone *string           `json:"availability_zone"`
	SnapshotID       *string           `json:"snapshot_id"`
	SourceVolID      *string           `json:"source_volid"`
	ImageRef         *string           `json:"imageRef"`
	BackupID         *string           `json:"backup_id"`
	Multiattach      *bool             `json:"multiattach"`
}

// readVolume reads a create or update body.
func readVolume(q *request) (*volumeFields, error) {
	var b volumeBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return nil, err
	}
	if b.Volume == nil {
		return nil, errorf(http.StatusBadRequest, "Missing required element 'volume' in request body.")
	}
	return b.Volume, nil
}

// parseSize reads a size in GiB: an integer, or a string of digits, above 0.
func parseSize(raw json.RawMessage) (int, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			n = 0
		} else if n, err = strconv.Atoi(s); err != nil {
			n = 0
		}
	}
	if n < 1 || n > 1<<20 {
		return 0, errorf(http.StatusBadRequest, "Invalid input received: 'size' parameter must be an integer and greater than 0 (and at most 1048576).")
	}
	return n, nil
}

func checkText(name, description *string, meta map[string]string) error {
	if name != nil && len(*name) > 255 {
		return errorf(http.StatusBadRequest, "Invalid input received: name has more than 255 characters.")
	}
	if description != nil && len(*description) > 255 {
		return errorf(http.StatusBadRequest, "Invalid input received: description has more than 255 characters.")
	}
	if len(meta) > 100 {
		return errorf(http.StatusBadRequest, "Invalid input received: at most 100 metadata items.")
	}
	for k, v := range meta {
		if k == "" || len(k) > 255 || len(v) > 255 {
			return errorf(http.StatusBadRequest, "Invalid input received: metadata keys are 1 to 255 characters, values at most 255.")
		}
	}
	return nil
}

func firstOf(a, b *string) *string {
	if a != nil {
		return a
	}
	return b
}

func (s *Service) createVolume(q *request) error {
	if err := q.enforce("volume:create", q.creds.ProjectID); err != nil {
		return err
	}
	vb, err := readVolume(q)
	if err != nil {
		return err
	}
	if vb.BackupID != nil && *vb.BackupID != "" && !q.atLeast(47) {
		return errorf(http.StatusBadRequest, "Invalid input received: a volume from a backup (backup_id) needs microversion 3.47; restore the backup instead.")
	}
	v, err := s.create(q, vb)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"volume": s.view(q, v)})
	return nil
}

// CreateFor creates a volume of size GiB (0: its source's) for compute on
// behalf of c (a server's boot or data volume): from the image imageID,
// the snapshot snapshotID, or empty. It returns the volume's id at once;
// Status tells when it is available.
func (s *Service) CreateFor(ctx context.Context, c *policy.Credentials, name string, size int, imageID, snapshotID string) (string, error) {
	q := callerRequest(ctx, c)
	if err := q.enforce("volume:create", c.ProjectID); err != nil {
		return "", err
	}
	vb := &volumeFields{Name: &name, ImageRef: &imageID, SnapshotID: &snapshotID}
	if size > 0 {
		vb.Size = json.RawMessage(strconv.Itoa(size))
	}
	v, err := s.create(q, vb)
	if err != nil {
		return "", err
	}
	return v.ID, nil
}

// Multiattach reports whether a volume c may see is multiattach.
func (s *Service) Multiattach(ctx context.Context, c *policy.Credentials, id string) (bool, error) {
	v, err := s.volumeVisibleTo(ctx, s.db, c, id)
	if err != nil {
		return false, err
	}
	return v.Multiattach, nil
}

// Status is the status of a volume c may see, and its image's metadata
// (a boot volume's kernel, ramdisk and command line).
func (s *Service) Status(ctx context.Context, c *policy.Credentials, id string) (string, map[string]string, error) {
	v, err := s.volumeVisibleTo(ctx, s.db, c, id)
	if err != nil {
		return "", nil, err
	}
	return v.Status, v.ImageMeta, nil
}

// create creates a volume as q asks: the checks and the record in one
// transaction, the data by the backend in the background.
func (s *Service) create(q *request, vb *volumeFields) (*volume, error) {
	backupID := deref(vb.BackupID)
	if vb.Multiattach != nil && *vb.Multiattach {
		return nil, errorf(http.StatusBadRequest, "multiattach parameter has been removed. The default behavior is to use multiattach enabled volume types. "+
			"Contact your administrator to create a multiattach enabled volume type and use it to create multiattach volumes.")
	}
	snapID, srcID, imageID := deref(vb.SnapshotID), deref(vb.SourceVolID), deref(vb.ImageRef)
	if n := len(slices.DeleteFunc([]string{snapID, srcID, imageID, backupID}, func(s string) bool { return s == "" })); n > 1 {
		return nil, errorf(http.StatusBadRequest, "Invalid input received: a volume is made from one of a snapshot, another volume, an image or a backup.")
	}
	size := 0 // from a snapshot, volume or image: its size unless given (cinderclient sends null)
	if given := len(vb.Size) > 0 && string(bytes.TrimSpace(vb.Size)) != "null"; given || snapID == "" && srcID == "" && imageID == "" && backupID == "" {
		var err error
		if size, err = parseSize(vb.Size); err != nil {
			return nil, err
		}
	}
	name, desc := firstOf(vb.Name, vb.DisplayName), firstOf(vb.Description, vb.DisplayDesc)
	if err := checkText(name, desc, vb.Metadata); err != nil {
		return nil, err
	}
	if vb.AvailabilityZone != nil && *vb.AvailabilityZone != "" && *vb.AvailabilityZone != availabilityZone {
		return nil, errorf(http.StatusBadRequest, "Invalid input received: Availability zone '%s' is invalid.", *vb.AvailabilityZone)
	}
	ctx := q.r.Context()
	// Nova's image of a volume-backed server (no data): from 3.46, a
	// volume of the snapshot of its boot volume.
	if imageID != "" {
		snap, err := s.imageSnapshot(ctx, q, imageID)
		if err != nil {
			return nil, err
		}
		if snap != "" && !q.atLeast(46) {
			return nil, errorf(http.StatusBadRequest, "Invalid image: image %s of a volume-backed server holds no data; a volume is made of it from microversion 3.46.", imageID)
		}
		if snap != "" {
			snapID, imageID = snap, ""
		}
	}
	var img *imageSource
	if imageID != "" {
		var err error
		if img, err = s.imageSource(ctx, q, imageID); err != nil {
			return nil, err
		}
		defer func() {
			if img.file != nil { // not handed to the operation
				img.file.Close()
			}
		}()
	}
	now := time.Now().UnixMicro()
	v := &volume{ID: uuid.NewString(), Project: q.creds.ProjectID, User: q.creds.UserID, Size: size, Status: "creating",
		Zone: availabilityZone, Metadata: vb.Metadata, Created: now, Updated: now}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	if name != nil {
		v.Name = *name
	}
	if desc != nil {
		v.Description = *desc
	}
	var from *volumeBackup // the backup it is restored from
	var enc *encryption    // of its type
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		typeRef, inherited := defaultTypeName, false
		fromKey, fromType := "", "" // the key and type of what it is made of
		// From a snapshot or volume: its size at least, and its type unless named.
		minSize := 0
		switch {
		case snapID != "":
			if err := tx.Lock(ctx, "snapshot "+snapID); err != nil { // against its deletion
				return err
			}
			sn, err := s.visibleSnapshot(ctx, tx, q, snapID)
			if err != nil {
				return err
			}
			if sn.Status != "available" {
				return errorf(http.StatusBadRequest, "Invalid snapshot: Originating snapshot status must be one of 'available' values")
			}
			from, err := s.visibleVolume(ctx, tx, q, sn.Volume)
			if err != nil {
				return err
			}
			minSize, typeRef, inherited, v.Snapshot, fromKey, fromType = sn.Size, from.TypeID, true, sn.ID, from.KeyID, from.TypeID
			// What boots it: its volume's image metadata when it was taken
			// (as Cinder keeps it with a snapshot).
			v.ImageMeta, v.Bootable = from.ImageMeta, from.Bootable
			if sn.ImageMeta != nil {
				v.ImageMeta = sn.ImageMeta
			}
		case srcID != "":
			if err := tx.Lock(ctx, "volume "+srcID); err != nil { // against its deletion or extension
				return err
			}
			from, err := s.visibleVolume(ctx, tx, q, srcID)
			if err != nil {
				return err
			}
			if from.Status != "available" {
				return errorf(http.StatusBadRequest, "Invalid volume: Source volume status must be available, but current status is: %s.", from.Status)
			}
			minSize, typeRef, inherited, v.Source, fromKey, fromType = from.Size, from.TypeID, true, from.ID, from.KeyID, from.TypeID
			v.ImageMeta, v.Bootable = from.ImageMeta, from.Bootable
		case img != nil:
			minSize, v.ImageMeta, v.Bootable = img.minGiB, img.meta, true
		case backupID != "":
			if err := tx.Lock(ctx, "backup "+backupID); err != nil { // against its deletion
				return err
			}
			b, err := s.visibleBackup(ctx, tx, q, backupID)
			if err != nil {
				return err
			}
			if b.Status != "available" {
				return errorf(http.StatusBadRequest, "Invalid backup: Backup status must be available, but current status is: %s.", b.Status)
			}
			if err := q.enforce("backup:restore", b.Project); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE volume_backups SET status = 'restoring', updated_at = ? WHERE id = ?`, time.Now().UnixMicro(), b.ID); err != nil {
				return err
			}
			minSize, from, fromKey = b.Size, b, b.KeyID
			if b.KeyID != "" {
				// Encrypted: of its volume's type if it is still there, else
				// of an encrypted type of its key's size.
				if typeRef, err = s.backupType(ctx, tx, b); err != nil {
					return err
				}
				inherited, fromType = true, typeRef
			}
		}
		if size == 0 {
			size, v.Size = minSize, minSize
		}
		if size < minSize {
			return errorf(http.StatusBadRequest, "Invalid input received: Volume size '%d'GB cannot be smaller than the snapshot or source volume size %dGB.", size, minSize)
		}
		if vb.VolumeType != nil && *vb.VolumeType != "" {
			typeRef, inherited = *vb.VolumeType, false
		}
		// (The source's type even if it has become private since.)
		t, err := s.findType(ctx, tx, typeRef, q.admin() || inherited)
		if err != nil {
			return err
		}
		v.TypeID, v.TypeName = t.ID, t.Name
		if err := s.checkQuota(ctx, tx, v.Project, 1, size, size); err != nil {
			return err
		}
		if err := tx.Lock(ctx, "volume type "+t.ID); err != nil { // against a change of its encryption
			return err
		}
		if enc, err = typeEncryption(ctx, tx, t.ID); err != nil {
			return err
		}
		if err := s.volumeKey(ctx, tx, v, enc, fromKey, snapID != "" || srcID != "" || backupID != ""); err != nil {
			return err
		}
		if v.Multiattach = isMultiattach(t); v.Multiattach && v.KeyID != "" {
			return errorf(http.StatusBadRequest, "Invalid volume: Multiattach cannot be used with encrypted volumes.")
		}
		// A copy holds its source's container as it is: of a type encrypted alike.
		if fromType != "" && fromKey != "" {
			if same, err := sameEncryption(ctx, tx, fromType, t.ID); err != nil {
				return err
			} else if !same {
				return invalidf("a copy of an encrypted volume is of a type encrypted as its source's (%s).", v.TypeName)
			}
		}
		meta, _ := json.Marshal(v.Metadata)
		return store.Insert(ctx, tx, "volumes", store.Values{}.Set("id", v.ID).Set("project_id", v.Project).Set("user_id", v.User).
			Set("name", v.Name).Set("description", v.Description).Set("size", v.Size).Set("new_size", 0).Set("status", v.Status).
			Set("volume_type_id", v.TypeID).Set("availability_zone", v.Zone).Set("bootable", v.Bootable).Set("snapshot_id", v.Snapshot).
			Set("source_volid", v.Source).Set("image_metadata", jsonText(v.ImageMeta)).Set("metadata", string(meta)).
			Set("encryption_key_id", v.KeyID).Set("multiattach", v.Multiattach).Set("created_at", now).Set("updated_at", now))
	})
	if err != nil {
		return nil, err
	}
	a := s.action(q, v.ID, "create")
	var src *os.File
	if img != nil {
		src, img.file = img.file, nil // the operation closes it
	}
	s.ops.Go(a, "volume_create", func(ctx context.Context) error {
		if src != nil {
			defer src.Close()
		}
		if from != nil {
			defer s.setBackup(ctx, from.ID, "available", "", 0)
		}
		enc, err := s.backendEncryption(ctx, v.KeyID, v.TypeID)
		if err != nil {
			return err
		}
		switch {
		case src != nil:
			err = s.driver.Import(ctx, v.ID, src, img.format, int64(size)*gib, enc)
		case from != nil:
			err = s.restoreInto(ctx, from, v.ID, int64(size)*gib, enc)
		case v.Snapshot != "":
			err = s.driver.Restore(ctx, v.ID, v.Snapshot, int64(size)*gib, enc)
		case v.Source != "":
			// Under the source's lock too: its extension waits for the copy.
			defer s.ops.Lock(v.Source)()
			err = s.driver.Clone(ctx, v.ID, v.Source, int64(size)*gib, enc)
		default:
			err = s.driver.Create(ctx, v.ID, int64(size)*gib, enc)
		}
		return s.reshare(ctx, v, err)
	}, func(ctx context.Context, err error) {
		s.setStatus(ctx, v.ID, map[bool]string{true: "available", false: "error"}[err == nil])
	})
	return v, nil
}

// reshare has the backend share a multiattach volume's data once it has
// made it (err nil): what makes or replaces a volume's data makes it
// unshared.
func (s *Service) reshare(ctx context.Context, v *volume, err error) error {
	if err != nil || !v.Multiattach {
		return err
	}
	return s.driver.Share(ctx, v.ID, true)
}

// action records a request on a volume for the runner.
func (s *Service) action(q *request, id, name string) ops.Action {
	a := ops.Action{ResourceID: id, RequestID: httpapi.RequestID(q.r.Context()), Name: name, UserID: q.creds.UserID,
		ProjectID: q.creds.ProjectID, Start: time.Now()}
	if err := s.ops.Record(q.r.Context(), a); err != nil {
		s.log.Error("volume: recording an action", "volume", id, "err", err)
	}
	return a
}

func (s *Service) setStatus(ctx context.Context, id, status string) {
	if _, err := s.db.Exec(ctx, `UPDATE volumes SET status = ?, updated_at = ? WHERE id = ?`, status, time.Now().UnixMicro(), id); err != nil {
		s.log.Error("volume: status", "volume", id, "status", status, "err", err)
	}
}

func (s *Service) updateVolume(q *request) error {
	vb, err := readVolume(q)
	if err != nil {
		return err
	}
	name, desc := firstOf(vb.Name, vb.DisplayName), firstOf(vb.Description, vb.DisplayDesc)
	if err := checkText(name, desc, vb.Metadata); err != nil {
		return err
	}
	ctx := q.r.Context()
	var v *volume
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if v, err = s.visibleVolume(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce("volume:update", v.Project); err != nil {
			return err
		}
		if name != nil {
			v.Name = *name
		}
		if desc != nil {
			v.Description = *desc
		}
		if vb.Metadata != nil {
			v.Metadata = vb.Metadata
		}
		v.Updated = time.Now().UnixMicro()
		meta, _ := json.Marshal(v.Metadata)
		if _, err = tx.Exec(ctx, `UPDATE volumes SET name = ?, description = ?, metadata = ?, updated_at = ? WHERE id = ?`,
			v.Name, v.Description, string(meta), v.Updated, v.ID); err != nil {
			return err
		}
		return s.attachmentsOf(ctx, tx, v)
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volume": s.view(q, v)})
	return nil
}

// transition moves a volume from one of the statuses from to status
// (under the policy of action, if check allows), or refuses with 400 as
// Cinder does.
func (s *Service) transition(q *request, action, status string, check func(context.Context, *store.Tx, *volume) error, from ...string) (*volume, error) {
	ctx := q.r.Context()
	var v *volume
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "volume "+q.r.PathValue("id")); err != nil {
			return err
		}
		var err error
		if v, err = s.visibleVolume(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce(action, v.Project); err != nil {
			return err
		}
		if err := check(ctx, tx, v); err != nil {
			return err
		}
		// Only from a status allowed, whatever another request did since the read.
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ")
		args := []any{status, time.Now().UnixMicro(), v.ID}
		for _, f := range from {
			args = append(args, f)
		}
		err = store.Affected(tx.Exec(ctx, `UPDATE volumes SET status = ?, updated_at = ? WHERE id = ? AND status IN (`+ph+`)`, args...))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume status must be %s, but current status is: %s.", strings.Join(from, " or "), v.Status)
		}
		v.Status = status
		return err
	})
	return v, err
}

func (s *Service) deleteVolume(q *request) error {
	if cascade, _ := httpapi.ParseBool(q.r.URL.Query().Get("cascade")); cascade {
		return errorf(http.StatusNotImplemented, "Deleting a volume with its snapshots (cascade) is not implemented yet.")
	}
	if force, _ := httpapi.ParseBool(q.r.URL.Query().Get("force")); force && q.atLeast(23) {
		return errorf(http.StatusNotImplemented, "Force-deleting a volume is not implemented yet.")
	}
	v, err := s.transition(q, "volume:delete", "deleting", func(ctx context.Context, tx *store.Tx, v *volume) error {
		var snaps, clones int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM volume_snapshots WHERE volume_id = ?`, v.ID).Scan(&snaps); err != nil {
			return err
		}
		if snaps > 0 {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume still has %d dependent snapshots.", snaps)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM volumes WHERE source_volid = ? AND status = 'creating'`, v.ID).Scan(&clones); err != nil {
			return err
		}
		if clones > 0 {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume is being copied to %d new volumes.", clones)
		}
		return nil
	}, "available", "error", "error_extending", "error_deleting", "error_restoring")
	if err != nil {
		return err
	}
	s.remove(s.action(q, v.ID, "delete"), "volume_delete", v.ID)
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// Delete deletes an available volume with no snapshots: for compute, a
// volume that goes with its server (delete_on_termination).
func (s *Service) Delete(ctx context.Context, id string) error {
	err := store.Affected(s.db.Exec(ctx, `UPDATE volumes SET status = 'deleting', updated_at = ? WHERE id = ? AND status = 'available'
		AND NOT EXISTS (SELECT 1 FROM volume_snapshots WHERE volume_id = ?)`, time.Now().UnixMicro(), id, id))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusBadRequest, "Invalid volume: volume %s is not available or has snapshots.", id)
	}
	if err != nil {
		return err
	}
	s.remove(ops.Action{ResourceID: id}, "", id)
	return nil
}

// remove deletes a deleting volume's data in the background (as event of
// a, if any), then its row and record.
func (s *Service) remove(a ops.Action, event, id string) {
	s.ops.Go(a, event, func(ctx context.Context) error { return s.driver.Delete(ctx, id) }, func(ctx context.Context, err error) {
		if err != nil {
			s.log.Error("volume: deleting a volume", "volume", id, "err", err)
			s.setStatus(ctx, id, "error_deleting")
			return
		}
		s.forget(ctx, id)
	})
}

// forget removes a deleted volume's row, key and record.
func (s *Service) forget(ctx context.Context, id string) {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var key string
		if err := tx.QueryRow(ctx, `SELECT encryption_key_id FROM volumes WHERE id = ?`, id).Scan(&key); err != nil {
			return store.Row(err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM volumes WHERE id = ?`, id); err != nil {
			return err
		}
		return s.deleteKey(ctx, tx, key)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("volume: delete", "volume", id, "err", err)
		s.setStatus(ctx, id, "error_deleting")
		return
	}
	if err := s.ops.Forget(ctx, id); err != nil {
		s.log.Error("volume: forget actions", "volume", id, "err", err)
	}
}

// volumeAction runs POST /volumes/{id}/action: os-extend, revert,
// os-volume_upload_image, os-retype, os-set_bootable; other actions Cinder
// has are not implemented yet.
func (s *Service) volumeAction(q *request) error {
	var b map[string]json.RawMessage
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	if len(b) != 1 {
		return errorf(http.StatusBadRequest, "There is no such action: the body must name exactly one.")
	}
	for name, raw := range b {
		switch name {
		case "os-extend":
			return s.extend(q, raw)
		case "os-volume_upload_image":
			return s.uploadToImage(q, raw)
		case "os-retype":
			return s.retype(q, raw)
		case "os-set_bootable":
			return s.setBootable(q, raw)
		case "revert":
			if !q.atLeast(40) {
				return errorf(http.StatusBadRequest, "There is no such action: revert needs microversion 3.40.")
			}
			return s.revert(q, raw)
		case "os-attach", "os-detach", "os-reserve", "os-unreserve", "os-begin_detaching", "os-roll_detaching", "os-initialize_connection",
			"os-terminate_connection", "os-update_readonly_flag",
			"os-reset_status", "os-force_delete", "os-migrate_volume", "os-set_image_metadata", "os-unset_image_metadata",
			"os-show_image_metadata", "os-force_detach", "os-update_snapshot_status", "os-unmanage":
			return errorf(http.StatusNotImplemented, "The volume action %s is not implemented yet.", name)
		default:
			return errorf(http.StatusBadRequest, "There is no such action: %s", name)
		}
	}
	return nil
}

func (s *Service) extend(q *request, raw json.RawMessage) error {
	var body struct {
		NewSize json.RawMessage `json:"new_size"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.NewSize == nil {
		return errorf(http.StatusBadRequest, "Invalid input received: os-extend needs new_size.")
	}
	size, err := parseSize(body.NewSize)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	var v *volume
	onServer := "" // the server the volume is attached to, if compute's
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "volume "+q.r.PathValue("id")); err != nil {
			return err
		}
		if v, err = s.visibleVolume(ctx, tx, q, q.r.PathValue("id")); err != nil {
			return err
		}
		if err := q.enforce("volume:extend", v.Project); err != nil {
			return err
		}
		// Not while a snapshot or a new volume copies it (their sizes are its size now).
		if err := notCopied(ctx, tx, v.ID, "extend"); err != nil {
			return err
		}
		if v.Status != "available" && !(v.Status == "in-use" && q.atLeast(42)) {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume status must be available to extend, but current status is: %s.", v.Status)
		}
		if v.Status == "in-use" && v.Multiattach {
			return errorf(http.StatusBadRequest, "Invalid volume: a multiattach volume is extended while it is available, not in use.")
		}
		if v.Status == "in-use" {
			// The server whose VM may hold it open grows it there.
			server, err := store.Column(ctx, tx, `SELECT instance_uuid FROM volume_attachments WHERE volume_id = ? AND made_by = 'compute'`, v.ID)
			if err != nil {
				return err
			}
			if len(server) == 1 {
				onServer = server[0]
			}
		}
		if size <= v.Size {
			return errorf(http.StatusBadRequest, "Invalid input received: New size for extend must be greater than current size. (current: %d, extended: %d).", v.Size, size)
		}
		if err := s.checkQuota(ctx, tx, v.Project, 0, size-v.Size, size); err != nil {
			return err
		}
		// The new size counts against the quota from now on; only from the
		// status and size read, whatever another request did since.
		err := store.Affected(tx.Exec(ctx, `UPDATE volumes SET status = 'extending', new_size = ?, updated_at = ? WHERE id = ? AND status = ? AND size = ?`,
			size, time.Now().UnixMicro(), v.ID, v.Status, v.Size))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume status must be available to extend.")
		}
		return err
	})
	if err != nil {
		return err
	}
	a := s.action(q, v.ID, "extend")
	s.ops.Go(a, "volume_extend", func(ctx context.Context) error {
		offline := func(ctx context.Context) error {
			enc, err := s.backendEncryption(ctx, v.KeyID, v.TypeID)
			if err != nil {
				return err
			}
			return s.driver.Extend(ctx, v.ID, int64(size)*gib, enc)
		}
		if onServer != "" && s.hosts != nil {
			return s.hosts.ResizeAttached(ctx, onServer, v.ID, int64(size)*gib, offline)
		}
		return offline(ctx)
	}, func(ctx context.Context, err error) {
		if err != nil {
			if _, err := s.db.Exec(ctx, `UPDATE volumes SET status = 'error_extending', new_size = 0, updated_at = ? WHERE id = ?`, time.Now().UnixMicro(), v.ID); err != nil {
				s.log.Error("volume: extend", "volume", v.ID, "err", err)
			}
			return
		}
		// In use again if it is still attached (its server may have gone meanwhile).
		if _, err := s.db.Exec(ctx, `UPDATE volumes SET size = ?, new_size = 0, status = `+idleStatus+`, updated_at = ? WHERE id = ?`, size, time.Now().UnixMicro(), v.ID); err != nil {
			s.log.Error("volume: extend", "volume", v.ID, "err", err)
		}
	})
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// revert puts a volume's data back to that of its latest snapshot (3.40).
func (s *Service) revert(q *request, raw json.RawMessage) error {
	var body struct {
		SnapshotID string `json:"snapshot_id"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.SnapshotID == "" {
		return errorf(http.StatusBadRequest, "Invalid input received: revert needs snapshot_id.")
	}
	ctx := q.r.Context()
	var v *volume
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id := q.r.PathValue("id")
		if err := tx.Lock(ctx, "volume "+id); err != nil {
			return err
		}
		var err error
		if v, err = s.visibleVolume(ctx, tx, q, id); err != nil {
			return err
		}
		if err := q.enforce("volume:revert_to_snapshot", v.Project); err != nil {
			return err
		}
		sn, err := s.visibleSnapshot(ctx, tx, q, body.SnapshotID)
		if err != nil {
			return err
		}
		latest, err := store.Column(ctx, tx, `SELECT id FROM volume_snapshots WHERE volume_id = ? ORDER BY created_at DESC, id DESC LIMIT 1`, v.ID)
		if err != nil {
			return err
		}
		if sn.Volume != v.ID || len(latest) == 0 || latest[0] != sn.ID {
			return errorf(http.StatusBadRequest, "Invalid snapshot: Snapshot %s is not the latest one of volume %s.", sn.ID, v.ID)
		}
		if sn.Status != "available" {
			return errorf(http.StatusBadRequest, "Invalid snapshot: Snapshot status must be available, but current status is: %s.", sn.Status)
		}
		err = store.Affected(tx.Exec(ctx, `UPDATE volumes SET status = 'reverting', updated_at = ? WHERE id = ? AND status = 'available'`, time.Now().UnixMicro(), v.ID))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume status must be available, but current status is: %s.", v.Status)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE volume_snapshots SET status = 'restoring', updated_at = ? WHERE id = ?`, time.Now().UnixMicro(), sn.ID)
		return err
	})
	if err != nil {
		return err
	}
	snap := body.SnapshotID
	s.ops.Go(s.action(q, v.ID, "revert"), "volume_revert", func(ctx context.Context) error {
		enc, err := s.backendEncryption(ctx, v.KeyID, v.TypeID)
		if err != nil {
			return err
		}
		return s.reshare(ctx, v, s.driver.Restore(ctx, v.ID, snap, int64(v.Size)*gib, enc))
	}, func(ctx context.Context, err error) {
		s.setSnapshotStatus(ctx, snap, "available")
		s.setStatus(ctx, v.ID, map[bool]string{true: "available", false: "error"}[err == nil])
	})
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// notCopied refuses to verb a volume while a snapshot or a new volume is
// being copied from it.
func notCopied(ctx context.Context, tx *store.Tx, id, verb string) error {
	var copies int
	if err := tx.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM volume_snapshots WHERE volume_id = ? AND status = 'creating') +
		(SELECT COUNT(*) FROM volumes WHERE source_volid = ? AND status = 'creating')`, id, id).Scan(&copies); err != nil {
		return err
	}
	if copies > 0 {
		return errorf(http.StatusBadRequest, "Invalid volume: Volume %s is being copied; %s it when the copy is done.", id, verb)
	}
	return nil
}

// recover brings the volumes a stop of sov interrupted to a truthful
// status (creations that did not finish are errors without data,
// extensions errors, deletions go on) and removes what the backend holds
// of volumes the store does not know (a crash between the two).
func (s *Service) recover(ctx context.Context) error {
	// A creation cut short leaves no data worth keeping: what the backend
	// made of it goes, and the volume is an error the user may delete.
	creating, err := store.Column(ctx, s.db, `SELECT id FROM volumes WHERE status = 'creating'`)
	if err != nil {
		return err
	}
	for _, id := range creating {
		if err := s.driver.Delete(ctx, id); err != nil {
			s.log.Error("volume: removing the data of an interrupted creation", "volume", id, "err", err)
		}
		if _, err := s.db.Exec(ctx, `UPDATE volumes SET status = 'error' WHERE id = ? AND status = 'creating'`, id); err != nil {
			return err
		}
	}
	if _, err := s.db.Exec(ctx, `UPDATE volumes SET status = 'error_extending', new_size = 0 WHERE status = 'extending'`); err != nil {
		return err
	}
	// A revert replaces the volume's data at once or not at all.
	if _, err := s.db.Exec(ctx, `UPDATE volumes SET status = 'available' WHERE status = 'reverting'`); err != nil {
		return err
	}
	if err := s.recoverRetypes(ctx); err != nil {
		return err
	}
	// What replaces a multiattach volume's data (a revert, a restore, a
	// reimage) leaves it unshared until it is shared again: a stop in
	// between is made good (sharing a shared volume changes nothing).
	shared, err := store.Column(ctx, s.db, `SELECT id FROM volumes WHERE multiattach AND status NOT IN ('creating', 'deleting', 'error')`)
	if err != nil {
		return err
	}
	for _, id := range shared {
		if err := s.driver.Share(ctx, id, true); err != nil {
			s.log.Error("volume: sharing a multiattach volume again", "volume", id, "err", err)
		}
	}
	deleting, err := store.Column(ctx, s.db, `SELECT id FROM volumes WHERE status = 'deleting'`)
	if err != nil {
		return err
	}
	for _, id := range deleting {
		s.remove(ops.Action{ResourceID: id}, "", id)
	}
	held, err := s.driver.List(ctx)
	if err != nil {
		return err
	}
	return s.pruneUnknown(ctx, "volumes", held, s.driver.Delete)
}

// pruneUnknown removes what the backend holds (held, by id) of the
// objects table does not know: what a crash between the two left.
func (s *Service) pruneUnknown(ctx context.Context, table string, held []string, remove func(context.Context, string) error) error {
	known, err := store.Column(ctx, s.db, `SELECT id FROM `+table)
	if err != nil {
		return err
	}
	for _, id := range held {
		if slices.Contains(known, id) {
			continue
		}
		if err := remove(ctx, id); err != nil {
			s.log.Error("volume: removing data the store does not know", "table", table, "id", id, "err", err)
			continue
		}
		s.log.Info("volume: removed data the store does not know", "table", table, "id", id)
	}
	return nil
}
