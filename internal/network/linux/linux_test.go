package linux_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/sovcloud/sov/internal/engines"
	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/network/linux"
	"github.com/sovcloud/sov/internal/store"
)

var ctx = context.Background()

// requireRoot skips without root, except in CI where it is a failure.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the data plane tests need root in CI")
		}
		t.Skip("needs root")
	}
	for _, tool := range []string{"ip", "dnsmasq", "busybox", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (iproute2, dnsmasq-base, busybox-static, nftables)", tool)
		}
	}
}

func testEngines(t testing.TB) *engines.Registry {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "sov.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, err := engines.New(db, engines.CloudID(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engines.KillMarked(engines.CloudID(dir)) })
	return r
}

func tag() string {
	var b [2]byte
	rand.Read(b[:])
	return fmt.Sprintf("%02x%02x", b[0], b[1])
}

// guest is a stand-in for a VM: a namespace with a veth whose host end
// is a port's device, which the driver puts on the port's network as it
// puts a VM's tap there.
type guest struct {
	t     testing.TB
	ns    string
	outer string
}

// port is the guest's port on the data plane.
func (g *guest) port() dataplane.Port { return dataplane.Port{ID: g.outer, Device: g.outer} }

func newGuest(t testing.TB, name, mac string) *guest {
	t.Helper()
	g := &guest{t: t, ns: "sovtg-" + name, outer: "tg" + name}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(g.outer); err == nil {
			netlink.LinkDel(l)
		}
		netns.DeleteNamed(g.ns)
	})
	g.run(false, "ip", "netns", "add", g.ns)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: g.outer}, PeerName: "tgpeer" + name}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	g.run(false, "ip", "link", "set", "tgpeer"+name, "netns", g.ns, "name", "eth0", "address", mac)
	g.in(true, "ip", "link", "set", "eth0", "up")
	g.in(true, "ip", "link", "set", "lo", "up")
	return g
}

func (g *guest) run(wantFail bool, args ...string) (string, error) {
	g.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil && !wantFail {
		g.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), err
}

// in runs a command in the guest's namespace.
func (g *guest) in(mustWork bool, args ...string) (string, error) {
	g.t.Helper()
	return g.run(!mustWork, append([]string{"ip", "netns", "exec", g.ns}, args...)...)
}

// dhcp asks for a lease with busybox's udhcpc and returns what it was
// offered ("" when nothing answered): address, router and DNS servers.
func (g *guest) dhcp() string {
	g.t.Helper()
	dir := g.t.TempDir()
	script := filepath.Join(dir, "script")
	out := filepath.Join(dir, "lease")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip $router $dns\" > "+out+"\nexit 0\n"), 0o700)
	g.in(false, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "4", "-T", "1", "-s", script)
	b, _ := os.ReadFile(out)
	return strings.TrimSpace(string(b))
}

// metadata is what the metadata service answers the guest at /.
func (g *guest) metadata() string {
	out, _ := g.in(false, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 169.254.169.254 80")
	if i := strings.Index(out, "\r\n\r\n"); i >= 0 {
		return strings.TrimSpace(out[i+4:])
	}
	return ""
}

// metadataStub answers each metadata request with the network (or
// "router" and the router) and the client's address.
type metadataStub struct{}

func (metadataStub) ServeMetadata(network string, l net.Listener) {
	http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprint(w, network+" "+host)
	}))
}

func (metadataStub) ServeRouterMetadata(router string, l net.Listener) {
	metadataStub{}.ServeMetadata("router "+router, l)
}

// lookup asks the DNS server for name with busybox's nslookup.
func (g *guest) lookup(name, server string) string {
	out, _ := g.in(false, "busybox", "nslookup", name, server)
	return out
}

func (g *guest) ping(addr string) bool {
	_, err := g.in(false, "busybox", "ping", "-c", "1", "-W", "1", addr)
	return err == nil
}

func state(id string, segment int, dhcpMAC string, ports []dataplane.Port, hosts ...dataplane.Host) *dataplane.Network {
	return &dataplane.Network{ID: id, Segment: segment, Zone: segment, MTU: 1500, Ports: ports,
		DHCP: &dataplane.Endpoint{MAC: dhcpMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("10.60.0.2/24")}},
		Subnets: []dataplane.Subnet{{CIDR: netip.MustParsePrefix("10.60.0.0/24"), Gateway: netip.MustParseAddr("10.60.0.1"), DHCP: true,
			DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}},
		Hosts: hosts}
}

