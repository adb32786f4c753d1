package loadbalancer

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/loadbalancer/provider"
	"github.com/sovcloud/sov/internal/store"
)

// L7 policies of HTTP listeners (position ordered per listener) and their
// rules, as Octavia has them: a policy acts when all its rules match.

type l7policy struct {
	ID, Project, LB, Listener, Name, Description, Action string
	Position                                             int
	Pool, URL, Prefix                                    string
	Code                                                 int
	AdminUp                                              bool
	Provisioning, Operating, Tags                        string
	Created, Updated                                     int64
}

var policies = &kind[*l7policy]{single: "l7policy", collection: "l7policies", title: "L7 Policy", table: "lb_l7policies",
	columns: `id, project_id, loadbalancer_id, listener_id, name, description, action, position, redirect_pool_id, redirect_url,
	redirect_prefix, redirect_http_code, admin_state_up, provisioning_status, operating_status, tags, created_at, updated_at`,
	spec: &httpapi.ListSpec{Ascending: true, DefaultSort: []httpapi.Sort{{Key: "created_at"}}, Columns: commonColumns(map[string]httpapi.Column{
		"description": {SQL: "description", Filter: true}, "action": {SQL: "action", Filter: true, Sort: true, Upper: true},
		"listener_id": {SQL: "listener_id", Filter: true}, "position": {SQL: "position", Filter: true, Sort: true},
		"redirect_pool_id": {SQL: "redirect_pool_id", Filter: true},
	})},
	scan: func(r store.Scanner) (*l7policy, error) {
		p := &l7policy{}
		return p, r.Scan(&p.ID, &p.Project, &p.LB, &p.Listener, &p.Name, &p.Description, &p.Action, &p.Position, &p.Pool, &p.URL,
			&p.Prefix, &p.Code, &p.AdminUp, &p.Provisioning, &p.Operating, &p.Tags, &p.Created, &p.Updated)
	}}

type l7rule struct {
	ID, Project, LB, Policy, Type, Compare, Key, Value string
	Invert, AdminUp                                    bool
	Provisioning, Operating, Tags                      string
	Created, Updated                                   int64
}

var l7rules = &kind[*l7rule]{single: "rule", collection: "rules", title: "L7 Rule", table: "lb_l7rules",
	columns: `id, project_id, loadbalancer_id, l7policy_id, type, compare_type, rule_key, value, invert, admin_state_up,
	provisioning_status, operating_status, tags, created_at, updated_at`,
	spec: &httpapi.ListSpec{Ascending: true, DefaultSort: []httpapi.Sort{{Key: "created_at"}}, Columns: commonColumns(map[string]httpapi.Column{
		"type": {SQL: "type", Filter: true, Sort: true, Upper: true}, "compare_type": {SQL: "compare_type", Filter: true, Upper: true},
		"key": {SQL: "rule_key", Filter: true}, "value": {SQL: "value", Filter: true}, "invert": {SQL: "invert", Filter: true, Bool: true},
	})},
	scan: func(r store.Scanner) (*l7rule, error) {
		x := &l7rule{}
		return x, r.Scan(&x.ID, &x.Project, &x.LB, &x.Policy, &x.Type, &x.Compare, &x.Key, &x.Value, &x.Invert, &x.AdminUp,
			&x.Provisioning, &x.Operating, &x.Tags, &x.Created, &x.Updated)
	}}

func (s *Service) policyViews(ctx context.Context, list []*l7policy) ([]map[string]any, error) {
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	rules, err := idRefs(ctx, s.db, "lb_l7rules", "l7policy_id", ids)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, p := range list {
		var code any
		if p.Action == provider.RedirectToURL || p.Action == provider.RedirectPrefix {
			code = p.Code
		}
		out = append(out, map[string]any{"id": p.ID, "name": p.Name, "description": p.Description, "project_id": p.Project, "tenant_id": p.Project,
			"listener_id": p.Listener, "action": p.Action, "position": p.Position, "redirect_pool_id": nullIfEmpty(p.Pool),
			"redirect_url": nullIfEmpty(p.URL), "redirect_prefix": nullIfEmpty(p.Prefix), "redirect_http_code": code,
			"admin_state_up": p.AdminUp, "provisioning_status": p.Provisioning, "operating_status": p.Operating,
			"rules": orEmpty(rules[p.ID]), "tags": fromJSON[[]string](p.Tags), "created_at": octaviaTime(p.Created), "updated_at": octaviaTime(p.Updated)})
	}
	return out, nil
}

