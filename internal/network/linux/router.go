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
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/sovcloud/sov/internal/network/dataplane"
)

// A router is a network namespace (sovr-<id>) that forwards between its
// ports: an interface (qr-<port>) on each of its networks and a gateway
// (qg-<port>) on an external one, veths whose other ends (rq-/rg-<port>)
// are on the networks' bridges. Its nftables table does SNAT of the
// interfaces' subnets to the gateway's address and, for each floating
// IP, DNAT to the fixed address and SNAT back; the floating addresses sit
// on the gateway, so the external network finds them there.

const routersDir = "routers"

func routerNS(id string) string       { return "sovr-" + short(id) }
func inside(kind, port string) string { return kind + "-" + short(port) }
func outside(kind, port string) string {
	return map[string]string{"qr": "rq", "qg": "rg"}[kind] + "-" + short(port)
}

// SetRouter makes the router's namespace, ports, routes and NAT.
func (d *Driver) SetRouter(ctx context.Context, r *dataplane.Router) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dir := filepath.Join(d.dir, routersDir, r.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil { // first: what is on the host is named here
		return err
	}
	type link struct {
		kind string
		p    dataplane.RouterPort
	}
	var links []link
	for _, p := range r.Interfaces {
		links = append(links, link{"qr", p})
	}
	if r.Gateway != nil {
		links = append(links, link{"qg", *r.Gateway})
	}
	var devices []string
	for _, l := range links {
		devices = append(devices, outside(l.kind, l.p.ID))
	}
	ns := routerNS(r.ID)
	err := setDevices(dir, devices, func() error {
		return namespace(ns, func(nsh netns.NsHandle, h *netlink.Handle) error {
			for _, l := range links {
				addrs := slices.Clone(l.p.Addrs)
				if l.kind == "qg" {
					for _, f := range r.Floating {
						addrs = append(addrs, netip.PrefixFrom(f.Address, f.Address.BitLen()))
					}
				}
				if err := endpoint(nsh, h, outside(l.kind, l.p.ID), inside(l.kind, l.p.ID), l.p.Network, l.p.MAC, l.p.MTU, addrs); err != nil {
					return err
				}
			}
			if err := metadataOnLoopback(h); err != nil {
				return err
			}
			return setRoutes(h, r)
		})
	})
	if err != nil {
		return err
	}
	if err := d.listenRouterMetadata(r.ID, ns); err != nil {
		return err
	}
	if err := inNamespace(ctx, ns, nil, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"); err != nil {
		return err
	}
	if err := inNamespace(ctx, ns, strings.NewReader(natRuleset(r)), "nft", "-f", "-"); err != nil {
		return err
	}
	return d.setRadvd(ctx, r, ns, dir)
}

// setRoutes gives the router its default route (via the external
// network's gateway) and static routes, and removes other gateway routes.
func setRoutes(h *netlink.Handle, r *dataplane.Router) error {
	var want []dataplane.HostRoute
	if r.Gateway != nil && r.NextHop.IsValid() {
		want = append(want, dataplane.HostRoute{Destination: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Nexthop: r.NextHop})
	}
	want = append(want, r.Routes...)
	have, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, rt := range have {
		if rt.Gw == nil {
			continue // connected
		}
		dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if rt.Dst != nil {
			dst, _ = netip.ParsePrefix(rt.Dst.String())
		}
		gw, _ := netip.AddrFromSlice(rt.Gw.To4())
		if !slices.Contains(want, dataplane.HostRoute{Destination: dst, Nexthop: gw}) {
			h.RouteDel(&rt)
		}
	}
	for _, rt := range want {
		if !rt.Destination.Addr().Is4() {
			continue
		}
		route := &netlink.Route{Dst: &net.IPNet{IP: rt.Destination.Addr().AsSlice(), Mask: net.CIDRMask(rt.Destination.Bits(), 32)}, Gw: rt.Nexthop.AsSlice()}
		if err := h.RouteReplace(route); err != nil {
			return fmt.Errorf("linux: route %s via %s: %w", rt.Destination, rt.Nexthop, err)
		}
	}
	return nil
}

// metadataOnLoopback puts the metadata service's address on the router's
// loopback, up.
func metadataOnLoopback(h *netlink.Handle) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return err
	}
	return h.AddrReplace(lo, &netlink.Addr{IPNet: &net.IPNet{IP: MetadataAddr.AsSlice(), Mask: net.CIDRMask(32, 32)}})
}

// natRuleset replaces the router's NAT table: floating IPs first (DNAT
// in, SNAT of their fixed address out), then SNAT of the interfaces'
// subnets to the gateway's first address.
func natRuleset(r *dataplane.Router) string {
	var b strings.Builder
	b.WriteString("table ip sovr {}\ndelete table ip sovr\ntable ip sovr {\n")
	// The metadata service only for its interfaces, each only from what
	// routes back through it (no request from the external network, none
	// from one interface with another's addresses).
	fmt.Fprintf(&b, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"+
		"\t\tip daddr %s iifname != \"qr-*\" drop\n\t\tip daddr %s fib saddr . iif oif missing drop\n\t}\n", MetadataAddr, MetadataAddr)
	b.WriteString("\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
	if r.Gateway != nil {
		for _, f := range r.Floating {
			fmt.Fprintf(&b, "\t\tip daddr %s dnat to %s\n", f.Address, f.Fixed)
		}
	}
	b.WriteString("\t}\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	if r.Gateway != nil {
		qg := inside("qg", r.Gateway.ID)
		for _, f := range r.Floating {
			fmt.Fprintf(&b, "\t\toifname %q ip saddr %s snat to %s\n", qg, f.Fixed, f.Address)
		}
		var gw netip.Addr
		for _, a := range r.Gateway.Addrs {
			if a.Addr().Is4() {
				gw = a.Addr()
				break
			}
		}
		var internal []string
		for _, p := range r.Interfaces {
			for _, sn := range p.Subnets {
				if sn.Addr().Is4() {
					internal = append(internal, sn.Masked().String())
				}
			}
		}
		if r.SNAT && gw.IsValid() && len(internal) > 0 {
			fmt.Fprintf(&b, "\t\toifname %q ip saddr %s snat to %s\n", qg, set(internal), gw)
		}
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// inNamespace runs a command in a named namespace.
func inNamespace(ctx context.Context, ns string, stdin *strings.Reader, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("linux: %s in %s: %v: %s", args[0], ns, err, out)
	}
	return nil
}

// RemoveRouter stops the router's radvd and removes its namespace,
// veths and files.
func (d *Driver) RemoveRouter(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closeMetadata(routerKey(id))
	if err := d.engines.Stop(ctx, radvdKind, id, 5*time.Second); err != nil {
		return err
	}
	return removeRouter(filepath.Join(d.dir, routersDir, id), id)
}

func removeRouter(dir, id string) error {
	var errs []error
	for _, name := range readDevices(dir) {
		errs = append(errs, removeLink(name))
	}
	errs = append(errs, removeNamespace(routerNS(id)))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
