package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/identity/ldapdir"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// A domain may read its users and groups from an LDAP directory, set with
// Keystone's domain configuration API ({"identity": {"driver": "ldap"},
// "ldap": {...}}). Its users and groups are rows like any others, kept in
// step with the directory (at each sync, and a user at their login), so
// that roles are assigned to them in sov; they are read-only here, and
// their passwords are checked by the directory.

// domainConfig is a domain's configuration as the API reads and writes it.
type domainConfig struct {
	Identity struct {
		Driver string `json:"driver"`
	} `json:"identity"`
	LDAP ldapdir.Config `json:"ldap"`
}

func ldapSecretContext(domainID string) string { return "ldap_password:" + domainID }

// ldapDirectory returns the directory of a domain, nil for an SQL domain.
func (s *Service) ldapDirectory(ctx context.Context, domainID string) (*ldapdir.Directory, error) {
	cfg, err := s.ldapConfig(ctx, domainID)
	if err != nil || cfg == nil {
		return nil, err
	}
	return ldapdir.New(cfg.LDAP), nil
}

func (s *Service) ldapConfig(ctx context.Context, domainID string) (*domainConfig, error) {
	var raw string
	err := s.db.QueryRow(ctx, `SELECT config FROM ldap_domains WHERE domain_id = ?`, domainID).Scan(&raw)
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cfg domainConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil, err
	}
	if cfg.LDAP.Password != "" {
		pw, err := s.kek.Open(cfg.LDAP.Password, ldapSecretContext(domainID))
		if err != nil {
			return nil, err
		}
		cfg.LDAP.Password = string(pw)
	}
	return &cfg, nil
}

