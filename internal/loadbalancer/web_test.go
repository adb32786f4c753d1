package loadbalancer_test

import (
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
)

// web is a load balancer built as a user builds one in front of web
// servers: an HTTP listener on port 80, a round-robin pool of members, an
// HTTP monitor and a floating IP on the VIP.
type web struct {
	lb             *loadbalancers.LoadBalancer
	listener, pool string
	members        map[string]string // member id by address
	url            string
	// active and served are the times from the create call to ACTIVE
	// and to the first answer through the floating IP.
	active, served time.Duration
}

// steadyMonitor checks every two seconds and allows a loaded machine's
// slow answer (two seconds, three failures in a row): live members never flap.
var steadyMonitor = monitors.CreateOpts{Type: monitors.TypeHTTP, Delay: 2, Timeout: 2, MaxRetries: 1, MaxRetriesDown: 3, URLPath: "/"}

// newWeb builds a web load balancer on subnet sn for members at addrs
// (each on port), with the monitor mon, its floating IP from network public.
func newWeb(t testing.TB, c, nc *gophercloud.ServiceClient, sn *subnets.Subnet, public string, mon monitors.CreateOpts, port int, addrs ...string) *web {
	t.Helper()
	start := time.Now()
	lb, err := loadbalancers.Create(ctx, c, loadbalancers.CreateOpts{Name: "web", VipSubnetID: sn.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	w := &web{lb: waitLB(t, c, lb.ID, "ACTIVE"), members: map[string]string{}}
	w.active = time.Since(start)
	ls, err := listeners.Create(ctx, c, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolHTTP, ProtocolPort: 80}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	w.listener = ls.ID
	waitLB(t, c, lb.ID, "ACTIVE")
	pool, err := pools.Create(ctx, c, pools.CreateOpts{ListenerID: ls.ID, Protocol: pools.ProtocolHTTP, LBMethod: pools.LBMethodRoundRobin}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	w.pool = pool.ID
	waitLB(t, c, lb.ID, "ACTIVE")
	for _, a := range addrs {
		m, err := pools.CreateMember(ctx, c, pool.ID, pools.CreateMemberOpts{Address: a, ProtocolPort: port, SubnetID: sn.ID}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		w.members[a] = m.ID
		waitLB(t, c, lb.ID, "ACTIVE")
	}
	mon.PoolID = pool.ID
	if _, err := monitors.Create(ctx, c, mon).Extract(); err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	fip, err := floatingips.Create(ctx, nc, floatingips.CreateOpts{FloatingNetworkID: public, PortID: lb.VipPortID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	w.url = "http://" + fip.FloatingIP + "/"
	for {
		if _, err := fetch(w.url); err == nil {
			w.served = time.Since(start)
			return w
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatal("no answer through the load balancer's floating IP")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// status is the operating status of the member at addr.
func (w *web) status(t testing.TB, c *gophercloud.ServiceClient, addr string) string {
	t.Helper()
	m, err := pools.GetMember(ctx, c, w.pool, w.members[addr]).Extract()
	if err != nil {
		t.Fatal(err)
	}
	return m.OperatingStatus
}

// online waits until every member is ONLINE.
func (w *web) online(t testing.TB, c *gophercloud.ServiceClient) {
	t.Helper()
	waitFor(t, "members ONLINE", func() (bool, string) {
		got := ""
		for a := range w.members {
			if s := w.status(t, c, a); s != "ONLINE" {
				got += a + " " + s + " "
			}
		}
		return got == "", got
	})
}