func ruleView(x *l7rule) map[string]any {
	return map[string]any{"id": x.ID, "project_id": x.Project, "tenant_id": x.Project, "type": x.Type, "compare_type": x.Compare,
		"key": nullIfEmpty(x.Key), "value": x.Value, "invert": x.Invert, "admin_state_up": x.AdminUp,
		"provisioning_status": x.Provisioning, "operating_status": x.Operating, "tags": fromJSON[[]string](x.Tags),
		"created_at": octaviaTime(x.Created), "updated_at": octaviaTime(x.Updated)}
}

func (s *Service) writePolicy(q *request, status int, id string) error {
	p, err := policies.get(q.ctx(), s.db, q, id)
	if err != nil {
		return err
	}
	v, err := s.policyViews(q.ctx(), []*l7policy{p})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, status, map[string]any{"l7policy": v[0]})
	return nil
}

func (s *Service) listPolicies(q *request) error {
	if err := q.enforce("l7policy:get_all", q.creds.ProjectID); err != nil {
		return err
	}
	return policies.list(q, "1 = 1", nil, func(l []*l7policy) ([]map[string]any, error) { return s.policyViews(q.ctx(), l) })
}

func (s *Service) showPolicy(q *request) error {
	p, err := policies.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("l7policy:get_one", p.Project); err != nil {
		return err
	}
	return s.writePolicy(q, http.StatusOK, p.ID)
}

var policyFields = []string{"name", "description", "action", "position", "redirect_pool_id", "redirect_url", "redirect_prefix",
	"redirect_http_code", "admin_state_up", "tags"}

