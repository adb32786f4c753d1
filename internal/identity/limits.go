package identity

import (
	"context"
	"errors"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// Keystone's unified limits (flat model): a registered limit is the
// default of a service's resource (such as Glance's image_count_total),
// a limit overrides it for one project. Services read them through Limit.

type limitRow struct {
	ID, ProjectID, ServiceID, Region, Resource, Description string
	Value                                                   int64
}

func (s *Service) limitJSON(l *limitRow, registered bool) map[string]any {
	m := map[string]any{"id": l.ID, "service_id": l.ServiceID, "region_id": nullable(l.Region), "resource_name": l.Resource,
		"description": l.Description}
	if registered {
		m["default_limit"] = l.Value
		m["links"] = map[string]any{"self": s.url("/v3/registered_limits/" + l.ID)}
	} else {
		m["resource_limit"], m["project_id"], m["domain_id"] = l.Value, l.ProjectID, nil
		m["links"] = map[string]any{"self": s.url("/v3/limits/" + l.ID)}
	}
	return m
}

// writeLimits writes a list of limits (registered ones when registered),
// with the list's links when there are any.
func (s *Service) writeLimits(w http.ResponseWriter, status int, ls []*limitRow, registered bool, links map[string]any) {
	out := []map[string]any{}
	for _, l := range ls {
		out = append(out, s.limitJSON(l, registered))
	}
	key := "limits"
	if registered {
		key = "registered_limits"
	}
	body := map[string]any{key: out}
	if links != nil {
		body["links"] = links
	}
	httpapi.WriteJSON(w, status, body)
}

const (
	registeredColumns = `id, '', service_id, region_id, resource_name, description, default_limit`
	limitColumns      = `id, project_id, service_id, region_id, resource_name, description, resource_limit`
)

func (s *Service) scanLimits(ctx context.Context, q string, args ...any) ([]*limitRow, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*limitRow
	for rows.Next() {
		l := &limitRow{}
		if err := rows.Scan(&l.ID, &l.ProjectID, &l.ServiceID, &l.Region, &l.Resource, &l.Description, &l.Value); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// limitBody is one element of a create request, or the body of an update.
type limitBody struct {
	ServiceID     *string `json:"service_id"`
	ProjectID     *string `json:"project_id"`
	DomainID      *string `json:"domain_id"`
	RegionID      *string `json:"region_id"`
	ResourceName  *string `json:"resource_name"`
	DefaultLimit  *int64  `json:"default_limit"`
	ResourceLimit *int64  `json:"resource_limit"`
	Description   *string `json:"description"`
}

func (s *Service) checkLimitTarget(ctx context.Context, b *limitBody) error {
	if b.ServiceID == nil || b.ResourceName == nil || *b.ResourceName == "" || len(*b.ResourceName) > 255 {
		return badRequest("Invalid input: 'service_id' and 'resource_name' are required.")
	}
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM services WHERE id = ?`, *b.ServiceID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return badRequest("Could not find service: %s.", *b.ServiceID)
	}
	if b.RegionID != nil && *b.RegionID != "" && *b.RegionID != s.cfg.Region {
		return badRequest("Could not find region: %s.", *b.RegionID)
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// limitsBody is the body of both limit creates: registered_limits or limits.
type limitsBody struct {
	Registered []limitBody `json:"registered_limits"`
	Limits     []limitBody `json:"limits"`
}

// createLimitRows is the one skeleton of the two limit creates: the
// policy action, then for every entry of the body (all in one
// transaction) the checks of its target and insert, which checks and
// stores the rest; registered chooses the body's key and the answer's shape.
func (s *Service) createLimitRows(w http.ResponseWriter, r *http.Request, tok *Token, action string, registered bool,
	insert func(ctx context.Context, tx *store.Tx, b *limitBody) (*limitRow, error)) error {
	if err := enforce(tok, action, policy.Target{}); err != nil {
		return err
	}
	var body limitsBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	entries := body.Limits
	if registered {
		entries = body.Registered
	}
	if len(entries) == 0 {
		if registered {
			return badRequest("Invalid input for field 'registered_limits': at least one registered limit is required.")
		}
		return badRequest("Invalid input for field 'limits': at least one limit is required.")
	}
	ctx := r.Context()
	var made []*limitRow
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		made = nil
		for i := range entries {
			b := &entries[i]
			if err := s.checkLimitTarget(ctx, b); err != nil {
				return err
			}
			l, err := insert(ctx, tx, b)
			if err != nil {
				return err
			}
			made = append(made, l)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.writeLimits(w, http.StatusCreated, made, registered, nil)
	return nil
}

func (s *Service) createRegisteredLimits(w http.ResponseWriter, r *http.Request, tok *Token) error {
	return s.createLimitRows(w, r, tok, "identity:create_registered_limits", true, func(ctx context.Context, tx *store.Tx, b *limitBody) (*limitRow, error) {
		if b.DefaultLimit == nil || *b.DefaultLimit < -1 {
			return nil, badRequest("Invalid input for field 'default_limit': an integer of at least -1 is required.")
		}
		l := &limitRow{ID: newID(), ServiceID: *b.ServiceID, Region: deref(b.RegionID), Resource: *b.ResourceName,
			Description: deref(b.Description), Value: *b.DefaultLimit}
		if _, err := tx.Exec(ctx, `INSERT INTO registered_limits (id, service_id, region_id, resource_name, default_limit, description) VALUES (?, ?, ?, ?, ?, ?)`,
			l.ID, l.ServiceID, l.Region, l.Resource, l.Value, l.Description); err != nil {
			return nil, duplicate(err, "registered limit", l.Resource)
		}
		return l, nil
	})
}

// limitFilter turns the list filters Keystone takes into a WHERE clause.
func limitFilter(r *http.Request, extra ...string) (string, []any) {
	q, args := ` WHERE 1 = 1`, []any{}
	for _, f := range append([]string{"service_id", "region_id", "resource_name"}, extra...) {
		if v := r.URL.Query().Get(f); v != "" {
			q += ` AND ` + f + ` = ?`
			args = append(args, v)
		}
	}
	return q, args
}

func (s *Service) listRegisteredLimits(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:list_registered_limits", policy.Target{}); err != nil {
		return err
	}
	where, args := limitFilter(r)
	ls, err := s.scanLimits(r.Context(), `SELECT `+registeredColumns+` FROM registered_limits`+where+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	s.writeLimits(w, http.StatusOK, ls, true, s.listLinks(r))
	return nil
}

func (s *Service) registeredLimitFor(r *http.Request) (*limitRow, error) {
	id := r.PathValue("limit_id")
	ls, err := s.scanLimits(r.Context(), `SELECT `+registeredColumns+` FROM registered_limits WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, notFound("registered limit", id)
	}
	return ls[0], nil
}

func (s *Service) showRegisteredLimit(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:get_registered_limit", policy.Target{}); err != nil {
		return err
	}
	l, err := s.registeredLimitFor(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"registered_limit": s.limitJSON(l, true)})
	return nil
}

