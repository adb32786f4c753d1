package loadbalancer

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/loadbalancer/provider"
	"github.com/sovcloud/sov/internal/store"
)

type pool struct {
	ID, Project, LB, Listener, Name, Description string
	Protocol, Algorithm, Persistence             string
	AdminUp                                      bool
	Provisioning, Operating, Tags                string
	Created, Updated                             int64
}

// persistence is a pool's session_persistence.
type persistence struct {
	Type       string `json:"type"`
	CookieName string `json:"cookie_name,omitempty"`
}

var pools = &kind[*pool]{single: "pool", collection: "pools", title: "Pool", table: "lb_pools",
	columns: `id, project_id, loadbalancer_id, listener_id, name, description, protocol, lb_algorithm, session_persistence,
	admin_state_up, provisioning_status, operating_status, tags, created_at, updated_at`,
	spec: &httpapi.ListSpec{Ascending: true, DefaultSort: []httpapi.Sort{{Key: "created_at"}}, Columns: commonColumns(map[string]httpapi.Column{
		"description": {SQL: "description", Filter: true}, "protocol": {SQL: "protocol", Filter: true, Sort: true, Upper: true},
		"lb_algorithm": {SQL: "lb_algorithm", Filter: true, Sort: true, Upper: true}, "loadbalancer_id": {SQL: "loadbalancer_id", Filter: true},
		"listener_id": {SQL: "listener_id", Filter: true},
	})},
	scan: func(r store.Scanner) (*pool, error) {
		p := &pool{}
		return p, r.Scan(&p.ID, &p.Project, &p.LB, &p.Listener, &p.Name, &p.Description, &p.Protocol, &p.Algorithm, &p.Persistence,
			&p.AdminUp, &p.Provisioning, &p.Operating, &p.Tags, &p.Created, &p.Updated)
	}}

func (s *Service) poolViews(ctx context.Context, list []*pool) ([]map[string]any, error) {
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	ms, err := idRefs(ctx, s.db, "lb_members", "pool_id", ids)
	if err != nil {
		return nil, err
	}
	hms, err := idRefs(ctx, s.db, "lb_healthmonitors", "pool_id", ids)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, p := range list {
		var sp any
		if v := fromJSON[*persistence](p.Persistence); v != nil {
			m := map[string]any{"type": v.Type, "cookie_name": nullIfEmpty(v.CookieName), "persistence_timeout": nil, "persistence_granularity": nil}
			sp = m
		}
		listenerRefs := []map[string]string{}
		if p.Listener != "" {
			listenerRefs = append(listenerRefs, map[string]string{"id": p.Listener})
		}
		var hm any
		if h := hms[p.ID]; len(h) > 0 {
			hm = h[0]["id"]
		}
		out = append(out, map[string]any{"id": p.ID, "name": p.Name, "description": p.Description, "project_id": p.Project, "tenant_id": p.Project,
			"protocol": p.Protocol, "lb_algorithm": p.Algorithm, "session_persistence": sp, "admin_state_up": p.AdminUp,
			"provisioning_status": p.Provisioning, "operating_status": p.Operating, "loadbalancers": []map[string]string{{"id": p.LB}},
			"listeners": listenerRefs, "members": orEmpty(ms[p.ID]), "healthmonitor_id": hm, "tls_enabled": false,
			"tls_container_ref": nil, "ca_tls_container_ref": nil, "crl_container_ref": nil, "tls_ciphers": nil, "tls_versions": nil,
			"alpn_protocols": nil, "tags": fromJSON[[]string](p.Tags), "created_at": octaviaTime(p.Created), "updated_at": octaviaTime(p.Updated)})
	}
	return out, nil
}

func (s *Service) writePool(q *request, status int, id string) error {
	p, err := pools.get(q.ctx(), s.db, q, id)
	if err != nil {
		return err
	}
	v, err := s.poolViews(q.ctx(), []*pool{p})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, status, map[string]any{"pool": v[0]})
	return nil
}

func (s *Service) listPools(q *request) error {
	if err := q.enforce("pool:get_all", q.creds.ProjectID); err != nil {
		return err
	}
	return pools.list(q, "1 = 1", nil, func(l []*pool) ([]map[string]any, error) { return s.poolViews(q.ctx(), l) })
}

func (s *Service) showPool(q *request) error {
	p, err := pools.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("pool:get_one", p.Project); err != nil {
		return err
	}
	return s.writePool(q, http.StatusOK, p.ID)
}

var poolFields = []string{"name", "description", "lb_algorithm", "session_persistence", "admin_state_up", "tags", "tls_enabled",
	"tls_container_ref", "ca_tls_container_ref", "crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols"}