// policyBody reads what a create or update sets, and checks the action's
// target against the listener.
func policyBody(ctx context.Context, tx *store.Tx, q *request, a attrs, p *l7policy, l *listener) error {
	for _, f := range []func() error{
		func() error { return a.str("name", &p.Name, 255) }, func() error { return a.str("description", &p.Description, 255) },
		func() error {
			return a.oneOf("action", &p.Action, provider.RedirectToPool, provider.RedirectToURL, provider.RedirectPrefix, provider.Reject)
		},
		func() error { return a.integer("position", &p.Position, 1, 2147483647) },
		func() error { return a.str("redirect_pool_id", &p.Pool, 36) }, func() error { return a.str("redirect_url", &p.URL, 255) },
		func() error { return a.str("redirect_prefix", &p.Prefix, 255) }, func() error { return a.boolean("admin_state_up", &p.AdminUp) },
		func() error { return a.tags(&p.Tags) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	if a.has("redirect_http_code") && !a.null("redirect_http_code") {
		if err := a.integer("redirect_http_code", &p.Code, 301, 308); err != nil {
			return err
		}
		if !slices.Contains([]int{301, 302, 303, 307, 308}, p.Code) {
			return invalid("redirect_http_code", a["redirect_http_code"], "Value should be one of: 301, 302, 303, 307, 308")
		}
	}
	if l.Protocol != provider.HTTP {
		return errorf(http.StatusBadRequest, "Validation failure: L7 policies are only available on HTTP listeners, not %s.", l.Protocol)
	}
	// Only the target of the action stays.
	switch p.Action {
	case provider.RedirectToPool:
		p.URL, p.Prefix = "", ""
		if p.Pool == "" {
			return errorf(http.StatusBadRequest, "Validation failure: redirect_pool_id is required for action REDIRECT_TO_POOL.")
		}
		pl, err := pools.get(ctx, tx, q, p.Pool)
		if err != nil {
			return err
		}
		if pl.LB != l.LB || pl.Provisioning == PendingDelete {
			return errorf(http.StatusBadRequest, "Validation failure: Pool %s is not on the listener's load balancer.", p.Pool)
		}
		if !compatible(l.Protocol, pl.Protocol) {
			return errorf(http.StatusBadRequest, "Validation failure: The pool protocol '%s' is invalid while the listener protocol is '%s'.", pl.Protocol, l.Protocol)
		}
	case provider.RedirectToURL:
		p.Pool, p.Prefix = "", ""
		if !redirectTarget(p.URL, false) {
			return invalid("redirect_url", a["redirect_url"], "Value should be an http or https URL without spaces or quotes")
		}
	case provider.RedirectPrefix:
		p.Pool, p.URL = "", ""
		if !redirectTarget(p.Prefix, true) {
			return invalid("redirect_prefix", a["redirect_prefix"], "Value should be an http or https URL without a path, spaces or quotes")
		}
	case provider.Reject:
		p.Pool, p.URL, p.Prefix = "", "", ""
	default:
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute action. Value: 'None'. Mandatory field missing.")
	}
	if p.Code == 0 {
		p.Code = 302
	}
	return nil
}

// redirectTarget reports whether u is an http(s) URL HAProxy's
// configuration can carry as is (a prefix has no path).
func redirectTarget(u string, prefix bool) bool {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" || strings.ContainsAny(u, " \t\r\n\"'\\#") {
		return false
	}
	return !prefix || parsed.Path == "" || parsed.Path == "/"
}

// place puts a listener's policy at a position (0: last), moving the
// others, and numbers them 1..n again.
func place(ctx context.Context, tx *store.Tx, listener, id string, position int) error {
	ids, err := store.Column(ctx, tx, `SELECT id FROM lb_l7policies WHERE listener_id = ? AND id <> ? AND provisioning_status <> ? ORDER BY position, created_at, id`,
		listener, id, PendingDelete)
	if err != nil {
		return err
	}
	if id != "" {
		at := len(ids)
		if position > 0 && position-1 < at {
			at = position - 1
		}
		ids = slices.Insert(ids, at, id)
	}
	for i, pid := range ids {
		if _, err := tx.Exec(ctx, `UPDATE lb_l7policies SET position = ? WHERE id = ? AND position <> ?`, i+1, pid, i+1); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) createPolicy(q *request) error {
	a, err := decode(q, "l7policy", append([]string{"listener_id", "project_id", "tenant_id", "rules"}, policyFields...)...)
	if err != nil {
		return err
	}
	p := &l7policy{ID: uuid.NewString(), AdminUp: true, Provisioning: PendingCreate, Operating: Offline, Tags: "[]"}
	if err := a.str("listener_id", &p.Listener, 36); err != nil {
		return err
	}
	switch {
	case p.Listener == "":
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute listener_id. Value: 'None'. Mandatory field missing.")
	case !a.has("action"):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute action. Value: 'None'. Mandatory field missing.")
	case a.has("rules") && !a.null("rules") && string(a["rules"]) != "[]":
		return unsupportedOption("creating rules with their L7 policy")
	}
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		l, err := listeners.get(q.ctx(), tx, q, p.Listener)
		if err != nil {
			return err
		}
		p.Project, p.LB = l.Project, l.LB
		if err := q.enforce("l7policy:post", p.Project); err != nil {
			return err
		}
		if err := policyBody(q.ctx(), tx, q, a, p, l); err != nil {
			return err
		}
		if err := s.checkQuota(q.ctx(), tx, p.Project, "l7policy"); err != nil {
			return err
		}
		if err := lockLB(q.ctx(), tx, p.LB); err != nil {
			return err
		}
		p.Created = time.Now().Unix()
		p.Updated = p.Created
		if err := store.Insert(q.ctx(), tx, "lb_l7policies", store.Values{}.Set("id", p.ID).Set("project_id", p.Project).
			Set("loadbalancer_id", p.LB).Set("listener_id", p.Listener).Set("name", p.Name).Set("description", p.Description).
			Set("action", p.Action).Set("position", 1<<30).Set("redirect_pool_id", p.Pool).Set("redirect_url", p.URL).
			Set("redirect_prefix", p.Prefix).Set("redirect_http_code", p.Code).Set("admin_state_up", p.AdminUp).
			Set("provisioning_status", p.Provisioning).Set("operating_status", p.Operating).Set("tags", p.Tags).
			Set("created_at", p.Created).Set("updated_at", p.Updated)); err != nil {
			return err
		}
		if err := place(q.ctx(), tx, p.Listener, p.ID, p.Position); err != nil {
			return err
		}
		_, err = tx.Exec(q.ctx(), `UPDATE lb_listeners SET provisioning_status = ? WHERE id = ?`, PendingUpdate, p.Listener)
		return err
	})
	if err != nil {
		return err
	}
	s.record(q, p.LB, "create l7policy")
	defer s.schedule(q, p.LB, "create l7policy") // also when the answer cannot be written: the change is committed
	return s.writePolicy(q, http.StatusCreated, p.ID)
}

