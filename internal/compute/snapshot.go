package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/image"
)

// createImage is Nova's createImage action (openstack server image
// create): an image of the caller's project holding what the server's
// root disk holds now, its base image's data included. A running server
// runs on: QEMU copies the disk at a point in time (the root disk's
// CopyVolume); a stopped one's disk is converted as it is. The image is
// qcow2, with the request's metadata, the properties of the image the
// server was built from that say how to boot it, and Nova's image_type
// snapshot, instance_uuid and base_image_ref. The server's task is
// image_snapshot, then image_uploading; a failure discards the image and
// leaves the server as it was. Of a server booted from a volume, the image
// is Nova's mapping of snapshots of its volumes (volumeimage.go).
func (s *Service) createImage(q *request, srv *server, arg map[string]any) error {
	name, _ := arg["name"].(string)
	if strings.TrimSpace(name) == "" || len(name) > 255 {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute name: 1 to 255 characters are required.")
	}
	meta := map[string]string{}
	if m, ok := arg["metadata"]; ok && m != nil {
		raw, _ := json.Marshal(m)
		if err := json.Unmarshal(raw, &meta); err != nil {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute metadata: an object of strings.")
		}
		if err := validMetadata(meta); err != nil {
			return err
		}
	}
	if srv.Status != "ACTIVE" && srv.Status != "SHUTOFF" {
		return errorf(http.StatusConflict, "Cannot 'createImage' instance %s while it is in vm_state %s", srv.ID, srv.Status)
	}
	if srv.rootVolume() != nil {
		return s.createVolumeImage(q, srv, name, meta)
	}
	ctx := q.r.Context()
	props := map[string]string{}
	if base, err := s.images.ForBootID(ctx, srv.ImageID); err == nil {
		for k, v := range base.Properties {
			if bootProperty(k) {
				props[k] = v
			}
		}
	}
	for k, v := range meta {
		props[k] = v
	}
	props["image_type"], props["instance_uuid"], props["base_image_ref"] = "snapshot", srv.ID, srv.ImageID
	props["user_id"] = q.creds.UserID
	n := image.NewImage{ID: uuid.NewString(), Name: name, DiskFormat: "qcow2", ContainerFormat: "bare", Properties: props}
	if err := s.images.Create(ctx, q.creds, n); err != nil {
		return err
	}
	if err := s.setState(ctx, srv.ID, srv.Status, "image_snapshot", srv.PowerState, srv.Fault); err != nil {
		s.images.Discard(ctx, n.ID)
		return err
	}
	s.ops.Go(s.record(q, srv, "createImage"), "compute_snapshot_instance", func(ctx context.Context) error {
		return s.snapshot(ctx, srv, n.ID)
	}, func(ctx context.Context, err error) {
		if err != nil {
			s.log.Error("server image failed", "server", srv.ID, "image", n.ID, "err", err)
			if derr := s.images.Discard(ctx, n.ID); derr != nil {
				s.log.Error("discarding a failed server image", "image", n.ID, "err", derr)
			}
		}
		// The server is as it was, whatever became of the image.
		if _, err := s.db.Exec(ctx, `UPDATE servers SET task_state = '' WHERE id = ? AND task_state LIKE 'image_%'`, srv.ID); err != nil {
			s.log.Error("server image: task state", "server", srv.ID, "err", err)
		}
	})
	s.imageAccepted(q, n.ID)
	return nil
}

// imageAccepted answers createImage: the image's id from 2.45, its URL
// in Location before.
func (s *Service) imageAccepted(q *request, id string) {
	if q.atLeast(45) {
		httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]string{"image_id": id})
		return
	}
	q.w.Header().Set("Location", s.imageURL(id))
	q.w.WriteHeader(http.StatusAccepted)
}

// bootProperty reports whether an image property says how to boot what
// the image holds, which a server's image passes on to images of it.
func bootProperty(k string) bool {
	switch {
	case k == "kernel_id", k == "ramdisk_id", k == "os_command_line", k == "os_distro", k == "os_version", k == "os_type",
		k == "os_admin_user", k == "architecture", k == "hypervisor_type":
		return true
	}
	return strings.HasPrefix(k, "hw_")
}

// imageURL is the image's URL in the image service, as Nova's Location.
func (s *Service) imageURL(id string) string {
	return s.publicURL + "/image/v2/images/" + id
}

// snapshot copies a server's root disk into a qcow2 file in its
// instance dir and uploads it as image id.
func (s *Service) snapshot(ctx context.Context, srv *server, id string) error {
	spec, err := s.driver.SavedSpec(srv.ID)
	if err != nil {
		return err
	}
	root := spec.Disk
	out := filepath.Join(s.driver.Dir(srv.ID), "snapshot-"+id+".qcow2")
	defer os.Remove(out)
	if running, _ := s.driver.Running(srv.ID); running {
		size, err := virtualSize(ctx, root.Path)
		if err != nil {
			return err
		}
		if err := qemuImg(ctx, "create", "-q", "-f", "qcow2", out, strconv.FormatInt(size, 10)); err != nil {
			return err
		}
		if err := s.driver.CopyVolume(srv.ID, spec.RootSerial, &hypervisor.Disk{Path: out, Format: "qcow2"}); err != nil {
			return err
		}
	} else {
		// The overlay with its base named (never the file its header names).
		src, _ := json.Marshal(map[string]any{"driver": root.Format, "file": map[string]any{"driver": "file", "filename": root.Path}})
		if b := root.Backing; b != nil {
			src, _ = json.Marshal(map[string]any{"driver": root.Format, "file": map[string]any{"driver": "file", "filename": root.Path},
				"backing": map[string]any{"driver": b.Format, "file": map[string]any{"driver": "file", "filename": b.Path}}})
		}
		if err := qemuImg(ctx, "convert", "-q", "-O", "qcow2", "json:"+string(src), out); err != nil {
			return err
		}
	}
	s.setState(ctx, srv.ID, srv.Status, "image_uploading", srv.PowerState, srv.Fault)
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return s.images.Upload(ctx, id, f, fi.Size())
}

func qemuImg(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// virtualSize is the size of the disk a qcow2 file holds (read while a
// VM has it open).
func virtualSize(ctx context.Context, path string) (int64, error) {
	out, err := exec.CommandContext(ctx, "qemu-img", "info", "-U", "--output=json", "-f", "qcow2", path).Output()
	if err != nil {
		return 0, fmt.Errorf("qemu-img info: %w", err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	return info.VirtualSize, json.Unmarshal(out, &info)
}
