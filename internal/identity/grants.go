package identity

import (
	"context"
	"net/http"

	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// grant is one role assignment named by a grant path such as
// /v3/projects/{target_id}/users/{actor_id}/roles/{role_id}.
type grant struct {
	targetType, targetID, targetDomain string
	actorType, actorID                 string
	inherited                          bool
	role                               *role
}

// grantRoute describes one family of grant paths.
type grantRoute struct {
	targetType, actorType string
	inherited             bool
}

// resolveGrant loads the target and actor of a grant path and checks action.
// A domain manager must act inside its own domain on both sides.
func (s *Service) resolveGrant(r *http.Request, tok *Token, gr grantRoute, action string, withRole bool) (*grant, error) {
	ctx := r.Context()
	g := &grant{targetType: gr.targetType, targetID: r.PathValue("target_id"), actorType: gr.actorType,
		actorID: r.PathValue("actor_id"), inherited: gr.inherited}
	var actorDomain string
	if gr.targetType == "project" {
		p, err := s.getProject(ctx, g.targetID)
		if err != nil {
			return nil, s.hideNotFound(tok, action, err)
		}
		g.targetDomain = p.DomainID
	} else {
		d, err := s.getDomain(ctx, g.targetID)
		if err != nil {
			return nil, s.hideNotFound(tok, action, err)
		}
		g.targetDomain = d.ID
	}
	if gr.actorType == "user" {
		u, err := s.getUser(ctx, g.actorID)
		if err != nil {
			return nil, s.hideNotFound(tok, action, err)
		}
		actorDomain = u.DomainID
	} else {
		gp, err := s.getGroup(ctx, g.actorID)
		if err != nil {
			return nil, s.hideNotFound(tok, action, err)
		}
		actorDomain = gp.DomainID
	}
	target := policy.Target{DomainID: g.targetDomain}
	if withRole {
		ro, err := s.getRole(ctx, r.PathValue("role_id"))
		if err != nil {
			return nil, s.hideNotFound(tok, action, err)
		}
		g.role, target.RoleName = ro, ro.Name
	}
	if err := enforce(tok, action, target); err != nil {
		return nil, err
	}
	if !tok.Credentials().HasRole(policy.Admin) {
		target.DomainID = actorDomain
		if err := enforce(tok, action, target); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (s *Service) putGrant(gr grantRoute) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, tok *Token) error {
		g, err := s.resolveGrant(r, tok, gr, "identity:create_grant", true)
		if err != nil {
			return err
		}
		ctx := r.Context()
		exists, err := s.grantExists(ctx, g)
		if err != nil {
			return err
		}
		if !exists {
			if _, err := s.db.Exec(ctx, `INSERT INTO role_assignments (actor_type, actor_id, target_type, target_id, role_id, inherited)
				VALUES (?, ?, ?, ?, ?, ?)`, g.actorType, g.actorID, g.targetType, g.targetID, g.role.ID, g.inherited); err != nil {
				return err
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Service) grantExists(ctx context.Context, g *grant) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM role_assignments WHERE actor_type = ? AND actor_id = ? AND target_type = ? AND target_id = ?
		AND role_id = ? AND inherited = ?`, g.actorType, g.actorID, g.targetType, g.targetID, g.role.ID, g.inherited).Scan(&n)
	return n > 0, err
}

func (s *Service) checkGrant(gr grantRoute) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, tok *Token) error {
		g, err := s.resolveGrant(r, tok, gr, "identity:check_grant", true)
		if err != nil {
			return err
		}
		exists, err := s.grantExists(r.Context(), g)
		if err != nil {
			return err
		}
		if !exists {
			return notFound("role assignment", g.role.ID)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Service) deleteGrant(gr grantRoute) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, tok *Token) error {
		g, err := s.resolveGrant(r, tok, gr, "identity:revoke_grant", true)
		if err != nil {
			return err
		}
		ctx := r.Context()
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			if err := store.Affected(tx.Exec(ctx, `DELETE FROM role_assignments WHERE actor_type = ? AND actor_id = ? AND target_type = ?
				AND target_id = ? AND role_id = ? AND inherited = ?`, g.actorType, g.actorID, g.targetType, g.targetID, g.role.ID, g.inherited)); err != nil {
				return notFound("role assignment", g.role.ID)
			}
			return s.revokeForGrant(ctx, tx, g)
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// revokeForGrant revokes the tokens that may carry a removed grant.
func (s *Service) revokeForGrant(ctx context.Context, tx *store.Tx, g *grant) error {
	ev := revocation{UserID: g.actorID, RoleID: g.role.ID}
	if g.targetType == "project" {
		ev.ProjectID = g.targetID
	} else {
		ev.DomainID = g.targetID
	}
	if g.actorType == "user" {
		return s.revoked.revoke(ctx, tx, ev)
	}
	ev.UserID = ""
	return s.revoked.revoke(ctx, tx, ev)
}

func (s *Service) listGrants(gr grantRoute) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, tok *Token) error {
		g, err := s.resolveGrant(r, tok, gr, "identity:list_grants", false)
		if err != nil {
			return err
		}
		return s.writeList(w, r, "roles", `SELECT r.id, r.name, r.description FROM roles r JOIN role_assignments a ON a.role_id = r.id
			WHERE a.actor_type = ? AND a.actor_id = ? AND a.target_type = ? AND a.target_id = ? AND a.inherited = ? ORDER BY r.name`,
			[]any{g.actorType, g.actorID, g.targetType, g.targetID, g.inherited}, func(row store.Scanner) (map[string]any, error) {
				ro := &role{}
				err := row.Scan(&ro.ID, &ro.Name, &ro.Description)
				return s.roleJSON(ro), err
			})
	}
}
