package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/image"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/policy"
)

// Images of volume-backed servers, as Nova makes them: each volume of the
// server is snapshotted in the volume service (in use: its VM copies it),
// and the image holds no data (zero bytes, raw, as Nova has Glance take
// it) but the mapping of those snapshots in its properties
// block_device_mapping (JSON, Nova's image mappings), bdm_v2 and
// root_device_name. A server created from such an image boots from
// volumes made of the snapshots (imageMapping). Deleting the image
// leaves the snapshots, as in Nova.

// imageMapping is one volume of an image's block_device_mapping.
type imageMapping struct {
	SourceType          string `json:"source_type"`
	DestinationType     string `json:"destination_type"`
	SnapshotID          string `json:"snapshot_id,omitempty"`
	VolumeID            string `json:"volume_id,omitempty"`
	ImageID             string `json:"image_id,omitempty"`
	VolumeSize          *int   `json:"volume_size,omitempty"`
	BootIndex           *int   `json:"boot_index"`
	DeviceName          string `json:"device_name,omitempty"`
	DeleteOnTermination bool   `json:"delete_on_termination"`
	Tag                 string `json:"tag,omitempty"`
}

// createVolumeImage makes the image of volume-backed server srv: the
// snapshots are taken at once (their data copied in the background), the
// image is active once all of them are available; if one fails, the
// image and the snapshots go.
func (s *Service) createVolumeImage(q *request, srv *server, name string, meta map[string]string) error {
	ctx := q.r.Context()
	props := map[string]string{}
	if _, boot, err := s.volumes.Status(ctx, q.creds, srv.rootVolume().VolumeID); err == nil {
		for k, v := range boot {
			if bootProperty(k) {
				props[k] = v
			}
		}
	}
	for k, v := range meta {
		props[k] = v
	}
	var mapping []imageMapping
	var snaps []string
	creds := q.creds
	// undo deletes the snapshots taken, in the background: each once it
	// is no longer being copied.
	undo := func() {
		if len(snaps) == 0 {
			return
		}
		s.ops.Go(ops.Action{ResourceID: "image snapshots " + snaps[0]}, "", func(ctx context.Context) error {
			for _, id := range snaps {
				s.waitSnapshot(ctx, creds, id)
				if err := s.volumes.DeleteSnapshotFor(ctx, creds, id); err != nil {
					s.log.Error("server image: deleting a snapshot", "snapshot", id, "err", err)
				}
			}
			return nil
		}, nil)
	}
	for _, v := range srv.Volumes {
		if v.State != "attached" {
			continue
		}
		id, err := s.volumes.SnapshotFor(ctx, q.creds, v.VolumeID, "snapshot for "+name)
		if err != nil {
			undo()
			return err
		}
		snaps = append(snaps, id)
		m := imageMapping{SourceType: "snapshot", DestinationType: "volume", SnapshotID: id, DeviceName: v.Device,
			DeleteOnTermination: v.DeleteOnTermination, Tag: v.Tag}
		if v.Root {
			m.BootIndex = new(0)
		}
		mapping = append(mapping, m)
	}
	b, _ := json.Marshal(mapping)
	props["block_device_mapping"], props["bdm_v2"], props["root_device_name"] = string(b), "True", "/dev/vda"
	props["image_type"], props["instance_uuid"], props["user_id"] = "snapshot", srv.ID, q.creds.UserID
	n := image.NewImage{ID: uuid.NewString(), Name: name, DiskFormat: "raw", ContainerFormat: "bare", Properties: props}
	if err := s.images.Create(ctx, q.creds, n); err != nil {
		undo()
		return err
	}
	if err := s.setState(ctx, srv.ID, srv.Status, "image_snapshot", srv.PowerState, srv.Fault); err != nil {
		s.images.Discard(ctx, n.ID)
		undo()
		return err
	}
	// Not under the server's lock: the VM copies its volumes under it.
	a := s.record(q, srv, "createImage")
	a.ResourceID = "image " + n.ID
	s.ops.Go(a, "compute_snapshot_instance", func(ctx context.Context) error {
		for _, id := range snaps {
			if err := s.waitSnapshot(ctx, creds, id); err != nil {
				return err
			}
		}
		return s.images.Upload(ctx, n.ID, bytes.NewReader(nil), 0)
	}, func(ctx context.Context, err error) {
		if err != nil {
			s.log.Error("server image failed", "server", srv.ID, "image", n.ID, "err", err)
			if derr := s.images.Discard(ctx, n.ID); derr != nil {
				s.log.Error("discarding a failed server image", "image", n.ID, "err", derr)
			}
			undo()
		}
		if _, err := s.db.Exec(ctx, `UPDATE servers SET task_state = '' WHERE id = ? AND task_state LIKE 'image_%'`, srv.ID); err != nil {
			s.log.Error("server image: task state", "server", srv.ID, "err", err)
		}
	})
	s.imageAccepted(q, n.ID)
	return nil
}

// waitSnapshot waits until a snapshot is available (an hour at most).
func (s *Service) waitSnapshot(ctx context.Context, c *policy.Credentials, id string) error {
	for end := time.Now().Add(time.Hour); ; time.Sleep(100 * time.Millisecond) {
		status, err := s.volumes.SnapshotStatus(ctx, c, id)
		switch {
		case err != nil:
			return err
		case status == "available":
			return nil
		case status != "creating":
			return fmt.Errorf("compute: snapshot %s is %s", id, status)
		case time.Now().After(end):
			return fmt.Errorf("compute: snapshot %s is not available after an hour", id)
		}
	}
}

// imageMappingOf reads the block_device_mapping of an image of a
// volume-backed server as block_device_mapping_v2 would give it: the
// volumes a server made from the image gets (false for another image).
func imageMappingOf(img *image.BootImage) ([]newVolume, bool, error) {
	raw, ok := img.Properties["block_device_mapping"]
	if !ok || !strings.EqualFold(img.Properties["bdm_v2"], "true") {
		return nil, false, nil
	}
	var maps []imageMapping
	if err := json.Unmarshal([]byte(raw), &maps); err != nil {
		return nil, false, badBDM("the image's block_device_mapping is not a list of mappings.")
	}
	var reqs []bdmRequest
	for _, m := range maps {
		r := bdmRequest{SourceType: m.SourceType, DestinationType: m.DestinationType, DeviceName: m.DeviceName, Tag: m.Tag}
		r.UUID = m.SnapshotID + m.VolumeID + m.ImageID // the one its source names
		if m.BootIndex != nil {
			r.BootIndex, _ = json.Marshal(*m.BootIndex)
		}
		if m.VolumeSize != nil {
			r.VolumeSize, _ = json.Marshal(*m.VolumeSize)
		}
		r.DeleteOnTermination, _ = json.Marshal(m.DeleteOnTermination)
		reqs = append(reqs, r)
	}
	b, _ := json.Marshal(reqs)
	vols, local, err := readBDMs(b)
	if err != nil {
		return nil, false, err
	}
	if local != "" || !slices.ContainsFunc(vols, func(v newVolume) bool { return v.Root }) {
		return nil, false, badBDM("the image's block_device_mapping has no volume to boot from.")
	}
	return vols, true, nil
}
