package loadbalancer

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/keymanager"
	"github.com/sovcloud/sov/internal/loadbalancer/provider"
	"github.com/sovcloud/sov/internal/store"
)

type listener struct {
	ID, Project, LB, Name, Description, Protocol string
	Port, ConnLimit                              int
	DefaultPool                                  string
	TimeoutClientData, TimeoutMemberConnect      int
	TimeoutMemberData, TimeoutTCPInspect         int
	InsertHeaders, AllowedCIDRs                  string
	TLSRef, SNIRefs                              string // SNIRefs: JSON list
	AdminUp                                      bool
	Provisioning, Operating, Tags                string
	Created, Updated                             int64
}

var listeners = &kind[*listener]{single: "listener", collection: "listeners", title: "Listener", table: "lb_listeners",
	columns: `id, project_id, loadbalancer_id, name, description, protocol, protocol_port, connection_limit, default_pool_id,
	timeout_client_data, timeout_member_connect, timeout_member_data, timeout_tcp_inspect, insert_headers, allowed_cidrs,
	default_tls_container_ref, sni_container_refs, admin_state_up, provisioning_status, operating_status, tags, created_at, updated_at`,
	spec: &httpapi.ListSpec{Ascending: true, DefaultSort: []httpapi.Sort{{Key: "created_at"}}, Columns: commonColumns(map[string]httpapi.Column{
		"description": {SQL: "description", Filter: true}, "protocol": {SQL: "protocol", Filter: true, Sort: true, Upper: true},
		"protocol_port": {SQL: "protocol_port", Filter: true, Sort: true}, "loadbalancer_id": {SQL: "loadbalancer_id", Filter: true},
		"default_pool_id": {SQL: "default_pool_id", Filter: true}, "connection_limit": {SQL: "connection_limit", Filter: true},
	})},
	scan: func(r store.Scanner) (*listener, error) {
		l := &listener{}
		return l, r.Scan(&l.ID, &l.Project, &l.LB, &l.Name, &l.Description, &l.Protocol, &l.Port, &l.ConnLimit, &l.DefaultPool,
			&l.TimeoutClientData, &l.TimeoutMemberConnect, &l.TimeoutMemberData, &l.TimeoutTCPInspect, &l.InsertHeaders, &l.AllowedCIDRs,
			&l.TLSRef, &l.SNIRefs, &l.AdminUp, &l.Provisioning, &l.Operating, &l.Tags, &l.Created, &l.Updated)
	}}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Service) listenerViews(ctx context.Context, list []*listener) ([]map[string]any, error) {
	var ids []string
	for _, l := range list {
		ids = append(ids, l.ID)
	}
	pols, err := idRefs(ctx, s.db, "lb_l7policies", "listener_id", ids)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, l := range list {
		var cidrs any
		if c := fromJSON[[]string](l.AllowedCIDRs); len(c) > 0 {
			cidrs = c
		}
		out = append(out, map[string]any{"id": l.ID, "name": l.Name, "description": l.Description, "project_id": l.Project, "tenant_id": l.Project,
			"protocol": l.Protocol, "protocol_port": l.Port, "connection_limit": l.ConnLimit, "default_pool_id": nullIfEmpty(l.DefaultPool),
			"default_tls_container_ref": nullIfEmpty(l.TLSRef), "sni_container_refs": orEmpty(fromJSON[[]string](l.SNIRefs)), "admin_state_up": l.AdminUp,
			"provisioning_status": l.Provisioning, "operating_status": l.Operating, "loadbalancers": []map[string]string{{"id": l.LB}},
			"l7policies": orEmpty(pols[l.ID]), "insert_headers": fromJSON[map[string]string](l.InsertHeaders),
			"timeout_client_data": l.TimeoutClientData, "timeout_member_connect": l.TimeoutMemberConnect,
			"timeout_member_data": l.TimeoutMemberData, "timeout_tcp_inspect": l.TimeoutTCPInspect, "allowed_cidrs": cidrs,
			"client_ca_tls_container_ref": nil, "client_authentication": "NONE", "client_crl_container_ref": nil,
			"tls_ciphers": nil, "tls_versions": nil, "alpn_protocols": nil, "hsts_max_age": nil, "hsts_include_subdomains": false,
			"hsts_preload": false, "tags": fromJSON[[]string](l.Tags), "created_at": octaviaTime(l.Created), "updated_at": octaviaTime(l.Updated)})
	}
	return out, nil
}

