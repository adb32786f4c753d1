package loadbalancer_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/portsbinding"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/network/linux"
	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/testcert"
)

// backend is a stand-in for a server on a tenant network: a port bound to
// this host whose device is a veth into a namespace of the test's, which
// serves HTTP answering its name.
type backend struct {
	name, ns, addr, port string
	srv                  *http.Server
}

func cmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
}

// newBackend makes the port (as an admin, in the project), the veth with
// the port's MAC and address and a default route via gateway, then binds
// the port, which puts the veth on the network's bridge.
func newBackend(t testing.TB, admin *gophercloud.ServiceClient, project, network, gateway, name string) *backend {
	t.Helper()
	p, err := ports.Create(ctx, admin, ports.CreateOpts{NetworkID: network, ProjectID: project, Name: name,
		DeviceOwner: "compute:nova", DeviceID: "test-" + name}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ns: "sovtb-" + p.ID[:8], addr: p.FixedIPs[0].IPAddress, port: p.ID}
	dev := dataplane.DeviceName(p.ID)
	cmd(t, "ip", "netns", "add", b.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", b.ns).Run() })
	cmd(t, "ip", "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", b.ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	cmd(t, "ip", "-n", b.ns, "link", "set", "eth0", "address", p.MACAddress)
	cmd(t, "ip", "-n", b.ns, "addr", "add", b.addr+"/24", "dev", "eth0")
	cmd(t, "ip", "-n", b.ns, "link", "set", "eth0", "up")
	cmd(t, "ip", "-n", b.ns, "link", "set", "lo", "up")
	cmd(t, "ip", "-n", b.ns, "route", "add", "default", "via", gateway)
	host, _ := os.Hostname()
	if _, err := ports.Update(ctx, admin, p.ID, portsbinding.UpdateOptsExt{UpdateOptsBuilder: ports.UpdateOpts{}, HostID: &host}).Extract(); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	return b
}

func (b *backend) start(t testing.TB) {
	t.Helper()
	var ln net.Listener
	if err := linux.InNamespace(b.ns, func() (err error) { ln, err = net.Listen("tcp", ":8080"); return err }); err != nil {
		t.Fatal(err)
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, b.name)
	})}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
}

