package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/loadbalancer/provider"
	"github.com/sovcloud/sov/internal/network"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// A change of a load balancer commits with it PENDING_UPDATE (its
// children PENDING_CREATE, _UPDATE or _DELETE); then, under the load
// balancer's lock, the whole of it is set on the data plane (sync) and the
// statuses settle: ACTIVE, the deleted rows gone, or ERROR.

// schedule sets a load balancer on its data plane in the background.
func (s *Service) schedule(q *request, id, event string) {
	s.change(ops.Action{ResourceID: id, RequestID: httpapi.RequestID(q.ctx())}, event, false)
}

// scheduleFailover starts a load balancer's data plane afresh.
func (s *Service) scheduleFailover(q *request, id string) {
	s.change(ops.Action{ResourceID: id, RequestID: httpapi.RequestID(q.ctx())}, "failover", true)
}

// change runs a sync that settles the statuses, counted in flight so
// that the sweep leaves its load balancer alone.
func (s *Service) change(a ops.Action, event string, fresh bool) {
	s.inflight.add(a.ResourceID, 1)
	s.ops.Go(a, event, func(ctx context.Context) error { return s.sync(ctx, a.ResourceID, fresh) },
		func(ctx context.Context, err error) {
			s.settle(ctx, a.ResourceID, err)
			s.inflight.add(a.ResourceID, -1)
		})
}

// counter counts operations in flight per load balancer.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(id string, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	if c.n[id] += d; c.n[id] <= 0 {
		delete(c.n, id)
	}
}

func (c *counter) busy(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id] > 0
}

func (s *Service) loadLB(ctx context.Context, id string) (*loadBalancer, error) {
	return lbs.scan(s.db.QueryRow(ctx, `SELECT `+lbs.columns+` FROM lb_loadbalancers WHERE id = ?`, id))
}

// sync makes a load balancer's data plane what the store says: its VIP
// plugged with the listeners' ports open, its HAProxy set; or, being
// deleted, both gone. fresh stops the data plane before setting it.
func (s *Service) sync(ctx context.Context, id string, fresh bool) error {
	l, err := s.loadLB(ctx, id)
	if err = store.Row(err); errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if l.Provisioning == PendingDelete {
		return errors.Join(s.driver.Remove(ctx, id), s.net.ReleaseVIP(ctx, id, l.PortMade))
	}
	if l.Port == "" {
		return errors.New("the load balancer has no VIP port (sov stopped while making it)")
	}
	st, open, err := s.state(ctx, l)
	if err != nil {
		return err
	}
	if err := s.net.PlugVIP(ctx, id, open); err != nil {
		return err
	}
	// The counters a reload or restart resets are kept first.
	if now, err := s.driver.Status(ctx, id); err == nil {
		if err := s.countStats(ctx, id, now.Listeners); err != nil {
			s.log.Error("load-balancer: keep counters", "loadbalancer", id, "err", err)
		}
	}
	if fresh {
		if err := s.driver.Remove(ctx, id); err != nil {
			return err
		}
	}
	return s.driver.Set(ctx, st)
}