// poolBody reads what a create or update may set.
func poolBody(a attrs, p *pool) error {
	if err := a.str("name", &p.Name, 255); err != nil {
		return err
	}
	if err := a.str("description", &p.Description, 255); err != nil {
		return err
	}
	if err := a.oneOf("lb_algorithm", &p.Algorithm, provider.RoundRobin, provider.LeastConnections, provider.SourceIP, "SOURCE_IP_PORT"); err != nil {
		return err
	}
	if p.Algorithm == "SOURCE_IP_PORT" {
		return unsupportedOption("the SOURCE_IP_PORT algorithm")
	}
	if err := a.boolean("admin_state_up", &p.AdminUp); err != nil {
		return err
	}
	if err := a.tags(&p.Tags); err != nil {
		return err
	}
	var tls bool
	if err := a.boolean("tls_enabled", &tls); err != nil {
		return err
	}
	if tls {
		return unsupportedOption("TLS to members")
	}
	for _, k := range []string{"tls_container_ref", "ca_tls_container_ref", "crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols"} {
		if a.has(k) && !a.null(k) {
			return unsupportedOption(k)
		}
	}
	if a.has("session_persistence") {
		if a.null("session_persistence") || string(a["session_persistence"]) == "{}" {
			p.Persistence = "null"
			return nil
		}
		var sp map[string]any
		if err := a.decodeInto("session_persistence", &sp); err != nil {
			return err
		}
		v := &persistence{}
		for k, x := range sp {
			str, _ := x.(string)
			switch k {
			case "type":
				v.Type = str
			case "cookie_name":
				v.CookieName = str
			case "persistence_timeout", "persistence_granularity":
				if x != nil {
					return unsupportedOption(k)
				}
			default:
				return invalid("session_persistence", a["session_persistence"], "Unknown attribute "+k)
			}
		}
		switch v.Type {
		case provider.PersistSourceIP, provider.PersistHTTPCookie:
			if v.CookieName != "" {
				return errorf(http.StatusBadRequest, "Validation failure: Cookie names are not supported for %s pools.", v.Type)
			}
		case provider.PersistAppCookie:
			if !validCookieName(v.CookieName) {
				return errorf(http.StatusBadRequest, "Validation failure: A valid cookie name is required for APP_COOKIE session persistence.")
			}
		default:
			return invalid("session_persistence", a["session_persistence"], "type should be one of: SOURCE_IP, HTTP_COOKIE, APP_COOKIE")
		}
		if v.Type != provider.PersistSourceIP && p.Protocol != provider.HTTP {
			return errorf(http.StatusBadRequest, "Validation failure: Session persistence of type %s is not compatible with protocol %s.", v.Type, p.Protocol)
		}
		p.Persistence = jsonText(v)
	}
	return nil
}

// validCookieName is a cookie name sov takes: letters, digits, "_", "."
// and "-" (a subset of what Octavia takes that HAProxy's configuration
// carries as is).
func validCookieName(n string) bool { return cookieName.MatchString(n) }

