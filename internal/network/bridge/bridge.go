// Package bridge gives VMs a NIC on one Linux bridge with DHCP: a bridge
// with the subnet's gateway address, a tap device per VM and dnsmasq
// handing out the address reserved for each VM's MAC. It is the minimal
// host networking of an all-in-one sov; Neutron networks come later.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

// Engines records dnsmasq, so that it outlives sov (the VMs keep their
// leases while sov restarts), is adopted by the next start and is stopped
// by sov down (see package engines).
type Engines interface {
	Start(ctx context.Context, kind, name string, cmd *exec.Cmd) error
	Running(ctx context.Context, kind, name string) (int, bool)
	Stop(ctx context.Context, kind, name string, grace time.Duration) error
}

// Bridge is a host bridge with a DHCP server.
type Bridge struct {
	name    string
	subnet  netip.Prefix
	dir     string
	engines Engines

	mu       sync.Mutex // protects following
	hosts    map[string]netip.Addr
	dnsmasq  int // pid
	hostFile string
}

// Open creates the bridge (if missing) with the first address of subnet,
// brings it up and starts dnsmasq on it, or adopts the one an earlier sov
// started; state files go to dir.
func Open(name string, subnet netip.Prefix, dir string, engines Engines) (*Bridge, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b := &Bridge{name: name, subnet: subnet.Masked(), dir: dir, engines: engines, hosts: map[string]netip.Addr{}, hostFile: filepath.Join(dir, "dhcp-hosts")}
	link, err := netlink.LinkByName(name)
	if err != nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := netlink.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("bridge: create %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return nil, err
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: b.Gateway().AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return nil, fmt.Errorf("bridge: address %s: %w", addr, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bridge: up: %w", err)
	}
	if err := b.writeHosts(); err != nil {
		return nil, err
	}
	if err := b.startDHCP(); err != nil {
		return nil, err
	}
	return b, nil
}

// Gateway is the bridge's own address, the first of the subnet.
func (b *Bridge) Gateway() netip.Addr { return b.subnet.Addr().Next() }

// Subnet is the subnet VMs get addresses in.
func (b *Bridge) Subnet() netip.Prefix { return b.subnet }

func (b *Bridge) startDHCP() error {
	if pid, ok := b.engines.Running(context.Background(), "dnsmasq", b.name); ok {
		b.dnsmasq = pid
		return syscall.Kill(pid, syscall.SIGHUP) // rereads the reservations
	}
	first := b.Gateway().Next()
	pidFile := filepath.Join(b.dir, "dnsmasq.pid")
	os.Remove(pidFile)
	cmd := exec.Command("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface="+b.name, "--bind-interfaces", "--except-interface=lo",
		fmt.Sprintf("--dhcp-range=%s,static,%s,12h", first, net.IP(net.CIDRMask(b.subnet.Bits(), 32))),
		"--dhcp-hostsfile="+b.hostFile, "--dhcp-leasefile="+filepath.Join(b.dir, "leases"),
		"--dhcp-option=option:router,"+b.Gateway().String(), "--pid-file="+pidFile,
		"--log-dhcp", "--log-facility="+filepath.Join(b.dir, "dnsmasq.log"),
		// It rereads the reservations on SIGHUP from sov's private data dir.
		"--user=root")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := b.engines.Start(context.Background(), "dnsmasq", b.name, cmd); err != nil {
		return fmt.Errorf("bridge: start dnsmasq: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.dnsmasq = cmd.Process.Pid
	// Until dnsmasq has written its pid file it may not handle SIGHUP yet,
	// and a reservation's SIGHUP would end it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pid, err := os.ReadFile(pidFile); err == nil && strings.TrimSpace(string(pid)) == strconv.Itoa(cmd.Process.Pid) {
			return nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(b.dir, "dnsmasq.log"))
			return fmt.Errorf("bridge: dnsmasq exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return errors.New("bridge: dnsmasq did not start within 10s")
		}
	}
}

// writeHosts writes the MAC -> address reservations for dnsmasq.
func (b *Bridge) writeHosts() error {
	var lines []string
	for mac, ip := range b.hosts {
		lines = append(lines, mac+","+ip.String())
	}
	sort.Strings(lines)
	tmp := b.hostFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, b.hostFile)
}

// Attach creates (or reuses) the tap device, puts it on the bridge and
// reserves ip for mac in DHCP.
func (b *Bridge) Attach(tap, mac string, ip netip.Addr) error {
	if !b.subnet.Contains(ip) {
		return fmt.Errorf("bridge: %s is not in %s", ip, b.subnet)
	}
	link, err := netlink.LinkByName(tap)
	if err != nil {
		t := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: tap}, Mode: netlink.TUNTAP_MODE_TAP, Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR}
		if err := netlink.LinkAdd(t); err != nil {
			return fmt.Errorf("bridge: create tap %s: %w", tap, err)
		}
		if link, err = netlink.LinkByName(tap); err != nil {
			return err
		}
	}
	br, err := netlink.LinkByName(b.name)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMaster(link, br); err != nil {
		return fmt.Errorf("bridge: attach %s: %w", tap, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hosts[mac] = ip
	if err := b.writeHosts(); err != nil {
		return err
	}
	return syscall.Kill(b.dnsmasq, syscall.SIGHUP)
}

// Detach removes the tap device and the reservation.
func (b *Bridge) Detach(tap, mac string) error {
	b.mu.Lock()
	delete(b.hosts, mac)
	err := b.writeHosts()
	b.mu.Unlock()
	if link, lerr := netlink.LinkByName(tap); lerr == nil {
		err = errors.Join(err, netlink.LinkDel(link))
	}
	return err
}

// Close leaves dnsmasq running for the next sov; with remove, dnsmasq
// stops and the bridge goes too.
func (b *Bridge) Close(remove bool) error {
	if !remove {
		return nil
	}
	err := b.engines.Stop(context.Background(), "dnsmasq", b.name, 5*time.Second)
	if link, lerr := netlink.LinkByName(b.name); lerr == nil {
		err = errors.Join(err, netlink.LinkDel(link))
	}
	return err
}
