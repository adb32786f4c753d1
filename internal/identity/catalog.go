package identity

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

type service struct {
	ID, Type, Name, Description string
	Enabled                     bool
}

type endpoint struct {
	ID, ServiceID, Interface, Region, URL string
	Enabled                               bool
}

// catalogCache holds the rendered service catalog, rebuilt after every
// change to services or endpoints, so tokens need no database read for it.
type catalogCache struct {
	db      *store.DB
	mu      sync.Mutex // one reload at a time: an older read never replaces a newer
	current atomic.Pointer[[]map[string]any]
}

func (c *catalogCache) get() []map[string]any { return *c.current.Load() }

func (c *catalogCache) reload(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	services, err := listServices(ctx, c.db, "")
	if err != nil {
		return err
	}
	endpoints, err := listEndpoints(ctx, c.db, "", "")
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, svc := range services {
		if !svc.Enabled {
			continue
		}
		eps := []map[string]any{}
		for _, ep := range endpoints {
			if ep.ServiceID == svc.ID && ep.Enabled {
				eps = append(eps, map[string]any{"id": ep.ID, "interface": ep.Interface, "region": ep.Region,
					"region_id": ep.Region, "url": ep.URL})
			}
		}
		out = append(out, map[string]any{"id": svc.ID, "type": svc.Type, "name": svc.Name, "endpoints": eps})
	}
	c.current.Store(&out)
	return nil
}

func listServices(ctx context.Context, db *store.DB, typ string) ([]service, error) {
	q, args := `SELECT id, type, name, description, enabled FROM services`, []any{}
	if typ != "" {
		q += ` WHERE type = ?`
		args = append(args, typ)
	}
	rows, err := db.Query(ctx, q+` ORDER BY type, id`, args...)
	if err != nil {
		return nil, err
	}
	return store.Collect(rows, func(row store.Scanner) (service, error) {
		var s service
		return s, row.Scan(&s.ID, &s.Type, &s.Name, &s.Description, &s.Enabled)
	})
}

func listEndpoints(ctx context.Context, db *store.DB, serviceID, iface string) ([]endpoint, error) {
	q, args := `SELECT id, service_id, interface, region_id, url, enabled FROM endpoints WHERE 1 = 1`, []any{}
	if serviceID != "" {
		q += ` AND service_id = ?`
		args = append(args, serviceID)
	}
	if iface != "" {
		q += ` AND interface = ?`
		args = append(args, iface)
	}
	rows, err := db.Query(ctx, q+` ORDER BY service_id, interface`, args...)
	if err != nil {
		return nil, err
	}
	return store.Collect(rows, func(row store.Scanner) (endpoint, error) {
		var e endpoint
		return e, row.Scan(&e.ID, &e.ServiceID, &e.Interface, &e.Region, &e.URL, &e.Enabled)
	})
}

func (s *Service) serviceJSON(svc *service) map[string]any {
	return map[string]any{"id": svc.ID, "type": svc.Type, "name": svc.Name, "description": svc.Description,
		"enabled": svc.Enabled, "links": map[string]any{"self": s.url("/v3/services/" + svc.ID)}}
}

func (s *Service) endpointJSON(ep *endpoint) map[string]any {
	return map[string]any{"id": ep.ID, "service_id": ep.ServiceID, "interface": ep.Interface, "region": ep.Region,
		"region_id": ep.Region, "url": ep.URL, "enabled": ep.Enabled, "links": map[string]any{"self": s.url("/v3/endpoints/" + ep.ID)}}
}

// catalogHandler serves GET /v3/auth/catalog.
func (s *Service) catalogHandler(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if tok.ProjectID == "" && tok.DomainID == "" {
		return forbidden("The service catalog needs a scoped token.")
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"catalog": s.catalog.get(), "links": s.listLinks(r)})
	return nil
}

func (s *Service) listServicesHandler(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:list_services", noTarget); err != nil {
		return err
	}
	svcs, err := listServices(r.Context(), s.db, r.URL.Query().Get("type"))
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("name")
	out := []map[string]any{}
	for i := range svcs {
		if name == "" || svcs[i].Name == name {
			out = append(out, s.serviceJSON(&svcs[i]))
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"services": out, "links": s.listLinks(r)})
	return nil
}

