// Package fake is the in-memory data plane for API tests: a
// dataplane.Driver that records each network's and router's state.
package fake

import (
	"context"
	"slices"
	"sync"

	"github.com/sovcloud/sov/internal/network/dataplane"
)

// Dataplane is a dataplane.Driver that keeps the last state of each
// network in memory.
type Dataplane struct {
	mu       sync.Mutex
	networks map[string]*dataplane.Network
	routers  map[string]*dataplane.Router
	failure  error
}

// Fail makes every SetNetwork fail with err from now on (nil: succeed
// again), as a host that cannot make a network would.
func (d *Dataplane) Fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failure = err
}

// NewDataplane returns an empty fake data plane.
func NewDataplane() *Dataplane {
	return &Dataplane{networks: map[string]*dataplane.Network{}, routers: map[string]*dataplane.Router{}}
}

// SetNetwork records the network's state.
func (d *Dataplane) SetNetwork(_ context.Context, n *dataplane.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failure != nil {
		return d.failure
	}
	d.networks[n.ID] = n
	return nil
}

// RemoveNetwork forgets the network.
func (d *Dataplane) RemoveNetwork(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.networks, id)
	return nil
}

// SetRouter records the router's state.
func (d *Dataplane) SetRouter(_ context.Context, r *dataplane.Router) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failure != nil {
		return d.failure
	}
	d.routers[r.ID] = r
	return nil
}

// RemoveRouter forgets the router.
func (d *Dataplane) RemoveRouter(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.routers, id)
	return nil
}

// Prune forgets every network and router not in keep.
func (d *Dataplane) Prune(_ context.Context, networks, routers []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.networks {
		if !slices.Contains(networks, id) {
			delete(d.networks, id)
		}
	}
	for id := range d.routers {
		if !slices.Contains(routers, id) {
			delete(d.routers, id)
		}
	}
	return nil
}

// Close does nothing.
func (d *Dataplane) Close() error { return nil }

// Network is the last state set for a network, or nil.
func (d *Dataplane) Network(id string) *dataplane.Network {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.networks[id]
}

// Router is the last state set for a router, or nil.
func (d *Dataplane) Router(id string) *dataplane.Router {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.routers[id]
}
