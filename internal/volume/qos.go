package volume

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/store"
)

// QoS specs (Cinder's qos-specs, admins only): named specs that volume
// types are associated with (a type with at most one). Front-end specs
// (consumer front-end or both) are I/O limits the hypervisor enforces on
// each volume of the type when it is attached (QEMU's throttling, as Nova
// applies Cinder's front-end specs through libvirt's iotune); they are
// read at attach and at a server's start, as in Nova. Back-end specs are
// for a backend's own QoS, which the file backend has none of: they are
// kept, and asked of no engine.

// qosSpecs is a row of volume_qos_specs.
type qosSpecs struct {
	ID, Name, Consumer string
	Specs              map[string]string
	Created, Updated   int64
}

const qosColumns = `id, name, consumer, specs, created_at, updated_at`

func scanQoS(row store.Scanner) (*qosSpecs, error) {
	var q qosSpecs
	var specs string
	if err := row.Scan(&q.ID, &q.Name, &q.Consumer, &specs, &q.Created, &q.Updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(specs), &q.Specs); err != nil || q.Specs == nil {
		q.Specs = map[string]string{}
	}
	return &q, nil
}

func (s *Service) qosView(q *qosSpecs) map[string]any {
	return map[string]any{"id": q.ID, "name": q.Name, "consumer": q.Consumer, "specs": q.Specs}
}

func (s *Service) qosLinks(id string) []map[string]string {
	return []map[string]string{{"rel": "self", "href": s.url + "/v3/qos-specs/" + id}, {"rel": "bookmark", "href": s.url + "/qos-specs/" + id}}
}

// qosConsumers are who enforces QoS specs.
var qosConsumers = []string{"front-end", "back-end", "both"}

// frontEnd reports whether a consumer's specs are the hypervisor's to enforce.
func frontEnd(consumer string) bool { return consumer == "front-end" || consumer == "both" }

// frontEndKeys are the front-end specs sov enforces, each with where its
// value goes in QEMU's limits; a _per_gb key gives the limit per GiB of
// the volume (Cinder's), used when the plain key is not given.
var frontEndKeys = map[string]func(*hypervisor.Throttle) *int64{
	"total_bytes_sec":     func(t *hypervisor.Throttle) *int64 { return &t.BPS },
	"read_bytes_sec":      func(t *hypervisor.Throttle) *int64 { return &t.BPSRead },
	"write_bytes_sec":     func(t *hypervisor.Throttle) *int64 { return &t.BPSWrite },
	"total_iops_sec":      func(t *hypervisor.Throttle) *int64 { return &t.IOPS },
	"read_iops_sec":       func(t *hypervisor.Throttle) *int64 { return &t.IOPSRead },
	"write_iops_sec":      func(t *hypervisor.Throttle) *int64 { return &t.IOPSWrite },
	"total_bytes_sec_max": func(t *hypervisor.Throttle) *int64 { return &t.BPSMax },
	"read_bytes_sec_max":  func(t *hypervisor.Throttle) *int64 { return &t.BPSReadMax },
	"write_bytes_sec_max": func(t *hypervisor.Throttle) *int64 { return &t.BPSWriteMax },
	"total_iops_sec_max":  func(t *hypervisor.Throttle) *int64 { return &t.IOPSMax },
	"read_iops_sec_max":   func(t *hypervisor.Throttle) *int64 { return &t.IOPSReadMax },
	"write_iops_sec_max":  func(t *hypervisor.Throttle) *int64 { return &t.IOPSWriteMax },
	"size_iops_sec":       func(t *hypervisor.Throttle) *int64 { return &t.SizeIOPS },
}

// perGB are the keys that scale with the volume's size.
var perGB = []string{"total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec", "read_iops_sec", "write_iops_sec"}

