package keymanager

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// A secret's user metadata: URL-safe keys folded to lower case, replaced
// whole by PUT .../metadata or one by one.

// metaKey is what a metadata key may be.
var metaKey = regexp.MustCompile(`^[a-z0-9_\-]{1,255}$`) // after folding

func checkMeta(key, value string) error {
	if !metaKey.MatchString(key) {
		return errorf(http.StatusBadRequest, "Invalid Key. Key must be URL safe.")
	}
	if len(value) > 255 {
		return errorf(http.StatusBadRequest, "Provided object does not match schema 'Secret Metadata': the value of %q is longer than 255 characters", key)
	}
	return nil
}

func (s *Service) metadata(ctx context.Context, db store.Querier, id string) (map[string]string, error) {
	rows, err := db.Query(ctx, `SELECT meta_key, meta_value FROM km_secret_metadata WHERE secret_id = ?`, id)
	if err != nil {
		return nil, err
	}
	pairs, err := store.Collect(rows, func(r store.Scanner) ([2]string, error) { var p [2]string; return p, r.Scan(&p[0], &p[1]) })
	m := map[string]string{}
	for _, p := range pairs {
		m[p[0]] = p[1]
	}
	return m, err
}

// metaSecret is the secret of a metadata request, after the policy check.
func (s *Service) metaSecret(q *request, action string) (*secret, error) {
	if err := q.enforce(action, q.creds.ProjectID); err != nil {
		return nil, err
	}
	return s.visibleSecret(q.r.Context(), s.db, q, q.r.PathValue("id"))
}

func (s *Service) getMetadata(q *request) error {
	x, err := s.metaSecret(q, "secret_meta:get")
	if err != nil {
		return err
	}
	m, err := s.metadata(q.r.Context(), s.db, x.ID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"metadata": m})
	return nil
}

// putMetadata replaces the metadata of a secret.
func (s *Service) putMetadata(q *request) error {
	x, err := s.metaSecret(q, "secret_meta:put")
	if err != nil {
		return err
	}
	var body struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := decode(q, &body); err != nil {
		return err
	}
	if body.Metadata == nil {
		return errorf(http.StatusBadRequest, "Provided object does not match schema 'Secret Metadata': 'metadata' is a required property")
	}
	m := map[string]string{}
	for k, v := range body.Metadata {
		k = strings.ToLower(k)
		if err := checkMeta(k, v); err != nil {
			return err
		}
		m[k] = v
	}
	err = s.db.InTx(q.r.Context(), func(tx *store.Tx) error {
		if _, err := tx.Exec(q.r.Context(), `DELETE FROM km_secret_metadata WHERE secret_id = ?`, x.ID); err != nil {
			return err
		}
		for k, v := range m {
			if err := store.Insert(q.r.Context(), tx, "km_secret_metadata", store.Values{}.Set("secret_id", x.ID).Set("meta_key", k).Set("meta_value", v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusCreated, map[string]string{"metadata_ref": s.secretRef(x.ID) + "/metadata"})
	return nil
}

type metadatum struct {
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

func (q *request) metadatum() (key, value string, err error) {
	var b metadatum
	if err := decode(q, &b); err != nil {
		return "", "", err
	}
	if b.Key == nil || b.Value == nil {
		return "", "", errorf(http.StatusBadRequest, "Provided object does not match schema 'Secret Metadatum': 'key' and 'value' are required properties")
	}
	key = strings.ToLower(*b.Key)
	return key, *b.Value, checkMeta(key, *b.Value)
}

// addMetadatum adds one key, which must be new.
func (s *Service) addMetadatum(q *request) error {
	x, err := s.metaSecret(q, "secret_meta:post")
	if err != nil {
		return err
	}
	key, value, err := q.metadatum()
	if err != nil {
		return err
	}
	err = store.Insert(q.r.Context(), s.db, "km_secret_metadata", store.Values{}.Set("secret_id", x.ID).Set("meta_key", key).Set("meta_value", value))
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "Conflict. Key in request is already in the secret metadata")
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("Location", s.secretRef(x.ID)+"/metadata/"+key)
	httpapi.WriteJSON(q.w, http.StatusCreated, map[string]string{"key": key, "value": value})
	return nil
}

func (s *Service) getMetadatum(q *request) error {
	x, err := s.metaSecret(q, "secret_meta:get")
	if err != nil {
		return err
	}
	key := strings.ToLower(q.r.PathValue("key"))
	var value string
	err = store.Row(s.db.QueryRow(q.r.Context(), `SELECT meta_value FROM km_secret_metadata WHERE secret_id = ? AND meta_key = ?`, x.ID, key).Scan(&value))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Secret metadata not found.")
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]string{"key": key, "value": value})
	return nil
}

// putMetadatum changes the value of an existing key.
func (s *Service) putMetadatum(q *request) error {
	x, err := s.metaSecret(q, "secret_meta:put")
	if err != nil {
		return err
	}
	key, value, err := q.metadatum()
	if err != nil {
		return err
	}
	if key != strings.ToLower(q.r.PathValue("key")) {
		return errorf(http.StatusConflict, "Conflict. Key in request URI does not match the key in the body")
	}
	err = store.Affected(s.db.Exec(q.r.Context(), `UPDATE km_secret_metadata SET meta_value = ? WHERE secret_id = ? AND meta_key = ?`, value, x.ID, key))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Secret metadata not found.")
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]string{"key": key, "value": value})
	return nil
}

func (s *Service) deleteMetadatum(q *request) error {
	x, err := s.metaSecret(q, "secret_meta:delete")
	if err != nil {
		return err
	}
	// Barbican answers 204 also for a key that is not there.
	if _, err := s.db.Exec(q.r.Context(), `DELETE FROM km_secret_metadata WHERE secret_id = ? AND meta_key = ?`, x.ID, strings.ToLower(q.r.PathValue("key"))); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
