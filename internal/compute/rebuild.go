package compute

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/image"
	"github.com/sovcloud/sov/internal/policy"
)

// rebuild is Nova's rebuild action (openstack server rebuild): the server
// boots again from an image, its own or another, on a new root disk (what
// the old one held is gone); its id, flavor, ports, addresses and volumes
// stay, and its name, metadata, key (2.54) and user data (2.57) change as
// asked. A stopped server stays stopped, as in Nova, and boots the new
// disk at its next start. A server booted from a volume has its boot
// volume reimaged from 2.93 (the volume service replaces its data by the
// image's); before, it is rebuilt only with the image its volume was made
// of, and the volume is left as it is, as in Nova.
func (s *Service) rebuild(q *request, srv *server, arg map[string]any) error {
	var b struct {
		ImageRef   *string           `json:"imageRef"`
		Name       *string           `json:"name"`
		Metadata   map[string]string `json:"metadata"`
		AdminPass  *string           `json:"adminPass"`
		KeyName    json.RawMessage   `json:"key_name"`
		UserData   json.RawMessage   `json:"user_data"`
		Preserve   *bool             `json:"preserve_ephemeral"`
		Personal   json.RawMessage   `json:"personality"`
		AccessIPv4 *string           `json:"accessIPv4"`
		AccessIPv6 *string           `json:"accessIPv6"`
	}
	raw, _ := json.Marshal(arg)
	if err := json.Unmarshal(raw, &b); err != nil {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute rebuild: %v", err)
	}
	switch {
	case b.ImageRef == nil || *b.ImageRef == "":
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute rebuild. Value: imageRef is a required property")
	case b.Name != nil && (len(*b.Name) == 0 || len(*b.Name) > 255):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute name: 1 to 255 characters.")
	case len(b.KeyName) > 0 && !q.atLeast(54):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute rebuild. Additional properties are not allowed ('key_name' was unexpected)")
	case len(b.UserData) > 0 && !q.atLeast(57):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute rebuild. Additional properties are not allowed ('user_data' was unexpected)")
	case len(b.Personal) > 0 && q.atLeast(57):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute rebuild. Additional properties are not allowed ('personality' was unexpected)")
	case len(b.Personal) > 0:
		return errorf(http.StatusNotImplemented, "Injected files (personality) are not implemented.")
	}
	if srv.Status != "ACTIVE" && srv.Status != "SHUTOFF" && srv.Status != "ERROR" {
		return errorf(http.StatusConflict, "Cannot 'rebuild' instance %s while it is in vm_state %s", srv.ID, srv.Status)
	}
	ctx := q.r.Context()
	img, err := s.images.ForBoot(ctx, q.creds, *b.ImageRef)
	if err != nil {
		return errorf(http.StatusBadRequest, "Image %s could not be found.", *b.ImageRef)
	}
	if err := s.checkBootFiles(ctx, q, img); err != nil {
		return err
	}
	root := srv.rootVolume()
	if err := imageFits(img, &srv.Flavor, root != nil); err != nil {
		return err
	}
	reimage := root != nil // the boot volume's data is replaced
	if root != nil && !q.atLeast(93) {
		_, meta, err := s.volumes.Status(ctx, q.creds, root.VolumeID)
		if err != nil {
			return err
		}
		if meta["image_id"] != img.ID {
			return errorf(http.StatusBadRequest, "Image %s is unacceptable: Unable to rebuild with a different image for a volume-backed server.", img.ID)
		}
		reimage = false
	}
	if b.Name != nil {
		srv.Name = *b.Name
	}
	if b.Metadata != nil {
		if err := validMetadata(b.Metadata); err != nil {
			return err
		}
		srv.Metadata = b.Metadata
	}
	if len(b.KeyName) > 0 {
		var key *string
		if err := json.Unmarshal(b.KeyName, &key); err != nil {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute key_name.")
		}
		srv.KeyName = ""
		if key != nil {
			if _, err := s.keypairOf(ctx, q.creds.UserID, *key); err != nil {
				return errorf(http.StatusBadRequest, "Invalid key_name provided.")
			}
			srv.KeyName = *key
		}
	}
	if len(b.UserData) > 0 {
		var data *string
		if err := json.Unmarshal(b.UserData, &data); err != nil {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute user_data.")
		}
		srv.UserData = ""
		if data != nil {
			if _, err := base64.StdEncoding.DecodeString(*data); err != nil || len(*data) > 65535 {
				return errorf(http.StatusBadRequest, "Invalid input for field/attribute user_data: base64 of at most 65535 characters.")
			}
			srv.UserData = *data
		}
	}
	stopped := srv.Status == "SHUTOFF"
	meta, _ := json.Marshal(srv.Metadata)
	imageID := img.ID
	if root != nil {
		imageID = "" // booted from its volume still
	}
	if _, err := s.db.Exec(ctx, `UPDATE servers SET image_id = ?, name = ?, metadata = ?, key_name = ?, user_data = ?, status = 'REBUILD',
		task_state = 'rebuilding', updated_at = ? WHERE id = ?`, imageID, srv.Name, string(meta), srv.KeyName, srv.UserData, time.Now().UnixMicro(), srv.ID); err != nil {
		return err
	}
	srv.ImageID, srv.Status, srv.TaskState = imageID, "REBUILD", "rebuilding"
	target := "ACTIVE"
	if stopped {
		target = "SHUTOFF"
	}
	creds := q.creds
	s.act(q, srv, "rebuild", "compute_rebuild_instance", func(ctx context.Context) error {
		if root != nil {
			return s.reimageVolume(ctx, creds, srv, img, stopped, reimage)
		}
		return s.reimage(ctx, srv, img, stopped)
	}, target)
	atts, err := s.attachments(ctx, srv)
	if err != nil {
		return err
	}
	view := s.serverJSON(q, srv, true, atts[srv.ID])
	if b.AdminPass != nil {
		view["adminPass"] = *b.AdminPass
	}
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"server": view})
	return nil
}