// throttle is the limits front-end specs give a volume of sizeGiB (nil
// for none).
func throttle(specs map[string]string, sizeGiB int) (*hypervisor.Throttle, error) {
	t := &hypervisor.Throttle{}
	any := false
	for k, v := range specs {
		base, scaled := strings.CutSuffix(k, "_per_gb")
		field, ok := frontEndKeys[base]
		if !ok || scaled && !slices.Contains(perGB, base) {
			return nil, invalidf("QoS spec %q is not one sov enforces: %s, their _max, size_iops_sec, and the _per_gb of the first six.", k,
				strings.Join(perGB, ", "))
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, invalidf("QoS spec %s must be a non-negative integer, not %q.", k, v)
		}
		if scaled {
			if _, plain := specs[base]; plain {
				continue // the plain key wins
			}
			n *= int64(max(sizeGiB, 1))
		}
		*field(t) = n
		any = any || n > 0
	}
	// QEMU's rules: a total limit or read and write ones; a burst above a limit.
	switch {
	case t.BPS > 0 && (t.BPSRead > 0 || t.BPSWrite > 0), t.IOPS > 0 && (t.IOPSRead > 0 || t.IOPSWrite > 0),
		t.BPSMax > 0 && (t.BPSReadMax > 0 || t.BPSWriteMax > 0), t.IOPSMax > 0 && (t.IOPSReadMax > 0 || t.IOPSWriteMax > 0):
		return nil, invalidf("QoS specs give either a total limit or read and write ones, not both.")
	}
	for _, p := range [][2]int64{{t.BPS, t.BPSMax}, {t.BPSRead, t.BPSReadMax}, {t.BPSWrite, t.BPSWriteMax},
		{t.IOPS, t.IOPSMax}, {t.IOPSRead, t.IOPSReadMax}, {t.IOPSWrite, t.IOPSWriteMax}} {
		if p[1] > 0 && (p[0] == 0 || p[1] < p[0]) {
			return nil, invalidf("A _max QoS spec is a burst above its limit: the limit must be given, and the burst at least as large.")
		}
	}
	if !any {
		return nil, nil
	}
	return t, nil
}

// checkQoS checks specs of consumer (front-end ones are what sov enforces).
func checkQoS(consumer string, specs map[string]string) error {
	if !slices.Contains(qosConsumers, consumer) {
		return invalidf("consumer must be one of front-end, back-end, both.")
	}
	for k, v := range specs {
		if k == "" || len(k) > 255 || len(v) > 255 {
			return invalidf("QoS spec keys are 1 to 255 characters, values at most 255.")
		}
	}
	if frontEnd(consumer) {
		_, err := throttle(specs, 1)
		return err
	}
	return nil
}

// specsBody reads {"qos_specs": {...}}: string values (or null for an
// update), numbers as their text.
func specsBody(q *request) (map[string]*string, error) {
	var b struct {
		Specs map[string]any `json:"qos_specs"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return nil, err
	}
	if b.Specs == nil {
		return nil, invalidf("'qos_specs' is a required property")
	}
	out := map[string]*string{}
	for k, v := range b.Specs {
		switch v := v.(type) {
		case string:
			out[k] = &v
		case float64:
			s := strconv.FormatFloat(v, 'f', -1, 64)
			out[k] = &s
		case nil:
			out[k] = nil
		default:
			return nil, invalidf("QoS spec %s must be a string.", k)
		}
	}
	return out, nil
}

func (s *Service) qosFor(ctx context.Context, db store.Querier, id string) (*qosSpecs, error) {
	qs, err := scanQoS(db.QueryRow(ctx, `SELECT `+qosColumns+` FROM volume_qos_specs WHERE id = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "QoS Specs %s could not be found.", id)
	}
	return qs, store.Row(err)
}

func (s *Service) listQoS(q *request) error {
	if err := q.enforce("volume_extension:qos_specs_manage", q.creds.ProjectID); err != nil {
		return err
	}
	rows, err := s.db.Query(q.r.Context(), `SELECT `+qosColumns+` FROM volume_qos_specs ORDER BY created_at DESC, id`)
	if err != nil {
		return err
	}
	all, err := store.Collect(rows, scanQoS)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, qs := range all {
		out = append(out, s.qosView(qs))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"qos_specs": out})
	return nil
}

