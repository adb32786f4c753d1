package volume

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/image"
	"github.com/sovcloud/sov/internal/store"
)

// Volumes uploaded to images (os-volume_upload_image, what `openstack
// image create --volume` asks): a new image of the caller's project, its
// data the volume's (raw, or converted to qcow2), its properties the
// image metadata the volume carries. The volume is uploading meanwhile;
// as in Cinder's default configuration (enable_force_upload false), only
// an available volume is uploaded.

// uploadFormats are the disk formats a volume is uploaded as.
var uploadFormats = []string{"raw", "qcow2"}

// notCopiedToImages are the volume_image_metadata keys that describe the
// image a volume came from, not the volume, and stay behind.
var notCopiedToImages = []string{"image_id", "image_name", "checksum", "size", "disk_format", "container_format", "min_disk", "min_ram",
	"os_hash_algo", "os_hash_value", "owner", "status"}

func (s *Service) uploadToImage(q *request, raw json.RawMessage) error {
	var b struct {
		ImageName       *string         `json:"image_name"`
		Force           json.RawMessage `json:"force"`
		DiskFormat      *string         `json:"disk_format"`
		ContainerFormat *string         `json:"container_format"`
		Visibility      *string         `json:"visibility"`
		Protected       json.RawMessage `json:"protected"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return errorf(http.StatusBadRequest, "Invalid input received: %v", err)
	}
	if b.ImageName == nil || strings.TrimSpace(*b.ImageName) == "" {
		return errorf(http.StatusBadRequest, "No image_name was specified in request.")
	}
	n := image.NewImage{ID: uuid.NewString(), Name: *b.ImageName, DiskFormat: "raw", ContainerFormat: "bare"}
	if b.DiskFormat != nil {
		n.DiskFormat = *b.DiskFormat
	}
	if !slices.Contains(uploadFormats, n.DiskFormat) {
		return errorf(http.StatusBadRequest, "Invalid disk-format '%s' is specified. Allowed disk-formats are %s.", n.DiskFormat, strings.Join(uploadFormats, ", "))
	}
	if b.ContainerFormat != nil && *b.ContainerFormat != "bare" {
		return errorf(http.StatusBadRequest, "Invalid container-format '%s' is specified. Allowed container-formats are bare.", *b.ContainerFormat)
	}
	if _, ok := boolValue(b.Force); !ok {
		return errorf(http.StatusBadRequest, "Invalid value for 'force': a boolean is required.")
	}
	if b.Visibility != nil || b.Protected != nil {
		if !q.atLeast(1) {
			return errorf(http.StatusBadRequest, "Invalid input received: visibility and protected need microversion 3.1.")
		}
		if b.Visibility != nil {
			n.Visibility = *b.Visibility
		}
		if b.Protected != nil {
			p, ok := boolValue(b.Protected)
			if !ok {
				return errorf(http.StatusBadRequest, "Invalid value for 'protected': a boolean is required.")
			}
			n.Protected = p
		}
	}
	ctx := q.r.Context()
	var v *volume
	imageID := n.ID
	// The volume is uploading (to an image of that id) before the image
	// is made: a restart in between discards what there is of it.
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id := q.r.PathValue("id")
		if err := tx.Lock(ctx, "volume "+id); err != nil {
			return err
		}
		var err error
		if v, err = s.visibleVolume(ctx, tx, q, id); err != nil {
			return err
		}
		if err := q.enforce("volume_extension:volume_actions:upload_image", v.Project); err != nil {
			return err
		}
		if v.Status != "available" {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume %s status must be available, but current status is: %s.", v.ID, v.Status)
		}
		if v.KeyID != "" {
			return errorf(http.StatusBadRequest, "Invalid volume: uploading an encrypted volume to an image is not supported yet.")
		}
		n.Properties = map[string]string{}
		for k, val := range v.ImageMeta {
			if !slices.Contains(notCopiedToImages, k) {
				n.Properties[k] = val
			}
		}
		v.Status, v.Updated = "uploading", time.Now().UnixMicro()
		return store.Affected(tx.Exec(ctx, `UPDATE volumes SET status = 'uploading', upload_image = ?, updated_at = ? WHERE id = ? AND status = 'available'`,
			imageID, v.Updated, v.ID))
	})
	if err != nil {
		return err
	}
	vt, err := s.findType(ctx, s.db, v.TypeID, true)
	if err == nil {
		err = s.images.Create(ctx, q.creds, n)
	}
	if err != nil {
		if _, uerr := s.db.Exec(context.WithoutCancel(ctx), `UPDATE volumes SET status = 'available', upload_image = '' WHERE id = ?`, v.ID); uerr != nil {
			s.log.Error("volume: status", "volume", v.ID, "err", uerr)
		}
		return err
	}
	a := s.action(q, v.ID, "upload_image")
	s.ops.Go(a, "volume_upload_image", func(ctx context.Context) error {
		return s.upload(ctx, v, imageID, n.DiskFormat)
	}, func(ctx context.Context, err error) {
		if err != nil {
			s.log.Error("volume: upload to an image", "volume", v.ID, "image", imageID, "err", err)
			if derr := s.images.Discard(ctx, imageID); derr != nil {
				s.log.Error("volume: discarding the image of a failed upload", "image", imageID, "err", derr)
			}
		}
		if _, err := s.db.Exec(ctx, `UPDATE volumes SET status = 'available', upload_image = '', updated_at = ? WHERE id = ? AND status = 'uploading'`, time.Now().UnixMicro(), v.ID); err != nil {
			s.log.Error("volume: status", "volume", v.ID, "err", err)
		}
	})
	body := map[string]any{"id": v.ID, "updated_at": cinderTime(v.Updated), "status": "uploading", "display_description": v.Description,
		"size": v.Size, "volume_type": vt.view(q.admin()), "image_id": imageID, "container_format": n.ContainerFormat,
		"disk_format": n.DiskFormat, "image_name": n.Name}
	if q.atLeast(1) {
		visibility := n.Visibility
		if visibility == "" {
			visibility = "shared"
		}
		body["visibility"], body["protected"] = visibility, n.Protected
	}
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"os-volume_upload_image": body})
	return nil
}

// upload writes a volume's data into the image: raw as the backend
// exports it, or converted to qcow2.
func (s *Service) upload(ctx context.Context, v *volume, imageID, format string) error {
	raw, err := s.driver.Export(ctx, v.ID, s.scratch)
	if err != nil {
		return err
	}
	defer raw.Close()
	data := raw
	if format == "qcow2" {
		tmp, err := os.CreateTemp(s.scratch, v.ID+".qcow2-*")
		if err != nil {
			return err
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		// qemu-img reads the unlinked raw file through its descriptor.
		cmd := exec.CommandContext(ctx, "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "/dev/fd/3", tmp.Name())
		cmd.ExtraFiles = []*os.File{raw}
		if out, err := cmd.CombinedOutput(); err != nil {
			return errors.New("volume: qemu-img convert: " + err.Error() + ": " + strings.TrimSpace(string(out)))
		}
		if data, err = os.Open(tmp.Name()); err != nil {
			return err
		}
		defer data.Close()
	}
	fi, err := data.Stat()
	if err != nil {
		return err
	}
	return s.images.Upload(ctx, imageID, data, fi.Size())
}

// recoverUploads ends the uploads a stop of sov interrupted: their images
// go (unless their data came whole) and the volumes are available again.
func (s *Service) recoverUploads(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT id, upload_image FROM volumes WHERE status = 'uploading'`)
	if err != nil {
		return err
	}
	type upload struct{ volume, image string }
	list, err := store.Collect(rows, func(r store.Scanner) (upload, error) { var u upload; return u, r.Scan(&u.volume, &u.image) })
	if err != nil {
		return err
	}
	for _, u := range list {
		if u.image != "" {
			if err := s.images.Discard(ctx, u.image); err != nil {
				return err
			}
		}
		if _, err := s.db.Exec(ctx, `UPDATE volumes SET status = 'available', upload_image = '' WHERE id = ?`, u.volume); err != nil {
			return err
		}
	}
	return nil
}
