package linux

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sovcloud/sov/internal/network/dataplane"
)

// Port filtering, with nftables (driven by nft, one atomic transaction
// per network). Two tables per network, named after it:
//
//   - bridge sovn_<id>: anti-spoofing, stateless, at the port's device: a
//     secured port sends only from its MAC and addresses (and allowed
//     pairs), answers no DHCP and sends no router advertisements;
//   - inet sovn_<id>: security groups, stateful. The network's bridge hands
//     its IP traffic to the inet hooks (its nf_call_iptables option), where
//     the packets of the network get a conntrack zone of their own (so
//     equal addresses on two networks never share a flow) and
//     each secured port's traffic passes its egress chain (by source MAC,
//     which anti-spoofing made trustworthy) and its ingress chain (by
//     destination MAC): replies of allowed flows, DHCP and neighbour
//     discovery pass, then what a rule allows, and the rest is dropped.
//
// A chain allows by "return", so that a packet between two ports passes
// the sender's egress and the receiver's ingress; base chains accept what
// is left, which is the traffic of unsecured ports and of the network's
// own DHCP and router ports. An external network's table masquerades its
// subnets' traffic to the host's uplink instead of zoning it.

func tableName(id string) string { return "sovn_" + short(id) }

// nft runs nft with a ruleset on stdin.
func nft(ctx context.Context, ruleset string) error {
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("linux: nft: %v: %s", err, out)
	}
	return nil
}

// setFilter replaces the network's two tables by those of its state.
func setFilter(ctx context.Context, n *dataplane.Network) error {
	return nft(ctx, filterRuleset(n))
}

// removeFilter deletes the network's tables; gone ones are fine.
func removeFilter(ctx context.Context, id string) error {
	t := tableName(id)
	return nft(ctx, fmt.Sprintf("table inet %s {}\ndelete table inet %s\ntable bridge %s {}\ndelete table bridge %s\n", t, t, t, t))
}

