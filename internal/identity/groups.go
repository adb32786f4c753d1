package identity

import (
	"context"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

func (s *Service) groupJSON(g *group) map[string]any {
	return map[string]any{"id": g.ID, "name": g.Name, "domain_id": g.DomainID, "description": g.Description,
		"links": map[string]any{"self": s.url("/v3/groups/" + g.ID)}}
}

type groupBody struct {
	Group struct {
		Name        *string `json:"name"`
		DomainID    *string `json:"domain_id"`
		Description *string `json:"description"`
	} `json:"group"`
}

func (s *Service) writeGroups(w http.ResponseWriter, r *http.Request, q string, args ...any) error {
	return s.writeList(w, r, "groups", q, args, func(row store.Scanner) (map[string]any, error) {
		g, err := scanGroup(row)
		return s.groupJSON(g), err
	})
}

func (s *Service) listGroups(w http.ResponseWriter, r *http.Request, tok *Token) error {
	query := r.URL.Query()
	domainID, err := listDomainFilter(tok, "identity:list_groups", query.Get("domain_id"))
	if err != nil {
		return err
	}
	var f filter
	f.eq("domain_id", domainID)
	f.eq("name", query.Get("name"))
	return s.writeGroups(w, r, `SELECT `+groupColumns+` FROM user_groups WHERE 1 = 1`+f.where+` ORDER BY name`, f.args...)
}

// groupFor loads the group in the path and checks action on it.
func (s *Service) groupFor(r *http.Request, tok *Token, action string) (*group, error) {
	g, err := s.getGroup(r.Context(), r.PathValue("group_id"))
	if err != nil {
		return nil, s.hideNotFound(tok, action, err)
	}
	if err := enforce(tok, action, policy.Target{DomainID: g.DomainID}); err != nil {
		return nil, err
	}
	return g, s.checkManageable(r.Context(), tok, action, "group", g.ID)
}

func (s *Service) showGroup(w http.ResponseWriter, r *http.Request, tok *Token) error {
	g, err := s.groupFor(r, tok, "identity:get_group")
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"group": s.groupJSON(g)})
	return nil
}

func (s *Service) createGroup(w http.ResponseWriter, r *http.Request, tok *Token) error {
	var body groupBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	g := &group{ID: newID(), DomainID: tokenDomain(tok)}
	if body.Group.DomainID != nil {
		g.DomainID = *body.Group.DomainID
	}
	if err := enforce(tok, "identity:create_group", policy.Target{DomainID: g.DomainID}); err != nil {
		return err
	}
	if err := s.readOnly(r.Context(), g.DomainID); err != nil {
		return err
	}
	if err := validName(body.Group.Name); err != nil {
		return err
	}
	g.Name = *body.Group.Name
	if body.Group.Description != nil {
		g.Description = *body.Group.Description
	}
	ctx := r.Context()
	if _, err := s.getDomain(ctx, g.DomainID); err != nil {
		return referenced(err, "domain", g.DomainID)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO user_groups (id, domain_id, name, description) VALUES (?, ?, ?, ?)`,
		g.ID, g.DomainID, g.Name, g.Description); err != nil {
		return duplicate(err, "group", g.Name)
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"group": s.groupJSON(g)})
	return nil
}

func (s *Service) updateGroup(w http.ResponseWriter, r *http.Request, tok *Token) error {
	g, err := s.groupFor(r, tok, "identity:update_group")
	if err != nil {
		return err
	}
	if err := s.readOnly(r.Context(), g.DomainID); err != nil {
		return err
	}
	var body groupBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Group.Name != nil {
		if err := validName(body.Group.Name); err != nil {
			return err
		}
		g.Name = *body.Group.Name
	}
	if body.Group.Description != nil {
		g.Description = *body.Group.Description
	}
	if _, err := s.db.Exec(r.Context(), `UPDATE user_groups SET name = ?, description = ? WHERE id = ?`, g.Name, g.Description, g.ID); err != nil {
		return duplicate(err, "group", g.Name)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"group": s.groupJSON(g)})
	return nil
}

func (s *Service) deleteGroup(w http.ResponseWriter, r *http.Request, tok *Token) error {
	g, err := s.groupFor(r, tok, "identity:delete_group")
	if err != nil {
		return err
	}
	if err := s.readOnly(r.Context(), g.DomainID); err != nil {
		return err
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.revokeGroupMembers(ctx, tx, g.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM role_assignments WHERE actor_type = 'group' AND actor_id = ?`, g.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM user_groups WHERE id = ?`, g.ID)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeGroupMembers revokes the tokens of every member of a group whose roles change.
func (s *Service) revokeGroupMembers(ctx context.Context, tx *store.Tx, groupID string) error {
	rows, err := tx.Query(ctx, `SELECT user_id FROM group_members WHERE group_id = ?`, groupID)
	if err != nil {
		return err
	}
	var users []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		users = append(users, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range users {
		if err := s.revoked.revoke(ctx, tx, revocation{UserID: id}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) listGroupUsers(w http.ResponseWriter, r *http.Request, tok *Token) error {
	g, err := s.groupFor(r, tok, "identity:list_users_in_group")
	if err != nil {
		return err
	}
	return s.writeUsers(w, r, `SELECT `+userColumns+` FROM users WHERE id IN (SELECT user_id FROM group_members WHERE group_id = ?) ORDER BY name`, g.ID)
}

func (s *Service) listUserGroups(w http.ResponseWriter, r *http.Request, tok *Token) error {
	u, err := s.userFor(r, tok, "identity:list_groups_for_user")
	if err != nil {
		return err
	}
	return s.writeGroups(w, r, `SELECT `+groupColumns+` FROM user_groups WHERE id IN (SELECT group_id FROM group_members WHERE user_id = ?) ORDER BY name`, u.ID)
}

// membership loads the group and user of a membership path and checks action on both.
func (s *Service) membership(r *http.Request, tok *Token, action string) (*group, *user, error) {
	g, err := s.groupFor(r, tok, action)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.userFor(r, tok, action)
	if err != nil {
		return nil, nil, err
	}
	return g, u, nil
}

func (s *Service) addGroupUser(w http.ResponseWriter, r *http.Request, tok *Token) error {
	g, u, err := s.membership(r, tok, "identity:add_user_to_group")
	if err != nil {
		return err
	}
	if err := s.readOnly(r.Context(), g.DomainID); err != nil {
		return err
	}
	ctx := r.Context()
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM group_members WHERE group_id = ? AND user_id = ?`, g.ID, u.ID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := s.db.Exec(ctx, `INSERT INTO group_members (group_id, user_id) VALUES (?, ?)`, g.ID, u.ID); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) checkGroupUser(w http.ResponseWriter, r *http.Request, tok *Token) error {
	g, u, err := s.membership(r, tok, "identity:list_users_in_group")
	if err != nil {
		return err
	}
	var n int
	if err := s.db.QueryRow(r.Context(), `SELECT COUNT(*) FROM group_members WHERE group_id = ? AND user_id = ?`, g.ID, u.ID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return notFound("user in group", u.ID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) removeGroupUser(w http.ResponseWriter, r *http.Request, tok *Token) error {
	g, u, err := s.membership(r, tok, "identity:remove_user_from_group")
	if err != nil {
		return err
	}
	if err := s.readOnly(r.Context(), g.DomainID); err != nil {
		return err
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := store.Affected(tx.Exec(ctx, `DELETE FROM group_members WHERE group_id = ? AND user_id = ?`, g.ID, u.ID)); err != nil {
			return notFound("user in group", u.ID)
		}
		return s.revoked.revoke(ctx, tx, revocation{UserID: u.ID})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
