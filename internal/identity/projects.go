package identity

import (
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

func (s *Service) projectJSON(p *project) map[string]any {
	return map[string]any{"id": p.ID, "name": p.Name, "domain_id": p.DomainID, "description": p.Description,
		"enabled": p.Enabled, "parent_id": p.DomainID, "is_domain": false, "tags": []string{}, "options": map[string]any{},
		"links": map[string]any{"self": s.url("/v3/projects/" + p.ID)}}
}

type projectBody struct {
	Project struct {
		Name        *string `json:"name"`
		DomainID    *string `json:"domain_id"`
		Description *string `json:"description"`
		Enabled     *bool   `json:"enabled"`
		ParentID    *string `json:"parent_id"`
		IsDomain    *bool   `json:"is_domain"`
	} `json:"project"`
}

func (s *Service) listProjects(w http.ResponseWriter, r *http.Request, tok *Token) error {
	query := r.URL.Query()
	domainID, err := listDomainFilter(tok, "identity:list_projects", query.Get("domain_id"))
	if err != nil {
		return err
	}
	var f filter
	f.eq("domain_id", domainID)
	f.eq("name", query.Get("name"))
	f.boolParam(r, "enabled", "enabled")
	return s.writeProjects(w, r, `SELECT `+projectColumns+` FROM projects WHERE 1 = 1`+f.where+` ORDER BY name`, f.args...)
}

func (s *Service) writeProjects(w http.ResponseWriter, r *http.Request, q string, args ...any) error {
	return s.writeList(w, r, "projects", q, args, func(row store.Scanner) (map[string]any, error) {
		p, err := scanProject(row)
		return s.projectJSON(p), err
	})
}

// listUserProjects serves GET /v3/users/{user_id}/projects: the projects the
// user has a role on.
func (s *Service) listUserProjects(w http.ResponseWriter, r *http.Request, tok *Token) error {
	ctx := r.Context()
	u, err := s.getUser(ctx, r.PathValue("user_id"))
	if err != nil {
		return err
	}
	if err := enforce(tok, "identity:get_user", policy.Target{DomainID: u.DomainID, UserID: u.ID}); err != nil {
		return err
	}
	return s.writeProjects(w, r, `SELECT `+projectColumns+` FROM projects WHERE id IN (`+userProjectIDs+`) ORDER BY name`, u.ID, u.ID, u.ID, u.ID)
}

// userProjectIDs selects the ids of the projects a user (given four times) has a role on.
const userProjectIDs = `SELECT a.target_id FROM role_assignments a WHERE a.target_type = 'project' AND a.inherited = false
	AND ((a.actor_type = 'user' AND a.actor_id = ?) OR (a.actor_type = 'group' AND a.actor_id IN (SELECT group_id FROM group_members WHERE user_id = ?)))
	UNION SELECT p.id FROM projects p JOIN role_assignments a ON a.target_type = 'domain' AND a.target_id = p.domain_id AND a.inherited = true
	WHERE (a.actor_type = 'user' AND a.actor_id = ?) OR (a.actor_type = 'group' AND a.actor_id IN (SELECT group_id FROM group_members WHERE user_id = ?))`

func (s *Service) showProject(w http.ResponseWriter, r *http.Request, tok *Token) error {
	p, err := s.getProject(r.Context(), r.PathValue("project_id"))
	if err != nil {
		return s.hideNotFound(tok, "identity:get_project", err)
	}
	if err := enforce(tok, "identity:get_project", policy.Target{DomainID: p.DomainID, ProjectID: p.ID}); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"project": s.projectJSON(p)})
	return nil
}

// hideNotFound answers a lookup of an unknown id with 403 to a caller who
// could not have seen it anyway, as Keystone does, so ids cannot be probed.
func (s *Service) hideNotFound(tok *Token, action string, err error) error {
	c := tok.Credentials()
	if c.HasRole(policy.Admin) || c.DomainID != "" {
		return err
	}
	return policy.Enforce(c, action, policy.Target{DomainID: "\x00"})
}

// tokenDomain is the domain a new resource goes to when the request names none.
func tokenDomain(tok *Token) string {
	switch {
	case tok.DomainID != "":
		return tok.DomainID
	case tok.ProjectDomainID != "":
		return tok.ProjectDomainID
	}
	return tok.UserDomainID
}

func (s *Service) createProject(w http.ResponseWriter, r *http.Request, tok *Token) error {
	var body projectBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	b := &body.Project
	if b.IsDomain != nil && *b.IsDomain {
		return badRequest("Projects acting as domains are not supported; create a domain instead.")
	}
	p := &project{ID: newID(), Enabled: true, DomainID: tokenDomain(tok)}
	if b.DomainID != nil {
		p.DomainID = *b.DomainID
	}
	if b.ParentID != nil && *b.ParentID != "" && *b.ParentID != p.DomainID {
		return badRequest("Project hierarchies are not supported: 'parent_id' must be the project's domain.")
	}
	if err := enforce(tok, "identity:create_project", policy.Target{DomainID: p.DomainID}); err != nil {
		return err
	}
	if err := applyProject(p, &body, true); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.getDomain(ctx, p.DomainID); err != nil {
		return referenced(err, "domain", p.DomainID)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO projects (id, domain_id, name, description, enabled) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.DomainID, p.Name, p.Description, p.Enabled)
	if err != nil {
		return duplicate(err, "project", p.Name)
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"project": s.projectJSON(p)})
	return nil
}

func applyProject(p *project, body *projectBody, create bool) error {
	b := &body.Project
	if b.Name != nil || create {
		if err := validName(b.Name); err != nil {
			return err
		}
		p.Name = *b.Name
	}
	if b.Description != nil {
		p.Description = *b.Description
	}
	if b.Enabled != nil {
		p.Enabled = *b.Enabled
	}
	return nil
}

func (s *Service) updateProject(w http.ResponseWriter, r *http.Request, tok *Token) error {
	ctx := r.Context()
	p, err := s.getProject(ctx, r.PathValue("project_id"))
	if err != nil {
		return s.hideNotFound(tok, "identity:update_project", err)
	}
	if err := enforce(tok, "identity:update_project", policy.Target{DomainID: p.DomainID, ProjectID: p.ID}); err != nil {
		return err
	}
	var body projectBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Project.DomainID != nil && *body.Project.DomainID != p.DomainID {
		return badRequest("Invalid input for field 'domain_id': a project cannot move to another domain.")
	}
	wasEnabled := p.Enabled
	if err := applyProject(p, &body, false); err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE projects SET name = ?, description = ?, enabled = ? WHERE id = ?`,
			p.Name, p.Description, p.Enabled, p.ID); err != nil {
			return duplicate(err, "project", p.Name)
		}
		if wasEnabled && !p.Enabled {
			return s.revoked.revoke(ctx, tx, revocation{ProjectID: p.ID})
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"project": s.projectJSON(p)})
	return nil
}

func (s *Service) deleteProject(w http.ResponseWriter, r *http.Request, tok *Token) error {
	ctx := r.Context()
	p, err := s.getProject(ctx, r.PathValue("project_id"))
	if err != nil {
		return s.hideNotFound(tok, "identity:delete_project", err)
	}
	if err := enforce(tok, "identity:delete_project", policy.Target{DomainID: p.DomainID, ProjectID: p.ID}); err != nil {
		return err
	}
	err = s.execRevoking(ctx, revocation{ProjectID: p.ID},
		stmt{`DELETE FROM role_assignments WHERE target_type = 'project' AND target_id = ?`, []any{p.ID}},
		stmt{`DELETE FROM projects WHERE id = ?`, []any{p.ID}})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
