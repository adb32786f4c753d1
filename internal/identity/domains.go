package identity

import (
	"net/http"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

func (s *Service) domainJSON(d *domain) map[string]any {
	return map[string]any{"id": d.ID, "name": d.Name, "description": d.Description, "enabled": d.Enabled,
		"tags": []string{}, "options": map[string]any{}, "links": map[string]any{"self": s.url("/v3/domains/" + d.ID)}}
}

// listLinks is the "links" member of every list response.
func (s *Service) listLinks(r *http.Request) map[string]any {
	self := s.url(strings.TrimPrefix(r.URL.Path, "/identity"))
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	return map[string]any{"self": self, "previous": nil, "next": nil}
}

// listDomainFilter decides which domain a list may cover: any (or the one
// asked for) for an admin, else only the caller's own domain scope.
func listDomainFilter(tok *Token, action, requested string) (string, error) {
	c := tok.Credentials()
	if c.HasRole(policy.Admin) {
		return requested, nil
	}
	if requested != "" && requested != tok.DomainID {
		return "", policy.Enforce(c, action, policy.Target{DomainID: requested})
	}
	if err := policy.Enforce(c, action, policy.Target{DomainID: tok.DomainID}); err != nil {
		return "", err
	}
	return tok.DomainID, nil
}

type domainBody struct {
	Domain struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
		Enabled     *bool   `json:"enabled"`
	} `json:"domain"`
}

func (s *Service) listDomains(w http.ResponseWriter, r *http.Request, tok *Token) error {
	c := tok.Credentials()
	if err := policy.Enforce(c, "identity:list_domains", policy.Target{}); err != nil {
		return err
	}
	var f filter
	if !c.HasRole(policy.Admin) {
		f.where, f.args = ` AND id = ?`, []any{tok.DomainID}
	}
	f.eq("name", r.URL.Query().Get("name"))
	f.boolParam(r, "enabled", "enabled")
	return s.writeDomains(w, r, `SELECT `+domainColumns+` FROM domains WHERE 1 = 1`+f.where+` ORDER BY name`, f.args...)
}

func (s *Service) writeDomains(w http.ResponseWriter, r *http.Request, q string, args ...any) error {
	return s.writeList(w, r, "domains", q, args, func(row store.Scanner) (map[string]any, error) {
		d, err := scanDomain(row)
		return s.domainJSON(d), err
	})
}

func (s *Service) showDomain(w http.ResponseWriter, r *http.Request, tok *Token) error {
	id := r.PathValue("domain_id")
	if err := enforce(tok, "identity:get_domain", policy.Target{DomainID: id}); err != nil {
		return err
	}
	d, err := s.getDomain(r.Context(), id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"domain": s.domainJSON(d)})
	return nil
}

func (s *Service) createDomain(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:create_domain", policy.Target{}); err != nil {
		return err
	}
	var body domainBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	d := &domain{ID: newID(), Enabled: true}
	if err := applyDomain(d, &body, true); err != nil {
		return err
	}
	_, err := s.db.Exec(r.Context(), `INSERT INTO domains (id, name, description, enabled) VALUES (?, ?, ?, ?)`,
		d.ID, d.Name, d.Description, d.Enabled)
	if err != nil {
		return duplicate(err, "domain", d.Name)
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"domain": s.domainJSON(d)})
	return nil
}

func applyDomain(d *domain, body *domainBody, create bool) error {
	b := &body.Domain
	if b.Name != nil || create {
		if err := validName(b.Name); err != nil {
			return err
		}
		d.Name = *b.Name
	}
	if b.Description != nil {
		d.Description = *b.Description
	}
	if b.Enabled != nil {
		d.Enabled = *b.Enabled
	}
	return nil
}

func (s *Service) updateDomain(w http.ResponseWriter, r *http.Request, tok *Token) error {
	id := r.PathValue("domain_id")
	if err := enforce(tok, "identity:update_domain", policy.Target{DomainID: id}); err != nil {
		return err
	}
	var body domainBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := s.getDomain(ctx, id)
	if err != nil {
		return err
	}
	wasEnabled := d.Enabled
	if err := applyDomain(d, &body, false); err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE domains SET name = ?, description = ?, enabled = ? WHERE id = ?`,
			d.Name, d.Description, d.Enabled, d.ID); err != nil {
			return duplicate(err, "domain", d.Name)
		}
		if wasEnabled && !d.Enabled {
			return s.revoked.revoke(ctx, tx, revocation{DomainID: d.ID})
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"domain": s.domainJSON(d)})
	return nil
}

func (s *Service) deleteDomain(w http.ResponseWriter, r *http.Request, tok *Token) error {
	id := r.PathValue("domain_id")
	if err := enforce(tok, "identity:delete_domain", policy.Target{DomainID: id}); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := s.getDomain(ctx, id)
	if err != nil {
		return err
	}
	if d.Enabled {
		return forbidden("Cannot delete a domain that is enabled, please disable it first.")
	}
	var stmts []stmt
	for _, q := range []string{
		`DELETE FROM role_assignments WHERE target_type = 'domain' AND target_id = ?`,
		`DELETE FROM role_assignments WHERE target_type = 'project' AND target_id IN (SELECT id FROM projects WHERE domain_id = ?)`,
		`DELETE FROM role_assignments WHERE actor_type = 'user' AND actor_id IN (SELECT id FROM users WHERE domain_id = ?)`,
		`DELETE FROM role_assignments WHERE actor_type = 'group' AND actor_id IN (SELECT id FROM user_groups WHERE domain_id = ?)`,
		`DELETE FROM users WHERE domain_id = ?`,
		`DELETE FROM user_groups WHERE domain_id = ?`,
		`DELETE FROM projects WHERE domain_id = ?`,
		`DELETE FROM ldap_domains WHERE domain_id = ?`,
		`DELETE FROM domains WHERE id = ?`,
	} {
		stmts = append(stmts, stmt{q, []any{id}})
	}
	if err := s.execRevoking(ctx, revocation{DomainID: id}, stmts...); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
