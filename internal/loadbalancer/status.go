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
// answer) added to what it counted before its restarts and reloads. It
// only reads: the health task and syncs keep the counters.
func (s *Service) liveStats(q *request, lb string) map[string]provider.Stats {
	st, err := s.driver.Status(q.ctx(), lb)
	if err != nil {
		st = &provider.Status{}
	}
	kept, err := keptStats(q.ctx(), s.db, lb)
	if err != nil {
		s.log.Error("load-balancer: stats", "loadbalancer", lb, "err", err)
	}
	out := map[string]provider.Stats{}
	for id, c := range kept {
		c = c.with(st.Listeners[id])
		out[id] = c.total(st.Listeners[id])
		delete(st.Listeners, id)
	}
	for id, now := range st.Listeners {
		out[id] = now
	}
	return out
}

// kept is a listener's counters as stored: counted before the data
// plane's last restart (base) and last read from it (seen).
type kept struct{ base, seen provider.Stats }

// with is k after reading now: counters below those seen mean the data
// plane started again, and what was seen joins the base.
func (k kept) with(now provider.Stats) kept {
	if now.TotalConnections < k.seen.TotalConnections || now.BytesIn < k.seen.BytesIn || now.BytesOut < k.seen.BytesOut {
		k.base = provider.Stats{BytesIn: k.base.BytesIn + k.seen.BytesIn, BytesOut: k.base.BytesOut + k.seen.BytesOut,
			TotalConnections: k.base.TotalConnections + k.seen.TotalConnections, RequestErrors: k.base.RequestErrors + k.seen.RequestErrors}
	}
	k.seen = now
	return k
}

// total is the counters since the listener was made, now being the data
// plane's current ones.
func (k kept) total(now provider.Stats) provider.Stats {
	return provider.Stats{ActiveConnections: now.ActiveConnections, BytesIn: k.base.BytesIn + now.BytesIn, BytesOut: k.base.BytesOut + now.BytesOut,
		TotalConnections: k.base.TotalConnections + now.TotalConnections, RequestErrors: k.base.RequestErrors + now.RequestErrors}
}

func keptStats(ctx context.Context, db store.Querier, lb string) (map[string]kept, error) {
	rows, err := db.Query(ctx, `SELECT listener_id, base_bytes_in, base_bytes_out, base_total, base_errors,
		seen_bytes_in, seen_bytes_out, seen_total, seen_errors FROM lb_listener_stats WHERE loadbalancer_id = ?`, lb)
	if err != nil {
		return nil, err
	}
	type row struct {
		id string
		k  kept
	}
	list, err := store.Collect(rows, func(r store.Scanner) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.k.base.BytesIn, &x.k.base.BytesOut, &x.k.base.TotalConnections, &x.k.base.RequestErrors,
			&x.k.seen.BytesIn, &x.k.seen.BytesOut, &x.k.seen.TotalConnections, &x.k.seen.RequestErrors)
	})
	out := map[string]kept{}
	for _, x := range list {
		out[x.id] = x.k
	}
	return out, err
}

// countStats keeps a load balancer's counters across restarts of its
// data plane, from what it counts now (one update at a time, so that no
// older reading is taken for a restart).
func (s *Service) countStats(ctx context.Context, lb string, now map[string]provider.Stats) error {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		have, err := keptStats(ctx, tx, lb)
		if err != nil {
			return err
		}
		for id, cur := range now {
			k := have[id].with(cur)
			if _, err := tx.Exec(ctx, `INSERT INTO lb_listener_stats (listener_id, loadbalancer_id, base_bytes_in, base_bytes_out, base_total,
				base_errors, seen_bytes_in, seen_bytes_out, seen_total, seen_errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (listener_id) DO UPDATE SET base_bytes_in = excluded.base_bytes_in, base_bytes_out = excluded.base_bytes_out,
				base_total = excluded.base_total, base_errors = excluded.base_errors, seen_bytes_in = excluded.seen_bytes_in,
				seen_bytes_out = excluded.seen_bytes_out, seen_total = excluded.seen_total, seen_errors = excluded.seen_errors`,
				id, lb, k.base.BytesIn, k.base.BytesOut, k.base.TotalConnections, k.base.RequestErrors,
				k.seen.BytesIn, k.seen.BytesOut, k.seen.TotalConnections, k.seen.RequestErrors); err != nil {
				return err
			}
		}
		return nil
	})
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