func (s *Service) writeListener(q *request, status int, id string) error {
	l, err := listeners.get(q.ctx(), s.db, q, id)
	if err != nil {
		return err
	}
	v, err := s.listenerViews(q.ctx(), []*listener{l})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, status, map[string]any{"listener": v[0]})
	return nil
}

func (s *Service) listListeners(q *request) error {
	if err := q.enforce("listener:get_all", q.creds.ProjectID); err != nil {
		return err
	}
	return listeners.list(q, "1 = 1", nil, func(l []*listener) ([]map[string]any, error) { return s.listenerViews(q.ctx(), l) })
}

func (s *Service) showListener(q *request) error {
	l, err := listeners.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("listener:get_one", l.Project); err != nil {
		return err
	}
	return s.writeListener(q, http.StatusOK, l.ID)
}

// unsupportedOption is Octavia's ProviderUnsupportedOptionError.
func unsupportedOption(what string) error {
	return errorf(http.StatusNotImplemented, "Provider '%s' does not support a requested option: %s", providerName, what)
}

// The most allowed CIDRs (HAProxy takes 64 words a line) and SNI
// certificates a listener has.
const (
	maxCIDRs = 50
	maxSNI   = 20
)

// listenerFields are the attributes of a listener a create or update may set.
var listenerFields = []string{"name", "description", "connection_limit", "default_pool_id", "admin_state_up", "insert_headers",
	"timeout_client_data", "timeout_member_connect", "timeout_member_data", "timeout_tcp_inspect", "allowed_cidrs", "tags",
	"default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref", "client_authentication",
	"client_crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age", "hsts_include_subdomains", "hsts_preload"}

