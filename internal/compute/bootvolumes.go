package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
)

// Boot from volume: a create request's block_device_mapping_v2 names
// volumes the server gets at build, made from an image, a snapshot or
// nothing, or existing ones; the one with boot_index 0 is its root disk.

// bdmRequest is one entry of block_device_mapping_v2.
type bdmRequest struct {
	SourceType          string          `json:"source_type"`
	DestinationType     string          `json:"destination_type"`
	UUID                string          `json:"uuid"`
	BootIndex           json.RawMessage `json:"boot_index"`
	VolumeSize          json.RawMessage `json:"volume_size"`
	DeleteOnTermination json.RawMessage `json:"delete_on_termination"`
	DeviceName          string          `json:"device_name"`
	Tag                 string          `json:"tag"`
	VolumeType          string          `json:"volume_type"`
	GuestFormat         string          `json:"guest_format"`
}

// newVolume is a volume a server gets at build.
type newVolume struct {
	Source, UUID string // image, snapshot, volume or blank; the source's id
	Size         int    // GiB; 0: the source's
	Root         bool
	DOT          bool // delete_on_termination
	Device, Tag  string
	// Multiattach says a multiattach volume may be used (the request's
	// microversion is 2.60 or later).
	Multiattach bool
}

func badBDM(format string, a ...any) error {
	return errorf(http.StatusBadRequest, "Block Device Mapping is Invalid: "+format, a...)
}

// intOrString reads a number Nova takes as a JSON number or string (nil
// and "" are none: ok false).
func intOrString(raw json.RawMessage) (n int, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	var v any
	json.Unmarshal(raw, &v)
	switch v := v.(type) {
	case float64:
		return int(v), true, nil
	case string:
		if v == "" || v == "none" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		return n, err == nil, err
	}
	return 0, false, fmt.Errorf("not a number")
}

// readBDMs reads block_device_mapping_v2: the volumes to make or attach,
// and the image the root disk is, when it is a local disk from an image.
func readBDMs(raw json.RawMessage) (vols []newVolume, localImage string, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", nil
	}
	var reqs []bdmRequest
	if err := json.Unmarshal(raw, &reqs); err != nil {
		return nil, "", errorf(http.StatusBadRequest, "Invalid input for field/attribute block_device_mapping_v2.")
	}
	roots := 0
	for _, r := range reqs {
		boot, hasBoot, err := intOrString(r.BootIndex)
		if err != nil {
			return nil, "", badBDM("boot_index must be an integer.")
		}
		root := hasBoot && boot == 0
		if root {
			roots++
		}
		size, hasSize, err := intOrString(r.VolumeSize)
		if err != nil || hasSize && (size < 1 || size > 1<<20) {
			return nil, "", badBDM("volume_size must be a positive integer.")
		}
		var dot bool
		if len(r.DeleteOnTermination) > 0 && string(r.DeleteOnTermination) != "null" {
			var v any
			json.Unmarshal(r.DeleteOnTermination, &v)
			switch v := v.(type) {
			case bool:
				dot = v
			case string:
				b, ok := httpapi.ParseBool(v)
				if !ok {
					return nil, "", badBDM("delete_on_termination must be a boolean.")
				}
				dot = b
			default:
				return nil, "", badBDM("delete_on_termination must be a boolean.")
			}
		}
		if r.SourceType != "blank" && !uuidRE.MatchString(r.UUID) {
			return nil, "", badBDM("a %s source needs its uuid.", r.SourceType)
		}
		if r.VolumeType != "" || r.GuestFormat != "" {
			return nil, "", errorf(http.StatusNotImplemented, "Volume types and guest formats in block device mappings are not implemented yet.")
		}
		switch {
		case r.DestinationType == "local" && r.SourceType == "image" && root:
			localImage = r.UUID
		case r.DestinationType == "local" && r.SourceType == "blank":
			return nil, "", errorf(http.StatusNotImplemented, "Ephemeral and swap disks are not implemented yet.")
		case r.DestinationType == "volume" && (r.SourceType == "image" || r.SourceType == "snapshot" || r.SourceType == "volume" || r.SourceType == "blank"):
			if (r.SourceType == "image" || r.SourceType == "blank") && !hasSize {
				return nil, "", badBDM("a volume made from a %s needs volume_size.", r.SourceType)
			}
			if r.DeviceName != "" && !deviceRE.MatchString(r.DeviceName) {
				return nil, "", errorf(http.StatusBadRequest, "The supplied device path (%s) is invalid.", r.DeviceName)
			}
			vols = append(vols, newVolume{Source: r.SourceType, UUID: r.UUID, Size: size, Root: root, DOT: dot, Device: r.DeviceName, Tag: r.Tag})
		default:
			return nil, "", badBDM("source %q with destination %q is not a mapping sov knows.", r.SourceType, r.DestinationType)
		}
	}
	if roots > 1 {
		return nil, "", badBDM("Boot sequence for the instance and image/block device mapping combination is not valid.")
	}
	if len(vols) > 16 {
		return nil, "", errorf(http.StatusForbidden, "The maximum allowed number of disk devices (17) to attach to a single instance has been exceeded.")
	}
	return vols, localImage, nil
}

