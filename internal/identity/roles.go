package identity

import (
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
)

func (s *Service) roleJSON(r *role) map[string]any {
	return map[string]any{"id": r.ID, "name": r.Name, "domain_id": nil, "description": r.Description,
		"options": map[string]any{}, "links": map[string]any{"self": s.url("/v3/roles/" + r.ID)}}
}

type roleBody struct {
	Role struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
		DomainID    *string `json:"domain_id"`
	} `json:"role"`
}

func (s *Service) listRoles(w http.ResponseWriter, r *http.Request, tok *Token) error {
	c := tok.Credentials()
	if err := policy.Enforce(c, "identity:list_roles", policy.Target{}); err != nil {
		return err
	}
	all, err := s.allRoles(r.Context())
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("name")
	out := []map[string]any{}
	for i := range all {
		if name != "" && all[i].Name != name {
			continue
		}
		out = append(out, s.roleJSON(&all[i]))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"roles": out, "links": s.listLinks(r)})
	return nil
}

func (s *Service) showRole(w http.ResponseWriter, r *http.Request, tok *Token) error {
	ro, err := s.getRole(r.Context(), r.PathValue("role_id"))
	if err != nil {
		return err
	}
	if err := enforce(tok, "identity:get_role", policy.Target{RoleName: ro.Name}); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"role": s.roleJSON(ro)})
	return nil
}

func (s *Service) createRole(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:create_role", policy.Target{}); err != nil {
		return err
	}
	var body roleBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Role.DomainID != nil && *body.Role.DomainID != "" {
		return badRequest("Domain-specific roles are not supported.")
	}
	if err := validName(body.Role.Name); err != nil {
		return err
	}
	ro := &role{ID: newID(), Name: *body.Role.Name}
	if body.Role.Description != nil {
		ro.Description = *body.Role.Description
	}
	if _, err := s.db.Exec(r.Context(), `INSERT INTO roles (id, name, description) VALUES (?, ?, ?)`, ro.ID, ro.Name, ro.Description); err != nil {
		return duplicate(err, "role", ro.Name)
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"role": s.roleJSON(ro)})
	return nil
}

func (s *Service) updateRole(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:update_role", policy.Target{}); err != nil {
		return err
	}
	ctx := r.Context()
	ro, err := s.getRole(ctx, r.PathValue("role_id"))
	if err != nil {
		return err
	}
	var body roleBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Role.Name != nil && *body.Role.Name != ro.Name {
		if err := validName(body.Role.Name); err != nil {
			return err
		}
		if _, builtin := policy.Implied[ro.Name]; builtin || ro.Name == policy.Reader {
			return forbidden("The SCS role %s cannot be renamed.", ro.Name)
		}
		ro.Name = *body.Role.Name
	}
	if body.Role.Description != nil {
		ro.Description = *body.Role.Description
	}
	if _, err := s.db.Exec(ctx, `UPDATE roles SET name = ?, description = ? WHERE id = ?`, ro.Name, ro.Description, ro.ID); err != nil {
		return duplicate(err, "role", ro.Name)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"role": s.roleJSON(ro)})
	return nil
}

func (s *Service) deleteRole(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := enforce(tok, "identity:delete_role", policy.Target{}); err != nil {
		return err
	}
	ctx := r.Context()
	ro, err := s.getRole(ctx, r.PathValue("role_id"))
	if err != nil {
		return err
	}
	if _, builtin := policy.Implied[ro.Name]; builtin || ro.Name == policy.Reader {
		return forbidden("The SCS role %s cannot be deleted.", ro.Name)
	}
	err = s.execRevoking(ctx, revocation{RoleID: ro.ID},
		stmt{`DELETE FROM role_assignments WHERE role_id = ?`, []any{ro.ID}},
		stmt{`DELETE FROM roles WHERE id = ?`, []any{ro.ID}})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
