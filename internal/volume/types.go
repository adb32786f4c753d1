package volume

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// defaultTypeName is the type of volumes created without one, as Cinder's.
const defaultTypeName = "__DEFAULT__"

// volumeType is a row of volume_types.
type volumeType struct {
	ID, Name, Description string
	QoS                   string // the id of its QoS specs, if any
	Public                bool
	Specs                 map[string]string
	Created, Updated      int64
}

const typeColumns = `id, name, description, is_public, extra_specs, qos_specs_id, created_at, updated_at`

func scanType(row store.Scanner) (*volumeType, error) {
	var t volumeType
	var specs string
	if err := row.Scan(&t.ID, &t.Name, &t.Description, &t.Public, &specs, &t.QoS, &t.Created, &t.Updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(specs), &t.Specs); err != nil || t.Specs == nil {
		t.Specs = map[string]string{}
	}
	return &t, nil
}

// isMultiattach reports whether t's volumes may be attached to several
// servers at once: its extra spec multiattach is "<is> True", as Cinder
// reads it.
func isMultiattach(t *volumeType) bool { return t.Specs["multiattach"] == "<is> True" }

// userSpecs are the extra specs users other than admins see, as Cinder's.
var userSpecs = []string{"multiattach", "RESKEY:availability_zones", "replication_enabled"}

// view is a type as the caller sees it: other users than admins see only
// the extra specs meant for them.
func (t *volumeType) view(admin bool) map[string]any {
	specs := t.Specs
	if !admin {
		specs = map[string]string{}
		for _, k := range userSpecs {
			if v, ok := t.Specs[k]; ok {
				specs[k] = v
			}
		}
	}
	return map[string]any{"id": t.ID, "name": t.Name, "description": t.Description, "is_public": t.Public,
		"extra_specs": specs, "os-volume-type-access:is_public": t.Public, "qos_specs_id": nullable(t.QoS)}
}