// rootVolume is the volume a server boots from, if it does.
func (srv *server) rootVolume() *serverVolume {
	for i := range srv.Volumes {
		if srv.Volumes[i].Root {
			return &srv.Volumes[i]
		}
	}
	return nil
}

// checkBDMs checks, at create, that the volumes and images a request names
// are the caller's to use (and the volumes available, or in use if they
// are multiattach, from 2.60).
func (s *Service) checkBDMs(ctx context.Context, q *request, vols []newVolume) error {
	for i := range vols {
		vols[i].Multiattach = q.atLeast(60)
	}
	for _, v := range vols {
		switch v.Source {
		case "volume":
			status, _, err := s.volumes.Status(ctx, q.creds, v.UUID)
			if err != nil {
				return badBDM("failed to get volume %s.", v.UUID)
			}
			multi, err := s.volumes.Multiattach(ctx, q.creds, v.UUID)
			if err != nil {
				return err
			}
			if multi && !q.atLeast(60) {
				return errorf(http.StatusBadRequest, "Multiattach volumes are only supported starting with compute API version 2.60.")
			}
			if status != "available" && !(multi && status == "in-use") {
				return badBDM("volume %s is %s, not available.", v.UUID, status)
			}
		case "image":
			if _, err := s.images.ForBoot(ctx, q.creds, v.UUID); err != nil {
				return badBDM("failed to get image %s.", v.UUID)
			}
		}
	}
	return nil
}

// buildVolumes makes and attaches the volumes a server gets at build, on
// behalf of its creator, recording each in the server first (so a deleted
// server lets them go, and deletes those with delete_on_termination).
func (s *Service) buildVolumes(ctx context.Context, c *policy.Credentials, srv *server, vols []newVolume) error {
	for _, nv := range vols {
		bdm := serverVolume{VolumeID: nv.UUID, Attachment: uuid.NewString(), BDM: uuid.NewString(), Device: nv.Device, Tag: nv.Tag,
			DeleteOnTermination: nv.DOT, Root: nv.Root, State: "attaching"}
		if nv.Root {
			bdm.Device = "/dev/vda"
		} else if bdm.Device == "" || slices.ContainsFunc(srv.Volumes, func(v serverVolume) bool { return v.Device == bdm.Device }) {
			bdm.Device = nextDevice(srv)
		}
		if nv.Source != "volume" {
			image, snapshot := "", ""
			switch nv.Source {
			case "image":
				image = nv.UUID
			case "snapshot":
				snapshot = nv.UUID
			}
			id, err := s.volumes.CreateFor(ctx, c, srv.Name+"-"+nv.Source, nv.Size, image, snapshot)
			if err != nil {
				return faultf(err, "A volume of the server could not be created: %v", err)
			}
			bdm.VolumeID = id
		}
		srv.Volumes = append(srv.Volumes, bdm)
		if err := s.setVolumes(ctx, srv.ID, srv.Volumes); err != nil {
			return err
		}
		if err := s.waitAvailable(ctx, c, bdm.VolumeID); err != nil {
			return err
		}
		if _, err := s.volumes.Attach(ctx, c, bdm.Attachment, bdm.VolumeID, srv.ID, srv.ProjectID, nv.Multiattach); err != nil {
			return faultf(err, "Volume %s could not be attached: %v", bdm.VolumeID, err)
		}
		if err := s.volumes.Complete(ctx, bdm.Attachment, bdm.Device); err != nil {
			return err
		}
		if err := s.setVolumeState(ctx, srv, bdm.VolumeID, "attached"); err != nil {
			return err
		}
	}
	return nil
}

// waitAvailable waits for a volume being made to be available (a
// multiattach one in use is fine: it takes more servers).
func (s *Service) waitAvailable(ctx context.Context, c *policy.Credentials, id string) error {
	for end := time.Now().Add(time.Hour); ; time.Sleep(100 * time.Millisecond) {
		status, _, err := s.volumes.Status(ctx, c, id)
		if err != nil {
			return err
		}
		if status == "in-use" {
			// A multiattach volume takes more servers.
			if multi, err := s.volumes.Multiattach(ctx, c, id); err != nil || multi {
				return err
			}
		}
		switch status {
		case "available":
			return nil
		case "creating", "downloading":
		default:
			return faultf(fmt.Errorf("status %s", status), "Volume %s is %s, not available", id, status)
		}
		if time.Now().After(end) {
			return faultf(fmt.Errorf("status %s", status), "Volume %s did not become available within an hour", id)
		}
	}
}
