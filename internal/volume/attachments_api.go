package volume

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Cinder's attachments API (microversion 3.27; os-complete 3.44, mode
// 3.54): a client reserves a volume for an instance, gives its connector
// (attaching) and completes the attach (in-use); deleting the attachment
// lets the volume go. These attachments are records for the client: sov
// plugs only the ones compute makes, and those are detached through
// compute (a delete here would leave the disk in the VM).

// attachmentTable is volume_attachments with their volume's project.
const attachmentTable = `(SELECT a.*, v.project_id FROM volume_attachments a JOIN volumes v ON v.id = a.volume_id) a`

var attachmentList = &httpapi.ListSpec{
	Columns: map[string]httpapi.Column{
		"volume_id": {SQL: "a.volume_id", Filter: true}, "instance_id": {SQL: "a.instance_uuid", Filter: true},
		"status": {SQL: "a.status", Filter: true}, "attach_status": {SQL: "a.status", Filter: true},
		"id": {SQL: "a.id", Sort: true}, "created_at": {SQL: "a.created_at", Sort: true},
	},
	DefaultSort: []httpapi.Sort{{Key: "created_at", Desc: true}},
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// newAttachments guards the attachments API by its microversion: before
// 3.27 it is not there, as in Cinder.
func newAttachments(h handler) handler {
	return func(q *request) error {
		if !q.atLeast(27) {
			return errorf(http.StatusNotFound, "The attachments API needs microversion 3.27 or later.")
		}
		return h(q)
	}
}

func attachmentSummary(a *attachment) map[string]any {
	return map[string]any{"id": a.ID, "status": a.Status, "instance": nullable(a.Server), "volume_id": a.Volume}
}

// attachmentDetail is the detailed view; connection is the connection
// info of a create or update with a connector (nil otherwise).
func attachmentDetail(a *attachment, connection map[string]any) map[string]any {
	m := attachmentSummary(a)
	m["attached_at"], m["detached_at"], m["attach_mode"], m["connection_info"] = "", "", a.Mode, connection
	if a.Attached != 0 {
		m["attached_at"] = cinderTime(a.Attached)
	}
	return m
}

// visibleAttachment is an attachment of a volume the caller may see.
func (s *Service) visibleAttachment(ctx context.Context, db store.Querier, q *request, id string) (*attachment, *volume, error) {
	a, err := scanAttachment(db.QueryRow(ctx, `SELECT `+attachmentColumns+` FROM volume_attachments WHERE id = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, nil, errorf(http.StatusNotFound, "VolumeAttachment %s could not be found.", id)
	}
	if err != nil {
		return nil, nil, err
	}
	v, err := s.visibleVolume(ctx, db, q, a.Volume)
	if err != nil {
		return nil, nil, errorf(http.StatusNotFound, "VolumeAttachment %s could not be found.", id)
	}
	return a, v, nil
}

func (s *Service) listAttachments(detail bool) handler {
	return newAttachments(func(q *request) error {
		if err := q.enforce("volume:attachment_get_all", q.creds.ProjectID); err != nil {
			return err
		}
		if err := listParams(q.r, "volume_id", "instance_id", "status", "attach_status"); err != nil {
			return err
		}
		lq, err := httpapi.ParseList(q.r, attachmentList)
		if err != nil {
			return err
		}
		scope, args, err := listScope(q, "a.project_id")
		if err != nil {
			return err
		}
		rows, err := lq.Query(q.r.Context(), s.db, attachmentTable, "a."+strings.ReplaceAll(attachmentColumns, ", ", ", a."), scope, args...)
		if err != nil {
			return err
		}
		atts, err := store.Collect(rows, scanAttachment)
		if err != nil {
			return err
		}
		atts, more := httpapi.More(lq, atts)
		out := []map[string]any{}
		for _, a := range atts {
			if detail {
				out = append(out, attachmentDetail(a, nil))
			} else {
				out = append(out, attachmentSummary(a))
			}
		}
		body := map[string]any{"attachments": out}
		if more {
			body["attachments_links"] = lq.Links(q.r, strings.TrimSuffix(s.url, "/volume"), more, atts[len(atts)-1].ID)
		}
		httpapi.WriteJSON(q.w, http.StatusOK, body)
		return nil
	})
}

func (s *Service) showAttachment(q *request) error {
	a, v, err := s.visibleAttachment(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("volume:attachment_get", v.Project); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"attachment": attachmentDetail(a, nil)})
	return nil
}

// attachmentBody is what create and update read.
type attachmentBody struct {
	Attachment *struct {
		VolumeUUID   *string         `json:"volume_uuid"`
		InstanceUUID *string         `json:"instance_uuid"`
		Connector    json.RawMessage `json:"connector"`
		Mode         *string         `json:"mode"`
	} `json:"attachment"`
}

// connector reads a connector: an object, or nothing (null).
func connector(raw json.RawMessage) (string, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", false, nil
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", false, errorf(http.StatusBadRequest, "Invalid input for field/attribute connector: an object or null.")
	}
	if len(raw) > 8<<10 {
		return "", false, errorf(http.StatusBadRequest, "Invalid input for field/attribute connector: at most 8 KiB.")
	}
	return string(raw), true, nil
}

// connectionInfo is what a client learns of how to reach the volume: its
// format and mode (the file's place on the host is sov's own business),
// whether it is encrypted, and its front-end QoS specs, as Cinder gives them.
func (s *Service) connectionInfo(ctx context.Context, a *attachment) (map[string]any, error) {
	disk, err := s.driver.Disk(ctx, a.Volume)
	if err != nil {
		return nil, err
	}
	var keyID, typeID string
	var size int
	if err := s.db.QueryRow(ctx, `SELECT encryption_key_id, volume_type_id, size FROM volumes WHERE id = ?`, a.Volume).Scan(&keyID, &typeID, &size); err != nil {
		return nil, store.Row(err)
	}
	_, specs, err := volumeThrottle(ctx, s.db, typeID, size)
	if err != nil {
		return nil, err
	}
	return map[string]any{"driver_volume_type": "file", "format": disk.Format, "access_mode": a.Mode, "attachment_id": a.ID,
		"volume_id": a.Volume, "enforce_multipath": false, "encrypted": keyID != "", "qos_specs": specs}, nil
}

func (s *Service) createAttachment(q *request) error {
	var b attachmentBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	ab := b.Attachment
	switch {
	case ab == nil:
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute attachment: 'attachment' is a required property.")
	case ab.VolumeUUID == nil || !uuidRE.MatchString(*ab.VolumeUUID):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute volume_uuid: a uuid is required.")
	case ab.InstanceUUID != nil && !uuidRE.MatchString(*ab.InstanceUUID):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute instance_uuid: not a uuid.")
	case ab.Mode != nil && !q.atLeast(54):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute attachment. Additional properties are not allowed ('mode' was unexpected)")
	case ab.Mode != nil && *ab.Mode != "rw" && *ab.Mode != "ro":
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute mode: 'rw' or 'ro'.")
	}
	conn, connected, err := connector(ab.Connector)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	now := time.Now().UnixMicro()
	a := &attachment{ID: uuid.NewString(), Volume: *ab.VolumeUUID, Server: deref(ab.InstanceUUID), Status: "reserved", Mode: "rw", Connector: conn, MadeBy: "api"}
	if ab.Mode != nil {
		a.Mode = *ab.Mode
	}
	if connected {
		a.Status = "attaching"
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "volume "+a.Volume); err != nil {
			return err
		}
		v, err := s.visibleVolume(ctx, tx, q, a.Volume)
		if err != nil {
			return err
		}
		if err := q.enforce("volume:attachment_create", v.Project); err != nil {
			return err
		}
		if err := notCopied(ctx, tx, v.ID, "attach"); err != nil {
			return err
		}
		if err := attachable(ctx, tx, v, a.Server); err != nil {
			return err
		}
		if err := store.Insert(ctx, tx, "volume_attachments", store.Values{}.Set("id", a.ID).Set("volume_id", a.Volume).Set("instance_uuid", a.Server).
			Set("status", a.Status).Set("mountpoint", "").Set("attach_mode", a.Mode).Set("connector", a.Connector).Set("made_by", a.MadeBy).
			Set("attached_at", 0).Set("created_at", now).Set("updated_at", now)); err != nil {
			return err
		}
		return settle(ctx, tx, v.ID)
	})
	if err != nil {
		return err
	}
	var info map[string]any
	if connected {
		if info, err = s.connectionInfo(ctx, a); err != nil {
			return err
		}
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"attachment": attachmentDetail(a, info)})
	return nil
}

// apiAttachment is an attachment of the attachments API the caller may
// change (under policy action); compute's answer 400.
func (s *Service) apiAttachment(ctx context.Context, tx *store.Tx, q *request, action string) (*attachment, error) {
	a, v, err := s.visibleAttachment(ctx, tx, q, q.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := q.enforce(action, v.Project); err != nil {
		return nil, err
	}
	if a.MadeBy == "compute" {
		return nil, errorf(http.StatusBadRequest, "Invalid volume: attachment %s is server %s's; detach the volume through the compute API.", a.ID, a.Server)
	}
	return a, tx.Lock(ctx, "volume "+a.Volume)
}

func (s *Service) updateAttachment(q *request) error {
	var b attachmentBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	if b.Attachment == nil || len(b.Attachment.Connector) == 0 || string(b.Attachment.Connector) == "null" {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute attachment: 'connector' is a required property.")
	}
	conn, _, err := connector(b.Attachment.Connector)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	var a *attachment
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if a, err = s.apiAttachment(ctx, tx, q, "volume:attachment_update"); err != nil {
			return err
		}
		if a.Status != "reserved" && a.Status != "attaching" {
			return errorf(http.StatusBadRequest, "Invalid volume: attachment %s is %s; only a reserved one takes a connector.", a.ID, a.Status)
		}
		now := time.Now().UnixMicro()
		if _, err := tx.Exec(ctx, `UPDATE volume_attachments SET status = 'attaching', connector = ?, updated_at = ? WHERE id = ?`, conn, now, a.ID); err != nil {
			return err
		}
		a.Status, a.Connector = "attaching", conn
		return settle(ctx, tx, a.Volume)
	})
	if err != nil {
		return err
	}
	info, err := s.connectionInfo(ctx, a)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"attachment": attachmentDetail(a, info)})
	return nil
}

// attachmentAction runs POST /attachments/{id}/action: os-complete (3.44).
func (s *Service) attachmentAction(q *request) error {
	var b map[string]json.RawMessage
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	if _, ok := b["os-complete"]; !ok || len(b) != 1 || !q.atLeast(44) {
		return errorf(http.StatusBadRequest, "There is no such action; os-complete needs microversion 3.44.")
	}
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		a, err := s.apiAttachment(ctx, tx, q, "volume:attachment_complete")
		if err != nil {
			return err
		}
		if a.Status != "attaching" && a.Status != "attached" {
			return errorf(http.StatusBadRequest, "Invalid volume: attachment %s is %s; update it with a connector first.", a.ID, a.Status)
		}
		now := time.Now().UnixMicro()
		if _, err := tx.Exec(ctx, `UPDATE volume_attachments SET status = 'attached', attached_at = ?, updated_at = ? WHERE id = ?`, now, now, a.ID); err != nil {
			return err
		}
		return settle(ctx, tx, a.Volume)
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) deleteAttachment(q *request) error {
	ctx := q.r.Context()
	var rest []*attachment
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		a, err := s.apiAttachment(ctx, tx, q, "volume:attachment_delete")
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM volume_attachments WHERE id = ?`, a.ID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+attachmentColumns+` FROM volume_attachments WHERE volume_id = ?`, a.Volume)
		if err != nil {
			return err
		}
		if rest, err = store.Collect(rows, scanAttachment); err != nil {
			return err
		}
		return settle(ctx, tx, a.Volume)
	})
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, a := range rest {
		out = append(out, attachmentSummary(a))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"attachments": out})
	return nil
}