func host(mac, ip string) dataplane.Host {
	return dataplane.Host{MAC: mac, Addrs: []netip.Addr{netip.MustParseAddr(ip)}}
}

// TestNetworksAreSeparateL2Domains: two networks with one CIDR, each with
// its own DHCP server; a guest gets its reservation from its own network's
// server only, reaches its network's hosts and none of the other's; a new
// reservation is served without a restart; each network's DNS answers its
// own hosts' names only; a restarted driver adopts the servers; Prune and
// RemoveNetwork leave nothing behind.
func TestNetworksAreSeparateL2Domains(t *testing.T) {
	requireRoot(t)
	id := tag()
	dir := t.TempDir()
	eng := testEngines(t)
	meta := metadataStub{}
	d, err := linux.Open(dir, eng, meta)
	if err != nil {
		t.Fatal(err)
	}
	netA, netB := id+"aaaa-0000-0000-0000-000000000000", id+"bbbb-0000-0000-0000-000000000000"
	t.Cleanup(func() { d.Prune(ctx, nil, nil) })
	a1, a2, b1 := "fa:16:3e:aa:00:10", "fa:16:3e:aa:00:11", "fa:16:3e:bb:00:20"
	ga1 := newGuest(t, id+"a", a1)
	ga2 := newGuest(t, id+"b", a2)
	gb1 := newGuest(t, id+"c", b1)
	// A port whose device is missing gets a tap, as a VM's does before its QEMU starts.
	tap := dataplane.Port{ID: "tap-port", Device: "tp" + id}
	portsA := []dataplane.Port{ga1.port(), ga2.port(), tap}
	if err := d.SetNetwork(ctx, state(netA, 10, "fa:16:3e:aa:00:02", portsA, host(a1, "10.60.0.10"))); err != nil {
		t.Fatal(err)
	}
	if err := d.SetNetwork(ctx, state(netB, 11, "fa:16:3e:bb:00:02", []dataplane.Port{gb1.port()}, host(b1, "10.60.0.20"))); err != nil {
		t.Fatal(err)
	}
	if l, err := netlink.LinkByName(tap.Device); err != nil || l.Type() != "tuntap" || l.Attrs().MasterIndex == 0 {
		t.Fatalf("the port without a device: %v, %v", l, err)
	}
	if got := ga1.dhcp(); got != "10.60.0.10 10.60.0.1 192.0.2.53" {
		t.Fatalf("guest a1's lease: %q", got)
	}
	if got := gb1.dhcp(); got != "10.60.0.20 10.60.0.1 192.0.2.53" {
		t.Fatalf("guest b1's lease: %q", got)
	}
	if got := ga2.dhcp(); got != "" {
		t.Fatalf("guest a2 has no reservation yet but got %q", got)
	}
	ga1.in(true, "ip", "addr", "add", "10.60.0.10/24", "dev", "eth0")
	gb1.in(true, "ip", "addr", "add", "10.60.0.20/24", "dev", "eth0")
	ga2.in(true, "ip", "addr", "add", "10.60.0.11/24", "dev", "eth0")
	if !ga1.ping("10.60.0.2") || !ga1.ping("10.60.0.11") {
		t.Error("a guest does not reach its own network")
	}
	if ga1.ping("10.60.0.20") || gb1.ping("10.60.0.10") || gb1.ping("10.60.0.11") {
		t.Error("a guest reaches a host of the other network")
	}
	// The metadata service of each network answers there, behind its DHCP port.
	for g, want := range map[*guest]string{ga1: netA + " 10.60.0.10", gb1: netB + " 10.60.0.20"} {
		g.in(true, "ip", "route", "add", "169.254.169.254", "via", "10.60.0.2")
		if got := g.metadata(); got != want {
			t.Errorf("the metadata service answers %q, want %q", got, want)
		}
	}

	// A reservation added later is served by the running server.
	pid, _ := eng.Running(ctx, "dnsmasq", netA)
	ga2.in(true, "ip", "addr", "flush", "dev", "eth0")
	if err := d.SetNetwork(ctx, state(netA, 10, "fa:16:3e:aa:00:02", portsA, host(a1, "10.60.0.10"), host(a2, "10.60.0.11"))); err != nil {
		t.Fatal(err)
	}
	if got := ga2.dhcp(); got != "10.60.0.11 10.60.0.1 192.0.2.53" {
		t.Errorf("guest a2's lease after the reservation: %q", got)
	}
	// Each network's DNS server (on its DHCP port) answers its own hosts'
	// names in the network's domain, and no other network's.
	named := host(a2, "10.60.0.11")
	named.Hostname = "vm-a2"
	if err := d.SetNetwork(ctx, state(netA, 10, "fa:16:3e:aa:00:02", portsA, host(a1, "10.60.0.10"), named)); err != nil {
		t.Fatal(err)
	}
	if got := ga1.lookup("vm-a2.openstacklocal", "10.60.0.2"); !strings.Contains(got, "10.60.0.11") {
		t.Errorf("network A's DNS does not know vm-a2: %s", got)
	}
	if got := gb1.lookup("vm-a2.openstacklocal", "10.60.0.2"); strings.Contains(got, "10.60.0.11") {
		t.Errorf("network B's DNS knows A's host: %s", got)
	}
	// A subnet without DNS servers of its own offers the network's.
	noDNS := state(netB, 11, "fa:16:3e:bb:00:02", []dataplane.Port{gb1.port()}, host(b1, "10.60.0.20"))
	noDNS.Subnets[0].DNS = nil
	if err := d.SetNetwork(ctx, noDNS); err != nil {
		t.Fatal(err)
	}
	gb1.in(true, "ip", "addr", "flush", "dev", "eth0")
	if got := gb1.dhcp(); got != "10.60.0.20 10.60.0.1 10.60.0.2" {
		t.Errorf("guest b1's lease on a subnet without DNS servers: %q", got)
	}
	gb1.in(true, "ip", "addr", "add", "10.60.0.20/24", "dev", "eth0")
	// A new driver (sov restarted) adopts the running servers.
	d.Close() // as sov stops: its metadata listeners close
	d2, err := linux.Open(dir, eng, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.SetNetwork(ctx, state(netA, 10, "fa:16:3e:aa:00:02", portsA, host(a1, "10.60.0.10"), named)); err != nil {
		t.Fatal(err)
	}
	if now, ok := eng.Running(ctx, "dnsmasq", netA); !ok || now != pid {
		t.Errorf("dnsmasq %d after the restart, was %d", now, pid)
	}
	if got := ga1.metadata(); got != netA+" 10.60.0.10" {
		t.Errorf("the metadata service after the restart answers %q", got)
	}
	// A port that goes takes its device with it.
	if err := d2.SetNetwork(ctx, state(netA, 10, "fa:16:3e:aa:00:02", portsA[:2], host(a1, "10.60.0.10"), named)); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(tap.Device); err == nil {
		t.Error("the device of a port that went is still there")
	}
	if !ga1.ping("10.60.0.2") {
		t.Error("the ports that stay lost their network")
	}

	// Prune keeps A, removes B: its server, namespace and veth.
	if err := d2.Prune(ctx, []string{netA}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := eng.Running(ctx, "dnsmasq", netB); ok {
		t.Error("B's dnsmasq survived Prune")
	}
	if _, ok := eng.Running(ctx, "dnsmasq", netA); !ok {
		t.Error("A's dnsmasq went with Prune")
	}
	if err := d2.RemoveNetwork(ctx, netA); err != nil {
		t.Fatal(err)
	}
	if err := d2.RemoveNetwork(ctx, netA); err != nil {
		t.Errorf("removing a gone network: %v", err)
	}
	if left := leftovers(t, id); left != "" {
		t.Errorf("left on the host: %s", left)
	}
}

// leftovers lists the namespaces and links of this test's networks
// (not its guests) still on the host.
func leftovers(t *testing.T, id string) string {
	var left []string
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "sovd-") && strings.Contains(e.Name(), id) {
			left = append(left, e.Name())
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if n := l.Attrs().Name; (strings.HasPrefix(n, "sd") || strings.HasPrefix(n, "sn") || strings.HasPrefix(n, "t")) && strings.Contains(n, id) {
			left = append(left, n)
		}
	}
	return strings.Join(left, " ")
}
