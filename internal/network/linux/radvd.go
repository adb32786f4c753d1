package linux

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sovcloud/sov/internal/network/dataplane"
)

// IPv6 router advertisements: as Neutron's L3 agent does, a router sends
// them on each interface with IPv6 subnets whose ipv6_ra_mode is set, from
// a radvd in its namespace (an engine process, recorded like dnsmasq).
// The flags follow the mode: SLAAC (autonomous prefix), DHCPv6-stateful
// (managed: addresses from the network's dnsmasq) or DHCPv6-stateless
// (autonomous prefix, other settings by DHCPv6).

const radvdKind = "radvd"

// radvdConf is the router's radvd configuration; "" when no interface
// advertises anything.
func radvdConf(r *dataplane.Router) string {
	var b strings.Builder
	for _, p := range r.Interfaces {
		if len(p.Advertise) == 0 {
			continue
		}
		managed, other := false, false
		for _, sn := range p.Advertise {
			managed = managed || sn.RAMode == dataplane.IPv6Stateful
			other = other || sn.RAMode == dataplane.IPv6Stateful || sn.RAMode == dataplane.IPv6Stateless
		}
		fmt.Fprintf(&b, "interface %s {\n\tAdvSendAdvert on;\n\tMinRtrAdvInterval 30;\n\tMaxRtrAdvInterval 100;\n\tAdvLinkMTU %d;\n", inside("qr", p.ID), p.MTU)
		fmt.Fprintf(&b, "\tAdvManagedFlag %s;\n\tAdvOtherConfigFlag %s;\n", onOff(managed), onOff(other))
		for _, sn := range p.Advertise {
			fmt.Fprintf(&b, "\tprefix %s {\n\t\tAdvOnLink on;\n\t\tAdvAutonomous %s;\n\t};\n", sn.CIDR.Masked(), onOff(sn.RAMode != dataplane.IPv6Stateful))
			if len(sn.DNS) > 0 {
				var dns []string
				for _, a := range sn.DNS {
					if a.Is6() {
						dns = append(dns, a.String())
					}
				}
				if len(dns) > 0 {
					fmt.Fprintf(&b, "\tRDNSS %s {\n\t};\n", strings.Join(dns, " "))
				}
			}
		}
		b.WriteString("};\n")
	}
	return b.String()
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// setRadvd starts, reloads (SIGHUP) or stops the router's radvd to match
// its configuration.
func (d *Driver) setRadvd(ctx context.Context, r *dataplane.Router, ns, dir string) error {
	conf, confFile := radvdConf(r), filepath.Join(dir, "radvd.conf")
	if conf == "" {
		os.Remove(confFile)
		return d.engines.Stop(ctx, radvdKind, r.ID, 5*time.Second)
	}
	old, _ := os.ReadFile(confFile)
	pid, running := d.engines.Running(ctx, radvdKind, r.ID)
	if running && string(old) == conf {
		return nil
	}
	if err := writeFile(confFile, conf); err != nil {
		return err
	}
	if running {
		return syscall.Kill(pid, syscall.SIGHUP)
	}
	logFile := filepath.Join(dir, "radvd.log")
	return d.startEngine(ctx, radvdKind, r.ID, ns, filepath.Join(dir, "radvd.pid"), logFile,
		[]string{"radvd", "--nodaemon", "--config", confFile, "--pidfile", filepath.Join(dir, "radvd.pid"), "--logmethod", "logfile", "--logfile", logFile})
}
