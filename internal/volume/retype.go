package volume

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

// retype (os-retype; openstack volume set --type) gives a volume another
// type. sov's one backend holds volumes of every type alike, so the
// volume changes in place, available or in use, and no migration is ever
// needed; migration_policy is read as Cinder reads it. Encryption stays
// as it is: a type encrypted otherwise is refused, as Cinder refuses it.
func (s *Service) retype(q *request, raw json.RawMessage) error {
	var b struct {
		NewType         *string `json:"new_type"`
		MigrationPolicy *string `json:"migration_policy"`
	}
	if err := json.Unmarshal(raw, &b); err != nil || b.NewType == nil || *b.NewType == "" {
		return errorf(http.StatusBadRequest, "Invalid input received: os-retype needs new_type.")
	}
	if p := b.MigrationPolicy; p != nil && *p != "never" && *p != "on-demand" {
		return errorf(http.StatusBadRequest, "Invalid input received: migration_policy must be 'never' or 'on-demand'.")
	}
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id := q.r.PathValue("id")
		if err := tx.Lock(ctx, "volume "+id); err != nil {
			return err
		}
		v, err := s.visibleVolume(ctx, tx, q, id)
		if err != nil {
			return err
		}
		if err := q.enforce("volume:retype", v.Project); err != nil {
			return err
		}
		t, err := s.findType(ctx, tx, *b.NewType, q.admin())
		if err != nil {
			return err
		}
		if v.Status != "available" && v.Status != "in-use" {
			return errorf(http.StatusBadRequest, "Invalid volume: Volume %s status must be available or in-use, but current status is: %s.", v.ID, v.Status)
		}
		if t.ID == v.TypeID {
			return errorf(http.StatusBadRequest, "Invalid input received: Retype cannot change the volume's type to its current type (%s).", t.Name)
		}
		// An in-place retype keeps the data as it is: encrypted or not.
		if err := tx.Lock(ctx, "volume type "+t.ID); err != nil {
			return err
		}
		if same, err := sameEncryption(ctx, tx, v.TypeID, t.ID); err != nil {
			return err
		} else if !same {
			return errorf(http.StatusBadRequest, "Invalid input received: Retype cannot change encryption requirements.")
		}
		return store.Affected(tx.Exec(ctx, `UPDATE volumes SET volume_type_id = ?, updated_at = ? WHERE id = ? AND status = ?`,
			t.ID, time.Now().UnixMicro(), v.ID, v.Status))
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}