func specsJSON(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// luksTypeName is the encrypted type a new cloud has beside __DEFAULT__
// (scs-0114 recommends one, its description saying [scs:encrypted]).
const luksTypeName = "LUKS"

// bootstrapDefaultType makes __DEFAULT__ when a cloud has no types, and
// the encrypted type LUKS (when there is a key manager).
func (s *Service) bootstrapDefaultType(ctx context.Context) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM volume_types`).Scan(&n); err != nil || n > 0 {
			return err
		}
		now := time.Now().UnixMicro()
		err := store.Insert(ctx, tx, "volume_types", store.Values{}.Set("id", uuid.NewString()).Set("name", defaultTypeName).
			Set("description", "Default Volume Type").Set("is_public", true).Set("extra_specs", "{}").Set("created_at", now).Set("updated_at", now))
		if err != nil || s.keys == nil {
			return err
		}
		id := uuid.NewString()
		err = store.Insert(ctx, tx, "volume_types", store.Values{}.Set("id", id).Set("name", luksTypeName).
			Set("description", "[scs:encrypted] Volumes encrypted with LUKS (AES-XTS), each with a key of its own in the key manager").
			Set("is_public", true).Set("extra_specs", "{}").Set("created_at", now).Set("updated_at", now))
		if err != nil {
			return err
		}
		return store.Insert(ctx, tx, "volume_type_encryption", store.Values{}.Set("volume_type_id", id).Set("encryption_id", uuid.NewString()).
			Set("provider", "luks").Set("cipher", defaultCipher).Set("key_size", defaultKeySize).Set("control_location", "front-end").
			Set("created_at", now).Set("updated_at", now))
	})
	if errors.Is(err, store.ErrConflict) {
		return nil // another sov on the same store made it at the same time
	}
	return err
}

// findType is a type by id, else by name; private types only for admins.
func (s *Service) findType(ctx context.Context, q store.Querier, ref string, admin bool) (*volumeType, error) {
	t, err := scanType(q.QueryRow(ctx, `SELECT `+typeColumns+` FROM volume_types WHERE id = ?`, ref))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		t, err = scanType(q.QueryRow(ctx, `SELECT `+typeColumns+` FROM volume_types WHERE name = ?`, ref))
	}
	if err != nil || (!t.Public && !admin) {
		if err == nil || errors.Is(store.Row(err), store.ErrNotFound) {
			return nil, errorf(http.StatusNotFound, "Volume type %s could not be found.", ref)
		}
		return nil, store.Row(err)
	}
	return t, nil
}

func (s *Service) listTypes(q *request) error {
	if err := q.enforce("volume_extension:type_get", q.creds.ProjectID); err != nil {
		return err
	}
	where := `is_public = ?`
	args := []any{true}
	if q.admin() {
		where, args = `1 = 1`, nil
		if v := q.r.URL.Query().Get("is_public"); v != "" && v != "None" {
			b, ok := httpapi.ParseBool(v)
			if !ok {
				return errorf(http.StatusBadRequest, "Invalid is_public filter [%s]", v)
			}
			where, args = `is_public = ?`, []any{b}
		}
	}
	rows, err := s.db.Query(q.r.Context(), `SELECT `+typeColumns+` FROM volume_types WHERE `+where+` ORDER BY name, id`, args...)
	if err != nil {
		return err
	}
	types, err := store.Collect(rows, scanType)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, t := range types {
		out = append(out, t.view(q.admin()))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volume_types": out})
	return nil
}

func (s *Service) showType(q *request) error {
	if err := q.enforce("volume_extension:type_get", q.creds.ProjectID); err != nil {
		return err
	}
	t, err := s.findType(q.r.Context(), s.db, q.r.PathValue("id"), q.admin())
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volume_type": t.view(q.admin())})
	return nil
}

// typeBody is what create and update read.
type typeBody struct {
	VolumeType *typeFields `json:"volume_type"`
}

type typeFields struct {
	Name        *string           `json:"name"`
	Description *string           `json:"description"`
	Public      *bool             `json:"os-volume-type-access:is_public"`
	IsPublic    *bool             `json:"is_public"`
	Specs       map[string]string `json:"extra_specs"`
}

// apply sets on t the description and visibility the body gives.
func (f *typeFields) apply(t *volumeType) {
	if f.Description != nil {
		t.Description = *f.Description
	}
	for _, p := range []*bool{f.Public, f.IsPublic} {
		if p != nil {
			t.Public = *p
		}
	}
}

func readType(q *request) (*typeBody, error) {
	var b typeBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return nil, err
	}
	if b.VolumeType == nil {
		return nil, errorf(http.StatusBadRequest, "Missing required element 'volume_type' in request body.")
	}
	if vt := b.VolumeType; vt.Name != nil && (*vt.Name == "" || len(*vt.Name) > 255) ||
		vt.Description != nil && len(*vt.Description) > 255 {
		return nil, errorf(http.StatusBadRequest, "Volume type name and description must be 1 to 255 and at most 255 characters.")
	}
	if err := checkSpecs(b.VolumeType.Specs); err != nil {
		return nil, err
	}
	return &b, nil
}

func checkSpecs(specs map[string]string) error {
	for k, v := range specs {
		if k == "" || len(k) > 255 || len(v) > 255 {
			return errorf(http.StatusBadRequest, "Invalid input received: extra spec keys are 1 to 255 characters, values at most 255.")
		}
	}
	if len(specs) > 50 {
		return errorf(http.StatusBadRequest, "Invalid input received: at most 50 extra specs.")
	}
	return nil
}

func (s *Service) createType(q *request) error {
	if err := q.enforce("volume_extension:types_manage", q.creds.ProjectID); err != nil {
		return err
	}
	b, err := readType(q)
	if err != nil {
		return err
	}
	vt := b.VolumeType
	if vt.Name == nil {
		return errorf(http.StatusBadRequest, "Volume type name can not be empty.")
	}
	now := time.Now().UnixMicro()
	t := &volumeType{ID: uuid.NewString(), Name: *vt.Name, Public: true, Specs: vt.Specs, Created: now, Updated: now}
	if t.Specs == nil {
		t.Specs = map[string]string{}
	}
	vt.apply(t)
	err = store.Insert(q.r.Context(), s.db, "volume_types", store.Values{}.Set("id", t.ID).Set("name", t.Name).Set("description", t.Description).
		Set("is_public", t.Public).Set("extra_specs", specsJSON(t.Specs)).Set("created_at", now).Set("updated_at", now))
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "Volume Type %s already exists.", t.Name)
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volume_type": t.view(q.admin())})
	return nil
}

func (s *Service) updateType(q *request) error {
	if err := q.enforce("volume_extension:types_manage", q.creds.ProjectID); err != nil {
		return err
	}
	b, err := readType(q)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	var t *volumeType
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if t, err = s.findType(ctx, tx, q.r.PathValue("id"), true); err != nil {
			return err
		}
		vt := b.VolumeType
		if vt.Name != nil {
			if t.Name == defaultTypeName && *vt.Name != t.Name {
				return errorf(http.StatusBadRequest, "The default volume type cannot be renamed.")
			}
			t.Name = *vt.Name
		}
		vt.apply(t)
		t.Updated = time.Now().UnixMicro()
		_, err := tx.Exec(ctx, `UPDATE volume_types SET name = ?, description = ?, is_public = ?, updated_at = ? WHERE id = ?`,
			t.Name, t.Description, t.Public, t.Updated, t.ID)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "Volume Type %s already exists.", t.Name)
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"volume_type": t.view(q.admin())})
	return nil
}

func (s *Service) deleteType(q *request) error {
	if err := q.enforce("volume_extension:types_manage", q.creds.ProjectID); err != nil {
		return err
	}
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.findType(ctx, tx, q.r.PathValue("id"), true)
		if err != nil {
			return err
		}
		if t.Name == defaultTypeName {
			return errorf(http.StatusBadRequest, "Default volume type can not be deleted.")
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM volumes WHERE volume_type_id = ?`, t.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errorf(http.StatusBadRequest, "Target volume type is still in use.")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM volume_type_encryption WHERE volume_type_id = ?`, t.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM volume_types WHERE id = ?`, t.ID)
		return err
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// changeSpecs runs change on a type's extra specs (admins only) and stores them.
func (s *Service) changeSpecs(q *request, change func(specs map[string]string) error) (map[string]string, error) {
	if err := q.enforce("volume_extension:types_extra_specs", q.creds.ProjectID); err != nil {
		return nil, err
	}
	ctx := q.r.Context()
	var specs map[string]string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.findType(ctx, tx, q.r.PathValue("id"), true)
		if err != nil {
			return err
		}
		if err := change(t.Specs); err != nil {
			return err
		}
		if err := checkSpecs(t.Specs); err != nil {
			return err
		}
		specs = t.Specs
		_, err = tx.Exec(ctx, `UPDATE volume_types SET extra_specs = ?, updated_at = ? WHERE id = ?`, specsJSON(t.Specs), time.Now().UnixMicro(), t.ID)
		return err
	})
	return specs, err
}

