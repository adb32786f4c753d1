package image

import (
	"context"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/policy"
)

// Images other services make for a caller (a volume uploaded to an
// image): the record first, as POST /v2/images makes it, then its data,
// as PUT /v2/images/{id}/file stores it, or, when the data does not come,
// the record goes again.

// NewImage is an image another service makes, with the id it chose.
type NewImage struct {
	ID, Name, DiskFormat, ContainerFormat, Visibility string
	Protected                                         bool
	Properties                                        map[string]string
}

// Create makes a queued image owned by the caller's project, if the
// policy and the project's image count allow it.
func (s *Service) Create(ctx context.Context, c *policy.Credentials, n NewImage) error {
	if !allowed(c, "add_image", c.ProjectID) {
		return errorf(http.StatusForbidden, "You are not authorized to create images.")
	}
	if !slices.Contains(diskFormats, n.DiskFormat) || !slices.Contains(containerFormats, n.ContainerFormat) {
		return errorf(http.StatusBadRequest, "Invalid disk or container format: %s, %s", n.DiskFormat, n.ContainerFormat)
	}
	if n.Visibility == "" {
		n.Visibility = "shared"
	}
	if !slices.Contains(visibilities, n.Visibility) {
		return errorf(http.StatusBadRequest, "Invalid value for attribute 'visibility'.")
	}
	if n.Visibility == "public" && !isAdmin(c) {
		return errorf(http.StatusForbidden, "Only an administrator can make an image public.")
	}
	now := time.Now().UTC().Truncate(time.Second)
	if uuid.Validate(n.ID) != nil {
		return errorf(http.StatusBadRequest, "Invalid image id %q.", n.ID)
	}
	img := &image{ID: n.ID, Name: &n.Name, Status: statusQueued, Visibility: n.Visibility, Owner: c.ProjectID,
		Protected: n.Protected, DiskFormat: &n.DiskFormat, ContainerFormat: &n.ContainerFormat, Properties: map[string]string{},
		CreatedAt: now, UpdatedAt: now}
	for k, v := range n.Properties {
		if !isCore(k) && !slices.Contains(readOnly, k) {
			img.Properties[k] = v
		}
	}
	return s.insert(ctx, img)
}

// Upload stores the data of a queued image (length bytes, -1 unknown).
func (s *Service) Upload(ctx context.Context, id string, data io.Reader, length int64) error {
	img, err := s.loadImage(ctx, s.db, id)
	if err != nil {
		return err
	}
	if img.Status != statusQueued {
		return errorf(http.StatusConflict, "Image status transition from %s to saving is not allowed", img.Status)
	}
	return s.receive(ctx, img, data, length)
}

// Discard deletes an image whose data did not come (queued), and leaves
// one that became active; a gone one is fine.
func (s *Service) Discard(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM images WHERE id = ? AND status = ?`, id, statusQueued)
	return err
}
