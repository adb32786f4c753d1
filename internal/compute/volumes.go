package compute

import (
	"context"
	"net/http"
	"regexp"
	"slices"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/policy"
)

// os-volume_attachments: block storage volumes attached to a server,
// plugged into its running VM (PCIe hot-plug) or, for a stopped server,
// at its next start. Compute attaches through the volume service as Nova
// does through Cinder's attachments.

// Volumes is what compute needs of the block storage service.
type Volumes interface {
	// Attach reserves a volume for a server of project as attachment id,
	// on behalf of c, and returns the disk its VM opens; a multiattach
	// volume only if multi (the request's microversion is 2.60 or later).
	Attach(ctx context.Context, c *policy.Credentials, id, volume, server, project string, multi bool) (*hypervisor.Disk, error)
	// Disk is the disk of an attachment, for a VM that starts with it.
	Disk(ctx context.Context, id string) (*hypervisor.Disk, error)
	// Complete records the attachment as attached at device.
	Complete(ctx context.Context, id, device string) error
	// Detaching starts a detach (begin) or takes it back.
	Detaching(ctx context.Context, id string, begin bool) error
	// Release ends an attachment; one that is gone is fine.
	Release(ctx context.Context, id string) error
	// Delete deletes an available volume.
	Delete(ctx context.Context, volume string) error
	// CreateFor creates a volume of size GiB (0: the source's) from an
	// image, a snapshot or nothing on behalf of c, and returns its id.
	CreateFor(ctx context.Context, c *policy.Credentials, name string, size int, imageID, snapshotID string) (string, error)
	// Multiattach reports whether a volume c may see takes several servers.
	Multiattach(ctx context.Context, c *policy.Credentials, volume string) (bool, error)
	// Status is the status of a volume c may see, and its image's metadata.
	Status(ctx context.Context, c *policy.Credentials, volume string) (string, map[string]string, error)
	// SnapshotFor snapshots a volume on behalf of c (in use too) as name
	// and returns the snapshot's id; SnapshotStatus is a snapshot's
	// status, DeleteSnapshotFor deletes one.
	SnapshotFor(ctx context.Context, c *policy.Credentials, volume, name string) (string, error)
	SnapshotStatus(ctx context.Context, c *policy.Credentials, id string) (string, error)
	DeleteSnapshotFor(ctx context.Context, c *policy.Credentials, id string) error
	// Reimage replaces a volume's data by an image's on behalf of c (a
	// rebuild of a volume-backed server).
	// The volume may be attached to no other server than server.
	Reimage(ctx context.Context, c *policy.Credentials, volume, image, server string) error
	// ImageMetadata is the metadata of the image an attachment's volume was
	// made from (a boot volume's kernel, ramdisk and command line).
	ImageMetadata(ctx context.Context, id string) (map[string]string, error)
}

// serverVolume is a volume attached to a server: Nova's block device mapping.
type serverVolume struct {
	VolumeID            string `json:"volume_id"`
	Attachment          string `json:"attachment_id"`
	BDM                 string `json:"bdm_uuid"`
	Device              string `json:"device"`
	Tag                 string `json:"tag,omitempty"`
	DeleteOnTermination bool   `json:"delete_on_termination"`
	// Root is the volume the server boots from (boot_index 0).
	Root bool `json:"root,omitempty"`
	// State is attaching, attached or detaching: how far an attach or a
	// detach got (a restart of sov settles the first and the last).
	State string `json:"state"`
}

// setVolumes records a server's volumes.
func (s *Service) setVolumes(ctx context.Context, id string, vols []serverVolume) error {
	_, err := s.db.Exec(ctx, `UPDATE servers SET volumes = ? WHERE id = ?`, jsonString(vols), id)
	return err
}

// volumeAttachmentView is an attached volume as the microversion shows it.
func volumeAttachmentView(q *request, srv *server, v serverVolume) map[string]any {
	m := map[string]any{"device": v.Device, "serverId": srv.ID, "volumeId": v.VolumeID}
	if !q.atLeast(89) {
		m["id"] = v.VolumeID
	} else {
		m["attachment_id"], m["bdm_uuid"] = v.Attachment, v.BDM
	}
	if q.atLeast(70) {
		m["tag"] = nullable(v.Tag)
	}
	if q.atLeast(79) {
		m["delete_on_termination"] = v.DeleteOnTermination
	}
	return m
}

