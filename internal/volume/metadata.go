package volume

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// The metadata of volumes and snapshots as collections of their own
// (/volumes/{id}/metadata, /snapshots/{id}/metadata: what `openstack
// volume set --property` and `volume snapshot set --property` use):
// read, merged (POST), replaced (PUT), and one key at a time.

// metaOwner is what has the metadata: a volume or a snapshot, as the
// caller may see it, with the policy of reading and of changing it.
type metaOwner struct {
	table, lock       string // volumes or volume_snapshots; the lock key's prefix
	readPolicy, write string
	find              func(ctx context.Context, db store.Querier, q *request, id string) (project string, err error)
}

func (s *Service) volumeMeta() metaOwner {
	return metaOwner{table: "volumes", lock: "volume ", readPolicy: "volume:get", write: "volume:update",
		find: func(ctx context.Context, db store.Querier, q *request, id string) (string, error) {
			v, err := s.visibleVolume(ctx, db, q, id)
			if err != nil {
				return "", err
			}
			return v.Project, nil
		}}
}

func (s *Service) snapshotMeta() metaOwner {
	return metaOwner{table: "volume_snapshots", lock: "snapshot ", readPolicy: "volume:get_snapshot", write: "volume:update_snapshot",
		find: func(ctx context.Context, db store.Querier, q *request, id string) (string, error) {
			sn, err := s.visibleSnapshot(ctx, db, q, id)
			if err != nil {
				return "", err
			}
			return sn.Project, nil
		}}
}

// read is the owner's metadata after the policy check of action.
func (o metaOwner) read(ctx context.Context, db store.Querier, q *request, action string) (map[string]string, error) {
	id := q.r.PathValue("id")
	project, err := o.find(ctx, db, q, id)
	if err != nil {
		return nil, err
	}
	if err := q.enforce(action, project); err != nil {
		return nil, err
	}
	var raw string
	if err := db.QueryRow(ctx, `SELECT metadata FROM `+o.table+` WHERE id = ?`, id).Scan(&raw); err != nil {
		return nil, store.Row(err)
	}
	m := map[string]string{}
	json.Unmarshal([]byte(raw), &m)
	return m, nil
}

// change applies edit to the owner's metadata in one transaction and
// returns the metadata after it.
func (s *Service) changeMeta(q *request, o metaOwner, edit func(map[string]string) error) (map[string]string, error) {
	ctx := q.r.Context()
	var m map[string]string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// One change at a time (each rewrites the whole set).
		if err := tx.Lock(ctx, o.lock+q.r.PathValue("id")); err != nil {
			return err
		}
		var err error
		if m, err = o.read(ctx, tx, q, o.write); err != nil {
			return err
		}
		if err := edit(m); err != nil {
			return err
		}
		if err := checkText(nil, nil, m); err != nil {
			return err
		}
		b, _ := json.Marshal(m)
		_, err = tx.Exec(ctx, `UPDATE `+o.table+` SET metadata = ?, updated_at = ? WHERE id = ?`, string(b), time.Now().UnixMicro(), q.r.PathValue("id"))
		return err
	})
	return m, err
}

// metaBody reads {"metadata": {...}}.
func metaBody(q *request) (map[string]string, error) {
	var b struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return nil, err
	}
	if b.Metadata == nil {
		return nil, errorf(http.StatusBadRequest, "Malformed request body: 'metadata' is required.")
	}
	return b.Metadata, nil
}

func (s *Service) getMetadata(o func() metaOwner) handler {
	return func(q *request) error {
		m, err := o().read(q.r.Context(), s.db, q, o().readPolicy)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"metadata": m})
		return nil
	}
}

// setMetadata merges (POST) or replaces (PUT) the metadata.
func (s *Service) setMetadata(o func() metaOwner, replace bool) handler {
	return func(q *request) error {
		given, err := metaBody(q)
		if err != nil {
			return err
		}
		m, err := s.changeMeta(q, o(), func(m map[string]string) error {
			if replace {
				clear(m)
			}
			maps.Copy(m, given)
			return nil
		})
		if err != nil {
			return err
		}
		httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"metadata": m})
		return nil
	}
}

func (s *Service) getMetadatum(o func() metaOwner) handler {
	return func(q *request) error {
		m, err := o().read(q.r.Context(), s.db, q, o().readPolicy)
		if err != nil {
			return err
		}
		key := q.r.PathValue("key")
		v, ok := m[key]
		if !ok {
			return errorf(http.StatusNotFound, "Metadata item was not found")
		}
		httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
		return nil
	}
}

// putMetadatum sets one key: the body's one item, named as the URL names it.
func (s *Service) putMetadatum(o func() metaOwner) handler {
	return func(q *request) error {
		var b struct {
			Meta map[string]string `json:"meta"`
		}
		if err := httpapi.DecodeJSON(q.r, &b); err != nil {
			return err
		}
		key := q.r.PathValue("key")
		switch {
		case b.Meta == nil:
			return errorf(http.StatusBadRequest, "Malformed request body: 'meta' is required.")
		case len(b.Meta) > 1:
			return errorf(http.StatusBadRequest, "Request body contains too many items")
		case !hasKey(b.Meta, key):
			return errorf(http.StatusBadRequest, "Request body and URI mismatch")
		}
		if _, err := s.changeMeta(q, o(), func(m map[string]string) error { m[key] = b.Meta[key]; return nil }); err != nil {
			return err
		}
		httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"meta": map[string]string{key: b.Meta[key]}})
		return nil
	}
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func (s *Service) deleteMetadatum(o func() metaOwner) handler {
	return func(q *request) error {
		key := q.r.PathValue("key")
		_, err := s.changeMeta(q, o(), func(m map[string]string) error {
			if !hasKey(m, key) {
				return errorf(http.StatusNotFound, "Metadata item was not found")
			}
			delete(m, key)
			return nil
		})
		if err != nil {
			return err
		}
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
}