func (s *Service) updateRegisteredLimit(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:update_registered_limit", policy.Target{}); err != nil {
		return err
	}
	l, err := s.registeredLimitFor(r)
	if err != nil {
		return err
	}
	var body struct {
		Limit limitBody `json:"registered_limit"`
	}
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	b := &body.Limit
	if b.ServiceID != nil || b.RegionID != nil || b.ResourceName != nil {
		return badRequest("Only 'default_limit' and 'description' of a registered limit can change.")
	}
	if b.DefaultLimit != nil {
		if *b.DefaultLimit < -1 {
			return badRequest("Invalid input for field 'default_limit': an integer of at least -1 is required.")
		}
		l.Value = *b.DefaultLimit
	}
	if b.Description != nil {
		l.Description = *b.Description
	}
	if _, err := s.db.Exec(r.Context(), `UPDATE registered_limits SET default_limit = ?, description = ? WHERE id = ?`, l.Value, l.Description, l.ID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"registered_limit": s.limitJSON(l, true)})
	return nil
}

func (s *Service) deleteRegisteredLimit(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:delete_registered_limit", policy.Target{}); err != nil {
		return err
	}
	l, err := s.registeredLimitFor(r)
	if err != nil {
		return err
	}
	var n int
	if err := s.db.QueryRow(r.Context(), `SELECT COUNT(*) FROM project_limits WHERE service_id = ? AND region_id = ? AND resource_name = ?`,
		l.ServiceID, l.Region, l.Resource).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return forbidden("The registered limit is in use by %d project limits; delete them first.", n)
	}
	if _, err := s.db.Exec(r.Context(), `DELETE FROM registered_limits WHERE id = ?`, l.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) createLimits(w http.ResponseWriter, r *http.Request, tok *Token) error {
	return s.createLimitRows(w, r, tok, "identity:create_limits", false, func(ctx context.Context, tx *store.Tx, b *limitBody) (*limitRow, error) {
		if b.DomainID != nil {
			return nil, badRequest("Limits for domains are not supported; give a 'project_id'.")
		}
		if b.ProjectID == nil {
			return nil, badRequest("Invalid input: 'project_id' is required.")
		}
		if _, err := s.getProject(ctx, *b.ProjectID); err != nil {
			return nil, referenced(err, "project", *b.ProjectID)
		}
		if b.ResourceLimit == nil || *b.ResourceLimit < -1 {
			return nil, badRequest("Invalid input for field 'resource_limit': an integer of at least -1 is required.")
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM registered_limits WHERE service_id = ? AND region_id = ? AND resource_name = ?`,
			*b.ServiceID, deref(b.RegionID), *b.ResourceName).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, forbidden("No registered limit exists for %s of service %s; register one first.", *b.ResourceName, *b.ServiceID)
		}
		l := &limitRow{ID: newID(), ProjectID: *b.ProjectID, ServiceID: *b.ServiceID, Region: deref(b.RegionID), Resource: *b.ResourceName,
			Description: deref(b.Description), Value: *b.ResourceLimit}
		if _, err := tx.Exec(ctx, `INSERT INTO project_limits (id, project_id, service_id, region_id, resource_name, resource_limit, description) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			l.ID, l.ProjectID, l.ServiceID, l.Region, l.Resource, l.Value, l.Description); err != nil {
			return nil, duplicate(err, "limit", l.Resource)
		}
		return l, nil
	})
}

