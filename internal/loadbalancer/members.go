package loadbalancer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

type member struct {
	ID, Project, LB, Pool, Name, Address string
	Port, Weight                         int
	Backup                               bool
	Subnet, MonitorAddress               string
	MonitorPort                          int
	AdminUp                              bool
	Provisioning, Operating, Tags        string
	Created, Updated                     int64
}

var members = &kind[*member]{single: "member", collection: "members", title: "Member", table: "lb_members",
	columns: `id, project_id, loadbalancer_id, pool_id, name, address, protocol_port, weight, backup, subnet_id, monitor_address,
	monitor_port, admin_state_up, provisioning_status, operating_status, tags, created_at, updated_at`,
	spec: &httpapi.ListSpec{Ascending: true, DefaultSort: []httpapi.Sort{{Key: "created_at"}}, Columns: commonColumns(map[string]httpapi.Column{
		"address": {SQL: "address", Filter: true, Sort: true}, "protocol_port": {SQL: "protocol_port", Filter: true, Sort: true},
		"weight": {SQL: "weight", Filter: true, Sort: true}, "subnet_id": {SQL: "subnet_id", Filter: true},
		"backup": {SQL: "backup", Filter: true, Bool: true},
	})},
	scan: func(r store.Scanner) (*member, error) {
		m := &member{}
		return m, r.Scan(&m.ID, &m.Project, &m.LB, &m.Pool, &m.Name, &m.Address, &m.Port, &m.Weight, &m.Backup, &m.Subnet,
			&m.MonitorAddress, &m.MonitorPort, &m.AdminUp, &m.Provisioning, &m.Operating, &m.Tags, &m.Created, &m.Updated)
	}}

func memberView(m *member) map[string]any {
	var mport any
	if m.MonitorPort > 0 {
		mport = m.MonitorPort
	}
	return map[string]any{"id": m.ID, "name": m.Name, "project_id": m.Project, "tenant_id": m.Project, "address": m.Address,
		"protocol_port": m.Port, "weight": m.Weight, "backup": m.Backup, "subnet_id": nullIfEmpty(m.Subnet),
		"monitor_address": nullIfEmpty(m.MonitorAddress), "monitor_port": mport, "admin_state_up": m.AdminUp,
		"provisioning_status": m.Provisioning, "operating_status": m.Operating, "vnic_type": "normal",
		"tags": fromJSON[[]string](m.Tags), "created_at": octaviaTime(m.Created), "updated_at": octaviaTime(m.Updated)}
}

// memberOf reads a member of the pool in the path.
func memberOf(ctx context.Context, db store.Querier, q *request) (*pool, *member, error) {
	p, err := pools.get(ctx, db, q, q.r.PathValue("id"))
	if err != nil {
		return nil, nil, err
	}
	m, err := members.get(ctx, db, q, q.r.PathValue("member"))
	if err == nil && m.Pool != p.ID {
		err = notFound("Member", m.ID)
	}
	return p, m, err
}

func (s *Service) writeMember(q *request, status int, id string) error {
	m, err := members.get(q.ctx(), s.db, q, id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, status, map[string]any{"member": memberView(m)})
	return nil
}

func (s *Service) listMembers(q *request) error {
	p, err := pools.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("member:get_all", p.Project); err != nil {
		return err
	}
	return members.list(q, "pool_id = ?", []any{p.ID}, func(l []*member) ([]map[string]any, error) {
		var out []map[string]any
		for _, m := range l {
			out = append(out, memberView(m))
		}
		return out, nil
	})
}

func (s *Service) showMember(q *request) error {
	_, m, err := memberOf(q.ctx(), s.db, q)
	if err != nil {
		return err
	}
	if err := q.enforce("member:get_one", m.Project); err != nil {
		return err
	}
	return s.writeMember(q, http.StatusOK, m.ID)
}