// filterRuleset is the nft script that replaces the network's tables.
func filterRuleset(n *dataplane.Network) string {
	t, br := tableName(n.ID), bridgeName(n.ID)
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {}\ndelete table inet %s\ntable bridge %s {}\ndelete table bridge %s\n", t, t, t, t)

	fmt.Fprintf(&b, "table bridge %s {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority filter; policy accept;\n", t)
	for _, p := range n.Ports {
		if p.Secured {
			fmt.Fprintf(&b, "\t\tiifname %q jump spoof_%s\n", p.Device, short(p.ID))
		}
	}
	b.WriteString("\t}\n")
	for _, p := range n.Ports {
		if p.Secured {
			spoofChain(&b, p)
		}
	}
	b.WriteString("}\n")

	fmt.Fprintf(&b, "table inet %s {\n", t)
	var groups []string
	for g := range n.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		v4, v6 := split(n.Groups[g])
		groupSet(&b, "g4_"+short(g), "ipv4_addr", v4)
		groupSet(&b, "g6_"+short(g), "ipv6_addr", v6)
	}
	if n.External && n.Uplink == "" {
		// Host-local: the host masquerades the network's traffic to its
		// uplink; the flows stay in the host's zone, where their replies
		// come back.
		var cidrs []string
		for _, sn := range n.Subnets {
			if sn.CIDR.Addr().Is4() && sn.Gateway.IsValid() {
				cidrs = append(cidrs, sn.CIDR.Masked().String())
			}
		}
		if len(cidrs) > 0 {
			// Only what the host routes from the network elsewhere: not what
			// other bridges carry (their traffic passes these hooks too).
			fmt.Fprintf(&b, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tiifname %q oifname != %q ip saddr %s masquerade\n\t}\n", br, br, set(cidrs))
		}
	} else {
		fmt.Fprintf(&b, "\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tiifname %q ct zone set %d\n\t}\n", br, n.Zone)
	}
	b.WriteString("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
	for _, p := range n.Ports {
		if p.Secured {
			fmt.Fprintf(&b, "\t\tiifname %q ether saddr %s jump out_%s\n", br, p.MAC, short(p.ID))
			fmt.Fprintf(&b, "\t\toifname %q ether daddr %s jump in_%s\n", br, p.MAC, short(p.ID))
		}
	}
	b.WriteString("\t}\n")
	for _, p := range n.Ports {
		if p.Secured {
			groupChain(&b, p, true)
			groupChain(&b, p, false)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// spoofChain is a secured port's anti-spoofing chain (bridge family).
func spoofChain(b *strings.Builder, p dataplane.Port) {
	macs := []string{p.MAC}
	var addrs []netip.Prefix
	for _, a := range p.Addrs {
		addrs = append(addrs, netip.PrefixFrom(a, a.BitLen()))
	}
	for _, pr := range p.Pairs {
		if pr.MAC != "" && !slices.Contains(macs, pr.MAC) {
			macs = append(macs, pr.MAC)
		}
		addrs = append(addrs, pr.Prefix)
	}
	v4, v6 := split(addrs)
	fmt.Fprintf(b, "\tchain spoof_%s {\n", short(p.ID))
	fmt.Fprintf(b, "\t\tether saddr != %s drop\n", set(macs))
	b.WriteString("\t\tether type arp arp saddr ether != " + set(macs) + " drop\n")
	b.WriteString("\t\tether type ip udp sport 67 drop\n")
	b.WriteString("\t\tether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 return\n")
	if len(v4) > 0 {
		b.WriteString("\t\tether type arp arp saddr ip != " + set(strs(v4)) + " drop\n")
		b.WriteString("\t\tether type ip ip saddr != " + set(strs(v4)) + " drop\n")
	} else {
		b.WriteString("\t\tether type arp drop\n\t\tether type ip drop\n")
	}
	b.WriteString("\t\tether type ip6 icmpv6 type nd-router-advert drop\n")
	b.WriteString("\t\tether type ip6 udp sport 547 drop\n")
	// Its link-local addresses (of its MACs), and the unspecified one of
	// duplicate address detection.
	allowed6 := append(strs(v6), "::")
	for _, m := range macs {
		if ll, ok := dataplane.EUI64(netip.MustParsePrefix("fe80::/64"), m); ok {
			allowed6 = append(allowed6, ll.String())
		}
	}
	b.WriteString("\t\tether type ip6 ip6 saddr != " + set(allowed6) + " drop\n")
	b.WriteString("\t}\n")
}

// groupChain is a secured port's ingress or egress chain (inet family).
func groupChain(b *strings.Builder, p dataplane.Port, ingress bool) {
	name, peer := "out_", "daddr"
	if ingress {
		name, peer = "in_", "saddr"
	}
	fmt.Fprintf(b, "\tchain %s%s {\n", name, short(p.ID))
	b.WriteString("\t\tct state established,related return\n\t\tct state invalid drop\n")
	// DHCP and neighbour discovery, which the port needs whatever its rules.
	if ingress {
		b.WriteString("\t\tudp sport 67 udp dport 68 return\n\t\tudp sport 547 udp dport 546 return\n")
	} else {
		b.WriteString("\t\tudp sport 68 udp dport 67 return\n\t\tudp sport 546 udp dport 547 return\n")
	}
	b.WriteString("\t\ticmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } return\n")
	for _, r := range p.Rules {
		if r.Ingress == ingress {
			b.WriteString("\t\t" + ruleMatch(r, peer) + " return\n")
		}
	}
	b.WriteString("\t\tdrop\n\t}\n")
}

// ruleMatch is the nft match of one rule; peer is the address field of
// the other end (saddr for ingress, daddr for egress).
func ruleMatch(r dataplane.Rule, peer string) string {
	family, icmp := "ip", "icmp"
	parts := []string{"meta nfproto ipv4"}
	if r.IPv6 {
		family, icmp = "ip6", "icmpv6"
		parts = []string{"meta nfproto ipv6"}
	}
	switch {
	case r.Remote.IsValid():
		parts = append(parts, family+" "+peer+" "+r.Remote.String())
	case r.RemoteGroup != "":
		v := "g4_"
		if r.IPv6 {
			v = "g6_"
		}
		parts = append(parts, family+" "+peer+" @"+v+short(r.RemoteGroup))
	}
	proto := protocolName(r.Protocol, r.IPv6)
	switch proto {
	case "":
	case "tcp", "udp", "sctp", "udplite":
		parts = append(parts, "meta l4proto "+proto)
		if r.PortMin >= 0 {
			ports := strconv.Itoa(r.PortMin)
			if r.PortMax > r.PortMin {
				ports += "-" + strconv.Itoa(r.PortMax)
			}
			parts = append(parts, proto+" dport "+ports)
		}
	case "icmp", "ipv6-icmp":
		parts = append(parts, "meta l4proto "+icmp)
		if r.PortMin >= 0 {
			parts = append(parts, icmp+" type "+strconv.Itoa(r.PortMin))
			if r.PortMax >= 0 {
				parts = append(parts, icmp+" code "+strconv.Itoa(r.PortMax))
			}
		}
	default:
		parts = append(parts, "meta l4proto "+proto)
	}
	return strings.Join(parts, " ")
}

// protocolName is the nft name (or number) of a Neutron protocol.
func protocolName(p string, ipv6 bool) string {
	switch strings.ToLower(p) {
	case "", "any":
		return ""
	case "icmp", "icmpv6", "ipv6-icmp", "1", "58":
		if ipv6 {
			return "ipv6-icmp"
		}
		return "icmp"
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "132":
		return "sctp"
	}
	if n, err := strconv.Atoi(p); err == nil {
		return strconv.Itoa(n)
	}
	return strings.ToLower(p)
}

func groupSet(b *strings.Builder, name, typ string, members []netip.Prefix) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s; flags interval; auto-merge\n", name, typ)
	if len(members) > 0 {
		b.WriteString("\t\telements = " + set(strs(members)) + "\n")
	}
	b.WriteString("\t}\n")
}

// split divides prefixes into IPv4 and IPv6 ones, single addresses
// written without their length.
func split(ps []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

func strs(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.Masked().String()
		}
	}
	return out
}

func set(items []string) string { return "{ " + strings.Join(items, ", ") + " }" }
