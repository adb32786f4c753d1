package linux_test

import (
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/network/linux"
)

// serve answers TCP connections on port in the guest until the test ends;
// it returns once the port listens (a check right after could come first
// on a loaded machine).
func (g *guest) serve(port int) {
	g.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", g.ns, "busybox", "nc", "-ll", "-p", strconv.Itoa(port), "-e", "/bin/echo", "hello-"+g.outer)
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	g.waitListening(port)
}

// waitListening waits (up to 10 s) until a TCP port listens in the guest.
func (g *guest) waitListening(port int) {
	g.t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if out, _ := g.in(false, "ss", "-Hltn", "sport = :"+strconv.Itoa(port)); strings.TrimSpace(out) != "" {
			return
		}
	}
	g.t.Fatalf("nothing listens on port %d in %s", port, g.ns)
}

// reaches reports whether the guest connects to addr:port and hears the server.
func (g *guest) reaches(addr string, port int) bool {
	out, _ := g.in(false, "sh", "-c", "echo | busybox nc -w 2 "+addr+" "+strconv.Itoa(port))
	return strings.Contains(out, "hello-")
}

func secured(g *guest, mac, ip string, rules ...dataplane.Rule) dataplane.Port {
	p := g.port()
	p.MAC, p.Addrs, p.Secured, p.Rules = mac, []netip.Addr{netip.MustParseAddr(ip)}, true, rules
	return p
}

var egressAll = dataplane.Rule{PortMin: -1, PortMax: -1}

func tcpIn(port int, remote string, group string) dataplane.Rule {
	r := dataplane.Rule{Ingress: true, Protocol: "tcp", PortMin: port, PortMax: port, RemoteGroup: group}
	if remote != "" {
		r.Remote = netip.MustParsePrefix(remote)
	}
	return r
}

// TestSecurityGroupsOnTheWire: a secured port receives only what its
// rules allow (by remote group, by remote prefix; replies of its own
// flows always), sends only from its own MAC and address, and a rule that
// goes closes what it opened; an unsecured port is not filtered.
func TestSecurityGroupsOnTheWire(t *testing.T) {
	requireRoot(t)
	id := tag()
	d, err := linux.Open(t.TempDir(), testEngines(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	netID := id + "cccc-0000-0000-0000-000000000000"
	t.Cleanup(func() { d.Prune(ctx, nil, nil) })
	macA, macB, macC, macD := "fa:16:3e:cc:00:0a", "fa:16:3e:cc:00:0b", "fa:16:3e:cc:00:0c", "fa:16:3e:cc:00:0d"
	a, b, c, dg := newGuest(t, id+"a", macA), newGuest(t, id+"b", macB), newGuest(t, id+"c", macC), newGuest(t, id+"d", macD)
	for g, ip := range map[*guest]string{a: "10.60.0.10", b: "10.60.0.11", c: "10.60.0.12", dg: "10.60.0.13"} {
		g.in(true, "ip", "addr", "add", ip+"/24", "dev", "eth0")
	}
	web := "group-web-0000"
	state := func(aRules ...dataplane.Rule) *dataplane.Network {
		n := &dataplane.Network{ID: netID, Segment: 30, Zone: 30, MTU: 1500, Ports: []dataplane.Port{
			secured(a, macA, "10.60.0.10", aRules...),
			secured(b, macB, "10.60.0.11", egressAll, dataplane.Rule{Ingress: true, Protocol: "icmp", PortMin: -1, PortMax: -1}),
			secured(c, macC, "10.60.0.12", egressAll),
			dg.port(),
		}, Groups: map[string][]netip.Prefix{web: {netip.MustParsePrefix("10.60.0.11/32")}}}
		n.Ports[3].MAC = macD
		return n
	}
	rules := []dataplane.Rule{egressAll, tcpIn(80, "", web), tcpIn(8080, "0.0.0.0/0", "")}
	if err := d.SetNetwork(ctx, state(rules...)); err != nil {
		t.Fatal(err)
	}
	a.serve(80)
	a.serve(8080)
	b.serve(80)
	dg.serve(80)
	if !b.reaches("10.60.0.10", 80) {
		t.Error("a member of the remote group does not reach port 80")
	}
	if c.reaches("10.60.0.10", 80) {
		t.Error("a port outside the remote group reaches port 80")
	}
	if !c.reaches("10.60.0.10", 8080) {
		t.Error("port 8080, open to 0.0.0.0/0, is closed")
	}
	if c.ping("10.60.0.10") {
		t.Error("ICMP passes without a rule")
	}
	if !a.ping("10.60.0.11") {
		t.Error("a port's own flow's replies do not come back")
	}
	if c.reaches("10.60.0.11", 80) {
		t.Error("a port without an ingress rule for 80 is reached on 80")
	}
	if !c.reaches("10.60.0.13", 80) {
		t.Error("an unsecured port is filtered")
	}

	// A port that takes another address, or another MAC, reaches nobody.
	c.in(true, "ip", "addr", "flush", "dev", "eth0")
	c.in(true, "ip", "addr", "add", "10.60.0.99/24", "dev", "eth0")
	if c.reaches("10.60.0.10", 8080) {
		t.Error("a port sending from an address not its own gets through")
	}
	c.in(true, "ip", "addr", "flush", "dev", "eth0")
	c.in(true, "ip", "addr", "add", "10.60.0.12/24", "dev", "eth0")
	c.in(true, "ip", "link", "set", "eth0", "address", "fa:16:3e:cc:00:99")
	if c.reaches("10.60.0.10", 8080) {
		t.Error("a port sending from a MAC not its own gets through")
	}
	// An unsecured port may send from any address.
	dg.in(true, "ip", "addr", "flush", "dev", "eth0")
	dg.in(true, "ip", "addr", "add", "10.60.0.98/24", "dev", "eth0")
	if !dg.reaches("10.60.0.10", 8080) {
		t.Error("an unsecured port is held to its address")
	}

	// Without the rule, the group member is shut out again.
	if err := d.SetNetwork(ctx, state(egressAll, tcpIn(8080, "0.0.0.0/0", ""))); err != nil {
		t.Fatal(err)
	}
	if b.reaches("10.60.0.10", 80) {
		t.Error("port 80 is open after its rule went")
	}
	if err := d.RemoveNetwork(ctx, netID); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("nft", "list", "tables").Output(); strings.Contains(string(out), "sovn_"+strings.ReplaceAll(netID, "-", "")[:11]) {
		t.Errorf("the network's tables outlive it:\n%s", out)
	}
}