// listenerBody reads the attributes a create or update may set.
func listenerBody(a attrs, l *listener, vip netip.Addr) error {
	var clientAuth string
	refs := fromJSON[[]string](l.SNIRefs)
	headers := fromJSON[map[string]string](l.InsertHeaders)
	cidrs := fromJSON[[]string](l.AllowedCIDRs)
	for _, f := range []func() error{
		func() error { return a.str("name", &l.Name, 255) }, func() error { return a.str("description", &l.Description, 255) },
		func() error { return a.integer("connection_limit", &l.ConnLimit, -1, 1<<31-1) },
		func() error { return a.str("default_pool_id", &l.DefaultPool, 36) }, func() error { return a.boolean("admin_state_up", &l.AdminUp) },
		func() error { return a.integer("timeout_client_data", &l.TimeoutClientData, 0, 86400000) },
		func() error { return a.integer("timeout_member_connect", &l.TimeoutMemberConnect, 0, 86400000) },
		func() error { return a.integer("timeout_member_data", &l.TimeoutMemberData, 0, 86400000) },
		func() error { return a.integer("timeout_tcp_inspect", &l.TimeoutTCPInspect, 0, 86400000) },
		func() error { return a.strs("allowed_cidrs", &cidrs) }, func() error { return a.tags(&l.Tags) },
		func() error { return a.str("default_tls_container_ref", &l.TLSRef, 255) }, func() error { return a.strs("sni_container_refs", &refs) },
		func() error { return a.str("client_authentication", &clientAuth, 16) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	if l.ConnLimit == 0 {
		return invalid("connection_limit", a["connection_limit"], "Value should be greater or equal to 1, or -1 for no limit")
	}
	if len(cidrs) > maxCIDRs {
		return invalid("allowed_cidrs", a["allowed_cidrs"], "Value should have at most "+itoa(maxCIDRs)+" CIDRs")
	}
	if len(refs) > maxSNI {
		return invalid("sni_container_refs", a["sni_container_refs"], "Value should have at most "+itoa(maxSNI)+" references")
	}
	if clientAuth != "" && clientAuth != "NONE" {
		return unsupportedOption("client authentication")
	}
	l.SNIRefs = jsonText(orEmpty(refs))
	switch {
	case l.Protocol == provider.TerminatedHTTPS && l.TLSRef == "":
		return errorf(http.StatusBadRequest, "Validation failure: An SNI or default certificate container reference must be provided for TERMINATED_HTTPS listeners.")
	case l.Protocol != provider.TerminatedHTTPS && (l.TLSRef != "" || len(refs) > 0):
		return errorf(http.StatusBadRequest, "Validation failure: Certificate container references are only allowed on TERMINATED_HTTPS listeners.")
	}
	for _, k := range []string{"client_ca_tls_container_ref", "client_crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age"} {
		if a.has(k) && !a.null(k) {
			return unsupportedOption(k)
		}
	}
	if a.has("insert_headers") {
		headers = map[string]string{}
		if !a.null("insert_headers") {
			var raw map[string]any
			if err := a.decodeInto("insert_headers", &raw); err != nil {
				return err
			}
			for k, v := range raw {
				if k != "X-Forwarded-For" && k != "X-Forwarded-Port" && k != "X-Forwarded-Proto" {
					return errorf(http.StatusBadRequest, "Validation failure: Unsupported headers inserted into the request: %s.", k)
				}
				sv, ok := v.(string)
				if b, isBool := v.(bool); isBool {
					sv, ok = map[bool]string{true: "true", false: "false"}[b], true
				}
				if !ok || (sv != "true" && sv != "false" && sv != "True" && sv != "False") {
					return errorf(http.StatusBadRequest, "Validation failure: header %s must be true or false.", k)
				}
				headers[k] = sv
			}
		}
		if len(headers) > 0 && l.Protocol != provider.HTTP && l.Protocol != provider.TerminatedHTTPS {
			return errorf(http.StatusBadRequest, "Validation failure: The following headers are not supported for %s listeners: %v.", l.Protocol, mapKeys(headers))
		}
	}
	l.InsertHeaders = jsonText(headers)
	var clean []string
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return invalid("allowed_cidrs", a["allowed_cidrs"], "Value should be a valid CIDR.")
		}
		if vip.IsValid() && p.Addr().Is4() != vip.Is4() {
			return errorf(http.StatusBadRequest, "Validation failure: CIDR %s IP version incompatible with VIP %s IP version.", c, vip)
		}
		if !slices.Contains(clean, p.Masked().String()) {
			clean = append(clean, p.Masked().String())
		}
	}
	l.AllowedCIDRs = jsonText(orEmpty(clean))
	return nil
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// poolFits checks that a listener may have pool id as its default: a
// pool of its load balancer of a fitting protocol no other listener has.
func poolFits(ctx context.Context, tx *store.Tx, q *request, l *listener, id string) error {
	p, err := pools.get(ctx, tx, q, id)
	if err != nil {
		return err
	}
	if p.LB != l.LB {
		return errorf(http.StatusBadRequest, "Validation failure: Pool %s is not on the listener's load balancer.", id)
	}
	if !compatible(l.Protocol, p.Protocol) {
		return errorf(http.StatusBadRequest, "Validation failure: The pool protocol '%s' is invalid while the listener protocol is '%s'.", p.Protocol, l.Protocol)
	}
	if p.Listener != "" && p.Listener != l.ID {
		return errorf(http.StatusConflict, "Pool %s is already in use by listener %s.", id, p.Listener)
	}
	return nil
}

// compatible is Octavia's listener-pool protocol matrix (for the
// protocols sov has).
func compatible(listenerProto, poolProto string) bool {
	switch listenerProto {
	case provider.HTTP:
		return poolProto == provider.HTTP
	case provider.HTTPS:
		return poolProto == provider.HTTPS || poolProto == provider.TCP
	case provider.TerminatedHTTPS:
		return poolProto == provider.HTTP
	case provider.TCP:
		return poolProto == provider.TCP || poolProto == provider.HTTP || poolProto == provider.HTTPS
	}
	return false
}

func (s *Service) createListener(q *request) error {
	a, err := decode(q, "listener", append([]string{"protocol", "protocol_port", "loadbalancer_id", "project_id", "tenant_id", "default_pool"}, listenerFields...)...)
	if err != nil {
		return err
	}
	l := &listener{ID: uuid.NewString(), ConnLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000,
		AdminUp: true, Provisioning: PendingCreate, Operating: Offline, Tags: "[]", InsertHeaders: "{}", AllowedCIDRs: "[]"}
	if err := a.oneOf("protocol", &l.Protocol, "HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS"); err != nil {
		return err
	}
	if err := a.integer("protocol_port", &l.Port, 1, 65535); err != nil {
		return err
	}
	if err := a.str("loadbalancer_id", &l.LB, 36); err != nil {
		return err
	}
	switch {
	case l.Protocol == "":
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute protocol. Value: 'None'. Mandatory field missing.")
	case l.Port == 0:
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute protocol_port. Value: 'None'. Mandatory field missing.")
	case l.LB == "":
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute loadbalancer_id. Value: 'None'. Mandatory field missing.")
	case !slices.Contains([]string{provider.HTTP, provider.HTTPS, provider.TCP, provider.TerminatedHTTPS}, l.Protocol):
		return unsupportedOption(l.Protocol + " listeners")
	case a.has("default_pool") && !a.null("default_pool"):
		return unsupportedOption("creating a pool with its listener")
	}
	// The body and the certificates are read before the transaction:
	// reading a certificate may take a while (a PKCS#12 bundle's key
	// derivation), and no write waits on it.
	lb, err := lbs.get(q.ctx(), s.db, q, l.LB)
	if err != nil {
		return err
	}
	l.Project = lb.Project
	if err := q.enforce("listener:post", l.Project); err != nil {
		return err
	}
	vip, _ := netip.ParseAddr(lb.Address)
	if err := listenerBody(a, l, vip); err != nil {
		return err
	}
	if err := s.checkCertificates(q.ctx(), l); err != nil {
		return err
	}
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		if _, err := lbs.get(q.ctx(), tx, q, l.LB); err != nil {
			return err
		}
		if l.DefaultPool != "" {
			if err := poolFits(q.ctx(), tx, q, l, l.DefaultPool); err != nil {
				return err
			}
		}
		if err := s.checkQuota(q.ctx(), tx, l.Project, "listener"); err != nil {
			return err
		}
		var clash int
		if err := tx.QueryRow(q.ctx(), `SELECT COUNT(*) FROM lb_listeners WHERE loadbalancer_id = ? AND protocol_port = ?`, l.LB, l.Port).Scan(&clash); err != nil {
			return err
		}
		if clash > 0 {
			return errorf(http.StatusConflict, "Another Listener on this Load Balancer is already using protocol %s and protocol_port %d", l.Protocol, l.Port)
		}
		if err := lockLB(q.ctx(), tx, l.LB); err != nil {
			return err
		}
		l.Created = time.Now().Unix()
		l.Updated = l.Created
		if err := insertListener(q.ctx(), tx, l); err != nil {
			return err
		}
		if l.DefaultPool != "" {
			_, err = tx.Exec(q.ctx(), `UPDATE lb_pools SET listener_id = ?, provisioning_status = ? WHERE id = ?`, l.ID, PendingUpdate, l.DefaultPool)
		}
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		err = errorf(http.StatusConflict, "Another Listener on this Load Balancer is already using protocol %s and protocol_port %d", l.Protocol, l.Port)
	}
	if err != nil {
		return err
	}
	s.record(q, l.LB, "create listener")
	defer s.schedule(q, l.LB, "create listener") // also when the answer cannot be written: the change is committed
	return s.writeListener(q, http.StatusCreated, l.ID)
}

