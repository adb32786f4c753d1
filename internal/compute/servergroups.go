package compute

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Server groups (os-server-groups): a project's groups of servers with a
// placement policy, which a server joins at create (the scheduler hint
// group). On sov's one host every member is on the same host: affinity
// always holds, and a member of an anti-affinity group beyond the
// group's max_server_per_host (1 unless its rules say more) fails to
// build with "No valid host was found", as Nova's scheduler fails it
// when no other host is there; the soft policies never fail.

// Nova's default quotas of server groups.
const (
	quotaServerGroups       = 10
	quotaServerGroupMembers = 10
)

type serverGroup struct {
	ID, ProjectID, UserID, Name, Policy string
	MaxPerHost                          int // of anti-affinity rules, 0: none given
	Members                             []string
	Created                             int64
}

func (s *Service) scanGroup(ctx context.Context, db store.Querier, row store.Scanner) (*serverGroup, error) {
	var g serverGroup
	var rules string
	if err := row.Scan(&g.ID, &g.ProjectID, &g.UserID, &g.Name, &g.Policy, &rules, &g.Created); err != nil {
		return nil, err
	}
	var r struct {
		Max int `json:"max_server_per_host"`
	}
	json.Unmarshal([]byte(rules), &r)
	g.MaxPerHost = r.Max
	var err error
	g.Members, err = store.Column(ctx, db, `SELECT server_id FROM server_group_members WHERE group_id = ? ORDER BY created_at, server_id`, g.ID)
	return &g, err
}

const groupColumns = `id, project_id, user_id, name, policy, rules, created_at`

// view is a group as Nova shows it at the request's microversion: a list
// of policies and metadata before 2.64, a policy and rules from it.
func (g *serverGroup) view(q *request) map[string]any {
	m := map[string]any{"id": g.ID, "name": g.Name, "members": g.Members, "project_id": g.ProjectID}
	if m["members"] == nil {
		m["members"] = []string{}
	}
	if q.atLeast(13) {
		m["user_id"] = g.UserID
	}
	if q.atLeast(64) {
		rules := map[string]any{}
		if g.MaxPerHost > 0 {
			rules["max_server_per_host"] = g.MaxPerHost
		}
		m["policy"], m["rules"] = g.Policy, rules
	} else {
		m["policies"], m["metadata"] = []string{g.Policy}, map[string]string{}
	}
	return m
}

func groupNotFound(id string) error {
	return errorf(http.StatusNotFound, "Server group %s could not be found.", id)
}

// visibleGroup is a group of the caller's project (any, for admins).
func (s *Service) visibleGroup(ctx context.Context, db store.Querier, q *request, id string) (*serverGroup, error) {
	g, err := s.scanGroup(ctx, db, db.QueryRow(ctx, `SELECT `+groupColumns+` FROM server_groups WHERE id = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) || err == nil && g.ProjectID != q.creds.ProjectID && !q.admin() {
		return nil, groupNotFound(id)
	}
	return g, store.Row(err)
}

func (s *Service) createServerGroup(q *request) error {
	if err := q.enforce("os_compute_api:os-server-groups:create", q.creds.ProjectID); err != nil {
		return err
	}
	var b struct {
		Group *struct {
			Name     *string         `json:"name"`
			Policies []string        `json:"policies"`
			Policy   *string         `json:"policy"`
			Rules    json.RawMessage `json:"rules"`
		} `json:"server_group"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	bg := b.Group
	invalid := func(msg string) error {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute server_group. %s", msg)
	}
	if bg == nil || bg.Name == nil || len(*bg.Name) == 0 || len(*bg.Name) > 255 {
		return invalid("'name' is a required property of 1 to 255 characters")
	}
	g := &serverGroup{ID: uuid.NewString(), ProjectID: q.creds.ProjectID, UserID: q.creds.UserID, Name: *bg.Name, Created: time.Now().UnixMicro()}
	policies := []string{"affinity", "anti-affinity"}
	if q.atLeast(15) {
		policies = append(policies, "soft-affinity", "soft-anti-affinity")
	}
	if q.atLeast(64) {
		if bg.Policy == nil || bg.Policies != nil {
			return invalid("'policy' is a required property (and 'policies' is not one from 2.64)")
		}
		g.Policy = *bg.Policy
		if len(bg.Rules) > 0 && string(bg.Rules) != "{}" {
			var r map[string]json.RawMessage
			if err := json.Unmarshal(bg.Rules, &r); err != nil {
				return invalid("'rules' must be an object")
			}
			for k, v := range r {
				n, err := strconv.Atoi(string(v))
				if k != "max_server_per_host" || err != nil || n < 1 {
					return invalid("the only rule is max_server_per_host, an integer of at least 1")
				}
				g.MaxPerHost = n
			}
			if g.Policy != "anti-affinity" {
				return invalid("Only anti-affinity policy supports rules.")
			}
		}
	} else {
		if bg.Policy != nil || len(bg.Rules) > 0 || len(bg.Policies) != 1 {
			return invalid("'policies' must name exactly one policy")
		}
		g.Policy = bg.Policies[0]
	}
	if !slices.Contains(policies, g.Policy) {
		return invalid("'" + g.Policy + "' is not one of " + strconvQuote(policies))
	}
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "server groups of "+g.ProjectID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM server_groups WHERE project_id = ?`, g.ProjectID).Scan(&n); err != nil {
			return err
		}
		if n >= quotaServerGroups {
			return errorf(http.StatusForbidden, "Quota exceeded, too many server groups.")
		}
		rules := "{}"
		if g.MaxPerHost > 0 {
			rules = `{"max_server_per_host": ` + strconv.Itoa(g.MaxPerHost) + `}`
		}
		return store.Insert(ctx, tx, "server_groups", store.Values{}.Set("id", g.ID).Set("project_id", g.ProjectID).Set("user_id", g.UserID).
			Set("name", g.Name).Set("policy", g.Policy).Set("rules", rules).Set("created_at", g.Created))
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"server_group": g.view(q)})
	return nil
}

func strconvQuote(ss []string) string {
	b, _ := json.Marshal(ss)
	return string(b)
}

func (s *Service) listServerGroups(q *request) error {
	if err := q.enforce("os_compute_api:os-server-groups:index", q.creds.ProjectID); err != nil {
		return err
	}
	ctx := q.r.Context()
	where, args := `project_id = ?`, []any{q.creds.ProjectID}
	if all, _ := httpapi.ParseBool(q.r.URL.Query().Get("all_projects")); all && q.admin() {
		where, args = `1 = 1`, nil
	}
	limit, offset := 1000, 0
	if v := q.r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "Invalid input for query parameters limit.")
		}
		limit = n
	}
	if v := q.r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "Invalid input for query parameters offset.")
		}
		offset = n
	}
	rows, err := s.db.Query(ctx, `SELECT `+groupColumns+` FROM server_groups WHERE `+where+` ORDER BY created_at, id LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return err
	}
	groups, err := store.Collect(rows, func(r store.Scanner) (*serverGroup, error) {
		var g serverGroup
		var rules string
		return &g, r.Scan(&g.ID, &g.ProjectID, &g.UserID, &g.Name, &g.Policy, &rules, &g.Created)
	})
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, g := range groups {
		full, err := s.scanGroup(ctx, s.db, s.db.QueryRow(ctx, `SELECT `+groupColumns+` FROM server_groups WHERE id = ?`, g.ID))
		if err != nil {
			if errors.Is(store.Row(err), store.ErrNotFound) {
				continue // deleted meanwhile
			}
			return err
		}
		out = append(out, full.view(q))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"server_groups": out})
	return nil
}