func (s *Service) updatePolicy(q *request) error {
	a, err := decode(q, "l7policy", policyFields...)
	if err != nil {
		return err
	}
	return s.changeChild(q, "l7policy:put", "update l7policy", http.StatusOK, s.writePolicy, func(tx *store.Tx) (child, error) {
		p, err := policies.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return child{}, err
		}
		return child{id: p.ID, lb: p.LB, project: p.Project, apply: func() error {
			l, err := listeners.get(q.ctx(), tx, q, p.Listener)
			if err != nil {
				return err
			}
			before := p.Position
			if err := policyBody(q.ctx(), tx, q, a, p, l); err != nil {
				return err
			}
			if _, err := tx.Exec(q.ctx(), `UPDATE lb_l7policies SET name = ?, description = ?, action = ?, redirect_pool_id = ?,
				redirect_url = ?, redirect_prefix = ?, redirect_http_code = ?, admin_state_up = ?, tags = ?, provisioning_status = ?,
				updated_at = ? WHERE id = ?`, p.Name, p.Description, p.Action, p.Pool, p.URL, p.Prefix, p.Code, p.AdminUp, p.Tags,
				PendingUpdate, time.Now().Unix(), p.ID); err != nil {
				return err
			}
			if p.Position != before {
				return place(q.ctx(), tx, p.Listener, p.ID, p.Position)
			}
			return nil
		}}, nil
	})
}

func (s *Service) deletePolicy(q *request) error {
	return s.deleteChild(q, "l7policy:delete", "delete l7policy", func(tx *store.Tx) (child, error) {
		p, err := policies.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return child{}, err
		}
		return child{lb: p.LB, project: p.Project, apply: func() error {
			if err := markDeleted(q.ctx(), tx, "lb_l7rules", "l7policy_id = ?", p.ID); err != nil {
				return err
			}
			if err := markDeleted(q.ctx(), tx, "lb_l7policies", "id = ?", p.ID); err != nil {
				return err
			}
			return place(q.ctx(), tx, p.Listener, "", 0)
		}}, nil
	})
}

// ruleValue is what HAProxy's configuration carries as a match as is:
// printable, without spaces, quotes, backslashes or '#'.
var ruleValue = regexp.MustCompile(`^[!$%&()*+,\-./0-9:;<=>?@A-Z\[\]^_` + "`" + `a-z{|}~]{1,255}$`)

// ruleKey is a header or cookie name sov takes.
var ruleKey = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)

var ruleFields = []string{"type", "compare_type", "key", "value", "invert", "admin_state_up", "tags"}

