package identity

import (
	"context"
	"fmt"

	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// DefaultDomainID is the id of the domain created at bootstrap, as in Keystone.
const DefaultDomainID = "default"

// BootstrapConfig names the cloud administrator created at first start.
type BootstrapConfig struct {
	AdminUser     string
	AdminPassword string
	AdminProject  string
}

// Bootstrap makes sure the default domain, the SCS roles, the admin project
// and user (with admin on both the project and the domain) and the identity
// service's catalog entries exist. It is idempotent: an existing admin keeps
// its password, and the identity endpoints are moved to the current URL.
func (s *Service) Bootstrap(ctx context.Context, b BootstrapConfig) error {
	// Hashing takes a while on purpose: only do it for a new admin.
	var admins int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE domain_id = ? AND name = ?`, DefaultDomainID, b.AdminUser).Scan(&admins); err != nil {
		return fmt.Errorf("identity: bootstrap: %w", err)
	}
	hash := ""
	if admins == 0 {
		var err error
		if hash, err = hashPassword(b.AdminPassword, s.cfg.BcryptCost); err != nil {
			return err
		}
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		exec := func(q string, args ...any) error {
			_, err := tx.Exec(ctx, q, args...)
			return err
		}
		if err := exec(`INSERT INTO domains (id, name, description, enabled) VALUES (?, 'Default', 'The default domain', ?) ON CONFLICT DO NOTHING`,
			DefaultDomainID, true); err != nil {
			return err
		}
		for _, name := range []string{policy.Admin, policy.Manager, policy.Member, policy.Reader} {
			if err := exec(`INSERT INTO roles (id, name) VALUES (?, ?) ON CONFLICT DO NOTHING`, newID(), name); err != nil {
				return err
			}
		}
		if err := exec(`INSERT INTO projects (id, domain_id, name, description, enabled) VALUES (?, ?, ?, 'Bootstrap project for the cloud administrator', ?)
			ON CONFLICT DO NOTHING`, newID(), DefaultDomainID, b.AdminProject, true); err != nil {
			return err
		}
		if err := exec(`INSERT INTO users (id, domain_id, name, password_hash, enabled) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			newID(), DefaultDomainID, b.AdminUser, hash, true); err != nil {
			return err
		}
		var userID, projectID, roleID string
		if err := tx.QueryRow(ctx, `SELECT id FROM users WHERE domain_id = ? AND name = ?`, DefaultDomainID, b.AdminUser).Scan(&userID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT id FROM projects WHERE domain_id = ? AND name = ?`, DefaultDomainID, b.AdminProject).Scan(&projectID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT id FROM roles WHERE name = ?`, policy.Admin).Scan(&roleID); err != nil {
			return err
		}
		for _, target := range [][2]string{{"project", projectID}, {"domain", DefaultDomainID}} {
			if err := exec(`INSERT INTO role_assignments (actor_type, actor_id, target_type, target_id, role_id, inherited)
				VALUES ('user', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, userID, target[0], target[1], roleID, false); err != nil {
				return err
			}
		}
		return ensureService(ctx, tx, "identity", "keystone", s.cfg.Region, s.url(""))
	})
	if err != nil {
		return fmt.Errorf("identity: bootstrap: %w", err)
	}
	return s.catalog.reload(ctx)
}

// AdminProjectID is the id of the cloud administrator's project (made at bootstrap).
func (s *Service) AdminProjectID(ctx context.Context) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, `SELECT id FROM projects WHERE domain_id = ? AND name = ?`, DefaultDomainID, s.cfg.Admin.AdminProject).Scan(&id)
	return id, err
}

// RegisterService makes sure the catalog lists a service of the type, with
// public, internal and admin endpoints at url, and reloads the catalog.
func (s *Service) RegisterService(ctx context.Context, typ, name, url string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error { return ensureService(ctx, tx, typ, name, s.cfg.Region, url) })
	if err != nil {
		return fmt.Errorf("identity: register %s service: %w", typ, err)
	}
	return s.catalog.reload(ctx)
}

// ensureService makes sure a service of the type exists with public,
// internal and admin endpoints at url in region.
func ensureService(ctx context.Context, tx *store.Tx, typ, name, region, url string) error {
	var id string
	err := store.Row(tx.QueryRow(ctx, `SELECT id FROM services WHERE type = ? AND name = ?`, typ, name).Scan(&id))
	if err == store.ErrNotFound {
		id = newID()
		_, err = tx.Exec(ctx, `INSERT INTO services (id, type, name, description, enabled) VALUES (?, ?, ?, ?, ?)`,
			id, typ, name, "sov "+typ+" service", true)
	}
	if err != nil {
		return err
	}
	for _, iface := range []string{"public", "internal", "admin"} {
		err := store.Affected(tx.Exec(ctx, `UPDATE endpoints SET url = ?, region_id = ? WHERE service_id = ? AND interface = ?`, url, region, id, iface))
		if err == store.ErrNotFound {
			_, err = tx.Exec(ctx, `INSERT INTO endpoints (id, service_id, interface, region_id, url, enabled) VALUES (?, ?, ?, ?, ?, ?)`,
				newID(), id, iface, region, url, true)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
