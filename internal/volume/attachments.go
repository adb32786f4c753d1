package volume

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// Attachments of volumes to servers. Compute attaches a volume as Nova
// does through Cinder's attachments API, by the methods below: Attach
// reserves the volume for the server and says how the VM opens it,
// Complete records it in use once it is plugged in, Detaching starts (or
// takes back) a detach, and Release ends the attachment. The volume's
// status follows its attachments (settle): available, attaching, in-use,
// detaching, available. A multiattach volume takes more attachments while
// in use, one per server.

// attachment is a row of volume_attachments.
type attachment struct {
	ID, Volume, Server, Status, Device, Mode string
	Connector                                string // JSON
	MadeBy                                   string // compute or api
	Attached                                 int64
}

const attachmentColumns = `id, volume_id, instance_uuid, status, mountpoint, attach_mode, connector, made_by, attached_at`

func scanAttachment(row store.Scanner) (*attachment, error) {
	var a attachment
	return &a, row.Scan(&a.ID, &a.Volume, &a.Server, &a.Status, &a.Device, &a.Mode, &a.Connector, &a.MadeBy, &a.Attached)
}

// Attach reserves volume for server (of project) as attachment id on
// behalf of c, who must be allowed to attach the volume, and returns the
// disk the server's VM opens. The volume must be of the server's project
// and available, or, if it is multiattach and multi allows such volumes
// (Nova's 2.60), in use by other servers.
func (s *Service) Attach(ctx context.Context, c *policy.Credentials, id, volumeID, server, project string, multi bool) (*hypervisor.Disk, error) {
	now := time.Now().UnixMicro()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "volume "+volumeID); err != nil {
			return err
		}
		v, err := s.volumeVisibleTo(ctx, tx, c, volumeID)
		if err != nil {
			return err
		}
		if err := policy.Enforce(c, "volume:attachment_create", policy.Target{ProjectID: v.Project}); err != nil {
			return err
		}
		if v.Project != project {
			return errorf(http.StatusBadRequest, "Invalid volume: volume %s is not of the project of server %s.", v.ID, server)
		}
		if v.Multiattach && !multi {
			return errorf(http.StatusBadRequest, "Multiattach volumes are only supported starting with compute API version 2.60.")
		}
		// A copy in flight reads the file a VM would write.
		if err := notCopied(ctx, tx, v.ID, "attach"); err != nil {
			return err
		}
		if err := attachable(ctx, tx, v, server); err != nil {
			return err
		}
		if err := store.Insert(ctx, tx, "volume_attachments", store.Values{}.Set("id", id).Set("volume_id", v.ID).Set("instance_uuid", server).
			Set("status", "attaching").Set("mountpoint", "").Set("attach_mode", "rw").Set("connector", "{}").Set("made_by", "compute").
			Set("attached_at", 0).Set("created_at", now).Set("updated_at", now)); err != nil {
			return err
		}
		return settle(ctx, tx, v.ID)
	})
	if err != nil {
		return nil, err
	}
	disk, err := s.disk(ctx, volumeID)
	if err != nil {
		s.Release(ctx, id)
		return nil, err
	}
	return disk, nil
}

// Disk is the disk of an attachment, for a VM that starts with the volume.
func (s *Service) Disk(ctx context.Context, id string) (*hypervisor.Disk, error) {
	a, err := scanAttachment(s.db.QueryRow(ctx, `SELECT `+attachmentColumns+` FROM volume_attachments WHERE id = ?`, id))
	if err != nil {
		return nil, store.Row(err)
	}
	return s.disk(ctx, a.Volume)
}

// ImageMetadata is the metadata of the image an attachment's volume was
// made from (none for an empty volume).
func (s *Service) ImageMetadata(ctx context.Context, id string) (map[string]string, error) {
	var text string
	err := s.db.QueryRow(ctx, `SELECT v.image_metadata FROM volume_attachments a JOIN volumes v ON v.id = a.volume_id WHERE a.id = ?`, id).Scan(&text)
	if err != nil {
		return nil, store.Row(err)
	}
	meta := map[string]string{}
	json.Unmarshal([]byte(text), &meta)
	return meta, nil
}

// Complete records an attachment as attached at device and its volume in use.
func (s *Service) Complete(ctx context.Context, id, device string) error {
	now := time.Now().UnixMicro()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := store.Affected(tx.Exec(ctx, `UPDATE volume_attachments SET status = 'attached', mountpoint = ?, attached_at = ?, updated_at = ?
			WHERE id = ? AND status = 'attaching'`, device, now, now, id)); err != nil {
			return err
		}
		return settleOf(ctx, tx, id)
	})
}

