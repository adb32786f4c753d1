package loadbalancer

import (
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

type monitor struct {
	ID, Project, LB, Pool, Name, Type          string
	Delay, Timeout, MaxRetries, MaxRetriesDown int
	Method, Path, Codes                        string
	AdminUp                                    bool
	Provisioning, Operating, Tags              string
	Created, Updated                           int64
}

var monitors = &kind[*monitor]{single: "healthmonitor", collection: "healthmonitors", title: "Health Monitor", table: "lb_healthmonitors",
	columns: `id, project_id, loadbalancer_id, pool_id, name, type, delay, timeout, max_retries, max_retries_down, http_method,
	url_path, expected_codes, admin_state_up, provisioning_status, operating_status, tags, created_at, updated_at`,
	spec: &httpapi.ListSpec{Ascending: true, DefaultSort: []httpapi.Sort{{Key: "created_at"}}, Columns: commonColumns(map[string]httpapi.Column{
		"type": {SQL: "type", Filter: true, Sort: true, Upper: true}, "pool_id": {SQL: "pool_id", Filter: true},
		"delay": {SQL: "delay", Filter: true}, "timeout": {SQL: "timeout", Filter: true},
	})},
	scan: func(r store.Scanner) (*monitor, error) {
		h := &monitor{}
		return h, r.Scan(&h.ID, &h.Project, &h.LB, &h.Pool, &h.Name, &h.Type, &h.Delay, &h.Timeout, &h.MaxRetries, &h.MaxRetriesDown,
			&h.Method, &h.Path, &h.Codes, &h.AdminUp, &h.Provisioning, &h.Operating, &h.Tags, &h.Created, &h.Updated)
	}}

func monitorView(h *monitor) map[string]any {
	http := h.Type == provider.MonitorHTTP || h.Type == provider.MonitorHTTPS
	v := map[string]any{"id": h.ID, "name": h.Name, "project_id": h.Project, "tenant_id": h.Project, "type": h.Type, "delay": h.Delay,
		"timeout": h.Timeout, "max_retries": h.MaxRetries, "max_retries_down": h.MaxRetriesDown, "http_method": nil, "url_path": nil,
		"expected_codes": nil, "http_version": nil, "domain_name": nil, "admin_state_up": h.AdminUp,
		"provisioning_status": h.Provisioning, "operating_status": h.Operating, "pools": []map[string]string{{"id": h.Pool}},
		"tags": fromJSON[[]string](h.Tags), "created_at": octaviaTime(h.Created), "updated_at": octaviaTime(h.Updated)}
	if http {
		v["http_method"], v["url_path"], v["expected_codes"], v["http_version"] = h.Method, h.Path, h.Codes, 1.0
	}
	return v
}

func (s *Service) writeMonitor(q *request, status int, id string) error {
	h, err := monitors.get(q.ctx(), s.db, q, id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, status, map[string]any{"healthmonitor": monitorView(h)})
	return nil
}

func (s *Service) listMonitors(q *request) error {
	if err := q.enforce("healthmonitor:get_all", q.creds.ProjectID); err != nil {
		return err
	}
	return monitors.list(q, "1 = 1", nil, func(l []*monitor) ([]map[string]any, error) {
		var out []map[string]any
		for _, h := range l {
			out = append(out, monitorView(h))
		}
		return out, nil
	})
}

func (s *Service) showMonitor(q *request) error {
	h, err := monitors.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("healthmonitor:get_one", h.Project); err != nil {
		return err
	}
	return s.writeMonitor(q, http.StatusOK, h.ID)
}

var monitorFields = []string{"name", "delay", "timeout", "max_retries", "max_retries_down", "http_method", "url_path",
	"expected_codes", "admin_state_up", "tags", "http_version", "domain_name"}

// urlPath is a health check's path (and query): the characters RFC 3986
// allows there, so it goes into HAProxy's configuration as it is.
var urlPath = regexp.MustCompile(`^/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*$`)

// expectedCodes is Octavia's pattern of expected_codes.
var expectedCodes = regexp.MustCompile(`^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$`)

func monitorBody(a attrs, h *monitor) error {
	var version, domain string
	for _, f := range []func() error{
		func() error { return a.str("name", &h.Name, 255) }, func() error { return a.integer("delay", &h.Delay, 0, 1<<31-1) },
		func() error { return a.integer("timeout", &h.Timeout, 0, 1<<31-1) }, func() error { return a.integer("max_retries", &h.MaxRetries, 1, 10) },
		func() error { return a.integer("max_retries_down", &h.MaxRetriesDown, 1, 10) },
		func() error {
			return a.oneOf("http_method", &h.Method, "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "PATCH", "CONNECT")
		},
		func() error { return a.str("url_path", &h.Path, 2048) }, func() error { return a.str("expected_codes", &h.Codes, 64) },
		func() error { return a.boolean("admin_state_up", &h.AdminUp) }, func() error { return a.tags(&h.Tags) },
		func() error { return a.str("domain_name", &domain, 255) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	if a.has("http_version") && !a.null("http_version") {
		if err := a.decodeInto("http_version", new(float64)); err != nil {
			return err
		}
		version = string(a["http_version"])
	}
	if version != "" && version != "1.0" && version != "1" {
		return unsupportedOption("http_version " + version)
	}
	if domain != "" {
		return unsupportedOption("domain_name")
	}
	httpType := h.Type == provider.MonitorHTTP || h.Type == provider.MonitorHTTPS
	for _, k := range []string{"http_method", "url_path", "expected_codes"} {
		if a.has(k) && !a.null(k) && !httpType {
			return errorf(http.StatusBadRequest, "Validation failure: %s is not a valid option for health monitors of type %s", k, h.Type)
		}
	}
	if !urlPath.MatchString(h.Path) {
		return invalid("url_path", a["url_path"], "Value should be a URL path beginning with /")
	}
	if !expectedCodes.MatchString(h.Codes) {
		return invalid("expected_codes", a["expected_codes"], "Value should match the pattern ^(\\d{3}(\\s*,\\s*\\d{3})*)$|^(\\d{3}-\\d{3})$")
	}
	if h.Timeout > h.Delay {
		return errorf(http.StatusBadRequest, "Validation failure: The health monitor timeout must be less than or equal to its delay.")
	}
	if h.Delay < 1 || h.Timeout < 1 {
		return errorf(http.StatusBadRequest, "Validation failure: The health monitor delay and timeout must be at least 1 second.")
	}
	return nil
}

func (s *Service) createMonitor(q *request) error {
	a, err := decode(q, "healthmonitor", append([]string{"type", "pool_id", "project_id", "tenant_id"}, monitorFields...)...)
	if err != nil {
		return err
	}
	h := &monitor{ID: uuid.NewString(), MaxRetriesDown: 3, Method: "GET", Path: "/", Codes: "200", AdminUp: true,
		Provisioning: PendingCreate, Operating: Offline, Tags: "[]"}
	if err := a.oneOf("type", &h.Type, "HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"); err != nil {
		return err
	}
	if err := a.str("pool_id", &h.Pool, 36); err != nil {
		return err
	}
	for _, k := range []string{"type", "pool_id", "delay", "timeout", "max_retries"} {
		if !a.has(k) || a.null(k) {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: 'None'. Mandatory field missing.", k)
		}
	}
	if !slices.Contains([]string{provider.MonitorHTTP, provider.MonitorHTTPS, provider.MonitorPing, provider.MonitorTCP}, h.Type) {
		return unsupportedOption(h.Type + " health monitors")
	}
	if err := monitorBody(a, h); err != nil {
		return err
	}
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		p, err := pools.get(q.ctx(), tx, q, h.Pool)
		if err != nil {
			return err
		}
		h.Project, h.LB = p.Project, p.LB
		if err := q.enforce("healthmonitor:post", h.Project); err != nil {
			return err
		}
		if err := s.checkQuota(q.ctx(), tx, h.Project, "health_monitor"); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(q.ctx(), `SELECT COUNT(*) FROM lb_healthmonitors WHERE pool_id = ?`, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return duplicateMonitor(p.ID)
		}
		if err := lockLB(q.ctx(), tx, h.LB); err != nil {
			return err
		}
		h.Created = time.Now().Unix()
		h.Updated = h.Created
		return store.Insert(q.ctx(), tx, "lb_healthmonitors", store.Values{}.Set("id", h.ID).Set("project_id", h.Project).
			Set("loadbalancer_id", h.LB).Set("pool_id", h.Pool).Set("name", h.Name).Set("type", h.Type).Set("delay", h.Delay).
			Set("timeout", h.Timeout).Set("max_retries", h.MaxRetries).Set("max_retries_down", h.MaxRetriesDown).
			Set("http_method", h.Method).Set("url_path", h.Path).Set("expected_codes", h.Codes).Set("admin_state_up", h.AdminUp).
			Set("provisioning_status", h.Provisioning).Set("operating_status", h.Operating).Set("tags", h.Tags).
			Set("created_at", h.Created).Set("updated_at", h.Updated))
	})
	if errors.Is(err, store.ErrConflict) {
		err = duplicateMonitor(h.Pool)
	}
	if err != nil {
		return err
	}
	s.record(q, h.LB, "create healthmonitor")
	defer s.schedule(q, h.LB, "create healthmonitor") // also when the answer cannot be written: the change is committed
	return s.writeMonitor(q, http.StatusCreated, h.ID)
}

func duplicateMonitor(pool string) error {
	return errorf(http.StatusConflict, "This pool (%s) already has a health monitor", pool)
}

func (s *Service) updateMonitor(q *request) error {
	a, err := decode(q, "healthmonitor", monitorFields...)
	if err != nil {
		return err
	}
	return s.changeChild(q, "healthmonitor:put", "update healthmonitor", http.StatusOK, s.writeMonitor, func(tx *store.Tx) (child, error) {
		h, err := monitors.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return child{}, err
		}
		return child{id: h.ID, lb: h.LB, project: h.Project, apply: func() error {
			if err := monitorBody(a, h); err != nil {
				return err
			}
			_, err := tx.Exec(q.ctx(), `UPDATE lb_healthmonitors SET name = ?, delay = ?, timeout = ?, max_retries = ?, max_retries_down = ?,
				http_method = ?, url_path = ?, expected_codes = ?, admin_state_up = ?, tags = ?, provisioning_status = ?, updated_at = ? WHERE id = ?`,
				h.Name, h.Delay, h.Timeout, h.MaxRetries, h.MaxRetriesDown, h.Method, h.Path, h.Codes, h.AdminUp, h.Tags, PendingUpdate,
				time.Now().Unix(), h.ID)
			return err
		}}, nil
	})
}

func (s *Service) deleteMonitor(q *request) error {
	return s.deleteChild(q, "healthmonitor:delete", "delete healthmonitor", func(tx *store.Tx) (child, error) {
		h, err := monitors.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return child{}, err
		}
		return child{lb: h.LB, project: h.Project, apply: func() error { return markDeleted(q.ctx(), tx, "lb_healthmonitors", "id = ?", h.ID) }}, nil
	})
}
