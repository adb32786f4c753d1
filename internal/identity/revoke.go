package identity

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

// revocation is one revocation event: every token issued before IssuedBefore
// that matches all of the non-empty fields is revoked.
type revocation struct {
	AuditID         string
	UserID          string
	ProjectID       string
	DomainID        string
	RoleID          string
	AppCredentialID string
	IssuedBefore    int64 // unix microseconds
}

func (e *revocation) matches(t *Token) bool {
	if t.IssuedAt > e.IssuedBefore {
		return false
	}
	if e.AuditID != "" && !slices.Contains(t.AuditIDs, e.AuditID) {
		return false
	}
	if e.UserID != "" && e.UserID != t.UserID {
		return false
	}
	if e.ProjectID != "" && e.ProjectID != t.ProjectID {
		return false
	}
	if e.DomainID != "" && e.DomainID != t.DomainID && e.DomainID != t.UserDomainID && e.DomainID != t.ProjectDomainID {
		return false
	}
	if e.RoleID != "" && !slices.ContainsFunc(t.Roles, func(r RoleRef) bool { return r.ID == e.RoleID }) {
		return false
	}
	if e.AppCredentialID != "" && e.AppCredentialID != t.AppCredID {
		return false
	}
	return true
}

// revocations is the in-memory list of revocation events, persisted in the
// store so that they survive a restart. Validation reads only memory.
type revocations struct {
	db       *store.DB
	lifetime time.Duration

	mu     sync.RWMutex // protects events
	events []revocation
}

func loadRevocations(ctx context.Context, db *store.DB, lifetime time.Duration) (*revocations, error) {
	r := &revocations{db: db, lifetime: lifetime}
	return r, r.refresh(ctx)
}

// refresh drops expired events from the store and reloads the rest, which
// picks up events recorded by other servers sharing the store.
func (r *revocations) refresh(ctx context.Context) error {
	if _, err := r.db.Exec(ctx, `DELETE FROM revocations WHERE expires_at < ?`, time.Now().UnixMicro()); err != nil {
		return err
	}
	rows, err := r.db.Query(ctx, `SELECT audit_id, user_id, project_id, domain_id, role_id, app_credential_id, issued_before FROM revocations`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var events []revocation
	for rows.Next() {
		var e revocation
		if err := rows.Scan(&e.AuditID, &e.UserID, &e.ProjectID, &e.DomainID, &e.RoleID, &e.AppCredentialID, &e.IssuedBefore); err != nil {
			return err
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.replace(events)
	return nil
}

// replace makes stored the in-memory events, keeping those recorded here in
// the last minute that stored lacks: their transaction may not have been
// committed when the store was read.
func (r *revocations) replace(stored []revocation) {
	recent := time.Now().Add(-time.Minute).UnixMicro()
	seen := make(map[revocation]bool, len(stored))
	for _, e := range stored {
		seen[e] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.IssuedBefore >= recent && !seen[e] {
			stored = append(stored, e)
		}
	}
	r.events = stored
}

// revoke records e (IssuedBefore defaults to now) in q, which may be the
// transaction of the change that causes it, and in memory.
func (r *revocations) revoke(ctx context.Context, q store.Querier, e revocation) error {
	now := time.Now()
	if e.IssuedBefore == 0 {
		e.IssuedBefore = now.UnixMicro()
	}
	_, err := q.Exec(ctx, `INSERT INTO revocations (id, audit_id, user_id, project_id, domain_id, role_id, app_credential_id, issued_before, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, newID(), e.AuditID, e.UserID, e.ProjectID, e.DomainID, e.RoleID, e.AppCredentialID,
		e.IssuedBefore, now.Add(r.lifetime).UnixMicro())
	if err != nil {
		return err
	}
	// An event older than a token lifetime can no longer match a valid token.
	horizon := now.Add(-r.lifetime).UnixMicro()
	r.mu.Lock()
	r.events = slices.DeleteFunc(r.events, func(old revocation) bool { return old.IssuedBefore < horizon })
	r.events = append(r.events, e)
	r.mu.Unlock()
	return nil
}

// isRevoked reports whether any event revokes t.
func (r *revocations) isRevoked(t *Token) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i := range r.events {
		if r.events[i].matches(t) {
			return true
		}
	}
	return false
}