// attachable checks that volume v, locked, may be attached to server
// (a multiattach one not twice to the same).
func attachable(ctx context.Context, tx *store.Tx, v *volume, server string) error {
	switch {
	case v.Status == "available":
		return nil
	case !v.Multiattach || v.Status != "in-use" && v.Status != "attaching" && v.Status != "reserved":
		return errorf(http.StatusBadRequest, "Invalid volume: Volume %s status must be available to attach, but the current status is: %s.", v.ID, v.Status)
	}
	if server == "" {
		return nil
	}
	servers, err := store.Column(ctx, tx, `SELECT instance_uuid FROM volume_attachments WHERE volume_id = ?`, v.ID)
	if err != nil {
		return err
	}
	if slices.Contains(servers, server) {
		return errorf(http.StatusBadRequest, "Invalid volume: volume %s is already attached to server %s.", v.ID, server)
	}
	return nil
}

// settle gives a volume the status its attachments make: attaching while
// one is being made, reserved while one waits for its connector,
// detaching while one is being taken apart, in use while one is attached,
// available without any. A volume busy otherwise (being extended, say)
// keeps its status.
func settle(ctx context.Context, tx *store.Tx, id string) error {
	states, err := store.Column(ctx, tx, `SELECT status FROM volume_attachments WHERE volume_id = ?`, id)
	if err != nil {
		return err
	}
	status := "available"
	switch {
	case slices.Contains(states, "attaching"):
		status = "attaching"
	case slices.Contains(states, "reserved"):
		status = "reserved"
	case slices.Contains(states, "detaching"):
		status = "detaching"
	case slices.Contains(states, "attached"):
		status = "in-use"
	}
	_, err = tx.Exec(ctx, `UPDATE volumes SET status = ?, updated_at = ? WHERE id = ? AND status IN ('available', 'reserved', 'attaching', 'in-use', 'detaching')`,
		status, time.Now().UnixMicro(), id)
	return err
}

// settleOf settles the volume of attachment id.
func settleOf(ctx context.Context, tx *store.Tx, id string) error {
	volume, err := store.Column(ctx, tx, `SELECT volume_id FROM volume_attachments WHERE id = ?`, id)
	if err != nil || len(volume) == 0 {
		return err
	}
	return settle(ctx, tx, volume[0])
}

// Detaching starts the detach of an attached volume (begin) or takes it
// back when the VM would not let go of it.
func (s *Service) Detaching(ctx context.Context, id string, begin bool) error {
	from, to := "attached", "detaching"
	if !begin {
		from, to = "detaching", "attached"
	}
	now := time.Now().UnixMicro()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		err := store.Affected(tx.Exec(ctx, `UPDATE volume_attachments SET status = ?, updated_at = ? WHERE id = ? AND status = ?`, to, now, id, from))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusBadRequest, "Invalid volume: the attachment %s is not %s.", id, from)
		}
		if err != nil {
			return err
		}
		// Not while the volume is busy otherwise (being extended).
		status, err := store.Column(ctx, tx, `SELECT status FROM volumes WHERE id = (SELECT volume_id FROM volume_attachments WHERE id = ?)`, id)
		if err != nil {
			return err
		}
		if begin && (len(status) == 0 || !slices.Contains([]string{"in-use", "attaching", "reserved", "detaching"}, status[0])) {
			return errorf(http.StatusBadRequest, "Invalid volume: the volume of attachment %s must be in-use to detach.", id)
		}
		return settleOf(ctx, tx, id)
	})
}

// Release ends an attachment (one that is gone is fine): its volume is
// available again.
func (s *Service) Release(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		a, err := scanAttachment(tx.QueryRow(ctx, `SELECT `+attachmentColumns+` FROM volume_attachments WHERE id = ?`, id))
		if errors.Is(store.Row(err), store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.Lock(ctx, "volume "+a.Volume); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM volume_attachments WHERE id = ?`, id); err != nil {
			return err
		}
		return settle(ctx, tx, a.Volume)
	})
}

// attachmentsOf loads the attachments of vols into them.
func (s *Service) attachmentsOf(ctx context.Context, db store.Querier, vols ...*volume) error {
	if len(vols) == 0 {
		return nil
	}
	byID := map[string]*volume{}
	args := []any{}
	for _, v := range vols {
		byID[v.ID] = v
		args = append(args, v.ID)
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
	rows, err := db.Query(ctx, `SELECT `+attachmentColumns+` FROM volume_attachments WHERE volume_id IN (`+ph+`) ORDER BY created_at`, args...)
	if err != nil {
		return err
	}
	atts, err := store.Collect(rows, scanAttachment)
	if err != nil {
		return err
	}
	for _, a := range atts {
		byID[a.Volume].Attachments = append(byID[a.Volume].Attachments, *a)
	}
	return nil
}

// attachmentsView is a volume's attachments as its view shows them: the
// ones attached.
func attachmentsView(v *volume) []any {
	out := []any{}
	for _, a := range v.Attachments {
		if a.Status != "attached" && a.Status != "detaching" {
			continue
		}
		out = append(out, map[string]any{"id": v.ID, "attachment_id": a.ID, "volume_id": v.ID, "server_id": a.Server,
			"host_name": nil, "device": a.Device, "attached_at": cinderTime(a.Attached)})
	}
	return out
}