// typeSpecs reads a type's extra specs (admins only, as Cinder's policy).
func (s *Service) typeSpecs(q *request) (map[string]string, error) {
	if err := q.enforce("volume_extension:types_extra_specs", q.creds.ProjectID); err != nil {
		return nil, err
	}
	t, err := s.findType(q.r.Context(), s.db, q.r.PathValue("id"), true)
	if err != nil {
		return nil, err
	}
	return t.Specs, nil
}

func (s *Service) listExtraSpecs(q *request) error {
	specs, err := s.typeSpecs(q)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"extra_specs": specs})
	return nil
}

func (s *Service) showExtraSpec(q *request) error {
	specs, err := s.typeSpecs(q)
	if err != nil {
		return err
	}
	key := q.r.PathValue("key")
	v, ok := specs[key]
	if !ok {
		return errorf(http.StatusNotFound, "Volume Type %s has no extra specs with key %s.", q.r.PathValue("id"), key)
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]string{key: v})
	return nil
}

func (s *Service) setExtraSpecs(q *request) error {
	var b struct {
		Specs map[string]string `json:"extra_specs"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	if b.Specs == nil {
		return errorf(http.StatusBadRequest, "Missing required element 'extra_specs' in request body.")
	}
	specs, err := s.changeSpecs(q, func(specs map[string]string) error {
		for k, v := range b.Specs {
			specs[k] = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"extra_specs": specs})
	return nil
}

func (s *Service) updateExtraSpec(q *request) error {
	var b map[string]string
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	key := q.r.PathValue("key")
	if _, ok := b[key]; !ok || len(b) != 1 {
		return errorf(http.StatusBadRequest, "Request body and URI mismatch")
	}
	if _, err := s.changeSpecs(q, func(specs map[string]string) error { specs[key] = b[key]; return nil }); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, b)
	return nil
}

func (s *Service) deleteExtraSpec(q *request) error {
	key := q.r.PathValue("key")
	_, err := s.changeSpecs(q, func(specs map[string]string) error {
		if _, ok := specs[key]; !ok {
			return errorf(http.StatusNotFound, "Volume Type %s has no extra specs with key %s.", q.r.PathValue("id"), key)
		}
		delete(specs, key)
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}
