package linux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/sovcloud/sov/internal/network/dataplane"
)

// Names on the host: a network's bridge, its DHCP namespace, the veth end
// on the bridge (interface names have at most 15 bytes) and the one inside.
const (
	nsPrefix   = "sovd-"
	dhcpInside = "dhcp0"
	engineKind = "dnsmasq"
)

func short(id string) string {
	s := strings.ReplaceAll(id, "-", "")
	if len(s) > 11 {
		s = s[:11]
	}
	return s
}

func nsName(id string) string     { return nsPrefix + short(id) }
func hostVeth(id string) string   { return "sd" + short(id) }
func bridgeName(id string) string { return "sn" + short(id) }

// SetNetwork makes the network's bridge with its ports' devices and
// their filters (filter.go) and, with DHCP, its DHCP
// namespace, a veth on the bridge with the DHCP port's MAC and addresses,
// and a dnsmasq in it with the network's reservations; a running one
// rereads them. Without DHCP the namespace and dnsmasq go.
func (d *Driver) SetNetwork(ctx context.Context, n *dataplane.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dir := filepath.Join(d.dir, n.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil { // first: what is on the host is named here
		return err
	}
	br, err := ensureBridge(n.ID, n.MTU)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMTU(br, n.MTU); err != nil {
		return err
	}
	if err := setPorts(dir, n); err != nil {
		return err
	}
	if err := hostGateway(br, n); err != nil {
		return err
	}
	if err := setFilter(ctx, n); err != nil {
		return err
	}
	if n.DHCP == nil {
		return d.removeDHCP(ctx, n.ID)
	}
	ns := nsName(n.ID)
	addrs := append(slices.Clone(n.DHCP.Addrs), netip.PrefixFrom(MetadataAddr, 32))
	err = namespace(ns, func(nsh netns.NsHandle, h *netlink.Handle) error {
		if err := endpoint(nsh, h, hostVeth(n.ID), dhcpInside, n.ID, n.DHCP.MAC, n.MTU, addrs); err != nil {
			return err
		}
		return dhcpDefaultRoute(h, n)
	})
	if err != nil {
		return err
	}
	if err := d.listenMetadata(n.ID, ns); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "hosts"), hostsFile(n)); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "names"), namesFile(n)); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "opts"), optsFile(n)); err != nil {
		return err
	}
	args := dnsmasqArgs(n, dir)
	argsFile := filepath.Join(dir, "args")
	old, _ := os.ReadFile(argsFile)
	pid, running := d.engines.Running(ctx, engineKind, n.ID)
	if running && string(old) == strings.Join(args, "\n") {
		return syscall.Kill(pid, syscall.SIGHUP) // rereads hosts and opts
	}
	if running {
		if err := d.engines.Stop(ctx, engineKind, n.ID, 5*time.Second); err != nil {
			return err
		}
	}
	if err := writeFile(argsFile, strings.Join(args, "\n")); err != nil {
		return err
	}
	return d.startDHCP(ctx, n.ID, ns, dir, args)
}

