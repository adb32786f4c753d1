package federation

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/identity/mapping"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// Register adds the OS-FEDERATION API (identity providers, mappings,
// protocols) to mux; only admins use it.
func (f *Federation) Register(mux *http.ServeMux) {
	base := "/identity/v3/OS-FEDERATION"
	h := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error) {
		mux.Handle(pattern, f.dir.Authed(fn))
	}
	h("GET "+base+"/identity_providers", f.listProviders)
	h("PUT "+base+"/identity_providers/{idp_id}", f.createProvider)
	h("GET "+base+"/identity_providers/{idp_id}", f.showProvider)
	h("PATCH "+base+"/identity_providers/{idp_id}", f.updateProvider)
	h("DELETE "+base+"/identity_providers/{idp_id}", f.deleteProvider)
	h("GET "+base+"/identity_providers/{idp_id}/protocols", f.listProtocols)
	h("PUT "+base+"/identity_providers/{idp_id}/protocols/{protocol_id}", f.putProtocol(true))
	h("GET "+base+"/identity_providers/{idp_id}/protocols/{protocol_id}", f.showProtocol)
	h("PATCH "+base+"/identity_providers/{idp_id}/protocols/{protocol_id}", f.putProtocol(false))
	h("DELETE "+base+"/identity_providers/{idp_id}/protocols/{protocol_id}", f.deleteProtocol)
	h("GET "+base+"/mappings", f.listMappings)
	h("PUT "+base+"/mappings/{mapping_id}", f.putMapping(true))
	h("GET "+base+"/mappings/{mapping_id}", f.showMapping)
	h("PATCH "+base+"/mappings/{mapping_id}", f.putMapping(false))
	h("DELETE "+base+"/mappings/{mapping_id}", f.deleteMapping)
}

// validID is what ids given in URLs must look like.
var validID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func bad(format string, a ...any) error { return httpapi.Errorf(http.StatusBadRequest, format, a...) }

func notFound(kind, id string) error {
	return httpapi.Errorf(http.StatusNotFound, "Could not find %s: %s.", kind, id)
}

func (f *Federation) url(path string) string {
	return f.publicURL + "/identity/v3/OS-FEDERATION" + path
}

// providerBody is an identity provider as the API reads it.
type providerBody struct {
	DomainID    *string       `json:"domain_id"`
	Description *string       `json:"description"`
	Enabled     *bool         `json:"enabled"`
	RemoteIDs   *[]string     `json:"remote_ids"`
	OIDC        *Settings     `json:"oidc"`
	SAML        *SAMLSettings `json:"saml"`
	TTL         *int          `json:"authorization_ttl"`
}

func (f *Federation) providerView(p *IdentityProvider) map[string]any {
	s := p.Settings
	oidc := map[string]any{"audiences": nonNil(s.Audiences), "client_id": s.ClientID, "ca_certificate": s.CACertificate, "scopes": nonNil(s.Scopes)}
	return map[string]any{"id": p.ID, "domain_id": p.DomainID, "description": p.Description, "enabled": p.Enabled,
		"remote_ids": nonNil(p.RemoteIDs), "authorization_ttl": nil, "oidc": oidc, "saml": p.SAML,
		"links": map[string]any{"self": f.url("/identity_providers/" + p.ID), "protocols": f.url("/identity_providers/" + p.ID + "/protocols")}}
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func (f *Federation) listProviders(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if err := policy.Enforce(c, "identity:list_identity_providers", policy.Target{}); err != nil {
		return err
	}
	ids, err := store.Column(r.Context(), f.db, `SELECT id FROM fed_identity_providers ORDER BY id`)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	q := r.URL.Query()
	for _, id := range ids {
		p, err := f.provider(r.Context(), id)
		if err != nil {
			return err
		}
		if (q.Has("id") && q.Get("id") != p.ID) || (q.Has("enabled") && (q.Get("enabled") == "true") != p.Enabled) {
			continue
		}
		out = append(out, f.providerView(p))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"identity_providers": out, "links": map[string]any{"self": f.url("/identity_providers")}})
	return nil
}