func (s *Service) getService(ctx context.Context, id string) (*service, error) {
	svc := &service{}
	err := s.db.QueryRow(ctx, `SELECT id, type, name, description, enabled FROM services WHERE id = ?`, id).
		Scan(&svc.ID, &svc.Type, &svc.Name, &svc.Description, &svc.Enabled)
	return svc, notFoundAs(err, "service", id)
}

func (s *Service) showService(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:get_service", noTarget); err != nil {
		return err
	}
	svc, err := s.getService(r.Context(), r.PathValue("service_id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"service": s.serviceJSON(svc)})
	return nil
}

type serviceBody struct {
	Service struct {
		Type        *string `json:"type"`
		Name        *string `json:"name"`
		Description *string `json:"description"`
		Enabled     *bool   `json:"enabled"`
	} `json:"service"`
}

func (b *serviceBody) apply(svc *service) error {
	if b.Service.Type != nil {
		svc.Type = *b.Service.Type
	}
	if svc.Type == "" {
		return badRequest("Invalid input for field 'type': 'type' is a required property.")
	}
	if b.Service.Name != nil {
		svc.Name = *b.Service.Name
	}
	if b.Service.Description != nil {
		svc.Description = *b.Service.Description
	}
	if b.Service.Enabled != nil {
		svc.Enabled = *b.Service.Enabled
	}
	return nil
}

func (s *Service) createService(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:create_service", noTarget); err != nil {
		return err
	}
	var body serviceBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	svc := &service{ID: newID(), Enabled: true}
	if err := body.apply(svc); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.db.Exec(ctx, `INSERT INTO services (id, type, name, description, enabled) VALUES (?, ?, ?, ?, ?)`,
		svc.ID, svc.Type, svc.Name, svc.Description, svc.Enabled); err != nil {
		return err
	}
	if err := s.catalog.reload(ctx); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"service": s.serviceJSON(svc)})
	return nil
}

func (s *Service) updateService(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:update_service", noTarget); err != nil {
		return err
	}
	ctx := r.Context()
	svc, err := s.getService(ctx, r.PathValue("service_id"))
	if err != nil {
		return err
	}
	var body serviceBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if err := body.apply(svc); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `UPDATE services SET type = ?, name = ?, description = ?, enabled = ? WHERE id = ?`,
		svc.Type, svc.Name, svc.Description, svc.Enabled, svc.ID); err != nil {
		return err
	}
	if err := s.catalog.reload(ctx); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"service": s.serviceJSON(svc)})
	return nil
}

func (s *Service) deleteService(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:delete_service", noTarget); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("service_id")
	if err := store.Affected(s.db.Exec(ctx, `DELETE FROM services WHERE id = ?`, id)); err != nil {
		return notFound("service", id)
	}
	if err := s.catalog.reload(ctx); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) listEndpointsHandler(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:list_endpoints", noTarget); err != nil {
		return err
	}
	eps, err := listEndpoints(r.Context(), s.db, r.URL.Query().Get("service_id"), r.URL.Query().Get("interface"))
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for i := range eps {
		if region := r.URL.Query().Get("region_id"); region != "" && eps[i].Region != region {
			continue
		}
		out = append(out, s.endpointJSON(&eps[i]))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"endpoints": out, "links": s.listLinks(r)})
	return nil
}

func (s *Service) getEndpoint(ctx context.Context, id string) (*endpoint, error) {
	ep := &endpoint{}
	err := s.db.QueryRow(ctx, `SELECT id, service_id, interface, region_id, url, enabled FROM endpoints WHERE id = ?`, id).
		Scan(&ep.ID, &ep.ServiceID, &ep.Interface, &ep.Region, &ep.URL, &ep.Enabled)
	return ep, notFoundAs(err, "endpoint", id)
}

