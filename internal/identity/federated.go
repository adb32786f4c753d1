package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/sovcloud/sov/internal/identity/federation"
	"github.com/sovcloud/sov/internal/identity/mapping"
	"github.com/sovcloud/sov/internal/store"
)

// federatedAuth serves POST (and GET) /v3/OS-FEDERATION/identity_providers/
// {idp}/protocols/{protocol}/auth: the provider's token in, an unscoped
// Keystone token of the user it maps to out (keystoneauth's OIDC plugins
// then rescope it to a project).
func (s *Service) federatedAuth(w http.ResponseWriter, r *http.Request) error {
	login, err := s.fed.Authenticate(r, r.PathValue("idp_id"), r.PathValue("protocol_id"))
	if err != nil {
		return err
	}
	tok, err := s.federatedToken(r.Context(), login)
	if err != nil {
		return err
	}
	return s.writeToken(w, r, tok, http.StatusCreated)
}

// federatedToken is the unscoped Keystone token of a federated login's user.
func (s *Service) federatedToken(ctx context.Context, login *federation.Login) (*Token, error) {
	u, groups, err := s.federatedUser(ctx, login)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tok := &Token{Methods: []string{login.Protocol}, IssuedAt: now.UnixMicro(), ExpiresAt: now.Add(s.cfg.TokenLifetime).UnixMicro(),
		AuditIDs: []string{newAuditID()}, Federation: &FederationRef{IdP: login.Provider.ID, Protocol: login.Protocol, Groups: groups}}
	return tok, s.setUser(ctx, tok, u)
}