func (s *Service) showQoS(q *request) error {
	if err := q.enforce("volume_extension:qos_specs_manage", q.creds.ProjectID); err != nil {
		return err
	}
	qs, err := s.qosFor(q.r.Context(), s.db, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"qos_specs": s.qosView(qs), "links": s.qosLinks(qs.ID)})
	return nil
}

func (s *Service) createQoS(q *request) error {
	if err := q.enforce("volume_extension:qos_specs_manage", q.creds.ProjectID); err != nil {
		return err
	}
	body, err := specsBody(q)
	if err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	qs := &qosSpecs{ID: uuid.NewString(), Consumer: "back-end", Specs: map[string]string{}, Created: now, Updated: now}
	for k, v := range body {
		if v == nil {
			return invalidf("QoS spec %s must be a string.", k)
		}
		switch k {
		case "name":
			qs.Name = strings.TrimSpace(*v)
		case "consumer":
			qs.Consumer = *v
		default:
			qs.Specs[k] = *v
		}
	}
	if qs.Name == "" || len(qs.Name) > 255 {
		return invalidf("'name' is a required property of 1 to 255 characters.")
	}
	if err := checkQoS(qs.Consumer, qs.Specs); err != nil {
		return err
	}
	err = store.Insert(q.r.Context(), s.db, "volume_qos_specs", store.Values{}.Set("id", qs.ID).Set("name", qs.Name).
		Set("consumer", qs.Consumer).Set("specs", specsJSON(qs.Specs)).Set("created_at", now).Set("updated_at", now))
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "QoS Specs %s already exists.", qs.Name)
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"qos_specs": s.qosView(qs), "links": s.qosLinks(qs.ID)})
	return nil
}