// state is a load balancer as its data plane runs it, with the ports its
// VIP opens.
func (s *Service) state(ctx context.Context, l *loadBalancer) (*provider.LoadBalancer, []network.VIPListener, error) {
	vip, _ := netip.ParseAddr(l.Address)
	st := &provider.LoadBalancer{ID: l.ID, Namespace: l.Namespace, VIP: vip}
	t, err := s.tree(ctx, l.ID)
	if err != nil {
		return nil, nil, err
	}
	if !l.AdminUp {
		return st, nil, nil
	}
	var open []network.VIPListener
	for _, ls := range t.listeners {
		if ls.Provisioning == PendingDelete || !ls.AdminUp {
			continue
		}
		pl := provider.Listener{ID: ls.ID, Protocol: ls.Protocol, Port: ls.Port, ConnectionLimit: max(ls.ConnLimit, 0),
			TimeoutClientData: ls.TimeoutClientData, TimeoutMemberConnect: ls.TimeoutMemberConnect,
			TimeoutMemberData: ls.TimeoutMemberData, TimeoutTCPInspect: ls.TimeoutTCPInspect}
		headers := fromJSON[map[string]string](ls.InsertHeaders)
		pl.ForwardedFor = strings.EqualFold(headers["X-Forwarded-For"], "true")
		pl.ForwardedPort = strings.EqualFold(headers["X-Forwarded-Port"], "true")
		pl.ForwardedProto = strings.EqualFold(headers["X-Forwarded-Proto"], "true")
		if pl.Certificates, err = s.certificates(ctx, ls); err != nil {
			return nil, nil, fmt.Errorf("listener %s: %w", ls.ID, err)
		}
		for _, c := range fromJSON[[]string](ls.AllowedCIDRs) {
			if p, err := netip.ParsePrefix(c); err == nil {
				pl.AllowedCIDRs = append(pl.AllowedCIDRs, p)
			}
		}
		if p := t.pool(ls.DefaultPool); p != nil && p.Provisioning != PendingDelete {
			pl.DefaultPool = p.ID
		}
		for _, pol := range t.policies[ls.ID] {
			if pol.Provisioning == PendingDelete || !pol.AdminUp {
				continue
			}
			pp := provider.Policy{ID: pol.ID, Action: pol.Action, Pool: pol.Pool, URL: pol.URL, Prefix: pol.Prefix, Code: pol.Code}
			if p := t.pool(pol.Pool); pol.Action == provider.RedirectToPool && (p == nil || p.Provisioning == PendingDelete) {
				continue
			}
			for _, r := range t.rules[pol.ID] {
				if r.Provisioning != PendingDelete && r.AdminUp {
					pp.Rules = append(pp.Rules, provider.Rule{ID: r.ID, Type: r.Type, Compare: r.Compare, Key: r.Key, Value: r.Value, Invert: r.Invert})
				}
			}
			pl.Policies = append(pl.Policies, pp)
		}
		st.Listeners = append(st.Listeners, pl)
		open = append(open, network.VIPListener{Protocol: "tcp", Port: ls.Port, CIDRs: pl.AllowedCIDRs})
	}
	for _, p := range t.pools {
		if p.Provisioning == PendingDelete {
			continue
		}
		sp := fromJSON[*persistence](p.Persistence)
		pp := provider.Pool{ID: p.ID, Protocol: p.Protocol, Algorithm: p.Algorithm}
		if sp != nil {
			pp.Persistence, pp.CookieName = sp.Type, sp.CookieName
		}
		for _, m := range t.members[p.ID] {
			if m.Provisioning == PendingDelete {
				continue
			}
			a, _ := netip.ParseAddr(m.Address)
			pm := provider.Member{ID: m.ID, Address: a, Port: m.Port, Weight: m.Weight, Backup: m.Backup,
				Down: !m.AdminUp || !p.AdminUp, MonitorPort: m.MonitorPort}
			pm.MonitorAddress, _ = netip.ParseAddr(m.MonitorAddress)
			pp.Members = append(pp.Members, pm)
		}
		if h := t.monitors[p.ID]; h != nil && h.Provisioning != PendingDelete && h.AdminUp {
			pp.Monitor = &provider.Monitor{Type: h.Type, Delay: h.Delay, Timeout: h.Timeout, Rise: h.MaxRetries, Fall: h.MaxRetriesDown,
				Method: h.Method, Path: h.Path, ExpectedCodes: h.Codes}
		}
		st.Pools = append(st.Pools, pp)
	}
	return st, open, nil
}

// lbTree is a load balancer's children.
type lbTree struct {
	listeners []*listener
	pools     []*pool
	members   map[string][]*member   // by pool
	monitors  map[string]*monitor    // by pool
	policies  map[string][]*l7policy // by listener, in position order
	rules     map[string][]*l7rule   // by policy
}

func (t *lbTree) pool(id string) *pool {
	for _, p := range t.pools {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// tree reads a load balancer's children.
func (s *Service) tree(ctx context.Context, id string) (*lbTree, error) {
	t := &lbTree{members: map[string][]*member{}, monitors: map[string]*monitor{}, policies: map[string][]*l7policy{}, rules: map[string][]*l7rule{}}
	var err error
	if t.listeners, err = childrenOf(ctx, s.db, listeners, id); err != nil {
		return nil, err
	}
	if t.pools, err = childrenOf(ctx, s.db, pools, id); err != nil {
		return nil, err
	}
	ms, err := childrenOf(ctx, s.db, members, id)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		t.members[m.Pool] = append(t.members[m.Pool], m)
	}
	hs, err := childrenOf(ctx, s.db, monitors, id)
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		t.monitors[h.Pool] = h
	}
	ps, err := childrenOf(ctx, s.db, policies, id)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(ps, func(a, b *l7policy) int { return a.Position - b.Position })
	for _, p := range ps {
		t.policies[p.Listener] = append(t.policies[p.Listener], p)
	}
	rs, err := childrenOf(ctx, s.db, l7rules, id)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		t.rules[r.Policy] = append(t.rules[r.Policy], r)
	}
	return t, nil
}