func (s *Service) showServerGroup(q *request) error {
	g, err := s.visibleGroup(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:os-server-groups:show", g.ProjectID); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"server_group": g.view(q)})
	return nil
}

func (s *Service) deleteServerGroup(q *request) error {
	ctx := q.r.Context()
	g, err := s.visibleGroup(ctx, s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:os-server-groups:delete", g.ProjectID); err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM server_group_members WHERE group_id = ?`, g.ID); err != nil {
			return err
		}
		return store.Affected(tx.Exec(ctx, `DELETE FROM server_groups WHERE id = ?`, g.ID))
	})
	if errors.Is(err, store.ErrNotFound) {
		return groupNotFound(g.ID)
	}
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// joinGroup makes server a member of the group the create request's
// hint names, in the transaction that records the server: the group must
// be the caller's project's and have room for another member.
func (s *Service) joinGroup(ctx context.Context, tx *store.Tx, q *request, group, server string, now int64) error {
	if group == "" {
		return nil
	}
	if uuid.Validate(group) != nil {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute group. Value: %s. '%s' is not a 'uuid'", group, group)
	}
	if err := tx.Lock(ctx, "server group "+group); err != nil {
		return err
	}
	g, err := s.visibleGroup(ctx, tx, q, group)
	if err != nil {
		return errorf(http.StatusBadRequest, "Invalid server group %s: it could not be found.", group)
	}
	if g.ProjectID != q.creds.ProjectID {
		return errorf(http.StatusBadRequest, "Invalid server group %s: a server joins a group of its own project.", group)
	}
	if len(g.Members) >= quotaServerGroupMembers {
		return errorf(http.StatusForbidden, "Quota exceeded, too many servers in group")
	}
	return store.Insert(ctx, tx, "server_group_members", store.Values{}.Set("group_id", g.ID).Set("server_id", server).Set("created_at", now))
}

// placeInGroup fails the build of a server its group's policy keeps off
// this host: an anti-affinity group with as many members on it already
// as the group allows (the members that joined before it and did not
// fail to build).
func (s *Service) placeInGroup(ctx context.Context, srv *server) error {
	var policy, rules, group string
	var joined int64
	err := s.db.QueryRow(ctx, `SELECT g.id, g.policy, g.rules, m.created_at FROM server_group_members m JOIN server_groups g ON g.id = m.group_id
		WHERE m.server_id = ?`, srv.ID).Scan(&group, &policy, &rules, &joined)
	if errors.Is(store.Row(err), store.ErrNotFound) || err == nil && policy != "anti-affinity" {
		return nil
	}
	if err != nil {
		return err
	}
	var r struct {
		Max int `json:"max_server_per_host"`
	}
	json.Unmarshal([]byte(rules), &r)
	var before int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM server_group_members m JOIN servers v ON v.id = m.server_id
		WHERE m.group_id = ? AND v.status <> 'ERROR' AND (m.created_at < ? OR m.created_at = ? AND m.server_id < ?)`,
		group, joined, joined, srv.ID).Scan(&before); err != nil {
		return err
	}
	if before >= max(r.Max, 1) {
		return faultf(errors.New("anti-affinity"), "No valid host was found. There are not enough hosts available.")
	}
	return nil
}

// groupsOf is the groups server is in (2.71's server_groups).
func (s *Service) groupsOf(ctx context.Context, server string) ([]string, error) {
	g, err := store.Column(ctx, s.db, `SELECT group_id FROM server_group_members WHERE server_id = ?`, server)
	if g == nil {
		g = []string{}
	}
	return g, err
}
