package volume

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Transfers (os-volume-transfer): the project of an available volume
// offers it; the volume is awaiting-transfer until a project that shows
// the transfer's id and its auth key (given once, at create) accepts it,
// and the volume with its snapshots becomes that project's (within that
// project's quotas), or the offer is deleted. Backups stay with the donor.

type transfer struct {
	ID, Project, Volume, Name, Salt, KeyHash string
	Created                                  int64
}

const transferColumns = `id, project_id, volume_id, name, salt, key_hash, created_at`

func scanTransfer(row store.Scanner) (*transfer, error) {
	var t transfer
	return &t, row.Scan(&t.ID, &t.Project, &t.Volume, &t.Name, &t.Salt, &t.KeyHash, &t.Created)
}

func (s *Service) transferView(t *transfer, detail bool) map[string]any {
	m := map[string]any{"id": t.ID, "name": nullable(t.Name), "volume_id": t.Volume, "links": []map[string]string{
		{"rel": "self", "href": s.url + "/v3/os-volume-transfer/" + t.ID}, {"rel": "bookmark", "href": s.url + "/os-volume-transfer/" + t.ID}}}
	if detail {
		m["created_at"] = cinderTime(t.Created)
	}
	return m
}

// keyHash is a transfer's auth key salted and hashed, as it is kept.
func keyHash(salt, key string) string {
	sum := sha256.Sum256([]byte(salt + key))
	return hex.EncodeToString(sum[:])
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) createTransfer(q *request) error {
	var b struct {
		Transfer *struct {
			VolumeID *string `json:"volume_id"`
			Name     *string `json:"name"`
		} `json:"transfer"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	if b.Transfer == nil || b.Transfer.VolumeID == nil || *b.Transfer.VolumeID == "" {
		return errorf(http.StatusBadRequest, "Incorrect request body format: 'transfer' with 'volume_id' is required.")
	}
	if err := checkText(b.Transfer.Name, nil, nil); err != nil {
		return err
	}
	ctx := q.r.Context()
	key := randomHex(8) // 16 characters, as Cinder's
	t := &transfer{ID: uuid.NewString(), Project: q.creds.ProjectID, Name: str(b.Transfer.Name), Salt: randomHex(8), Created: time.Now().UnixMicro()}
	t.KeyHash = keyHash(t.Salt, key)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "volume "+*b.Transfer.VolumeID); err != nil {
			return err
		}
		v, err := s.visibleVolume(ctx, tx, q, *b.Transfer.VolumeID)
		if err != nil {
			return err
		}
		if err := q.enforce("volume:create_transfer", v.Project); err != nil {
			return err
		}
		if v.Status != "available" {
			return errorf(http.StatusBadRequest, "Invalid volume: status must be available")
		}
		t.Volume, t.Project = v.ID, v.Project
		if err := store.Affected(tx.Exec(ctx, `UPDATE volumes SET status = 'awaiting-transfer', updated_at = ? WHERE id = ? AND status = 'available'`, t.Created, v.ID)); err != nil {
			return err
		}
		return store.Insert(ctx, tx, "volume_transfers", store.Values{}.Set("id", t.ID).Set("project_id", t.Project).Set("volume_id", t.Volume).
			Set("name", t.Name).Set("salt", t.Salt).Set("key_hash", t.KeyHash).Set("created_at", t.Created))
	})
	if err != nil {
		return err
	}
	view := s.transferView(t, true)
	view["auth_key"] = key
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"transfer": view})
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// visibleTransfer is a transfer of the caller's project (any, for admins).
func (s *Service) visibleTransfer(ctx context.Context, db store.Querier, q *request, id string) (*transfer, error) {
	t, err := scanTransfer(db.QueryRow(ctx, `SELECT `+transferColumns+` FROM volume_transfers WHERE id = ?`, id))
	if err == nil && (t.Project == q.creds.ProjectID || q.admin()) {
		return t, nil
	}
	if err == nil || errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Transfer %s could not be found.", id)
	}
	return nil, store.Row(err)
}

func (s *Service) listTransfers(detail bool) handler {
	return func(q *request) error {
		if err := q.enforce("volume:get_all_transfers", q.creds.ProjectID); err != nil {
			return err
		}
		scope, args, err := listScope(q, "project_id")
		if err != nil {
			return err
		}
		rows, err := s.db.Query(q.r.Context(), `SELECT `+transferColumns+` FROM volume_transfers WHERE `+scope+` ORDER BY created_at DESC, id`, args...)
		if err != nil {
			return err
		}
		list, err := store.Collect(rows, scanTransfer)
		if err != nil {
			return err
		}
		out := []map[string]any{}
		for _, t := range list {
			out = append(out, s.transferView(t, detail))
		}
		httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"transfers": out})
		return nil
	}
}

func (s *Service) showTransfer(q *request) error {
	t, err := s.visibleTransfer(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("volume:get_transfer", t.Project); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"transfer": s.transferView(t, true)})
	return nil
}

// deleteTransfer withdraws the offer: the volume is available again.
func (s *Service) deleteTransfer(q *request) error {
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.visibleTransfer(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := q.enforce("volume:delete_transfer", t.Project); err != nil {
			return err
		}
		if err := store.Affected(tx.Exec(ctx, `DELETE FROM volume_transfers WHERE id = ?`, t.ID)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE volumes SET status = 'available', updated_at = ? WHERE id = ? AND status = 'awaiting-transfer'`, time.Now().UnixMicro(), t.Volume)
		return err
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// acceptTransfer gives the volume, with its snapshots, to the caller's
// project, if it shows the transfer's auth key and has room for them.
func (s *Service) acceptTransfer(q *request) error {
	var b struct {
		Accept *struct {
			AuthKey *string `json:"auth_key"`
		} `json:"accept"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	if b.Accept == nil || b.Accept.AuthKey == nil {
		return errorf(http.StatusBadRequest, "Incorrect request body format: 'accept' with 'auth_key' is required.")
	}
	ctx := q.r.Context()
	id := q.r.PathValue("id")
	var t *transfer
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		// Any project may accept: the transfer is found by id, not scope.
		t, err = scanTransfer(tx.QueryRow(ctx, `SELECT `+transferColumns+` FROM volume_transfers WHERE id = ?`, id))
		if errors.Is(store.Row(err), store.ErrNotFound) {
			return errorf(http.StatusNotFound, "Transfer %s could not be found.", id)
		}
		if err != nil {
			return err
		}
		if err := q.enforce("volume:accept_transfer", q.creds.ProjectID); err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(keyHash(t.Salt, *b.Accept.AuthKey)), []byte(t.KeyHash)) != 1 {
			return errorf(http.StatusBadRequest, "Invalid auth key: Attempt to transfer %s with invalid auth key.", id)
		}
		if err := tx.Lock(ctx, "volume "+t.Volume); err != nil {
			return err
		}
		var size, snaps, snapGiB int
		if err := tx.QueryRow(ctx, `SELECT size, (SELECT COUNT(*) FROM volume_snapshots WHERE volume_id = ?), (SELECT COALESCE(SUM(size), 0) FROM volume_snapshots WHERE volume_id = ?)
			FROM volumes WHERE id = ?`, t.Volume, t.Volume, t.Volume).Scan(&size, &snaps, &snapGiB); err != nil {
			return store.Row(err)
		}
		if err := s.checkQuota(ctx, tx, q.creds.ProjectID, 1, size+snapGiB, size); err != nil {
			return err
		}
		limits, u, err := s.limitsOf(ctx, tx, q.creds.ProjectID)
		if err != nil {
			return err
		}
		if l := limits["snapshots"]; l >= 0 && u.snapshots+snaps > l {
			return errorf(http.StatusRequestEntityTooLarge, "SnapshotLimitExceeded: Maximum number of snapshots allowed (%d) exceeded.", l)
		}
		now := time.Now().UnixMicro()
		if err := store.Affected(tx.Exec(ctx, `UPDATE volumes SET project_id = ?, user_id = ?, status = 'available', updated_at = ? WHERE id = ? AND status = 'awaiting-transfer'`,
			q.creds.ProjectID, q.creds.UserID, now, t.Volume)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE volume_snapshots SET project_id = ?, user_id = ?, updated_at = ? WHERE volume_id = ?`, q.creds.ProjectID, q.creds.UserID, now, t.Volume); err != nil {
			return err
		}
		if err := s.moveKey(ctx, tx, t.Volume, q.creds.ProjectID, q.creds.UserID); err != nil {
			return err
		}
		return store.Affected(tx.Exec(ctx, `DELETE FROM volume_transfers WHERE id = ?`, t.ID))
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"transfer": s.transferView(t, false)})
	return nil
}
