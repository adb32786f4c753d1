package identity

import (
	"context"
	"slices"

	"github.com/sovcloud/sov/internal/policy"
)

// managedWrites are the actions on a user or group that hand its power to
// whoever performs them: resetting a password, enabling, joining a group.
var managedWrites = map[string]bool{
	"identity:update_user": true, "identity:delete_user": true,
	"identity:update_group": true, "identity:delete_group": true,
	"identity:add_user_to_group": true, "identity:remove_user_from_group": true,
}

// checkManageable is the one place that keeps a domain manager inside what
// it could grant: it may change a user or group only when every role the
// actor holds (a user's own and its groups', on any target) is one the
// manager could grant itself, on a target inside the manager's domain.
// Otherwise resetting the password of a user who is admin elsewhere, or
// joining a group that holds admin, would make the manager admin.
func (s *Service) checkManageable(ctx context.Context, tok *Token, action, actorType, actorID string) error {
	if !managedWrites[action] || tok.Credentials().HasRole(policy.Admin) {
		return nil
	}
	q := `SELECT r.name, a.target_type, a.target_id, COALESCE(p.domain_id, '') FROM role_assignments a
		JOIN roles r ON r.id = a.role_id
		LEFT JOIN projects p ON a.target_type = 'project' AND p.id = a.target_id `
	args := []any{actorID}
	if actorType == "user" {
		q += `WHERE (a.actor_type = 'user' AND a.actor_id = ?) OR (a.actor_type = 'group' AND a.actor_id IN (SELECT group_id FROM group_members WHERE user_id = ?))`
		args = append(args, actorID)
	} else {
		q += `WHERE a.actor_type = 'group' AND a.actor_id = ?`
	}
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var role, targetType, targetID, projectDomain string
		if err := rows.Scan(&role, &targetType, &targetID, &projectDomain); err != nil {
			return err
		}
		inDomain := (targetType == "domain" && targetID == tok.DomainID) || (targetType == "project" && projectDomain == tok.DomainID)
		if !inDomain || !slices.Contains(policy.DomainManagedRoles, role) {
			return forbidden("You are not authorized to perform the requested action: the %s holds roles a domain manager cannot grant.", actorType)
		}
	}
	return rows.Err()
}