// fetch asks url from the host (on the external network, as a client
// outside the cloud).
func fetch(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// TestLoadBalancerOnTheWire: a load balancer with a real HAProxy in front
// of two backends on a tenant network, reached through a floating IP on
// its VIP: requests alternate; a stopped backend turns its member ERROR
// and traffic goes to the other, and back; a killed HAProxy is started
// again without user action; a restart of sov keeps it serving; a
// cascade delete leaves no process, namespace or port.
func TestLoadBalancerOnTheWire(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, func(c *server.Config) { c.Compute.Drivers, c.Volume.Drivers = "fake", "fake" })
	tn := srv.NewTenant(t, "lb-wire", "member")
	p := srv.Provider(t, tn)
	c, nc := lbClient(t, p), netClient(t, p)
	admin := netClient(t, srv.Admin(t).ProviderClient)
	netID := servertest.TenantNetwork(t, p, "web", "10.41.0.0/24")
	public, _, _ := servertest.RoutedToPublic(t, nc, netID)
	sn := subnetOf(t, nc, netID)
	// The backends' group lets the load balancer (on their subnet) in.
	pg, err := groups.List(nc, groups.ListOpts{Name: "default"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := groups.ExtractGroups(pg)
	if _, err := rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: gs[0].ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 8080, PortRangeMax: 8080, RemoteIPPrefix: sn.CIDR}).Extract(); err != nil {
		t.Fatal(err)
	}
	one := newBackend(t, admin, tn.ProjectID, netID, sn.GatewayIP, "one")
	two := newBackend(t, admin, tn.ProjectID, netID, sn.GatewayIP, "two")

	w := newWeb(t, c, nc, sn, public.ID, steadyMonitor, 8080, one.addr, two.addr)
	t.Logf("load balancer ACTIVE after %v, serving after %v", w.active, w.served)
	lb, url := w.lb, w.url
	if _, err := os.Stat("/run/netns/" + dataplane.PortNamespace(lb.VipPortID)); err != nil {
		t.Fatalf("the VIP's namespace: %v", err)
	}
	status := func(name string) string {
		return w.status(t, c, map[string]string{"one": one.addr, "two": two.addr}[name])
	}
	w.online(t, c)
	requests := 0 // made through port 80
	alternate := func(want ...string) {
		t.Helper()
		seen := map[string]int{}
		for i := 0; i < 6; i++ {
			requests++
			body, err := fetch(url)
			if err != nil {
				t.Fatalf("through the floating IP: %v", err)
			}
			seen[body]++
		}
		for _, w := range want {
			if seen[w] != 6/len(want) {
				t.Fatalf("answers %v, want an even share of %v", seen, want)
			}
		}
	}
	alternate("one", "two")

	// HTTPS terminated with a certificate from the key manager, to a pool
	// of backend one.
	cert := testcert.New(t, "web.test")
	tlsPool, err := pools.Create(ctx, c, pools.CreateOpts{LoadbalancerID: lb.ID, Protocol: pools.ProtocolHTTP, LBMethod: pools.LBMethodRoundRobin}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	if _, err := pools.CreateMember(ctx, c, tlsPool.ID, pools.CreateMemberOpts{Address: one.addr, ProtocolPort: 8080}).Extract(); err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	if _, err := listeners.Create(ctx, c, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolTerminatedHTTPS, ProtocolPort: 443,
		DefaultPoolID: tlsPool.ID, DefaultTlsContainerRef: certificateContainer(t, p, cert)}).Extract(); err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	tc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{ServerName: "web.test", RootCAs: certPool(cert)}}}
	resp, err := tc.Get(strings.Replace(url, "http://", "https://", 1))
	if err != nil {
		t.Fatalf("HTTPS through the floating IP: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "one" || resp.TLS.PeerCertificates[0].Subject.CommonName != "web.test" {
		t.Fatalf("HTTPS: %q from %s", body, resp.TLS.PeerCertificates[0].Subject.CommonName)
	}

	// A backend that stops is routed around, and back once it serves.
	two.srv.Close()
	waitFor(t, "member two ERROR", func() (bool, string) {
		lbNow, _ := loadbalancers.Get(ctx, c, lb.ID).Extract()
		s := status("two")
		return s == "ERROR" && lbNow.OperatingStatus == "DEGRADED", s + " " + lbNow.OperatingStatus
	})
	alternate("one")
	two.start(t)
	waitFor(t, "member two ONLINE", func() (bool, string) { s := status("two"); return s == "ONLINE", s })
	alternate("one", "two")

	// A killed HAProxy comes back without user action (what it counted
	// since the last health read, 200 ms here, is lost with it).
	time.Sleep(500 * time.Millisecond)
	pid, ok := srv.Engine(t, "haproxy", lb.ID)
	if !ok {
		t.Fatal("no HAProxy recorded")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "HAProxy started again", func() (bool, string) {
		now, ok := srv.Engine(t, "haproxy", lb.ID)
		body, err := fetch(url)
		return ok && now != pid && err == nil && (body == "one" || body == "two"), fmt.Sprint(now, err)
	})
	waitFor(t, "load balancer ONLINE again", func() (bool, string) {
		lbNow, _ := loadbalancers.Get(ctx, c, lb.ID).Extract()
		return lbNow.OperatingStatus == "ONLINE", lbNow.OperatingStatus
	})

	// A restart of sov adopts the HAProxy, which serves throughout.
	pid, _ = srv.Engine(t, "haproxy", lb.ID)
	srv = srv.Restart(t)
	c = lbClient(t, srv.Provider(t, tn))
	waitLB(t, c, lb.ID, "ACTIVE")
	if now, ok := srv.Engine(t, "haproxy", lb.ID); !ok || now != pid {
		t.Fatalf("HAProxy after a restart: %d (was %d)", now, pid)
	}
	alternate("one", "two")

	// The counters add up across the reloads and the restart of HAProxy.
	ls80, err := listeners.GetStats(ctx, c, w.listener).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if ls80.TotalConnections < requests || ls80.BytesOut == 0 {
		t.Fatalf("listener stats %+v after %d requests", ls80, requests)
	}

	if err := loadbalancers.Delete(ctx, c, lb.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "load balancer gone", func() (bool, string) {
		_, err := loadbalancers.Get(ctx, c, lb.ID).Extract()
		return servertest.IsStatus(err, http.StatusNotFound), "still there"
	})
	if pid, ok := srv.Engine(t, "haproxy", lb.ID); ok {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Fatalf("HAProxy runs after delete: %d %q", pid, cmdline)
	}
	if _, err := os.Stat("/run/netns/" + dataplane.PortNamespace(lb.VipPortID)); err == nil {
		t.Fatal("the VIP's namespace is left")
	}
	if body, err := fetch(url); err == nil {
		t.Fatalf("the floating IP still answers: %q", body)
	}
	if out, _ := exec.Command("pgrep", "-f", "haproxy.*"+lb.ID).Output(); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("HAProxy processes left: %s", out)
	}
}

// certPool is a certificate pool of one self-signed certificate.
func certPool(p *testcert.Pair) *x509.CertPool {
	cp := x509.NewCertPool()
	cp.AddCert(p.Cert)
	return cp
}
