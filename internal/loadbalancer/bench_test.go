package loadbalancer_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

// benchCloud is a real sov (network and HAProxy) with two backends on a
// tenant network routed to the external network, as the wire test has.
type benchCloud struct {
	c, nc    *gophercloud.ServiceClient
	sn       *subnets.Subnet
	public   *networks.Network
	one, two *backend
}

func newBenchCloud(b *testing.B) *benchCloud {
	srv := servertest.Start(b, func(c *server.Config) { c.Compute.Drivers, c.Volume.Drivers = "fake", "fake" })
	tn := srv.NewTenant(b, "lb-bench", "member")
	p := srv.Provider(b, tn)
	bc := &benchCloud{c: lbClient(b, p), nc: netClient(b, p)}
	admin := netClient(b, srv.Admin(b).ProviderClient)
	netID := servertest.TenantNetwork(b, p, "web", "10.45.0.0/24")
	bc.public, _, _ = servertest.RoutedToPublic(b, bc.nc, netID)
	bc.sn = subnetOf(b, bc.nc, netID)
	pg, _ := groups.List(bc.nc, groups.ListOpts{Name: "default"}).AllPages(ctx)
	gs, _ := groups.ExtractGroups(pg)
	if _, err := rules.Create(ctx, bc.nc, rules.CreateOpts{SecGroupID: gs[0].ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 8080, PortRangeMax: 8080}).Extract(); err != nil {
		b.Fatal(err)
	}
	bc.one = newBackend(b, admin, tn.ProjectID, netID, bc.sn.GatewayIP, "one")
	bc.two = newBackend(b, admin, tn.ProjectID, netID, bc.sn.GatewayIP, "two")
	return bc
}

// quickMonitor checks every second and takes a member out at its first
// failure (what the failover figure is measured with).
var quickMonitor = monitors.CreateOpts{Type: monitors.TypeHTTP, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1, URLPath: "/"}

// balancer builds a web load balancer in front of both backends.
func (bc *benchCloud) balancer(b *testing.B) *web {
	return newWeb(b, bc.c, bc.nc, bc.sn, bc.public.ID, quickMonitor, 8080, bc.one.addr, bc.two.addr)
}

// load sends n GETs to url from 16 clients with keep-alive, checks each
// answer is a backend's, and reports requests/s and p50/p99.
func load(b *testing.B, url string, n int) {
	const clients = 16
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := time.Now()
				resp, err := hc.Get(url)
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if s := string(body); s != "one" && s != "two" {
						err = fmt.Errorf("answer %q", s)
					}
				}
				lat[i] = time.Since(t)
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLoadBalancer measures, on the real data plane (root):
//   - direct: HTTP requests to one backend through its own floating IP (the
//     baseline: the same router, no load balancer);
//   - balanced: the same load through a load balancer's floating IP to two
//     backends (HAProxy in the VIP's namespace);
//   - create: from the create call to ACTIVE and to the first request served
//     (listener, pool, members, monitor and floating IP made in between);
//   - failover: from a backend's stop until every request goes to the other
//     and until the API reports its member ERROR (monitor: 1 s, 1 failure).
//
// go test -run '^$' -bench LoadBalancer -benchtime 2000x ./internal/loadbalancer
func BenchmarkLoadBalancer(b *testing.B) {
	bc := newBenchCloud(b)
	w := bc.balancer(b)
	url := w.url
	// The direct path: a floating IP on backend one's port.
	fip, err := floatingips.Create(ctx, bc.nc, floatingips.CreateOpts{FloatingNetworkID: bc.public.ID, PortID: bc.one.port}).Extract()
	if err != nil {
		b.Fatal(err)
	}
	direct := "http://" + fip.FloatingIP + ":8080/"
	b.Run("direct", func(b *testing.B) { load(b, direct, b.N) })
	b.Run("balanced", func(b *testing.B) { load(b, url, b.N) })
	b.Run("create", func(b *testing.B) {
		var active, served time.Duration
		n := min(b.N, 5)
		for i := 0; i < n; i++ {
			other := bc.balancer(b)
			active += other.active
			served += other.served
			if err := loadbalancers.Delete(ctx, bc.c, other.lb.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(active.Milliseconds())/float64(n), "ms-to-ACTIVE")
		b.ReportMetric(float64(served.Milliseconds())/float64(n), "ms-to-first-request")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("failover", func(b *testing.B) {
		var routed, reported time.Duration
		n := min(b.N, 5)
		for i := 0; i < n; i++ {
			start := time.Now()
			bc.two.srv.Close()
			var gotRouted, gotReported bool
			for !gotRouted || !gotReported {
				if !gotRouted && allFrom(url, "one", 10) {
					routed += time.Since(start)
					gotRouted = true
				}
				if !gotReported && w.status(b, bc.c, bc.two.addr) == "ERROR" {
					reported += time.Since(start)
					gotReported = true
				}
				if time.Since(start) > time.Minute {
					b.Fatal("the stopped backend was not routed around")
				}
				time.Sleep(10 * time.Millisecond)
			}
			bc.two.start(b)
			w.online(b, bc.c)
		}
		b.ReportMetric(float64(routed.Milliseconds())/float64(n), "ms-to-routed-around")
		b.ReportMetric(float64(reported.Milliseconds())/float64(n), "ms-to-member-ERROR")
		b.ReportMetric(0, "ns/op")
	})
}

// allFrom reports whether n requests in a row are answered by name.
func allFrom(url, name string, n int) bool {
	for i := 0; i < n; i++ {
		if body, err := fetch(url); err != nil || body != name {
			return false
		}
	}
	return true
}
