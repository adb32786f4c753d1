package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

type flavor struct {
	ID, Name, Description       string
	VCPUs, RAM, Disk, Ephemeral int
	Swap                        int
	Public                      bool
	ExtraSpecs                  map[string]string
}

// standardFlavor is one SCS standard flavor (scs-0100 names, scs-0103 values).
type standardFlavor struct {
	vcpus, ramGiB, disk int
	cpu                 string // "V" shared-core or "L" crowded-core
	diskType            string // "s" for ssd in the name; "" for network (unnamed type)
}

// standardFlavors are the mandatory and recommended flavors of scs-0103.
var standardFlavors = []standardFlavor{
	{1, 4, 0, "V", ""}, {2, 8, 0, "V", ""}, {4, 16, 0, "V", ""}, {8, 32, 0, "V", ""},
	{1, 2, 0, "V", ""}, {2, 4, 0, "V", ""}, {4, 8, 0, "V", ""}, {8, 16, 0, "V", ""}, {16, 32, 0, "V", ""},
	{1, 8, 0, "V", ""}, {2, 16, 0, "V", ""}, {4, 32, 0, "V", ""},
	{1, 1, 0, "L", ""},
	{2, 4, 20, "V", "s"}, {4, 16, 100, "V", "s"},
	// recommended
	{1, 4, 10, "V", ""}, {2, 8, 20, "V", ""}, {4, 16, 50, "V", ""}, {8, 32, 100, "V", ""},
	{1, 2, 5, "V", ""}, {2, 4, 10, "V", ""}, {4, 8, 20, "V", ""}, {8, 16, 50, "V", ""}, {16, 32, 100, "V", ""},
	{1, 8, 20, "V", ""}, {2, 16, 50, "V", ""}, {4, 32, 100, "V", ""},
	{1, 1, 5, "L", ""},
	{16, 64, 0, "V", ""}, {8, 64, 0, "V", ""}, {16, 128, 0, "V", ""},
}

func (f standardFlavor) flavor() *flavor {
	name := fmt.Sprintf("SCS-%d%s-%d", f.vcpus, f.cpu, f.ramGiB)
	v1 := fmt.Sprintf("SCS-%d%s:%d", f.vcpus, f.cpu, f.ramGiB)
	if f.disk > 0 {
		name += fmt.Sprintf("-%d%s", f.disk, f.diskType)
		v1 += fmt.Sprintf(":%d%s", f.disk, f.diskType)
	}
	cpu := map[string]string{"V": "shared-core", "L": "crowded-core"}[f.cpu]
	specs := map[string]string{"scs:name-v1": v1, "scs:name-v2": name, "scs:cpu-type": cpu, "hw_rng:allowed": "true"}
	if f.disk > 0 {
		specs["scs:disk0-type"] = map[string]string{"s": "ssd", "": "network"}[f.diskType]
	}
	return &flavor{ID: uuid.NewString(), Name: name, VCPUs: f.vcpus, RAM: f.ramGiB * 1024, Disk: f.disk, Public: true, ExtraSpecs: specs}
}

