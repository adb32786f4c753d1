package volume

import (
	"context"
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
// A retype to or from a multiattach type, of an available volume only
// (as in Cinder), has the backend share its data or stop sharing it: the
// volume is retyping meanwhile.
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
	var shared *bool   // whether the backend is to share the volume's data, if that changes
	var oldType string // the type it had
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
		oldType = v.TypeID
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
		multi := isMultiattach(t)
		if multi && v.KeyID != "" {
			return errorf(http.StatusBadRequest, "Invalid input received: Retype requested both encryption and multi-attach, which is not supported.")
		}
		status := v.Status
		if multi != v.Multiattach {
			if v.Status != "available" {
				return errorf(http.StatusBadRequest, "Invalid input received: Invalid volume_type passed, retypes affecting multiattach are only allowed on available volumes, "+
					"the specified volume however currently has a status of: %s.", v.Status)
			}
			// Not while a copy reads its file, which the backend replaces.
			if err := notCopied(ctx, tx, v.ID, "retype"); err != nil {
				return err
			}
			status, shared = "retyping", &multi
		}
		return store.Affected(tx.Exec(ctx, `UPDATE volumes SET volume_type_id = ?, multiattach = ?, status = ?, updated_at = ? WHERE id = ? AND status = ?`,
			t.ID, multi, status, time.Now().UnixMicro(), v.ID, v.Status))
	})
	if err != nil {
		return err
	}
	if shared != nil {
		id, old := q.r.PathValue("id"), oldType
		s.ops.Go(s.action(q, id, "retype"), "volume_retype", func(ctx context.Context) error {
			return s.driver.Share(ctx, id, *shared)
		}, func(ctx context.Context, err error) {
			// Failed, the data is as it was: so is the volume's type.
			if err != nil {
				s.log.Error("volume: retype", "volume", id, "err", err)
				if _, err := s.db.Exec(ctx, `UPDATE volumes SET volume_type_id = ?, multiattach = ?, status = 'available', updated_at = ? WHERE id = ?`,
					old, !*shared, time.Now().UnixMicro(), id); err != nil {
					s.log.Error("volume: retype", "volume", id, "err", err)
				}
				return
			}
			s.setStatus(ctx, id, "available")
		})
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// recoverRetypes finishes the retypes a crash cut short: the backend
// shares the volume's data as its type says (it may have done so
// already); a volume it fails for is an error (which can be deleted).
func (s *Service) recoverRetypes(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT id, multiattach FROM volumes WHERE status = 'retyping'`)
	if err != nil {
		return err
	}
	type retype struct {
		id    string
		multi bool
	}
	retypes, err := store.Collect(rows, func(row store.Scanner) (*retype, error) {
		var r retype
		return &r, row.Scan(&r.id, &r.multi)
	})
	if err != nil {
		return err
	}
	for _, r := range retypes {
		if err := s.driver.Share(ctx, r.id, r.multi); err != nil {
			s.log.Error("volume: finishing a retype", "volume", r.id, "err", err)
			s.setStatus(ctx, r.id, "error")
			continue
		}
		s.setStatus(ctx, r.id, "available")
	}
	return nil
}
