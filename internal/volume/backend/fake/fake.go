// Package fake is a volume driver in memory, for tests of the API's
// behaviour: it records each volume's size and can be told to fail.
package fake

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Driver records volumes' sizes.
type Driver struct {
	mu    sync.Mutex
	sizes map[string]int64
	fail  error
	held  chan struct{} // while not nil, Create and Extend wait for it to close
}

// Hold makes Create and Extend wait until release is called, so a test
// can act while an operation is in flight.
func (d *Driver) Hold() (release func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := make(chan struct{})
	d.held = ch
	return func() {
		d.mu.Lock()
		d.held = nil
		d.mu.Unlock()
		close(ch)
	}
}

// wait waits while the driver is held.
func (d *Driver) wait() {
	d.mu.Lock()
	ch := d.held
	d.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// New returns an empty driver.
func New() *Driver { return &Driver{sizes: map[string]int64{}} }

// Fail makes every later call fail with err (nil: succeed again).
func (d *Driver) Fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = err
}

// Size is a volume's size, and whether it is there.
func (d *Driver) Size(id string) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.sizes[id]
	return n, ok
}

// Create records the volume.
func (d *Driver) Create(_ context.Context, id string, size int64) error {
	d.wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	d.sizes[id] = size
	return nil
}

// Extend records the volume's new size.
func (d *Driver) Extend(_ context.Context, id string, size int64) error {
	d.wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	if _, ok := d.sizes[id]; !ok {
		return fmt.Errorf("fake: no volume %s", id)
	}
	d.sizes[id] = size
	return nil
}

// Delete forgets the volume.
func (d *Driver) Delete(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	delete(d.sizes, id)
	return nil
}

// List is the ids recorded.
func (d *Driver) List(context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for id := range d.sizes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}