// Bootstrap creates the SCS standard flavors that do not exist yet.
func (s *Service) Bootstrap(ctx context.Context) error {
	for _, sf := range standardFlavors {
		f := sf.flavor()
		specs, _ := json.Marshal(f.ExtraSpecs)
		if _, err := s.db.Exec(ctx, `INSERT INTO flavors (id, name, vcpus, ram, disk, is_public, extra_specs) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, f.ID, f.Name, f.VCPUs, f.RAM, f.Disk, f.Public, string(specs)); err != nil {
			return fmt.Errorf("compute: standard flavor %s: %w", f.Name, err)
		}
	}
	return nil
}

const flavorColumns = `id, name, description, vcpus, ram, disk, ephemeral, swap, is_public, extra_specs`

func scanFlavor(row interface{ Scan(...any) error }) (*flavor, error) {
	f := &flavor{}
	var specs string
	if err := row.Scan(&f.ID, &f.Name, &f.Description, &f.VCPUs, &f.RAM, &f.Disk, &f.Ephemeral, &f.Swap, &f.Public, &specs); err != nil {
		return nil, err
	}
	return f, json.Unmarshal([]byte(specs), &f.ExtraSpecs)
}

func (s *Service) getFlavor(ctx context.Context, id string) (*flavor, error) {
	f, err := scanFlavor(s.db.QueryRow(ctx, `SELECT `+flavorColumns+` FROM flavors WHERE id = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Flavor %s could not be found.", id)
	}
	return f, err
}

func (s *Service) links(kind, id string) []map[string]string {
	return []map[string]string{{"rel": "self", "href": s.url + "/v2.1/" + kind + "/" + id}, {"rel": "bookmark", "href": s.url + "/" + kind + "/" + id}}
}

func (s *Service) flavorJSON(q *request, f *flavor, detail bool) map[string]any {
	m := map[string]any{"id": f.ID, "name": f.Name, "links": s.links("flavors", f.ID)}
	if q.atLeast(55) {
		m["description"] = nullable(f.Description)
	}
	if !detail {
		return m
	}
	var swap any = ""
	if f.Swap > 0 || q.atLeast(75) {
		swap = f.Swap
	}
	m["vcpus"], m["ram"], m["disk"], m["swap"] = f.VCPUs, f.RAM, f.Disk, swap
	m["OS-FLV-EXT-DATA:ephemeral"], m["OS-FLV-DISABLED:disabled"] = f.Ephemeral, false
	m["os-flavor-access:is_public"], m["rxtx_factor"] = f.Public, 1.0
	if q.atLeast(61) {
		m["extra_specs"] = f.ExtraSpecs
	}
	return m
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Service) listFlavors(detail bool) handler {
	return func(q *request) error {
		query := q.r.URL.Query()
		public := "true"
		if v, ok := query["is_public"]; ok && q.admin() {
			public = strings.ToLower(strings.Join(v, ""))
		}
		rows, err := s.db.Query(q.r.Context(), `SELECT `+flavorColumns+` FROM flavors`)
		if err != nil {
			return err
		}
		var all []*flavor
		for rows.Next() {
			f, err := scanFlavor(rows)
			if err != nil {
				rows.Close()
				return err
			}
			all = append(all, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		minRAM, _ := strconv.Atoi(query.Get("minRam"))
		minDisk, _ := strconv.Atoi(query.Get("minDisk"))
		// Nova's default order: by flavorid.
		sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
		out := []map[string]any{}
		for _, f := range all {
			switch {
			case public == "true" && !f.Public, public == "false" && f.Public, f.RAM < minRAM, f.Disk < minDisk:
				continue
			}
			out = append(out, s.flavorJSON(q, f, detail))
		}
		httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"flavors": out})
		return nil
	}
}

func (s *Service) showFlavor(q *request) error {
	f, err := s.getFlavor(q.r.Context(), q.r.PathValue("flavor_id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"flavor": s.flavorJSON(q, f, true)})
	return nil
}

func (s *Service) createFlavor(q *request) error {
	if err := q.enforce("os_compute_api:os-flavor-manage:create", ""); err != nil {
		return err
	}
	var body struct {
		Flavor struct {
			Name        *string `json:"name"`
			ID          *string `json:"id"`
			RAM         *int    `json:"ram"`
			VCPUs       *int    `json:"vcpus"`
			Disk        *int    `json:"disk"`
			Ephemeral   int     `json:"OS-FLV-EXT-DATA:ephemeral"`
			Swap        int     `json:"swap"`
			Public      *bool   `json:"os-flavor-access:is_public"`
			Description string  `json:"description"`
		} `json:"flavor"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	b := &body.Flavor
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" || len(*b.Name) > 255 || b.RAM == nil || *b.RAM < 1 || b.VCPUs == nil || *b.VCPUs < 1 ||
		(b.Disk != nil && *b.Disk < 0) || b.Ephemeral < 0 || b.Swap < 0 {
		return errorf(http.StatusBadRequest, "Invalid input: a flavor needs a name, ram >= 1, vcpus >= 1 and non-negative disk, ephemeral and swap.")
	}
	f := &flavor{ID: uuid.NewString(), Name: *b.Name, RAM: *b.RAM, VCPUs: *b.VCPUs, Ephemeral: b.Ephemeral, Swap: b.Swap,
		Public: b.Public == nil || *b.Public, Description: b.Description, ExtraSpecs: map[string]string{}}
	if b.ID != nil && *b.ID != "" && *b.ID != "auto" {
		f.ID = *b.ID
	}
	if b.Disk != nil {
		f.Disk = *b.Disk
	}
	_, err := s.db.Exec(q.r.Context(), `INSERT INTO flavors (id, name, description, vcpus, ram, disk, ephemeral, swap, is_public, extra_specs)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')`, f.ID, f.Name, f.Description, f.VCPUs, f.RAM, f.Disk, f.Ephemeral, f.Swap, f.Public)
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "Flavor with name %s or ID %s already exists.", f.Name, f.ID)
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"flavor": s.flavorJSON(q, f, true)})
	return nil
}

func (s *Service) deleteFlavor(q *request) error {
	if err := q.enforce("os_compute_api:os-flavor-manage:delete", ""); err != nil {
		return err
	}
	id := q.r.PathValue("flavor_id")
	if err := store.Affected(s.db.Exec(q.r.Context(), `DELETE FROM flavors WHERE id = ?`, id)); err != nil {
		return errorf(http.StatusNotFound, "Flavor %s could not be found.", id)
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) listExtraSpecs(q *request) error {
	f, err := s.getFlavor(q.r.Context(), q.r.PathValue("flavor_id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"extra_specs": f.ExtraSpecs})
	return nil
}

func (s *Service) showExtraSpec(q *request) error {
	f, err := s.getFlavor(q.r.Context(), q.r.PathValue("flavor_id"))
	if err != nil {
		return err
	}
	key := q.r.PathValue("key")
	v, ok := f.ExtraSpecs[key]
	if !ok {
		return errorf(http.StatusNotFound, "Flavor %s has no extra specs with key %s.", f.ID, key)
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]string{key: v})
	return nil
}

// changeSpecs applies change to a flavor's extra specs, for admins only.
func (s *Service) changeSpecs(q *request, change func(f *flavor) error) (*flavor, error) {
	if err := q.enforce("os_compute_api:os-flavor-extra-specs", ""); err != nil {
		return nil, err
	}
	f, err := s.getFlavor(q.r.Context(), q.r.PathValue("flavor_id"))
	if err != nil {
		return nil, err
	}
	if err := change(f); err != nil {
		return nil, err
	}
	specs, _ := json.Marshal(f.ExtraSpecs)
	_, err = s.db.Exec(q.r.Context(), `UPDATE flavors SET extra_specs = ? WHERE id = ?`, string(specs), f.ID)
	return f, err
}

func validSpecs(specs map[string]string) error {
	for k, v := range specs {
		if k == "" || len(k) > 255 || len(v) > 255 {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute extra_specs: keys and values are 1 to 255 characters.")
		}
	}
	return nil
}

func (s *Service) setExtraSpecs(q *request) error {
	var body struct {
		ExtraSpecs map[string]string `json:"extra_specs"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	if body.ExtraSpecs == nil {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute extra_specs: 'extra_specs' is a required property.")
	}
	if err := validSpecs(body.ExtraSpecs); err != nil {
		return err
	}
	f, err := s.changeSpecs(q, func(f *flavor) error {
		for k, v := range body.ExtraSpecs {
			f.ExtraSpecs[k] = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"extra_specs": f.ExtraSpecs})
	return nil
}

func (s *Service) updateExtraSpec(q *request) error {
	key := q.r.PathValue("key")
	var body map[string]string
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	v, ok := body[key]
	if !ok || len(body) != 1 {
		return errorf(http.StatusBadRequest, "Request body and URI mismatch")
	}
	if err := validSpecs(body); err != nil {
		return err
	}
	if _, err := s.changeSpecs(q, func(f *flavor) error { f.ExtraSpecs[key] = v; return nil }); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]string{key: v})
	return nil
}

func (s *Service) deleteExtraSpec(q *request) error {
	key := q.r.PathValue("key")
	_, err := s.changeSpecs(q, func(f *flavor) error {
		if _, ok := f.ExtraSpecs[key]; !ok {
			return errorf(http.StatusNotFound, "Flavor %s has no extra specs with key %s.", f.ID, key)
		}
		delete(f.ExtraSpecs, key)
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}
