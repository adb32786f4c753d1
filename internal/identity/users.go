package identity

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

func (s *Service) userJSON(u *user) map[string]any {
	m := map[string]any{"id": u.ID, "name": u.Name, "domain_id": u.DomainID, "enabled": u.Enabled,
		"password_expires_at": nil, "options": u.Options, "links": map[string]any{"self": s.url("/v3/users/" + u.ID)}}
	if u.DefaultProjectID != "" {
		m["default_project_id"] = u.DefaultProjectID
	}
	if u.Email != "" {
		m["email"] = u.Email
	}
	if u.Description != "" {
		m["description"] = u.Description
	}
	return m
}

type userBody struct {
	User struct {
		Name             *string      `json:"name"`
		DomainID         *string      `json:"domain_id"`
		Password         *string      `json:"password"`
		Enabled          *bool        `json:"enabled"`
		DefaultProjectID *string      `json:"default_project_id"`
		Email            *string      `json:"email"`
		Description      *string      `json:"description"`
		Options          *userOptions `json:"options"`
	} `json:"user"`
}

func (s *Service) listUsers(w http.ResponseWriter, r *http.Request, tok *Token) error {
	query := r.URL.Query()
	domainID, err := listDomainFilter(tok, "identity:list_users", query.Get("domain_id"))
	if err != nil {
		return err
	}
	var f filter
	f.eq("domain_id", domainID)
	f.eq("name", query.Get("name"))
	f.boolParam(r, "enabled", "enabled")
	return s.writeUsers(w, r, `SELECT `+userColumns+` FROM users WHERE 1 = 1`+f.where+` ORDER BY name`, f.args...)
}

func (s *Service) writeUsers(w http.ResponseWriter, r *http.Request, q string, args ...any) error {
	return s.writeList(w, r, "users", q, args, func(row store.Scanner) (map[string]any, error) {
		u, err := scanUser(row)
		return s.userJSON(u), err
	})
}

// userFor loads the user in the path and checks action on it.
func (s *Service) userFor(r *http.Request, tok *Token, action string) (*user, error) {
	u, err := s.getUser(r.Context(), r.PathValue("user_id"))
	if err != nil {
		return nil, s.hideNotFound(tok, action, err)
	}
	if err := enforce(tok, action, policy.Target{DomainID: u.DomainID, UserID: u.ID}); err != nil {
		return nil, err
	}
	if err := s.checkManageable(r.Context(), tok, action, "user", u.ID); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Service) showUser(w http.ResponseWriter, r *http.Request, tok *Token) error {
	u, err := s.userFor(r, tok, "identity:get_user")
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"user": s.userJSON(u)})
	return nil
}

func (s *Service) createUser(w http.ResponseWriter, r *http.Request, tok *Token) error {
	var body userBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	u := &user{ID: newID(), Enabled: true, DomainID: tokenDomain(tok)}
	if body.User.DomainID != nil {
		u.DomainID = *body.User.DomainID
	}
	if err := enforce(tok, "identity:create_user", policy.Target{DomainID: u.DomainID}); err != nil {
		return err
	}
	if err := s.readOnly(r.Context(), u.DomainID); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.getDomain(ctx, u.DomainID); err != nil {
		return referenced(err, "domain", u.DomainID)
	}
	if err := s.applyUser(r, u, &body, true); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO users (id, domain_id, name, password_hash, enabled, default_project_id, email, description, options)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, u.ID, u.DomainID, u.Name, u.passwordHash, u.Enabled, u.DefaultProjectID, u.Email, u.Description, optionsJSON(u.Options))
	if err != nil {
		return duplicate(err, "user", u.Name)
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"user": s.userJSON(u)})
	return nil
}