func insertListener(ctx context.Context, tx *store.Tx, l *listener) error {
	return store.Insert(ctx, tx, "lb_listeners", store.Values{}.Set("id", l.ID).Set("project_id", l.Project).Set("loadbalancer_id", l.LB).
		Set("name", l.Name).Set("description", l.Description).Set("protocol", l.Protocol).Set("protocol_port", l.Port).
		Set("connection_limit", l.ConnLimit).Set("default_pool_id", l.DefaultPool).Set("timeout_client_data", l.TimeoutClientData).
		Set("timeout_member_connect", l.TimeoutMemberConnect).Set("timeout_member_data", l.TimeoutMemberData).
		Set("timeout_tcp_inspect", l.TimeoutTCPInspect).Set("insert_headers", l.InsertHeaders).Set("allowed_cidrs", l.AllowedCIDRs).
		Set("default_tls_container_ref", l.TLSRef).Set("sni_container_refs", l.SNIRefs).
		Set("admin_state_up", l.AdminUp).Set("provisioning_status", l.Provisioning).Set("operating_status", l.Operating).
		Set("tags", l.Tags).Set("created_at", l.Created).Set("updated_at", l.Updated))
}

func (s *Service) updateListener(q *request) error {
	a, err := decode(q, "listener", listenerFields...)
	if err != nil {
		return err
	}
	var lbID string
	id := q.r.PathValue("id")
	// The certificates the listener will have are read before the
	// transaction (see createListener).
	pre, err := listeners.get(q.ctx(), s.db, q, id)
	if err != nil {
		return err
	}
	if err := q.enforce("listener:put", pre.Project); err != nil {
		return err
	}
	lb, err := lbs.get(q.ctx(), s.db, q, pre.LB)
	if err != nil {
		return err
	}
	vip, _ := netip.ParseAddr(lb.Address)
	if err := listenerBody(a, pre, vip); err != nil {
		return err
	}
	if err := s.checkCertificates(q.ctx(), pre); err != nil {
		return err
	}
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		l, err := listeners.get(q.ctx(), tx, q, id)
		if err != nil {
			return err
		}
		lbID = l.LB
		oldPool := l.DefaultPool
		if err := listenerBody(a, l, vip); err != nil {
			return err
		}
		if l.TLSRef != pre.TLSRef || l.SNIRefs != pre.SNIRefs {
			return errorf(http.StatusConflict, "Listener %s changed meanwhile; try again.", id)
		}
		if l.DefaultPool != "" && l.DefaultPool != oldPool {
			if err := poolFits(q.ctx(), tx, q, l, l.DefaultPool); err != nil {
				return err
			}
		}
		if err := lockLB(q.ctx(), tx, l.LB); err != nil {
			return err
		}
		if l.DefaultPool != oldPool {
			if _, err := tx.Exec(q.ctx(), `UPDATE lb_pools SET listener_id = '' WHERE listener_id = ?`, l.ID); err != nil {
				return err
			}
			if l.DefaultPool != "" {
				if _, err := tx.Exec(q.ctx(), `UPDATE lb_pools SET listener_id = ? WHERE id = ?`, l.ID, l.DefaultPool); err != nil {
					return err
				}
			}
		}
		_, err = tx.Exec(q.ctx(), `UPDATE lb_listeners SET name = ?, description = ?, connection_limit = ?, default_pool_id = ?,
			timeout_client_data = ?, timeout_member_connect = ?, timeout_member_data = ?, timeout_tcp_inspect = ?, insert_headers = ?,
			allowed_cidrs = ?, default_tls_container_ref = ?, sni_container_refs = ?, admin_state_up = ?, tags = ?, provisioning_status = ?,
			updated_at = ? WHERE id = ?`,
			l.Name, l.Description, l.ConnLimit, l.DefaultPool, l.TimeoutClientData, l.TimeoutMemberConnect, l.TimeoutMemberData,
			l.TimeoutTCPInspect, l.InsertHeaders, l.AllowedCIDRs, l.TLSRef, l.SNIRefs, l.AdminUp, l.Tags, PendingUpdate, time.Now().Unix(), l.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.record(q, lbID, "update listener")
	defer s.schedule(q, lbID, "update listener") // also when the answer cannot be written: the change is committed
	return s.writeListener(q, http.StatusOK, id)
}

func (s *Service) deleteListener(q *request) error {
	return s.deleteChild(q, "listener:delete", "delete listener", func(tx *store.Tx) (child, error) {
		l, err := listeners.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return child{}, err
		}
		return child{lb: l.LB, project: l.Project, apply: func() error {
			if _, err := tx.Exec(q.ctx(), `UPDATE lb_pools SET listener_id = '' WHERE listener_id = ?`, l.ID); err != nil {
				return err
			}
			// Its L7 policies go with it, as in Octavia.
			if err := markDeleted(q.ctx(), tx, "lb_l7rules", "l7policy_id IN (SELECT id FROM lb_l7policies WHERE listener_id = ?)", l.ID); err != nil {
				return err
			}
			if err := markDeleted(q.ctx(), tx, "lb_l7policies", "listener_id = ?", l.ID); err != nil {
				return err
			}
			return markDeleted(q.ctx(), tx, "lb_listeners", "id = ?", l.ID)
		}}, nil
	})
}

// checkCertificates reads a TERMINATED_HTTPS listener's certificates
// from its project's key manager, as its data plane will: one that cannot
// be read is Octavia's 400.
func (s *Service) checkCertificates(ctx context.Context, l *listener) error {
	_, err := s.certificates(ctx, l)
	return err
}

// certificates are a listener's certificate bundles, the default first.
func (s *Service) certificates(ctx context.Context, l *listener) ([][]byte, error) {
	if l.Protocol != provider.TerminatedHTTPS {
		return nil, nil
	}
	if s.keys == nil {
		return nil, unsupportedOption("TLS termination without a key manager")
	}
	var out [][]byte
	for _, ref := range append([]string{l.TLSRef}, fromJSON[[]string](l.SNIRefs)...) {
		b, err := s.keys.TLSBundle(ctx, l.Project, ref)
		if errors.Is(err, keymanager.ErrNoCertificate) {
			return nil, errorf(http.StatusBadRequest, "Could not retrieve certificate: ['%s']", ref)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