func (s *Service) showEndpoint(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:get_endpoint", noTarget); err != nil {
		return err
	}
	ep, err := s.getEndpoint(r.Context(), r.PathValue("endpoint_id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"endpoint": s.endpointJSON(ep)})
	return nil
}

type endpointBody struct {
	Endpoint struct {
		ServiceID *string `json:"service_id"`
		Interface *string `json:"interface"`
		Region    *string `json:"region"`
		RegionID  *string `json:"region_id"`
		URL       *string `json:"url"`
		Enabled   *bool   `json:"enabled"`
	} `json:"endpoint"`
}

func (s *Service) applyEndpoint(ctx context.Context, ep *endpoint, body *endpointBody) error {
	b := &body.Endpoint
	if b.ServiceID != nil {
		ep.ServiceID = *b.ServiceID
	}
	if b.Interface != nil {
		ep.Interface = *b.Interface
	}
	if b.Region != nil {
		ep.Region = *b.Region
	}
	if b.RegionID != nil {
		ep.Region = *b.RegionID
	}
	if b.URL != nil {
		ep.URL = *b.URL
	}
	if b.Enabled != nil {
		ep.Enabled = *b.Enabled
	}
	switch ep.Interface {
	case "public", "internal", "admin":
	default:
		return badRequest("Invalid input for field 'interface': must be one of public, internal, admin.")
	}
	if ep.URL == "" {
		return badRequest("Invalid input for field 'url': 'url' is a required property.")
	}
	_, err := s.getService(ctx, ep.ServiceID)
	return referenced(err, "service", ep.ServiceID)
}

func (s *Service) createEndpoint(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:create_endpoint", noTarget); err != nil {
		return err
	}
	var body endpointBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	ctx := r.Context()
	ep := &endpoint{ID: newID(), Enabled: true}
	if err := s.applyEndpoint(ctx, ep, &body); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO endpoints (id, service_id, interface, region_id, url, enabled) VALUES (?, ?, ?, ?, ?, ?)`,
		ep.ID, ep.ServiceID, ep.Interface, ep.Region, ep.URL, ep.Enabled); err != nil {
		return err
	}
	if err := s.catalog.reload(ctx); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"endpoint": s.endpointJSON(ep)})
	return nil
}

func (s *Service) updateEndpoint(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:update_endpoint", noTarget); err != nil {
		return err
	}
	ctx := r.Context()
	ep, err := s.getEndpoint(ctx, r.PathValue("endpoint_id"))
	if err != nil {
		return err
	}
	var body endpointBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if err := s.applyEndpoint(ctx, ep, &body); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `UPDATE endpoints SET service_id = ?, interface = ?, region_id = ?, url = ?, enabled = ? WHERE id = ?`,
		ep.ServiceID, ep.Interface, ep.Region, ep.URL, ep.Enabled, ep.ID); err != nil {
		return err
	}
	if err := s.catalog.reload(ctx); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"endpoint": s.endpointJSON(ep)})
	return nil
}

func (s *Service) deleteEndpoint(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:delete_endpoint", noTarget); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("endpoint_id")
	if err := store.Affected(s.db.Exec(ctx, `DELETE FROM endpoints WHERE id = ?`, id)); err != nil {
		return notFound("endpoint", id)
	}
	if err := s.catalog.reload(ctx); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listRegions serves GET /v3/regions: the regions the catalog's endpoints name.
func (s *Service) listRegions(w http.ResponseWriter, r *http.Request, tok *Token) error {
	eps, err := listEndpoints(r.Context(), s.db, "", "")
	if err != nil {
		return err
	}
	seen := map[string]bool{s.cfg.Region: true}
	for _, ep := range eps {
		if ep.Region != "" {
			seen[ep.Region] = true
		}
	}
	out := []map[string]any{}
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, s.regionJSON(id))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"regions": out, "links": s.listLinks(r)})
	return nil
}

func (s *Service) regionJSON(id string) map[string]any {
	return map[string]any{"id": id, "description": "", "parent_region_id": nil, "links": map[string]any{"self": s.url("/v3/regions/" + id)}}
}

// showRegion serves GET /v3/regions/{region_id}.
func (s *Service) showRegion(w http.ResponseWriter, r *http.Request, tok *Token) error {
	id := r.PathValue("region_id")
	eps, err := listEndpoints(r.Context(), s.db, "", "")
	if err != nil {
		return err
	}
	if id != s.cfg.Region && !slices.ContainsFunc(eps, func(ep endpoint) bool { return ep.Region == id }) {
		return notFound("region", id)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"region": s.regionJSON(id)})
	return nil
}