func (s *Service) applyUser(r *http.Request, u *user, body *userBody, create bool) error {
	b := &body.User
	if b.Name != nil || create {
		if err := validName(b.Name); err != nil {
			return err
		}
		u.Name = *b.Name
	}
	if b.Password != nil {
		h, err := hashPassword(*b.Password, s.cfg.BcryptCost)
		if err != nil {
			return err
		}
		u.passwordHash = h
	}
	if b.Enabled != nil {
		u.Enabled = *b.Enabled
	}
	if b.DefaultProjectID != nil {
		u.DefaultProjectID = *b.DefaultProjectID
		if u.DefaultProjectID != "" {
			if _, err := s.getProject(r.Context(), u.DefaultProjectID); err != nil {
				return referenced(err, "project", u.DefaultProjectID)
			}
		}
	}
	if b.Email != nil {
		u.Email = *b.Email
	}
	if b.Description != nil {
		u.Description = *b.Description
	}
	if o := b.Options; o != nil {
		for _, rule := range o.MFARules {
			if len(rule) == 0 || slices.ContainsFunc(rule, func(m string) bool { return !slices.Contains(mfaMethods, m) }) {
				return badRequest("Invalid input for field 'options.multi_factor_auth_rules': each rule is a list of methods of %s.", strings.Join(mfaMethods, ", "))
			}
		}
		u.Options = *o
	}
	return nil
}

func (s *Service) updateUser(w http.ResponseWriter, r *http.Request, tok *Token) error {
	u, err := s.userFor(r, tok, "identity:update_user")
	if err != nil {
		return err
	}
	if err := s.readOnly(r.Context(), u.DomainID); err != nil {
		return err
	}
	var body userBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.User.DomainID != nil && *body.User.DomainID != u.DomainID {
		return badRequest("Invalid input for field 'domain_id': a user cannot move to another domain.")
	}
	oldHash, wasEnabled := u.passwordHash, u.Enabled
	if err := s.applyUser(r, u, &body, false); err != nil {
		return err
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET name = ?, password_hash = ?, enabled = ?, default_project_id = ?, email = ?, description = ?,
			options = ?, failed_logins = 0, locked_until = 0 WHERE id = ?`,
			u.Name, u.passwordHash, u.Enabled, u.DefaultProjectID, u.Email, u.Description, optionsJSON(u.Options), u.ID); err != nil {
			return duplicate(err, "user", u.Name)
		}
		if oldHash != u.passwordHash || (wasEnabled && !u.Enabled) {
			return s.revoked.revoke(ctx, tx, revocation{UserID: u.ID})
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"user": s.userJSON(u)})
	return nil
}

func (s *Service) deleteUser(w http.ResponseWriter, r *http.Request, tok *Token) error {
	u, err := s.userFor(r, tok, "identity:delete_user")
	if err != nil {
		return err
	}
	if err := s.readOnly(r.Context(), u.DomainID); err != nil {
		return err
	}
	ctx := r.Context()
	err = s.execRevoking(ctx, revocation{UserID: u.ID},
		stmt{`DELETE FROM role_assignments WHERE actor_type = 'user' AND actor_id = ?`, []any{u.ID}},
		stmt{`DELETE FROM fed_users WHERE user_id = ?`, []any{u.ID}},
		stmt{`DELETE FROM users WHERE id = ?`, []any{u.ID}})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changePassword serves POST /v3/users/{user_id}/password: a user changes
// their own password by giving the current one. No token is needed.
func (s *Service) changePassword(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		User struct {
			Password         *string `json:"password"`
			OriginalPassword *string `json:"original_password"`
		} `json:"user"`
	}
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.User.Password == nil || body.User.OriginalPassword == nil {
		return badRequest("Invalid input for field 'user': 'password' and 'original_password' are required.")
	}
	ctx := r.Context()
	u, err := s.authPassword(ctx, &userRef{ID: r.PathValue("user_id"), Password: *body.User.OriginalPassword}, sourceKey(r))
	if err != nil {
		return err
	}
	if err := s.readOnly(ctx, u.DomainID); err != nil {
		return err
	}
	h, err := hashPassword(*body.User.Password, s.cfg.BcryptCost)
	if err != nil {
		return err
	}
	err = s.execRevoking(ctx, revocation{UserID: u.ID}, stmt{`UPDATE users SET password_hash = ? WHERE id = ?`, []any{h, u.ID}})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// optionsJSON encodes a user's options for the options column.
func optionsJSON(o userOptions) string {
	b, _ := json.Marshal(o)
	return string(b)
}
