// Package fake holds the in-memory network engines for API tests: a
// network.Host that records which taps are attached with which MAC and
// address, and a dataplane.Driver that records each network's state.
package fake

import (
	"fmt"
	"net/netip"
	"sync"
)

// Host is the fake host network of one subnet.
type Host struct {
	subnet netip.Prefix
	mu     sync.Mutex
	taps   map[string]Attachment
}

// Attachment is what a tap was attached with.
type Attachment struct {
	MAC string
	IP  netip.Addr
}

// New returns a fake host network of subnet.
func New(subnet netip.Prefix) *Host {
	return &Host{subnet: subnet.Masked(), taps: map[string]Attachment{}}
}

// Attach records the tap, as the bridge would attach it.
func (h *Host) Attach(tap, mac string, ip netip.Addr) error {
	if !h.subnet.Contains(ip) {
		return fmt.Errorf("fake network: %s is not in %s", ip, h.subnet)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.taps[tap] = Attachment{MAC: mac, IP: ip}
	return nil
}

// Detach forgets the tap.
func (h *Host) Detach(tap, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.taps, tap)
	return nil
}

// Close does nothing: there is no host state.
func (h *Host) Close(bool) error { return nil }

// Attached returns the taps attached now.
func (h *Host) Attached() map[string]Attachment {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]Attachment, len(h.taps))
	for k, v := range h.taps {
		out[k] = v
	}
	return out
}