func childrenOf[T any](ctx context.Context, db store.Querier, k *kind[T], lb string) ([]T, error) {
	rows, err := db.Query(ctx, `SELECT `+k.columns+` FROM `+k.table+` WHERE loadbalancer_id = ? ORDER BY created_at, id`, lb)
	if err != nil {
		return nil, err
	}
	return store.Collect(rows, k.scan)
}

// settle ends a change: the deleted rows go and the pending ones become
// ACTIVE, or, when the data plane failed, ERROR (the load balancer
// itself too when it was being made or deleted; after a failed update it
// takes changes again).
func (s *Service) settle(ctx context.Context, id string, failure error) {
	if failure != nil {
		s.log.Error("load-balancer: data plane", "loadbalancer", id, "err", failure)
	}
	gone := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var status string
		if err := store.Row(tx.QueryRow(ctx, `SELECT provisioning_status FROM lb_loadbalancers WHERE id = ?`, id).Scan(&status)); err != nil {
			return err
		}
		if failure == nil && status == PendingDelete {
			gone = true
			for _, t := range childTables {
				if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE loadbalancer_id = ?`, id); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM lb_listener_stats WHERE loadbalancer_id = ?`, id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM lb_loadbalancers WHERE id = ?`, id)
			return err
		}
		to, lbTo := Active, Active
		if failure != nil {
			to = Error
			if status == PendingCreate || status == PendingDelete {
				lbTo = Error
			}
		}
		for _, t := range childTables {
			if failure == nil {
				if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE loadbalancer_id = ? AND provisioning_status = ?`, id, PendingDelete); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE `+t+` SET provisioning_status = ? WHERE loadbalancer_id = ? AND provisioning_status LIKE 'PENDING_%'`,
				to, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM lb_listener_stats WHERE loadbalancer_id = ? AND listener_id NOT IN
			(SELECT id FROM lb_listeners WHERE loadbalancer_id = ?)`, id, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE lb_loadbalancers SET provisioning_status = ? WHERE id = ? AND provisioning_status LIKE 'PENDING_%'`, lbTo, id)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("load-balancer: settle statuses", "loadbalancer", id, "err", err)
		return
	}
	if gone {
		if err := s.ops.Forget(ctx, id); err != nil {
			s.log.Error("load-balancer: forget actions", "loadbalancer", id, "err", err)
		}
		return
	}
	s.checkHealth(ctx, id)
}

// Start ends what a stop interrupted and adopts the data planes: those
// of load balancers gone are removed, every other one is set again (a
// running HAProxy reloads; a dead one starts), and pending changes finish.
func (s *Service) Start(ctx context.Context) error {
	if err := s.ops.Recover(ctx); err != nil {
		return err
	}
	ids, err := store.Column(ctx, s.db, `SELECT id FROM lb_loadbalancers ORDER BY created_at, id`)
	if err != nil {
		return err
	}
	if err := s.driver.Prune(ctx, ids); err != nil {
		s.log.Error("load-balancer: prune data planes", "err", err)
	}
	pending, err := store.Column(ctx, s.db, `SELECT id FROM lb_loadbalancers WHERE provisioning_status LIKE 'PENDING_%'`)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if slices.Contains(pending, id) {
			s.change(ops.Action{ResourceID: id}, "", false)
			continue
		}
		s.resync(id)
	}
	return nil
}

// sweep finishes the changes of load balancers PENDING with no operation
// in flight (one whose request failed between its commit and scheduling).
func (s *Service) sweep(ctx context.Context) error {
	ids, err := store.Column(ctx, s.db, `SELECT id FROM lb_loadbalancers WHERE provisioning_status LIKE 'PENDING_%' AND updated_at < ?`,
		time.Now().Add(-time.Minute).Unix())
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !s.inflight.busy(id) {
			s.log.Warn("load-balancer: finishing a change nothing runs", "loadbalancer", id)
			s.change(ops.Action{ResourceID: id}, "", false)
		}
	}
	return nil
}

// resync sets a load balancer on its data plane again, in the background,
// without touching its statuses: a change the API accepts meanwhile
// settles them after its own sync.
func (s *Service) resync(id string) {
	s.ops.Go(ops.Action{ResourceID: id}, "", func(ctx context.Context) error { return s.sync(ctx, id, false) },
		func(ctx context.Context, err error) {
			s.repairing.Delete(id)
			if err != nil {
				s.log.Error("load-balancer: set the data plane again", "loadbalancer", id, "err", err)
			}
		})
}

// healthWorkers is how many load balancers' health is read at once.
const healthWorkers = 4

// Tasks reads members' health and repairs data planes that stopped, and
// sweeps changes nothing runs.
func (s *Service) Tasks() []service.Task {
	return []service.Task{{Name: "load balancer health", Every: s.interval, Run: func(ctx context.Context) error {
		ids, err := store.Column(ctx, s.db, `SELECT id FROM lb_loadbalancers WHERE provisioning_status = ?`, Active)
		if err != nil {
			return err
		}
		next := make(chan string)
		var wg sync.WaitGroup
		for range min(healthWorkers, len(ids)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range next {
					s.checkHealth(ctx, id)
				}
			}()
		}
		for _, id := range ids {
			next <- id
		}
		close(next)
		wg.Wait()
		return nil
	}}, {Name: "load balancer sweep", Every: time.Minute, Run: s.sweep}}
}

// checkHealth sets the operating statuses of a load balancer and its
// children from its data plane; one that does not answer is ERROR and set
// again (its HAProxy restarted).
func (s *Service) checkHealth(ctx context.Context, id string) {
	l, err := s.loadLB(ctx, id)
	if err != nil {
		return
	}
	st, err := s.driver.Status(ctx, id)
	if err != nil && l.AdminUp && l.Provisioning == Active {
		s.setOperating(ctx, "lb_loadbalancers", id, Error)
		if _, busy := s.repairing.LoadOrStore(id, true); !busy {
			s.log.Warn("load-balancer: data plane not answering; setting it again", "loadbalancer", id, "err", err)
			s.resync(id)
		}
		return
	}
	if st == nil {
		st = &provider.Status{}
	} else if err := s.countStats(ctx, id, st.Listeners); err != nil {
		s.log.Error("load-balancer: keep counters", "loadbalancer", id, "err", err)
	}
	t, err := s.tree(ctx, id)
	if err != nil {
		return
	}
	lbStatus := Online
	for _, p := range t.pools {
		status, errs, n := Online, 0, 0
		for _, m := range t.members[p.ID] {
			ms := memberStatus(l, p, m, t.monitors[p.ID], st.Members[m.ID])
			s.setOperating(ctx, "lb_members", m.ID, ms)
			if m.AdminUp {
				n++
				if ms == Error {
					errs++
				}
			}
		}
		switch {
		case !p.AdminUp || !l.AdminUp:
			status = Offline
		case n > 0 && errs == n:
			status = Error
		case errs > 0:
			status = Degraded
		}
		if status == Error || status == Degraded {
			lbStatus = Degraded
		}
		s.setOperating(ctx, "lb_pools", p.ID, status)
		if h := t.monitors[p.ID]; h != nil {
			s.setOperating(ctx, "lb_healthmonitors", h.ID, map[bool]string{true: Online, false: Offline}[h.AdminUp && p.AdminUp && l.AdminUp])
		}
	}
	for _, ls := range t.listeners {
		status := Online
		if _, serving := st.Listeners[ls.ID]; !ls.AdminUp || !l.AdminUp {
			status = Offline
		} else if !serving {
			status, lbStatus = Error, Degraded
		}
		s.setOperating(ctx, "lb_listeners", ls.ID, status)
		for _, p := range t.policies[ls.ID] {
			s.setOperating(ctx, "lb_l7policies", p.ID, map[bool]string{true: Online, false: Offline}[p.AdminUp && status != Offline])
			for _, r := range t.rules[p.ID] {
				s.setOperating(ctx, "lb_l7rules", r.ID, map[bool]string{true: Online, false: Offline}[r.AdminUp && p.AdminUp && status != Offline])
			}
		}
	}
	if !l.AdminUp {
		lbStatus = Offline
	}
	s.setOperating(ctx, "lb_loadbalancers", id, lbStatus)
}

// memberStatus is a member's operating status from its health.
func memberStatus(l *loadBalancer, p *pool, m *member, h *monitor, health string) string {
	switch {
	case !m.AdminUp || !p.AdminUp || !l.AdminUp:
		return Offline
	case h == nil || !h.AdminUp || h.Provisioning == PendingDelete:
		return NoMonitor
	case health == provider.MemberUp:
		return Online
	case health == provider.MemberDown:
		return Error
	case health == provider.MemberNoCheck:
		return NoMonitor
	}
	return Offline
}

func (s *Service) setOperating(ctx context.Context, table, id, status string) {
	if _, err := s.db.Exec(ctx, `UPDATE `+table+` SET operating_status = ? WHERE id = ? AND operating_status <> ?`, status, id, status); err != nil {
		s.log.Error("load-balancer: operating status", "id", id, "err", err)
	}
}
