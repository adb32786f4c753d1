package image

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// image is an image record, stored as JSON in the images table.
type image struct {
	ID              string            `json:"id"`
	Name            *string           `json:"name"`
	Status          string            `json:"status"`
	Visibility      string            `json:"visibility"`
	Owner           string            `json:"owner"`
	Protected       bool              `json:"protected"`
	Hidden          bool              `json:"os_hidden"`
	ContainerFormat *string           `json:"container_format"`
	DiskFormat      *string           `json:"disk_format"`
	MinDisk         int               `json:"min_disk"`
	MinRAM          int               `json:"min_ram"`
	Size            *int64            `json:"size"`
	VirtualSize     *int64            `json:"virtual_size"`
	Checksum        *string           `json:"checksum"`
	HashAlgo        *string           `json:"os_hash_algo"`
	HashValue       *string           `json:"os_hash_value"`
	Tags            []string          `json:"tags"`
	Properties      map[string]string `json:"properties"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
	File            string            `json:"file,omitempty"` // data file, internal
}

// Image statuses, as Glance names them.
const (
	statusQueued      = "queued"
	statusSaving      = "saving"
	statusActive      = "active"
	statusDeactivated = "deactivated"
)

// timeFormat is how Glance renders created_at and updated_at.
const timeFormat = "2006-01-02T15:04:05Z"

var (
	visibilities     = []string{"public", "private", "shared", "community"}
	diskFormats      = []string{"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}
	containerFormats = []string{"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}
	// readOnly are the attributes a user can never set.
	readOnly = []string{"status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "created_at", "updated_at",
		"self", "file", "schema", "direct_url", "locations"}
)

// apiJSON renders the image as Glance does: core attributes and
// properties side by side at the top level.
func (s *Service) apiJSON(img *image) map[string]any {
	m := map[string]any{}
	for k, v := range img.Properties {
		m[k] = v
	}
	tags := img.Tags
	if tags == nil {
		tags = []string{}
	}
	for k, v := range map[string]any{
		"id": img.ID, "name": img.Name, "status": img.Status, "visibility": img.Visibility, "owner": img.Owner,
		"protected": img.Protected, "os_hidden": img.Hidden, "container_format": img.ContainerFormat, "disk_format": img.DiskFormat,
		"min_disk": img.MinDisk, "min_ram": img.MinRAM, "size": img.Size, "virtual_size": img.VirtualSize, "checksum": img.Checksum,
		"os_hash_algo": img.HashAlgo, "os_hash_value": img.HashValue, "tags": tags,
		"created_at": img.CreatedAt.UTC().Format(timeFormat), "updated_at": img.UpdatedAt.UTC().Format(timeFormat),
		"self": "/v2/images/" + img.ID, "file": "/v2/images/" + img.ID + "/file", "schema": "/v2/schemas/image",
	} {
		m[k] = v
	}
	return m
}

// setAttr sets one attribute from a JSON value, as in create or a patch.
func setAttr(img *image, name string, raw json.RawMessage, admin bool) error {
	if slices.Contains(readOnly, name) {
		return errorf(http.StatusForbidden, "Attribute '%s' is read-only.", name)
	}
	bad := func() error { return errorf(http.StatusBadRequest, "Invalid value for attribute '%s'.", name) }
	str := func(allowed []string) (*string, error) {
		if string(raw) == "null" {
			return nil, nil
		}
		var v string
		if json.Unmarshal(raw, &v) != nil || (allowed != nil && !slices.Contains(allowed, v)) || len(v) > 255 {
			return nil, bad()
		}
		return &v, nil
	}
	var err error
	switch name {
	case "id", "owner":
		if name == "owner" && !admin {
			return errorf(http.StatusForbidden, "Attribute 'owner' can only be set by an administrator.")
		}
		var v string
		if json.Unmarshal(raw, &v) != nil || v == "" {
			return bad()
		}
		if name == "id" {
			if _, err := uuid.Parse(v); err != nil {
				return bad()
			}
			img.ID = v
		} else {
			img.Owner = v
		}
	case "name":
		img.Name, err = str(nil)
	case "visibility":
		var v *string
		if v, err = str(visibilities); err == nil {
			if v == nil {
				return bad()
			}
			if *v == "public" && !admin {
				return errorf(http.StatusForbidden, "Only an administrator can make an image public.")
			}
			img.Visibility = *v
		}
	case "container_format":
		img.ContainerFormat, err = str(containerFormats)
	case "disk_format":
		img.DiskFormat, err = str(diskFormats)
	case "protected", "os_hidden":
		var v bool
		if json.Unmarshal(raw, &v) != nil {
			return bad()
		}
		if name == "protected" {
			img.Protected = v
		} else {
			img.Hidden = v
		}
	case "min_disk", "min_ram":
		var v int
		if json.Unmarshal(raw, &v) != nil || v < 0 {
			return bad()
		}
		if name == "min_disk" {
			img.MinDisk = v
		} else {
			img.MinRAM = v
		}
	case "tags":
		var v []string
		if json.Unmarshal(raw, &v) != nil || len(v) > 128 {
			return bad()
		}
		img.Tags = nil
		for _, t := range v {
			if t == "" || len(t) > 255 {
				return bad()
			}
			if !slices.Contains(img.Tags, t) {
				img.Tags = append(img.Tags, t)
			}
		}
	default:
		if name == "" || len(name) > 255 {
			return bad()
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return errorf(http.StatusBadRequest, "Property '%s' must be a string.", name)
		}
		if len(img.Properties) >= 128 {
			return errorf(http.StatusRequestEntityTooLarge, "Maximum number of image properties (128) exceeded.")
		}
		img.Properties[name] = v
	}
	return err
}

// isAdmin reports whether the caller is a cloud administrator, who sees
// and changes every project's images.
func isAdmin(c *policy.Credentials) bool { return c.HasRole(policy.Admin) }

// allowed reports whether the policy allows action on an image of project.
func allowed(c *policy.Credentials, action, project string) bool {
	return policy.Allowed(c, action, policy.Target{ProjectID: project})
}

func (s *Service) createImage(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if !allowed(c, "add_image", c.ProjectID) {
		return errorf(http.StatusForbidden, "You are not authorized to create images.")
	}
	var body map[string]json.RawMessage
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	img := &image{ID: uuid.NewString(), Status: statusQueued, Visibility: "shared", Owner: c.ProjectID,
		Properties: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := setAttr(img, k, body[k], isAdmin(c)); err != nil {
			return err
		}
	}
	if err := s.insert(r.Context(), img); err != nil {
		return err
	}
	w.Header().Set("Location", s.url+"/v2/images/"+img.ID)
	httpapi.WriteJSON(w, http.StatusCreated, s.apiJSON(img))
	return nil
}

// insert stores a new image record, within its owner's image count.
func (s *Service) insert(ctx context.Context, img *image) error {
	if err := s.checkCount(ctx, img.Owner); err != nil {
		return err
	}
	doc, _ := json.Marshal(img)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO images (id, owner, visibility, status, name, created_at, hidden, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			img.ID, img.Owner, img.Visibility, img.Status, deref(img.Name), img.CreatedAt.UnixMicro(), img.Hidden, string(doc)); err != nil {
			return err
		}
		return saveTags(ctx, tx, img)
	})
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "Image with identifier %s already exists!", img.ID)
	}
	return err
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Service) loadImage(ctx context.Context, q store.Querier, id string) (*image, error) {
	var doc string
	err := store.Row(q.QueryRow(ctx, `SELECT doc FROM images WHERE id = ?`, id).Scan(&doc))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "No image found with ID %s", id)
	}
	if err != nil {
		return nil, err
	}
	img := &image{}
	if err := json.Unmarshal([]byte(doc), img); err != nil {
		return nil, err
	}
	if img.Properties == nil {
		img.Properties = map[string]string{}
	}
	return img, nil
}

// visibleImage loads an image the token may see; others look missing.
func (s *Service) visibleImage(r *http.Request, c *policy.Credentials) (*image, error) {
	id := r.PathValue("image_id")
	img, err := s.loadImage(r.Context(), s.db, id)
	if err != nil {
		return nil, err
	}
	if ok, err := s.canSee(r.Context(), c, img); err != nil || !ok {
		if err == nil {
			err = errorf(http.StatusNotFound, "No image found with ID %s", id)
		}
		return nil, err
	}
	return img, nil
}

func (s *Service) canSee(ctx context.Context, c *policy.Credentials, img *image) (bool, error) {
	if isAdmin(c) || img.Owner == c.ProjectID || img.Visibility == "public" || img.Visibility == "community" {
		return true, nil
	}
	if img.Visibility != "shared" {
		return false, nil
	}
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM image_members WHERE image_id = ? AND member_id = ?`, img.ID, c.ProjectID).Scan(&n)
	return n > 0, err
}

