// Package fake is an in-memory load balancer data plane for API tests:
// it keeps what it was given and reports every member up, but those whose
// address a test marks down.
package fake

import (
	"context"
	"net/netip"
	"sync"

	"github.com/sovcloud/sov/internal/loadbalancer/provider"
)

// Driver is the fake data plane.
type Driver struct {
	mu   sync.Mutex
	lbs  map[string]*provider.LoadBalancer
	down map[netip.Addr]bool
}

// New returns an empty fake.
func New() *Driver {
	return &Driver{lbs: map[string]*provider.LoadBalancer{}, down: map[netip.Addr]bool{}}
}

// Set keeps lb.
func (d *Driver) Set(_ context.Context, lb *provider.LoadBalancer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lbs[lb.ID] = lb
	return nil
}

// Remove forgets a load balancer.
func (d *Driver) Remove(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.lbs, id)
	return nil
}

// Status reports monitored members up unless their address is down.
func (d *Driver) Status(_ context.Context, id string) (*provider.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &provider.Status{Members: map[string]string{}, Listeners: map[string]provider.Stats{}}
	lb, ok := d.lbs[id]
	if !ok {
		return st, nil
	}
	for _, l := range lb.Listeners {
		st.Listeners[l.ID] = provider.Stats{}
	}
	for _, p := range lb.Pools {
		for _, m := range p.Members {
			switch {
			case m.Down:
				st.Members[m.ID] = provider.MemberDrain
			case p.Monitor == nil:
				st.Members[m.ID] = provider.MemberNoCheck
			case d.down[m.Address]:
				st.Members[m.ID] = provider.MemberDown
			default:
				st.Members[m.ID] = provider.MemberUp
			}
		}
	}
	return st, nil
}

// Prune forgets the load balancers not in keep.
func (d *Driver) Prune(_ context.Context, keep []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.lbs {
		found := false
		for _, k := range keep {
			found = found || k == id
		}
		if !found {
			delete(d.lbs, id)
		}
	}
	return nil
}

// SetDown marks the members at an address down (or up again).
func (d *Driver) SetDown(a netip.Addr, down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down[a] = down
}

// Get returns what the fake was last given for a load balancer.
func (d *Driver) Get(id string) *provider.LoadBalancer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lbs[id]
}