// reimageVolume ends a volume-backed server's VM and removes its files,
// has the volume service replace its boot volume's data by img's (if
// reimage), and, unless it stays stopped, makes its files anew and starts
// the VM.
func (s *Service) reimageVolume(ctx context.Context, c *policy.Credentials, srv *server, img *image.BootImage, stopped, reimage bool) error {
	if err := s.driver.Stop(srv.ID, 10*time.Second); err != nil {
		return err
	}
	if err := s.driver.Destroy(srv.ID); err != nil {
		return err
	}
	if reimage {
		if err := s.volumes.Reimage(ctx, c, srv.rootVolume().VolumeID, img.ID, srv.ID); err != nil {
			return faultf(err, "The boot volume could not be reimaged: %v", err)
		}
	}
	if stopped {
		return nil
	}
	s.setState(ctx, srv.ID, "REBUILD", "rebuild_spawning", powerNoState, "")
	spec, err := s.prepare(ctx, srv, &image.BootImage{})
	if err != nil {
		return err
	}
	return s.driver.Start(spec)
}

// reimage ends a server's VM and removes its files (its disk among
// them), then makes them anew from img and, unless it stays stopped,
// starts the VM; a stopped one gets them at its next start.
func (s *Service) reimage(ctx context.Context, srv *server, img *image.BootImage, stopped bool) error {
	if err := s.driver.Stop(srv.ID, 10*time.Second); err != nil {
		return err
	}
	if err := s.driver.Destroy(srv.ID); err != nil {
		return err
	}
	if stopped {
		return nil
	}
	s.setState(ctx, srv.ID, "REBUILD", "rebuild_spawning", powerNoState, "")
	spec, err := s.prepare(ctx, srv, img)
	if err != nil {
		return err
	}
	return s.driver.Start(spec)
}