func (s *Service) listVolumeAttachments(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:os-volumes-attachments:index", srv.ProjectID); err != nil {
		return err
	}
	out := []map[string]any{}
	for _, v := range srv.Volumes {
		out = append(out, volumeAttachmentView(q, srv, v))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volumeAttachments": out})
	return nil
}

func (s *Service) showVolumeAttachment(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:os-volumes-attachments:show", srv.ProjectID); err != nil {
		return err
	}
	for _, v := range srv.Volumes {
		if v.VolumeID == q.r.PathValue("volume_id") {
			httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volumeAttachment": volumeAttachmentView(q, srv, v)})
			return nil
		}
	}
	return errorf(http.StatusNotFound, "Volume %s is not attached to the instance %s.", q.r.PathValue("volume_id"), srv.ID)
}

var (
	uuidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)
	deviceRE = regexp.MustCompile(`^/dev/[a-z]{1,3}d[a-z]{1,2}$`)
)

// nextDevice is the name the next volume of a server gets: after its root
// disk and config drive, the first vdX no volume has.
func nextDevice(srv *server) string {
	used := map[string]bool{"/dev/vda": true, "/dev/vdb": srv.ConfigDrive}
	for _, v := range srv.Volumes {
		used[v.Device] = true
	}
	for c := 'b'; ; c++ {
		if d := "/dev/vd" + string(c); !used[d] {
			return d
		}
	}
}