// changeQoS runs change on the QoS specs of the request's path (admins
// only) and stores them, checked, in one transaction.
func (s *Service) changeQoS(q *request, change func(ctx context.Context, tx *store.Tx, qs *qosSpecs) error) error {
	if err := q.enforce("volume_extension:qos_specs_manage", q.creds.ProjectID); err != nil {
		return err
	}
	ctx := q.r.Context()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		id := q.r.PathValue("id")
		if err := tx.Lock(ctx, "qos "+id); err != nil {
			return err
		}
		qs, err := s.qosFor(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := change(ctx, tx, qs); err != nil {
			return err
		}
		if err := checkQoS(qs.Consumer, qs.Specs); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE volume_qos_specs SET consumer = ?, specs = ?, updated_at = ? WHERE id = ?`,
			qs.Consumer, specsJSON(qs.Specs), time.Now().UnixMicro(), qs.ID)
		return err
	})
}

// updateQoS sets the keys of the body (a null value removes one) and
// answers with them, as Cinder does.
func (s *Service) updateQoS(q *request) error {
	body, err := specsBody(q)
	if err != nil {
		return err
	}
	err = s.changeQoS(q, func(_ context.Context, _ *store.Tx, qs *qosSpecs) error {
		for k, v := range body {
			switch {
			case k == "consumer" && v != nil:
				qs.Consumer = *v
			case k == "consumer" || k == "name":
				return invalidf("%s cannot be changed that way.", k)
			case v == nil:
				delete(qs.Specs, k)
			default:
				qs.Specs[k] = *v
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"qos_specs": body})
	return nil
}

// deleteQoSKeys removes keys; an unknown one is a 404, as in Cinder.
func (s *Service) deleteQoSKeys(q *request) error {
	var b struct {
		Keys []string `json:"keys"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	if b.Keys == nil {
		return invalidf("'keys' is a required property")
	}
	err := s.changeQoS(q, func(_ context.Context, _ *store.Tx, qs *qosSpecs) error {
		for _, k := range b.Keys {
			if _, ok := qs.Specs[k]; !ok {
				return errorf(http.StatusNotFound, "QoS spec %s cannot be found in QoS Specs %s.", k, qs.ID)
			}
			delete(qs.Specs, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// deleteQoS deletes QoS specs no type is associated with, or with force
// their associations too.
func (s *Service) deleteQoS(q *request) error {
	if err := q.enforce("volume_extension:qos_specs_manage", q.creds.ProjectID); err != nil {
		return err
	}
	force, _ := httpapi.ParseBool(q.r.URL.Query().Get("force"))
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id := q.r.PathValue("id")
		if err := tx.Lock(ctx, "qos "+id); err != nil {
			return err
		}
		qs, err := s.qosFor(ctx, tx, id)
		if err != nil {
			return err
		}
		types, err := store.Column(ctx, tx, `SELECT id FROM volume_types WHERE qos_specs_id = ?`, qs.ID)
		if err != nil {
			return err
		}
		if len(types) > 0 && !force {
			return errorf(http.StatusBadRequest, "Qos specs still in use.")
		}
		if _, err := tx.Exec(ctx, `UPDATE volume_types SET qos_specs_id = '' WHERE qos_specs_id = ?`, qs.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM volume_qos_specs WHERE id = ?`, qs.ID)
		return err
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) qosAssociations(q *request) error {
	if err := q.enforce("volume_extension:qos_specs_manage", q.creds.ProjectID); err != nil {
		return err
	}
	ctx := q.r.Context()
	qs, err := s.qosFor(ctx, s.db, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	rows, err := s.db.Query(ctx, `SELECT `+typeColumns+` FROM volume_types WHERE qos_specs_id = ? ORDER BY name, id`, qs.ID)
	if err != nil {
		return err
	}
	types, err := store.Collect(rows, scanType)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, t := range types {
		out = append(out, map[string]any{"association_type": "volume_type", "name": t.Name, "id": t.ID})
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"qos_associations": out})
	return nil
}

// associateQoS is GET /qos-specs/{id}/associate?vol_type_id= (a type
// associated with other specs is a 400) and, with associate false,
// disassociate; all, disassociate_all.
func (s *Service) associateQoS(associate, all bool) handler {
	return func(q *request) error {
		typeID := q.r.URL.Query().Get("vol_type_id")
		if typeID == "" && !all {
			return errorf(http.StatusBadRequest, "Volume Type id must not be None.")
		}
		err := s.changeQoS(q, func(ctx context.Context, tx *store.Tx, qs *qosSpecs) error {
			if all {
				_, err := tx.Exec(ctx, `UPDATE volume_types SET qos_specs_id = '' WHERE qos_specs_id = ?`, qs.ID)
				return err
			}
			t, err := s.findType(ctx, tx, typeID, true)
			if err != nil {
				return err
			}
			switch {
			case associate && t.QoS != "" && t.QoS != qs.ID:
				return invalidf("Type %s is already associated with another qos specs: %s", t.ID, t.QoS)
			case associate:
				_, err = tx.Exec(ctx, `UPDATE volume_types SET qos_specs_id = ? WHERE id = ?`, qs.ID, t.ID)
			case t.QoS == qs.ID:
				_, err = tx.Exec(ctx, `UPDATE volume_types SET qos_specs_id = '' WHERE id = ?`, t.ID)
			}
			return err
		})
		if err != nil {
			return err
		}
		q.w.WriteHeader(http.StatusAccepted)
		return nil
	}
}

// volumeThrottle is the I/O limits of a volume of type typeID and
// sizeGiB: its type's front-end QoS specs (nil for none).
func volumeThrottle(ctx context.Context, db store.Querier, typeID string, sizeGiB int) (*hypervisor.Throttle, map[string]string, error) {
	var consumer, specs string
	err := db.QueryRow(ctx, `SELECT q.consumer, q.specs FROM volume_types t JOIN volume_qos_specs q ON q.id = t.qos_specs_id WHERE t.id = ?`, typeID).Scan(&consumer, &specs)
	if errors.Is(store.Row(err), store.ErrNotFound) || err == nil && !frontEnd(consumer) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(specs), &m); err != nil {
		return nil, nil, err
	}
	t, err := throttle(m, sizeGiB)
	return t, m, err
}
