package volume

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

// setBootable (os-set_bootable; openstack volume set --bootable and
// --non-bootable) marks whether a volume holds a system to boot: what
// volume lists and boot-from-volume clients read.
func (s *Service) setBootable(q *request, raw json.RawMessage) error {
	var b struct {
		Bootable json.RawMessage `json:"bootable"`
	}
	if err := json.Unmarshal(raw, &b); err != nil || b.Bootable == nil {
		return errorf(http.StatusBadRequest, "Invalid input received: os-set_bootable needs bootable.")
	}
	bootable, ok := boolValue(b.Bootable)
	if !ok {
		return errorf(http.StatusBadRequest, "Invalid value '%s' for bootable: a boolean is required.", string(b.Bootable))
	}
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		v, err := s.visibleVolume(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := q.enforce("volume_extension:volume_actions:set_bootable", v.Project); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE volumes SET bootable = ?, updated_at = ? WHERE id = ?`, bootable, time.Now().UnixMicro(), v.ID)
		return err
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}