func (s *Service) listLimits(w http.ResponseWriter, r *http.Request, tok *Token) error {
	where, args := limitFilter(r, "project_id")
	if !tok.Credentials().HasRole(policy.Admin) {
		// Others see the limits of the project their token is scoped to.
		where += ` AND project_id = ?`
		args = append(args, tok.ProjectID)
	}
	ls, err := s.scanLimits(r.Context(), `SELECT `+limitColumns+` FROM project_limits`+where+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	s.writeLimits(w, http.StatusOK, ls, false, s.listLinks(r))
	return nil
}

func (s *Service) limitFor(r *http.Request, tok *Token) (*limitRow, error) {
	id := r.PathValue("limit_id")
	ls, err := s.scanLimits(r.Context(), `SELECT `+limitColumns+` FROM project_limits WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 || !policy.Allowed(tok.Credentials(), "identity:get_limit", policy.Target{ProjectID: ls[0].ProjectID}) {
		return nil, notFound("limit", id)
	}
	return ls[0], nil
}

func (s *Service) showLimit(w http.ResponseWriter, r *http.Request, tok *Token) error {
	l, err := s.limitFor(r, tok)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"limit": s.limitJSON(l, false)})
	return nil
}

func (s *Service) updateLimit(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:update_limit", policy.Target{}); err != nil {
		return err
	}
	l, err := s.limitFor(r, tok)
	if err != nil {
		return err
	}
	var body struct {
		Limit limitBody `json:"limit"`
	}
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	b := &body.Limit
	if b.ServiceID != nil || b.RegionID != nil || b.ResourceName != nil || b.ProjectID != nil || b.DomainID != nil {
		return badRequest("Only 'resource_limit' and 'description' of a limit can change.")
	}
	if b.ResourceLimit != nil {
		if *b.ResourceLimit < -1 {
			return badRequest("Invalid input for field 'resource_limit': an integer of at least -1 is required.")
		}
		l.Value = *b.ResourceLimit
	}
	if b.Description != nil {
		l.Description = *b.Description
	}
	if _, err := s.db.Exec(r.Context(), `UPDATE project_limits SET resource_limit = ?, description = ? WHERE id = ?`, l.Value, l.Description, l.ID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"limit": s.limitJSON(l, false)})
	return nil
}

func (s *Service) deleteLimit(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:delete_limit", policy.Target{}); err != nil {
		return err
	}
	l, err := s.limitFor(r, tok)
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(r.Context(), `DELETE FROM project_limits WHERE id = ?`, l.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) limitModel(w http.ResponseWriter, r *http.Request, tok *Token) error {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"model": map[string]any{"name": "flat",
		"description": "Limit enforcement and validation does not take project hierarchy into consideration."}})
	return nil
}

// Limit returns the limit of a resource of the service of type serviceType
// for a project: its own limit, else the registered default. ok is false
// when neither exists or the limit is -1 (unlimited).
func (s *Service) Limit(ctx context.Context, serviceType, projectID, resource string) (limit int64, ok bool, err error) {
	err = s.db.QueryRow(ctx, `SELECT COALESCE(
			(SELECT l.resource_limit FROM project_limits l WHERE l.service_id = r.service_id AND l.region_id = r.region_id AND l.resource_name = r.resource_name AND l.project_id = ?),
			r.default_limit)
		FROM registered_limits r JOIN services v ON v.id = r.service_id
		WHERE v.type = ? AND r.resource_name = ? AND r.region_id IN ('', ?) ORDER BY r.region_id DESC LIMIT 1`,
		projectID, serviceType, resource, s.cfg.Region).Scan(&limit)
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return limit, limit >= 0, nil
}

// RegisterLimit makes sure the service of type serviceType has a
// registered limit for resource, with def as its default when new.
func (s *Service) RegisterLimit(ctx context.Context, serviceType, resource string, def int64, description string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var serviceID string
		if err := store.Row(tx.QueryRow(ctx, `SELECT id FROM services WHERE type = ? ORDER BY id LIMIT 1`, serviceType).Scan(&serviceID)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM registered_limits WHERE service_id = ? AND region_id = '' AND resource_name = ?`, serviceID, resource).Scan(&n); err != nil || n > 0 {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO registered_limits (id, service_id, region_id, resource_name, default_limit, description) VALUES (?, ?, '', ?, ?, ?)`,
			newID(), serviceID, resource, def, description)
		return err
	})
}