func writeFile(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// hostsFile is dnsmasq's dhcp-hostsfile: per MAC a line with its IPv4
// address (dnsmasq gives one per MAC and family) and one with its address
// on a DHCPv6-stateful subnet, each with the address's host name.
func hostsFile(n *dataplane.Network) string {
	var lines []string
	for _, h := range n.Hosts {
		var v4, v6 bool
		for _, a := range h.Addrs {
			switch {
			case a.Is4() && !v4:
				v4 = true
				lines = append(lines, h.MAC+","+a.String()+","+h.HostName(a))
			case a.Is6() && !v6 && statefulSubnet(n, a):
				v6 = true
				lines = append(lines, h.MAC+",["+a.String()+"],"+h.HostName(a))
			}
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// dhcpDefaultRoute routes the DHCP namespace (its DNS server's queries
// to the host's resolvers) via the gateway of the network's first IPv4
// subnet with DHCP, as Neutron's DHCP agent does; none without one.
func dhcpDefaultRoute(h *netlink.Handle, n *dataplane.Network) error {
	var gw netip.Addr
	for _, sn := range n.Subnets {
		if sn.DHCP && sn.CIDR.Addr().Is4() && sn.Gateway.IsValid() {
			gw = sn.Gateway
			break
		}
	}
	def := &netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}}
	if !gw.IsValid() {
		if err := h.RouteDel(def); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("linux: DHCP namespace default route: %w", err)
		}
		return nil
	}
	def.Gw = gw.AsSlice()
	if err := h.RouteReplace(def); err != nil {
		return fmt.Errorf("linux: DHCP namespace default route via %s: %w", gw, err)
	}
	return nil
}

// domain is the DNS domain of a network's hosts.
func domain(n *dataplane.Network) string {
	if n.Domain == "" {
		return "openstacklocal"
	}
	return n.Domain
}

// namesFile is dnsmasq's addn-hosts: every address of the network's
// hosts with its name in the network's domain, which its DNS answers.
func namesFile(n *dataplane.Network) string {
	var lines []string
	for _, h := range n.Hosts {
		for _, a := range h.Addrs {
			name := h.HostName(a)
			lines = append(lines, a.String()+" "+name+"."+domain(n)+" "+name)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// statefulSubnet tells whether a is in a subnet of n whose addresses
// DHCPv6 gives.
func statefulSubnet(n *dataplane.Network, a netip.Addr) bool {
	for _, sn := range n.Subnets {
		if sn.DHCP && sn.AddressMode == dataplane.IPv6Stateful && sn.CIDR.Contains(a) {
			return true
		}
	}
	return false
}

// dhcp6 tells whether dnsmasq answers DHCPv6 on the subnet: addresses
// (stateful) or only the other settings (stateless).
func dhcp6(sn dataplane.Subnet) bool {
	return sn.DHCP && sn.CIDR.Addr().Is6() && (sn.AddressMode == dataplane.IPv6Stateful || sn.AddressMode == dataplane.IPv6Stateless)
}

// optsFile is dnsmasq's dhcp-optsfile: per subnet (tag sN) its router,
// DNS servers and routes; per DHCPv6 subnet its DNS servers.
func optsFile(n *dataplane.Network) string {
	var lines []string
	for i, sn := range n.Subnets {
		tag := "tag:s" + strconv.Itoa(i) + ","
		var dns []string
		servers := sn.DNS
		if len(servers) == 0 { // the network's own DNS, on the DHCP port
			for _, a := range n.DHCP.Addrs {
				if sn.CIDR.Contains(a.Addr()) {
					servers = []netip.Addr{a.Addr()}
				}
			}
		}
		for _, a := range servers {
			if sn.CIDR.Addr().Is6() {
				dns = append(dns, "["+a.String()+"]")
			} else {
				dns = append(dns, a.String())
			}
		}
		if dhcp6(sn) && len(dns) > 0 {
			lines = append(lines, tag+"option6:dns-server,"+strings.Join(dns, ","))
		}
		if !sn.DHCP || !sn.CIDR.Addr().Is4() {
			continue
		}
		if sn.Gateway.IsValid() {
			lines = append(lines, tag+"option:router,"+sn.Gateway.String())
		} else {
			lines = append(lines, tag+"option:router")
		}
		if len(dns) > 0 {
			lines = append(lines, tag+"option:dns-server,"+strings.Join(dns, ","))
		}
		var rs []string
		for _, r := range sn.Routes {
			rs = append(rs, r.Destination.String()+","+r.Nexthop.String())
		}
		// The metadata service is behind the network's DHCP port.
		for _, a := range n.DHCP.Addrs {
			if sn.CIDR.Contains(a.Addr()) {
				rs = append(rs, MetadataAddr.String()+"/32,"+a.Addr().String())
			}
		}
		if len(rs) > 0 {
			if sn.Gateway.IsValid() {
				rs = append(rs, "0.0.0.0/0,"+sn.Gateway.String()) // classless routes replace the router option
			}
			lines = append(lines, tag+"option:classless-static-route,"+strings.Join(rs, ","))
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// dnsmasqArgs runs dnsmasq for the network's IPv4 DHCP subnets and its
// DHCPv6 ones, static leases only, no router advertisements (routers send
// those, as in Neutron), and as the network's DNS server: the hosts'
// names in the network's domain, other names forwarded to the host's
// resolvers (through the network's router).
func dnsmasqArgs(n *dataplane.Network, dir string) []string {
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--interface=" + dhcpInside, "--bind-interfaces",
		"--except-interface=lo", "--no-hosts", "--addn-hosts=" + filepath.Join(dir, "names"), "--domain=" + domain(n), "--local=/" + domain(n) + "/",
		"--domain-needed", "--bogus-priv", "--dhcp-hostsfile=" + filepath.Join(dir, "hosts"), "--dhcp-optsfile=" + filepath.Join(dir, "opts"),
		"--dhcp-leasefile=" + filepath.Join(dir, "leases"), "--pid-file=" + filepath.Join(dir, "dnsmasq.pid"), "--log-dhcp",
		"--log-facility=" + filepath.Join(dir, "dnsmasq.log"), "--dhcp-authoritative", "--user=root"}
	for i, sn := range n.Subnets {
		switch {
		case sn.DHCP && sn.CIDR.Addr().Is4():
			mask := net.IP(net.CIDRMask(sn.CIDR.Bits(), 32)).String()
			args = append(args, fmt.Sprintf("--dhcp-range=set:s%d,%s,static,%s,12h", i, sn.CIDR.Masked().Addr(), mask))
		case dhcp6(sn):
			args = append(args, fmt.Sprintf("--dhcp-range=set:s%d,%s,static,%d,12h", i, sn.CIDR.Masked().Addr(), sn.CIDR.Bits()))
		}
	}
	return args
}

// startDHCP runs dnsmasq in the namespace.
func (d *Driver) startDHCP(ctx context.Context, id, ns, dir string, args []string) error {
	return d.startEngine(ctx, engineKind, id, ns, filepath.Join(dir, "dnsmasq.pid"), filepath.Join(dir, "dnsmasq.log"), append([]string{"dnsmasq"}, args...))
}

// startEngine runs an engine (dnsmasq, radvd) of kind for the object id
// in the namespace (`ip netns exec` execs it, so the recorded pid is the
// engine's) and waits until it wrote its pid file, from when it handles
// SIGHUP. The engine's log tells why one exited at start.
func (d *Driver) startEngine(ctx context.Context, kind, id, ns, pidFile, logFile string, argv []string) error {
	os.Remove(pidFile)
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	if err := d.engines.Start(ctx, kind, id, cmd); err != nil {
		return fmt.Errorf("linux: start %s: %w", argv[0], err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pid, err := os.ReadFile(pidFile); err == nil && strings.TrimSpace(string(pid)) == strconv.Itoa(cmd.Process.Pid) {
			return nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			return fmt.Errorf("linux: %s exited at start: %s", argv[0], log)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return fmt.Errorf("linux: %s did not start within 10s", argv[0])
		}
	}
}

// removeDHCP stops the network's dnsmasq and metadata service and removes
// its namespace and veth.
func (d *Driver) removeDHCP(ctx context.Context, id string) error {
	d.closeMetadata(id)
	err := d.engines.Stop(ctx, engineKind, id, 5*time.Second)
	if link, lerr := netlink.LinkByName(hostVeth(id)); lerr == nil {
		err = errors.Join(err, netlink.LinkDel(link))
	}
	return errors.Join(err, removeNamespace(nsName(id)))
}

// removeHostObjects removes a network's filter tables, port devices,
// veth, namespace and bridge; dir is the network's state directory.
func removeHostObjects(ctx context.Context, dir, id string) error {
	errs := []error{removeFilter(ctx, id)}
	for _, name := range append(readDevices(dir), hostVeth(id), bridgeName(id)) {
		errs = append(errs, removeLink(name))
	}
	return errors.Join(append(errs, removeNamespace(nsName(id)))...)
}

// RemoveNetwork stops the network's dnsmasq and removes its namespace,
// veth, bridge and files.
func (d *Driver) RemoveNetwork(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closeMetadata(id)
	err := d.engines.Stop(ctx, engineKind, id, 5*time.Second)
	dir := filepath.Join(d.dir, id)
	return errors.Join(err, removeHostObjects(ctx, dir, id), os.RemoveAll(dir))
}

// Prune removes the networks and routers not in keep: what a crash
// between the store and the host left behind.
func (d *Driver) Prune(ctx context.Context, networks, routers []string) error {
	var errs []error
	for _, id := range d.stateDirs(routersDir) {
		if !slices.Contains(routers, id) {
			errs = append(errs, d.RemoveRouter(ctx, id))
		}
	}
	for _, id := range d.stateDirs("") {
		if !slices.Contains(networks, id) {
			errs = append(errs, d.RemoveNetwork(ctx, id))
		}
	}
	return errors.Join(errs...)
}

// stateDirs are the ids with a state directory under sub ("" for networks).
func (d *Driver) stateDirs(sub string) []string {
	entries, _ := os.ReadDir(filepath.Join(d.dir, sub))
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != routersDir {
			out = append(out, e.Name())
		}
	}
	return out
}