// readOnly refuses changes to the users and groups of an LDAP domain.
func (s *Service) readOnly(ctx context.Context, domainID string) error {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM ldap_domains WHERE domain_id = ?`, domainID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return forbidden("Domain %s reads its users and groups from LDAP: change them in the directory.", domainID)
	}
	return nil
}

// directoryID is the id of a user or group of an LDAP domain: stable, so
// that role assignments outlive any sync.
func directoryID(domainID, kind, ldapID string) string {
	sum := sha256.Sum256([]byte(domainID + "\x00" + kind + "\x00" + ldapID))
	return hex.EncodeToString(sum[:16])
}

// SyncDirectories brings the users and groups of every LDAP domain in
// step with their directories: new ones are added, changed ones updated,
// gone ones deleted with their role assignments (and their tokens revoked).
func (s *Service) SyncDirectories(ctx context.Context) error {
	ids, err := store.Column(ctx, s.db, `SELECT domain_id FROM ldap_domains ORDER BY domain_id`)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := s.syncDirectory(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("domain %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) syncDirectory(ctx context.Context, domainID string) error {
	d, err := s.ldapDirectory(ctx, domainID)
	if err != nil || d == nil {
		return err
	}
	users, groups, err := d.Snapshot(ctx)
	if err != nil {
		return err
	}
	users = uniqueNames(users, func(u ldapdir.User) string { return u.Name })
	groups = uniqueNames(groups, func(g ldapdir.Group) string { return g.Name })
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		keepUsers := map[string]bool{}
		for _, u := range users {
			keepUsers[directoryID(domainID, "user", u.ID)] = true
		}
		keepGroups := map[string]bool{}
		for _, g := range groups {
			keepGroups[directoryID(domainID, "group", g.ID)] = true
		}
		// The gone first, so that a name they free can be taken.
		if err := s.dropMissing(ctx, tx, domainID, keepUsers, keepGroups); err != nil {
			return err
		}
		for _, u := range users {
			id := directoryID(domainID, "user", u.ID)
			if err := upsertDirectoryUser(ctx, tx, domainID, id, u); err != nil {
				return fmt.Errorf("user %s: %w", u.DN, err)
			}
		}
		for _, g := range groups {
			id := directoryID(domainID, "group", g.ID)
			if _, err := tx.Exec(ctx, `INSERT INTO user_groups (id, domain_id, name, description) VALUES (?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name`, id, domainID, g.Name, "LDAP: "+g.DN); err != nil {
				return fmt.Errorf("group %s: %w", g.DN, err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM group_members WHERE group_id = ?`, id); err != nil {
				return err
			}
			for _, m := range g.Members {
				if uid := directoryID(domainID, "user", m); keepUsers[uid] {
					if _, err := tx.Exec(ctx, `INSERT INTO group_members (group_id, user_id) VALUES (?, ?)`, id, uid); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// uniqueNames keeps the first of the entries that share a name (names are
// unique in a domain; a directory may not keep them so).
func uniqueNames[T any](l []T, name func(T) string) []T {
	seen := map[string]bool{}
	var out []T
	for _, e := range l {
		if !seen[name(e)] {
			seen[name(e)] = true
			out = append(out, e)
		}
	}
	return out
}

// upsertDirectoryUser writes a directory user's row.
func upsertDirectoryUser(ctx context.Context, tx *store.Tx, domainID, id string, u ldapdir.User) error {
	_, err := tx.Exec(ctx, `INSERT INTO users (id, domain_id, name, email, enabled) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email`, id, domainID, u.Name, u.Email, true)
	return err
}

// dropMissing deletes the users and groups of an LDAP domain the
// directory no longer has.
func (s *Service) dropMissing(ctx context.Context, tx *store.Tx, domainID string, users, groups map[string]bool) error {
	for _, kind := range []struct{ table, actor string }{{"users", "user"}, {"user_groups", "group"}} {
		ids, err := store.Column(ctx, tx, `SELECT id FROM `+kind.table+` WHERE domain_id = ?`, domainID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if (kind.actor == "user" && users[id]) || (kind.actor == "group" && groups[id]) {
				continue
			}
			if kind.actor == "user" {
				if err := s.revoked.revoke(ctx, tx, revocation{UserID: id}); err != nil {
					return err
				}
			} else if err := s.revokeGroupMembers(ctx, tx, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM role_assignments WHERE actor_type = ? AND actor_id = ?`, kind.actor, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM `+kind.table+` WHERE id = ?`, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// authInDirectory checks the password of a user of an LDAP domain with
// its directory; ok is false for a user of an SQL domain (or one the
// reference does not resolve), which the caller checks itself. found is
// the user the reference names, when the store has them already.
func (s *Service) authInDirectory(ctx context.Context, ref *userRef, found *user) (u *user, ok bool, err error) {
	var domainID, name string
	switch {
	case found != nil:
		domainID, name = found.DomainID, found.Name
	case ref.ID == "" && ref.Domain != nil:
		d, err := s.findDomain(ctx, ref.Domain)
		if err != nil {
			return nil, false, nil
		}
		domainID, name = d.ID, ref.Name
	default:
		return nil, false, nil
	}
	d, err := s.ldapDirectory(ctx, domainID)
	if err != nil || d == nil {
		return nil, d != nil, err
	}
	u, err = s.authDirectory(ctx, d, domainID, name, ref.Password)
	return u, true, err
}

// authDirectory checks a password of a user of an LDAP domain with the
// directory, and makes or updates the user's row (a user may log in
// before the first sync has seen them).
func (s *Service) authDirectory(ctx context.Context, d *ldapdir.Directory, domainID, name, password string) (*user, error) {
	du, err := d.Authenticate(ctx, name, password)
	if errors.Is(err, ldapdir.ErrBadCredentials) {
		return nil, unauthorized("The request you have made requires authentication.")
	}
	if err != nil {
		s.log.Error("LDAP directory", "domain", domainID, "err", err)
		return nil, httpapi.Errorf(http.StatusServiceUnavailable, "The directory of domain %s cannot be reached.", domainID)
	}
	id := directoryID(domainID, "user", du.ID)
	if err := s.db.InTx(ctx, func(tx *store.Tx) error { return upsertDirectoryUser(ctx, tx, domainID, id, *du) }); err != nil {
		return nil, err
	}
	return s.getUser(ctx, id)
}

// The domain configuration API: /v3/domains/{domain_id}/config, for admins.

func (s *Service) configView(cfg *domainConfig) map[string]any {
	l := cfg.LDAP
	l.Password = "" // never shown
	return map[string]any{"config": map[string]any{"identity": map[string]any{"driver": cfg.Identity.Driver}, "ldap": l}}
}

func (s *Service) showDomainConfig(w http.ResponseWriter, r *http.Request, tok *Token) error {
	id := r.PathValue("domain_id")
	if err := enforce(tok, "identity:get_domain_config", policy.Target{DomainID: id}); err != nil {
		return err
	}
	cfg, err := s.ldapConfig(r.Context(), id)
	if err != nil {
		return err
	}
	if cfg == nil {
		return httpapi.Errorf(http.StatusNotFound, "Could not find config for domain %s.", id)
	}
	httpapi.WriteJSON(w, http.StatusOK, s.configView(cfg))
	return nil
}

// putDomainConfig serves PUT (create) and PATCH (update) of a domain's
// configuration; sov knows the identity driver "ldap". The directory must
// answer before the configuration is stored, and its users and groups are
// read at once.
func (s *Service) putDomainConfig(w http.ResponseWriter, r *http.Request, tok *Token) error {
	id, ctx := r.PathValue("domain_id"), r.Context()
	if err := enforce(tok, "identity:create_domain_config", policy.Target{DomainID: id}); err != nil {
		return err
	}
	if _, err := s.getDomain(ctx, id); err != nil {
		return err
	}
	if id == "default" {
		return forbidden("The default domain keeps its users in sov.")
	}
	old, err := s.ldapConfig(ctx, id)
	if err != nil {
		return err
	}
	var body struct {
		Config *domainConfig `json:"config"`
	}
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Config == nil || body.Config.Identity.Driver != "ldap" {
		return httpapi.Errorf(http.StatusNotImplemented, "sov reads a domain's users from sql (no configuration) or ldap; give {\"identity\": {\"driver\": \"ldap\"}, \"ldap\": {...}}.")
	}
	cfg := *body.Config
	if cfg.LDAP.Password == "" && old != nil {
		cfg.LDAP.Password = old.LDAP.Password
	}
	if err := cfg.LDAP.Validate(); err != nil {
		return badRequest("Invalid domain configuration: %v.", err)
	}
	if r.Method == http.MethodPut {
		var n int
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE domain_id = ? AND id NOT IN (SELECT user_id FROM fed_users)`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 && old == nil {
			return conflict("Domain %s has %d users of its own; an LDAP domain has only the directory's.", id, n)
		}
	}
	if _, _, err := ldapdir.New(cfg.LDAP).Snapshot(ctx); err != nil {
		return badRequest("The directory does not answer with this configuration: %v.", err)
	}
	stored := cfg
	if stored.LDAP.Password != "" {
		stored.LDAP.Password = s.kek.Seal([]byte(cfg.LDAP.Password), ldapSecretContext(id))
	}
	raw, _ := json.Marshal(stored)
	if _, err := s.db.Exec(ctx, `INSERT INTO ldap_domains (domain_id, config) VALUES (?, ?) ON CONFLICT (domain_id) DO UPDATE SET config = excluded.config`,
		id, string(raw)); err != nil {
		return err
	}
	if err := s.syncDirectory(ctx, id); err != nil {
		return err
	}
	status := http.StatusOK
	if old == nil {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, s.configView(&cfg))
	return nil
}

// deleteDomainConfig makes the domain an SQL domain again; its users and
// groups read from the directory stay, without passwords.
func (s *Service) deleteDomainConfig(w http.ResponseWriter, r *http.Request, tok *Token) error {
	id := r.PathValue("domain_id")
	if err := enforce(tok, "identity:delete_domain_config", policy.Target{DomainID: id}); err != nil {
		return err
	}
	if err := store.Affected(s.db.Exec(r.Context(), `DELETE FROM ldap_domains WHERE domain_id = ?`, id)); errors.Is(err, store.ErrNotFound) {
		return httpapi.Errorf(http.StatusNotFound, "Could not find config for domain %s.", id)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
