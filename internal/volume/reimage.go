package volume

import (
	"context"
	"net/http"
	"time"

	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// Reimage replaces the data of volume id, which c may update, by the
// image imageID's (what Cinder's os-reimage does for Nova's rebuild of a
// volume-backed server, 2.93): the volume is downloading meanwhile, then
// in use (or available) again, bootable, with the image's metadata. The
// image must fit the volume, and the volume be attached to no other
// server than server (whose VM is stopped). Its key stays: an encrypted
// volume gets the image encrypted under it. The data is replaced at once
// or not at all.
func (s *Service) Reimage(ctx context.Context, c *policy.Credentials, id, imageID, server string) error {
	q := callerRequest(ctx, c)
	img, err := s.imageSource(ctx, q, imageID)
	if err != nil {
		return err
	}
	defer img.file.Close()
	var v *volume
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "volume "+id); err != nil {
			return err
		}
		var err error
		if v, err = s.visibleVolume(ctx, tx, q, id); err != nil {
			return err
		}
		if err := q.enforce("volume:update", v.Project); err != nil {
			return err
		}
		if v.Status != "in-use" && v.Status != "available" {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume %s status must be available or in-use to reimage, but the current status is: %s.", v.ID, v.Status)
		}
		if img.minGiB > v.Size {
			return errorf(http.StatusBadRequest, "Invalid image: image %s needs %d GiB; volume %s has %d.", imageID, img.minGiB, v.ID, v.Size)
		}
		if err := notCopied(ctx, tx, v.ID, "reimage"); err != nil {
			return err
		}
		others, err := store.Column(ctx, tx, `SELECT instance_uuid FROM volume_attachments WHERE volume_id = ? AND instance_uuid != ?`, v.ID, server)
		if err != nil {
			return err
		}
		if len(others) > 0 {
			return errorf(http.StatusBadRequest, "Invalid volume: volume %s is attached to other servers too (%s); it is reimaged only with one.", v.ID, others[0])
		}
		_, err = tx.Exec(ctx, `UPDATE volumes SET status = 'downloading', updated_at = ? WHERE id = ?`, time.Now().UnixMicro(), v.ID)
		return err
	})
	if err != nil {
		return err
	}
	defer func() {
		if _, err := s.db.Exec(context.WithoutCancel(ctx), `UPDATE volumes SET status = `+idleStatus+`, updated_at = ? WHERE id = ? AND status = 'downloading'`,
			time.Now().UnixMicro(), v.ID); err != nil {
			s.log.Error("volume: status after a reimage", "volume", v.ID, "err", err)
		}
	}()
	defer s.ops.Lock(v.ID)()
	enc, err := s.backendEncryption(ctx, v.KeyID, v.TypeID)
	if err != nil {
		return err
	}
	if err := s.reshare(ctx, v, s.driver.Import(ctx, v.ID, img.file, img.format, int64(v.Size)*gib, enc)); err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `UPDATE volumes SET bootable = ?, image_metadata = ?, updated_at = ? WHERE id = ?`,
		true, jsonText(img.meta), time.Now().UnixMicro(), v.ID)
	return err
}