func ruleBody(a attrs, x *l7rule) error {
	for _, f := range []func() error{
		func() error {
			return a.oneOf("type", &x.Type, provider.RuleHostName, provider.RulePath, provider.RuleFileType, provider.RuleHeader,
				provider.RuleCookie, "SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT", "SSL_DN_FIELD")
		},
		func() error {
			return a.oneOf("compare_type", &x.Compare, provider.CompareRegex, provider.CompareStartsWith, provider.CompareEndsWith,
				provider.CompareContains, provider.CompareEqual)
		},
		func() error { return a.str("key", &x.Key, 255) }, func() error { return a.str("value", &x.Value, 255) },
		func() error { return a.boolean("invert", &x.Invert) }, func() error { return a.boolean("admin_state_up", &x.AdminUp) },
		func() error { return a.tags(&x.Tags) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	switch {
	case strings.HasPrefix(x.Type, "SSL_"):
		return unsupportedOption(x.Type + " rules (client certificates)")
	case x.Type == "" || x.Compare == "" || x.Value == "":
		return errorf(http.StatusBadRequest, "Validation failure: type, compare_type and value are required.")
	case !ruleValue.MatchString(x.Value):
		return invalid("value", a["value"], "Value should be printable without spaces, quotes, backslashes or '#'")
	case x.Compare == provider.CompareRegex && !validRegex(x.Value):
		return errorf(http.StatusBadRequest, "Validation failure: Invalid regex %s.", x.Value)
	case (x.Type == provider.RuleHeader || x.Type == provider.RuleCookie) && !ruleKey.MatchString(x.Key):
		return errorf(http.StatusBadRequest, "Validation failure: A %s rule needs a key: the header or cookie name.", x.Type)
	case x.Type == provider.RuleFileType && x.Compare != provider.CompareEqual && x.Compare != provider.CompareRegex:
		return errorf(http.StatusBadRequest, "Validation failure: FILE_TYPE rules compare with EQUAL_TO or REGEX only.")
	case x.Type == provider.RulePath && x.Compare != provider.CompareRegex && !strings.HasPrefix(x.Value, "/") &&
		x.Compare != provider.CompareContains && x.Compare != provider.CompareEndsWith:
		return errorf(http.StatusBadRequest, "Validation failure: A PATH rule's value begins with /.")
	}
	if x.Type != provider.RuleHeader && x.Type != provider.RuleCookie {
		x.Key = ""
	}
	return nil
}

// validRegex reports whether v is a regular expression HAProxy may run
// on every request: one that compiles and repeats nothing that repeats
// itself (HAProxy's PCRE backtracks, so (a+)+$ could take exponential time).
func validRegex(v string) bool {
	re, err := syntax.Parse(v, syntax.Perl)
	return err == nil && !nestedRepeat(re, false)
}

func nestedRepeat(re *syntax.Regexp, inRepeat bool) bool {
	repeat := re.Op == syntax.OpStar || re.Op == syntax.OpPlus || (re.Op == syntax.OpRepeat && re.Max != 1)
	if repeat && inRepeat {
		return true
	}
	for _, sub := range re.Sub {
		if nestedRepeat(sub, inRepeat || repeat) {
			return true
		}
	}
	return false
}

// ruleOf reads a rule of the policy in the path.
func ruleOf(ctx context.Context, db store.Querier, q *request) (*l7policy, *l7rule, error) {
	p, err := policies.get(ctx, db, q, q.r.PathValue("id"))
	if err != nil {
		return nil, nil, err
	}
	x, err := l7rules.get(ctx, db, q, q.r.PathValue("rule"))
	if err == nil && x.Policy != p.ID {
		err = notFound("L7 Rule", x.ID)
	}
	return p, x, err
}

func (s *Service) writeRule(q *request, status int, id string) error {
	x, err := l7rules.get(q.ctx(), s.db, q, id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, status, map[string]any{"rule": ruleView(x)})
	return nil
}

func (s *Service) listRules(q *request) error {
	p, err := policies.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("l7rule:get_all", p.Project); err != nil {
		return err
	}
	return l7rules.list(q, "l7policy_id = ?", []any{p.ID}, func(l []*l7rule) ([]map[string]any, error) {
		var out []map[string]any
		for _, x := range l {
			out = append(out, ruleView(x))
		}
		return out, nil
	})
}

func (s *Service) showRule(q *request) error {
	_, x, err := ruleOf(q.ctx(), s.db, q)
	if err != nil {
		return err
	}
	if err := q.enforce("l7rule:get_one", x.Project); err != nil {
		return err
	}
	return s.writeRule(q, http.StatusOK, x.ID)
}

func (s *Service) createRule(q *request) error {
	a, err := decode(q, "rule", append([]string{"project_id", "tenant_id"}, ruleFields...)...)
	if err != nil {
		return err
	}
	x := &l7rule{ID: uuid.NewString(), AdminUp: true, Provisioning: PendingCreate, Operating: Offline, Tags: "[]"}
	if err := ruleBody(a, x); err != nil {
		return err
	}
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		p, err := policies.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		x.Project, x.LB, x.Policy = p.Project, p.LB, p.ID
		if err := q.enforce("l7rule:post", x.Project); err != nil {
			return err
		}
		if err := s.checkQuota(q.ctx(), tx, x.Project, "l7rule"); err != nil {
			return err
		}
		if err := lockLB(q.ctx(), tx, x.LB); err != nil {
			return err
		}
		x.Created = time.Now().Unix()
		x.Updated = x.Created
		if err := store.Insert(q.ctx(), tx, "lb_l7rules", store.Values{}.Set("id", x.ID).Set("project_id", x.Project).
			Set("loadbalancer_id", x.LB).Set("l7policy_id", x.Policy).Set("type", x.Type).Set("compare_type", x.Compare).
			Set("rule_key", x.Key).Set("value", x.Value).Set("invert", x.Invert).Set("admin_state_up", x.AdminUp).
			Set("provisioning_status", x.Provisioning).Set("operating_status", x.Operating).Set("tags", x.Tags).
			Set("created_at", x.Created).Set("updated_at", x.Updated)); err != nil {
			return err
		}
		_, err = tx.Exec(q.ctx(), `UPDATE lb_l7policies SET provisioning_status = ? WHERE id = ?`, PendingUpdate, p.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.record(q, x.LB, "create l7rule")
	defer s.schedule(q, x.LB, "create l7rule") // also when the answer cannot be written: the change is committed
	return s.writeRule(q, http.StatusCreated, x.ID)
}

func (s *Service) updateRule(q *request) error {
	a, err := decode(q, "rule", ruleFields...)
	if err != nil {
		return err
	}
	return s.changeChild(q, "l7rule:put", "update l7rule", http.StatusOK, s.writeRule, func(tx *store.Tx) (child, error) {
		_, x, err := ruleOf(q.ctx(), tx, q)
		if err != nil {
			return child{}, err
		}
		return child{id: x.ID, lb: x.LB, project: x.Project, apply: func() error {
			if err := ruleBody(a, x); err != nil {
				return err
			}
			_, err := tx.Exec(q.ctx(), `UPDATE lb_l7rules SET type = ?, compare_type = ?, rule_key = ?, value = ?, invert = ?,
				admin_state_up = ?, tags = ?, provisioning_status = ?, updated_at = ? WHERE id = ?`, x.Type, x.Compare, x.Key, x.Value,
				x.Invert, x.AdminUp, x.Tags, PendingUpdate, time.Now().Unix(), x.ID)
			return err
		}}, nil
	})
}

func (s *Service) deleteRule(q *request) error {
	return s.deleteChild(q, "l7rule:delete", "delete l7rule", func(tx *store.Tx) (child, error) {
		_, x, err := ruleOf(q.ctx(), tx, q)
		if err != nil {
			return child{}, err
		}
		return child{lb: x.LB, project: x.Project, apply: func() error { return markDeleted(q.ctx(), tx, "lb_l7rules", "id = ?", x.ID) }}, nil
	})
}
