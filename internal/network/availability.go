package network

import (
	"context"
	"math/big"
	"net/http"
	"net/netip"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Network IP availability (admin): per network and subnet, how many
// addresses the pools hold and how many ports use.

func poolSize(pools []pool) *big.Int {
	total := new(big.Int)
	for _, p := range pools {
		s, e := addrInt(p.Start), addrInt(p.End)
		total.Add(total, new(big.Int).Add(new(big.Int).Sub(e, s), big.NewInt(1)))
	}
	return total
}

func addrInt(a string) *big.Int {
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return new(big.Int)
	}
	b := ip.AsSlice()
	return new(big.Int).SetBytes(b)
}

func (s *Service) availability(ctx context.Context, n *network) (map[string]any, error) {
	rows, err := s.db.Query(ctx, `SELECT `+subnetColumns+` FROM subnets WHERE network_id = ? ORDER BY created_at, id`, n.ID)
	if err != nil {
		return nil, err
	}
	subnets, err := store.Collect(rows, scanSubnet)
	if err != nil {
		return nil, err
	}
	total, used := new(big.Int), 0
	var per []map[string]any
	for _, sn := range subnets {
		var u int
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM port_ips WHERE subnet_id = ?`, sn.ID).Scan(&u); err != nil {
			return nil, err
		}
		size := poolSize(sn.Pools)
		total.Add(total, size)
		used += u
		per = append(per, map[string]any{"subnet_id": sn.ID, "subnet_name": sn.Name, "cidr": sn.CIDR, "ip_version": sn.IPVersion,
			"total_ips": jsonInt(size), "used_ips": u})
	}
	if per == nil {
		per = []map[string]any{}
	}
	return map[string]any{"network_id": n.ID, "network_name": n.Name, "tenant_id": n.Project, "project_id": n.Project,
		"total_ips": jsonInt(total), "used_ips": used, "subnet_ip_availability": per}, nil
}

// jsonInt writes a big count as a JSON number (an IPv6 /64 has 2^64).
func jsonInt(n *big.Int) any { return rawNumber(n.String()) }

type rawNumber string

func (r rawNumber) MarshalJSON() ([]byte, error) { return []byte(r), nil }

var availabilityList = &listing{collection: "network_ip_availabilities", table: "networks", columns: networkColumns,
	spec: &httpapi.ListSpec{Ascending: true, Columns: map[string]httpapi.Column{
		"network_id": {SQL: "id", Filter: true, Sort: true}, "network_name": {SQL: "name", Filter: true, Sort: true},
		"tenant_id": {SQL: "project_id", Filter: true}, "project_id": {SQL: "project_id", Filter: true},
	}}, extra: []string{"ip_version"}}

func (s *Service) listIPAvailability(q *request) error {
	if err := q.enforce("get_network_ip_availability", ""); err != nil {
		return err
	}
	scope, args := "1 = 1", []any{}
	for _, v := range q.r.URL.Query()["ip_version"] {
		scope, args = scope+" AND id IN (SELECT network_id FROM subnets WHERE ip_version = ?)", append(args, v)
	}
	return list(s, q, availabilityList, scope, args, scanNetwork, func(n *network) string { return n.ID },
		func(ctx context.Context, nets []*network) ([]map[string]any, error) {
			out := make([]map[string]any, len(nets))
			for i, n := range nets {
				v, err := s.availability(ctx, n)
				if err != nil {
					return nil, err
				}
				out[i] = v
			}
			return out, nil
		})
}

func (s *Service) showIPAvailability(q *request) error {
	if err := q.enforce("get_network_ip_availability", ""); err != nil {
		return err
	}
	n, err := s.visibleNetwork(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.availability(q.r.Context(), n)
	if err != nil {
		return err
	}
	q.write(http.StatusOK, "network_ip_availability", v)
	return nil
}
