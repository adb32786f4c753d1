package loadbalancer

import (
	"context"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/loadbalancer/provider"
	"github.com/sovcloud/sov/internal/store"
)

// statsView is Octavia's stats object.
func statsView(st provider.Stats) map[string]any {
	return map[string]any{"active_connections": st.ActiveConnections, "bytes_in": st.BytesIn, "bytes_out": st.BytesOut,
		"request_errors": st.RequestErrors, "total_connections": st.TotalConnections}
}

// liveStats are the counters of a load balancer's listeners since they
// were made: those the data plane counts now (none when it does not
// answer) added to what it counted before its restarts and reloads.
func (s *Service) liveStats(q *request, lb string) map[string]provider.Stats {
	st, err := s.driver.Status(q.ctx(), lb)
	if err != nil {
		st = &provider.Status{}
	}
	out, err := s.countStats(q.ctx(), lb, st.Listeners)
	if err != nil {
		s.log.Error("load-balancer: stats", "loadbalancer", lb, "err", err)
	}
	return out
}

// countStats keeps a load balancer's counters across restarts of its
// data plane: counters lower than those last seen mean it started again,
// so what was seen is added to the base. It returns base plus now.
func (s *Service) countStats(ctx context.Context, lb string, now map[string]provider.Stats) (map[string]provider.Stats, error) {
	out := map[string]provider.Stats{}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT listener_id, base_bytes_in, base_bytes_out, base_total, base_errors,
			seen_bytes_in, seen_bytes_out, seen_total, seen_errors FROM lb_listener_stats WHERE loadbalancer_id = ?`, lb)
		if err != nil {
			return err
		}
		type counts struct {
			id         string
			base, seen provider.Stats
		}
		have, err := store.Collect(rows, func(r store.Scanner) (counts, error) {
			var c counts
			return c, r.Scan(&c.id, &c.base.BytesIn, &c.base.BytesOut, &c.base.TotalConnections, &c.base.RequestErrors,
				&c.seen.BytesIn, &c.seen.BytesOut, &c.seen.TotalConnections, &c.seen.RequestErrors)
		})
		if err != nil {
			return err
		}
		known := map[string]counts{}
		for _, c := range have {
			known[c.id] = c
		}
		for id, cur := range now {
			c := known[id]
			if cur.TotalConnections < c.seen.TotalConnections || cur.BytesIn < c.seen.BytesIn || cur.BytesOut < c.seen.BytesOut {
				c.base.BytesIn += c.seen.BytesIn
				c.base.BytesOut += c.seen.BytesOut
				c.base.TotalConnections += c.seen.TotalConnections
				c.base.RequestErrors += c.seen.RequestErrors
			}
			if _, err := tx.Exec(ctx, `INSERT INTO lb_listener_stats (listener_id, loadbalancer_id, base_bytes_in, base_bytes_out, base_total,
				base_errors, seen_bytes_in, seen_bytes_out, seen_total, seen_errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (listener_id) DO UPDATE SET base_bytes_in = excluded.base_bytes_in, base_bytes_out = excluded.base_bytes_out,
				base_total = excluded.base_total, base_errors = excluded.base_errors, seen_bytes_in = excluded.seen_bytes_in,
				seen_bytes_out = excluded.seen_bytes_out, seen_total = excluded.seen_total, seen_errors = excluded.seen_errors`,
				id, lb, c.base.BytesIn, c.base.BytesOut, c.base.TotalConnections, c.base.RequestErrors,
				cur.BytesIn, cur.BytesOut, cur.TotalConnections, cur.RequestErrors); err != nil {
				return err
			}
			out[id] = provider.Stats{ActiveConnections: cur.ActiveConnections, BytesIn: c.base.BytesIn + cur.BytesIn,
				BytesOut: c.base.BytesOut + cur.BytesOut, TotalConnections: c.base.TotalConnections + cur.TotalConnections,
				RequestErrors: c.base.RequestErrors + cur.RequestErrors}
			delete(known, id)
		}
		// Listeners the data plane does not count now: what they had.
		for id, c := range known {
			out[id] = provider.Stats{BytesIn: c.base.BytesIn + c.seen.BytesIn, BytesOut: c.base.BytesOut + c.seen.BytesOut,
				TotalConnections: c.base.TotalConnections + c.seen.TotalConnections, RequestErrors: c.base.RequestErrors + c.seen.RequestErrors}
		}
		return nil
	})
	return out, err
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