// providerFor checks action and returns the identity provider the path names.
func (f *Federation) providerFor(r *http.Request, c *policy.Credentials, action string) (*IdentityProvider, error) {
	if err := policy.Enforce(c, action, policy.Target{}); err != nil {
		return nil, err
	}
	p, err := f.provider(r.Context(), r.PathValue("idp_id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("identity provider", r.PathValue("idp_id"))
	}
	return p, err
}

func (f *Federation) showProvider(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	p, err := f.providerFor(r, c, "identity:get_identity_provider")
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"identity_provider": f.providerView(p)})
	return nil
}

func decodeProvider(r *http.Request) (*providerBody, error) {
	var req struct {
		IdP *providerBody `json:"identity_provider"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.IdP == nil {
		return nil, bad("Expecting to find 'identity_provider' in the request body.")
	}
	return req.IdP, nil
}

// apply checks b and sets what it gives on p.
func (f *Federation) apply(p *IdentityProvider, b *providerBody) error {
	if b.Description != nil {
		p.Description = *b.Description
	}
	if b.Enabled != nil {
		p.Enabled = *b.Enabled
	}
	if b.RemoteIDs != nil {
		if len(*b.RemoteIDs) > 32 {
			return bad("At most 32 'remote_ids'.")
		}
		for _, id := range *b.RemoteIDs {
			if id == "" || len(id) > 1024 {
				return bad("A remote id is 1 to 1024 characters.")
			}
		}
		p.RemoteIDs = *b.RemoteIDs
	}
	if s := b.OIDC; s != nil {
		if len(s.Audiences) > 32 {
			return bad("At most 32 'oidc.audiences'.")
		}
		if _, err := s.pool(); s.CACertificate != "" && err != nil {
			return bad("'oidc.ca_certificate' holds no PEM certificate.")
		}
		secret := p.Settings.ClientSecret
		if s.ClientSecret != "" || s.ClientID != p.Settings.ClientID {
			secret = s.ClientSecret
		}
		p.Settings = *s
		p.Settings.ClientSecret = secret
	}
	if b.SAML != nil {
		if err := validSAML(b.SAML, p.RemoteIDs); err != nil {
			return bad("Invalid SAML settings: %v.", err)
		}
		p.SAML = *b.SAML
	}
	return nil
}

func (f *Federation) createProvider(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if err := policy.Enforce(c, "identity:create_identity_provider", policy.Target{}); err != nil {
		return err
	}
	id := r.PathValue("idp_id")
	if !validID.MatchString(id) {
		return bad("An identity provider's id is 1 to 64 letters, digits, '_', '.' or '-'.")
	}
	b, err := decodeProvider(r)
	if err != nil {
		return err
	}
	p := &IdentityProvider{ID: id, Enabled: true}
	if err := f.apply(p, b); err != nil {
		return err
	}
	ctx := r.Context()
	if b.DomainID != nil {
		ok, err := f.dir.DomainExists(ctx, *b.DomainID)
		if err != nil {
			return err
		}
		if !ok {
			return bad("Could not find domain: %s.", *b.DomainID)
		}
		p.DomainID = *b.DomainID
	} else {
		// As Keystone does: a domain of the provider's own.
		if p.DomainID, err = f.dir.CreateDomain(ctx, id, "Users of identity provider "+id); err != nil {
			return err
		}
	}
	if err := f.save(r, p, true); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"identity_provider": f.providerView(p)})
	return nil
}

// save writes p (insert or update) with its remote ids; a remote id of
// another provider is a conflict.
func (f *Federation) save(r *http.Request, p *IdentityProvider, insert bool) error {
	ctx := r.Context()
	s := p.Settings
	if s.ClientSecret != "" {
		s.ClientSecret = f.kek.Seal([]byte(s.ClientSecret), f.secretContext(p.ID))
	}
	settings, _ := json.Marshal(storedSettings{OIDC: s, SAML: p.SAML})
	return f.db.InTx(ctx, func(tx *store.Tx) error {
		if insert {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM fed_identity_providers WHERE id = ?`, p.ID).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return httpapi.Errorf(http.StatusConflict, "Duplicate entry: identity provider %s exists.", p.ID)
			}
			if err := store.Insert(ctx, tx, "fed_identity_providers", store.Values{}.Set("id", p.ID).Set("domain_id", p.DomainID).
				Set("description", p.Description).Set("enabled", p.Enabled).Set("settings", string(settings))); err != nil {
				return err
			}
		} else if _, err := tx.Exec(ctx, `UPDATE fed_identity_providers SET description = ?, enabled = ?, settings = ? WHERE id = ?`,
			p.Description, p.Enabled, string(settings), p.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM fed_remote_ids WHERE idp_id = ?`, p.ID); err != nil {
			return err
		}
		for _, rid := range p.RemoteIDs {
			var owner string
			err := tx.QueryRow(ctx, `SELECT idp_id FROM fed_remote_ids WHERE remote_id = ?`, rid).Scan(&owner)
			if err == nil {
				return httpapi.Errorf(http.StatusConflict, "Duplicate remote ID: %s is a remote id of identity provider %s.", rid, owner)
			}
			if !errors.Is(store.Row(err), store.ErrNotFound) {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO fed_remote_ids (remote_id, idp_id) VALUES (?, ?)`, rid, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

func (f *Federation) updateProvider(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	p, err := f.providerFor(r, c, "identity:update_identity_provider")
	if err != nil {
		return err
	}
	b, err := decodeProvider(r)
	if err != nil {
		return err
	}
	if b.DomainID != nil && *b.DomainID != p.DomainID {
		return bad("An identity provider's domain cannot change.")
	}
	if err := f.apply(p, b); err != nil {
		return err
	}
	if err := f.save(r, p, false); err != nil {
		return err
	}
	f.forget(p.ID)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"identity_provider": f.providerView(p)})
	return nil
}