var memberFields = []string{"name", "weight", "backup", "monitor_address", "monitor_port", "admin_state_up", "tags"}

func memberBody(a attrs, m *member) error {
	for _, f := range []func() error{
		func() error { return a.str("name", &m.Name, 255) }, func() error { return a.integer("weight", &m.Weight, 0, 256) },
		func() error { return a.boolean("backup", &m.Backup) }, func() error { return a.str("monitor_address", &m.MonitorAddress, 64) },
		func() error { return a.integer("monitor_port", &m.MonitorPort, 1, 65535) }, func() error { return a.boolean("admin_state_up", &m.AdminUp) },
		func() error { return a.tags(&m.Tags) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	if a.null("monitor_port") {
		m.MonitorPort = 0
	}
	if m.MonitorAddress != "" {
		if _, err := memberAddress(m.MonitorAddress); err != nil {
			return invalid("monitor_address", a["monitor_address"], err.Error())
		}
	}
	return nil
}

// memberAddress reads an address a member may have: a unicast one, not
// loopback, link-local (the metadata service) or unspecified.
func memberAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return a, errors.New("Value should be IPv4 or IPv6 format")
	}
	if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() || a.IsLinkLocalMulticast() {
		return a, errors.New("Value is a reserved address")
	}
	return a, nil
}

func (s *Service) createMember(q *request) error {
	a, err := decode(q, "member", append([]string{"address", "protocol_port", "subnet_id", "project_id", "tenant_id", "request_sriov", "vnic_type"}, memberFields...)...)
	if err != nil {
		return err
	}
	m := &member{ID: uuid.NewString(), Weight: 1, AdminUp: true, Provisioning: PendingCreate, Operating: NoMonitor, Tags: "[]"}
	var sriov bool
	for _, f := range []func() error{
		func() error { return a.str("address", &m.Address, 64) }, func() error { return a.integer("protocol_port", &m.Port, 1, 65535) },
		func() error { return a.str("subnet_id", &m.Subnet, 36) }, func() error { return a.boolean("request_sriov", &sriov) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	switch {
	case m.Address == "":
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute address. Value: 'None'. Mandatory field missing.")
	case m.Port == 0:
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute protocol_port. Value: 'None'. Mandatory field missing.")
	case sriov:
		return unsupportedOption("SR-IOV members")
	}
	addr, err := memberAddress(m.Address)
	if err != nil {
		return invalid("address", a["address"], err.Error())
	}
	m.Address = addr.String()
	if err := memberBody(a, m); err != nil {
		return err
	}
	p, err := pools.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("member:post", p.Project); err != nil {
		return err
	}
	if m.Subnet != "" {
		// A subnet the project may not use is not one to reach members on.
		if err := s.net.SubnetUsable(q.ctx(), q.creds, m.Subnet); err != nil {
			if p := httpapi.Classify(err); p.Status == http.StatusNotFound || p.Status == http.StatusForbidden {
				return errorf(http.StatusBadRequest, "Validation failure: Subnet %s not found.", m.Subnet)
			}
			return err
		}
	}
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		p, err := pools.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		m.Project, m.LB, m.Pool = p.Project, p.LB, p.ID
		if err := s.checkQuota(q.ctx(), tx, m.Project, "member"); err != nil {
			return err
		}
		var clash int
		if err := tx.QueryRow(q.ctx(), `SELECT COUNT(*) FROM lb_members WHERE pool_id = ? AND address = ? AND protocol_port = ?`,
			p.ID, m.Address, m.Port).Scan(&clash); err != nil {
			return err
		}
		if clash > 0 {
			return duplicateMember(m)
		}
		if err := lockLB(q.ctx(), tx, m.LB); err != nil {
			return err
		}
		m.Created = time.Now().Unix()
		m.Updated = m.Created
		return insertMember(q.ctx(), tx, m)
	})
	if errors.Is(err, store.ErrConflict) {
		err = duplicateMember(m)
	}
	if err != nil {
		return err
	}
	s.record(q, m.LB, "create member")
	defer s.schedule(q, m.LB, "create member") // also when the answer cannot be written: the change is committed
	return s.writeMember(q, http.StatusCreated, m.ID)
}

