package linux_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/network/linux"
)

// The data plane's benchmarks (root): run with
//
//	go test -run '^$' -bench . -benchtime 20x ./internal/network/linux
//
// Namespaces with veths stand in for VMs, as in the tests; what they
// measure is the host's share (bridges, nftables, conntrack, NAT), not
// a guest's virtio path.

// inNS runs fn on a thread inside the guest's namespace.
func (g *guest) inNS(fn func() error) error { return linux.InNamespace(g.ns, fn) }

// listen opens a TCP listener in the guest that accepts and drains (or
// closes at once) every connection.
func (g *guest) listen(b testing.TB, addr string) net.Listener {
	var l net.Listener
	if err := g.inNS(func() (err error) { l, err = net.Listen("tcp4", addr); return err }); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return l
}

// dial connects from the guest.
func (g *guest) dial(addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := g.inNS(func() (err error) {
		d := net.Dialer{Timeout: timeout}
		c, err = d.DialContext(context.Background(), "tcp4", addr)
		return err
	})
	return c, err
}

type benchNet struct {
	d      *linux.Driver
	id     string
	client *guest
	server *guest
}

func newBenchNet(b *testing.B) *benchNet {
	requireRoot(b)
	id := tag()
	d, err := linux.Open(b.TempDir(), testEngines(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	n := &benchNet{d: d, id: id + "bbbb-0000-0000-0000-000000000000"}
	b.Cleanup(func() { d.RemoveNetwork(context.Background(), n.id) })
	n.client, n.server = newGuest(b, id+"c", "fa:16:3e:ee:00:0c"), newGuest(b, id+"s", "fa:16:3e:ee:00:0d")
	n.client.in(true, "ip", "addr", "add", "10.70.0.10/24", "dev", "eth0")
	n.server.in(true, "ip", "addr", "add", "10.70.0.20/24", "dev", "eth0")
	return n
}

// state is the network with the two guests' ports, secured with rules
// (the server's ingress rules), or unsecured (a bare bridge) with none.
func (n *benchNet) state(secured bool, serverRules []dataplane.Rule) *dataplane.Network {
	c, s := n.client.port(), n.server.port()
	c.MAC, s.MAC = "fa:16:3e:ee:00:0c", "fa:16:3e:ee:00:0d"
	c.Addrs, s.Addrs = []netip.Addr{netip.MustParseAddr("10.70.0.10")}, []netip.Addr{netip.MustParseAddr("10.70.0.20")}
	if secured {
		c.Secured, s.Secured = true, true
		c.Rules = []dataplane.Rule{egressAll}
		s.Rules = append([]dataplane.Rule{egressAll}, serverRules...)
	}
	return &dataplane.Network{ID: n.id, Segment: 60, Zone: 60, MTU: 1500, Ports: []dataplane.Port{c, s}}
}

func (n *benchNet) set(b *testing.B, st *dataplane.Network) {
	if err := n.d.SetNetwork(context.Background(), st); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRuleToTraffic: from the change of a security group (a rule
// that lets the client in, applied to the network) to the first TCP
// connection through it.
func BenchmarkRuleToTraffic(b *testing.B) {
	n := newBenchNet(b)
	n.server.listen(b, "10.70.0.20:80")
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n.set(b, n.state(true, nil)) // closed
		if c, err := n.client.dial("10.70.0.20:80", 200*time.Millisecond); err == nil {
			c.Close()
			b.Fatal("port 80 is open without a rule")
		}
		b.StartTimer()
		t0 := time.Now()
		n.set(b, n.state(true, []dataplane.Rule{tcpIn(80, "10.70.0.10/32", "")}))
		for {
			c, err := n.client.dial("10.70.0.20:80", time.Second)
			if err == nil {
				c.Close()
				break
			}
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// rules is a port's n ingress rules, the last of which lets port 80 in.
func rules(n int) []dataplane.Rule {
	var out []dataplane.Rule
	for i := 0; i < n-1; i++ {
		out = append(out, dataplane.Rule{Ingress: true, Protocol: "tcp", PortMin: 10000 + i, PortMax: 10000 + i,
			Remote: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}), 32)})
	}
	return append(out, tcpIn(80, "10.70.0.0/24", ""))
}

// BenchmarkApply1000Rules: applying a network whose port has 1,000 rules.
func BenchmarkApply1000Rules(b *testing.B) {
	n := newBenchNet(b)
	st := n.state(true, rules(1000))
	for i := 0; i < b.N; i++ {
		n.set(b, st)
	}
}

// BenchmarkNewFlow: the cost of a new TCP connection (its first packet
// walks the chain; the others match established) with 1, 1,000 rules,
// and on a bare bridge.
func BenchmarkNewFlow(b *testing.B) {
	for _, tc := range []struct {
		name    string
		secured bool
		rules   int
	}{{"bare-bridge", false, 0}, {"rules-1", true, 1}, {"rules-1000", true, 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			n := newBenchNet(b)
			n.server.listen(b, "10.70.0.20:80")
			n.set(b, n.state(tc.secured, rules(max(tc.rules, 1))))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := n.client.dial("10.70.0.20:80", time.Second)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkThroughput: a TCP transfer between two ports of a network,
// secured (anti-spoofing, stateful groups, conntrack zone) against a bare
// bridge; the ratio is the data plane's cost.
func BenchmarkThroughput(b *testing.B) {
	for _, secured := range []bool{false, true} {
		name := map[bool]string{false: "bare-bridge", true: "secured"}[secured]
		b.Run(name, func(b *testing.B) {
			n := newBenchNet(b)
			n.server.listen(b, "10.70.0.20:5001")
			n.set(b, n.state(secured, []dataplane.Rule{{Ingress: true, Protocol: "tcp", PortMin: 5001, PortMax: 5001}}))
			transfer(b, n.client, "10.70.0.20:5001")
		})
	}
}

// BenchmarkThroughputFloatingIP: the transfer of BenchmarkThroughput from
// a host on the external network to a secured port through its router
// and floating IP (DNAT, forwarding between namespaces, conntrack in the
// router and on both networks); compare with BenchmarkThroughput's
// bare-bridge run of the same invocation.
func BenchmarkThroughputFloatingIP(b *testing.B) {
	l := newRouterLab(b, false)
	fip := l.ext + ".20"
	if err := l.d.SetRouter(ctx, l.router(dataplane.FloatingIP{Address: netip.MustParseAddr(fip), Fixed: netip.MustParseAddr("10.62.0.10")})); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.d.RemoveRouter(ctx, l.routerID) })
	l.a.listen(b, "10.62.0.10:5001")
	transfer(b, l.out, fip+":5001")
}

// transfer measures writes of 1 MiB from the guest to a server at addr
// that drains them.
func transfer(b *testing.B, from *guest, addr string) {
	c, err := from.dial(addr, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}