// federatedUser finds or makes the user a federated login maps to: an
// existing user (type "local"), or a shadow user of the provider's domain
// (or of the domain the mapping names) whose id follows from the provider,
// protocol and the user's unique id there. A shadow user's groups become
// exactly the mapped ones, and the mapped projects are made where missing,
// with the mapped roles granted to the user.
func (s *Service) federatedUser(ctx context.Context, l *federation.Login) (*user, []string, error) {
	res := l.Result
	domainID := l.Provider.DomainID
	if d := res.User.Domain; d == nil && res.Domain != nil {
		res.User.Domain = res.Domain
	}
	if d := res.User.Domain; d != nil && (d.ID != "" || d.Name != "") {
		dom, err := s.findDomain(ctx, &nameRef{ID: d.ID, Name: d.Name})
		if err != nil {
			return nil, nil, unauthorized("The mapping names a domain that does not exist.")
		}
		domainID = dom.ID
	}
	if res.User.Type == "local" {
		u, err := s.findUser(ctx, &userRef{ID: res.User.ID, Name: res.User.Name, Domain: &nameRef{ID: domainID}})
		if err != nil || !u.Enabled {
			return nil, nil, unauthorized("The mapping names a local user that does not exist or is disabled.")
		}
		return u, nil, nil
	}
	unique := res.User.ID
	if unique == "" {
		unique = res.User.Name
	}
	name := res.User.Name
	if name == "" {
		name = unique
	}
	if len(name) > 255 || len(unique) > 255 {
		return nil, nil, unauthorized("The mapped user name is longer than 255 characters.")
	}
	sum := sha256.Sum256([]byte(l.Provider.ID + "\x00" + l.Protocol + "\x00" + unique))
	id := hex.EncodeToString(sum[:16])
	var groups []string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "federated-user:"+id); err != nil {
			return err
		}
		var enabled bool
		err := tx.QueryRow(ctx, `SELECT enabled FROM users WHERE id = ?`, id).Scan(&enabled)
		switch {
		case err == nil && !enabled:
			return unauthorized("The account is disabled for user: %s.", id)
		case err == nil:
			if _, err := tx.Exec(ctx, `UPDATE users SET name = ?, email = ? WHERE id = ?`, name, res.User.Email, id); errors.Is(err, store.ErrConflict) {
				return conflict("Another user of the domain is named %s.", name)
			} else if err != nil {
				return err
			}
		case errors.Is(store.Row(err), store.ErrNotFound):
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE domain_id = ? AND name = ?`, domainID, name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return conflict("A user named %s exists in the identity provider's domain; the federated user cannot take its name.", name)
			}
			if err := store.Insert(ctx, tx, "users", store.Values{}.Set("id", id).Set("domain_id", domainID).Set("name", name).
				Set("email", res.User.Email).Set("enabled", true)); err != nil {
				return err
			}
			if err := store.Insert(ctx, tx, "fed_users", store.Values{}.Set("idp_id", l.Provider.ID).Set("protocol_id", l.Protocol).
				Set("unique_id", unique).Set("user_id", id).Set("display_name", name)); err != nil {
				return err
			}
		default:
			return err
		}
		var err2 error
		if groups, err2 = s.syncGroups(ctx, tx, id, res.Groups); err2 != nil {
			return err2
		}
		return s.grantProjects(ctx, tx, id, domainID, res.Projects)
	})
	if err != nil {
		return nil, nil, err
	}
	u, err := s.getUser(ctx, id)
	return u, groups, err
}

// syncGroups makes a shadow user's groups exactly the mapped ones that
// exist (a group the mapping names but sov lacks is left out).
func (s *Service) syncGroups(ctx context.Context, tx *store.Tx, userID string, mapped []mapping.Group) ([]string, error) {
	var ids []string
	for _, g := range mapped {
		var id string
		var err error
		if g.ID != "" {
			err = tx.QueryRow(ctx, `SELECT id FROM user_groups WHERE id = ?`, g.ID).Scan(&id)
		} else {
			var d *domain
			if d, err = s.findDomain(ctx, &nameRef{ID: g.Domain.ID, Name: g.Domain.Name}); err == nil {
				err = tx.QueryRow(ctx, `SELECT id FROM user_groups WHERE domain_id = ? AND name = ?`, d.ID, g.Name).Scan(&id)
			}
		}
		if store.Unavailable(err) {
			return nil, err
		}
		if err != nil {
			s.log.Info("a federation mapping names a group sov does not have", "group", g.Name+g.ID)
			continue
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM group_members WHERE user_id = ?`, userID); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `INSERT INTO group_members (group_id, user_id) VALUES (?, ?)`, id, userID); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// grantProjects makes the mapped projects where missing (in the domain
// they name, else the user's) and grants the user the mapped roles there.
func (s *Service) grantProjects(ctx context.Context, tx *store.Tx, userID, domainID string, projects []mapping.Project) error {
	for _, p := range projects {
		pd := domainID
		if p.Domain != nil && (p.Domain.ID != "" || p.Domain.Name != "") {
			d, err := s.findDomain(ctx, &nameRef{ID: p.Domain.ID, Name: p.Domain.Name})
			if err != nil {
				return unauthorized("The mapping names a domain that does not exist.")
			}
			pd = d.ID
		}
		if len(p.Name) > 64 {
			return unauthorized("A mapped project name is longer than 64 characters.")
		}
		var pid string
		err := tx.QueryRow(ctx, `SELECT id FROM projects WHERE domain_id = ? AND name = ?`, pd, p.Name).Scan(&pid)
		if errors.Is(store.Row(err), store.ErrNotFound) {
			pid = newID()
			_, err = tx.Exec(ctx, `INSERT INTO projects (id, domain_id, name, description, enabled) VALUES (?, ?, ?, ?, ?)`,
				pid, pd, p.Name, "Made by a federated login", true)
		}
		if err != nil {
			return err
		}
		for _, r := range p.Roles {
			var rid string
			var err error
			if r.ID != "" {
				err = tx.QueryRow(ctx, `SELECT id FROM roles WHERE id = ?`, r.ID).Scan(&rid)
			} else {
				err = tx.QueryRow(ctx, `SELECT id FROM roles WHERE name = ?`, r.Name).Scan(&rid)
			}
			if errors.Is(store.Row(err), store.ErrNotFound) {
				return unauthorized("The mapping grants role %s, which does not exist.", r.Name+r.ID)
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO role_assignments (actor_type, actor_id, target_type, target_id, role_id, inherited)
				VALUES ('user', ?, 'project', ?, ?, ?) ON CONFLICT DO NOTHING`, userID, pid, rid, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// CreateDomain makes a domain (for an identity provider that names none);
// a domain of that name that exists already is a conflict.
func (s *Service) CreateDomain(ctx context.Context, name, description string) (string, error) {
	id := newID()
	_, err := s.db.Exec(ctx, `INSERT INTO domains (id, name, description, enabled) VALUES (?, ?, ?, ?)`, id, name, description, true)
	if errors.Is(err, store.ErrConflict) {
		return "", conflict("A domain named %s exists; name the identity provider's domain_id instead.", name)
	}
	return id, err
}