func duplicateMember(m *member) error {
	return errorf(http.StatusConflict, "Another member on this pool is already using ip address %s on protocol_port %d", m.Address, m.Port)
}

func (s *Service) updateMember(q *request) error {
	a, err := decode(q, "member", memberFields...)
	if err != nil {
		return err
	}
	return s.changeChild(q, "member:put", "update member", http.StatusOK, s.writeMember, func(tx *store.Tx) (child, error) {
		_, m, err := memberOf(q.ctx(), tx, q)
		if err != nil {
			return child{}, err
		}
		return child{id: m.ID, lb: m.LB, project: m.Project, apply: func() error {
			if err := memberBody(a, m); err != nil {
				return err
			}
			_, err := tx.Exec(q.ctx(), `UPDATE lb_members SET name = ?, weight = ?, backup = ?, monitor_address = ?, monitor_port = ?,
				admin_state_up = ?, tags = ?, provisioning_status = ?, updated_at = ? WHERE id = ?`, m.Name, m.Weight, m.Backup,
				m.MonitorAddress, m.MonitorPort, m.AdminUp, m.Tags, PendingUpdate, time.Now().Unix(), m.ID)
			return err
		}}, nil
	})
}

func (s *Service) deleteMember(q *request) error {
	return s.deleteChild(q, "member:delete", "delete member", func(tx *store.Tx) (child, error) {
		_, m, err := memberOf(q.ctx(), tx, q)
		if err != nil {
			return child{}, err
		}
		return child{lb: m.LB, project: m.Project, apply: func() error { return markDeleted(q.ctx(), tx, "lb_members", "id = ?", m.ID) }}, nil
	})
}

// maxBatch is the most members one batch update lists.
const maxBatch = 1000

