package linux_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/network/linux"
)

// serveSource serves, on port 80 of the guest, the address each client
// comes from (busybox httpd with a CGI script).
func (g *guest) serveSource() {
	g.t.Helper()
	dir := g.t.TempDir()
	os.MkdirAll(filepath.Join(dir, "cgi-bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "cgi-bin", "ip"), []byte("#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"from=$REMOTE_ADDR\"\n"), 0o755)
	cmd := exec.Command("ip", "netns", "exec", g.ns, "busybox", "httpd", "-f", "-p", "80", "-h", dir)
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	g.waitListening(80)
}

// source asks addr's source server where the guest comes from.
func (g *guest) source(addr string) string {
	out, _ := g.in(false, "sh", "-c", "printf 'GET /cgi-bin/ip HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 "+addr+" 80")
	if i := strings.Index(out, "from="); i >= 0 {
		return strings.TrimPrefix(strings.Trim(strings.TrimSpace(out[i+5:]), "[]"), "::ffff:")
	}
	return ""
}

// routerLab is a router joining a tenant network (guests a and b, a
// with port 80 open) to an external network (guest out), of this run's
// own addresses: host-local, or bridged to an uplink (out's veth, out
// holding the upstream gateway's address).
type routerLab struct {
	d                         *linux.Driver
	id, ext                   string // ext: the external /24 without its last byte
	extID, tenantID, routerID string
	a, b, out                 *guest
}

func newRouterLab(t testing.TB, uplink bool) *routerLab {
	requireRoot(t)
	id := tag()
	d, err := linux.Open(t.TempDir(), testEngines(t), metadataStub{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); d.Prune(ctx, nil, nil) })
	var b [1]byte
	fmt.Sscanf(id[:2], "%02x", &b[0])
	l := &routerLab{d: d, id: id, ext: fmt.Sprintf("10.61.%d", b[0]), // the host takes its .1
		extID: id + "eeee-0000-0000-0000-000000000000", tenantID: id + "ffff-0000-0000-0000-000000000000", routerID: id + "9999-0000-0000-0000-000000000000"}
	macA, macB, macO := "fa:16:3e:dd:00:0a", "fa:16:3e:dd:00:0b", "fa:16:3e:dd:00:0c"
	l.a, l.b, l.out = newGuest(t, id+"a", macA), newGuest(t, id+"b", macB), newGuest(t, id+"o", macO)
	for g, ip := range map[*guest]string{l.a: "10.62.0.10/24", l.b: "10.62.0.11/24"} {
		g.in(true, "ip", "addr", "add", ip, "dev", "eth0")
		g.in(true, "ip", "route", "add", "default", "via", "10.62.0.1")
	}
	l.out.in(true, "ip", "addr", "add", l.ext+".50/24", "dev", "eth0")
	extNet := l.external(uplink)
	if uplink {
		l.out.in(true, "ip", "addr", "add", l.ext+".1/24", "dev", "eth0")
	}
	web := dataplane.Rule{Ingress: true, Protocol: "tcp", PortMin: 80, PortMax: 80, Remote: netip.MustParsePrefix("0.0.0.0/0")}
	bulk := dataplane.Rule{Ingress: true, Protocol: "tcp", PortMin: 5001, PortMax: 5001}
	tenant := &dataplane.Network{ID: l.tenantID, Segment: 40, Zone: 40, MTU: 1500,
		Subnets: []dataplane.Subnet{{CIDR: netip.MustParsePrefix("10.62.0.0/24"), Gateway: netip.MustParseAddr("10.62.0.1")}},
		Ports:   []dataplane.Port{secured(l.a, macA, "10.62.0.10", egressAll, web, bulk), secured(l.b, macB, "10.62.0.11", egressAll)}}
	for _, n := range []*dataplane.Network{extNet, tenant} {
		if err := d.SetNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// external is the lab's external network: host-local with out as a port,
// or bridged to out's veth as its uplink.
func (l *routerLab) external(uplink bool) *dataplane.Network {
	n := &dataplane.Network{ID: l.extID, Segment: 0, Zone: 4100, MTU: 1500, External: true,
		Subnets: []dataplane.Subnet{{CIDR: netip.MustParsePrefix(l.ext + ".0/24"), Gateway: netip.MustParseAddr(l.ext + ".1")}},
		Ports:   []dataplane.Port{l.out.port()}}
	if uplink {
		n.Ports, n.Uplink = nil, l.out.outer
	}
	return n
}

// router is the lab's router with the floating IPs given.
func (l *routerLab) router(floating ...dataplane.FloatingIP) *dataplane.Router {
	return &dataplane.Router{ID: l.routerID, SNAT: true, NextHop: netip.MustParseAddr(l.ext + ".1"), Floating: floating,
		Gateway: &dataplane.RouterPort{ID: l.id + "77-gw", Network: l.extID, MAC: "fa:16:3e:dd:00:f0", MTU: 1500,
			Addrs: []netip.Prefix{netip.MustParsePrefix(l.ext + ".5/24")}, Subnets: []netip.Prefix{netip.MustParsePrefix(l.ext + ".0/24")}},
		Interfaces: []dataplane.RouterPort{{ID: l.id + "77-if", Network: l.tenantID, MAC: "fa:16:3e:dd:00:f1", MTU: 1500,
			Addrs: []netip.Prefix{netip.MustParsePrefix("10.62.0.1/24")}, Subnets: []netip.Prefix{netip.MustParsePrefix("10.62.0.0/24")}}}}
}

// TestRoutersOnTheWire: a router joins a tenant network to a host-local
// external network; a floating IP answers from outside (a namespace on the
// external network) and from the host, its server goes out as the
// floating IP, another server as the router's gateway address (SNAT);
// the router serves the metadata service to its interfaces and not to the
// external network; without the floating IP nothing comes in; removing
// the router and its networks leaves nothing.
func TestRoutersOnTheWire(t *testing.T) {
	l := newRouterLab(t, false)
	d, id, ext, a, bg, out := l.d, l.id, l.ext, l.a, l.b, l.out
	extID, tenantID, routerID, router := l.extID, l.tenantID, l.routerID, l.router
	fip := dataplane.FloatingIP{Address: netip.MustParseAddr(ext + ".20"), Fixed: netip.MustParseAddr("10.62.0.10")}
	if err := d.SetRouter(ctx, router(fip)); err != nil {
		t.Fatal(err)
	}
	a.serve(80)
	out.serveSource()

	if !out.reaches(ext+".20", 80) {
		t.Error("the floating IP does not answer from the external network")
	}
	if got, err := exec.Command("sh", "-c", "echo | busybox nc -w 2 "+ext+".20 80").CombinedOutput(); !strings.Contains(string(got), "hello-") {
		t.Errorf("the floating IP does not answer from the host: %q %v", got, err)
	}
	if got := a.source(ext + ".50"); got != ext+".20" {
		t.Errorf("the server with the floating IP goes out as %q, want %s.20", got, ext)
	}
	if got := bg.source(ext + ".50"); got != ext+".5" {
		t.Errorf("the server without a floating IP goes out as %q, want the router's %s.5", got, ext)
	}
	if out.reaches("10.62.0.10", 80) {
		t.Error("the external network reaches a fixed address")
	}
	// The metadata service through the router (a has no DHCP route to
	// it): for its interfaces' subnets only, not for the external network.
	if got := a.metadata(); got != "router "+routerID+" 10.62.0.10" {
		t.Errorf("the router's metadata service answers a with %q", got)
	}
	out.in(true, "ip", "route", "add", linux.MetadataAddr.String(), "via", ext+".5")
	if got := out.metadata(); got != "" {
		t.Errorf("the router's metadata service answers the external network: %q", got)
	}

	// Without the floating IP nothing comes in; its server goes out by SNAT.
	if err := d.SetRouter(ctx, router()); err != nil {
		t.Fatal(err)
	}
	if out.reaches(ext+".20", 80) {
		t.Error("a floating IP that went still answers")
	}
	if got := a.source(ext + ".50"); got != ext+".5" {
		t.Errorf("after its floating IP went the server goes out as %q", got)
	}

	if err := d.RemoveRouter(ctx, routerID); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveRouter(ctx, routerID); err != nil {
		t.Errorf("removing a gone router: %v", err)
	}
	for _, n := range []string{extID, tenantID} {
		if err := d.RemoveNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if left := leftovers(t, id); left != "" {
		t.Errorf("left on the host: %s", left)
	}
	if _, err := os.Stat("/run/netns/sovr-" + strings.ReplaceAll(routerID, "-", "")[:11]); err == nil {
		t.Error("the router's namespace is left")
	}
}

// TestExternalUplinkOnTheWire: an external network bridged to a host
// interface (the uplink; here a veth whose far end is the outside, holding
// the real gateway's address) instead of host-local: the host takes no
// address on it and masquerades nothing; a floating IP answers the
// outside, servers go out as their floating IP or the router's address;
// removing the network leaves the uplink, off the bridge.
func TestExternalUplinkOnTheWire(t *testing.T) {
	l := newRouterLab(t, true)
	fip := l.ext + ".20"
	if err := l.d.SetRouter(ctx, l.router(dataplane.FloatingIP{Address: netip.MustParseAddr(fip), Fixed: netip.MustParseAddr("10.62.0.10")})); err != nil {
		t.Fatal(err)
	}
	l.a.serve(80)
	l.out.serveSource()
	if !l.out.reaches(fip, 80) {
		t.Error("the floating IP does not answer from the outside")
	}
	if got := l.a.source(l.ext + ".50"); got != fip {
		t.Errorf("the server with the floating IP goes out as %q, want %s", got, fip)
	}
	if got := l.b.source(l.ext + ".50"); got != l.ext+".5" {
		t.Errorf("the server without a floating IP goes out as %q, want the router's %s.5", got, l.ext)
	}
	br, err := netlink.LinkByName("sn" + strings.ReplaceAll(l.extID, "-", "")[:11])
	if err != nil {
		t.Fatal(err)
	}
	if addrs, _ := netlink.AddrList(br, netlink.FAMILY_V4); len(addrs) != 0 {
		t.Errorf("the host has addresses on the bridged external network: %v", addrs)
	}
	if table, _ := exec.Command("nft", "list", "table", "inet", "sovn_"+strings.ReplaceAll(l.extID, "-", "")[:11]).CombinedOutput(); strings.Contains(string(table), "masquerade") {
		t.Errorf("the host masquerades a bridged external network:\n%s", table)
	}
	uplink, _ := netlink.LinkByName(l.out.outer)
	if uplink == nil || uplink.Attrs().MasterIndex != br.Attrs().Index {
		t.Errorf("the uplink is not on the external network's bridge: %+v", uplink)
	}

	if err := l.d.RemoveRouter(ctx, l.routerID); err != nil {
		t.Fatal(err)
	}
	if err := l.d.RemoveNetwork(ctx, l.extID); err != nil {
		t.Fatal(err)
	}
	if uplink, err := netlink.LinkByName(l.out.outer); err != nil || uplink.Attrs().MasterIndex != 0 {
		t.Errorf("the uplink after its network went: %+v %v", uplink, err)
	}
}