// ownedImage loads an image the token may change: its project's, or any for an admin.
func (s *Service) ownedImage(r *http.Request, c *policy.Credentials) (*image, error) {
	img, err := s.visibleImage(r, c)
	if err != nil {
		return nil, err
	}
	if !allowed(c, "modify_image", img.Owner) {
		return nil, errorf(http.StatusForbidden, "You are not permitted to modify image %s.", img.ID)
	}
	return img, nil
}

func (s *Service) saveImage(ctx context.Context, q store.Querier, img *image) error {
	img.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	doc, _ := json.Marshal(img)
	if err := store.Affected(q.Exec(ctx, `UPDATE images SET owner = ?, visibility = ?, status = ?, name = ?, hidden = ?, doc = ? WHERE id = ?`,
		img.Owner, img.Visibility, img.Status, deref(img.Name), img.Hidden, string(doc), img.ID)); err != nil {
		return err
	}
	return saveTags(ctx, q, img)
}

// saveTags makes the image's tag rows (what list filters read) its tags.
func saveTags(ctx context.Context, q store.Querier, img *image) error {
	if _, err := q.Exec(ctx, `DELETE FROM image_tags WHERE image_id = ?`, img.ID); err != nil {
		return err
	}
	for _, t := range img.Tags {
		if _, err := q.Exec(ctx, `INSERT INTO image_tags (image_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING`, img.ID, t); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) showImage(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.visibleImage(r, c)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, s.apiJSON(img))
	return nil
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

func (s *Service) updateImage(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/openstack-images-v2.1-json-patch") && !strings.HasPrefix(ct, "application/openstack-images-v2.0-json-patch") {
		return errorf(http.StatusUnsupportedMediaType, "Unsupported Content-Type %q: use application/openstack-images-v2.1-json-patch.", ct)
	}
	img, err := s.ownedImage(r, c)
	if err != nil {
		return err
	}
	var ops []patchOp
	if err := httpapi.DecodeJSON(r, &ops); err != nil {
		return err
	}
	for _, op := range ops {
		name := strings.TrimPrefix(op.Path, "/")
		if !strings.HasPrefix(op.Path, "/") || strings.Contains(name, "/") || name == "" {
			return errorf(http.StatusBadRequest, "Invalid JSON pointer for this resource: '%s'", op.Path)
		}
		name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
		switch op.Op {
		case "add", "replace":
			if op.Op == "replace" && !isCore(name) {
				if _, ok := img.Properties[name]; !ok {
					return errorf(http.StatusConflict, "Property %s does not exist.", name)
				}
			}
			if name == "id" {
				return errorf(http.StatusForbidden, "Attribute 'id' is read-only.")
			}
			if err := setAttr(img, name, op.Value, isAdmin(c)); err != nil {
				return err
			}
		case "remove":
			if isCore(name) {
				return errorf(http.StatusForbidden, "Attribute '%s' is reserved and cannot be removed.", name)
			}
			if _, ok := img.Properties[name]; !ok {
				return errorf(http.StatusConflict, "Property %s does not exist.", name)
			}
			delete(img.Properties, name)
		default:
			return errorf(http.StatusBadRequest, "Unsupported patch operation %q.", op.Op)
		}
	}
	if err := s.saveImage(r.Context(), s.db, img); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, s.apiJSON(img))
	return nil
}

