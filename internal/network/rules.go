package network

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// remoteParent in a default rule stands for the group the rule goes into.
const remoteParent = "PARENT"

type rule struct {
	ID, Project, Group   string
	Direction, Ethertype string
	Protocol             string // "" for any
	PortMin, PortMax     *int
	RemoteIP             string
	RemoteGroup          string
	Description          string
	Revision             int
	Created, Updated     int64
}

const ruleColumns = `id, project_id, security_group_id, direction, ethertype, protocol, port_range_min, port_range_max,
	remote_ip_prefix, remote_group_id, description, revision, created_at, updated_at`

func scanRule(row store.Scanner) (*rule, error) {
	r := &rule{}
	return r, row.Scan(&r.ID, &r.Project, &r.Group, &r.Direction, &r.Ethertype, &r.Protocol, &r.PortMin, &r.PortMax,
		&r.RemoteIP, &r.RemoteGroup, &r.Description, &r.Revision, &r.Created, &r.Updated)
}

func insertRule(ctx context.Context, tx *store.Tx, r *rule) error {
	now := time.Now().Unix()
	r.Revision, r.Created, r.Updated = 1, now, now
	return store.Insert(ctx, tx, "security_group_rules", store.Values{}.
		Set("id", r.ID).Set("project_id", r.Project).Set("security_group_id", r.Group).Set("direction", r.Direction).
		Set("ethertype", r.Ethertype).Set("protocol", r.Protocol).Set("port_range_min", r.PortMin).Set("port_range_max", r.PortMax).
		Set("remote_ip_prefix", r.RemoteIP).Set("remote_group_id", r.RemoteGroup).Set("description", r.Description).
		Set("revision", r.Revision).Set("created_at", r.Created).Set("updated_at", r.Updated))
}

// view is the rule as Neutron writes it (v, if given, receives the attributes).
func (r *rule) view(v map[string]any) map[string]any {
	if v == nil {
		v = map[string]any{}
	}
	var normalized any
	if p, err := netip.ParsePrefix(r.RemoteIP); err == nil {
		normalized = p.Masked().String()
	}
	v["direction"], v["ethertype"], v["protocol"] = r.Direction, r.Ethertype, nullable(r.Protocol)
	v["port_range_min"], v["port_range_max"] = r.PortMin, r.PortMax
	v["remote_ip_prefix"], v["remote_group_id"], v["remote_address_group_id"] = nullable(r.RemoteIP), nullable(r.RemoteGroup), nil
	v["normalized_cidr"] = normalized
	if r.Group != "" {
		v["security_group_id"] = r.Group
		standard(v, r.ID, r.Project, "", r.Description, nil, r.Revision, r.Created, r.Updated)
		delete(v, "name")
		delete(v, "tags")
	}
	return v
}

