// Package fake is the in-memory data plane for API tests: a
// dataplane.Driver that records each network's state.
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
func NewDataplane() *Dataplane { return &Dataplane{networks: map[string]*dataplane.Network{}} }

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

// Prune forgets every network not in keep.
func (d *Dataplane) Prune(_ context.Context, keep []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.networks {
		if !slices.Contains(keep, id) {
			delete(d.networks, id)
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