func isCore(name string) bool {
	return slices.Contains(readOnly, name) || slices.Contains([]string{"id", "name", "visibility", "owner", "protected", "os_hidden",
		"container_format", "disk_format", "min_disk", "min_ram", "tags"}, name)
}

func (s *Service) deleteImage(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.ownedImage(r, c)
	if err != nil {
		return err
	}
	if img.Protected {
		return errorf(http.StatusForbidden, "Image %s is protected and cannot be deleted.", img.ID)
	}
	if _, err := s.db.Exec(r.Context(), `DELETE FROM images WHERE id = ?`, img.ID); err != nil {
		return err
	}
	s.removeData(img)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// imageList is what image lists filter and sort on.
var imageList = &httpapi.ListSpec{
	Columns: map[string]httpapi.Column{
		"name":       {SQL: "name", Filter: true, Sort: true},
		"status":     {SQL: "status", Filter: true, Sort: true},
		"owner":      {SQL: "owner", Filter: true},
		"created_at": {SQL: "created_at", Sort: true},
	},
	DefaultSort: []httpapi.Sort{{Key: "created_at", Desc: true}},
}

// listImages serves GET /v2/images with Glance's filters, sorting and
// paging (limit, 25 by default; marker; sort_key/sort_dir), in the store.
func (s *Service) listImages(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	q := r.URL.Query()
	lq, err := httpapi.ParseList(r, imageList)
	if err != nil {
		return err
	}
	if q.Get("limit") == "" {
		lq.Limit = 25
	}
	visibility := q.Get("visibility")
	if visibility != "" && visibility != "all" && !slices.Contains(visibilities, visibility) {
		return errorf(http.StatusBadRequest, "Invalid visibility value: %s", visibility)
	}
	memberStatus := q.Get("member_status")
	if memberStatus == "" {
		memberStatus = "accepted"
	}
	hidden, _ := strconv.ParseBool(q.Get("os_hidden"))
	// What the caller may see: everything for an admin; else its own, the
	// public and community ones and those shared with it.
	scope, args := `hidden = ?`, []any{hidden}
	if !isAdmin(c) {
		scope += ` AND (owner = ? OR visibility IN ('public', 'community') OR (visibility = 'shared' AND id IN (SELECT image_id FROM image_members WHERE member_id = ?)))`
		args = append(args, c.ProjectID, c.ProjectID)
	}
	switch visibility {
	case "":
		scope += ` AND (visibility <> 'community' OR owner = ?)`
		args = append(args, c.ProjectID)
	case "all":
	default:
		scope += ` AND visibility = ?`
		args = append(args, visibility)
	}
	if memberStatus != "all" {
		scope += ` AND (visibility <> 'shared' OR owner = ? OR id NOT IN (SELECT image_id FROM image_members WHERE member_id = ?)
			OR id IN (SELECT image_id FROM image_members WHERE member_id = ? AND status = ?))`
		args = append(args, c.ProjectID, c.ProjectID, c.ProjectID, memberStatus)
	}
	if tag := q.Get("tag"); tag != "" {
		scope += ` AND id IN (SELECT image_id FROM image_tags WHERE tag = ?)`
		args = append(args, tag)
	}
	rows, err := lq.Query(r.Context(), s.db, "images", "id, doc", scope, args...)
	if err != nil {
		return err
	}
	page, err := store.Collect(rows, func(row store.Scanner) (*image, error) {
		var id, doc string
		img := &image{}
		if err := row.Scan(&id, &doc); err != nil {
			return nil, err
		}
		return img, json.Unmarshal([]byte(doc), img)
	})
	if err != nil {
		return err
	}
	page, more := httpapi.More(lq, page)
	out := []map[string]any{}
	for _, img := range page {
		out = append(out, s.apiJSON(img))
	}
	res := map[string]any{"images": out, "first": "/v2/images", "schema": "/v2/schemas/images"}
	if more {
		nq := r.URL.Query()
		nq.Set("marker", page[len(page)-1].ID)
		res["next"] = "/v2/images?" + nq.Encode()
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

// memberships returns, for a project, the member status of each image shared with it.
func (s *Service) memberships(ctx context.Context, project string) (map[string]string, error) {
	rows, err := s.db.Query(ctx, `SELECT image_id, status FROM image_members WHERE member_id = ?`, project)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return nil, err
		}
		m[id] = status
	}
	return m, rows.Err()
}

func (s *Service) setActive(active bool) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
		if !isAdmin(c) {
			return errorf(http.StatusForbidden, "Only an administrator can deactivate or reactivate images.")
		}
		img, err := s.ownedImage(r, c)
		if err != nil {
			return err
		}
		if img.Status != statusActive && img.Status != statusDeactivated {
			return errorf(http.StatusConflict, "Not allowed to change the activation of an image in status %s.", img.Status)
		}
		img.Status = statusDeactivated
		if active {
			img.Status = statusActive
		}
		if err := s.saveImage(r.Context(), s.db, img); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Service) addTag(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.ownedImage(r, c)
	if err != nil {
		return err
	}
	tag := r.PathValue("tag")
	if len(tag) > 255 {
		return errorf(http.StatusBadRequest, "Tag is too long.")
	}
	if !slices.Contains(img.Tags, tag) {
		img.Tags = append(img.Tags, tag)
	}
	if err := s.saveImage(r.Context(), s.db, img); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) removeTag(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.ownedImage(r, c)
	if err != nil {
		return err
	}
	i := slices.Index(img.Tags, r.PathValue("tag"))
	if i < 0 {
		return errorf(http.StatusNotFound, "Tag %s not found.", r.PathValue("tag"))
	}
	img.Tags = slices.Delete(img.Tags, i, i+1)
	if err := s.saveImage(r.Context(), s.db, img); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