// forget drops the cached discovery of a provider's issuers.
func (f *Federation) forget(string) {
	f.mu.Lock()
	clear(f.issuers)
	f.mu.Unlock()
}

// deleteProvider deletes a provider with its protocols and remote ids;
// its users can no longer log in through it.
func (f *Federation) deleteProvider(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if err := policy.Enforce(c, "identity:delete_identity_provider", policy.Target{}); err != nil {
		return err
	}
	id, ctx := r.PathValue("idp_id"), r.Context()
	err := f.db.InTx(ctx, func(tx *store.Tx) error {
		for _, table := range []string{"fed_protocols", "fed_remote_ids", "fed_users"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE idp_id = ?`, id); err != nil {
				return err
			}
		}
		return store.Affected(tx.Exec(ctx, `DELETE FROM fed_identity_providers WHERE id = ?`, id))
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound("identity provider", id)
	}
	if err != nil {
		return err
	}
	f.forget(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Protocol is a protocol of an identity provider.
type Protocol struct {
	ID, MappingID, RemoteIDAttribute string
}

func (f *Federation) protocolView(idp string, p *Protocol) map[string]any {
	return map[string]any{"id": p.ID, "mapping_id": p.MappingID, "remote_id_attribute": p.RemoteIDAttribute,
		"links": map[string]any{"self": f.url("/identity_providers/" + idp + "/protocols/" + p.ID), "identity_provider": f.url("/identity_providers/" + idp)}}
}

func (f *Federation) protocol(r *http.Request) (*Protocol, error) {
	p := &Protocol{ID: r.PathValue("protocol_id")}
	err := f.db.QueryRow(r.Context(), `SELECT mapping_id, remote_id_attribute FROM fed_protocols WHERE idp_id = ? AND id = ?`,
		r.PathValue("idp_id"), p.ID).Scan(&p.MappingID, &p.RemoteIDAttribute)
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, notFound("protocol", p.ID)
	}
	return p, store.Row(err)
}

func (f *Federation) listProtocols(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if _, err := f.providerFor(r, c, "identity:list_protocols"); err != nil {
		return err
	}
	idp := r.PathValue("idp_id")
	rows, err := f.db.Query(r.Context(), `SELECT id, mapping_id, remote_id_attribute FROM fed_protocols WHERE idp_id = ? ORDER BY id`, idp)
	if err != nil {
		return err
	}
	ps, err := store.Collect(rows, func(sc store.Scanner) (*Protocol, error) {
		p := &Protocol{}
		return p, sc.Scan(&p.ID, &p.MappingID, &p.RemoteIDAttribute)
	})
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, p := range ps {
		out = append(out, f.protocolView(idp, p))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"protocols": out, "links": map[string]any{"self": f.url("/identity_providers/" + idp + "/protocols")}})
	return nil
}

func (f *Federation) showProtocol(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if err := policy.Enforce(c, "identity:get_protocol", policy.Target{}); err != nil {
		return err
	}
	p, err := f.protocol(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"protocol": f.protocolView(r.PathValue("idp_id"), p)})
	return nil
}

// putProtocol creates (PUT) or updates (PATCH) a protocol.
func (f *Federation) putProtocol(create bool) func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	return func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
		action := "identity:update_protocol"
		if create {
			action = "identity:create_protocol"
		}
		if _, err := f.providerFor(r, c, action); err != nil {
			return err
		}
		ctx, idp, id := r.Context(), r.PathValue("idp_id"), r.PathValue("protocol_id")
		if !validID.MatchString(id) {
			return bad("A protocol's id is 1 to 64 letters, digits, '_', '.' or '-'.")
		}
		var req struct {
			Protocol *struct {
				MappingID         *string `json:"mapping_id"`
				RemoteIDAttribute *string `json:"remote_id_attribute"`
			} `json:"protocol"`
		}
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return err
		}
		if req.Protocol == nil {
			return bad("Expecting to find 'protocol' in the request body.")
		}
		p := &Protocol{ID: id}
		if !create {
			old, err := f.protocol(r)
			if err != nil {
				return err
			}
			p = old
		}
		if b := req.Protocol; b.MappingID != nil {
			p.MappingID = *b.MappingID
		}
		if b := req.Protocol; b.RemoteIDAttribute != nil {
			p.RemoteIDAttribute = *b.RemoteIDAttribute
		}
		if p.MappingID == "" {
			return bad("A protocol needs a 'mapping_id'.")
		}
		if _, err := f.mapping(r.Context(), p.MappingID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return bad("Could not find mapping: %s.", p.MappingID)
			}
			return err
		}
		status := http.StatusOK
		if create {
			status = http.StatusCreated
			var n int
			if err := f.db.QueryRow(ctx, `SELECT COUNT(*) FROM fed_protocols WHERE idp_id = ? AND id = ?`, idp, id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return httpapi.Errorf(http.StatusConflict, "Duplicate entry: protocol %s of identity provider %s exists.", id, idp)
			}
			if err := store.Insert(ctx, f.db, "fed_protocols", store.Values{}.Set("idp_id", idp).Set("id", id).
				Set("mapping_id", p.MappingID).Set("remote_id_attribute", p.RemoteIDAttribute)); err != nil {
				return err
			}
		} else if _, err := f.db.Exec(ctx, `UPDATE fed_protocols SET mapping_id = ?, remote_id_attribute = ? WHERE idp_id = ? AND id = ?`,
			p.MappingID, p.RemoteIDAttribute, idp, id); err != nil {
			return err
		}
		httpapi.WriteJSON(w, status, map[string]any{"protocol": f.protocolView(idp, p)})
		return nil
	}
}

func (f *Federation) deleteProtocol(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if err := policy.Enforce(c, "identity:delete_protocol", policy.Target{}); err != nil {
		return err
	}
	err := store.Affected(f.db.Exec(r.Context(), `DELETE FROM fed_protocols WHERE idp_id = ? AND id = ?`, r.PathValue("idp_id"), r.PathValue("protocol_id")))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("protocol", r.PathValue("protocol_id"))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (f *Federation) mappingView(id string, rules json.RawMessage, version string) map[string]any {
	return map[string]any{"id": id, "rules": rules, "schema_version": version, "links": map[string]any{"self": f.url("/mappings/" + id)}}
}

func (f *Federation) listMappings(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if err := policy.Enforce(c, "identity:list_mappings", policy.Target{}); err != nil {
		return err
	}
	rows, err := f.db.Query(r.Context(), `SELECT id, rules, schema_version FROM fed_mappings ORDER BY id`)
	if err != nil {
		return err
	}
	out, err := store.Collect(rows, func(sc store.Scanner) (map[string]any, error) {
		var id, rules, version string
		if err := sc.Scan(&id, &rules, &version); err != nil {
			return nil, err
		}
		return f.mappingView(id, json.RawMessage(rules), version), nil
	})
	if err != nil {
		return err
	}
	if out == nil {
		out = []map[string]any{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"mappings": out, "links": map[string]any{"self": f.url("/mappings")}})
	return nil
}

func (f *Federation) showMapping(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if err := policy.Enforce(c, "identity:get_mapping", policy.Target{}); err != nil {
		return err
	}
	var rules, version string
	err := f.db.QueryRow(r.Context(), `SELECT rules, schema_version FROM fed_mappings WHERE id = ?`, r.PathValue("mapping_id")).Scan(&rules, &version)
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return notFound("mapping", r.PathValue("mapping_id"))
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"mapping": f.mappingView(r.PathValue("mapping_id"), json.RawMessage(rules), version)})
	return nil
}

// putMapping creates (PUT) or replaces the rules of (PATCH) a mapping.
func (f *Federation) putMapping(create bool) func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	return func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
		action := "identity:update_mapping"
		if create {
			action = "identity:create_mapping"
		}
		if err := policy.Enforce(c, action, policy.Target{}); err != nil {
			return err
		}
		ctx, id := r.Context(), r.PathValue("mapping_id")
		if !validID.MatchString(id) {
			return bad("A mapping's id is 1 to 64 letters, digits, '_', '.' or '-'.")
		}
		var req struct {
			Mapping *struct {
				Rules         json.RawMessage `json:"rules"`
				SchemaVersion string          `json:"schema_version"`
			} `json:"mapping"`
		}
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return err
		}
		if req.Mapping == nil || req.Mapping.Rules == nil {
			return bad("Expecting to find 'mapping.rules' in the request body.")
		}
		version := req.Mapping.SchemaVersion
		if version == "" {
			version = "1.0"
		}
		if version != "1.0" && version != "2.0" {
			return bad("Unsupported mapping schema_version %q: want 1.0 or 2.0.", version)
		}
		if _, err := mapping.Parse([]byte(`{"rules":` + string(req.Mapping.Rules) + `}`)); err != nil {
			return bad("Invalid mapping: %s.", strings.TrimPrefix(err.Error(), "invalid mapping: "))
		}
		status := http.StatusOK
		if create {
			status = http.StatusCreated
			var n int
			if err := f.db.QueryRow(ctx, `SELECT COUNT(*) FROM fed_mappings WHERE id = ?`, id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return httpapi.Errorf(http.StatusConflict, "Duplicate entry: mapping %s exists.", id)
			}
			if err := store.Insert(ctx, f.db, "fed_mappings", store.Values{}.Set("id", id).Set("rules", string(req.Mapping.Rules)).
				Set("schema_version", version)); err != nil {
				return err
			}
		} else if err := store.Affected(f.db.Exec(ctx, `UPDATE fed_mappings SET rules = ?, schema_version = ? WHERE id = ?`,
			string(req.Mapping.Rules), version, id)); errors.Is(err, store.ErrNotFound) {
			return notFound("mapping", id)
		} else if err != nil {
			return err
		}
		httpapi.WriteJSON(w, status, map[string]any{"mapping": f.mappingView(id, req.Mapping.Rules, version)})
		return nil
	}
}

// deleteMapping deletes a mapping no protocol uses.
func (f *Federation) deleteMapping(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	if err := policy.Enforce(c, "identity:delete_mapping", policy.Target{}); err != nil {
		return err
	}
	id, ctx := r.PathValue("mapping_id"), r.Context()
	var n int
	if err := f.db.QueryRow(ctx, `SELECT COUNT(*) FROM fed_protocols WHERE mapping_id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return httpapi.Errorf(http.StatusConflict, "Mapping %s is used by %d protocol(s); delete or change them first.", id, n)
	}
	err := store.Affected(f.db.Exec(ctx, `DELETE FROM fed_mappings WHERE id = ?`, id))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("mapping", id)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