// Protocols Neutron knows by name, with their numbers.
var protocols = map[string]int{
	"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "igmp": 2,
	"ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89,
	"pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}

// protocolNumber is a rule's protocol as a number (-1 for any).
func protocolNumber(p string) int {
	if p == "" {
		return -1
	}
	if n, ok := protocols[p]; ok {
		return n
	}
	n, _ := strconv.Atoi(p)
	return n
}

// ruleBody reads and checks a rule's match: direction, ethertype,
// protocol, ports, remote prefix or group.
func ruleBody(a attrs, r *rule) error {
	for name, dst := range map[string]*string{"direction": &r.Direction, "ethertype": &r.Ethertype, "description": &r.Description} {
		if err := a.str(name, dst, 255); err != nil {
			return err
		}
	}
	if r.Direction != "ingress" && r.Direction != "egress" {
		return invalid("direction", "'%s' is not in ['ingress', 'egress']", r.Direction)
	}
	if r.Ethertype != "IPv4" && r.Ethertype != "IPv6" {
		return invalid("ethertype", "'%s' is not in ['IPv4', 'IPv6']", r.Ethertype)
	}
	if raw, ok := a["protocol"]; ok && !a.null("protocol") {
		p := strings.Trim(strings.ToLower(string(raw)), `"`)
		if _, known := protocols[p]; !known {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 255 {
				return fail(http.StatusBadRequest, "SecurityGroupRuleInvalidProtocol",
					"Security group rule protocol %s not supported. Only protocol values [None, ah, dccp, egp, esp, gre, icmp, icmpv6, igmp, ipip, ospf, pgm, rsvp, sctp, tcp, udp, udplite, vrrp] and integer representations [0 to 255] are supported.", p)
			}
		}
		if p == "any" {
			p = ""
		}
		r.Protocol = p
	}
	num := protocolNumber(r.Protocol)
	if num == 58 && r.Ethertype == "IPv4" {
		return badRequest("Security group rule for ethertype 'IPv4' not supported. Allowed ethertypes are: IPv6.")
	}
	for name, dst := range map[string]**int{"port_range_min": &r.PortMin, "port_range_max": &r.PortMax} {
		if a.has(name) && !a.null(name) {
			var n int
			if err := a.integer(name, &n); err != nil {
				return err
			}
			*dst = &n
		}
	}
	if (r.PortMin != nil || r.PortMax != nil) && num < 0 {
		return badRequest("Must also specify protocol if port range is given.")
	}
	switch num {
	case 6, 17, 33, 132, 136: // ports
		if r.PortMin == nil && r.PortMax != nil || r.PortMin != nil && r.PortMax == nil {
			if r.PortMin == nil {
				r.PortMin = r.PortMax
			} else {
				r.PortMax = r.PortMin
			}
		}
		if r.PortMin != nil {
			for _, v := range []int{*r.PortMin, *r.PortMax} {
				if v < 1 || v > 65535 {
					return fail(http.StatusBadRequest, "SecurityGroupInvalidPortValue", "Invalid value for port %d.", v)
				}
			}
			if *r.PortMin > *r.PortMax {
				return fail(http.StatusBadRequest, "SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max")
			}
		}
	case 1, 58: // ICMP type and code
		if r.PortMin == nil && r.PortMax != nil {
			return fail(http.StatusBadRequest, "SecurityGroupMissingIcmpType", "ICMP code (port-range-max) %d is provided but ICMP type (port-range-min) is missing.", *r.PortMax)
		}
		for name, v := range map[string]*int{"type": r.PortMin, "code": r.PortMax} {
			if v != nil && (*v < 0 || *v > 255) {
				return fail(http.StatusBadRequest, "SecurityGroupInvalidIcmpValue", "Invalid value for ICMP %s (port-range-min or port-range-max) %d. It must be 0 to 255.", name, *v)
			}
		}
	default:
		if r.PortMin != nil {
			return fail(http.StatusBadRequest, "SecurityGroupInvalidProtocolForPortRange",
				"Invalid protocol %s for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.", r.Protocol)
		}
	}
	if err := a.str("remote_ip_prefix", &r.RemoteIP, 64); err != nil && !a.null("remote_ip_prefix") {
		return err
	}
	if err := a.str("remote_group_id", &r.RemoteGroup, 64); err != nil && !a.null("remote_group_id") {
		return err
	}
	if r.RemoteIP != "" {
		p, err := netip.ParsePrefix(r.RemoteIP)
		if err != nil {
			a, aerr := netip.ParseAddr(r.RemoteIP)
			if aerr != nil {
				return invalid("remote_ip_prefix", "'%s' is not a valid IP subnet", r.RemoteIP)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4() != (r.Ethertype == "IPv4") {
			return badRequest("Conflicting value ethertype %s for CIDR %s", r.Ethertype, r.RemoteIP)
		}
		r.RemoteIP = p.String()
	}
	if r.RemoteIP != "" && r.RemoteGroup != "" {
		return fail(http.StatusBadRequest, "SecurityGroupRemoteGroupAndRemoteIpPrefix", "Only remote_ip_prefix or remote_group_id may be provided.")
	}
	if a.has("remote_address_group_id") && !a.null("remote_address_group_id") {
		return badRequest("Address groups are not supported.")
	}
	return nil
}

// same reports whether two rules match the same traffic.
func (r *rule) same(o *rule) bool {
	eq := func(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	return r.Direction == o.Direction && r.Ethertype == o.Ethertype && protocolNumber(r.Protocol) == protocolNumber(o.Protocol) &&
		eq(r.PortMin, o.PortMin) && eq(r.PortMax, o.PortMax) && r.RemoteIP == o.RemoteIP && r.RemoteGroup == o.RemoteGroup
}

var ruleList = &listing{collection: "security_group_rules", table: "security_group_rules", columns: ruleColumns, spec: &httpapi.ListSpec{
	Ascending: true,
	Columns: map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "security_group_id": {SQL: "security_group_id", Filter: true, Sort: true},
		"tenant_id": {SQL: "project_id", Filter: true, Sort: true}, "project_id": {SQL: "project_id", Filter: true, Sort: true},
		"direction": {SQL: "direction", Filter: true, Sort: true}, "ethertype": {SQL: "ethertype", Filter: true, Sort: true},
		"protocol": {SQL: "protocol", Filter: true, Sort: true}, "port_range_min": {SQL: "port_range_min", Filter: true, Sort: true},
		"port_range_max": {SQL: "port_range_max", Filter: true, Sort: true}, "remote_ip_prefix": {SQL: "remote_ip_prefix", Filter: true},
		"remote_group_id": {SQL: "remote_group_id", Filter: true}, "description": {SQL: "description", Filter: true},
		"revision_number": {SQL: "revision", Filter: true}, "created_at": {SQL: "created_at", Sort: true}, "updated_at": {SQL: "updated_at", Sort: true},
	}}}

func (s *Service) ruleScope(q *request) (string, []any) {
	if q.admin() {
		return "1 = 1", nil
	}
	return "project_id = ? OR security_group_id IN (SELECT id FROM security_groups WHERE project_id = ?)", []any{q.creds.ProjectID, q.creds.ProjectID}
}

func (s *Service) ruleViews(ctx context.Context, rules []*rule) ([]map[string]any, error) {
	out := make([]map[string]any, len(rules))
	for i, r := range rules {
		out[i] = r.view(nil)
	}
	return out, nil
}

func (s *Service) listRules(q *request) error {
	if err := s.ensureDefaultGroup(q.r.Context(), q.creds.ProjectID); err != nil {
		return err
	}
	scope, args := s.ruleScope(q)
	return list(s, q, ruleList, scope, args, scanRule, func(r *rule) string { return r.ID }, s.ruleViews)
}

func (s *Service) visibleRule(ctx context.Context, db store.Querier, q *request, id string) (*rule, error) {
	scope, args := s.ruleScope(q)
	return lookup(ctx, db, ruleList, scope, args, id, scanRule, notFound("SecurityGroupRule", id))
}

func (s *Service) showRule(q *request) error {
	r, err := s.visibleRule(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	q.write(http.StatusOK, "security_group_rule", r.view(nil))
	return nil
}

func (s *Service) createRule(q *request) error {
	a, err := readBody(q.r, "security_group_rule")
	if err != nil {
		return err
	}
	if err := a.allow("security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
		"remote_ip_prefix", "remote_group_id", "remote_address_group_id", "description", "tenant_id", "project_id"); err != nil {
		return err
	}
	r := &rule{ID: uuid.NewString(), Ethertype: "IPv4"}
	if err := a.str("security_group_id", &r.Group, 64); err != nil {
		return err
	}
	if r.Group == "" {
		return badRequest("Failed to parse request. Required attribute 'security_group_id' not specified")
	}
	if err := ruleBody(a, r); err != nil {
		return err
	}
	ctx := q.r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		g, err := s.visibleGroup(ctx, tx, q, r.Group)
		if err != nil {
			return err
		}
		if err := q.enforce("create_security_group_rule", g.Project); err != nil {
			return err
		}
		r.Project = g.Project
		if r.RemoteGroup != "" {
			rg, err := s.visibleGroup(ctx, tx, q, r.RemoteGroup)
			if err != nil {
				return err
			}
			if rg.Project != g.Project {
				return notFound("SecurityGroup", r.RemoteGroup)
			}
		}
		rows, err := tx.Query(ctx, `SELECT `+ruleColumns+` FROM security_group_rules WHERE security_group_id = ?`, g.ID)
		if err != nil {
			return err
		}
		existing, err := store.Collect(rows, scanRule)
		if err != nil {
			return err
		}
		for _, o := range existing {
			if o.same(r) {
				return conflict("SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", o.ID)
			}
		}
		if err := s.checkQuota(ctx, tx, g.Project, "security_group_rule", 1); err != nil {
			return err
		}
		return insertRule(ctx, tx, r)
	})
	if err != nil {
		return err
	}
	s.groupsChanged(ctx, nil, r.Group)
	q.write(http.StatusCreated, "security_group_rule", r.view(nil))
	return nil
}

func (s *Service) deleteRule(q *request) error {
	ctx := q.r.Context()
	var group string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := s.visibleRule(ctx, tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		group = r.Group
		if err := q.enforce("delete_security_group_rule", r.Project); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM security_group_rules WHERE id = ?`, r.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.groupsChanged(ctx, nil, group)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