var cookieName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func (s *Service) createPool(q *request) error {
	a, err := decode(q, "pool", append([]string{"protocol", "loadbalancer_id", "listener_id", "project_id", "tenant_id", "healthmonitor", "members"}, poolFields...)...)
	if err != nil {
		return err
	}
	p := &pool{ID: uuid.NewString(), AdminUp: true, Provisioning: PendingCreate, Operating: Offline, Tags: "[]", Persistence: "null"}
	if err := a.oneOf("protocol", &p.Protocol, "HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2", "UDP", "SCTP"); err != nil {
		return err
	}
	if err := a.str("loadbalancer_id", &p.LB, 36); err != nil {
		return err
	}
	if err := a.str("listener_id", &p.Listener, 36); err != nil {
		return err
	}
	switch {
	case p.Protocol == "":
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute protocol. Value: 'None'. Mandatory field missing.")
	case !a.has("lb_algorithm"):
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute lb_algorithm. Value: 'None'. Mandatory field missing.")
	case p.LB == "" && p.Listener == "":
		return errorf(http.StatusBadRequest, "Validation failure: loadbalancer_id or listener_id must be specified.")
	case !slices.Contains([]string{provider.HTTP, provider.HTTPS, provider.TCP}, p.Protocol):
		return unsupportedOption(p.Protocol + " pools")
	case (a.has("healthmonitor") && !a.null("healthmonitor")) || (a.has("members") && !a.null("members") && string(a["members"]) != "[]"):
		return unsupportedOption("creating members or a health monitor with their pool")
	}
	if err := poolBody(a, p); err != nil {
		return err
	}
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		if p.Listener != "" {
			l, err := listeners.get(q.ctx(), tx, q, p.Listener)
			if err != nil {
				return err
			}
			if p.LB != "" && p.LB != l.LB {
				return errorf(http.StatusBadRequest, "Validation failure: Listener %s is not on load balancer %s.", l.ID, p.LB)
			}
			p.LB = l.LB
			if !compatible(l.Protocol, p.Protocol) {
				return errorf(http.StatusBadRequest, "Validation failure: The pool protocol '%s' is invalid while the listener protocol is '%s'.", p.Protocol, l.Protocol)
			}
			if l.DefaultPool != "" {
				return errorf(http.StatusConflict, "Listener %s already has a default pool.", l.ID)
			}
		}
		lb, err := lbs.get(q.ctx(), tx, q, p.LB)
		if err != nil {
			return err
		}
		p.Project = lb.Project
		if err := q.enforce("pool:post", p.Project); err != nil {
			return err
		}
		if err := s.checkQuota(q.ctx(), tx, p.Project, "pool"); err != nil {
			return err
		}
		if err := lockLB(q.ctx(), tx, p.LB); err != nil {
			return err
		}
		p.Created = time.Now().Unix()
		p.Updated = p.Created
		if err := store.Insert(q.ctx(), tx, "lb_pools", store.Values{}.Set("id", p.ID).Set("project_id", p.Project).
			Set("loadbalancer_id", p.LB).Set("listener_id", p.Listener).Set("name", p.Name).Set("description", p.Description).
			Set("protocol", p.Protocol).Set("lb_algorithm", p.Algorithm).Set("session_persistence", p.Persistence).
			Set("admin_state_up", p.AdminUp).Set("provisioning_status", p.Provisioning).Set("operating_status", p.Operating).
			Set("tags", p.Tags).Set("created_at", p.Created).Set("updated_at", p.Updated)); err != nil {
			return err
		}
		if p.Listener != "" {
			_, err = tx.Exec(q.ctx(), `UPDATE lb_listeners SET default_pool_id = ?, provisioning_status = ? WHERE id = ?`, p.ID, PendingUpdate, p.Listener)
		}
		return err
	})
	if err != nil {
		return err
	}
	s.record(q, p.LB, "create pool")
	defer s.schedule(q, p.LB, "create pool") // also when the answer cannot be written: the change is committed
	return s.writePool(q, http.StatusCreated, p.ID)
}

func (s *Service) updatePool(q *request) error {
	a, err := decode(q, "pool", poolFields...)
	if err != nil {
		return err
	}
	return s.changeChild(q, "pool:put", "update pool", http.StatusOK, s.writePool, func(tx *store.Tx) (child, error) {
		p, err := pools.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return child{}, err
		}
		return child{id: p.ID, lb: p.LB, project: p.Project, apply: func() error {
			if err := poolBody(a, p); err != nil {
				return err
			}
			_, err := tx.Exec(q.ctx(), `UPDATE lb_pools SET name = ?, description = ?, lb_algorithm = ?, session_persistence = ?,
				admin_state_up = ?, tags = ?, provisioning_status = ?, updated_at = ? WHERE id = ?`, p.Name, p.Description, p.Algorithm,
				p.Persistence, p.AdminUp, p.Tags, PendingUpdate, time.Now().Unix(), p.ID)
			return err
		}}, nil
	})
}

func (s *Service) deletePool(q *request) error {
	return s.deleteChild(q, "pool:delete", "delete pool", func(tx *store.Tx) (child, error) {
		p, err := pools.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return child{}, err
		}
		return child{lb: p.LB, project: p.Project, apply: func() error {
			var policy string
			err := store.Row(tx.QueryRow(q.ctx(), `SELECT id FROM lb_l7policies WHERE redirect_pool_id = ? AND provisioning_status <> ?`,
				p.ID, PendingDelete).Scan(&policy))
			if err == nil {
				return errorf(http.StatusConflict, "Pool %s is in use by L7 policy %s.", p.ID, policy)
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if _, err := tx.Exec(q.ctx(), `UPDATE lb_listeners SET default_pool_id = '', provisioning_status = ? WHERE default_pool_id = ?`,
				PendingUpdate, p.ID); err != nil {
				return err
			}
			for _, t := range []string{"lb_members", "lb_healthmonitors"} {
				if err := markDeleted(q.ctx(), tx, t, "pool_id = ?", p.ID); err != nil {
					return err
				}
			}
			return markDeleted(q.ctx(), tx, "lb_pools", "id = ?", p.ID)
		}}, nil
	})
}