// batchMembers is Octavia's batch update of a pool's members: the
// members listed (by address and port) are made or updated, the others
// deleted (unless additive_only=true), in one change.
func (s *Service) batchMembers(q *request) error {
	var outer map[string]json.RawMessage
	err := httpapi.DecodeJSON(q.r, &outer)
	if httpapi.Classify(err).Status == http.StatusBadRequest {
		return errorf(http.StatusBadRequest, "Invalid JSON in the request body.")
	}
	if err != nil {
		return err
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(outer["members"], &raw); err != nil || len(outer) != 1 || outer["members"] == nil {
		return errorf(http.StatusBadRequest, "Missing argument: \"members\"")
	}
	if len(raw) > maxBatch {
		return errorf(http.StatusBadRequest, "Validation failure: at most %d members in one batch.", maxBatch)
	}
	additive, _ := httpapi.ParseBool(q.r.URL.Query().Get("additive_only"))
	p, err := pools.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("member:put", p.Project); err != nil {
		return err
	}
	allowed := append([]string{"address", "protocol_port", "subnet_id", "project_id", "tenant_id"}, memberFields...)
	var want []*member
	seen, usable := map[string]bool{}, map[string]bool{}
	for _, r := range raw {
		var a attrs
		if err := json.Unmarshal(r, &a); err != nil || a == nil {
			return invalid("members", r, "Value should be a list of members")
		}
		for k := range a {
			if !slices.Contains(allowed, k) {
				return invalid("members", r, "Unknown attribute for argument members: "+k)
			}
		}
		m := &member{Weight: 1, AdminUp: true, Tags: "[]"}
		if err := a.str("address", &m.Address, 64); err != nil {
			return err
		}
		if err := a.integer("protocol_port", &m.Port, 1, 65535); err != nil {
			return err
		}
		if err := a.str("subnet_id", &m.Subnet, 36); err != nil {
			return err
		}
		addr, err := memberAddress(m.Address)
		if err != nil || m.Port == 0 {
			return invalid("members", r, "Each member needs a valid address and protocol_port")
		}
		m.Address = addr.String()
		if err := memberBody(a, m); err != nil {
			return err
		}
		key := m.Address + "/" + strconv.Itoa(m.Port)
		if seen[key] {
			return duplicateMember(m)
		}
		seen[key] = true
		if m.Subnet != "" && !usable[m.Subnet] {
			if err := s.net.SubnetUsable(q.ctx(), q.creds, m.Subnet); err != nil {
				if c := httpapi.Classify(err); c.Status == http.StatusNotFound || c.Status == http.StatusForbidden {
					return errorf(http.StatusBadRequest, "Validation failure: Subnet %s not found.", m.Subnet)
				}
				return err
			}
			usable[m.Subnet] = true
		}
		want = append(want, m)
	}
	err = s.db.InTx(q.ctx(), func(tx *store.Tx) error {
		p, err := pools.get(q.ctx(), tx, q, q.r.PathValue("id"))
		if err != nil {
			return err
		}
		have, err := childrenOf(q.ctx(), tx, members, p.LB)
		if err != nil {
			return err
		}
		byKey := map[string]*member{}
		for _, m := range have {
			if m.Pool == p.ID && m.Provisioning != PendingDelete {
				byKey[m.Address+"/"+strconv.Itoa(m.Port)] = m
			}
		}
		if err := lockLB(q.ctx(), tx, p.LB); err != nil {
			return err
		}
		now := time.Now().Unix()
		for _, m := range want {
			key := m.Address + "/" + strconv.Itoa(m.Port)
			if old, ok := byKey[key]; ok {
				delete(byKey, key)
				if _, err := tx.Exec(q.ctx(), `UPDATE lb_members SET name = ?, weight = ?, backup = ?, monitor_address = ?, monitor_port = ?,
					admin_state_up = ?, tags = ?, provisioning_status = ?, updated_at = ? WHERE id = ?`, m.Name, m.Weight, m.Backup,
					m.MonitorAddress, m.MonitorPort, m.AdminUp, m.Tags, PendingUpdate, now, old.ID); err != nil {
					return err
				}
				continue
			}
			if err := s.checkQuota(q.ctx(), tx, p.Project, "member"); err != nil {
				return err
			}
			m.ID, m.Project, m.LB, m.Pool, m.Provisioning, m.Operating, m.Created, m.Updated = uuid.NewString(), p.Project, p.LB, p.ID, PendingCreate, NoMonitor, now, now
			if err := insertMember(q.ctx(), tx, m); err != nil {
				return err
			}
		}
		if additive {
			return nil
		}
		for _, m := range byKey {
			if _, err := tx.Exec(q.ctx(), `UPDATE lb_members SET provisioning_status = ? WHERE id = ?`, PendingDelete, m.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.record(q, p.LB, "update members")
	q.w.WriteHeader(http.StatusAccepted)
	s.schedule(q, p.LB, "update members")
	return nil
}

func insertMember(ctx context.Context, tx *store.Tx, m *member) error {
	return store.Insert(ctx, tx, "lb_members", store.Values{}.Set("id", m.ID).Set("project_id", m.Project).
		Set("loadbalancer_id", m.LB).Set("pool_id", m.Pool).Set("name", m.Name).Set("address", m.Address).
		Set("protocol_port", m.Port).Set("weight", m.Weight).Set("backup", m.Backup).Set("subnet_id", m.Subnet).
		Set("monitor_address", m.MonitorAddress).Set("monitor_port", m.MonitorPort).Set("admin_state_up", m.AdminUp).
		Set("provisioning_status", m.Provisioning).Set("operating_status", m.Operating).Set("tags", m.Tags).
		Set("created_at", m.Created).Set("updated_at", m.Updated))
}
