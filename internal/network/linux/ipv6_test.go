package linux_test

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/network/linux"
)

// TestIPv6OnTheWire: a router advertises the IPv6 subnets of its
// interfaces as their ipv6_ra_mode says. On a network with a SLAAC subnet
// and a DHCPv6-stateful one, a guest (with port security) takes the SLAAC
// address of its MAC from the advertisements and a default route via the
// router, and its reserved address from the network's dnsmasq over DHCPv6
// (ISC dhclient); a guest on a second network behind the same router
// answers its ping over IPv6; a guest with another MAC on the stateful
// subnet is given no reservation. Removing the router stops its radvd.
func TestIPv6OnTheWire(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("radvd"); err != nil {
		t.Fatal("radvd is required (make test installs it)")
	}
	if _, err := exec.LookPath("dhclient"); err != nil {
		t.Fatal("dhclient is required (isc-dhcp-client; make test installs it)")
	}
	id := tag()
	d, err := linux.Open(t.TempDir(), testEngines(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Prune(ctx, nil, nil) })
	ula := "fd00:" + id // this run's own /32
	slaac := netip.MustParsePrefix(ula + ":1::/64")
	stateful := netip.MustParsePrefix(ula + ":2::/64")
	other := netip.MustParsePrefix(ula + ":3::/64")
	netA, netB, routerID := id+"a6a6-0000-0000-0000-000000000000", id+"b6b6-0000-0000-0000-000000000000", id+"6666-0000-0000-0000-000000000000"
	macA, macB, macX, macDHCP := "fa:16:3e:66:00:0a", "fa:16:3e:66:00:0b", "fa:16:3e:66:00:0c", "fa:16:3e:66:00:02"
	a, b, x := newGuest(t, id+"6a", macA), newGuest(t, id+"6b", macB), newGuest(t, id+"6x", macX)
	eui := func(p netip.Prefix, mac string) netip.Addr { a, _ := dataplane.EUI64(p, mac); return a }
	egress6 := dataplane.Rule{IPv6: true, PortMin: -1, PortMax: -1}
	ping6In := dataplane.Rule{Ingress: true, IPv6: true, Protocol: "ipv6-icmp", PortMin: -1, PortMax: -1}
	port := func(g *guest, mac string, addrs ...netip.Addr) dataplane.Port {
		p := g.port()
		p.MAC, p.Addrs, p.Secured, p.Rules = mac, addrs, true, []dataplane.Rule{egressAll, egress6, ping6In}
		return p
	}
	reserved := netip.MustParseAddr(ula + ":2::10")
	sn := func(cidr netip.Prefix, mode string) dataplane.Subnet {
		return dataplane.Subnet{CIDR: cidr, Gateway: cidr.Addr().Next(), DHCP: true, AddressMode: mode, RAMode: mode,
			DNS: []netip.Addr{netip.MustParseAddr(ula + "::53")}}
	}
	stA := &dataplane.Network{ID: netA, Segment: 66, Zone: 66, MTU: 1500,
		Subnets: []dataplane.Subnet{sn(slaac, dataplane.IPv6SLAAC), sn(stateful, dataplane.IPv6Stateful)},
		DHCP: &dataplane.Endpoint{MAC: macDHCP, Addrs: []netip.Prefix{netip.PrefixFrom(eui(slaac, macDHCP), 64),
			netip.MustParsePrefix(ula + ":2::2/64")}},
		Hosts: []dataplane.Host{{MAC: macA, Addrs: []netip.Addr{eui(slaac, macA), reserved}, Hostname: "guest-a"},
			{MAC: macX, Addrs: []netip.Addr{eui(slaac, macX)}}},
		Ports: []dataplane.Port{port(a, macA, eui(slaac, macA), reserved), port(x, macX, eui(slaac, macX))}}
	stB := &dataplane.Network{ID: netB, Segment: 67, Zone: 67, MTU: 1500,
		Subnets: []dataplane.Subnet{sn(other, dataplane.IPv6SLAAC)},
		Ports:   []dataplane.Port{port(b, macB, eui(other, macB))}}
	for _, n := range []*dataplane.Network{stA, stB} {
		if err := d.SetNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	iface := func(n *dataplane.Network, mac string) dataplane.RouterPort {
		rp := dataplane.RouterPort{ID: id + mac[len(mac)-2:] + "-if", Network: n.ID, MAC: mac, MTU: 1500, Advertise: n.Subnets}
		for _, s := range n.Subnets {
			rp.Addrs = append(rp.Addrs, netip.PrefixFrom(s.Gateway, 64))
			rp.Subnets = append(rp.Subnets, s.CIDR)
		}
		return rp
	}
	router := &dataplane.Router{ID: routerID, Interfaces: []dataplane.RouterPort{iface(stA, "fa:16:3e:66:00:f1"), iface(stB, "fa:16:3e:66:00:f2")}}
	if err := d.SetRouter(ctx, router); err != nil {
		t.Fatal(err)
	}

	// Router advertisements: the SLAAC address of the guest's MAC (none
	// on the stateful subnet, whose prefix is not autonomous) and a
	// default route via the router.
	for _, g := range []*guest{a, b} {
		g.in(true, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1", "net.ipv6.conf.eth0.autoconf=1")
		g.in(true, "ip", "link", "set", "eth0", "down") // solicit again now that the router is there
		g.in(true, "ip", "link", "set", "eth0", "up")
	}
	waitFor := func(g *guest, what string, args ...string) string {
		t.Helper()
		var out string
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			out, _ = g.in(false, args...)
			if strings.Contains(out, what) {
				return out
			}
		}
		t.Fatalf("%s: no %s after 30s:\n%s", strings.Join(args, " "), what, out)
		return ""
	}
	addrs := waitFor(a, eui(slaac, macA).String()+"/64", "ip", "-6", "addr", "show", "dev", "eth0")
	if strings.Contains(addrs, ula+":2:") {
		t.Errorf("a SLAAC address on the DHCPv6-stateful subnet:\n%s", addrs)
	}
	waitFor(a, "default via fe80::", "ip", "-6", "route")
	waitFor(b, eui(other, macB).String()+"/64", "ip", "-6", "addr", "show", "dev", "eth0")

	// DHCPv6: the reservation of the guest's MAC, and nothing for another MAC.
	lease := func(g *guest, secs string) string {
		dir := t.TempDir()
		leases := filepath.Join(dir, "leases")
		g.in(false, "timeout", secs, "dhclient", "-6", "-1", "-lf", leases, "-pf", filepath.Join(dir, "pid"), "-sf", "/bin/true", "eth0")
		l, _ := os.ReadFile(leases)
		return string(l)
	}
	if l := lease(a, "20"); !strings.Contains(l, "iaaddr "+reserved.String()) {
		t.Errorf("DHCPv6 lease of guest a lacks %s:\n%s", reserved, l)
	}
	if l := lease(x, "8"); strings.Contains(l, "iaaddr") {
		t.Errorf("guest x without a reservation was given an address:\n%s", l)
	}

	// Routed between the router's networks over IPv6.
	var ok bool
	for end := time.Now().Add(10 * time.Second); !ok && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		_, err := a.in(false, "busybox", "ping", "-6", "-c", "1", "-W", "1", eui(other, macB).String())
		ok = err == nil
	}
	if !ok {
		t.Errorf("guest a does not reach guest b on the other network over IPv6")
	}

	// Without advertised subnets the router's radvd goes, and with the router.
	radvdProc := func() string {
		matches, _ := filepath.Glob(filepath.Join("/proc", "*", "cmdline"))
		for _, m := range matches {
			b, _ := os.ReadFile(m)
			if strings.HasPrefix(string(b), "radvd") && strings.Contains(string(b), routerID) {
				return m
			}
		}
		return ""
	}
	if radvdProc() == "" {
		t.Fatal("no radvd runs for the router")
	}
	router.Interfaces[1].Advertise = nil
	router.Interfaces[0].Advertise = nil
	if err := d.SetRouter(ctx, router); err != nil {
		t.Fatal(err)
	}
	if p := radvdProc(); p != "" {
		t.Errorf("radvd still runs without advertised subnets: %s", p)
	}
	router.Interfaces[0].Advertise = stA.Subnets
	if err := d.SetRouter(ctx, router); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveRouter(ctx, routerID); err != nil {
		t.Fatal(err)
	}
	if p := radvdProc(); p != "" {
		t.Errorf("radvd still runs after the router went: %s", p)
	}
	for _, n := range []string{netA, netB} {
		if err := d.RemoveNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if left := leftovers(t, id); left != "" {
		t.Errorf("left on the host: %s", left)
	}
}