func (s *Service) attachVolume(q *request) error {
	var body struct {
		Attachment *struct {
			VolumeID            string  `json:"volumeId"`
			Device              *string `json:"device"`
			Tag                 *string `json:"tag"`
			DeleteOnTermination *bool   `json:"delete_on_termination"`
		} `json:"volumeAttachment"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	b := body.Attachment
	switch {
	case b == nil:
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute volumeAttachment: 'volumeAttachment' is a required property.")
	case !uuidRE.MatchString(b.VolumeID):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute volumeId. Value: %s. '%s' is not a 'uuid'", b.VolumeID, b.VolumeID)
	case b.Tag != nil && !q.atLeast(49):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('tag' was unexpected)")
	case b.Tag != nil && (len(*b.Tag) > 60 || *b.Tag == ""):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute tag: 1 to 60 characters.")
	case b.DeleteOnTermination != nil && !q.atLeast(79):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('delete_on_termination' was unexpected)")
	case b.Device != nil && *b.Device != "" && !deviceRE.MatchString(*b.Device):
		return errorf(http.StatusBadRequest, "The supplied device path (%s) is invalid.", *b.Device)
	}
	srv, unlock, err := s.interfaceServer(q, "os_compute_api:os-volumes-attachments:create", "attach_volume")
	if err != nil {
		return err
	}
	defer unlock()
	if slices.ContainsFunc(srv.Volumes, func(v serverVolume) bool { return v.VolumeID == b.VolumeID }) {
		return errorf(http.StatusBadRequest, "Invalid volume: volume %s is already attached to the instance %s.", b.VolumeID, srv.ID)
	}
	if len(srv.Volumes) >= hypervisor.MaxVolumes {
		return errorf(http.StatusForbidden, "The maximum allowed number of disk devices (%d) to attach to a single instance has been exceeded.", hypervisor.MaxVolumes+1)
	}
	bdm := serverVolume{VolumeID: b.VolumeID, Attachment: uuid.NewString(), BDM: uuid.NewString(), Device: nextDevice(srv), State: "attaching"}
	if b.Device != nil && *b.Device != "" {
		if slices.ContainsFunc(srv.Volumes, func(v serverVolume) bool { return v.Device == *b.Device }) || *b.Device == "/dev/vda" {
			return errorf(http.StatusBadRequest, "The supplied device path (%s) is in use.", *b.Device)
		}
		bdm.Device = *b.Device
	}
	if b.Tag != nil {
		bdm.Tag = *b.Tag
	}
	if b.DeleteOnTermination != nil {
		bdm.DeleteOnTermination = *b.DeleteOnTermination
	}
	ctx := q.r.Context()
	// The server names the attachment first, so a crash leaves no
	// attachment it does not name (Recover settles it).
	if err := s.setVolumes(ctx, srv.ID, append(slices.Clone(srv.Volumes), bdm)); err != nil {
		return err
	}
	undo := func(err error) error {
		s.volumes.Release(ctx, bdm.Attachment)
		s.setVolumes(ctx, srv.ID, srv.Volumes)
		return err
	}
	disk, err := s.volumes.Attach(ctx, q.creds, bdm.Attachment, bdm.VolumeID, srv.ID, srv.ProjectID, q.atLeast(60))
	if err != nil {
		return undo(err)
	}
	if running, _ := s.driver.Running(srv.ID); running {
		if err := s.driver.AttachVolume(srv.ID, hypervisor.Volume{Serial: bdm.VolumeID, Disk: disk}); err != nil {
			s.log.Error("hot-plugging a volume", "server", srv.ID, "volume", bdm.VolumeID, "err", err)
			return undo(faultf(err, "Failed to attach volume %s to instance %s", bdm.VolumeID, srv.ID))
		}
	}
	if err := s.volumes.Complete(ctx, bdm.Attachment, bdm.Device); err != nil {
		s.driver.DetachVolume(srv.ID, bdm.VolumeID)
		return undo(err)
	}
	bdm.State = "attached"
	if err := s.setVolumes(ctx, srv.ID, append(slices.Clone(srv.Volumes), bdm)); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volumeAttachment": volumeAttachmentView(q, srv, bdm)})
	return nil
}

// swapVolume is Nova's volume update (swap), which sov does not have.
func (s *Service) swapVolume(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:os-volumes-attachments:update", srv.ProjectID); err != nil {
		return err
	}
	return errorf(http.StatusNotImplemented, "Swapping a server's volume is not implemented yet.")
}

func (s *Service) detachVolume(q *request) error {
	srv, unlock, err := s.interfaceServer(q, "os_compute_api:os-volumes-attachments:delete", "detach_volume")
	if err != nil {
		return err
	}
	defer unlock()
	volumeID := q.r.PathValue("volume_id")
	i := slices.IndexFunc(srv.Volumes, func(v serverVolume) bool { return v.VolumeID == volumeID })
	if i < 0 {
		return errorf(http.StatusNotFound, "Volume %s is not attached to the instance %s.", volumeID, srv.ID)
	}
	v := srv.Volumes[i]
	if v.Root {
		return errorf(http.StatusBadRequest, "Cannot detach a root device volume")
	}
	if v.State != "attached" {
		return errorf(http.StatusConflict, "Cannot detach volume %s from instance %s while it is %s.", v.VolumeID, srv.ID, v.State)
	}
	// As in Nova, the detach is accepted and finishes in the background:
	// the guest takes its time to let go of the disk.
	ctx := q.r.Context()
	if err := s.beginDetach(ctx, srv, v); err != nil {
		return err
	}
	s.ops.Go(s.record(q, srv, "detach_volume"), "compute_detach_volume", func(ctx context.Context) error {
		srv, err := s.loadServer(ctx, srv.ID)
		if err != nil {
			return err
		}
		return s.finishDetach(ctx, srv, v)
	}, nil)
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// detach takes a volume from a server: out of its running VM, then the
// attachment ends. The caller holds the server's lock.
func (s *Service) detach(ctx context.Context, srv *server, v serverVolume) error {
	if err := s.beginDetach(ctx, srv, v); err != nil {
		return err
	}
	return s.finishDetach(ctx, srv, v)
}

// beginDetach records a volume of a server as detaching, on both sides.
func (s *Service) beginDetach(ctx context.Context, srv *server, v serverVolume) error {
	if v.State == "attached" {
		if err := s.volumes.Detaching(ctx, v.Attachment, true); err != nil {
			return err
		}
	}
	return s.setVolumeState(ctx, srv, v.VolumeID, "detaching")
}

// finishDetach unplugs a detaching volume from the server's running VM
// (or its saved spec) and ends the attachment; when the guest does not
// let go of the disk, the volume is attached again, as before.
func (s *Service) finishDetach(ctx context.Context, srv *server, v serverVolume) error {
	if running, _ := s.driver.Running(srv.ID); running {
		if err := s.driver.DetachVolume(srv.ID, v.VolumeID); err != nil {
			s.log.Error("unplugging a volume", "server", srv.ID, "volume", v.VolumeID, "err", err)
			s.volumes.Detaching(ctx, v.Attachment, false)
			s.setVolumeState(ctx, srv, v.VolumeID, "attached")
			return faultf(err, "Failed to detach volume %s from instance %s: the guest did not let go of it.", v.VolumeID, srv.ID)
		}
	} else if err := s.driver.DetachVolume(srv.ID, v.VolumeID); err != nil { // from the saved spec
		s.log.Error("removing a volume from a stopped VM", "server", srv.ID, "volume", v.VolumeID, "err", err)
	}
	if err := s.volumes.Release(ctx, v.Attachment); err != nil {
		return err
	}
	srv.Volumes = slices.DeleteFunc(slices.Clone(srv.Volumes), func(o serverVolume) bool { return o.VolumeID == v.VolumeID })
	return s.setVolumes(ctx, srv.ID, srv.Volumes)
}

// setVolumeState records the state of one of a server's volumes.
func (s *Service) setVolumeState(ctx context.Context, srv *server, volumeID, state string) error {
	vols := slices.Clone(srv.Volumes)
	for i := range vols {
		if vols[i].VolumeID == volumeID {
			vols[i].State = state
		}
	}
	if err := s.setVolumes(ctx, srv.ID, vols); err != nil {
		return err
	}
	srv.Volumes = vols
	return nil
}

// volumeDisks are the volumes a server's VM starts with: those attached.
func (s *Service) volumeDisks(ctx context.Context, srv *server) ([]hypervisor.Volume, error) {
	var out []hypervisor.Volume
	for _, v := range srv.Volumes {
		if v.State != "attached" || v.Root {
			continue
		}
		disk, err := s.volumes.Disk(ctx, v.Attachment)
		if err != nil {
			return nil, faultf(err, "Volume %s could not be attached", v.VolumeID)
		}
		out = append(out, hypervisor.Volume{Serial: v.VolumeID, Disk: disk})
	}
	return out, nil
}

// settleVolumes finishes what a stop of sov interrupted: an attach that
// did not complete is undone, a detach that did not is finished.
func (s *Service) settleVolumes(ctx context.Context, srv *server) {
	for _, v := range slices.Clone(srv.Volumes) {
		if v.State == "attached" {
			continue
		}
		if err := s.detach(ctx, srv, v); err != nil {
			s.log.Error("settling a volume attachment", "server", srv.ID, "volume", v.VolumeID, "err", err)
		}
	}
}

// releaseVolumes ends the attachments of a server whose VM is gone and
// deletes the volumes that go with it.
func (s *Service) releaseVolumes(ctx context.Context, srv *server) {
	for _, v := range srv.Volumes {
		if err := s.volumes.Release(ctx, v.Attachment); err != nil {
			s.log.Error("releasing a volume of a deleted server", "server", srv.ID, "volume", v.VolumeID, "err", err)
			continue
		}
		if v.DeleteOnTermination {
			if err := s.volumes.Delete(ctx, v.VolumeID); err != nil {
				s.log.Error("deleting a volume with its server", "server", srv.ID, "volume", v.VolumeID, "err", err)
			}
		}
	}
}

// ResizeAttached grows a volume attached to server: in its running VM
// (QEMU grows the image and the guest sees the new size), or with offline
// while the server is locked, so its VM cannot start meanwhile.
func (s *Service) ResizeAttached(ctx context.Context, server, volume string, size int64, offline func(context.Context) error) error {
	defer s.ops.Lock(server)()
	if running, _ := s.driver.Running(server); running {
		return s.driver.ResizeVolume(server, volume, size)
	}
	return offline(ctx)
}

// SnapshotAttached snapshots a volume attached to server: live gets the
// copy QEMU makes while the guest runs, or, when the VM does not run,
// offline runs while the server is locked.
func (s *Service) SnapshotAttached(ctx context.Context, server, volume string, live func(copy func(*hypervisor.Disk) error) error, offline func(context.Context) error) error {
	defer s.ops.Lock(server)()
	if running, _ := s.driver.Running(server); running {
		return live(func(target *hypervisor.Disk) error { return s.driver.CopyVolume(server, volume, target) })
	}
	return offline(ctx)
}
