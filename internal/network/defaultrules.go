package network

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// The rules new security groups get (Neutron's default-security-group-
// rules). A fresh cloud has the four SCS scs-0115 asks for: egress
// anywhere over IPv4 and IPv6 in every group, and ingress only from
// members of the same group, in default groups.

type defaultRule struct {
	rule
	UsedDefault, UsedNonDefault bool
}

const defaultRuleColumns = `id, direction, ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id,
	used_in_default_sg, used_in_non_default_sg, description`

func scanDefaultRule(row store.Scanner) (*defaultRule, error) {
	d := &defaultRule{}
	return d, row.Scan(&d.ID, &d.Direction, &d.Ethertype, &d.Protocol, &d.PortMin, &d.PortMax, &d.RemoteIP, &d.RemoteGroup,
		&d.UsedDefault, &d.UsedNonDefault, &d.Description)
}

func insertDefaultRule(ctx context.Context, tx *store.Tx, d *defaultRule) error {
	return store.Insert(ctx, tx, "default_security_group_rules", store.Values{}.
		Set("id", d.ID).Set("direction", d.Direction).Set("ethertype", d.Ethertype).Set("protocol", d.Protocol).
		Set("port_range_min", d.PortMin).Set("port_range_max", d.PortMax).Set("remote_ip_prefix", d.RemoteIP).
		Set("remote_group_id", d.RemoteGroup).Set("used_in_default_sg", d.UsedDefault).Set("used_in_non_default_sg", d.UsedNonDefault).
		Set("description", d.Description))
}

func (d *defaultRule) view() map[string]any {
	v := d.rule.view(nil)
	v["id"], v["description"] = d.ID, d.Description
	v["used_in_default_sg"], v["used_in_non_default_sg"] = d.UsedDefault, d.UsedNonDefault
	delete(v, "normalized_cidr")
	return v
}

// bootstrapDefaultRules stores the SCS default rules, once: an admin may
// change them afterwards and they stay as changed.
func (s *Service) bootstrapDefaultRules(ctx context.Context) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var done int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM backfills WHERE name = 'default_security_group_rules'`).Scan(&done); err != nil || done > 0 {
			return err
		}
		for _, et := range []string{"IPv4", "IPv6"} {
			egress := &defaultRule{rule: rule{ID: uuid.NewString(), Direction: "egress", Ethertype: et}, UsedDefault: true, UsedNonDefault: true}
			ingress := &defaultRule{rule: rule{ID: uuid.NewString(), Direction: "ingress", Ethertype: et, RemoteGroup: remoteParent}, UsedDefault: true}
			for _, d := range []*defaultRule{egress, ingress} {
				if err := insertDefaultRule(ctx, tx, d); err != nil {
					return err
				}
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO backfills (name) VALUES ('default_security_group_rules')`)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return nil // another sov on the same store, starting at the same time, stored them
	}
	return err
}

var defaultRuleList = &listing{collection: "default_security_group_rules", table: "default_security_group_rules", columns: defaultRuleColumns,
	spec: &httpapi.ListSpec{Ascending: true, Columns: map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "direction": {SQL: "direction", Filter: true, Sort: true},
		"ethertype": {SQL: "ethertype", Filter: true, Sort: true}, "protocol": {SQL: "protocol", Filter: true},
		"port_range_min": {SQL: "port_range_min", Filter: true}, "port_range_max": {SQL: "port_range_max", Filter: true},
		"remote_ip_prefix": {SQL: "remote_ip_prefix", Filter: true}, "remote_group_id": {SQL: "remote_group_id", Filter: true},
		"used_in_default_sg":     {SQL: "used_in_default_sg", Filter: true, Bool: true},
		"used_in_non_default_sg": {SQL: "used_in_non_default_sg", Filter: true, Bool: true},
		"description":            {SQL: "description", Filter: true},
	}}}

func (s *Service) listDefaultRules(q *request) error {
	return list(s, q, defaultRuleList, "1 = 1", nil, scanDefaultRule, func(d *defaultRule) string { return d.ID },
		func(_ context.Context, ds []*defaultRule) ([]map[string]any, error) {
			out := make([]map[string]any, len(ds))
			for i, d := range ds {
				out[i] = d.view()
			}
			return out, nil
		})
}

func (s *Service) defaultRule(ctx context.Context, db store.Querier, id string) (*defaultRule, error) {
	d, err := scanDefaultRule(db.QueryRow(ctx, `SELECT `+defaultRuleColumns+` FROM default_security_group_rules WHERE id = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, notFound("DefaultSecurityGroupRule", id)
	}
	return d, store.Row(err)
}

func (s *Service) showDefaultRule(q *request) error {
	d, err := s.defaultRule(q.r.Context(), s.db, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	q.write(http.StatusOK, "default_security_group_rule", d.view())
	return nil
}

func (s *Service) createDefaultRule(q *request) error {
	if err := q.enforce("create_default_security_group_rule", ""); err != nil {
		return err
	}
	a, err := readBody(q.r, "default_security_group_rule")
	if err != nil {
		return err
	}
	if err := a.allow("direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id",
		"remote_address_group_id", "used_in_default_sg", "used_in_non_default_sg", "description"); err != nil {
		return err
	}
	d := &defaultRule{rule: rule{ID: uuid.NewString(), Ethertype: "IPv4"}, UsedDefault: true}
	if err := ruleBody(a, &d.rule); err != nil {
		return err
	}
	if d.RemoteGroup != "" && d.RemoteGroup != remoteParent {
		return badRequest("remote_group_id of a default rule can only be %s, the group the rule goes into.", remoteParent)
	}
	for name, dst := range map[string]*bool{"used_in_default_sg": &d.UsedDefault, "used_in_non_default_sg": &d.UsedNonDefault} {
		if err := a.boolean(name, dst); err != nil {
			return err
		}
	}
	err = s.db.InTx(q.r.Context(), func(tx *store.Tx) error {
		rows, err := tx.Query(q.r.Context(), `SELECT `+defaultRuleColumns+` FROM default_security_group_rules`)
		if err != nil {
			return err
		}
		existing, err := store.Collect(rows, scanDefaultRule)
		if err != nil {
			return err
		}
		for _, o := range existing {
			if o.same(&d.rule) {
				return conflict("DefaultSecurityGroupRuleExists", "Default security group rule already exists. Rule id is %s.", o.ID)
			}
		}
		return insertDefaultRule(q.r.Context(), tx, d)
	})
	if err != nil {
		return err
	}
	q.write(http.StatusCreated, "default_security_group_rule", d.view())
	return nil
}

func (s *Service) deleteDefaultRule(q *request) error {
	if err := q.enforce("delete_default_security_group_rule", ""); err != nil {
		return err
	}
	if _, err := s.defaultRule(q.r.Context(), s.db, q.r.PathValue("id")); err != nil {
		return err
	}
	if _, err := s.db.Exec(q.r.Context(), `DELETE FROM default_security_group_rules WHERE id = ?`, q.r.PathValue("id")); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
