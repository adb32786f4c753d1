package loadbalancer

import (
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/loadbalancer/provider"
)

// statsView is Octavia's stats object.
func statsView(st provider.Stats) map[string]any {
	return map[string]any{"active_connections": st.ActiveConnections, "bytes_in": st.BytesIn, "bytes_out": st.BytesOut,
		"request_errors": st.RequestErrors, "total_connections": st.TotalConnections}
}

// liveStats are the counters of a load balancer's listeners (none when
// its data plane does not answer).
func (s *Service) liveStats(q *request, lb string) map[string]provider.Stats {
	st, err := s.driver.Status(q.ctx(), lb)
	if err != nil {
		return nil
	}
	return st.Listeners
}

func (s *Service) lbStats(q *request) error {
	l, err := lbs.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("loadbalancer:get_stats", l.Project); err != nil {
		return err
	}
	var sum provider.Stats
	for _, st := range s.liveStats(q, l.ID) {
		sum.ActiveConnections += st.ActiveConnections
		sum.TotalConnections += st.TotalConnections
		sum.BytesIn += st.BytesIn
		sum.BytesOut += st.BytesOut
		sum.RequestErrors += st.RequestErrors
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"stats": statsView(sum)})
	return nil
}

func (s *Service) listenerStats(q *request) error {
	l, err := listeners.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("listener:get_stats", l.Project); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"stats": statsView(s.liveStats(q, l.LB)[l.ID])})
	return nil
}

// lbStatus is the status tree of a load balancer.
func (s *Service) lbStatus(q *request) error {
	l, err := lbs.get(q.ctx(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("loadbalancer:get_status", l.Project); err != nil {
		return err
	}
	t, err := s.tree(q.ctx(), l.ID)
	if err != nil {
		return err
	}
	poolView := func(p *pool) map[string]any {
		v := map[string]any{"id": p.ID, "name": p.Name, "provisioning_status": p.Provisioning, "operating_status": p.Operating}
		ms := []map[string]any{}
		for _, m := range t.members[p.ID] {
			ms = append(ms, map[string]any{"id": m.ID, "name": m.Name, "address": m.Address, "protocol_port": m.Port,
				"provisioning_status": m.Provisioning, "operating_status": m.Operating})
		}
		v["members"] = ms
		if h := t.monitors[p.ID]; h != nil {
			v["health_monitor"] = map[string]any{"id": h.ID, "name": h.Name, "type": h.Type,
				"provisioning_status": h.Provisioning, "operating_status": h.Operating}
		}
		return v
	}
	ls := []map[string]any{}
	for _, x := range t.listeners {
		ps := []map[string]any{}
		for _, p := range t.pools {
			if p.ID == x.DefaultPool {
				ps = append(ps, poolView(p))
			}
		}
		ls = append(ls, map[string]any{"id": x.ID, "name": x.Name, "provisioning_status": x.Provisioning,
			"operating_status": x.Operating, "pools": ps})
	}
	var unbound []map[string]any
	for _, p := range t.pools {
		if p.Listener == "" {
			unbound = append(unbound, poolView(p))
		}
	}
	tree := map[string]any{"id": l.ID, "name": l.Name, "provisioning_status": l.Provisioning, "operating_status": l.Operating, "listeners": ls}
	if len(unbound) > 0 {
		tree["pools"] = unbound
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"statuses": map[string]any{"loadbalancer": tree}})
	return nil
}
